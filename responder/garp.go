package responder

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"time"
)

// AnnounceConfig configures gratuitous ARP: the bursts the responder sends
// on the uplink when an address starts being answered after start-up (a new
// guest, a guest migrated here, carrier back on its interface), so that the
// router updates its neighbour entry at once instead of when it expires.
type AnnounceConfig struct {
	// Count is the number of announcements per burst; 0 disables
	// gratuitous ARP.
	Count int
	// Interval separates the announcements of one burst; the first goes
	// out at once.
	Interval time.Duration
	// Rate caps announcements per second over all addresses, so that a
	// mass plug cannot flood the segment; 0 means no cap.
	Rate int
}

// DefaultAnnounce is what serve uses unless told otherwise: 3 announcements
// 1 s apart, at most 100 per second in all.
var DefaultAnnounce = AnnounceConfig{Count: 3, Interval: time.Second, Rate: 100}

// AppendGratuitous appends a gratuitous ARP announcement of addr by mac to
// b: an ARP request broadcast on Ethernet, with sender and target IP both
// addr, sender MAC mac and target MAC zero (RFC 5227's announcement), padded
// to ReplyLen bytes. It does not allocate when b has room.
func AppendGratuitous(b []byte, mac MAC, addr netip.Addr) []byte {
	start := len(b)
	a := addr.As4()
	b = append(b, BroadcastMAC[:]...)
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, arpHTypeEthernet)
	b = binary.BigEndian.AppendUint16(b, arpPTypeIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, arpOpRequest)
	b = append(b, mac[:]...)
	b = append(b, a[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, a[:]...)
	for len(b)-start < ReplyLen {
		b = append(b, 0)
	}
	return b
}

// AppendUnsolicitedNA appends an unsolicited Neighbor Advertisement of addr
// by mac to b, the IPv6 twin of AppendGratuitous (RFC 4861 7.2.6): from addr
// to all nodes (ff02::1, Ethernet 33:33:00:00:00:01), hop limit 255,
// Override set so that neighbours replace the link-layer address they hold,
// Solicited and Router clear, with a target link-layer address option of
// mac; NAReplyLen bytes. It appends nothing when addr is not an IPv6
// address. It does not allocate when b has room.
//
// It shares the hand-rolled encoder of AppendReply rather than going
// through mdlayher/ndp (the tests check both agree), which keeps ndp and
// what it imports (golang.org/x/text, for DNS search lists) out of the
// binary.
func AppendUnsolicitedNA(b []byte, mac MAC, addr netip.Addr) []byte {
	if !addr.Is6() || addr.Is4In6() {
		return b
	}
	return appendNA(b, mac, allNodesMAC, addr, allNodes, naFlagOverride)
}

// tokenBucket is a rate limiter over an explicit clock: Rate tokens per
// second, holding at most Rate (a second's worth of burst).
type tokenBucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: float64(rate), tokens: float64(rate), last: now}
}

// take takes one token if there is one at now; otherwise it reports how long
// until there will be.
func (tb *tokenBucket) take(now time.Time) (bool, time.Duration) {
	if tb.rate <= 0 {
		return true, 0
	}
	if el := now.Sub(tb.last).Seconds(); el > 0 {
		tb.tokens = min(tb.rate, tb.tokens+el*tb.rate)
		tb.last = now
	}
	if tb.tokens >= 1 {
		tb.tokens--
		return true, 0
	}
	return false, time.Duration((1 - tb.tokens) / tb.rate * float64(time.Second))
}

// burst is the pending announcements of one address.
type burst struct {
	left int
	next time.Time
}

// Announce schedules a burst of gratuitous ARP for addr (AnnounceConfig),
// or for an IPv6 address a burst of unsolicited Neighbor Advertisements
// (AppendUnsolicitedNA), sent on the NDP socket when the responder is
// attached with one (NDP), with the same count, interval and rate cap (one
// cap for both protocols).
// It never blocks; a burst already pending for addr is topped up to the full
// count rather than doubled. The burst
// stops as soon as addr is no longer owned, so that a guest that moved on
// is not pulled back by late announcements.
func (r *Responder) Announce(addr netip.Addr) {
	r.announce(addr, 0)
}

// announce queues a burst of n announcements (0: the configured Count).
func (r *Responder) announce(addr netip.Addr, n int) {
	if r.announcements().Count <= 0 || !addr.Is4() && !(addr.Is6() && r.NDP) || addr.Is4In6() {
		return
	}
	select {
	case r.garpReq <- garpRequest{addr, n}:
	default:
		// The queue is full: a mass change is under way. Announcing every
		// owned address once on the next re-attach is not worth more
		// machinery; count it and carry on.
		r.stats.garpsDropped.Add(1)
	}
}

type garpRequest struct {
	addr netip.Addr
	n    int
}

// ownedLister is implemented by answer sets that can list their addresses
// (routes.Set): on a re-attach, every owned address is announced once.
type ownedLister interface {
	Addrs() []netip.Addr
}

// announceAll queues one announcement of every owned address, after the
// uplink was re-attached or got a new MAC.
func (r *Responder) announceAll() {
	l, ok := r.Set.(ownedLister)
	if !ok || r.announcements().Count <= 0 {
		return
	}
	for _, a := range l.Addrs() {
		r.announce(a, 1)
	}
	if l6, ok := r.Set.(ownedLister6); ok && r.NDP {
		for _, a := range l6.Addrs6() {
			r.announce(a, 1)
		}
	}
}

// runAnnouncer sends the scheduled bursts until ctx is done.
func (r *Responder) runAnnouncer(ctx context.Context, log *slog.Logger) {
	cfg := r.announcements()
	pending := map[netip.Addr]*burst{}
	bucket := newTokenBucket(cfg.Rate, time.Now())
	rate := cfg.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	buf := make([]byte, 0, MaxReplyLen)
	for {
		// Send what is due, as far as the rate allows; find the next wake.
		now := time.Now()
		if cfg = r.announcements(); cfg.Rate != rate {
			rate = cfg.Rate
			bucket = newTokenBucket(rate, now)
		}
		wake := time.Hour
		for addr, b := range pending {
			if !r.Set.Owned(addr) {
				delete(pending, addr)
				continue
			}
			if d := b.next.Sub(now); d > 0 {
				wake = min(wake, d)
				continue
			}
			ok, wait := bucket.take(now)
			if !ok {
				wake = min(wake, wait)
				continue
			}
			r.sendGratuitous(buf, addr, log)
			b.left--
			if b.left <= 0 {
				delete(pending, addr)
				continue
			}
			b.next = now.Add(cfg.Interval)
			wake = min(wake, cfg.Interval)
		}
		timer.Reset(wake)
		select {
		case <-ctx.Done():
			return
		case req := <-r.garpReq:
			// Take every queued request before the next scan.
			r.schedule(pending, req)
			for drained := false; !drained; {
				select {
				case req = <-r.garpReq:
					r.schedule(pending, req)
				default:
					drained = true
				}
			}
		case <-timer.C:
		}
	}
}

// schedule adds the burst req asks for to pending. The zero request is
// SetAnnouncements' wake-up: nothing to schedule.
func (r *Responder) schedule(pending map[netip.Addr]*burst, req garpRequest) {
	if !req.addr.IsValid() {
		return
	}
	n := req.n
	if n <= 0 {
		n = r.announcements().Count
	}
	if n <= 0 {
		return // turned off since it was queued
	}
	if b, ok := pending[req.addr]; !ok || b.left < n {
		pending[req.addr] = &burst{left: n, next: time.Now()}
	}
}

func (r *Responder) sendGratuitous(buf []byte, addr netip.Addr, log *slog.Logger) {
	att := r.current.Load()
	if att == nil {
		return // not attached: the re-attach announces everything anyway
	}
	conn, frame := att.conn, []byte(nil)
	if addr.Is4() {
		frame = AppendGratuitous(buf[:0], att.mac, addr)
	} else {
		if att.conn6 == nil {
			return // attached without NDP (IPv6 disabled on the uplink)
		}
		conn, frame = att.conn6, AppendUnsolicitedNA(buf[:0], att.mac, addr)
	}
	if r.DryRun {
		r.stats.dryRunGARPs.Add(1)
		if r.OnAnnounce != nil {
			r.OnAnnounce(frame, addr, ErrDryRun)
		}
		return
	}
	err := conn.WriteFrame(frame)
	if err != nil {
		r.stats.writeErrors.Add(1)
		log.Debug("announcement not sent", "ip", addr, "err", err)
	} else {
		r.stats.garpsSent.Add(1)
	}
	if r.OnAnnounce != nil {
		r.OnAnnounce(frame, addr, err)
	}
}
