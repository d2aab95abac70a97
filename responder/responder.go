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
// of an AnswerSet, and with NDP set IPv6 Neighbor Solicitations too, on a
// second socket. Create it with its fields set, then call Run.
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
	// NDP answers IPv6 Neighbor Solicitations as well: each attachment
	// opens a second socket with ListenNDP, read by a loop of its own
	// with the same Decide, counters, hooks, rate limit and dry run, and
	// joins the solicited-node group of every owned IPv6 address on the
	// uplink (see SetOwned). On an uplink where IPv6 is disabled (see
	// IPv6Enabled) the responder answers ARP only, and says so once.
	NDP bool
	// ListenNDP opens the NDP packet socket; nil means ListenNDP.
	ListenNDP func(ifi *net.Interface) (Conn, error)
	// IPv6Enabled reports whether the uplink has IPv6; nil means
	// IPv6Enabled (the sysctl tree).
	IPv6Enabled func(ifname string) bool
	// NewJoiner opens the multicast group joiner of an attachment; nil
	// means NewGroupJoiner.
	NewJoiner func(ifindex int) (Joiner, error)
	// LookupLink finds the uplink by name; nil means net.InterfaceByName.
	LookupLink func(name string) (*net.Interface, error)
	// OnDecision, when set, is called for every frame read, after the reply
	// (if any) was written, with the write error if it failed. It runs on
	// the answer path: it must be quick and must not retain frame.
	OnDecision func(frame []byte, in Ingress, d Decision, writeErr error)
	// Announcements configures gratuitous ARP and unsolicited Neighbor
	// Advertisements (see Announce); the zero value sends none. Change it while Run runs with SetAnnouncements.
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
	// (for ARP and NDP separately: each socket's loop has its own buckets)
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

	// The solicited-node groups: joiner is the current attachment's (nil
	// while not attached with NDP), joined the addresses it joined.
	groupMu sync.Mutex
	joiner  Joiner
	joined  map[netip.Addr]struct{}
}

// Joiner joins and leaves the solicited-node groups of IPv6 addresses on
// the uplink; GroupJoiner is the live implementation.
type Joiner interface {
	Join(addr netip.Addr) error
	Leave(addr netip.Addr) error
	Close() error
}

var _ Joiner = (*GroupJoiner)(nil)

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
	listen6 := r.ListenNDP
	if listen6 == nil {
		listen6 = ListenNDP
	}
	ipv6 := r.IPv6Enabled
	if ipv6 == nil {
		ipv6 = IPv6Enabled
	}
	newJoiner := r.NewJoiner
	if newJoiner == nil {
		newJoiner = func(ifindex int) (Joiner, error) { return NewGroupJoiner(ifindex) }
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
	var lastWait, lastNDP string
	// ndpNote logs why an attachment answers ARP only, once in a row.
	ndpNote := func(why string, args ...any) {
		if why != lastNDP {
			log.Warn(why, append([]any{"dev", r.Uplink}, args...)...)
			lastNDP = why
		}
	}
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
		var conn6 Conn
		if r.NDP {
			switch {
			case !ipv6(ifi.Name):
				ndpNote("IPv6 is disabled on the uplink: answering ARP only")
			default:
				conn6, err = listen6(ifi)
				if err != nil {
					if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
						conn.Close()
						return fmt.Errorf("listen for NDP on %s: %w", r.Uplink, ErrPermission)
					}
					ndpNote("cannot open the NDP packet socket: answering ARP only", "err", err)
					conn6 = nil
				} else {
					lastNDP = ""
				}
			}
		}
		in := Ingress{Name: ifi.Name, MAC: mac}
		if conn6 != nil {
			r.attachGroups(ifi.Index, newJoiner, log)
		}
		// The announcer writes on current: set it before saying attached.
		r.current.Store(&attachment{conn: conn, conn6: conn6, mac: mac})
		r.attached.Store(true)
		log.Info("uplink attached", "dev", ifi.Name, "ifindex", ifi.Index, "mac", mac.String(), "ndp", conn6 != nil)
		if attaches++; attaches > 1 {
			// Re-attached, perhaps with a new MAC: the router may hold
			// stale entries for everything. (Not at start-up: what is
			// already there is not news.)
			r.announceAll()
		}
		conns := []Conn{conn}
		if conn6 != nil {
			conns = append(conns, conn6)
		}
		err = r.serve(ctx, conns, in, ifi.Index, lookup, log)
		r.current.Store(nil)
		r.detachGroups(log)
		for _, c := range conns {
			r.collectSocketStats(c)
			c.Close()
		}
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

// attachment is the sockets the responder is attached with, for the
// announcer, which writes on them from its own goroutine: conn (ARP) and
// conn6 (NDP, nil without).
type attachment struct {
	conn, conn6 Conn
	mac         MAC
}

// garpQueueLen bounds the announcements waiting to be scheduled.
const garpQueueLen = 4096

// errUplinkChanged ends serve when Recheck found the uplink changed.
var errUplinkChanged = errors.New("uplink changed")

// serve runs the read-decide-reply loop on each attached socket (ARP, and
// NDP when attached with it), each on a goroutine locked to an OS thread.
// It returns when ctx is done or one socket fails in a way that needs new
// ones (the uplink went down or away): all sockets are re-attached
// together. It returns the first loop's error.
func (r *Responder) serve(ctx context.Context, conns []Conn, in Ingress, ifindex int, lookup func(string) (*net.Interface, error), log *slog.Logger) error {
	stop := make(chan struct{})
	var stopOnce sync.Once
	closeAll := func() {
		stopOnce.Do(func() {
			close(stop)
			for _, c := range conns {
				c.Close()
			}
		})
	}
	var changed atomic.Bool
	go func() {
		for {
			select {
			case <-ctx.Done():
				closeAll()
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
				closeAll()
				return
			}
		}
	}()
	errs := make(chan error, len(conns))
	for _, c := range conns[1:] {
		go func() {
			err := r.readLoop(ctx, c, in, &changed, log)
			closeAll()
			errs <- err
		}()
	}
	first := r.readLoop(ctx, conns[0], in, &changed, log)
	closeAll()
	for range conns[1:] {
		// The loop that failed first says why; the others were closed.
		if err := <-errs; first == nil || errors.Is(first, net.ErrClosed) {
			first = cmpOr(err, first)
		}
	}
	if changed.Load() {
		return errUplinkChanged
	}
	return first
}

// cmpOr returns err unless it is nil or net.ErrClosed, else fallback.
func cmpOr(err, fallback error) error {
	if err == nil || errors.Is(err, net.ErrClosed) && fallback != nil {
		return fallback
	}
	return err
}

// readLoop reads, decides and answers the frames of one socket until it
// fails or is closed. It returns errUplinkChanged when Recheck closed it,
// net.ErrClosed (or ctx's error) when serve did.
func (r *Responder) readLoop(ctx context.Context, c Conn, in Ingress, changed *atomic.Bool, log *slog.Logger) error {
	// A thread of its own: ReadFrame blocks in the kernel, and the reply
	// goes out from the thread the kernel woke, with no goroutine handoff.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	buf := make([]byte, 2048) // batchSlot: the longest frame a read returns
	out := make([]byte, 0, MaxReplyLen)
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
	// GARPsSent counts announcements written: gratuitous ARP, and
	// unsolicited Neighbor Advertisements for IPv6 addresses; GARPsDropped
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
		if att.conn6 != nil {
			r.collectSocketStats(att.conn6)
		}
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

// SetOwned tells the responder that the IPv6 address addr became owned
// (owned) or stopped being owned, so that it joins or leaves addr's
// solicited-node group on the uplink: the watcher's OnChange6 calls it,
// start-up changes included. Addresses that are not IPv6 are ignored.
// While not attached with NDP it only takes note: each attachment joins
// the groups of every address the Set owns then (when the Set lists its
// addresses: Addrs6). Safe to call from any goroutine; it does not block
// on the network.
func (r *Responder) SetOwned(addr netip.Addr, owned bool) {
	if !addr.Is6() || addr.Is4In6() {
		return
	}
	r.groupMu.Lock()
	defer r.groupMu.Unlock()
	r.setOwnedLocked(addr, owned)
}

// setOwnedLocked is SetOwned with groupMu held.
func (r *Responder) setOwnedLocked(addr netip.Addr, owned bool) {
	if r.joiner == nil {
		return
	}
	_, in := r.joined[addr]
	switch {
	case owned && !in:
		if err := r.joiner.Join(addr); err != nil {
			r.logger().Warn("cannot join the solicited-node group: solicitations sent to it may not reach the responder", "ip", addr, "dev", r.Uplink, "err", err)
			return
		}
		r.joined[addr] = struct{}{}
	case !owned && in:
		delete(r.joined, addr)
		if err := r.joiner.Leave(addr); err != nil {
			r.logger().Debug("cannot leave the solicited-node group", "ip", addr, "dev", r.Uplink, "err", err)
		}
	}
}

// JoinedGroups returns how many owned IPv6 addresses have their
// solicited-node group joined on the uplink (0 while not attached with
// NDP).
func (r *Responder) JoinedGroups() int {
	r.groupMu.Lock()
	defer r.groupMu.Unlock()
	return len(r.joined)
}

// ownedLister6 is implemented by answer sets that can list their IPv6
// addresses (routes.Set).
type ownedLister6 interface {
	Addrs6() []netip.Addr
}

// attachGroups opens the joiner of a new attachment and joins the group of
// every owned IPv6 address.
func (r *Responder) attachGroups(ifindex int, newJoiner func(int) (Joiner, error), log *slog.Logger) {
	j, err := newJoiner(ifindex)
	if err != nil {
		log.Warn("cannot join solicited-node groups: solicitations may not reach the responder", "dev", r.Uplink, "err", err)
		return
	}
	// All under groupMu: the watcher changes the Set before it calls
	// SetOwned, so an address owned before the joiner is in place is in
	// the list, and one that stops being owned meanwhile is either not
	// joined here (Owned says no) or left by its SetOwned, which waits.
	r.groupMu.Lock()
	defer r.groupMu.Unlock()
	r.joiner, r.joined = j, map[netip.Addr]struct{}{}
	if l, ok := r.Set.(ownedLister6); ok {
		for _, a := range l.Addrs6() {
			if r.Set.Owned(a) {
				r.setOwnedLocked(a, true)
			}
		}
	}
}

// detachGroups leaves every group (closing the joiner) when the attachment
// ends.
func (r *Responder) detachGroups(log *slog.Logger) {
	r.groupMu.Lock()
	defer r.groupMu.Unlock()
	if r.joiner == nil {
		return
	}
	if err := r.joiner.Close(); err != nil {
		log.Debug("closing the group joiner", "dev", r.Uplink, "err", err)
	}
	r.joiner, r.joined = nil, nil
}

func (r *Responder) logger() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// IPv6Enabled reports whether IPv6 is enabled on the interface named
// ifname: /proc/sys/net/ipv6/conf/IFNAME exists and its disable_ipv6 is
// not 1. Without IPv6 there are no Neighbor Solicitations to answer.
func IPv6Enabled(ifname string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6")
	return err == nil && strings.TrimSpace(string(b)) != "1"
}
