package routes

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// newHotplugNetns creates namespace pxr-hp-<random> with an uplink eth0
// (192.0.2.1/24, a veth) and two guest veths vif1.0 and vif2.0 whose peers
// are up, and returns it with a NetlinkKernel on it. Everything is deleted
// at cleanup; nothing outside the namespace is touched. It skips unless
// run as root.
func newHotplugNetns(t *testing.T) (*netnsTest, *NetlinkKernel) {
	t.Helper()
	return newHotplugNetnsNamed(t, "pxr-hp-")
}

// newHotplugNetnsNamed is newHotplugNetns with the namespace's name prefix.
func newHotplugNetnsNamed(t *testing.T, prefix string) (*netnsTest, *NetlinkKernel) {
	t.Helper()
	n := newNetnsNamed(t, prefix, "route manager namespace test")
	n.ip("link", "set", "lo", "up")
	n.ip("link", "add", "eth0", "type", "veth", "peer", "name", "up0")
	n.ip("addr", "add", "192.0.2.1/24", "dev", "eth0")
	n.ip("link", "set", "eth0", "up")
	for _, v := range []string{"vif1.0", "vif2.0"} {
		peer := "g" + strings.TrimPrefix(v, "vif")
		n.ip("link", "add", v, "type", "veth", "peer", "name", peer)
		n.ip("link", "set", peer, "up")
	}
	k, err := NewNetlinkKernel(&n.ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return n, k
}

// out runs `ip -n NS args...` and returns its output.
func (n *netnsTest) out(args ...string) string {
	n.t.Helper()
	full := append([]string{"-n", n.name}, args...)
	out, err := exec.Command("ip", full...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(full, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// routesVia returns the lines of `ip -4 route show table main` that
// leave through dev, trimmed.
func (n *netnsTest) routesVia(dev string) []string {
	n.t.Helper()
	lines := []string{}
	for _, l := range strings.Split(n.out("-4", "route", "show", "table", "main"), "\n") {
		if strings.Contains(l, " dev "+dev+" ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// sysctl reads /proc/sys/KEY inside the namespace.
func (n *netnsTest) sysctl(key string) string {
	n.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.name, "cat", "/proc/sys/"+key).CombinedOutput()
	if err != nil {
		n.t.Fatalf("read %s in %s: %v: %s", key, n.name, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestManagerInNamespace(t *testing.T) {
	n, k := newHotplugNetns(t)
	ctx := context.Background()
	m := &Manager{Kernel: k, Log: discardLogger()}

	src, err := m.MainIP("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if src != mustAddr("192.0.2.1") {
		t.Fatalf("MainIP(eth0) = %v, want 192.0.2.1", src)
	}
	spec := PlugSpec{Dev: "vif1.0", Src: src, Entries: prefixes("192.0.2.2/32", "192.0.2.3/32"), Metric: 2}
	for i := range 2 { // the second plug converges
		if err := m.Plug(ctx, spec); err != nil {
			t.Fatalf("Plug #%d: %v", i+1, err)
		}
	}
	want := []string{
		"192.0.2.2 dev vif1.0 proto 213 scope link src 192.0.2.1 metric 2",
		"192.0.2.3 dev vif1.0 proto 213 scope link src 192.0.2.1 metric 2",
	}
	if diff := cmp.Diff(want, n.routesVia("vif1.0")); diff != "" {
		t.Errorf("routes after Plug (-want +got):\n%s", diff)
	}
	if got := n.out("-4", "-br", "addr", "show", "dev", "vif1.0"); !strings.Contains(got, "192.0.2.1/32") || !strings.Contains(got, "UP") {
		t.Errorf("vif1.0 after Plug: %q, want it up with 192.0.2.1/32", got)
	}
	for key, want := range map[string]string{
		"net/ipv4/conf/vif1.0/proxy_arp":    "1",
		"net/ipv4/neigh/vif1.0/proxy_delay": "0",
	} {
		if got := n.sysctl(key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}

	// The watcher's source sees the proto, and the rule owns the routes
	// whatever the device is called.
	nsrc, err := NewNetlinkSource(&NetlinkConfig{Namespace: &n.ns})
	if err != nil {
		t.Fatal(err)
	}
	defer nsrc.Close()
	snap, err := nsrc.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	links := map[int]Link{}
	for _, l := range snap.Links {
		links[l.Index] = l
	}
	v := Rule{}.Explain(mustAddr("192.0.2.2"), snap.Routes, links, false) // zero Globs: no name matches
	if diff := cmp.Diff(Verdict{Reason: ReasonOwned, Dev: "vif1.0", Metric: 2}, v); diff != "" {
		t.Errorf("Explain of a proxyarp route with no guest globs (-want +got):\n%s", diff)
	}

	// Someone else's route is never taken over.
	n.ip("link", "set", "vif2.0", "up")
	n.ip("route", "add", "198.51.100.7/32", "dev", "vif2.0", "metric", "2")
	err = m.Plug(ctx, PlugSpec{Dev: "vif1.0", Src: src, Entries: prefixes("198.51.100.8/32", "198.51.100.7/32"), Metric: 2})
	if want := "198.51.100.7/32 is already routed: 198.51.100.7/32 dev vif2.0 metric 2 proto boot"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Plug over another device's route = %v, want an error containing %q", err, want)
	}
	if got := n.out("-4", "route", "show", "198.51.100.8/32"); got != "" {
		t.Errorf("a refused Plug left a route behind: %q", got)
	}

	// Unplug removes ours only, then sets the device down.
	n.ip("route", "add", "203.0.113.9/32", "dev", "vif1.0", "metric", "2")
	unspec := UnplugSpec{Dev: "vif1.0", Entries: prefixes("192.0.2.2/32", "192.0.2.3/32", "203.0.113.9/32")}
	if err := m.Unplug(ctx, unspec); err != nil {
		t.Fatalf("Unplug: %v", err)
	}
	if diff := cmp.Diff([]string{"203.0.113.9 dev vif1.0 scope link metric 2"}, n.routesVia("vif1.0")); diff != "" {
		t.Errorf("routes via vif1.0 after Unplug (-want +got):\n%s", diff)
	}
	unspec.Down = true
	if err := m.Unplug(ctx, unspec); err != nil {
		t.Fatalf("second Unplug: %v", err)
	}
	if got := n.out("-br", "link", "show", "dev", "vif1.0"); !strings.Contains(got, "DOWN") {
		t.Errorf("vif1.0 after Unplug with Down: %q, want DOWN", got)
	}
	n.ip("link", "del", "vif1.0")
	if err := m.Unplug(ctx, unspec); err != nil {
		t.Errorf("Unplug of a deleted device = %v, want nil", err)
	}
}

func TestManagerRenameInNamespace(t *testing.T) {
	n, k := newHotplugNetns(t)
	m := &Manager{Kernel: k}
	n.ip("link", "set", "vif1.0", "up")
	if err := m.Rename("vif1.0", "vif2.0"); err == nil {
		t.Error("Rename onto an existing device succeeded")
	}
	if err := m.Rename("vif1.0", "web0"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	n.ip("link", "show", "dev", "web0")
}

// routes6Via returns the lines of `ip -6 route show table main` that leave
// through dev, trimmed, without the kernel's own (proto kernel) routes.
func (n *netnsTest) routes6Via(dev string) []string {
	n.t.Helper()
	lines := []string{}
	for _, l := range strings.Split(n.out("-6", "route", "show", "table", "main"), "\n") {
		if strings.Contains(l, " dev "+dev+" ") && !strings.Contains(l, "proto kernel") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

func TestManagerIPv6InNamespace(t *testing.T) {
	n, k := newHotplugNetnsNamed(t, "pxr-hp6-")
	ctx := context.Background()
	m := &Manager{Kernel: k, Log: discardLogger()}
	// A tentative address (eth0 has no carrier: DAD never ends) before
	// MAIN_IP6, which is added without DAD.
	n.ip("addr", "add", "2001:db8::5/64", "dev", "eth0")
	n.ip("addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad")

	src6, err := m.MainIP6("eth0")
	if err != nil || src6 != mustAddr("2001:db8::1") {
		t.Fatalf("MainIP6(eth0) = %v, %v; want 2001:db8::1", src6, err)
	}
	if _, err := m.MainIP6("vif2.0"); !errors.Is(err, ErrNoGlobalIPv6) {
		t.Errorf("MainIP6(vif2.0) = %v, want ErrNoGlobalIPv6", err)
	}
	// As on a host with IPv6 off by default: Plug turns it on for the vif.
	if out, err := exec.Command("ip", "netns", "exec", n.name, "sysctl", "-qw", "net/ipv6/conf/vif1.0/disable_ipv6=1").CombinedOutput(); err != nil {
		t.Fatalf("disable IPv6 on vif1.0: %v: %s", err, out)
	}

	spec := PlugSpec{
		Dev: "vif1.0", Src: mustAddr("192.0.2.1"), Src6: src6, Gateway6: mustPrefix("fe80::1/64"), Metric: 2,
		Entries: prefixes("192.0.2.2/32", "2001:db8:1::2/128", "2001:db8:2::/64"),
	}
	for i := range 2 { // the second plug converges
		if err := m.Plug(ctx, spec); err != nil {
			t.Fatalf("Plug #%d: %v", i+1, err)
		}
	}
	want6 := []string{
		"2001:db8:1::2 proto 213 src 2001:db8::1 metric 2 pref medium",
		"2001:db8:2::/64 proto 213 src 2001:db8::1 metric 2 pref medium",
	}
	got6 := n.routes6Via("vif1.0")
	for i, l := range got6 {
		got6[i] = strings.Replace(l, " dev vif1.0", "", 1)
	}
	if diff := cmp.Diff(want6, got6); diff != "" {
		t.Errorf("IPv6 routes after Plug (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.0.2.2 dev vif1.0 proto 213 scope link src 192.0.2.1 metric 2"}, n.routesVia("vif1.0")); diff != "" {
		t.Errorf("IPv4 routes after Plug (-want +got):\n%s", diff)
	}
	if got := n.out("-6", "addr", "show", "dev", "vif1.0"); !strings.Contains(got, "inet6 fe80::1/64 scope link nodad") {
		t.Errorf("vif1.0's IPv6 addresses after Plug:\n%s\nwant fe80::1/64 nodad", got)
	}
	for key, want := range map[string]string{
		"net/ipv6/conf/vif1.0/disable_ipv6": "0",
		"net/ipv6/conf/vif1.0/accept_ra":    "0",
		"net/ipv4/conf/vif1.0/proxy_arp":    "1",
	} {
		if got := n.sysctl(key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	managed, err := m.Managed()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range managed {
		lines = append(lines, r.String())
	}
	if diff := cmp.Diff([]string{
		"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
		"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
		"2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
	}, lines); diff != "" {
		t.Errorf("Managed (-want +got):\n%s", diff)
	}

	// MAIN_IP6 is refused; a source the kernel refuses (not a host
	// address) fails the IPv6 route, and the IPv4 route added before it
	// is removed again.
	if err := m.Plug(ctx, PlugSpec{Dev: "vif2.0", Src: mustAddr("192.0.2.1"), Src6: src6, Metric: 2, Entries: prefixes("2001:db8::1/128")}); err == nil || !strings.Contains(err.Error(), "MAIN_IP6") {
		t.Errorf("Plug of MAIN_IP6 = %v, want a refusal", err)
	}
	bad := PlugSpec{Dev: "vif2.0", Src: mustAddr("192.0.2.1"), Src6: mustAddr("2001:db8::99"), Gateway6: mustPrefix("fe80::1/64"), Metric: 2,
		Entries: prefixes("192.0.2.7/32", "2001:db8:1::7/128")}
	if err := m.Plug(ctx, bad); err == nil || !strings.Contains(err.Error(), "add route 2001:db8:1::7/128") {
		t.Errorf("Plug with a foreign IPv6 source = %v, want the IPv6 route to fail", err)
	}
	if got := n.routesVia("vif2.0"); len(got) != 0 {
		t.Errorf("a failed Plug left IPv4 routes behind: %q", got)
	}
	if got := n.routes6Via("vif2.0"); len(got) != 0 {
		t.Errorf("a failed Plug left IPv6 routes behind: %q", got)
	}

	// Unplug removes the IPv6 routes too; a second one is fine.
	unspec := UnplugSpec{Dev: "vif1.0", Entries: spec.Entries, Down: true}
	for i := range 2 {
		if err := m.Unplug(ctx, unspec); err != nil {
			t.Fatalf("Unplug #%d: %v", i+1, err)
		}
	}
	if got := n.routes6Via("vif1.0"); len(got) != 0 {
		t.Errorf("IPv6 routes via vif1.0 after Unplug: %q", got)
	}
	if got := n.out("-6", "route", "show", "proto", "213"); got != "" {
		t.Errorf("proto 213 IPv6 routes after Unplug: %q", got)
	}
}
