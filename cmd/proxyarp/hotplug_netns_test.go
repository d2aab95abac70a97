package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"

	"github.com/proxyarp/proxyarp/hotplug"
	"github.com/proxyarp/proxyarp/routes"
	"github.com/proxyarp/proxyarp/xenstore"
	"github.com/proxyarp/proxyarp/xenstore/xenstoretest"
)

// hpNetns creates namespace pxr-hp-<random> holding a dom0 with eth0
// (192.0.2.1/24) and the guest veths vif1.0 and vif2.0 (peers up, so they
// get carrier), deleted at cleanup. It returns the name and a Kernel on it.
func hpNetns(t *testing.T) (string, routes.Kernel) {
	t.Helper()
	return hpNetnsNamed(t, "pxr-hp-")
}

// hpNetnsNamed is hpNetns with the namespace's name prefix.
func hpNetnsNamed(t *testing.T, prefix string) (string, routes.Kernel) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping hotplug namespace test: needs root to create a network namespace (run: sudo go test ./cmd/proxyarp/)")
	}
	var b [4]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("skipping hotplug namespace test: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	for _, args := range [][]string{
		{"link", "add", "eth0", "type", "veth", "peer", "name", "up0"},
		{"addr", "add", "192.0.2.1/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"link", "add", "vif1.0", "type", "veth", "peer", "name", "g1.0"},
		{"link", "set", "g1.0", "up"},
		{"link", "add", "vif2.0", "type", "veth", "peer", "name", "g2.0"},
		{"link", "set", "g2.0", "up"},
	} {
		hpIP(t, name, args...)
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	k, err := routes.NewNetlinkKernel(&ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return name, k
}

func hpIP(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// hpRoutes returns `ip -4 route show table main` lines via dev.
func hpRoutes(t *testing.T, ns, dev string) []string {
	t.Helper()
	lines := []string{}
	for _, l := range strings.Split(hpIP(t, ns, "-4", "route", "show", "table", "main"), "\n") {
		if strings.Contains(l, " dev "+dev+" ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

func TestHotplugInNamespace(t *testing.T) {
	ns, k := hpNetns(t)
	srv := xenstoretest.NewServer(t)
	srv.Set(xb+"/ip", "192.0.2.2 192.0.2.3")
	env := libxlEnv()
	env["XENSTORED_PATH"] = srv.Path
	deps := hotplug.Deps{
		Getenv:    func(key string) string { return env[key] },
		OpenStore: xenstore.OpenEnv,
		Kernel:    func() (routes.Kernel, func(), error) { return k, func() {}, nil },
		Log:       slog.New(slog.DiscardHandler),
	}
	hp := func(args ...string) error {
		return runHotplug(context.Background(), args, &bytes.Buffer{}, deps)
	}

	for i := range 2 {
		if err := hp("online", "type_if=vif"); err != nil {
			t.Fatalf("online #%d: %v", i+1, err)
		}
	}
	want := []string{
		"192.0.2.2 dev vif1.0 proto 213 scope link src 192.0.2.1 metric 2",
		"192.0.2.3 dev vif1.0 proto 213 scope link src 192.0.2.1 metric 2",
	}
	if diff := cmp.Diff(want, hpRoutes(t, ns, "vif1.0")); diff != "" {
		t.Errorf("routes after online (-want +got):\n%s", diff)
	}
	if v, _ := srv.Get(xb + "/hotplug-status"); v != "connected" {
		t.Errorf("hotplug-status = %q, want connected", v)
	}

	// Another guest asking for 192.0.2.3 fails, and gets nothing.
	env2 := libxlEnv()
	env2["XENSTORED_PATH"], env2["vif"], env2["XENBUS_PATH"] = srv.Path, "vif2.0", "backend/vif/2/0"
	srv.Set("backend/vif/2/0/ip", "198.51.100.9 192.0.2.3")
	deps2 := deps
	deps2.Getenv = func(key string) string { return env2[key] }
	err := runHotplug(context.Background(), []string{"online", "type_if=vif"}, &bytes.Buffer{}, deps2)
	if err == nil || !strings.Contains(err.Error(), "192.0.2.3/32 is already routed to another device") {
		t.Errorf("online of a second guest claiming 192.0.2.3 = %v, want a refusal", err)
	}
	if got, _ := srv.Get("backend/vif/2/0/hotplug-status"); got != "error" {
		t.Errorf("second guest's hotplug-status = %q, want error", got)
	}
	if got := hpRoutes(t, ns, "vif2.0"); len(got) != 0 {
		t.Errorf("the refused online left routes: %q", got)
	}

	if err := hp("offline", "type_if=vif"); err != nil {
		t.Fatalf("offline: %v", err)
	}
	if got := hpRoutes(t, ns, "vif1.0"); len(got) != 0 {
		t.Errorf("routes left after offline: %q", got)
	}
	if got := hpIP(t, ns, "-br", "link", "show", "dev", "vif1.0"); !strings.Contains(got, "DOWN") {
		t.Errorf("vif1.0 after offline: %q, want DOWN", got)
	}
	hpIP(t, ns, "link", "del", "vif1.0")
	if err := hp("offline", "type_if=vif"); err != nil {
		t.Errorf("offline of a deleted vif = %v, want success", err)
	}
}

// hpRoutes6 returns the `ip -6 route show table main` lines via dev that
// carry proto 213.
func hpRoutes6(t *testing.T, ns, dev string) []string {
	t.Helper()
	lines := []string{}
	for _, l := range strings.Split(hpIP(t, ns, "-6", "route", "show", "table", "main", "proto", "213"), "\n") {
		if strings.Contains(l, " dev "+dev+" ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// TestHotplugIPv6InNamespace: a mixed ip= list on a host whose gateway
// device has no global IPv6 address yet gets its IPv6 route without src
// and a warning; once the address is there, a second online gives the
// route its src (a replace: converges); offline removes both families.
func TestHotplugIPv6InNamespace(t *testing.T) {
	ns, k := hpNetnsNamed(t, "pxr-hp6-")
	srv := xenstoretest.NewServer(t)
	srv.Set(xb+"/ip", "192.0.2.2 2001:db8:1::2")
	env := libxlEnv()
	env["XENSTORED_PATH"] = srv.Path
	var logs syncBuffer
	deps := hotplug.Deps{
		Getenv:    func(key string) string { return env[key] },
		OpenStore: xenstore.OpenEnv,
		Kernel:    func() (routes.Kernel, func(), error) { return k, func() {}, nil },
		Log:       slog.New(slog.NewTextHandler(&logs, nil)),
	}
	hp := func(args ...string) error {
		return runHotplug(context.Background(), args, &bytes.Buffer{}, deps)
	}

	if err := hp("online", "type_if=vif"); err != nil {
		t.Fatalf("online without MAIN_IP6: %v", err)
	}
	if diff := cmp.Diff([]string{"2001:db8:1::2 dev vif1.0 metric 2 pref medium"}, hpRoutes6(t, ns, "vif1.0")); diff != "" {
		t.Errorf("IPv6 routes after online without MAIN_IP6 (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "no usable global IPv6 address") {
		t.Errorf("no warning about the missing MAIN_IP6; log:\n%s", logs.String())
	}

	hpIP(t, ns, "addr", "add", "2001:db8:1::1/64", "dev", "eth0", "nodad")
	if err := hp("online", "type_if=vif"); err != nil {
		t.Fatalf("second online: %v", err)
	}
	if diff := cmp.Diff([]string{"2001:db8:1::2 dev vif1.0 src 2001:db8:1::1 metric 2 pref medium"}, hpRoutes6(t, ns, "vif1.0")); diff != "" {
		t.Errorf("IPv6 routes after a second online with MAIN_IP6 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"192.0.2.2 dev vif1.0 proto 213 scope link src 192.0.2.1 metric 2"}, hpRoutes(t, ns, "vif1.0")); diff != "" {
		t.Errorf("IPv4 routes after online (-want +got):\n%s", diff)
	}
	if got := hpIP(t, ns, "-6", "addr", "show", "dev", "vif1.0", "scope", "link"); !strings.Contains(got, "fe80::1/64") {
		t.Errorf("vif1.0 has no fe80::1/64:\n%s", got)
	}

	if err := hp("offline", "type_if=vif"); err != nil {
		t.Fatalf("offline: %v", err)
	}
	if got := hpRoutes6(t, ns, "vif1.0"); len(got) != 0 {
		t.Errorf("IPv6 routes left after offline: %q", got)
	}
	if got := hpRoutes(t, ns, "vif1.0"); len(got) != 0 {
		t.Errorf("IPv4 routes left after offline: %q", got)
	}
}
