package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// via is a nexthop through a gateway.
func via(gw string, idx int) Nexthop { return Nexthop{LinkIndex: idx, Gw: mustAddr(gw)} }

// prefixRoute is a unicast main-table route to any prefix.
func prefixRoute(dst string, metric int, hops ...Nexthop) Route {
	return withDst(host("0.0.0.0", metric, hops...), dst)
}

func TestWatcherNeverOwnsTheUplinkGateway(t *testing.T) {
	const gw1, gw2, gwOther = "203.0.113.1", "203.0.113.254", "203.0.113.5"
	defRoute := prefixRoute("0.0.0.0/0", 0, via(gw1, idxEth0))
	truth := baseTruth(
		defRoute,
		host(gw1, 0, dev(idxVif1)), // someone routed the router's address to a guest
		host(gw2, 0, dev(idxVif1)),
		host(addrA, 0, dev(idxVif1)),
		prefixRoute("198.51.100.0/24", 0, via("198.51.100.254", idxEth1)), // not via the uplink
	)
	var mu sync.Mutex
	var changes []string
	h := startWatcher(t, truth, func(w *Watcher, _ *fakeSource) {
		w.Uplink = "eth0"
		w.OnChange = func(c Change) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, fmt.Sprintf("%s owned=%v reason=%s", c.Addr, c.Owned, c.Verdict.Reason))
		}
	})
	check := func(when string, owned, gateways []netip.Addr) {
		t.Helper()
		if diff := cmp.Diff(owned, h.set.Addrs(), cmpAddr); diff != "" {
			t.Errorf("%s: owned (-want +got):\n%s", when, diff)
		}
		if diff := cmp.Diff(gateways, h.set.Gateways(), cmpAddr, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: gateways (-want +got):\n%s", when, diff)
		}
		for _, a := range gateways {
			if !h.set.Gateway(a) {
				t.Errorf("%s: Gateway(%v) = false", when, a)
			}
		}
	}
	check("after the dump", addrs(addrA, gw2), addrs(gw1))

	// The default route moves to another router: the old one's /32 to a
	// guest becomes owned, the new one's stops being.
	h.send(replRoute(prefixRoute("0.0.0.0/0", 0, via(gw2, idxEth0))))
	check("after the default route changed", addrs(addrA, gw1), addrs(gw2))

	// Any route via the uplink's gateways counts, not only the default.
	h.send(addRoute(prefixRoute("192.0.2.128/25", 0, via(gwOther, idxEth0))))
	check("after a second route via the uplink", addrs(addrA, gw1), addrs(gwOther, gw2))

	// A /32 routed via the uplink's gateway itself is a gateway route too.
	h.send(delRoute(prefixRoute("192.0.2.128/25", 0, via(gwOther, idxEth0))))
	check("after it was deleted", addrs(addrA, gw1), addrs(gw2))

	// The uplink going down flushes its routes: no gateway is left (nor
	// anything to answer on).
	h.send(linkDown(idxEth0, "eth0"))
	check("after the uplink went down", addrs(addrA, gw1, gw2), nil)

	// Back up, the default route is added again.
	h.send(linkUp(idxEth0, "eth0"), addRoute(defRoute))
	check("after the default route came back", addrs(addrA, gw2), addrs(gw1))

	// A resync keeps it.
	h.lose(errors.New("lost"), truth)
	check("after a resync", addrs(addrA, gw2), addrs(gw1))

	mu.Lock()
	defer mu.Unlock()
	for _, c := range changes {
		if strings.HasPrefix(c, gw1+" owned=true") && !strings.Contains(strings.Join(changes, "\n"), gw1+" owned=false reason=uplink-gateway") {
			t.Errorf("changes %q: %s owned without losing it as uplink-gateway", changes, gw1)
		}
	}
	if want := gw2 + " owned=false reason=uplink-gateway"; !containsLine(changes, want) {
		t.Errorf("changes %q lack %q", changes, want)
	}
}

func TestWatcherWithoutUplinkKnowsNoGateways(t *testing.T) {
	h := startWatcher(t, baseTruth(prefixRoute("0.0.0.0/0", 0, via("203.0.113.1", idxEth0)), host("203.0.113.1", 0, dev(idxVif1))), nil)
	if diff := cmp.Diff(addrs("203.0.113.1"), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned (-want +got):\n%s", diff)
	}
	if len(h.set.Gateways()) != 0 {
		t.Errorf("gateways = %v, want none without Uplink", h.set.Gateways())
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestWatcherCapsTheAnswerSet(t *testing.T) {
	const addrD = "192.0.2.12"
	h := startWatcher(t, baseTruth(
		host(addrA, 0, dev(idxVif1)),
		host(addrB, 0, dev(idxVif1)),
		host(addrC, 0, dev(idxVif2)),
	), func(w *Watcher, _ *fakeSource) { w.MaxOwned = 2 })

	// The lowest addresses win at start-up; the rest is refused, logged once.
	if diff := cmp.Diff(addrs(addrA, addrB), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned after the dump (-want +got):\n%s", diff)
	}
	if got := h.w.Refused(); got != 1 {
		t.Errorf("Refused() = %d, want 1", got)
	}
	h.send(addRoute(host(addrD, 0, dev(idxVif2))))
	if got := h.w.Refused(); got != 2 {
		t.Errorf("Refused() = %d after one more, want 2", got)
	}
	if n := countPrefix(h.logs.take(), "answer set full"); n != 1 {
		t.Errorf("the cap was logged %d times, want once", n)
	}

	// Room again: the lowest refused address is admitted.
	h.send(delRoute(host(addrA, 0, dev(idxVif1))))
	if diff := cmp.Diff(addrs(addrB, addrD), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned after A left (-want +got):\n%s", diff)
	}
	// A refused address that goes away is forgotten; once none is refused,
	// a new refusal is logged again.
	h.send(delRoute(host(addrC, 0, dev(idxVif2))))
	if got := h.w.Refused(); got != 0 {
		t.Errorf("Refused() = %d, want 0", got)
	}
	h.send(addRoute(host(addrC, 0, dev(idxVif2))))
	if n := countPrefix(h.logs.take(), "answer set full"); n != 1 {
		t.Errorf("the second episode was logged %d times, want once", n)
	}

	// A resync keeps what is owned and refuses the rest again.
	h.lose(errors.New("lost"), baseTruth(host(addrB, 0, dev(idxVif1)), host(addrC, 0, dev(idxVif2)), host(addrD, 0, dev(idxVif2)), host("192.0.2.13", 0, dev(idxVif2))))
	if diff := cmp.Diff(addrs(addrB, addrD), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned after a resync (-want +got):\n%s", diff)
	}
	if got := h.w.Refused(); got != 2 {
		t.Errorf("Refused() = %d after a resync, want 2", got)
	}
}

func TestWatcherReconfigure(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	h := startWatcher(t, baseTruth(
		host(addrA, 0, dev(idxVif1)),
		host(addrC, 0, dev(idxVif2)),
		host("192.0.2.30", 0, dev(idxTap3)),
	), func(w *Watcher, _ *fakeSource) {
		w.OnChange = func(c Change) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, fmt.Sprintf("%s owned=%v startup=%v", c.Addr, c.Owned, c.Startup))
		}
	})
	if diff := cmp.Diff(addrs(addrA, "192.0.2.30", addrC), h.set.Addrs(), cmpAddr); diff != "" {
		t.Fatalf("owned after the dump (-want +got):\n%s", diff)
	}
	reconf := func(guests string, allow []netip.Prefix) {
		t.Helper()
		g, err := ParseGlobs(guests)
		if err != nil {
			t.Fatal(err)
		}
		h.w.Reconfigure(g, allow) // from the test's goroutine: -race checks it
		h.wait("reconfigure")
	}

	reconf(DefaultGlobs, prefixes("198.51.100.0/24"))
	if diff := cmp.Diff(addrs(addrC), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned after narrowing allow (-want +got):\n%s", diff)
	}
	reconf("vif*", nil)
	if diff := cmp.Diff(addrs(addrA, addrC), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned after changing the globs (-want +got):\n%s", diff)
	}
	// The new rule sticks through events and resyncs.
	h.send(addRoute(host("192.0.2.31", 0, dev(idxTap3))))
	h.lose(errors.New("lost"), baseTruth(host(addrA, 0, dev(idxVif1)), host(addrC, 0, dev(idxVif2)), host("192.0.2.30", 0, dev(idxTap3))))
	if diff := cmp.Diff(addrs(addrA, addrC), h.set.Addrs(), cmpAddr); diff != "" {
		t.Errorf("owned after a resync (-want +got):\n%s", diff)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{
		addrA + " owned=true startup=true", "192.0.2.30 owned=true startup=true", addrC + " owned=true startup=true",
		addrA + " owned=false startup=false", "192.0.2.30 owned=false startup=false",
		addrA + " owned=true startup=false",
	}
	// The order within one re-evaluation follows map order: compare sorted
	// within each batch by comparing as sets per prefix of the list.
	if diff := cmp.Diff(sortedCopy(want), sortedCopy(changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
