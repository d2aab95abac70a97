package routes

import (
	"slices"
)

// mirror is the Watcher's copy of the kernel state that the rule needs:
// all links, all host addresses, and the host routes of the main table (of
// every type): /32 for IPv4, /128 for IPv6, indexed by destination and by
// outgoing link so that an event only touches the addresses it can affect.
//
// Both families follow the same rules, with one difference the kernel
// makes: the nexthops of an IPv6 multipath route are separate routes
// (siblings) inside the kernel, and depending on the kernel version and
// the operation its events report them one at a time or together
// (RTA_MULTIPATH), while its dumps report them together. The mirror keeps
// each IPv6 destination's siblings of one metric as one multipath route,
// as the dump does: an added route of the same destination, table and
// metric is merged into it (see addRoute6) and a deleted one takes only
// its own nexthops out (see delRoute6). IPv4 multipath routes are one
// route in the kernel too, and are always reported whole.
//
// mirror is not safe for concurrent use; the Watcher's goroutine owns it.
type mirror struct {
	links  map[int]Link
	addrs  map[Addr]struct{}
	local  map[addrKey]int // host address -> number of (link, prefix) carrying it
	routes map[addrKey][]Route
	byLink map[int]map[addrKey]struct{} // ifindex -> destinations with a nexthop there
	gw     gwRoutes                     // main-table routes via a gateway, any prefix (gateway.go)
}

func newMirror() *mirror {
	return &mirror{
		links:  make(map[int]Link),
		addrs:  make(map[Addr]struct{}),
		local:  make(map[addrKey]int),
		routes: make(map[addrKey][]Route),
		byLink: make(map[int]map[addrKey]struct{}),
		gw:     make(gwRoutes),
	}
}

// load fills an empty mirror from a dump.
func (m *mirror) load(snap Snapshot) {
	for _, l := range snap.Links {
		m.loadLink(l)
	}
	for _, a := range snap.Addrs {
		m.loadAddr(a)
	}
	for _, r := range snap.Routes {
		m.loadRoute(r)
	}
}

// loadLink, loadAddr and loadRoute fill an empty mirror one piece of a dump
// at a time, in this order (links first: a route's flags follow its
// links); see dumpSink.
func (m *mirror) loadLink(l Link) { m.links[l.Index] = l }

func (m *mirror) loadAddr(a Addr) { m.addAddr(a) }

func (m *mirror) loadRoute(r Route) {
	m.addRoute(r, false)
	m.gw.add(r, false)
}

// sink returns the dumpSink that loads m.
func (m *mirror) sink() dumpSink {
	return dumpSink{link: m.loadLink, addr: m.loadAddr, route: m.loadRoute}
}

// isLocal reports whether k is a host address.
func (m *mirror) isLocal(k addrKey) bool { return m.local[k] > 0 }

// hostRoute reports whether r is one the mirror keeps (a main-table /32
// to an IPv4 address or /128 to an IPv6 address that is not IPv4-mapped),
// and its key.
func hostRoute(r Route) (addrKey, bool) {
	if r.Table != tableMain || !r.Dst.IsValid() || r.Dst.Bits() != hostBits(r.Dst.Addr()) {
		return addrKey{}, false
	}
	return keyOf(r.Dst.Addr())
}

// sameKey reports whether a and b have the kernel's identity of a route
// alias in one table: destination, table, tos and priority (IPv6 routes
// have no tos: it is always zero).
func sameKey(a, b Route) bool {
	return a.Dst == b.Dst && a.Table == b.Table && a.Tos == b.Tos && a.Priority == b.Priority
}

// sameRoute reports whether a and b are the same route, ignoring nexthop
// flags (they follow the links' state).
func sameRoute(a, b Route) bool {
	if !sameKey(a, b) || a.Type != b.Type || a.Protocol != b.Protocol || len(a.Nexthops) != len(b.Nexthops) {
		return false
	}
	for i := range a.Nexthops {
		if a.Nexthops[i].LinkIndex != b.Nexthops[i].LinkIndex || a.Nexthops[i].Gw != b.Nexthops[i].Gw {
			return false
		}
	}
	return true
}

// delMatches reports whether a delete request del (which may carry fewer
// attributes than the route) designates route r.
func delMatches(del, r Route) bool {
	if !sameKey(del, r) {
		return false
	}
	if del.Type != 0 && del.Type != r.Type {
		return false
	}
	if del.Protocol != 0 && del.Protocol != r.Protocol {
		return false
	}
	var want []Nexthop
	for _, nh := range del.Nexthops {
		if nh.LinkIndex != 0 || nh.Gw.IsValid() {
			want = append(want, nh)
		}
	}
	if len(want) == 0 {
		return true
	}
	if len(want) != len(r.Nexthops) {
		return false
	}
	for i, nh := range want {
		if nh.LinkIndex != 0 && r.Nexthops[i].LinkIndex != nh.LinkIndex {
			return false
		}
		if nh.Gw.IsValid() && r.Nexthops[i].Gw != nh.Gw {
			return false
		}
	}
	return true
}

// normalize copies r's nexthops (the mirror must not share them with the
// caller) and derives their flags from the known state of their links, as
// the kernel does: an event may be older than the latest link event.
func (m *mirror) normalize(r Route) Route {
	r.Nexthops = slices.Clone(r.Nexthops)
	for i := range r.Nexthops {
		m.normalizeHop(&r.Nexthops[i])
	}
	return r
}

// normalizeHop derives nh's flags from the known state of its link.
func (m *mirror) normalizeHop(nh *Nexthop) {
	if l, ok := m.links[nh.LinkIndex]; ok {
		nh.LinkDown = !l.Carrier
		nh.Dead = !l.Up
	}
}

// setRoutes stores the routes of destination k and keeps byLink in step.
func (m *mirror) setRoutes(k addrKey, rs []Route) {
	for _, r := range m.routes[k] {
		for _, nh := range r.Nexthops {
			if set := m.byLink[nh.LinkIndex]; set != nil {
				delete(set, k)
				if len(set) == 0 {
					delete(m.byLink, nh.LinkIndex)
				}
			}
		}
	}
	if len(rs) == 0 {
		delete(m.routes, k)
		return
	}
	m.routes[k] = rs
	for _, r := range rs {
		for _, nh := range r.Nexthops {
			set := m.byLink[nh.LinkIndex]
			if set == nil {
				set = make(map[addrKey]struct{})
				m.byLink[nh.LinkIndex] = set
			}
			set[k] = struct{}{}
		}
	}
}

// addRoute applies an RTM_NEWROUTE. With replace, r takes the place of the
// first route with the same destination, table, tos and priority, as the
// kernel's NLM_F_REPLACE does (routes appended after it stay); without, or
// when there is none, it is added at the end unless the very same route is
// already there (events that arrived during a dump may repeat what the dump
// saw). IPv6 routes are merged with their siblings (see addRoute6). It
// returns the affected destination.
func (m *mirror) addRoute(r Route, replace bool) (addrKey, bool) {
	k, ok := hostRoute(r)
	if !ok {
		return addrKey{}, false
	}
	old := m.routes[k]
	if len(old) == 0 && len(r.Nexthops) == 1 {
		// The usual case, and every route of a dump: no slice to clone.
		// Slices of the mirror are never modified in place, only
		// replaced, so the route and its hop may share one allocation.
		p := &routeWithHop{r: [1]Route{r}, nh: [1]Nexthop{r.Nexthops[0]}}
		p.r[0].Nexthops = p.nh[:]
		m.normalizeHop(&p.nh[0])
		m.setRoutes(k, p.r[:])
		return k, true
	}
	r = m.normalize(r)
	if replace {
		if i := slices.IndexFunc(old, func(o Route) bool { return sameKey(o, r) }); i >= 0 {
			rs := slices.Clone(old)
			rs[i] = r
			m.setRoutes(k, rs)
			return k, true
		}
	}
	if !k.is4() {
		if rs, changed := addRoute6(old, r); changed {
			m.setRoutes(k, rs)
		}
		return k, true
	}
	if slices.ContainsFunc(old, func(o Route) bool { return sameRoute(o, r) }) {
		return k, true
	}
	m.setRoutes(k, append(slices.Clone(old), r))
	return k, true
}

// addRoute6 returns old with the IPv6 route r added without
// NLM_F_REPLACE: merged into the route of the same destination, table,
// metric and type, whose siblings r's nexthops are (those it already has
// are not repeated), or else appended. It reports whether anything
// changed. old is not modified; r's nexthops are kept when r is appended.
func addRoute6(old []Route, r Route) ([]Route, bool) {
	i := slices.IndexFunc(old, func(o Route) bool { return sameKey(o, r) && o.Type == r.Type })
	if i < 0 || len(r.Nexthops) == 0 {
		if slices.ContainsFunc(old, func(o Route) bool { return sameRoute(o, r) }) {
			return old, false
		}
		return append(slices.Clone(old), r), true
	}
	merged := old[i]
	hops := merged.Nexthops
	for _, nh := range r.Nexthops {
		if !slices.ContainsFunc(hops, func(o Nexthop) bool { return o.LinkIndex == nh.LinkIndex && o.Gw == nh.Gw }) {
			hops = append(slices.Clone(hops), nh)
		}
	}
	if len(hops) == len(merged.Nexthops) {
		return old, false
	}
	merged.Nexthops = hops
	rs := slices.Clone(old)
	rs[i] = merged
	return rs, true
}

// routeWithHop holds a destination's only route and its only nexthop in
// one allocation: by far the usual case (a /32 via one vif), where a
// []Route of one plus its []Nexthop of one took two.
type routeWithHop struct {
	r  [1]Route
	nh [1]Nexthop
}

// delRoute applies an RTM_DELROUTE: it removes the first route that del
// designates (see delMatches), or for IPv6 the nexthops it designates (see
// delRoute6). It returns the affected destination.
func (m *mirror) delRoute(del Route) (addrKey, bool) {
	k, ok := hostRoute(del)
	if !ok {
		return addrKey{}, false
	}
	old := m.routes[k]
	var rs []Route
	if k.is4() {
		i := slices.IndexFunc(old, func(r Route) bool { return delMatches(del, r) })
		if i < 0 {
			return addrKey{}, false
		}
		rs = slices.Delete(slices.Clone(old), i, i+1)
	} else if rs, ok = delRoute6(old, del); !ok {
		return addrKey{}, false
	}
	m.setRoutes(k, rs)
	return k, true
}

// delRoute6 returns old without what the IPv6 delete del designates, and
// whether it designates anything: the first route of the same destination,
// table, metric (and type and protocol, when given) that has every nexthop
// del names. Those nexthops are taken out of it (a sibling deleted alone),
// and the route goes with its last nexthop, or whole when del names none.
// old is not modified.
func delRoute6(old []Route, del Route) ([]Route, bool) {
	var want []Nexthop
	for _, nh := range del.Nexthops {
		if nh.LinkIndex != 0 || nh.Gw.IsValid() {
			want = append(want, nh)
		}
	}
	hopMatches := func(nh, w Nexthop) bool {
		return (w.LinkIndex == 0 || nh.LinkIndex == w.LinkIndex) && (!w.Gw.IsValid() || nh.Gw == w.Gw)
	}
	i := slices.IndexFunc(old, func(r Route) bool {
		if !sameKey(del, r) || (del.Type != 0 && del.Type != r.Type) || (del.Protocol != 0 && del.Protocol != r.Protocol) {
			return false
		}
		for _, w := range want {
			if !slices.ContainsFunc(r.Nexthops, func(nh Nexthop) bool { return hopMatches(nh, w) }) {
				return false
			}
		}
		return true
	})
	if i < 0 {
		return nil, false
	}
	rs := slices.Clone(old)
	var hops []Nexthop
	if len(want) > 0 {
		hops = slices.DeleteFunc(slices.Clone(rs[i].Nexthops), func(nh Nexthop) bool {
			return slices.ContainsFunc(want, func(w Nexthop) bool { return hopMatches(nh, w) })
		})
	}
	if len(hops) == 0 {
		return slices.Delete(rs, i, i+1), true
	}
	rs[i].Nexthops = hops
	return rs, true
}

// updateLink applies an RTM_NEWLINK and returns the destinations whose
// verdict may have changed (nil when nothing relevant changed).
//
// When the link is administratively down, the kernel has flushed its routes
// without RTM_DELROUTE: drop every single-nexthop route through it, mark its
// hops of multipath routes dead, and drop multipath routes whose hops are
// all dead (the kernel removes those too). Carrier changes only flip the
// nexthops' linkdown flag, which is recomputed here.
func (m *mirror) updateLink(l Link) []addrKey {
	old, known := m.links[l.Index]
	m.links[l.Index] = l
	if known && old == l && l.Up {
		return nil
	}
	var affected []addrKey
	for k := range m.byLink[l.Index] {
		affected = append(affected, k)
	}
	for _, k := range affected {
		var rs []Route
		for _, r := range m.routes[k] {
			r = m.normalize(r)
			if !l.Up && routeGone(r, l.Index, false) {
				continue
			}
			rs = append(rs, r)
		}
		m.setRoutes(k, rs)
	}
	return affected
}

// routeGone reports whether r disappears from the kernel when link idx goes
// down (deleted false) or away (deleted true). r's flags must be current.
func routeGone(r Route, idx int, deleted bool) bool {
	uses, alive := false, false
	for _, nh := range r.Nexthops {
		if nh.LinkIndex == idx {
			uses = true
		} else if !nh.Dead {
			alive = true
		}
	}
	if !uses {
		return false
	}
	return len(r.Nexthops) == 1 || deleted || !alive
}

// delLink applies an RTM_DELLINK: the link, its addresses and every route
// through it (multipath included) are gone. It returns the destinations
// whose verdict may have changed, and the host addresses that changed.
func (m *mirror) delLink(idx int) (affected, localChanged []addrKey) {
	delete(m.links, idx)
	for a := range m.addrs {
		if a.LinkIndex == idx {
			if k, changed := m.delAddr(a); changed {
				localChanged = append(localChanged, k)
			}
		}
	}
	for k := range m.byLink[idx] {
		affected = append(affected, k)
	}
	for _, k := range affected {
		var rs []Route
		for _, r := range m.routes[k] {
			if !routeGone(r, idx, true) {
				rs = append(rs, r)
			}
		}
		m.setRoutes(k, rs)
	}
	return affected, localChanged
}

// addAddr records a host address. It returns its key and whether the
// address just became local. IPv6 addresses count whatever their flags
// (tentative, dadfailed, ...): see the package documentation.
func (m *mirror) addAddr(a Addr) (addrKey, bool) {
	k, ok := keyOf(a.Prefix.Addr())
	if !ok {
		return addrKey{}, false
	}
	if _, dup := m.addrs[a]; dup {
		return k, false
	}
	m.addrs[a] = struct{}{}
	m.local[k]++
	return k, m.local[k] == 1
}

// delAddr forgets a host address. It returns its key and whether the
// address just stopped being local.
func (m *mirror) delAddr(a Addr) (addrKey, bool) {
	k, ok := keyOf(a.Prefix.Addr())
	if !ok {
		return addrKey{}, false
	}
	if _, there := m.addrs[a]; !there {
		return k, false
	}
	delete(m.addrs, a)
	m.local[k]--
	if m.local[k] > 0 {
		return k, false
	}
	delete(m.local, k)
	return k, true
}
