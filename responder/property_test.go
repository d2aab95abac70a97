package responder_test

// The property "proxyarp never answers outside the owned set", checked on
// random routing tables and random frames.
//
// Each case is a random history of what a host's kernel goes through (routes
// added, appended, replaced and deleted; links set down, up, losing and
// regaining carrier, deleted and re-created; host addresses added and
// removed), run on a small model of the kernel in this file. The history
// reaches the REAL routes.Watcher through an in-test routes.Source, as a
// start-up dump plus the kernel's notifications, sometimes with a
// subscription lost halfway (the watcher must resync from a fresh dump).
// Then responder.Decide runs on a request for every address of the pool and
// on random good and malformed frames, and every decision is compared with
// an oracle written from the README ("What it answers", "Never answered"),
// not with routes.Rule.Explain.
//
// Reproduce a failure with the seed it prints:
//
//	PXR_PROPERTY_SEED=<seed> PXR_PROPERTY_CASES=1 go test -run TestPropertyNeverAnswersOutsideOwnedSet ./responder/

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// propUplinkMAC is the uplink's MAC in the property test; propRouterMAC the
// requester's.
var (
	propUplinkMAC = responder.MAC{0x02, 0, 0, 0, 0, 0x01}
	propRouterMAC = responder.MAC{0x02, 0, 0, 0, 0, 0xfe}
	propRouterIP  = netip.MustParseAddr("192.0.2.254")
	propHostIP    = netip.MustParseAddr("192.0.2.1")
)

// propPool is every address the generated tables and frames talk about:
// documentation ranges, plus martians, which must never be answered.
var propPool = func() []netip.Addr {
	var p []netip.Addr
	for i := 1; i <= 12; i++ {
		p = append(p, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	for i := 1; i <= 6; i++ {
		p = append(p, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	for _, s := range []string{"127.0.0.9", "224.0.0.9", "0.1.2.3", "240.0.0.9", "255.255.255.255"} {
		p = append(p, netip.MustParseAddr(s))
	}
	return p
}()

// propLinkNames are the host's interfaces; index i+1 is propLinkNames[i].
// eth0 is the uplink. Under the default globs vif1.0, vif2.0, vif and
// tap101i0 are guests; xvif3, mytap0, eth1 and bond0 are not.
var propLinkNames = []string{"eth0", "vif1.0", "vif2.0", "tap101i0", "eth1", "xvif3", "vif", "mytap0", "bond0"}

// propGlobs are the --guest-ifaces values tried. None matches eth0.
var propGlobs = []string{routes.DefaultGlobs, routes.DefaultGlobs, "vif*", "tap1*,vif?.0", "xvif*,bond0"}

// ---------------------------------------------------------------------------
// A model of the kernel's IPv4 routing state, as far as the notifications
// go. It follows fib_table_insert/fib_table_delete and the link notifiers:
//   - add (NLM_F_EXCL) fails when a route with the same destination, table,
//     tos and metric exists; append fails only on an identical route;
//   - replace replaces the FIRST route with the same destination, table, tos
//     and metric (others with that key stay), or adds when there is none;
//     replacing by an identical first route changes nothing and says nothing;
//   - a route via a link that is down or missing cannot be added;
//   - a link set down loses, without RTM_DELROUTE, every single-nexthop route
//     through it and every multipath route whose nexthops are all dead; its
//     nexthops of other multipath routes are marked dead; a link coming up
//     revives them; carrier loss only flags nexthops linkdown;
//   - a deleted link takes every route through it (multipath included) and
//     its addresses with it (RTM_DELADDR each, no RTM_DELROUTE).

type kLink struct {
	routes.Link
	peerUp bool // carrier when up
}

type kernel struct {
	links  map[int]*kLink
	gone   map[string]bool // names of deleted links, to re-create
	next   int             // next ifindex
	addrs  []routes.Addr
	routes []routes.Route
}

func newKernel() *kernel {
	k := &kernel{links: make(map[int]*kLink), gone: make(map[string]bool), next: len(propLinkNames) + 1}
	for i, n := range propLinkNames {
		k.links[i+1] = &kLink{Link: routes.Link{Index: i + 1, Name: n, Up: true, Carrier: true}, peerUp: true}
	}
	k.addrs = append(k.addrs, routes.Addr{LinkIndex: 1, Prefix: netip.PrefixFrom(propHostIP, 24)})
	return k
}

func (k *kernel) snapshot() routes.Snapshot {
	var s routes.Snapshot
	idx := make([]int, 0, len(k.links))
	for i := range k.links {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		s.Links = append(s.Links, k.links[i].Link)
	}
	s.Addrs = slices.Clone(k.addrs)
	for _, r := range k.routes {
		r.Nexthops = slices.Clone(r.Nexthops)
		s.Routes = append(s.Routes, r)
	}
	return s
}

func sameRouteKey(a, b routes.Route) bool {
	return a.Dst == b.Dst && a.Table == b.Table && a.Tos == b.Tos && a.Priority == b.Priority
}

// identical is the kernel's "same fib_info and type" as far as the model
// keeps fields: what append and replace refuse to duplicate.
func identical(a, b routes.Route) bool {
	if !sameRouteKey(a, b) || a.Type != b.Type || a.Protocol != b.Protocol || len(a.Nexthops) != len(b.Nexthops) {
		return false
	}
	for i := range a.Nexthops {
		if a.Nexthops[i].LinkIndex != b.Nexthops[i].LinkIndex || a.Nexthops[i].Gw != b.Nexthops[i].Gw {
			return false
		}
	}
	return true
}

// usable sets the nexthop flags of r from the links, or reports false when
// a nexthop's link is missing or down (ENODEV, ENETDOWN).
func (k *kernel) usable(r *routes.Route) bool {
	for i := range r.Nexthops {
		l, ok := k.links[r.Nexthops[i].LinkIndex]
		if !ok || !l.Up {
			return false
		}
		r.Nexthops[i].LinkDown = !l.Carrier
		r.Nexthops[i].Dead = false
	}
	return true
}

type routeVerb int

const (
	verbAdd routeVerb = iota
	verbAppend
	verbReplace
)

// insert applies ip route add/append/replace and returns the notification.
func (k *kernel) insert(r routes.Route, verb routeVerb) (routes.Event, bool) {
	if !k.usable(&r) {
		return routes.Event{}, false
	}
	first := slices.IndexFunc(k.routes, func(o routes.Route) bool { return sameRouteKey(o, r) })
	match := slices.IndexFunc(k.routes, func(o routes.Route) bool { return identical(o, r) })
	switch {
	case first >= 0 && verb == verbAdd:
		return routes.Event{}, false // EEXIST
	case first >= 0 && verb == verbReplace:
		if match >= 0 {
			return routes.Event{}, false // no change (first) or EEXIST
		}
		k.routes[first] = r
		return routes.Event{Kind: routes.RouteReplace, Route: r}, true
	case first >= 0: // append
		if match >= 0 {
			return routes.Event{}, false
		}
		last := first
		for i := range k.routes {
			if sameRouteKey(k.routes[i], r) {
				last = i
			}
		}
		k.routes = slices.Insert(k.routes, last+1, r)
		return routes.Event{Kind: routes.RouteAdd, Route: r}, true
	}
	k.routes = append(k.routes, r)
	return routes.Event{Kind: routes.RouteAdd, Route: r}, true
}

// del removes route i and returns the notification, which carries the
// whole route as the kernel reports it.
func (k *kernel) del(i int) routes.Event {
	r := k.routes[i]
	k.routes = slices.Delete(k.routes, i, i+1)
	return routes.Event{Kind: routes.RouteDel, Route: r}
}

// setLink changes a link's state; it returns the notification.
func (k *kernel) setLink(l *kLink, up, peerUp bool) routes.Event {
	wasUp := l.Up
	l.Up, l.peerUp = up, peerUp
	l.Carrier = up && peerUp
	var keep []routes.Route
	for _, r := range k.routes {
		uses, alive := false, false
		for i := range r.Nexthops {
			nh := &r.Nexthops[i]
			if nh.LinkIndex != l.Index {
				if !nh.Dead {
					alive = true
				}
				continue
			}
			uses = true
			nh.LinkDown = !l.Carrier
			if wasUp && !up {
				nh.Dead = true
			} else if up {
				nh.Dead = false
			}
		}
		if uses && wasUp && !up && (len(r.Nexthops) == 1 || !alive) {
			continue // flushed, no RTM_DELROUTE
		}
		keep = append(keep, r)
	}
	k.routes = keep
	return routes.Event{Kind: routes.LinkUpdate, Link: l.Link}
}

// deleteLink removes a link: link down, addresses deleted, link deleted.
func (k *kernel) deleteLink(l *kLink) []routes.Event {
	var evs []routes.Event
	if l.Up {
		evs = append(evs, k.setLink(l, false, l.peerUp))
	}
	k.routes = slices.DeleteFunc(k.routes, func(r routes.Route) bool {
		return slices.ContainsFunc(r.Nexthops, func(nh routes.Nexthop) bool { return nh.LinkIndex == l.Index })
	})
	k.addrs = slices.DeleteFunc(k.addrs, func(a routes.Addr) bool {
		if a.LinkIndex == l.Index {
			evs = append(evs, routes.Event{Kind: routes.AddrDel, Addr: a})
			return true
		}
		return false
	})
	delete(k.links, l.Index)
	k.gone[l.Name] = true
	return append(evs, routes.Event{Kind: routes.LinkDel, Link: routes.Link{Index: l.Index, Name: l.Name}})
}

// ---------------------------------------------------------------------------
// Random histories.

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (k *kernel) randomLink(r *rand.Rand) *kLink {
	idx := make([]int, 0, len(k.links))
	for i := range k.links {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return k.links[pick(r, idx)]
}

func randomRoute(r *rand.Rand, k *kernel) routes.Route {
	target := pick(r, propPool)
	rt := routes.Route{
		Dst:      netip.PrefixFrom(target, 32),
		Table:    unix.RT_TABLE_MAIN,
		Type:     unix.RTN_UNICAST,
		Priority: pick(r, []int{0, 0, 0, 5, 10, 100}),
		Protocol: pick(r, []int{unix.RTPROT_BOOT, unix.RTPROT_BOOT, unix.RTPROT_STATIC, routes.ProtoProxyarp}),
	}
	switch x := r.IntN(100); {
	case x < 8: // shorter prefixes, the default route among them
		rt.Dst = netip.PrefixFrom(target, pick(r, []int{0, 24, 30, 31})).Masked()
	case x < 16:
		rt.Table = pick(r, []int{100, unix.RT_TABLE_LOCAL, unix.RT_TABLE_DEFAULT})
	}
	if r.IntN(20) == 0 {
		rt.Tos = 16
	}
	if x := r.IntN(100); x < 18 {
		rt.Type = pick(r, []int{unix.RTN_BLACKHOLE, unix.RTN_UNREACHABLE, unix.RTN_PROHIBIT})
		rt.Protocol = unix.RTPROT_BOOT
		return rt
	}
	n := 1
	if r.IntN(100) < 15 {
		n = 2 + r.IntN(2)
	}
	for range n {
		nh := routes.Nexthop{LinkIndex: k.randomLink(r).Index}
		if r.IntN(3) == 0 {
			nh.Gw = netip.AddrFrom4([4]byte{192, 0, 2, byte(200 + r.IntN(10))})
		}
		rt.Nexthops = append(rt.Nexthops, nh)
	}
	return rt
}

// history runs n random operations on k and returns, per event emitted,
// the event and the kernel's state right after it.
func history(r *rand.Rand, k *kernel, n int) (evs []routes.Event, after []routes.Snapshot) {
	emit := func(e ...routes.Event) {
		for _, ev := range e {
			ev.Route.Nexthops = slices.Clone(ev.Route.Nexthops) // the model changes its own
			evs = append(evs, ev)
			after = append(after, k.snapshot())
		}
	}
	for range n {
		switch x := r.IntN(100); {
		case x < 30:
			if ev, ok := k.insert(randomRoute(r, k), verbAdd); ok {
				emit(ev)
			}
		case x < 42:
			// Append a second route with the same key, often via another
			// link: equal /32s with equal metrics.
			if len(k.routes) == 0 {
				continue
			}
			rt := randomRoute(r, k)
			o := pick(r, k.routes)
			rt.Dst, rt.Table, rt.Tos, rt.Priority = o.Dst, o.Table, o.Tos, o.Priority
			if ev, ok := k.insert(rt, verbAppend); ok {
				emit(ev)
			}
		case x < 54:
			rt := randomRoute(r, k)
			if len(k.routes) > 0 && r.IntN(2) == 0 {
				o := pick(r, k.routes)
				rt.Dst, rt.Table, rt.Tos, rt.Priority = o.Dst, o.Table, o.Tos, o.Priority
			}
			if ev, ok := k.insert(rt, verbReplace); ok {
				emit(ev)
			}
		case x < 66:
			if len(k.routes) > 0 {
				emit(k.del(r.IntN(len(k.routes))))
			}
		case x < 74:
			l := k.randomLink(r)
			a := routes.Addr{LinkIndex: l.Index, Prefix: netip.PrefixFrom(pick(r, propPool[:24]), pick(r, []int{32, 32, 24}))}
			if !slices.Contains(k.addrs, a) {
				k.addrs = append(k.addrs, a)
				emit(routes.Event{Kind: routes.AddrAdd, Addr: a})
			}
		case x < 78:
			if len(k.addrs) > 0 {
				i := r.IntN(len(k.addrs))
				a := k.addrs[i]
				k.addrs = slices.Delete(k.addrs, i, i+1)
				emit(routes.Event{Kind: routes.AddrDel, Addr: a})
			}
		case x < 84:
			l := k.randomLink(r)
			emit(k.setLink(l, !l.Up, l.peerUp))
		case x < 92:
			l := k.randomLink(r)
			emit(k.setLink(l, l.Up, !l.peerUp))
		case x < 96:
			if l := k.randomLink(r); l.Index != 1 {
				emit(k.deleteLink(l)...)
			}
		default:
			for name := range k.gone {
				delete(k.gone, name)
				l := &kLink{Link: routes.Link{Index: k.next, Name: name, Up: true, Carrier: true}, peerUp: true}
				k.next++
				k.links[l.Index] = l
				emit(routes.Event{Kind: routes.LinkUpdate, Link: l.Link})
				break
			}
		}
	}
	return evs, after
}

// ---------------------------------------------------------------------------
// The oracle, from the README's definition of what is answered.

type oracle struct {
	snap  routes.Snapshot
	globs []string
	allow []netip.Prefix
}

func (o oracle) guestName(name string) bool {
	for _, g := range o.globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// local: an address configured on an interface of the host.
func (o oracle) local(a netip.Addr) bool {
	for _, x := range o.snap.Addrs {
		if x.Prefix.Addr() == a {
			return true
		}
	}
	return false
}

func (o oracle) allowed(a netip.Addr) bool {
	if len(o.allow) == 0 {
		return true
	}
	for _, p := range o.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// routed: (1) a unicast route to A/32 in the main table, and (2) every /32
// route to A with the lowest metric leaves through a guest interface (name
// matching the globs, or a route of proxyarp's own proto 213, "whatever the
// vif is called"), up, with carrier; multipath only if every nexthop does.
func (o oracle) routed(a netip.Addr) bool {
	var host []routes.Route
	for _, r := range o.snap.Routes {
		if r.Table == unix.RT_TABLE_MAIN && r.Dst.Bits() == 32 && r.Dst.Addr() == a {
			host = append(host, r)
		}
	}
	if len(host) == 0 {
		return false
	}
	lowest := host[0].Priority
	for _, r := range host {
		lowest = min(lowest, r.Priority)
	}
	links := make(map[int]routes.Link)
	for _, l := range o.snap.Links {
		links[l.Index] = l
	}
	for _, r := range host {
		if r.Priority != lowest {
			continue
		}
		if r.Type != unix.RTN_UNICAST || len(r.Nexthops) == 0 {
			return false
		}
		for _, nh := range r.Nexthops {
			l, ok := links[nh.LinkIndex]
			if !ok || !l.Up || !l.Carrier || nh.Dead || nh.LinkDown {
				return false
			}
			if l.Name == "eth0" { // the uplink: never, whoever installed the route
				return false
			}
			if !o.guestName(l.Name) && r.Protocol != routes.ProtoProxyarp {
				return false
			}
		}
	}
	return true
}

// martian: the address classes no ARP packet may carry: 0.0.0.0/8,
// loopback, multicast and 240.0.0.0/4 (limited broadcast included).
func martian(a netip.Addr) bool {
	b := a.As4()
	return b[0] == 0 || a.IsLoopback() || a.IsMulticast() || b[0] >= 240
}

// owned is the whole definition, for a well-formed request.
func (o oracle) owned(a netip.Addr) bool {
	return !martian(a) && o.routed(a) && !o.local(a) && o.allowed(a)
}

// dropReasons parses frame independently of Decide and returns every reason
// the README gives for not answering it; none means it must be answered.
func (o oracle) dropReasons(frame []byte, ptype responder.PacketType) []responder.Reason {
	if len(frame) < 14 {
		return []responder.Reason{responder.Malformed}
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0806:
	case 0x8100, 0x88a8, 0x9100:
		return []responder.Reason{responder.VLANTagged}
	default:
		return []responder.Reason{responder.Malformed}
	}
	if len(frame) < 42 {
		return []responder.Reason{responder.Malformed}
	}
	arp := frame[14:42]
	if binary.BigEndian.Uint16(arp[0:2]) != 1 || binary.BigEndian.Uint16(arp[2:4]) != 0x0800 || arp[4] != 6 || arp[5] != 4 {
		return []responder.Reason{responder.Malformed}
	}
	var ethDst, ethSrc, sha responder.MAC
	copy(ethDst[:], frame[0:6])
	copy(ethSrc[:], frame[6:12])
	copy(sha[:], arp[8:14])
	spa := netip.AddrFrom4([4]byte(arp[14:18]))
	tpa := netip.AddrFrom4([4]byte(arp[24:28]))
	var rs []responder.Reason
	add := func(cond bool, r responder.Reason) {
		if cond {
			rs = append(rs, r)
		}
	}
	add(ptype == responder.PacketOtherHost || ptype == responder.PacketOutgoing, responder.NotForUs)
	add(ethDst != responder.BroadcastMAC && ethDst != propUplinkMAC, responder.NotForUs)
	add(binary.BigEndian.Uint16(arp[6:8]) != 1, responder.NotRequest)
	add(ethSrc != sha, responder.EthSrcMismatch)
	add(sha == responder.MAC{} || sha[0]&1 == 1, responder.BadSenderMAC)
	add(spa == netip.IPv4Unspecified(), responder.Probe)
	add(martian(spa), responder.BadSenderIP)
	add(martian(tpa), responder.BadTargetIP)
	add(spa == tpa, responder.Gratuitous)
	add(o.local(tpa), responder.OwnAddress)
	add(!o.allowed(tpa), responder.OutsideAllow)
	add(!o.routed(tpa), responder.NotOwned)
	return rs
}

// ---------------------------------------------------------------------------
// Random frames.

func propRequest(target netip.Addr) []byte {
	f := make([]byte, 0, 60)
	f = append(f, responder.BroadcastMAC[:]...)
	f = append(f, propRouterMAC[:]...)
	f = append(f, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
	f = append(f, propRouterMAC[:]...)
	f = append(f, propRouterIP.AsSlice()...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	f = append(f, target.AsSlice()...)
	return append(f, make([]byte, 18)...)
}

var propOddIPs = []netip.Addr{
	netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("224.0.0.1"),
	netip.MustParseAddr("239.1.2.3"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("0.1.2.3"),
	netip.MustParseAddr("240.1.1.1"), netip.MustParseAddr("192.0.2.255"),
}

var propOddMACs = []responder.MAC{
	{}, responder.BroadcastMAC, {0x01, 0x00, 0x5e, 0, 0, 1}, {0x33, 0x33, 0, 0, 0, 1},
	{0x02, 0, 0, 0, 0, 0x99}, propUplinkMAC,
}

// randomFrame is a request for target, mutated in zero to three ways.
func randomFrame(r *rand.Rand, target netip.Addr) ([]byte, responder.PacketType) {
	f := propRequest(target)
	ptype := responder.PacketBroadcast
	if r.IntN(4) == 0 {
		copy(f[0:6], propUplinkMAC[:])
		ptype = responder.PacketHost
	}
	if r.IntN(3) == 0 {
		return f, ptype
	}
	for range 1 + r.IntN(3) {
		switch r.IntN(16) {
		case 0:
			binary.BigEndian.PutUint16(f[14:16], pick(r, []uint16{0, 6, 32, 0xffff}))
		case 1:
			binary.BigEndian.PutUint16(f[16:18], pick(r, []uint16{0, 0x86dd, 0x0806}))
		case 2:
			f[18] = pick(r, []byte{0, 4, 8, 16, 255})
		case 3:
			f[19] = pick(r, []byte{0, 6, 16, 255})
		case 4:
			binary.BigEndian.PutUint16(f[20:22], pick(r, []uint16{0, 2, 3, 4, 9, 0x100, 0xffff}))
		case 5:
			f = f[:r.IntN(len(f))]
			if len(f) < 42 {
				return f, ptype
			}
		case 6:
			binary.BigEndian.PutUint16(f[12:14], pick(r, []uint16{0x0800, 0x86dd, 0x8035, 0x88cc, 0}))
		case 7: // tagged: the tag is still in the frame (a pcap, ETH_P_ALL)
			tag := []byte{0x81, 0x00, 0x00, byte(r.IntN(4095))}
			binary.BigEndian.PutUint16(tag[0:2], pick(r, []uint16{0x8100, 0x88a8, 0x9100}))
			f = slices.Insert(f, 12, tag...)
			return f, ptype
		case 8:
			m := pick(r, propOddMACs)
			copy(f[22:28], m[:])
			if r.IntN(2) == 0 {
				copy(f[6:12], m[:])
			}
		case 9:
			m := pick(r, propOddMACs)
			copy(f[6:12], m[:])
		case 10:
			copy(f[28:32], pick(r, append(propOddIPs, target)).AsSlice())
		case 11:
			copy(f[38:42], pick(r, propOddIPs).AsSlice())
		case 12:
			m := pick(r, propOddMACs)
			copy(f[0:6], m[:])
		case 13:
			ptype = pick(r, []responder.PacketType{responder.PacketHost, responder.PacketBroadcast,
				responder.PacketMulticast, responder.PacketOtherHost, responder.PacketOutgoing,
				responder.PacketUnknown, responder.PacketType(r.IntN(256))})
		case 14:
			f = append(f, byte(r.IntN(256)), byte(r.IntN(256)))
		case 15:
			m := pick(r, propOddMACs)
			copy(f[32:38], m[:]) // the target MAC is free-form
		}
	}
	return f, ptype
}

// ---------------------------------------------------------------------------
// The in-test routes.Source: a dump of the model at the current point of the
// history, and the history's events, one at a time on an unbuffered channel
// (so that a completed send means the watcher has taken the event).

type propSource struct {
	mu     sync.Mutex
	snaps  []routes.Snapshot // snaps[i]: the state after i events
	cursor int               // events delivered (or lost)
	subs   chan *propSub     // each Subscribe hands its subscription here
}

type propSub struct {
	ch   chan routes.Event
	once sync.Once
	lost atomic.Bool
}

func (s *propSub) Events() <-chan routes.Event { return s.ch }
func (s *propSub) Err() error {
	if s.lost.Load() {
		return errors.New("netlink receive: no buffer space available (simulated)")
	}
	return nil
}
func (s *propSub) Close() error { return nil }

func (s *propSource) Subscribe(ctx context.Context) (routes.Subscription, error) {
	sub := &propSub{ch: make(chan routes.Event)}
	select {
	case s.subs <- sub:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return sub, nil
}

func (s *propSource) Dump(context.Context) (routes.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snaps[s.cursor], nil
}

func (s *propSource) advance(n int) {
	s.mu.Lock()
	s.cursor += n
	s.mu.Unlock()
}

// syncLog is a slog handler that counts the watcher's "resync done" lines.
type syncLog struct{ resyncs chan struct{} }

func (h syncLog) Enabled(context.Context, slog.Level) bool { return true }
func (h syncLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "resync done" {
		select {
		case h.resyncs <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h syncLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h syncLog) WithGroup(string) slog.Handler      { return h }

// sentinel is an event the watcher ignores: a route of another table.
var sentinel = routes.Event{Kind: routes.RouteDel, Route: routes.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Table: 100}}

type propCase struct {
	seed  uint64
	mode  string // "dump", "events", "lost"
	globs string
	allow []netip.Prefix
	evs   []routes.Event
	snaps []routes.Snapshot
	split int // events covered by the start-up dump
	loss  int // with mode "lost": events delivered before the loss
}

func newPropCase(seed uint64) propCase {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	c := propCase{seed: seed, globs: pick(r, propGlobs)}
	if r.IntN(10) < 3 {
		for _, p := range []string{"192.0.2.0/29", "198.51.100.0/24", "203.0.113.4/30", "127.0.0.0/8"} {
			if r.IntN(2) == 0 {
				c.allow = append(c.allow, netip.MustParsePrefix(p))
			}
		}
	}
	k := newKernel()
	start := k.snapshot()
	c.evs, c.snaps = history(r, k, 10+r.IntN(50))
	c.snaps = append([]routes.Snapshot{start}, c.snaps...)
	switch x := r.IntN(3); {
	case x == 0 || len(c.evs) == 0:
		c.mode, c.split = "dump", len(c.evs)
	case x == 1:
		c.mode, c.split = "events", r.IntN(len(c.evs)+1)
	default:
		c.mode, c.split = "lost", r.IntN(len(c.evs))
		c.loss = c.split + r.IntN(len(c.evs)-c.split)
	}
	return c
}

// run feeds the case through a real Watcher into a routes.Set and returns
// the set, or an error when the watcher does not follow.
func (c propCase) run() (*routes.Set, error) {
	globs, err := routes.ParseGlobs(c.globs)
	if err != nil {
		return nil, err
	}
	src := &propSource{snaps: c.snaps, cursor: c.split, subs: make(chan *propSub, 2)}
	set := routes.NewSet()
	logs := syncLog{resyncs: make(chan struct{}, 4)}
	w := &routes.Watcher{Source: src, Set: set, Guests: globs, Allow: c.allow, Uplink: "eth0", Log: slog.New(logs)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	var sub *propSub
	select {
	case sub = <-src.subs:
	case <-timeout.C:
		return nil, errors.New("watcher did not subscribe within 5 s")
	}
	select {
	case <-w.Ready():
	case <-timeout.C:
		return nil, errors.New("watcher not ready within 5 s")
	}
	send := func(ev routes.Event) error {
		select {
		case sub.ch <- ev:
			return nil
		case <-timeout.C:
			return fmt.Errorf("watcher did not take event %v within 5 s", ev.Kind)
		}
	}
	last := len(c.evs)
	if c.mode == "lost" {
		last = c.loss
	}
	for _, ev := range c.evs[c.split:last] {
		if err := send(ev); err != nil {
			return nil, err
		}
		src.advance(1)
	}
	if c.mode == "lost" {
		// The rest is lost; the kernel moved on. The watcher must resync.
		src.advance(len(c.evs) - last)
		<-logs.resyncs // the start-up sync
		sub.lost.Store(true)
		close(sub.ch)
		select {
		case sub = <-src.subs:
		case <-timeout.C:
			return nil, errors.New("watcher did not resubscribe within 5 s of a lost subscription")
		}
		select {
		case <-logs.resyncs:
		case <-timeout.C:
			return nil, errors.New("watcher did not resync within 5 s of a lost subscription")
		}
	}
	// Two no-op events: taking the second means the first, and everything
	// before it, was applied.
	for range 2 {
		if err := send(sentinel); err != nil {
			return nil, err
		}
	}
	return set, nil
}

func envUint(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// TestPropertyNeverAnswersOutsideOwnedSet: for thousands of random routing
// histories (bounded to 8 s), a request is answered if and only if the
// README's definition says the address is owned, and a frame that is not
// answered is refused for a reason that is true of it.
func TestPropertyNeverAnswersOutsideOwnedSet(t *testing.T) {
	cases := envUint(t, "PXR_PROPERTY_CASES", 3000)
	if testing.Short() {
		cases = min(cases, 300)
	}
	base := envUint(t, "PXR_PROPERTY_SEED", uint64(time.Now().UnixNano()))
	t.Logf("PXR_PROPERTY_SEED=%d PXR_PROPERTY_CASES=%d", base, cases)
	budget := time.Now().Add(8 * time.Second)
	in := responder.Ingress{Name: "eth0", MAC: propUplinkMAC}
	ran, answered, frames, framesAnswered := 0, 0, 0, 0
	for i := uint64(0); i < cases && time.Now().Before(budget); i++ {
		c := newPropCase(base + i)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d (reproduce: PXR_PROPERTY_SEED=%d PXR_PROPERTY_CASES=1), mode %s, split %d, loss %d, globs %q, allow %v:\n%s\nfinal kernel state:\n%s",
				c.seed, c.seed, c.mode, c.split, c.loss, c.globs, c.allow, fmt.Sprintf(format, args...), describe(c))
		}
		set, err := c.run()
		if err != nil {
			fail("%v", err)
		}
		o := oracle{snap: c.snaps[len(c.snaps)-1], globs: strings.Split(c.globs, ","), allow: c.allow}
		cfg := &responder.Config{Allow: c.allow}
		for _, a := range propPool {
			in.Type = responder.PacketBroadcast
			d := responder.Decide(propRequest(a), in, set, cfg)
			if want := o.owned(a); (d.Reason == responder.Answer) != want {
				fail("a broadcast request for %s: Decide says %v, the definition says owned=%v (routed %v, local %v, allowed %v)",
					a, d.Reason, want, o.routed(a), o.local(a), o.allowed(a))
			}
			if d.Reason == responder.Answer {
				answered++
			}
		}
		r := rand.New(rand.NewPCG(c.seed, 1))
		for range 40 {
			frame, ptype := randomFrame(r, pick(r, propPool))
			in.Type = ptype
			d := responder.Decide(frame, in, set, cfg)
			frames++
			want := o.dropReasons(frame, ptype)
			switch {
			case len(want) == 0 && d.Reason != responder.Answer:
				fail("frame % x (%v) must be answered, Decide says %v", frame, ptype, d.Reason)
			case len(want) > 0 && !slices.Contains(want, d.Reason):
				fail("frame % x (%v): Decide says %v, want one of %v", frame, ptype, d.Reason, want)
			case d.Reason == responder.Answer:
				framesAnswered++
				checkPropReply(t, frame, d.AppendReply(nil), fail)
			}
		}
		ran++
	}
	if ran < 100 {
		t.Errorf("only %d random tables checked within the 8 s budget, want at least 100", ran)
	}
	t.Logf("%d random tables, %d pool requests answered, %d random frames checked (%d answered)", ran, answered, frames, framesAnswered)
}

// checkPropReply checks an answer's bytes: to the requester, from the
// uplink, op 2, the addresses swapped.
func checkPropReply(t *testing.T, req, reply []byte, fail func(string, ...any)) {
	t.Helper()
	want := make([]byte, 0, 60)
	want = append(want, req[6:12]...)
	want = append(want, propUplinkMAC[:]...)
	want = append(want, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2)
	want = append(want, propUplinkMAC[:]...)
	want = append(want, req[38:42]...)
	want = append(want, req[22:32]...)
	want = append(want, make([]byte, 18)...)
	if string(reply) != string(want) {
		fail("reply to % x is\n% x, want\n% x", req, reply, want)
	}
}

func describe(c propCase) string {
	var b strings.Builder
	s := c.snaps[len(c.snaps)-1]
	for _, l := range s.Links {
		fmt.Fprintf(&b, "  link %d %s up=%v carrier=%v\n", l.Index, l.Name, l.Up, l.Carrier)
	}
	for _, a := range s.Addrs {
		fmt.Fprintf(&b, "  addr %s on #%d\n", a.Prefix, a.LinkIndex)
	}
	for _, r := range s.Routes {
		fmt.Fprintf(&b, "  route %s\n", r)
	}
	fmt.Fprintf(&b, "events (%d, the first %d in the start-up dump):\n", len(c.evs), c.split)
	for i, ev := range c.evs {
		var what string
		switch ev.Kind {
		case routes.RouteAdd, routes.RouteReplace, routes.RouteDel:
			what = ev.Route.String()
		case routes.LinkUpdate, routes.LinkDel:
			what = fmt.Sprintf("%d %s up=%v carrier=%v", ev.Link.Index, ev.Link.Name, ev.Link.Up, ev.Link.Carrier)
		default:
			what = fmt.Sprintf("%s on #%d", ev.Addr.Prefix, ev.Addr.LinkIndex)
		}
		fmt.Fprintf(&b, "  %2d %s %s\n", i, ev.Kind, what)
	}
	return b.String()
}
