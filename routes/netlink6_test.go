package routes

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// TestNetlinkSourceIPv6InNamespace shows the real kernel's IPv6 routes,
// addresses and events ending up in the Set, as
// TestNetlinkSourceInNamespace does for IPv4.
func TestNetlinkSourceIPv6InNamespace(t *testing.T) {
	n := newNetnsNamed(t, "pxr-r6-", "IPv6 netlink integration test")
	// vif-pxr has carrier while its peer eth-pxr is up; vif2-pxr likewise
	// with eth2-pxr.
	n.ip("link", "add", "vif-pxr", "type", "veth", "peer", "name", "eth-pxr")
	n.ip("link", "add", "vif2-pxr", "type", "veth", "peer", "name", "eth2-pxr")
	for _, l := range []string{"vif-pxr", "eth-pxr", "vif2-pxr", "eth2-pxr", "lo"} {
		n.ip("link", "set", l, "up")
	}
	n.ip("-6", "route", "add", "2001:db8::5/128", "dev", "vif-pxr") // before the watcher: from the dump
	n.ip("-6", "route", "add", "2001:db8:1::/48", "via", "fe80::1", "dev", "eth-pxr")
	n.ip("-6", "addr", "add", "2001:db8:ff::2/64", "dev", "eth-pxr") // tentative while DAD runs

	src, err := NewNetlinkSource(&NetlinkConfig{Namespace: &n.ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	set := NewSet()
	w := &Watcher{Source: src, Set: set, Uplink: "eth-pxr", Log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	startNetlinkWatcher(t, w)

	dumped := netip.MustParseAddr("2001:db8::5")
	if !set.Owned(dumped) {
		t.Errorf("Owned(%v) = false after the initial dump, want true", dumped)
	}
	for _, a := range []string{"::1", "2001:db8:ff::2"} {
		if !set.Local(netip.MustParseAddr(a)) {
			t.Errorf("Local(%s) = false after the initial dump, want true (tentative addresses count)", a)
		}
	}
	if gw := netip.MustParseAddr("fe80::1"); !set.Gateway(gw) {
		t.Errorf("Gateway(%v) = false, want true: a route via the uplink goes through it (Gateways6 = %v)", gw, set.Gateways6())
	}
	if len(set.Addrs()) != 0 {
		t.Errorf("owned IPv4 %v, want none", set.Addrs())
	}

	a := netip.MustParseAddr("2001:db8::10")
	m := netip.MustParseAddr("2001:db8::20")
	marker := netip.MustParseAddr("2001:db8::77")
	settle := func() {
		t.Helper()
		n.ip("-6", "route", "replace", marker.String()+"/128", "dev", "vif-pxr")
		eventually(t, "the marker is owned", func() bool { return set.Owned(marker) })
		n.ip("-6", "route", "del", marker.String()+"/128", "dev", "vif-pxr")
		eventually(t, "the marker is gone", func() bool { return !set.Owned(marker) })
	}
	steps := []struct {
		name   string
		cmd    string
		addr   netip.Addr
		want   bool
		settle bool
	}{
		{"a /128 via the vif is owned", "route add 2001:db8::10/128 dev vif-pxr metric 100", a, true, true},
		{"a lower-metric route via eth-pxr takes it away", "route add 2001:db8::10/128 dev eth-pxr metric 10", a, false, true},
		{"deleting that route gives it back", "route del 2001:db8::10/128 dev eth-pxr metric 10", a, true, true},
		{"a host address is not owned", "addr add 2001:db8::10/128 dev eth-pxr nodad", a, false, true},
		{"removing the host address gives it back", "addr del 2001:db8::10/128 dev eth-pxr", a, true, true},
		{"carrier loss takes it away", "link set eth-pxr down", a, false, false},
		{"carrier return gives it back", "link set eth-pxr up", a, true, true},
		{"replace to eth-pxr takes it away", "route replace 2001:db8::10/128 dev eth-pxr metric 100", a, false, true},
		{"replace back to the vif gives it back", "route replace 2001:db8::10/128 dev vif-pxr metric 100", a, true, true},
		{"a route in table 100 is not owned", "route add 2001:db8::30/128 dev vif-pxr table 100", netip.MustParseAddr("2001:db8::30"), false, true},
		{"a multipath route via two vifs is owned", "route add 2001:db8::20/128 nexthop via fe80::a dev vif-pxr nexthop via fe80::b dev vif2-pxr", m, true, true},
		{"an appended sibling via eth2-pxr takes it away", "route append 2001:db8::20/128 via fe80::c dev eth2-pxr", m, false, true},
		{"deleting that sibling alone gives it back", "route del 2001:db8::20/128 via fe80::c dev eth2-pxr", m, true, true},
		{"deleting a vif sibling leaves the other owned", "route del 2001:db8::20/128 via fe80::b dev vif2-pxr", m, true, true},
		{"vif2 down does not matter any more", "link set vif2-pxr down", m, true, true},
		{"deleting the last sibling takes it away", "route del 2001:db8::20/128 via fe80::a dev vif-pxr", m, false, true},
		{"the vif set down flushes the route", "link set vif-pxr down", a, false, false},
	}
	for _, s := range steps {
		n.ip(append([]string{"-6"}, strings.Fields(s.cmd)...)...)
		eventually(t, s.name, func() bool { return set.Owned(s.addr) == s.want })
		if s.settle {
			settle()
			if got := set.Owned(s.addr); got != s.want {
				t.Fatalf("%s: Owned(%v) = %v after settling, want %v", s.name, s.addr, got, s.want)
			}
		}
	}
	n.ip("link", "set", "vif-pxr", "up")
	settle()
	if set.Owned(a) || set.Owned(dumped) {
		t.Errorf("owned %v after the vif went down and up, want neither %v nor %v: the kernel flushed their routes", set.Addrs6(), a, dumped)
	}
	// Only host routes were ever owned: never the fe80::/64 of a link.
	for _, o := range set.Addrs6() {
		if o.IsLinkLocalUnicast() {
			t.Errorf("owned %v: a link-local address without a /128", o)
		}
	}
	if len(set.Addrs()) != 0 {
		t.Errorf("owned IPv4 %v, want none", set.Addrs())
	}
	n.ip("-6", "route", "add", "2001:db8::10/128", "dev", "vif-pxr")
	eventually(t, "the re-added route is owned", func() bool { return set.Owned(a) })
	n.ip("link", "del", "vif-pxr")
	eventually(t, "the deleted vif's route is gone", func() bool { return !set.Owned(a) })
	eventually(t, "the uplink's gateway is gone with its peer", func() bool { return !set.Gateway(netip.MustParseAddr("fe80::1")) })
}
