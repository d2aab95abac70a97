package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// IPv6 test addresses; addr6A ends in the same 32 bits as addrA.
const (
	addr6A = "2001:db8:4::c000:20a"
	addr6B = "2001:db8::b"
	addr6C = "2001:db8::c"
)

// baseTruth6 is baseTruth with the uplink's addresses in both families.
func baseTruth6(routes ...Route) Snapshot {
	s := baseTruth(routes...)
	s.Addrs = append(s.Addrs,
		Addr{LinkIndex: idxEth0, Prefix: mustPrefix("2001:db8:ff::2/64")},
		Addr{LinkIndex: idxEth0, Prefix: mustPrefix("fe80::2/64")})
	return s
}

// checkOwned6 compares the owned IPv6 addresses and checks that no IPv4
// address is owned.
func (h *harness) checkOwned6(when string, want ...string) {
	h.t.Helper()
	if diff := cmp.Diff(addrs(want...), h.set.Addrs6(), cmpAddr); diff != "" {
		h.t.Errorf("%s: owned IPv6 (-want +got):\n%s", when, diff)
	}
	for _, a := range want {
		if !h.set.Owned(mustAddr(a)) {
			h.t.Errorf("%s: Owned(%v) = false", when, a)
		}
	}
	if got := h.set.Addrs(); len(got) != 0 {
		h.t.Errorf("%s: owned IPv4 addresses %v, want none", when, got)
	}
}

// TestWatcherEvents6 runs every case of TestWatcherEvents again with /128
// routes and IPv6 addresses (see to6Addr): the rule and the kernel's
// add, replace, delete and link semantics are the same.
func TestWatcherEvents6(t *testing.T) {
	for _, tt := range watcherEventCases() {
		tt := to6Case(tt)
		t.Run(tt.name, func(t *testing.T) {
			h := startWatcher(t, to6Snapshot(baseTruth(tt.routes...)), func(w *Watcher, _ *fakeSource) { w.Allow = tt.allow })
			for i, s := range tt.steps {
				h.send(s.events...)
				if diff := cmp.Diff(s.want, h.set.Addrs6(), cmpAddr); diff != "" {
					t.Errorf("step %d: owned (-want +got):\n%s", i, diff)
				}
				for _, a := range s.want {
					if !h.set.Owned(a) {
						t.Errorf("step %d: Owned(%v) = false", i, a)
					}
					if a4 := netip.AddrFrom4([4]byte(a.AsSlice()[12:])); h.set.Owned(a4) {
						t.Errorf("step %d: Owned(%v) = true: an IPv6 route made its last 32 bits owned", i, a4)
					}
				}
				if got := h.set.Addrs(); len(got) != 0 {
					t.Errorf("step %d: owned IPv4 addresses %v, want none", i, got)
				}
			}
		})
	}
}

func TestWatcherIPv6KernelSpecifics(t *testing.T) {
	const kernelMetric = 1024 // what the kernel makes of an IPv6 route's metric 0
	gwA, gwB := mustAddr("fe80::a"), mustAddr("fe80::b")
	viaHop := func(gw netip.Addr, idx int) Nexthop { return Nexthop{LinkIndex: idx, Gw: gw} }
	tests := []eventCase{
		{
			name:   "a /128 with the default metric 1024 is owned, and a lower metric via eth1 takes it away",
			routes: []Route{host(addr6A, kernelMetric, dev(idxVif1))},
			steps: []step{
				{want: addrs(addr6A)},
				{events: []Event{addRoute(host(addr6A, 256, dev(idxEth1)))}, want: addrs()},
				{events: []Event{delRoute(host(addr6A, 256, dev(idxEth1)))}, want: addrs(addr6A)},
			},
		},
		{
			name: "multipath siblings reported one at a time make one route, owned while every sibling is a guest",
			steps: []step{
				{events: []Event{addRoute(host(addr6A, kernelMetric, viaHop(gwA, idxVif1)))}, want: addrs(addr6A)},
				{events: []Event{addRoute(host(addr6A, kernelMetric, viaHop(gwB, idxVif2)))}, want: addrs(addr6A)},
				// A sibling out of a non-guest joins the group.
				{events: []Event{addRoute(host(addr6A, kernelMetric, viaHop(gwB, idxEth1)))}, want: addrs()},
				// Deleted alone, it leaves the others.
				{events: []Event{delRoute(host(addr6A, kernelMetric, viaHop(gwB, idxEth1)))}, want: addrs(addr6A)},
				// One sibling's link going down makes the route dead there,
				// as an IPv4 multipath route; back up it is owned again.
				{events: []Event{linkDown(idxVif2, "vif2.0")}, want: addrs()},
				{events: []Event{linkUp(idxVif2, "vif2.0")}, want: addrs(addr6A)},
			},
		},
		{
			name:   "a dumped multipath route (RTA_MULTIPATH) loses one sibling to a single-sibling delete, and the rest to a whole delete",
			routes: []Route{host(addr6A, kernelMetric, viaHop(gwA, idxVif1), viaHop(gwB, idxVif2), viaHop(gwB, idxTap3))},
			steps: []step{
				{want: addrs(addr6A)},
				{events: []Event{delRoute(host(addr6A, kernelMetric, viaHop(gwB, idxVif2)))}, want: addrs(addr6A)},
				// The deleted sibling no longer holds the route: its link
				// going down leaves the others owned.
				{events: []Event{linkDown(idxVif2, "vif2.0")}, want: addrs(addr6A)},
				{events: []Event{delRoute(host(addr6A, kernelMetric, viaHop(gwA, idxVif1), viaHop(gwB, idxTap3)))}, want: addrs()},
			},
		},
		{
			name:   "siblings repeated by events during the dump are not duplicated",
			routes: []Route{host(addr6A, kernelMetric, viaHop(gwA, idxVif1), viaHop(gwB, idxVif2))},
			steps: []step{
				{events: []Event{addRoute(host(addr6A, kernelMetric, viaHop(gwB, idxVif2))), addRoute(host(addr6A, kernelMetric, viaHop(gwA, idxVif1), viaHop(gwB, idxVif2)))}, want: addrs(addr6A)},
				{events: []Event{delRoute(host(addr6A, kernelMetric, viaHop(gwB, idxVif2))), delRoute(host(addr6A, kernelMetric, viaHop(gwA, idxVif1)))}, want: addrs()},
			},
		},
		{
			name:   "the RTM_DELROUTE the kernel sends after a link went down is harmless, and a re-added route is owned",
			routes: []Route{host(addr6A, kernelMetric, dev(idxVif1)), host(addr6B, kernelMetric, dev(idxVif2))},
			steps: []step{
				{events: []Event{linkDown(idxVif1, "vif1.0"), delRoute(host(addr6A, kernelMetric, dev(idxVif1)))}, want: addrs(addr6B)},
				{events: []Event{linkUp(idxVif1, "vif1.0"), addRoute(host(addr6A, kernelMetric, dev(idxVif1)))}, want: addrs(addr6B, addr6A)},
				// Reported before the link event (they come over separate
				// sockets), the delete still takes the route away.
				{events: []Event{delRoute(host(addr6A, kernelMetric, dev(idxVif1))), linkDown(idxVif1, "vif1.0")}, want: addrs(addr6B)},
			},
		},
		{
			name:   "carrier loss takes a /128 away and carrier return gives it back",
			routes: []Route{host(addr6A, kernelMetric, dev(idxVif1))},
			steps: []step{
				{events: []Event{linkNoCarrier(idxVif1, "vif1.0")}, want: addrs()},
				{events: []Event{linkUp(idxVif1, "vif1.0")}, want: addrs(addr6A)},
			},
		},
		{
			name:   "a rename away from the guest globs and back",
			routes: []Route{host(addr6A, kernelMetric, dev(idxVif1))},
			steps: []step{
				{events: []Event{linkUp(idxVif1, "eth9")}, want: addrs()},
				{events: []Event{linkUp(idxVif1, "vif1.0")}, want: addrs(addr6A)},
			},
		},
		{
			name:   "proxyarp's own proto counts via a non-guest name",
			routes: []Route{withProto(host(addr6A, kernelMetric, dev(idxEth1)), ProtoProxyarp)},
			steps:  []step{{want: addrs(addr6A)}},
		},
		{
			name:   "the per-interface fe80::/64 and a /64 via a vif are not host routes",
			routes: []Route{withDst(host("fe80::1", 256, dev(idxVif1)), "fe80::/64"), withDst(host("2001:db8::", 1024, dev(idxVif1)), "2001:db8::/64")},
			steps:  []step{{want: addrs()}},
		},
		{
			name:   "an IPv6 host address, link-local or not, is not owned until removed",
			routes: []Route{host(addr6A, kernelMetric, dev(idxVif1)), host("fe80::99", kernelMetric, dev(idxVif2))},
			steps: []step{
				{want: addrs(addr6A, "fe80::99")},
				{events: []Event{addrAdd(idxEth1, addr6A+"/64"), addrAdd(idxVif1, "fe80::99/64")}, want: addrs()},
				{events: []Event{addrDel(idxEth1, addr6A+"/64")}, want: addrs(addr6A)},
				// Link down removes IPv6 addresses with RTM_DELADDR.
				{events: []Event{addrDel(idxVif1, "fe80::99/64")}, want: addrs(addr6A, "fe80::99")},
			},
		},
		{
			name:   "the allow list filters IPv6 by IPv6 prefixes only",
			routes: []Route{host(addr6A, kernelMetric, dev(idxVif1)), host(addr6B, kernelMetric, dev(idxVif2)), host(addrA, 0, dev(idxVif1))},
			allow:  prefixes("2001:db8::/64", "192.0.2.0/24"),
			steps:  []step{{want: addrs(addr6B)}},
		},
		{
			name: "an IPv4-mapped /128 owns nothing",
			steps: []step{
				{events: []Event{addRoute(host("::ffff:"+addrA, kernelMetric, dev(idxVif1)))}, want: addrs()},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startWatcher(t, baseTruth6(tt.routes...), func(w *Watcher, _ *fakeSource) { w.Allow = tt.allow })
			for i, s := range tt.steps {
				h.send(s.events...)
				if diff := cmp.Diff(s.want, h.set.Addrs6(), cmpAddr); diff != "" {
					t.Errorf("step %d: owned IPv6 (-want +got):\n%s", i, diff)
				}
			}
			if h.set.Owned(mustAddr(addrA)) && tt.allow == nil {
				t.Errorf("Owned(%s) = true with no IPv4 route", addrA)
			}
			if h.set.Owned(mustAddr("::ffff:" + addrA)) {
				t.Errorf("Owned(::ffff:%s) = true, want false", addrA)
			}
		})
	}
}

func TestWatcherKeepsSameLookingAddressesApart(t *testing.T) {
	// 192.0.2.10 via a guest and ::ffff:192.0.2.10 via eth1; the IPv6
	// address ending in 192.0.2.10 via eth1.
	h := startWatcher(t, baseTruth6(
		host(addrA, 0, dev(idxVif1)),
		host("::ffff:"+addrA, 0, dev(idxEth1)),
		host(addr6A, kernelMetric6, dev(idxEth1)),
	), nil)
	if diff := cmp.Diff(addrs(addrA), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned IPv4 (-want +got):\n%s", diff)
	}
	if got := h.set.Addrs6(); len(got) != 0 {
		t.Errorf("owned IPv6 %v after the dump, want none", got)
	}
	// The IPv6 address's route moves to a guest: IPv4 is untouched.
	h.send(replRoute(host(addr6A, kernelMetric6, dev(idxVif2))), delRoute(host(addrA, 0, dev(idxVif1))))
	if got := h.set.Addrs(); len(got) != 0 {
		t.Errorf("owned IPv4 %v after its route went, want none", got)
	}
	if diff := cmp.Diff(addrs(addr6A), h.set.Addrs6(), cmpAddr); diff != "" {
		t.Errorf("owned IPv6 (-want +got):\n%s", diff)
	}
	// Host addresses too.
	h.send(addrAdd(idxEth1, addrA+"/24"))
	if h.set.Local(mustAddr(addr6A)) || h.set.Local(mustAddr("::ffff:"+addrA)) {
		t.Error("an IPv4 host address made an IPv6 address local")
	}
	if !h.set.Owned(mustAddr(addr6A)) {
		t.Errorf("Owned(%s) = false after an IPv4 host address with the same last bits was added", addr6A)
	}
}

const kernelMetric6 = 1024

func TestWatcherLocal6(t *testing.T) {
	h := startWatcher(t, baseTruth6(), nil)
	for _, a := range addrs("2001:db8:ff::2", "fe80::2", "fe80::2%eth0") {
		if !h.set.Local(a) {
			t.Errorf("Local(%v) = false after the dump, want true", a)
		}
	}
	if h.set.Local(mustAddr("2001:db8:ff::")) {
		t.Error("Local(2001:db8:ff::) = true: the prefix is not an address")
	}
	h.send(addrAdd(idxVif1, "2001:db8::1/128"))
	if !h.set.Local(mustAddr("2001:db8::1")) {
		t.Error("Local(2001:db8::1) = false after AddrAdd, want true")
	}
	if diff := cmp.Diff(addrs("2001:db8::1", "2001:db8:ff::2", "fe80::2"), h.set.LocalAddrs6(), cmpAddr); diff != "" {
		t.Errorf("LocalAddrs6 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(addrs("203.0.113.2"), h.set.LocalAddrs(), cmpAddr); diff != "" {
		t.Errorf("LocalAddrs, IPv4 only (-want +got):\n%s", diff)
	}
	h.send(addrDel(idxVif1, "2001:db8::1/128"), linkDel(idxEth0))
	for _, a := range addrs("2001:db8::1", "2001:db8:ff::2", "fe80::2") {
		if h.set.Local(a) {
			t.Errorf("Local(%v) = true after removal, want false", a)
		}
	}
}

func TestWatcherNeverOwnsTheUplinkGateway6(t *testing.T) {
	const gw1, gw2 = "fe80::1", "2001:db8:ff::1"
	defRoute := withDst(host("::", kernelMetric6, via(gw1, idxEth0)), "::/0")
	truth := baseTruth6(
		defRoute,
		host(gw1, kernelMetric6, dev(idxVif1)), // the router's link-local address routed to a guest
		host(gw2, kernelMetric6, dev(idxVif1)),
		host(addr6B, kernelMetric6, dev(idxVif1)),
		withDst(host("2001:db8:1::", kernelMetric6, via("fe80::77", idxEth1)), "2001:db8:1::/48"), // not via the uplink
		// An IPv4 route via an IPv6 next hop (RTA_VIA) on the uplink.
		prefixRoute("198.51.100.0/24", 0, via("fe80::4", idxEth0)),
	)
	var mu sync.Mutex
	var changes, changes4 []string
	h := startWatcher(t, truth, func(w *Watcher, _ *fakeSource) {
		w.Uplink = "eth0"
		w.OnChange6 = func(c Change) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, fmt.Sprintf("%s owned=%v reason=%s", c.Addr, c.Owned, c.Verdict.Reason))
		}
		w.OnChange = func(c Change) {
			mu.Lock()
			defer mu.Unlock()
			changes4 = append(changes4, c.Addr.String())
		}
	})
	check := func(when string, owned, gateways []netip.Addr) {
		t.Helper()
		if diff := cmp.Diff(owned, h.set.Addrs6(), cmpAddr); diff != "" {
			t.Errorf("%s: owned (-want +got):\n%s", when, diff)
		}
		if diff := cmp.Diff(gateways, h.set.Gateways6(), cmpAddr, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: gateways (-want +got):\n%s", when, diff)
		}
		for _, a := range gateways {
			if !h.set.Gateway(a) || !h.set.Gateway(a.WithZone("eth0")) {
				t.Errorf("%s: Gateway(%v) = false", when, a)
			}
		}
		if got := h.set.Gateways(); len(got) != 0 {
			t.Errorf("%s: IPv4 gateways %v, want none", when, got)
		}
	}
	check("after the dump", addrs(addr6B, gw2), addrs("fe80::1", "fe80::4"))

	h.send(replRoute(withDst(host("::", kernelMetric6, via(gw2, idxEth0)), "::/0")))
	check("after the default route changed", addrs(addr6B, gw1), addrs(gw2, "fe80::4"))

	// A second default route reported as a sibling of the first.
	h.send(addRoute(withDst(host("::", kernelMetric6, via("fe80::5", idxEth0)), "::/0")))
	check("after a sibling was added", addrs(addr6B, gw1), addrs(gw2, "fe80::4", "fe80::5"))
	h.send(delRoute(withDst(host("::", kernelMetric6, via("fe80::5", idxEth0)), "::/0")))
	check("after the sibling was deleted", addrs(addr6B, gw1), addrs(gw2, "fe80::4"))

	h.send(linkDown(idxEth0, "eth0"))
	check("after the uplink went down", addrs(addr6B, gw2, gw1), nil)

	h.send(linkUp(idxEth0, "eth0"), addRoute(defRoute))
	check("after the default route came back", addrs(addr6B, gw2), addrs(gw1))

	h.lose(errors.New("lost"), truth)
	check("after a resync", addrs(addr6B, gw2), addrs(gw1, "fe80::4"))

	mu.Lock()
	defer mu.Unlock()
	if want := gw2 + " owned=false reason=uplink-gateway"; !containsLine(changes, want) {
		t.Errorf("changes %q lack %q", changes, want)
	}
	if len(changes4) != 0 {
		t.Errorf("OnChange saw %q, want no IPv6 change there", changes4)
	}
}

func TestWatcherResyncsIPv6AfterLostEvents(t *testing.T) {
	h := startWatcher(t, baseTruth6(
		host(addr6A, kernelMetric6, dev(idxVif1)),
		host(addr6B, kernelMetric6, dev(idxVif2)),
		host(addr6C, kernelMetric6, dev(idxEth1)),
	), nil)
	h.checkOwned6("after the dump", addr6B, addr6A)
	links := testLinks()
	links[2].Name = "eth9" // vif2.0
	truth := baseTruth6(
		host(addr6B, kernelMetric6, dev(idxVif2)),
		host(addr6C, kernelMetric6, dev(idxTap3)),
		host("2001:db8::50", kernelMetric6, dev(idxVif1)),
	)
	truth.Links = links
	h.lose(fmt.Errorf("Receive failed: %w", unix.ENOBUFS), truth)
	h.checkOwned6("after the resync", addr6C, "2001:db8::50")
	h.send(delRoute(host(addr6C, kernelMetric6, dev(idxTap3))))
	h.checkOwned6("after an event on the new subscription", "2001:db8::50")
}

func TestWatcherReportsIPv6ChangesToOnChange6Only(t *testing.T) {
	var mu sync.Mutex
	var got4, got6 []string
	rec := func(into *[]string) func(Change) {
		return func(c Change) {
			mu.Lock()
			defer mu.Unlock()
			*into = append(*into, fmt.Sprintf("%s owned=%v startup=%v", c.Addr, c.Owned, c.Startup))
		}
	}
	truth := Snapshot{Links: testLinks(), Routes: []Route{host(addrA, 0, dev(idxVif1)), host(addr6A, kernelMetric6, dev(idxVif1))}}
	h := startWatcher(t, truth, func(w *Watcher, _ *fakeSource) {
		w.OnChange = rec(&got4)
		w.OnChange6 = rec(&got6)
	})
	h.send(addRoute(host(addr6B, kernelMetric6, dev(idxVif2))), linkNoCarrier(idxVif1, "vif1.0"))
	mu.Lock()
	defer mu.Unlock()
	want4 := []string{addrA + " owned=true startup=true", addrA + " owned=false startup=false"}
	if diff := cmp.Diff(want4, got4); diff != "" {
		t.Errorf("OnChange (-want +got):\n%s", diff)
	}
	want6 := []string{addr6A + " owned=true startup=true", addr6B + " owned=true startup=false", addr6A + " owned=false startup=false"}
	if diff := cmp.Diff(want6, got6); diff != "" {
		t.Errorf("OnChange6 (-want +got):\n%s", diff)
	}
}

func TestWatcherCapCountsBothFamilies(t *testing.T) {
	truth := baseTruth6(host(addrA, 0, dev(idxVif1)), host(addr6A, kernelMetric6, dev(idxVif1)), host(addr6B, kernelMetric6, dev(idxVif1)))
	h := startWatcher(t, truth, func(w *Watcher, _ *fakeSource) { w.MaxOwned = 2 })
	if n := h.set.Len() + h.set.Len6(); n != 2 {
		t.Errorf("owned %d addresses with MaxOwned 2, want 2", n)
	}
	if got := h.w.Refused(); got != 1 {
		t.Errorf("Refused() = %d, want 1", got)
	}
}
