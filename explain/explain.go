// Package explain says, for one IPv4 or IPv6 address, whether serve would
// answer the router's ARP requests (Neighbor Solicitations) for it on the
// uplink and why, from one reading of the kernel's state: the same routes
// model (routes.Rule.Explain) the watcher keeps the answer set with, then
// the same responder.Decide on a synthesized broadcast request (multicast
// solicitation). proxyarp explain prints it; serve's
// /status uses Devices to name the interface of each owned address.
package explain

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// Host is one reading of the kernel's state.
type Host struct {
	// Snapshot holds links, IPv4 addresses and main-table routes.
	Snapshot routes.Snapshot
	// PolicyRules lists the IPv4 policy rules beyond the kernel's three
	// defaults (local, main, default), in `ip rule` form.
	PolicyRules []string
}

// Read reads the live kernel of the current network namespace.
func Read(ctx context.Context) (Host, error) {
	src, err := routes.NewNetlinkSource(nil)
	if err != nil {
		return Host{}, err
	}
	defer src.Close()
	var snap routes.Snapshot
	for range 5 {
		if snap, err = src.Dump(ctx); err == nil || !isInterrupted(err) {
			break
		}
	}
	if err != nil {
		return Host{}, err
	}
	rules, err := PolicyRules()
	if err != nil {
		return Host{}, err
	}
	return Host{Snapshot: snap, PolicyRules: rules}, nil
}

func isInterrupted(err error) bool { return errors.Is(err, routes.ErrDumpInterrupted) }

// PolicyRules lists the IPv4 policy rules other than the defaults
// (priority 0 lookup local, 32766 lookup main, 32767 lookup default).
func PolicyRules() ([]string, error) {
	rules, err := netlink.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list policy rules: %w", err)
	}
	var out []string
	for _, r := range rules {
		if isDefaultRule(r) {
			continue
		}
		out = append(out, formatRule(r))
	}
	return out, nil
}

func isDefaultRule(r netlink.Rule) bool {
	plain := r.Src == nil && r.Dst == nil && r.IifName == "" && r.OifName == "" &&
		r.Mark == 0 && r.Tos == 0 && !r.Invert && r.Goto <= 0 &&
		(r.Type == 0 || r.Type == unix.FR_ACT_TO_TBL) // v1.3.1 leaves Type 0 in dumps
	switch {
	case !plain:
		return false
	case r.Priority == 0 && r.Table == unix.RT_TABLE_LOCAL,
		r.Priority == 32766 && r.Table == unix.RT_TABLE_MAIN,
		r.Priority == 32767 && r.Table == unix.RT_TABLE_DEFAULT:
		return true
	}
	return false
}

func formatRule(r netlink.Rule) string {
	s := fmt.Sprintf("%d:", r.Priority)
	if r.Invert {
		s += " not"
	}
	if r.Src != nil {
		s += " from " + r.Src.String()
	} else {
		s += " from all"
	}
	if r.Dst != nil {
		s += " to " + r.Dst.String()
	}
	if r.IifName != "" {
		s += " iif " + r.IifName
	}
	if r.OifName != "" {
		s += " oif " + r.OifName
	}
	if r.Mark != 0 {
		s += fmt.Sprintf(" fwmark %#x", r.Mark)
	}
	switch {
	case r.Goto > 0:
		s += fmt.Sprintf(" goto %d", r.Goto)
	case r.Type != unix.FR_ACT_TO_TBL && r.Type != 0:
		s += fmt.Sprintf(" action %d", r.Type)
	default:
		s += " lookup " + tableName(r.Table)
	}
	return s
}

func tableName(t int) string {
	switch t {
	case unix.RT_TABLE_LOCAL:
		return "local"
	case unix.RT_TABLE_MAIN:
		return "main"
	case unix.RT_TABLE_DEFAULT:
		return "default"
	}
	return fmt.Sprint(t)
}

// Options are the serve flags that change the answer.
type Options struct {
	// Uplink is the interface requests arrive on; "" means the interface
	// whose connected (non-/32) prefix covers the address.
	Uplink string
	// Guests names the guest interfaces; the zero Globs means the default.
	Guests routes.Globs
	// Allow is --allow.
	Allow []netip.Prefix
}

// Route is one main-table route covering the address, for the report.
type Route struct {
	Dst      netip.Prefix `json:"dst"`
	Type     string       `json:"type"`
	Dev      string       `json:"dev,omitempty"`
	Via      string       `json:"via,omitempty"`
	Metric   int          `json:"metric"`
	Proto    int          `json:"proto"`
	Flags    []string     `json:"flags,omitempty"`
	Selected bool         `json:"selected"` // the lowest-metric /32, what the rule looks at
}

// Report is the answer for one address.
type Report struct {
	Addr netip.Addr `json:"addr"`
	// Uplink and how it was chosen ("--uplink" or "connected route P").
	Uplink    string `json:"uplink"`
	UplinkVia string `json:"uplink_chosen_by"`
	// Answered says whether a broadcast request for Addr from the router
	// would be answered.
	Answered bool `json:"answered"`
	// Decision is Decide's reason for that request ("answer", "not-owned",
	// "own-address", "outside-allow", ...).
	Decision string `json:"decision"`
	// Rule is the routes rule's verdict ("owned", "no-route",
	// "not-guest", ...), with the interface(s) and metric it looked at.
	Rule   string `json:"rule"`
	Dev    string `json:"dev,omitempty"`
	Metric int    `json:"metric"`
	// Routes lists every main-table route covering Addr, longest prefix
	// first.
	Routes []Route `json:"routes"`
	// PolicyRules lists non-default policy rules (ip rule), which the
	// kernel may use to route Addr by another table than main.
	PolicyRules []string `json:"policy_rules,omitempty"`
	// Why says it in sentences, the deciding one first.
	Why []string `json:"why"`
}

// placeholderMAC stands for the uplink's MAC in the synthesized request:
// Decide only compares it with the destination of unicast requests, and
// the request is broadcast.
var placeholderMAC = responder.MAC{0x02, 0, 0, 0, 0, 0x01}

// Explain explains addr against h. It is pure.
func Explain(h Host, addr netip.Addr, opt Options) (Report, error) {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.Zone() != "" {
		return Report{}, fmt.Errorf("%s is not an IPv4 or IPv6 address", addr)
	}
	snap := h.Snapshot
	links := make(map[int]routes.Link, len(snap.Links))
	byName := make(map[string]routes.Link, len(snap.Links))
	for _, l := range snap.Links {
		links[l.Index] = l
		byName[l.Name] = l
	}
	rep := Report{Addr: addr, PolicyRules: h.PolicyRules, Routes: []Route{}}

	// The uplink.
	if opt.Uplink != "" {
		rep.Uplink, rep.UplinkVia = opt.Uplink, "--uplink"
		if _, ok := byName[opt.Uplink]; !ok {
			return Report{}, fmt.Errorf("uplink %s: no such interface", opt.Uplink)
		}
	} else {
		for _, a := range snap.Addrs {
			if a.Prefix.Bits() < addr.BitLen() && a.Prefix.Contains(addr) {
				if l, ok := links[a.LinkIndex]; ok {
					rep.Uplink, rep.UplinkVia = l.Name, "connected route "+a.Prefix.Masked().String()
					break
				}
			}
		}
		if rep.Uplink == "" {
			return Report{}, fmt.Errorf("no interface has a connected prefix covering %s: pass --uplink IFACE", addr)
		}
	}

	// The rule, on exactly the routes the watcher would see.
	local := false
	localDev := ""
	for _, a := range snap.Addrs {
		if a.Prefix.Addr() == addr {
			local, localDev = true, links[a.LinkIndex].Name
		}
	}
	guests := opt.Guests
	if guests.IsZero() {
		guests, _ = routes.ParseGlobs(routes.DefaultGlobs)
	}
	rule := routes.Rule{Guests: guests, Allow: opt.Allow, Uplink: rep.Uplink}
	v := rule.Explain(addr, snap.Routes, links, local)
	if local {
		// A host address is never answered, routes or not: that is the
		// rule to name (Rule.Explain looks at the routes first).
		v.Reason = routes.ReasonLocal
	}
	rep.Rule, rep.Dev, rep.Metric = v.Reason.String(), v.Dev, v.Metric

	// Decide, on a broadcast who-has from a router on the uplink. The
	// daemon never answers for a next hop of a route via the uplink.
	set := oneSet{addr: addr, owned: v.Owned(), local: local, gateway: isUplinkGateway(snap.Routes, links, rep.Uplink, addr)}
	var frame []byte
	if addr.Is4() {
		frame = whoHas(senderFor(snap, rep.Uplink, links, addr), addr)
	} else {
		frame = solicit(addr)
	}
	d := responder.Decide(frame, responder.Ingress{Name: rep.Uplink, MAC: placeholderMAC, Type: responder.PacketBroadcast}, set, &responder.Config{Allow: opt.Allow})
	rep.Decision = d.Reason.String()
	rep.Answered = d.Reason == responder.Answer

	// Every main-table route covering addr, longest first.
	for _, rt := range snap.Routes {
		if rt.Table != unix.RT_TABLE_MAIN || !rt.Dst.Contains(addr) {
			continue
		}
		r := Route{Dst: rt.Dst, Type: typeName(rt.Type), Metric: rt.Priority, Proto: rt.Protocol}
		var devs, vias []string
		for _, nh := range rt.Nexthops {
			name := links[nh.LinkIndex].Name
			if name == "" {
				name = fmt.Sprintf("#%d", nh.LinkIndex)
			}
			devs = append(devs, name)
			if nh.Gw.IsValid() {
				vias = append(vias, nh.Gw.String())
			}
			if nh.LinkDown {
				r.Flags = append(r.Flags, "linkdown")
			}
			if nh.Dead {
				r.Flags = append(r.Flags, "dead")
			}
		}
		r.Dev, r.Via = strings.Join(devs, ","), strings.Join(vias, ",")
		r.Selected = rt.Dst.Bits() == addr.BitLen() && rt.Priority == v.Metric && v.Reason != routes.ReasonNoRoute
		rep.Routes = append(rep.Routes, r)
	}
	slices.SortStableFunc(rep.Routes, func(a, b Route) int {
		if a.Dst.Bits() != b.Dst.Bits() {
			return b.Dst.Bits() - a.Dst.Bits()
		}
		return a.Metric - b.Metric
	})

	rep.Why = why(rep, v, guests, opt.Allow, byName, localDev)
	return rep, nil
}

// why words the report.
func why(rep Report, v routes.Verdict, guests routes.Globs, allow []netip.Prefix, byName map[string]routes.Link, localDev string) []string {
	a := rep.Addr
	host := fmt.Sprintf("/%d", a.BitLen()) // a host route's length
	var out []string
	switch v.Reason {
	case routes.ReasonOwned:
		out = append(out, fmt.Sprintf("%s%s is routed (metric %d) via %s, a guest interface (%s) that is up with carrier", a, host, v.Metric, v.Dev, guests))
	case routes.ReasonNoRoute:
		s := fmt.Sprintf("no %s route to %s in the main table: proxyarp answers only for host routes", host, a)
		for _, r := range rep.Routes {
			if r.Type == "unicast" {
				s += fmt.Sprintf("; the kernel routes it by %s via %s (a shorter prefix, never answered)", r.Dst, r.Dev)
				break
			}
		}
		out = append(out, s)
	case routes.ReasonNotUnicast:
		out = append(out, fmt.Sprintf("the lowest-metric %s route to %s (metric %d) is not unicast (blackhole, unreachable, prohibit...)", host, a, v.Metric))
	case routes.ReasonUnknownLink:
		out = append(out, fmt.Sprintf("the lowest-metric %s route to %s has no known interface (%s)", host, a, v.Dev))
	case routes.ReasonNotGuest:
		out = append(out, fmt.Sprintf("the lowest-metric %s route to %s (metric %d) leaves via %s, which matches none of the guest globs %s (--guest-ifaces) and is not a proto proxyarp route", host, a, v.Metric, v.Dev, guests))
	case routes.ReasonLinkDown:
		out = append(out, fmt.Sprintf("%s%s is routed via guest interface %s, which is down (ip link set %s up)", a, host, v.Dev, v.Dev))
	case routes.ReasonNoCarrier:
		out = append(out, fmt.Sprintf("%s%s is routed via guest interface %s, which has no carrier (the guest or its peer end is not up)", a, host, v.Dev))
	case routes.ReasonLocal:
		out = append(out, fmt.Sprintf("%s is an address of this host (on %s): the kernel answers for it, proxyarp never does", a, localDev))
	case routes.ReasonNotAllowed:
		out = append(out, fmt.Sprintf("%s%s is routed via guest interface %s but is outside --allow %s", a, host, v.Dev, prefixes(allow)))
	}
	if rep.Decision != "not-owned" {
		switch rep.Decision {
		case "own-address":
			out = append(out, fmt.Sprintf("%s is an address of this host: the kernel answers for it, a request for it is dropped as own-address", a))
		case "answer":
			out = append(out, fmt.Sprintf("a request for %s arriving on %s would be answered with %s's MAC", a, rep.Uplink, rep.Uplink))
		default:
			out = append(out, fmt.Sprintf("a request for %s arriving on %s would be dropped as %s", a, rep.Uplink, rep.Decision))
		}
	}
	if l, ok := byName[rep.Uplink]; ok && (!l.Up || !l.Carrier) {
		out = append(out, fmt.Sprintf("the uplink %s is down or has no carrier: nothing is answered on it now", rep.Uplink))
	}
	if guests.Match(rep.Uplink) {
		out = append(out, fmt.Sprintf("the uplink %s matches the guest globs %s: routes via the uplink would count as guest routes", rep.Uplink, guests))
	}
	if len(rep.PolicyRules) > 0 {
		out = append(out, fmt.Sprintf("policy rules beyond the defaults are present (%s): the kernel may route %s by another table, while proxyarp looks at the main table only", strings.Join(rep.PolicyRules, "; "), a))
	}
	return out
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func typeName(t int) string {
	switch t {
	case unix.RTN_UNICAST:
		return "unicast"
	case unix.RTN_LOCAL:
		return "local"
	case unix.RTN_BROADCAST:
		return "broadcast"
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_UNREACHABLE:
		return "unreachable"
	case unix.RTN_PROHIBIT:
		return "prohibit"
	case unix.RTN_THROW:
		return "throw"
	}
	return fmt.Sprintf("type %d", t)
}

// senderFor picks the synthesized request's sender: an address in the
// uplink's connected prefix other than addr (as a router's would be), or a
// link-local one.
func senderFor(snap routes.Snapshot, uplink string, links map[int]routes.Link, addr netip.Addr) netip.Addr {
	for _, a := range snap.Addrs {
		if links[a.LinkIndex].Name != uplink || a.Prefix.Bits() >= 31 {
			continue
		}
		for c := a.Prefix.Masked().Addr().Next(); a.Prefix.Contains(c); c = c.Next() {
			if c != addr && c != a.Prefix.Addr() {
				return c
			}
		}
	}
	return netip.MustParseAddr("169.254.0.1")
}

var requesterMAC = responder.MAC{0x02, 0, 0, 0, 0, 0xfe}

// whoHas builds a broadcast ARP request for target from sender.
func whoHas(sender, target netip.Addr) []byte {
	b := make([]byte, 0, responder.ReplyLen)
	b = append(b, responder.BroadcastMAC[:]...)
	b = append(b, requesterMAC[:]...)
	b = append(b, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
	b = append(b, requesterMAC[:]...)
	s, t := sender.As4(), target.As4()
	b = append(b, s[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, t[:]...)
	return b
}

// solicitRouter is the source of the synthesized Neighbor Solicitation:
// a router's link-local address.
var solicitRouter = netip.MustParseAddr("fe80::fe")

// solicit builds the multicast Neighbor Solicitation a router sends to
// resolve target: to target's solicited-node group, hop limit 255, with a
// source link-layer address option.
func solicit(target netip.Addr) []byte {
	t := target.As16()
	grp := responder.SolicitedNode(target).As16()
	src := solicitRouter.As16()
	b := make([]byte, 0, responder.NAReplyLen)
	b = append(b, 0x33, 0x33, 0xff, t[13], t[14], t[15])
	b = append(b, requesterMAC[:]...)
	b = append(b, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255)
	b = append(b, src[:]...)
	b = append(b, grp[:]...)
	icmp := len(b)
	b = append(b, 135, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, t[:]...)
	b = append(b, 1, 1)
	b = append(b, requesterMAC[:]...)
	// The ICMPv6 checksum over the pseudo-header and the message.
	var sum uint32
	add := func(p []byte) {
		for i := 0; i+1 < len(p); i += 2 {
			sum += uint32(p[i])<<8 | uint32(p[i+1])
		}
	}
	add(src[:])
	add(grp[:])
	sum += uint32(len(b)-icmp) + 58
	add(b[icmp:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	b[icmp+2], b[icmp+3] = byte(c>>8), byte(c)
	return b
}

// oneSet is the answer set as far as one address is concerned.
type oneSet struct {
	addr                  netip.Addr
	owned, local, gateway bool
}

func (s oneSet) Owned(a netip.Addr) bool   { return a == s.addr && s.owned }
func (s oneSet) Local(a netip.Addr) bool   { return a == s.addr && s.local }
func (s oneSet) Gateway(a netip.Addr) bool { return a == s.addr && s.gateway }

// isUplinkGateway reports whether addr is the next hop of a main-table
// route via the uplink (the watcher's gateway set, for one address).
func isUplinkGateway(rs []routes.Route, links map[int]routes.Link, uplink string, addr netip.Addr) bool {
	for _, rt := range rs {
		if rt.Table != unix.RT_TABLE_MAIN {
			continue
		}
		for _, nh := range rt.Nexthops {
			if nh.Gw == addr && links[nh.LinkIndex].Name == uplink {
				return true
			}
		}
	}
	return false
}

// Devices returns the interface(s) each of addrs is routed to by its
// lowest-metric /32 routes in snap, comma separated, as the rule sees them.
func Devices(snap routes.Snapshot, addrs []netip.Addr) map[netip.Addr]string {
	links := make(map[int]routes.Link, len(snap.Links))
	for _, l := range snap.Links {
		links[l.Index] = l
	}
	want := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		want[a] = true
	}
	byAddr := map[netip.Addr][]routes.Route{}
	for _, rt := range snap.Routes {
		if rt.Dst.Bits() == rt.Dst.Addr().BitLen() && rt.Table == unix.RT_TABLE_MAIN && want[rt.Dst.Addr()] {
			byAddr[rt.Dst.Addr()] = append(byAddr[rt.Dst.Addr()], rt)
		}
	}
	// A rule that matches every interface: only the device matters here.
	all, _ := routes.ParseGlobs("*")
	rule := routes.Rule{Guests: all}
	out := make(map[netip.Addr]string, len(addrs))
	for a, rts := range byAddr {
		if v := rule.Explain(a, rts, links, false); v.Dev != "" {
			out[a] = v.Dev
		}
	}
	return out
}
