package main

// End-to-end test of serve's IPv6 side (issue 17) in network namespaces:
// the router's own kernel resolves guests' addresses with Neighbor
// Solicitations, which proxyarp answers on the host's uplink. Run as root:
//
//	go test -race -count=1 -run NDPE2E -v ./cmd/proxyarp/
//
// Topology (2001:db8::/32 only; DAD off everywhere, every address nodad):
//
//	router eth0 2001:db8:1::fe/64
//	  <-> host eth0 2001:db8:1::1/64 (uplink, IPv6 forwarding on)
//	host vif1.0 fe80::1/64, route 2001:db8:1::2/128 dev vif1.0
//	  <-> g1 eth0 2001:db8:1::2/128, default via fe80::1 dev eth0

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	router6IP = netip.MustParseAddr("2001:db8:1::fe")
	host6IP   = netip.MustParseAddr("2001:db8:1::1")
	guest6IP  = netip.MustParseAddr("2001:db8:1::2")
	late6IP   = netip.MustParseAddr("2001:db8:1::3")  // routed at run time
	unowned6  = netip.MustParseAddr("2001:db8:1::99") // nobody's
)

// ndpTopology builds the namespaces of the IPv6 test and returns their
// names: router, host and g1.
func ndpTopology(t *testing.T) (router, host, g1 string) {
	t.Helper()
	ns := addNamespaces(t, "pxr-n6e-", "router", "host", "g1")
	router, host, g1 = ns["router"], ns["host"], ns["g1"]
	for _, n := range []string{router, host, g1} {
		// No duplicate address detection (its delays), no router
		// solicitations or advertisements to learn from.
		for _, k := range []string{"all", "default"} {
			setSysctl(t, n, "net/ipv6/conf/"+k+"/accept_dad", "0")
			setSysctl(t, n, "net/ipv6/conf/"+k+"/accept_ra", "0")
		}
	}
	setSysctl(t, host, "net/ipv6/conf/all/forwarding", "1")
	setSysctl(t, host, "net/ipv6/conf/all/proxy_ndp", "0")

	ipn(t, host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", router)
	ipn(t, host, "addr", "add", host6IP.String()+"/64", "dev", "eth0", "nodad")
	ipn(t, router, "addr", "add", router6IP.String()+"/64", "dev", "eth0", "nodad")
	ipn(t, host, "link", "set", "eth0", "up")
	ipn(t, router, "link", "set", "eth0", "up")

	ipn(t, host, "link", "add", "vif1.0", "type", "veth", "peer", "name", "eth0", "netns", g1)
	ipn(t, host, "addr", "add", "fe80::1/64", "dev", "vif1.0", "nodad")
	ipn(t, g1, "addr", "add", guest6IP.String()+"/128", "dev", "eth0", "nodad")
	ipn(t, host, "link", "set", "vif1.0", "up")
	ipn(t, g1, "link", "set", "eth0", "up")
	ipn(t, g1, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")
	ipn(t, host, "-6", "route", "add", guest6IP.String()+"/128", "dev", "vif1.0")
	return router, host, g1
}

// ping6 runs the router's kernel ping: its own Neighbor Discovery resolves
// the target first.
func ping6(ns string, dst netip.Addr) (string, error) {
	return tryRun("ip", "netns", "exec", ns, "ping", "-6", "-n", "-c", "3", "-W", "2", "-i", "0.2", dst.String())
}

// neigh6 returns the router's neighbour entry for a (`ip -6 neigh show`).
func neigh6(t *testing.T, ns string, a netip.Addr) string {
	t.Helper()
	return strings.TrimSpace(ipn(t, ns, "-6", "neigh", "show", a.String(), "dev", "eth0"))
}

// igmp6Has reports whether /proc/net/igmp6 in ns lists group on dev.
func igmp6Has(t *testing.T, ns, dev string, group netip.Addr) bool {
	t.Helper()
	out := run(t, "ip", "netns", "exec", ns, "cat", "/proc/net/igmp6")
	g := group.As16()
	hex := strings.ToLower(strings.NewReplacer(":", "").Replace(netip.AddrFrom16(g).StringExpanded()))
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == dev && f[2] == hex {
			return true
		}
	}
	return false
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

func TestNDPE2E(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	router, host, g1 := ndpTopology(t)
	hostMAC := linkMAC(t, host, "eth0").String()
	dir := t.TempDir()
	sock, pcap := filepath.Join(dir, "m.sock"), filepath.Join(dir, "uplink.pcapng")
	d := startDaemon(t, host, bin, "serve", "--uplink", "eth0", "--log-format", "json", "--garp-interval", "200ms", "--metrics-listen", sock, "--pcap", pcap)

	t.Run("the router's kernel pings the guest through proxyarp's advertisement", func(t *testing.T) {
		var out string
		var err error
		if !eventually(readyTimeout, func() bool { out, err = ping6(router, guest6IP); return err == nil }) {
			t.Fatalf("router ping -6 %s failed for %v after the daemon started (running: %v): %v\n%s", guest6IP, readyTimeout, d.running(), err, out)
		}
		if n := neigh6(t, router, guest6IP); !strings.Contains(n, "lladdr "+hostMAC) {
			t.Errorf("router's neighbour entry for %s = %q, want lladdr %s (the host's uplink MAC)", guest6IP, n, hostMAC)
		}
	})

	t.Run("the guest's solicited-node group is joined on the uplink", func(t *testing.T) {
		if g := solicitedNode(guest6IP); !igmp6Has(t, host, "eth0", g) {
			t.Errorf("/proc/net/igmp6 in the host does not list %s on eth0:\n%s", g, run(t, "ip", "netns", "exec", host, "cat", "/proc/net/igmp6"))
		}
	})

	t.Run("status, metrics and explain show the IPv6 address", func(t *testing.T) {
		waitHealthy(t, sock, d)
		out, err := exec.Command(bin, "status", "--metrics-addr", sock).CombinedOutput()
		if err != nil {
			t.Fatalf("proxyarp status: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), guest6IP.String()) || !strings.Contains(string(out), "vif1.0") {
			t.Errorf("proxyarp status does not show %s on vif1.0:\n%s", guest6IP, out)
		}
		mfs := scrapeMetrics(t, sock)
		for _, c := range []struct {
			name string
			min  float64
		}{{"proxyarp_owned_addresses", 1}, {"proxyarp_replies_sent_total", 1}, {"proxyarp_requests_total", 1}} {
			if v, ok := sample(mfs, c.name, "", ""); !ok || v < c.min {
				t.Errorf("%s = %v (present %v), want at least %v", c.name, v, ok, c.min)
			}
		}
		cmd := exec.Command("ip", "netns", "exec", host, bin, "explain", guest6IP.String())
		eout, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 0 || !strings.Contains(string(eout), "/128 is routed") {
			t.Errorf("explain %s: exit %d\n%s", guest6IP, cmd.ProcessState.ExitCode(), eout)
		}
	})

	t.Run("an address nobody routes gets no advertisement", func(t *testing.T) {
		if out, err := ping6(router, unowned6); err == nil {
			t.Errorf("router ping -6 %s succeeded, want failure:\n%s", unowned6, out)
		}
		if n := neigh6(t, router, unowned6); strings.Contains(n, "lladdr") {
			t.Errorf("router's neighbour entry for %s = %q, want no link-layer address (FAILED or INCOMPLETE)", unowned6, n)
		}
	})

	t.Run("a route added at run time is announced and answered, a removed one no longer", func(t *testing.T) {
		// The router holds a stale entry for the address elsewhere (a
		// guest migrating here): the unsolicited advertisement, with
		// Override, must move it to the host's MAC without any ping.
		const elsewhere = "02:00:5e:10:00:99"
		ipn(t, router, "-6", "neigh", "replace", late6IP.String(), "lladdr", elsewhere, "dev", "eth0", "nud", "stale")
		ipn(t, g1, "addr", "add", late6IP.String()+"/128", "dev", "eth0", "nodad")
		ipn(t, host, "-6", "route", "add", late6IP.String()+"/128", "dev", "vif1.0")
		if !eventually(3*time.Second, func() bool { return strings.Contains(neigh6(t, router, late6IP), "lladdr "+hostMAC) }) {
			t.Errorf("router's entry for %s = %q 3 s after the route was added, want lladdr %s (an unsolicited advertisement)", late6IP, neigh6(t, router, late6IP), hostMAC)
		}
		if g := solicitedNode(late6IP); !eventually(2*time.Second, func() bool { return igmp6Has(t, host, "eth0", g) }) {
			t.Errorf("/proc/net/igmp6 does not list %s on eth0 after the route was added", g)
		}
		ipn(t, router, "-6", "neigh", "flush", "dev", "eth0")
		if out, err := ping6(router, late6IP); err != nil {
			t.Errorf("router ping -6 %s after its route was added: %v\n%s", late6IP, err, out)
		}

		ipn(t, host, "-6", "route", "del", late6IP.String()+"/128", "dev", "vif1.0")
		if g := solicitedNode(late6IP); !eventually(2*time.Second, func() bool { return !igmp6Has(t, host, "eth0", g) }) {
			t.Errorf("/proc/net/igmp6 still lists %s on eth0 after the route was removed", g)
		}
		ipn(t, router, "-6", "neigh", "flush", "dev", "eth0")
		if out, err := ping6(router, late6IP); err == nil {
			t.Errorf("router ping -6 %s succeeded after its route was removed:\n%s", late6IP, out)
		}
		if n := neigh6(t, router, late6IP); strings.Contains(n, "lladdr") {
			t.Errorf("router's neighbour entry for %s = %q after the route was removed, want no link-layer address", late6IP, n)
		}
	})

	t.Run("the start-up log says the NDP socket is attached", func(t *testing.T) {
		out := d.out.String()
		if !strings.Contains(out, `"msg":"uplink attached"`) || !strings.Contains(out, `"ndp":true`) {
			t.Errorf("no uplink attached line with ndp=true in the log:\n%s", out)
		}
	})

	t.Run("the capture replays with the recorded IPv6 decisions", func(t *testing.T) {
		if code, inTime := d.stop(t, syscall.SIGTERM); code != 0 || !inTime {
			t.Fatalf("SIGTERM: exit %d (in time %v)", code, inTime)
		}
		out, err := exec.Command(bin, "replay", pcap, "--verify").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "0 differences") {
			t.Errorf("replay --verify: %v\n%s", err, out)
		}
		// The router's solicitation answered, and our own advertisements
		// shown with the uplink's MAC and addresses, not as invalid.
		for _, want := range []string{router6IP.String() + " > " + guest6IP.String() + " answer", "outgoing " + hostMAC + " " + guest6IP.String() + " > " + router6IP.String()} {
			if !strings.Contains(string(out), want) {
				t.Errorf("replay does not show %q:\n%s", want, out)
			}
		}
		if strings.Contains(string(out), "invalid IP") {
			t.Errorf("replay shows an invalid IP:\n%s", out)
		}

		// Without the recorded state, against the host's live kernel:
		// the guest's /128 route is still there.
		bare := filepath.Join(dir, "bare.pcapng")
		run(t, "cp", pcap, bare)
		out, err = exec.Command("ip", "netns", "exec", host, bin, "replay", bare, "--uplink", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), router6IP.String()+" > "+guest6IP.String()+" answer") ||
			!strings.Contains(string(out), router6IP.String()+" > "+unowned6.String()+" drop (not-owned)") {
			t.Errorf("replay from the live kernel: %v\n%s", err, out)
		}
	})
}

// TestNDPE2EOff: with --ndp=false the router's solicitations go unanswered,
// ARP is unaffected (covered by TestE2E) and the log says why once.
func TestNDPE2EOff(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	router, host, _ := ndpTopology(t)
	d := startDaemon(t, host, bin, "serve", "--uplink", "eth0", "--ndp=false", "--log-format", "json")
	if !eventually(readyTimeout, func() bool { return strings.Contains(d.out.String(), `"msg":"uplink attached"`) }) {
		t.Fatalf("the daemon did not attach within %v:\n%s", readyTimeout, d.out.String())
	}
	if out, err := ping6(router, guest6IP); err == nil {
		t.Errorf("router ping -6 %s succeeded with --ndp=false:\n%s", guest6IP, out)
	}
	if g := solicitedNode(guest6IP); igmp6Has(t, host, "eth0", g) {
		t.Errorf("/proc/net/igmp6 lists %s on eth0 with --ndp=false", g)
	}
}

// TestNDPE2EDefendDAD: with --defend-dad, a machine on the uplink that
// tries to take a guest's address fails its duplicate address detection
// (the router's own kernel marks the address dadfailed); an address nobody
// owns passes it.
func TestNDPE2EDefendDAD(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	router, host, _ := ndpTopology(t)
	d := startDaemon(t, host, bin, "serve", "--uplink", "eth0", "--defend-dad", "--log-format", "json")
	if !eventually(readyTimeout, func() bool { _, err := ping6(router, guest6IP); return err == nil }) {
		t.Fatalf("router cannot reach %s through proxyarp (running: %v)", guest6IP, d.running())
	}
	setSysctl(t, router, "net/ipv6/conf/eth0/accept_dad", "1")
	setSysctl(t, router, "net/ipv6/conf/eth0/dad_transmits", "1")
	free := netip.MustParseAddr("2001:db8:1::77")
	for _, a := range []netip.Addr{guest6IP, free} {
		ipn(t, router, "addr", "add", a.String()+"/64", "dev", "eth0") // with DAD
	}
	state := func(a netip.Addr) string {
		return ipn(t, router, "-6", "addr", "show", "dev", "eth0", "to", a.String()+"/128")
	}
	if !eventually(5*time.Second, func() bool { return strings.Contains(state(guest6IP), "dadfailed") }) {
		t.Errorf("the router's DAD for %s (a guest's address) did not fail:\n%s", guest6IP, state(guest6IP))
	}
	if !eventually(5*time.Second, func() bool { s := state(free); return s != "" && !strings.Contains(s, "tentative") }) {
		t.Errorf("the router's DAD for %s (nobody's) did not complete:\n%s", free, state(free))
	}
	if strings.Contains(state(free), "dadfailed") {
		t.Errorf("DAD for %s (nobody's) failed:\n%s", free, state(free))
	}
}
