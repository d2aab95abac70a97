package routes

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Uplink gateways.
//
// The next hop of the default route via the uplink is, as a rule, the very
// router whose ARP requests proxyarp answers. Answering for it (because
// someone routed a /32 to it via a guest interface, by mistake or not)
// would pull the host's own way out, and every other customer's traffic to
// that router, onto a guest. So the watcher keeps the gateways of every
// main-table route via the uplink, the Set answers Gateway for them,
// Decide refuses them (responder.UplinkGateway) and the watcher never
// counts them as owned (ReasonUplinkGateway), so they are neither
// announced by gratuitous ARP nor seen as conflicts.

// gwRoutes is the part of the mirror that tracks routes with a gateway:
// every main-table route of any prefix length with at least one nexthop
// via a gateway, by destination. It follows the same add, replace, delete
// and link semantics as the /32 routes.
type gwRoutes map[netip.Prefix][]Route

// hasGateway reports whether r is a main-table route with a gatewayed
// nexthop.
func hasGateway(r Route) bool {
	if r.Table != tableMain {
		return false
	}
	return slices.ContainsFunc(r.Nexthops, func(nh Nexthop) bool { return nh.Gw.IsValid() })
}

// add applies an RTM_NEWROUTE (see mirror.addRoute). It reports whether
// anything changed.
func (g gwRoutes) add(r Route, replace bool) bool {
	if r.Table != tableMain {
		return false
	}
	old := g[r.Dst]
	if replace {
		if i := slices.IndexFunc(old, func(o Route) bool { return sameKey(o, r) }); i >= 0 {
			rs := slices.Clone(old)
			if hasGateway(r) {
				rs[i] = cloneRoute(r)
			} else {
				rs = slices.Delete(rs, i, i+1)
			}
			g.set(r.Dst, rs)
			return true
		}
	}
	if !hasGateway(r) {
		return false
	}
	if r.Dst.Addr().Is6() {
		// Siblings of an IPv6 multipath route (see mirror).
		rs, changed := addRoute6(old, cloneRoute(r))
		g.set(r.Dst, rs)
		return changed
	}
	if slices.ContainsFunc(old, func(o Route) bool { return sameRoute(o, r) }) {
		return false
	}
	g.set(r.Dst, append(slices.Clone(old), cloneRoute(r)))
	return true
}

// del applies an RTM_DELROUTE (see mirror.delRoute).
func (g gwRoutes) del(del Route) bool {
	if del.Table != tableMain {
		return false
	}
	old := g[del.Dst]
	if del.Dst.Addr().Is6() {
		rs, ok := delRoute6(old, del)
		if ok {
			g.set(del.Dst, rs)
		}
		return ok
	}
	i := slices.IndexFunc(old, func(r Route) bool { return delMatches(del, r) })
	if i < 0 {
		return false
	}
	g.set(del.Dst, slices.Delete(slices.Clone(old), i, i+1))
	return true
}

// linkGone drops the routes the kernel flushes when link idx goes down
// (deleted false; dead multipath hops are marked) or away (deleted true).
func (g gwRoutes) linkGone(idx int, deleted bool) bool {
	changed := false
	for dst, rs := range g {
		var keep []Route
		for _, r := range rs {
			for i := range r.Nexthops {
				if r.Nexthops[i].LinkIndex == idx && !deleted {
					r.Nexthops[i].Dead = true
				}
			}
			if routeGone(r, idx, deleted) {
				changed = true
				continue
			}
			keep = append(keep, r)
		}
		g.set(dst, keep)
	}
	return changed
}

func (g gwRoutes) set(dst netip.Prefix, rs []Route) {
	if len(rs) == 0 {
		delete(g, dst)
		return
	}
	g[dst] = rs
}

func cloneRoute(r Route) Route {
	r.Nexthops = slices.Clone(r.Nexthops)
	return r
}

// gateways returns the gateways of the routes via the link named uplink
// (every link of that name, should the mirror know several), IPv4 and
// IPv6 (link-local ones included, without zone). An IPv4 route may have an
// IPv6 gateway (RTA_VIA): it counts as an IPv6 gateway.
func (g gwRoutes) gateways(links map[int]Link, uplink string) map[addrKey]struct{} {
	out := make(map[addrKey]struct{})
	if uplink == "" {
		return out
	}
	for _, rs := range g {
		for _, r := range rs {
			for _, nh := range r.Nexthops {
				if !nh.Gw.IsValid() {
					continue
				}
				if l, ok := links[nh.LinkIndex]; ok && l.Name == uplink {
					if k, ok := keyOf(nh.Gw); ok {
						out[k] = struct{}{}
					}
				}
			}
		}
	}
	return out
}

// applyGateways updates the mirror's gateway routes with ev and reports
// whether the gateway set may have changed.
func (m *mirror) applyGateways(ev Event) bool {
	switch ev.Kind {
	case RouteAdd, RouteReplace:
		return m.gw.add(ev.Route, ev.Kind == RouteReplace)
	case RouteDel:
		return m.gw.del(ev.Route)
	case LinkUpdate:
		if !ev.Link.Up {
			m.gw.linkGone(ev.Link.Index, false)
		}
		return true // a rename or a new uplink index changes the set too
	case LinkDel:
		m.gw.linkGone(ev.Link.Index, true)
		return true
	}
	return false
}

// sameKeys reports whether a and b hold the same keys.
func sameKeys(a, b map[addrKey]struct{}) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func keyList(m map[addrKey]struct{}) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(m), compareKeys)
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.addr().String()
	}
	return strings.Join(s, ",")
}
