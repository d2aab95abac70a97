package responder

import (
	"log/slog"
	"net/netip"
	"time"
)

// DefaultConflictInterval is how long a conflict on one address stays
// quiet in the log after it was logged.
const DefaultConflictInterval = time.Minute

// maxConflictLog bounds the addresses whose last log time is remembered.
const maxConflictLog = 4096

// Conflict reports whether a decided frame shows another machine on the
// uplink using, or wanting, an address the answer set owns, and which
// address:
//
//   - an ARP request or reply (a gratuitous announcement included) whose
//     sender IP is owned but whose sender MAC is not the uplink's: someone
//     else claims our guest's address;
//   - an address probe (sender 0.0.0.0, RFC 5227) for an owned target:
//     someone is about to take it;
//   - the IPv6 twins: a Neighbor Solicitation whose source address is owned
//     but whose link-layer address is not the uplink's, and a duplicate
//     address detection probe (source ::, RFC 4862) for an owned target,
//     whether dropped as Probe or answered (Config.DefendDAD).
//
// A live migration shows one: the old host's announcement (or the guest's
// own, from its new place) before the route moves here. Unicast replies to
// the router are not seen without promiscuous mode, so a conflicting host
// that only answers the router's requests goes unnoticed.
//
// Frames not parsed far enough to be trusted (malformed, VLAN-tagged,
// not for us, inconsistent or martian senders) are never conflicts. It does
// not allocate.
func Conflict(d Decision, set AnswerSet) (netip.Addr, bool) {
	r := &d.Request
	switch d.Reason {
	case Probe:
		if (r.Proto == ProtoNDP || r.Op == arpOpRequest) && set.Owned(r.TargetIP) {
			return r.TargetIP, true
		}
		return netip.Addr{}, false
	case Answer, NotRequest, Gratuitous, OwnAddress, OutsideAllow, NotOwned, BadTargetIP:
	default:
		return netip.Addr{}, false
	}
	if d.Reason == Answer && r.Proto == ProtoNDP && r.SenderIP.IsUnspecified() {
		return r.TargetIP, true // a defended DAD probe: the target is owned
	}
	if r.SenderMAC == d.UplinkMAC || r.SenderMAC.IsZero() || r.SenderMAC.IsMulticast() {
		return netip.Addr{}, false
	}
	if !r.SenderIP.IsValid() || r.SenderIP.IsUnspecified() || !set.Owned(r.SenderIP) {
		return netip.Addr{}, false
	}
	return r.SenderIP, true
}

// conflictLog rate-limits the conflict log lines: one per address and
// interval. It is used by the read loop only.
type conflictLog struct {
	interval time.Duration
	last     map[netip.Addr]time.Time
}

func newConflictLog(interval time.Duration) *conflictLog {
	if interval <= 0 {
		interval = DefaultConflictInterval
	}
	return &conflictLog{interval: interval}
}

// log logs the conflict on addr unless it was logged less than an interval
// before now.
func (c *conflictLog) log(log *slog.Logger, addr netip.Addr, d Decision, now time.Time) bool {
	if c.last == nil {
		c.last = make(map[netip.Addr]time.Time)
	}
	if t, ok := c.last[addr]; ok && now.Sub(t) < c.interval {
		return false
	}
	if len(c.last) >= maxConflictLog {
		for a, t := range c.last {
			if now.Sub(t) >= c.interval {
				delete(c.last, a)
			}
		}
		if len(c.last) >= maxConflictLog {
			clear(c.last)
		}
	}
	c.last[addr] = now
	what := "in use by another machine"
	switch {
	case d.Request.Proto == ProtoNDP && d.Request.SenderIP.IsUnspecified():
		what = "probed for by another machine (IPv6 duplicate address detection)"
	case d.Reason == Probe:
		what = "probed for by another machine (RFC 5227)"
	case d.Reason == Gratuitous:
		what = "announced by another machine (gratuitous ARP; a live migration away from here shows one too)"
	case d.Request.Proto == ProtoARP && d.Request.Op == arpOpReply:
		what = "claimed by another machine's ARP reply"
	}
	log.Warn("address conflict: owned address "+what, "ip", addr,
		"mac", d.Request.SenderMAC.String(), "reason", d.Reason.String(), "quiet_for", c.interval)
	return true
}
