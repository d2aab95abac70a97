package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Responder answers ARP requests on one uplink interface for the addresses
// of an AnswerSet. Create it with its fields set, then call Run.
type Responder struct {
	// Uplink is the name of the interface the upstream router ARPs on.
	Uplink string
	// Set is the answer set Decide consults; required.
	Set AnswerSet
	// Config is passed to Decide; nil means the zero Config. Replace it
	// while Run runs with SetConfig.
	Config *Config
	// Log receives one line per state change; nil discards.
	Log *slog.Logger

	// Listen opens the packet socket; nil means ListenPacket.
	Listen func(ifi *net.Interface) (Conn, error)
	// LookupLink finds the uplink by name; nil means net.InterfaceByName.
	LookupLink func(name string) (*net.Interface, error)
	// OnDecision, when set, is called for every frame read, after the reply
	// (if any) was written, with the write error if it failed. It runs on
	// the answer path: it must be quick and must not retain frame.
	OnDecision func(frame []byte, in Ingress, d Decision, writeErr error)
	// Announcements configures gratuitous ARP (see Announce); the zero
	// value sends none. Change it while Run runs with SetAnnouncements.
	Announcements AnnounceConfig
	// OnAnnounce, when set, is called after every gratuitous ARP written
	// (or not: writeErr), like OnDecision.
	OnAnnounce func(frame []byte, addr netip.Addr, writeErr error)
	// DryRun decides, counts and calls the hooks as usual but writes
	// nothing: no replies, no gratuitous ARP. The hooks see ErrDryRun as
	// the write error of every frame that would have been sent.
	DryRun bool
	// Latency, when set, observes the time from a request's read to its
	// reply's write, in seconds, for every reply written (not in DryRun).
	// prometheus.Histogram satisfies it. It runs on the answer path: it
	// must not block or allocate.
	Latency LatencyObserver
	// RateLimit, when positive, limits the replies to each requester MAC
	// to a burst of RateLimit, then RateLimit per second (serve
	// --rate-limit); the rest is decided (Answer) but not sent, and counted
	// in Stats.RateLimitedReplies. Zero means no limit. Change it while Run
	// runs with SetRateLimit.
	RateLimit float64
	// ConflictInterval is how long a conflict on one address stays quiet
	// in the log after it was logged (it is always counted); zero means
	// DefaultConflictInterval.
	ConflictInterval time.Duration

	stats     counters
	cfg       atomic.Pointer[Config]         // Config, then SetConfig's
	garpCfg   atomic.Pointer[AnnounceConfig] // Announcements, then SetAnnouncements's
	rate      atomic.Uint64                  // math.Float64bits of RateLimit, then SetRateLimit's
	attached  atomic.Bool
	recheck   chan struct{}
	garpReq   chan garpRequest
	current   atomic.Pointer[attachment]
	sockMu    sync.Mutex // orders reads of the socket's counters
	sockDrops uint64     // frames the sockets dropped, up to the last read
	initOnce  sync.Once
}

// LatencyObserver receives reply latencies in seconds.
type LatencyObserver interface {
	Observe(seconds float64)
}

// ErrDryRun is the write error the hooks see in DryRun mode for a frame
// that would have been sent.
var ErrDryRun = errors.New("dry run: not sent")

// Errors Run returns instead of retrying.
var (
	// ErrPermission means the process may not open packet sockets: it
	// needs CAP_NET_RAW (and CAP_NET_ADMIN for the large receive buffer).
	ErrPermission = errors.New("no permission to open a packet socket (needs CAP_NET_RAW; run as root or grant the capability)")
)

// Retry timing while the uplink is missing, down, or failing.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Run attaches to the uplink and answers requests until ctx is done, then
// returns nil. An uplink that is missing or down is waited for; one that
// goes away is re-attached when it returns; read and write errors are
// logged and retried with backoff. Run returns an error only for a problem
// that waiting cannot fix (ErrPermission).
func (r *Responder) Run(ctx context.Context) error {
	if r.Set == nil {
		return errors.New("responder: no answer set")
	}
	r.init()
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lookup := r.LookupLink
	if lookup == nil {
		lookup = net.InterfaceByName
	}
	listen := r.Listen
	if listen == nil {
		listen = ListenPacket
	}

	{
		// Always running: SetAnnouncements may turn announcements on.
		actx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.runAnnouncer(actx, log)
		}()
		defer func() { cancel(); <-done }()
	}

	backoff := minBackoff
	attaches := 0
	wait := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(backoff*2, maxBackoff)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	var lastWait string
	waitFor := func(why string, args ...any) bool {
		if why != lastWait {
			log.Warn(why, append([]any{"dev", r.Uplink}, args...)...)
			lastWait = why
		}
		return wait()
	}

	for ctx.Err() == nil {
		ifi, err := lookup(r.Uplink)
		if err != nil {
			if !waitFor("waiting for uplink: interface not found") {
				break
			}
			continue
		}
		if ifi.Flags&net.FlagUp == 0 {
			if !waitFor("waiting for uplink: interface is down") {
				break
			}
			continue
		}
		mac, ok := MACFrom(ifi.HardwareAddr)
		if !ok {
			if !waitFor("waiting for uplink: interface has no Ethernet MAC address", "mac", ifi.HardwareAddr.String()) {
				break
			}
			continue
		}
		conn, err := listen(ifi)
		if err != nil {
			if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				return fmt.Errorf("listen on %s: %w", r.Uplink, ErrPermission)
			}
			if !waitFor("waiting for uplink: cannot open packet socket", "err", err) {
				break
			}
			continue
		}
		lastWait = ""
		in := Ingress{Name: ifi.Name, MAC: mac}
		// The announcer writes on current: set it before saying attached.
		r.current.Store(&attachment{conn: conn, mac: mac})
		r.attached.Store(true)
		log.Info("uplink attached", "dev", ifi.Name, "ifindex", ifi.Index, "mac", mac.String())
		if attaches++; attaches > 1 {
			// Re-attached, perhaps with a new MAC: the router may hold
			// stale entries for everything. (Not at start-up: what is
			// already there is not news.)
			r.announceAll()
		}
		err = r.serve(ctx, conn, in, ifi.Index, lookup, log)
		r.current.Store(nil)
		r.collectSocketStats(conn)
		conn.Close()
		r.attached.Store(false)
		if ctx.Err() != nil {
			break
		}
		backoff = minBackoff
		if errors.Is(err, errUplinkChanged) {
			log.Info("uplink changed, re-attaching", "dev", ifi.Name)
			continue
		}
		log.Warn("uplink lost", "dev", ifi.Name, "err", err)
		if !wait() {
			break
		}
	}
	st := r.Stats()
	var drops []string
	for _, reason := range DropReasons() {
		if n := st.Decisions[reason]; n > 0 {
			drops = append(drops, fmt.Sprintf("%s=%d", reason, n))
		}
	}
	log.Info("responder stopped", "dev", r.Uplink, "frames", st.Frames, "replies", st.Replies,
		"garps", st.GARPsSent, "drops", strings.Join(drops, " "), "socket_drops", st.SocketDrops)
	return nil
}

func (r *Responder) init() {
	r.initOnce.Do(func() {
		r.recheck = make(chan struct{}, 1)
		r.garpReq = make(chan garpRequest, garpQueueLen)
		r.cfg.Store(r.Config)
		a := r.Announcements
		r.garpCfg.Store(&a)
		r.rate.Store(math.Float64bits(max(0, r.RateLimit)))
	})
}

// SetConfig replaces the Config Decide is given, from the next frame on. It
// is safe to call from any goroutine, before or while Run runs; the
// Responder does not modify c, and neither may the caller afterwards.
func (r *Responder) SetConfig(c *Config) {
	r.init()
	r.cfg.Store(c)
}

// CurrentConfig returns the Config Decide is given now.
func (r *Responder) CurrentConfig() *Config {
	r.init()
	return r.cfg.Load()
}

// SetAnnouncements replaces the gratuitous ARP configuration: bursts
// scheduled from now on use it, and the rate cap applies at once. Safe to
// call from any goroutine.
func (r *Responder) SetAnnouncements(a AnnounceConfig) {
	r.init()
	r.garpCfg.Store(&a)
	// Wake the announcer, so that a new rate or interval applies at once.
	select {
	case r.garpReq <- garpRequest{}:
	default:
	}
}

// announcements returns the current gratuitous ARP configuration.
func (r *Responder) announcements() AnnounceConfig {
	r.init()
	return *r.garpCfg.Load()
}

// SetRateLimit replaces RateLimit (replies per second per requester MAC;
// zero or less: no limit); the buckets start afresh. Safe to call from any
// goroutine.
func (r *Responder) SetRateLimit(perSecond float64) {
	r.init()
	r.rate.Store(math.Float64bits(max(0, perSecond)))
}

// Recheck asks the responder to look at its uplink again: if the interface
// it is attached to was replaced, went down, or changed its MAC address, it
// re-attaches (and answers with the new MAC). The kernel tells a packet
// socket when its interface goes down or away, but not about a new MAC, so
// the daemon calls Recheck on every link event. It never blocks.
func (r *Responder) Recheck() {
	r.init()
	select {
	case r.recheck <- struct{}{}:
	default:
	}
}

// attachment is the socket the responder is attached with, for the
// announcer, which writes on it from its own goroutine.
type attachment struct {
	conn Conn
	mac  MAC
}

// garpQueueLen bounds the announcements waiting to be scheduled.
const garpQueueLen = 4096

// errUplinkChanged ends serve when Recheck found the uplink changed.
var errUplinkChanged = errors.New("uplink changed")

// serve runs the read-decide-reply loop on one attached socket. It returns
// when ctx is done or the socket fails in a way that needs a new one (the
// uplink went down or away).
func (r *Responder) serve(ctx context.Context, c Conn, in Ingress, ifindex int, lookup func(string) (*net.Interface, error), log *slog.Logger) error {
	stop := make(chan struct{})
	defer close(stop)
	var changed atomic.Bool
	go func() {
		for {
			select {
			case <-ctx.Done():
				c.Close()
				return
			case <-stop:
				return
			case <-r.recheck:
				ifi, err := lookup(in.Name)
				if err == nil && ifi.Index == ifindex && ifi.Flags&net.FlagUp != 0 {
					if mac, ok := MACFrom(ifi.HardwareAddr); ok && mac == in.MAC {
						continue
					}
				}
				changed.Store(true)
				c.Close()
				return
			}
		}
	}()

	// A thread of its own: ReadFrame blocks in the kernel, and the reply
	// goes out from the thread the kernel woke, with no goroutine handoff.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	buf := make([]byte, 2048)
	out := make([]byte, 0, ReplyLen)
	errBackoff := time.Duration(0)
	conflicts := newConflictLog(r.ConflictInterval)
	limiter := newMACLimiter(math.Float64frombits(r.rate.Load()), maxTrackedMACs)
	for {
		n, ptype, err := c.ReadFrame(buf)
		if err != nil {
			if changed.Load() {
				return errUplinkChanged
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return err
			}
			r.stats.readErrors.Add(1)
			if linkGone(err) {
				return err
			}
			// Anything else: log the first of a run, back off, retry.
			if errBackoff == 0 {
				log.Warn("read from uplink failed, retrying", "dev", in.Name, "err", err)
				errBackoff = time.Millisecond
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(errBackoff):
			}
			errBackoff = min(errBackoff*2, maxBackoff)
			continue
		}
		errBackoff = 0
		var readAt time.Time
		if r.Latency != nil {
			readAt = time.Now()
		}
		in.Type = ptype
		frame := buf[:n]
		d := Decide(frame, in, r.Set, r.cfg.Load())
		r.stats.frames.Add(1)
		r.stats.reasons[d.Reason].Add(1)
		var werr error
		if d.Reason == Answer {
			limiter.setRate(math.Float64frombits(r.rate.Load()))
		}
		switch {
		case d.Reason == Answer && limiter.rate > 0 && !limiter.allow(d.Request.SenderMAC, time.Now()):
			werr = ErrRateLimited
			r.stats.rateLimited.Add(1)
		case d.Reason == Answer && r.DryRun:
			werr = ErrDryRun
			r.stats.dryRunReplies.Add(1)
		case d.Reason == Answer:
			out = d.AppendReply(out[:0])
			if werr = c.WriteFrame(out); werr != nil {
				r.stats.writeErrors.Add(1)
				if linkGone(werr) {
					return werr
				}
			} else {
				r.stats.replies.Add(1)
				if r.Latency != nil {
					r.Latency.Observe(time.Since(readAt).Seconds())
				}
			}
		}
		if addr, ok := Conflict(d, r.Set); ok {
			r.stats.conflicts.Add(1)
			conflicts.log(log, addr, d, time.Now())
		}
		if r.OnDecision != nil {
			r.OnDecision(frame, in, d, werr)
		}
	}
}

// linkGone reports errors after which the socket is useless: the kernel
// reports ENETDOWN once when the bound interface goes down or is deleted.
func linkGone(err error) bool {
	return errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

type counters struct {
	frames, replies, readErrors, writeErrors atomic.Uint64
	garpsSent, garpsDropped                  atomic.Uint64
	dryRunReplies, dryRunGARPs               atomic.Uint64
	rateLimited                              atomic.Uint64
	conflicts                                atomic.Uint64
	reasons                                  [numReasons]atomic.Uint64
}

// Stats are the responder's counters since it was created.
type Stats struct {
	// Frames is the number of frames read and decided.
	Frames uint64
	// Replies is the number of replies written.
	Replies uint64
	// ReadErrors and WriteErrors count failed socket calls.
	ReadErrors, WriteErrors uint64
	// GARPsSent counts gratuitous ARP announcements written; GARPsDropped
	// those not even scheduled because the queue was full.
	GARPsSent, GARPsDropped uint64
	// DryRunReplies and DryRunGARPs count the replies and announcements
	// DryRun kept from being sent.
	DryRunReplies, DryRunGARPs uint64
	// RateLimitedReplies counts the replies RateLimit kept from being
	// sent (also in DryRun: the limit applies first).
	RateLimitedReplies uint64
	// Conflicts counts frames showing another machine using or probing
	// for an owned address (see Conflict).
	Conflicts uint64
	// SocketDrops counts frames the kernel dropped before they were read,
	// because the socket's receive ring (or buffer) was full; zero when the
	// Conn cannot tell (see StatsConn).
	SocketDrops uint64
	// Decisions counts frames by Decide's outcome; Decisions[Answer] counts
	// answered requests, including those whose reply could not be written.
	Decisions map[Reason]uint64
}

// Stats returns a snapshot of the counters. It is safe to call while Run
// is running.
func (r *Responder) Stats() Stats {
	s := Stats{
		Frames:        r.stats.frames.Load(),
		Replies:       r.stats.replies.Load(),
		ReadErrors:    r.stats.readErrors.Load(),
		WriteErrors:   r.stats.writeErrors.Load(),
		GARPsSent:     r.stats.garpsSent.Load(),
		GARPsDropped:  r.stats.garpsDropped.Load(),
		DryRunReplies: r.stats.dryRunReplies.Load(),
		DryRunGARPs:   r.stats.dryRunGARPs.Load(),
		Conflicts:     r.stats.conflicts.Load(),
		SocketDrops:   r.socketDrops(),
		Decisions:     make(map[Reason]uint64, numReasons),

		RateLimitedReplies: r.stats.rateLimited.Load(),
	}
	for i := range r.stats.reasons {
		s.Decisions[Reason(i)] = r.stats.reasons[i].Load()
	}
	return s
}

// socketDrops adds what the attached socket dropped since the last look
// to the total and returns it.
func (r *Responder) socketDrops() uint64 {
	if att := r.current.Load(); att != nil {
		r.collectSocketStats(att.conn)
	}
	r.sockMu.Lock()
	defer r.sockMu.Unlock()
	return r.sockDrops
}

// collectSocketStats adds c's socket counters to the totals. Reading them
// resets the kernel's, so reads are serialized; a Conn closed meanwhile
// reports an error and adds nothing.
func (r *Responder) collectSocketStats(c Conn) {
	sc, ok := c.(StatsConn)
	if !ok {
		return
	}
	r.sockMu.Lock()
	defer r.sockMu.Unlock()
	if st, err := sc.Stats(); err == nil {
		r.sockDrops += st.Drops
	}
}

// Attached reports whether the responder currently has a socket open on the
// uplink (false while it waits for the uplink to appear or come up).
func (r *Responder) Attached() bool { return r.attached.Load() }

// UplinkMAC returns the MAC address of the uplink the responder is attached
// to, and false while it is not attached.
func (r *Responder) UplinkMAC() (MAC, bool) {
	if att := r.current.Load(); att != nil {
		return att.mac, true
	}
	return MAC{}, false
}
