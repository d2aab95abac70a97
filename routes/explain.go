package routes

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Reason is the outcome of Rule.Explain: ReasonOwned, or why an address is
// not answered for. Its String form is a stable, short label for logs and
// metrics.
type Reason int

// Reasons, in the order Explain checks them. The zero Reason is never
// returned.
const (
	// ReasonOwned: the address is answered for.
	ReasonOwned Reason = iota + 1
	// ReasonNoRoute: no host route to the address in the main table (/32
	// for IPv4, /128 for IPv6), or the address is neither IPv4 nor IPv6
	// (the zero Addr, an IPv4-mapped IPv6 address).
	ReasonNoRoute
	// ReasonNotUnicast: a lowest-metric host route is a blackhole,
	// unreachable, prohibit or another non-unicast type.
	ReasonNotUnicast
	// ReasonUnknownLink: a lowest-metric route has no device, or one the
	// watcher does not know (yet).
	ReasonUnknownLink
	// ReasonNotGuest: a lowest-metric route (or one of its nexthops)
	// leaves through an interface that matches no guest glob, and the
	// route is not one of proxyarp's own (ProtoProxyarp).
	ReasonNotGuest
	// ReasonLinkDown: a guest interface of a lowest-metric route is
	// administratively down (or the nexthop is dead).
	ReasonLinkDown
	// ReasonNoCarrier: a guest interface of a lowest-metric route has no
	// carrier (or the nexthop is flagged linkdown).
	ReasonNoCarrier
	// ReasonLocal: the address is configured on the host itself.
	ReasonLocal
	// ReasonNotAllowed: routed to a guest but outside the allow list.
	ReasonNotAllowed
	// ReasonUplinkGateway: routed to a guest, but a gateway of a route via
	// the uplink (the default route's next hop): never answered. The
	// Watcher says so; Explain, which knows no gateways, never does.
	ReasonUplinkGateway
)

var reasonNames = [...]string{
	ReasonOwned:       "owned",
	ReasonNoRoute:     "no-route",
	ReasonNotUnicast:  "not-unicast",
	ReasonUnknownLink: "unknown-link",
	ReasonNotGuest:    "not-guest",
	ReasonLinkDown:    "link-down",
	ReasonNoCarrier:   "no-carrier",
	ReasonLocal:       "local",
	ReasonNotAllowed:  "not-allowed",

	ReasonUplinkGateway: "uplink-gateway",
}

// String returns the label of r, e.g. "not-guest".
func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Verdict is the answer of Rule.Explain for one address.
type Verdict struct {
	Reason Reason
	// Dev names the interface(s) of the lowest-metric routes, comma
	// separated, or the offending one when Reason is about a link.
	Dev string
	// Metric is the lowest metric among the address's host routes.
	Metric int
}

// Owned reports whether the verdict is ReasonOwned.
func (v Verdict) Owned() bool { return v.Reason == ReasonOwned }

// Rule is the answer rule's configuration.
type Rule struct {
	// Guests names the guest interfaces. Explain uses exactly these
	// globs; the zero Globs matches no interface.
	Guests Globs
	// Allow, when not empty, limits the owned addresses to these
	// prefixes.
	Allow []netip.Prefix
	// Uplink, when set, names the interface requests arrive on: a route
	// back out of it never makes an address owned, even one proxyarp's
	// Manager installed (answering would loop the router's traffic back
	// to it), and even if its name matches a guest glob.
	Uplink string
}

// Explain decides whether addr is owned, and why not. It is the only place
// the rule is written down, and it is pure.
//
// routes are the candidate routes to addr: routes of other tables or other
// destinations than addr/32 (IPv4) or addr/128 (IPv6) are ignored, so
// passing every route is correct, just slower. links maps ifindex to link;
// local says whether addr is a host address.
//
// IPv4 and IPv6 follow the same rule: the address is owned when the main
// table has a /32 (IPv4) or /128 (IPv6) route to it, every
// route with the lowest metric is unicast and every nexthop of those leaves
// through a known link that is up, has carrier, is neither dead nor
// linkdown, and matches a guest glob (or the route carries ProtoProxyarp:
// proxyarp's Manager installed it for a guest, whatever the device's name);
// when it is not local; and when it is inside Allow (if Allow is not
// empty). Gateways do not matter. An IPv4-mapped IPv6 address is never
// owned (ReasonNoRoute), even with a /128 route: unmap it to ask about the
// IPv4 address. An IPv6 zone is ignored.
func (r Rule) Explain(addr netip.Addr, routes []Route, links map[int]Link, local bool) Verdict {
	if !addr.Is4() && (!addr.Is6() || addr.Is4In6()) {
		return Verdict{Reason: ReasonNoRoute}
	}
	addr = addr.WithZone("")
	dst := netip.PrefixFrom(addr, hostBits(addr))
	best, found := 0, false
	for i := range routes {
		rt := &routes[i]
		if rt.Table != tableMain || rt.Dst != dst {
			continue
		}
		if !found || rt.Priority < best {
			best, found = rt.Priority, true
		}
	}
	if !found {
		return Verdict{Reason: ReasonNoRoute}
	}
	v := Verdict{Metric: best}
	var devs []string
	for i := range routes {
		rt := &routes[i]
		if rt.Table != tableMain || rt.Dst != dst || rt.Priority != best {
			continue
		}
		if rt.Type != typeUnicast {
			v.Reason = ReasonNotUnicast
			return v
		}
		if len(rt.Nexthops) == 0 {
			v.Reason = ReasonUnknownLink
			return v
		}
		for _, nh := range rt.Nexthops {
			l, ok := links[nh.LinkIndex]
			switch {
			case !ok:
				v.Reason = ReasonUnknownLink
				v.Dev = fmt.Sprintf("#%d", nh.LinkIndex)
			case r.Uplink != "" && l.Name == r.Uplink:
				v.Reason = ReasonNotGuest
			case !r.Guests.Match(l.Name) && rt.Protocol != ProtoProxyarp:
				v.Reason = ReasonNotGuest
			case !l.Up || nh.Dead:
				v.Reason = ReasonLinkDown
			case !l.Carrier || nh.LinkDown:
				v.Reason = ReasonNoCarrier
			}
			if v.Reason != 0 {
				if v.Dev == "" {
					v.Dev = l.Name
				}
				return v
			}
			if !slices.Contains(devs, l.Name) {
				devs = append(devs, l.Name)
			}
		}
	}
	v.Dev = strings.Join(devs, ",")
	switch {
	case local:
		v.Reason = ReasonLocal
	case !allowed(r.Allow, addr):
		v.Reason = ReasonNotAllowed
	default:
		v.Reason = ReasonOwned
	}
	return v
}

// allowed reports whether addr is inside allow, or allow is empty.
func allowed(allow []netip.Prefix, addr netip.Addr) bool {
	if len(allow) == 0 {
		return true
	}
	for _, p := range allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
