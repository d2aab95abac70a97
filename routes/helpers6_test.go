package routes

import (
	"net/netip"
	"slices"
)

// IPv6 twins of the IPv4 test cases: an IPv4 address a.b.c.d becomes
// 2001:db8:4::a.b.c.d (2001:db8:4::c000:20a for 192.0.2.10), a prefix
// keeps its host part (/24 becomes /120), so every IPv4 case can be run
// again in IPv6 with the same expectations.

var six = mustAddr("2001:db8:4::")

func to6Addr(a netip.Addr) netip.Addr {
	if !a.Is4() {
		return a
	}
	b := six.As16()
	v := a.As4()
	copy(b[12:], v[:])
	return netip.AddrFrom16(b)
}

func to6Addrs(as []netip.Addr) []netip.Addr {
	out := []netip.Addr{}
	for _, a := range as {
		out = append(out, to6Addr(a))
	}
	return out
}

func to6Prefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4() {
		return p
	}
	return netip.PrefixFrom(to6Addr(p.Addr()), p.Bits()+96)
}

func to6Prefixes(ps []netip.Prefix) []netip.Prefix {
	if ps == nil {
		return nil
	}
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = to6Prefix(p)
	}
	return out
}

func to6Route(r Route) Route {
	if r.Dst.IsValid() {
		r.Dst = to6Prefix(r.Dst)
	}
	r.Nexthops = slices.Clone(r.Nexthops)
	for i := range r.Nexthops {
		if r.Nexthops[i].Gw.IsValid() {
			r.Nexthops[i].Gw = to6Addr(r.Nexthops[i].Gw)
		}
	}
	return r
}

func to6Routes(rs []Route) []Route {
	if rs == nil {
		return nil
	}
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = to6Route(r)
	}
	return out
}

func to6Event(ev Event) Event {
	switch ev.Kind {
	case RouteAdd, RouteReplace, RouteDel:
		ev.Route = to6Route(ev.Route)
	case AddrAdd, AddrDel:
		ev.Addr.Prefix = to6Prefix(ev.Addr.Prefix)
	}
	return ev
}

func to6Snapshot(s Snapshot) Snapshot {
	out := Snapshot{Links: slices.Clone(s.Links), Routes: to6Routes(s.Routes)}
	for _, a := range s.Addrs {
		out.Addrs = append(out.Addrs, Addr{LinkIndex: a.LinkIndex, Prefix: to6Prefix(a.Prefix)})
	}
	return out
}

// to6Case is the IPv6 twin of an eventCase.
func to6Case(c eventCase) eventCase {
	c.routes = to6Routes(c.routes)
	c.allow = to6Prefixes(c.allow)
	steps := make([]step, len(c.steps))
	for i, s := range c.steps {
		for _, ev := range s.events {
			steps[i].events = append(steps[i].events, to6Event(ev))
		}
		steps[i].want = to6Addrs(s.want)
	}
	c.steps = steps
	return c
}
