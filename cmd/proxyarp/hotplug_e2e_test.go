package main

// End-to-end tests of `proxyarp hotplug` next to `proxyarp serve`, in
// network namespaces (helpers in netns_test.go). Run as root:
//
//	go test -race -count=1 -run HotplugE2E -v ./cmd/proxyarp/
//
// The host's guest devices start as netback and qemu leave them: down, no
// address, no route. `proxyarp hotplug` is run as libxl runs the script
// (the environment of a vif or tap, a fake xenstored holding the vif's ip=
// key, reached through XENSTORED_PATH), and the router's and guests' own
// kernels show the result by ping and ARP.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/xenstore/xenstoretest"
)

// hotplugTimeout bounds one `proxyarp hotplug` process (a -race build,
// 20 at once on 2 cores).
const hotplugTimeout = 60 * time.Second

// bareGuest creates host VIF <-> guest eth0, the guest configured (ip/32, up,
// default route via gw onlink) and the host's VIF left down with nothing on
// it, as netback creates it.
func bareGuest(t *testing.T, host, guest, vif string, ip, gw netip.Addr) {
	t.Helper()
	ipn(t, host, "link", "add", vif, "type", "veth", "peer", "name", "eth0", "netns", guest)
	ipn(t, guest, "addr", "add", ip.String()+"/32", "dev", "eth0")
	ipn(t, guest, "link", "set", "eth0", "up")
	ipn(t, guest, "route", "add", "default", "via", gw.String(), "dev", "eth0", "onlink")
}

// hostSysctls sets what a routed Xen host has: forwarding on, kernel
// proxy_arp off (proxyarp serve answers on the uplink).
func hostSysctls(t *testing.T, host string) {
	t.Helper()
	setSysctl(t, host, "net/ipv4/ip_forward", "1")
	setSysctl(t, host, "net/ipv4/conf/all/proxy_arp", "0")
	setSysctl(t, host, "net/ipv4/conf/default/proxy_arp", "0")
}

// hotplugEnv is libxl's environment for vif DOMID.DEVID (type_if=vif).
func hotplugEnv(srv *xenstoretest.Server, domid, devid int) []string {
	return []string{
		fmt.Sprintf("XENBUS_PATH=backend/vif/%d/%d", domid, devid),
		fmt.Sprintf("vif=vif%d.%d", domid, devid),
		"XENBUS_TYPE=vif", "XENBUS_BASE_PATH=backend", "script=/etc/xen/scripts/vif-proxyarp",
		"netdev=eth0", "XENSTORED_PATH=" + srv.Path,
	}
}

// hotplugCmd returns `ip netns exec NS BIN hotplug args...` with env (and
// PATH) as its whole environment; ip execs the binary, so the PID is
// proxyarp's. A t.Cleanup kills it by PID if it is still running.
func hotplugCmd(t *testing.T, ctx context.Context, ns, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin, "hotplug"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return cmd
}

// hotplugE2ERun runs one `proxyarp hotplug` and fails the test unless it exits
// 0.
func hotplugE2ERun(t *testing.T, ns, bin string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hotplugTimeout)
	defer cancel()
	out, err := hotplugCmd(t, ctx, ns, bin, env, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("proxyarp hotplug %s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
}

// managedRoutes returns the host's routes carrying proto proxyarp (213).
func managedRoutes(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(ipn(t, ns, "-4", "route", "show", "proto", "213"), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// pingUntil pings dst from ns once a second until a reply comes, up to
// tries times.
func pingUntil(ns string, dst netip.Addr, tries int) error {
	var err error
	for range tries {
		if err = pingFrom(ns, dst, time.Second); err == nil {
			return nil
		}
	}
	return err
}

func TestHotplugE2E(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	ns := addNamespaces(t, "pxr-e2e-", "router", "host", "g1", "gt", "g2", "many")
	tp := &topology{router: ns["router"], host: ns["host"]}
	hostSysctls(t, tp.host)
	tp.createUplink(t)
	hostMAC := tp.hostMAC(t)
	bareGuest(t, tp.host, ns["g1"], "vif1.0", guest1IP, hostIP)
	bareGuest(t, tp.host, ns["gt"], "vif1.0-emu", guest1IP, hostIP) // the HVM twin of domain 1
	bareGuest(t, tp.host, ns["g2"], "vif2.0", guest2IP, hostIP)
	srv := xenstoretest.NewServer(t)
	srv.Set("backend/vif/1/0/ip", guest1IP.String())
	srv.Set("backend/vif/2/0/ip", guest2IP.String())
	srv.Set("backend/vif/2/0/vifname", "web2")

	startDaemon(t, tp.host, bin, "serve", "--uplink", "eth0")
	p := openProbe(t, tp.router, "eth0", routerIP)
	vif1 := hotplugEnv(srv, 1, 0)

	t.Run("after online the router and the guest ping each other", func(t *testing.T) {
		hotplugE2ERun(t, tp.host, bin, vif1, "online", "type_if=vif")
		if v, _ := srv.Get("backend/vif/1/0/hotplug-status"); v != "connected" {
			t.Errorf("hotplug-status = %q, want connected", v)
		}
		if err := pingUntil(tp.router, guest1IP, 5); err != nil {
			t.Fatalf("router ping %s after online: %v", guest1IP, err)
		}
		if neigh := ipn(t, tp.router, "neigh", "show", guest1IP.String(), "dev", "eth0"); !strings.Contains(neigh, hostMAC.String()) {
			t.Errorf("router's entry for %s = %q, want the host's uplink MAC %s", guest1IP, strings.TrimSpace(neigh), hostMAC)
		}
		if err := pingUntil(ns["g1"], routerIP, 3); err != nil {
			t.Errorf("guest ping %s after online: %v", routerIP, err)
		}
	})

	t.Run("a second online converges", func(t *testing.T) {
		hotplugE2ERun(t, tp.host, bin, vif1, "online", "type_if=vif")
		want := []string{"192.0.2.2 dev vif1.0 scope link src 192.0.2.1 metric 2"}
		if diff := cmp.Diff(want, managedRoutes(t, tp.host)); diff != "" {
			t.Errorf("proxyarp's routes after a second online (-want +got):\n%s", diff)
		}
		if err := pingUntil(tp.router, guest1IP, 3); err != nil {
			t.Errorf("router ping %s after a second online: %v", guest1IP, err)
		}
	})

	t.Run("after offline the guest is unanswered", func(t *testing.T) {
		hotplugE2ERun(t, tp.host, bin, vif1, "offline", "type_if=vif")
		if got := managedRoutes(t, tp.host); len(got) != 0 {
			t.Errorf("routes left after offline: %q", got)
		}
		if !p.waitAnswered(t, guest1IP, hostMAC, false, time.Second) {
			t.Errorf("%s still answered 1 s after offline", guest1IP)
		}
		ipn(t, tp.router, "neigh", "flush", "dev", "eth0")
		if err := pingFrom(tp.router, guest1IP, time.Second); err == nil {
			t.Errorf("router ping %s answered after offline", guest1IP)
		}
	})

	t.Run("tap add and remove route the HVM twin", func(t *testing.T) {
		// libxl gives the emulated twin INTERFACE; XENBUS_PATH comes
		// from its name.
		tap := []string{"INTERFACE=vif1.0-emu", "netdev=eth0", "XENSTORED_PATH=" + srv.Path}
		hotplugE2ERun(t, tp.host, bin, tap, "add", "type_if=tap")
		want := []string{"192.0.2.2 dev vif1.0-emu scope link src 192.0.2.1 metric 1"}
		if diff := cmp.Diff(want, managedRoutes(t, tp.host)); diff != "" {
			t.Errorf("proxyarp's routes after tap add (-want +got):\n%s", diff)
		}
		if err := pingUntil(tp.router, guest1IP, 5); err != nil {
			t.Fatalf("router ping %s behind vif1.0-emu: %v", guest1IP, err)
		}
		if err := pingUntil(ns["gt"], routerIP, 3); err != nil {
			t.Errorf("guest (behind vif1.0-emu) ping %s: %v", routerIP, err)
		}
		hotplugE2ERun(t, tp.host, bin, tap, "remove", "type_if=tap")
		if got := managedRoutes(t, tp.host); len(got) != 0 {
			t.Errorf("routes left after tap remove: %q", got)
		}
		if !p.waitAnswered(t, guest1IP, hostMAC, false, time.Second) {
			t.Errorf("%s still answered 1 s after tap remove", guest1IP)
		}
	})

	t.Run("vifname renames the device and its route is answered", func(t *testing.T) {
		vif2 := hotplugEnv(srv, 2, 0)
		hotplugE2ERun(t, tp.host, bin, vif2, "online", "type_if=vif")
		if _, err := tryRun("ip", "-n", tp.host, "link", "show", "dev", "vif2.0"); err == nil {
			t.Errorf("vif2.0 still exists after online with vifname=web2")
		}
		want := []string{"192.0.2.3 dev web2 scope link src 192.0.2.1 metric 2"}
		if diff := cmp.Diff(want, managedRoutes(t, tp.host)); diff != "" {
			t.Errorf("proxyarp's routes after online with vifname (-want +got):\n%s", diff)
		}
		// web2 is outside serve's --guest-ifaces (vif*,tap*): answered
		// because the route is proxyarp's.
		if err := pingUntil(tp.router, guest2IP, 5); err != nil {
			t.Fatalf("router ping %s behind web2: %v", guest2IP, err)
		}
		hotplugE2ERun(t, tp.host, bin, vif2, "offline", "type_if=vif")
		if got := managedRoutes(t, tp.host); len(got) != 0 {
			t.Errorf("routes left after offline of web2: %q", got)
		}
		if !p.waitAnswered(t, guest2IP, hostMAC, false, time.Second) {
			t.Errorf("%s still answered 1 s after offline of web2", guest2IP)
		}
	})

	t.Run("20 vifs plugged at once get exactly their routes, all answered", func(t *testing.T) {
		const first, n = 10, 20
		var want []string
		var addrs []netip.Addr
		for d := first; d < first+n; d++ {
			vif := fmt.Sprintf("vif%d.0", d)
			a := netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + d)})
			// Peers in one namespace, up: the vifs get carrier.
			ipn(t, tp.host, "link", "add", vif, "type", "veth", "peer", "name", fmt.Sprintf("p%d", d), "netns", ns["many"])
			ipn(t, ns["many"], "link", "set", fmt.Sprintf("p%d", d), "up")
			srv.Set(fmt.Sprintf("backend/vif/%d/0/ip", d), a.String())
			want = append(want, fmt.Sprintf("%s dev %s scope link src 192.0.2.1 metric 2", a, vif))
			addrs = append(addrs, a)
		}
		slices.Sort(want)
		all := func(action string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), hotplugTimeout)
			defer cancel()
			cmds := make([]*exec.Cmd, n)
			outs := make([]*syncBuffer, n)
			for i := range cmds {
				outs[i] = &syncBuffer{}
				cmds[i] = hotplugCmd(t, ctx, tp.host, bin, hotplugEnv(srv, first+i, 0), action, "type_if=vif")
				cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
			}
			start := time.Now()
			for _, c := range cmds {
				if err := c.Start(); err != nil {
					t.Fatalf("starting proxyarp hotplug: %v", err)
				}
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i, c := range cmds {
				wg.Go(func() { errs[i] = c.Wait() })
			}
			wg.Wait()
			t.Logf("%d concurrent %s: %v", n, action, time.Since(start).Round(time.Millisecond))
			for i, err := range errs {
				if err != nil {
					t.Errorf("hotplug %s of vif%d.0: %v\n%s", action, first+i, err, outs[i].String())
				}
			}
		}

		all("online")
		if diff := cmp.Diff(want, managedRoutes(t, tp.host)); diff != "" {
			t.Errorf("proxyarp's routes after 20 concurrent onlines (-want +got):\n%s", diff)
		}
		for d := first; d < first+n; d++ {
			if v, _ := srv.Get(fmt.Sprintf("backend/vif/%d/0/hotplug-status", d)); v != "connected" {
				t.Errorf("vif%d.0 hotplug-status = %q, want connected", d, v)
			}
		}
		for _, a := range addrs {
			if !p.waitAnswered(t, a, hostMAC, true, 2*time.Second) {
				t.Errorf("%s not answered after 20 concurrent onlines", a)
			}
		}

		all("offline")
		if got := managedRoutes(t, tp.host); len(got) != 0 {
			t.Errorf("routes left after 20 concurrent offlines: %q", got)
		}
		for _, a := range []netip.Addr{addrs[0], addrs[n/2], addrs[n-1]} {
			if !p.waitAnswered(t, a, hostMAC, false, time.Second) {
				t.Errorf("%s still answered after 20 concurrent offlines", a)
			}
		}
	})
}

// TestHotplugE2EMigration moves a guest from host A to host B, both on one
// bridged router segment, and checks that B's gratuitous ARP re-points the
// router's existing neighbour entry at once (arp_accept=0: a GARP updates
// an entry the router already has), instead of the router sending to A
// until its entry goes stale and is re-probed.
func TestHotplugE2EMigration(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	ns := addNamespaces(t, "pxr-e2e-", "router", "a", "b", "ga", "gb")
	router := ns["router"]
	hostB := netip.MustParseAddr("192.0.2.11")
	ipn(t, router, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
	ipn(t, router, "addr", "add", routerIP.String()+"/24", "dev", "br0")
	ipn(t, router, "link", "set", "br0", "up")
	srv := xenstoretest.NewServer(t)
	srv.Set("backend/vif/1/0/ip", guest1IP.String())
	for _, h := range []struct {
		ns, port, guest string
		ip              netip.Addr
	}{{ns["a"], "pa", ns["ga"], hostIP}, {ns["b"], "pb", ns["gb"], hostB}} {
		hostSysctls(t, h.ns)
		ipn(t, h.ns, "link", "add", "eth0", "type", "veth", "peer", "name", h.port, "netns", router)
		setSysctl(t, h.ns, "net/ipv4/conf/eth0/proxy_arp", "0")
		ipn(t, h.ns, "addr", "add", h.ip.String()+"/24", "dev", "eth0")
		ipn(t, h.ns, "link", "set", "eth0", "up")
		ipn(t, router, "link", "set", h.port, "master", "br0")
		ipn(t, router, "link", "set", h.port, "up")
		bareGuest(t, h.ns, h.guest, "vif1.0", guest1IP, h.ip)
		startDaemon(t, h.ns, bin, "serve", "--uplink", "eth0")
	}
	macA, macB := linkMAC(t, ns["a"], "eth0"), linkMAC(t, ns["b"], "eth0")
	env := hotplugEnv(srv, 1, 0)

	hotplugE2ERun(t, ns["a"], bin, env, "online", "type_if=vif")
	if err := pingUntil(router, guest1IP, 5); err != nil {
		t.Fatalf("router ping %s on host A: %v", guest1IP, err)
	}
	neigh := func() string {
		return strings.TrimSpace(ipn(t, router, "neigh", "show", guest1IP.String(), "dev", "br0"))
	}
	if got := neigh(); !strings.Contains(got, macA.String()) {
		t.Fatalf("router's entry for %s before the move = %q, want host A's MAC %s", guest1IP, got, macA)
	}

	// The move: the guest stops on A, its vif goes offline; it resumes on
	// B, whose vif comes online.
	hotplugE2ERun(t, ns["a"], bin, env, "offline", "type_if=vif")
	hotplugE2ERun(t, ns["b"], bin, env, "online", "type_if=vif")
	plugged := time.Now()
	var got string
	for i := 0; i < 100; i++ {
		got = neigh()
		if strings.Contains(got, macB.String()) || time.Since(plugged) > 1500*time.Millisecond {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(plugged)
	if !strings.Contains(got, macB.String()) {
		t.Fatalf("router's entry for %s = %q 1.5 s after the route moved to host B, want host B's MAC %s (host A's is %s)", guest1IP, got, macB, macA)
	}
	t.Logf("router's entry pointed to host B %v after B's online: %q", took.Round(time.Millisecond), got)
	if err := pingUntil(router, guest1IP, 3); err != nil {
		t.Errorf("router ping %s on host B: %v", guest1IP, err)
	}
	if err := pingUntil(ns["gb"], routerIP, 3); err != nil {
		t.Errorf("guest on host B ping %s: %v", routerIP, err)
	}
}
