package main

// End-to-end test of `proxyarp hotplug` with IPv6 ip= entries, in network
// namespaces prefixed pxr-hp6. Run as root:
//
//	go test -race -count=1 -run HotplugE2EIPv6 -v ./cmd/proxyarp/

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/xenstore/xenstoretest"
)

// ping6Until pings dst (IPv6) from ns with ping -6, once a second, until a
// reply comes, up to tries times; it returns ping's last output.
func ping6Until(t *testing.T, ns, dst string, tries int) (string, bool) {
	t.Helper()
	var out []byte
	for range tries {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var err error
		out, err = exec.CommandContext(ctx, "ip", "netns", "exec", ns, "ping", "-6", "-n", "-c", "1", "-W", "1", dst).CombinedOutput()
		cancel()
		if err == nil {
			return string(out), true
		}
	}
	return string(out), false
}

// managedRoutes6 returns the host's IPv6 routes carrying proto 213.
func managedRoutes6(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(ipn(t, ns, "-6", "route", "show", "proto", "213"), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestHotplugE2EIPv6 plugs a vif whose ip= list is "192.0.2.2
// 2001:db8:1::2" on a host running proxyarp serve: the guest, configured
// as the README says (its address as a /128, default via fe80::1), reaches
// the host's uplink address over IPv6 and IPv4, the router (2001:db8:1::fe
// on the uplink's /64) reaches the guest through serve's Neighbor
// Advertisements, and offline takes the IPv6 route away again.
func TestHotplugE2EIPv6(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	ns := addNamespaces(t, "pxr-hp6-", "router", "host", "g1")
	host, guest := ns["host"], ns["g1"]
	hostSysctls(t, host)
	setSysctl(t, host, "net/ipv6/conf/all/forwarding", "1")
	// The uplink: 192.0.2.1/24 and 2001:db8:1::1/64 (the provider's /64,
	// of which the guest has 2001:db8:1::2).
	ipn(t, host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns["router"])
	ipn(t, host, "addr", "add", "192.0.2.1/24", "dev", "eth0")
	ipn(t, host, "addr", "add", "2001:db8:1::1/64", "dev", "eth0", "nodad")
	ipn(t, host, "link", "set", "eth0", "up")
	ipn(t, ns["router"], "addr", "add", "2001:db8:1::fe/64", "dev", "eth0", "nodad")
	ipn(t, ns["router"], "link", "set", "eth0", "up")

	// The guest as netback leaves its vif: down, nothing on it. The guest
	// side: 192.0.2.2/32 via 192.0.2.1, 2001:db8:1::2/128 (no on-link
	// route) via fe80::1.
	bareGuest(t, host, guest, "vif1.0", guest1IP, hostIP)
	ipn(t, guest, "addr", "add", "2001:db8:1::2/128", "dev", "eth0", "nodad")
	ipn(t, guest, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")

	srv := xenstoretest.NewServer(t)
	srv.Set("backend/vif/1/0/ip", "192.0.2.2 2001:db8:1::2")
	env := hotplugEnv(srv, 1, 0)
	startDaemon(t, host, bin, "serve", "--uplink", "eth0")

	for i := range 2 { // the second online converges
		hotplugE2ERun(t, host, bin, env, "online", "type_if=vif")
		if v, _ := srv.Get("backend/vif/1/0/hotplug-status"); v != "connected" {
			t.Fatalf("online #%d: hotplug-status = %q, want connected", i+1, v)
		}
	}
	want := []string{"2001:db8:1::2 dev vif1.0 src 2001:db8:1::1 metric 2 pref medium"}
	if diff := cmp.Diff(want, managedRoutes6(t, host)); diff != "" {
		t.Errorf("proxyarp's IPv6 routes after online (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.0.2.2 dev vif1.0 scope link src 192.0.2.1 metric 2"}, managedRoutes(t, host)); diff != "" {
		t.Errorf("proxyarp's IPv4 routes after online (-want +got):\n%s", diff)
	}
	if got := ipn(t, host, "-6", "addr", "show", "dev", "vif1.0"); !strings.Contains(got, "inet6 fe80::1/64 scope link nodad") {
		t.Errorf("vif1.0's IPv6 addresses after online:\n%s\nwant fe80::1/64 nodad", got)
	}
	if out, ok := ping6Until(t, guest, "2001:db8:1::1", 5); !ok {
		t.Errorf("guest ping -6 2001:db8:1::1 after online failed:\n%s\nguest neighbours:\n%s", out, ipn(t, guest, "-6", "neigh"))
	}
	if err := pingUntil(guest, hostIP, 3); err != nil {
		t.Errorf("guest ping %s after online: %v", hostIP, err)
	}
	if out, ok := ping6Until(t, ns["router"], "2001:db8:1::2", 5); !ok {
		t.Errorf("router ping -6 2001:db8:1::2 (through serve's NDP) after online failed:\n%s\nrouter neighbours:\n%s", out, ipn(t, ns["router"], "-6", "neigh"))
	}

	hotplugE2ERun(t, host, bin, env, "offline", "type_if=vif")
	if got := managedRoutes6(t, host); len(got) != 0 {
		t.Errorf("IPv6 routes left after offline: %q", got)
	}
	if out, ok := ping6Until(t, guest, "2001:db8:1::1", 1); ok {
		t.Errorf("guest ping -6 2001:db8:1::1 answered after offline:\n%s", out)
	}
	ipn(t, ns["router"], "-6", "neigh", "flush", "dev", "eth0")
	if out, ok := ping6Until(t, ns["router"], "2001:db8:1::2", 1); ok {
		t.Errorf("router ping -6 2001:db8:1::2 answered after offline:\n%s", out)
	}
}

// defaultsWrapper runs in a private mount namespace: it bind-mounts $1 over
// /etc/default and $2 over /var/log (the script's hotplug log stays in the
// test), then execs the rest.
const defaultsWrapper = `set -e
mount --bind "$1" /etc/default
mount --bind "$2" /var/log
shift 2
exec "$@"
`

// TestHotplugE2EIPv6GatewayFromDefaults runs dist/xen/vif-proxyarp as
// libxl does, with /etc/default/proxyarp-hotplug saying
// ipv6_gateway=fe80::fe (a bind mount in a private mount namespace): the
// vif gets fe80::fe/64 instead of fe80::1/64.
func TestHotplugE2EIPv6GatewayFromDefaults(t *testing.T) {
	requireRoot(t)
	for _, tool := range []string{"unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not found", tool)
		}
	}
	t.Parallel()
	bin := buildBinary(t)
	script, err := filepath.Abs("../../dist/xen/vif-proxyarp")
	if err != nil {
		t.Fatal(err)
	}
	host := addNamespaces(t, "pxr-hp6-", "dflt")["dflt"]
	ipn(t, host, "link", "add", "eth0", "type", "veth", "peer", "name", "up0")
	ipn(t, host, "addr", "add", "2001:db8:1::1/64", "dev", "eth0", "nodad")
	ipn(t, host, "link", "set", "eth0", "up")
	ipn(t, host, "link", "add", "vif1.0", "type", "veth", "peer", "name", "g1.0")
	ipn(t, host, "link", "set", "g1.0", "up")
	srv := xenstoretest.NewServer(t)
	srv.Set("backend/vif/1/0/ip", "2001:db8:1::2")

	dir := t.TempDir()
	etc, logs := filepath.Join(dir, "default"), filepath.Join(dir, "log")
	for _, d := range []string{etc, logs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "proxyarp-hotplug"), []byte("# test\nipv6_gateway=fe80::fe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-m", "--propagation", "private", "sh", "-c", defaultsWrapper, "sh", etc, logs,
		"ip", "netns", "exec", host, "env", "-i",
		"PATH=" + filepath.Dir(bin) + ":/usr/sbin:/usr/bin:/sbin:/bin",
		"XENBUS_PATH=backend/vif/1/0", "vif=vif1.0", "netdev=eth0", "XENSTORED_PATH=" + srv.Path,
		"sh", script, "online", "type_if=vif"}
	if out, err := tryRun("unshare", args...); err != nil {
		t.Fatalf("vif-proxyarp online: %v\n%s", err, out)
	}
	if v, _ := srv.Get("backend/vif/1/0/hotplug-status"); v != "connected" {
		t.Errorf("hotplug-status = %q, want connected", v)
	}
	got := ipn(t, host, "-6", "addr", "show", "dev", "vif1.0")
	if !strings.Contains(got, "inet6 fe80::fe/64 scope link nodad") || strings.Contains(got, "fe80::1/64") {
		t.Errorf("vif1.0's IPv6 addresses:\n%s\nwant fe80::fe/64 (from /etc/default/proxyarp-hotplug), not fe80::1/64", got)
	}
	if diff := cmp.Diff([]string{"2001:db8:1::2 dev vif1.0 src 2001:db8:1::1 metric 2 pref medium"}, managedRoutes6(t, host)); diff != "" {
		t.Errorf("proxyarp's IPv6 routes (-want +got):\n%s", diff)
	}
}
