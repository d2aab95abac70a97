package main

// End-to-end tests of `proxyarp serve` against the CLI contract, in network
// namespaces (see netns_test.go). Run as root:
//
//	go test -race -count=1 -run E2E -v ./cmd/proxyarp/
//
// The product binary is built from this package (with -race when the tests
// are). The topology is the seed page's: router eth0 192.0.2.254/24 <-> host
// eth0 192.0.2.1/24 (the uplink, kernel proxy_arp off), guests g1 192.0.2.2
// and g2 192.0.2.3 behind vif1.0 and vif2.0 with /32 routes, plus a second
// uplink eth1 (198.51.100.1/24) and links tap3 and eth2 to an "other"
// namespace for the routes proxyarp must or must not answer for. Requests are
// crafted and replies read with a packet socket in the router namespace;
// "not answered" means no reply from the host's MAC within 500 ms, and
// state changes must show within 1 s (a functional deadline, not a speed
// claim).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds the wait for a freshly started daemon to answer; a
// -race build on a busy 2-core machine starts in well under a second.
const readyTimeout = 10 * time.Second

const replyWindow = 500 * time.Millisecond

// TestE2E runs the seed topology with one proxyarp daemon; subtests restore
// whatever state they change.
func TestE2E(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	tp := newTopology(t, topoOptions{uplink: true, guest2: true, otherLinks: true})
	d := startDaemon(t, tp.host, bin, "serve", "--uplink", "eth0", "--log-format", "json")
	{
		p := openProbe(t, tp.router, "eth0", routerIP)
		if !p.waitAnswered(t, guest1IP, tp.hostMAC(t), true, readyTimeout) {
			t.Fatalf("proxyarp did not answer for %s within %v of its start (running: %v)", guest1IP, readyTimeout, d.running())
		}
		p.conn.Close() // each subtest opens its own
	}

	t.Run("the router reaches both guests by ping through its own ARP", func(t *testing.T) {
		hostMAC := tp.hostMAC(t)
		for _, g := range []netip.Addr{guest1IP, guest2IP} {
			ipn(t, tp.router, "neigh", "flush", "dev", "eth0")
			if err := pingFrom(tp.router, g, 2*time.Second); err != nil {
				t.Errorf("router ping %s: %v", g, err)
				continue
			}
			neigh := ipn(t, tp.router, "neigh", "show", g.String(), "dev", "eth0")
			if !strings.Contains(neigh, hostMAC.String()) {
				t.Errorf("router's neighbour entry for %s = %q, want lladdr %s (the host's uplink MAC)", g, strings.TrimSpace(neigh), hostMAC)
			}
		}
	})

	t.Run("requests proxyarp must not answer get no reply", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		cases := []struct {
			name   string
			target string
			opt    askOptions
		}{
			// Routing: kernel proxy_arp answers the first three.
			{"an address routed out a second uplink", "192.0.2.50", askOptions{}},
			{"an address routed via a gateway on a second uplink", "192.0.2.61", askOptions{}},
			{"an address covered only by the default route", "203.0.113.9", askOptions{}},
			{"an address routed back out the uplink", "192.0.2.70", askOptions{}},
			{"an unrouted address of the block", "192.0.2.99", askOptions{}},
			{"a blackholed address", "192.0.2.80", askOptions{}},
			{"an address routed to an interface outside the guest globs", "192.0.2.90", askOptions{}},
			{"an address whose lowest-metric route is not via a guest", "192.0.2.5", askOptions{}},
			{"an address with a multipath route with a non-guest nexthop", "192.0.2.8", askOptions{}},
			{"an address routed to a guest in another table", "192.0.2.92", askOptions{}},
			{"an address inside a /30 routed to a guest", "192.0.2.101", askOptions{}},
			// Frames: an owned address, asked the wrong way.
			{"a VLAN-tagged request for a guest address", guest1IP.String(), askOptions{vlan: 100}},
			{"a unicast request for a guest address sent to another MAC", guest1IP.String(),
				askOptions{dst: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}}},
			{"an address probe (sender 0.0.0.0) for a guest address", guest1IP.String(),
				askOptions{senderIP: netip.IPv4Unspecified()}},
			{"a gratuitous request (sender IP = target IP) for a guest address", guest1IP.String(),
				askOptions{senderIP: guest1IP}},
			{"an ARP reply (op 2) about a guest address", guest1IP.String(), askOptions{op: 2}},
			{"a request whose ARP sender MAC differs from its Ethernet source", guest1IP.String(),
				askOptions{sha: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				target := netip.MustParseAddr(c.target)
				if n := len(p.ask(t, target, hostMAC, replyWindow, c.opt)); n != 0 {
					t.Errorf("request for %s (%+v): %d replies from the host's MAC within %v, want 0", target, c.opt, n, replyWindow)
				}
			})
		}
	})

	t.Run("the host's own addresses are answered by the kernel only", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		// 192.0.2.7 is on eth2 and also has a /32 route via vif1.0.
		for _, a := range []netip.Addr{hostIP, netip.MustParseAddr("192.0.2.7")} {
			if n := len(p.ask(t, a, hostMAC, replyWindow, askOptions{})); n != 1 {
				t.Errorf("request for the host's own %s: %d replies within %v, want exactly 1 (the kernel's)", a, n, replyWindow)
			}
		}
	})

	t.Run("a guest address is answered with the uplink MAC", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		t.Run("broadcast request", func(t *testing.T) {
			replies := p.ask(t, guest1IP, hostMAC, replyWindow, askOptions{})
			if len(replies) != 1 {
				t.Fatalf("broadcast request for %s: %d replies within %v, want exactly 1", guest1IP, len(replies), replyWindow)
			}
			checkReply(t, replies[0], hostMAC, guest1IP, p.mac, p.ip)
		})
		t.Run("unicast request to the uplink MAC", func(t *testing.T) {
			replies := p.ask(t, guest2IP, hostMAC, replyWindow, askOptions{dst: hostMAC})
			if len(replies) != 1 {
				t.Fatalf("unicast request for %s: %d replies within %v, want exactly 1", guest2IP, len(replies), replyWindow)
			}
			checkReply(t, replies[0], hostMAC, guest2IP, p.mac, p.ip)
		})
		for _, c := range []struct{ name, target string }{
			{"an address routed to a tap* interface", "192.0.2.91"},
			{"an address whose lowest-metric route is via a guest", "192.0.2.6"},
			{"an address with a multipath route over two guests", "192.0.2.9"},
		} {
			t.Run(c.name, func(t *testing.T) {
				target := netip.MustParseAddr(c.target)
				if n := len(p.ask(t, target, hostMAC, replyWindow, askOptions{})); n != 1 {
					t.Errorf("request for %s: %d replies within %v, want exactly 1", target, n, replyWindow)
				}
			})
		}
		t.Run("a burst of 50 back-to-back requests gets 50 replies", func(t *testing.T) {
			p.drain()
			req := p.request(guest1IP, askOptions{})
			burst := make([]arpFrame, 50)
			for i := range burst {
				burst[i] = req
			}
			p.send(t, burst...)
			if n := len(p.collect(t, req, hostMAC, time.Second)); n != len(burst) {
				t.Errorf("%d replies to %d requests within 1 s, want one each", n, len(burst))
			}
		})
	})

	t.Run("a route added at run time is answered and stops being answered when removed", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		target := netip.MustParseAddr("192.0.2.4")
		if n := len(p.ask(t, target, hostMAC, replyWindow, askOptions{})); n != 0 {
			t.Fatalf("%s answered (%d replies) before its route exists", target, n)
		}
		ipn(t, tp.host, "route", "add", "192.0.2.4/32", "dev", "vif1.0", "src", hostIP.String())
		t.Cleanup(func() { _, _ = tryRun("ip", "-n", tp.host, "route", "del", "192.0.2.4/32") })
		if !p.waitAnswered(t, target, hostMAC, true, time.Second) {
			t.Fatalf("%s not answered within 1 s of `ip route add 192.0.2.4/32 dev vif1.0`", target)
		}
		ipn(t, tp.host, "route", "del", "192.0.2.4/32", "dev", "vif1.0")
		if !p.waitAnswered(t, target, hostMAC, false, time.Second) {
			t.Fatalf("%s still answered 1 s after its route was removed", target)
		}
	})

	t.Run("a route added at run time is announced by gratuitous ARP", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		target := netip.MustParseAddr("192.0.2.5")
		p.drain()
		ipn(t, tp.host, "route", "add", "192.0.2.5/32", "dev", "vif1.0", "src", hostIP.String())
		t.Cleanup(func() { _, _ = tryRun("ip", "-n", tp.host, "route", "del", "192.0.2.5/32") })
		// serve's default: 3 announcements 1 s apart, the first at once.
		var seen []time.Time
		buf := make([]byte, 2048)
		deadline := time.Now().Add(3500 * time.Millisecond)
		for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
			if err := p.conn.SetReadDeadline(deadline); err != nil {
				t.Fatalf("SetReadDeadline: %v", err)
			}
			n, _, err := p.conn.ReadFrom(buf)
			if err != nil {
				break
			}
			f, ok := parseARP(buf[:n])
			if !ok || f.op != 1 || f.spa != target || f.tpa != target {
				continue
			}
			if !bytes.Equal(f.ethSrc, hostMAC) || !bytes.Equal(f.sha, hostMAC) || !bytes.Equal(f.ethDst, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
				t.Errorf("announcement from %v (sender %v) to %v, want from the uplink %v to broadcast", f.ethSrc, f.sha, f.ethDst, hostMAC)
			}
			seen = append(seen, time.Now())
		}
		if len(seen) != 3 {
			t.Fatalf("%d gratuitous ARPs for %s within 3.5 s of its route appearing, want 3", len(seen), target)
		}
		if gap := seen[1].Sub(seen[0]); gap < 500*time.Millisecond {
			t.Errorf("announcements %v apart, want about --garp-interval (1s)", gap)
		}
	})

	t.Run("a guest whose link lost carrier is not answered until carrier returns", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		restore := func() {
			_, _ = tryRun("ip", "-n", tp.g1, "link", "set", "eth0", "up")
			// Setting the guest's link down flushed its default route.
			_, _ = tryRun("ip", "-n", tp.g1, "route", "replace", "default", "via", hostIP.String(), "dev", "eth0", "onlink")
		}
		t.Cleanup(restore)
		ipn(t, tp.g1, "link", "set", "eth0", "down") // vif1.0 loses carrier
		if !p.waitAnswered(t, guest1IP, hostMAC, false, time.Second) {
			t.Fatalf("%s still answered 1 s after vif1.0 lost carrier", guest1IP)
		}
		if n := len(p.ask(t, guest2IP, hostMAC, replyWindow, askOptions{})); n != 1 {
			t.Errorf("%s (other guest, carrier intact): %d replies, want 1", guest2IP, n)
		}
		if n := len(p.ask(t, netip.MustParseAddr("192.0.2.9"), hostMAC, replyWindow, askOptions{})); n != 0 {
			t.Errorf("192.0.2.9 (multipath over vif1.0 and vif2.0): %d replies while vif1.0 has no carrier, want 0", n)
		}
		restore()
		if !p.waitAnswered(t, guest1IP, hostMAC, true, 2*time.Second) {
			t.Fatalf("%s not answered within 2 s of vif1.0 regaining carrier", guest1IP)
		}
	})

	t.Run("removing a lower-metric non-guest route makes the guest route count", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		target := netip.MustParseAddr("192.0.2.5") // eth1 metric 5, vif1.0 metric 10
		restore := []string{"-n", tp.host, "route", "replace", "192.0.2.5/32", "dev", "eth1", "metric", "5"}
		t.Cleanup(func() { _, _ = tryRun("ip", restore...) })
		ipn(t, tp.host, "route", "del", "192.0.2.5/32", "dev", "eth1", "metric", "5")
		if !p.waitAnswered(t, target, hostMAC, true, time.Second) {
			t.Fatalf("%s not answered within 1 s of its lower-metric eth1 route's removal", target)
		}
		run(t, "ip", restore...)
		if !p.waitAnswered(t, target, hostMAC, false, time.Second) {
			t.Fatalf("%s still answered 1 s after a lower-metric eth1 route was added back", target)
		}
	})

	t.Run("a route replaced to leave through a non-guest is no longer answered", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		restore := []string{"-n", tp.host, "route", "replace", guest2IP.String() + "/32", "dev", "vif2.0", "src", hostIP.String()}
		t.Cleanup(func() { _, _ = tryRun("ip", restore...) })
		ipn(t, tp.host, "route", "replace", guest2IP.String()+"/32", "dev", "eth1")
		if !p.waitAnswered(t, guest2IP, hostMAC, false, time.Second) {
			t.Fatalf("%s still answered 1 s after `ip route replace %s/32 dev eth1`", guest2IP, guest2IP)
		}
		run(t, "ip", restore...)
		if !p.waitAnswered(t, guest2IP, hostMAC, true, time.Second) {
			t.Fatalf("%s not answered within 1 s of its route being replaced back via vif2.0", guest2IP)
		}
	})

	t.Run("an address that becomes a host address is left to the kernel", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		target := netip.MustParseAddr("192.0.2.6") // lowest-metric route via vif1.0
		t.Cleanup(func() { _, _ = tryRun("ip", "-n", tp.host, "addr", "del", "192.0.2.6/32", "dev", "eth2") })
		ipn(t, tp.host, "addr", "add", "192.0.2.6/32", "dev", "eth2")
		if got, ok := p.waitReplies(t, target, hostMAC, 1, time.Second); !ok {
			t.Fatalf("%s, now a host address: %d replies 1 s after `ip addr add`, want exactly 1 (the kernel's)", target, got)
		}
		ipn(t, tp.host, "addr", "del", "192.0.2.6/32", "dev", "eth2")
		if got, ok := p.waitReplies(t, target, hostMAC, 1, time.Second); !ok {
			t.Fatalf("%s, no longer a host address: %d replies 1 s after `ip addr del`, want exactly 1 (proxyarp's)", target, got)
		}
	})

	t.Run("a guest interface deleted and re-created is followed", func(t *testing.T) {
		// What a Xen domain restart does: the vif goes away with its routes
		// (flushed by the kernel without RTM_DELROUTE) and comes back.
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		ipn(t, tp.host, "link", "del", "vif2.0") // and g2's eth0 with it
		if !p.waitAnswered(t, guest2IP, hostMAC, false, time.Second) {
			t.Fatalf("%s still answered 1 s after vif2.0 was deleted", guest2IP)
		}
		if n := len(p.ask(t, netip.MustParseAddr("192.0.2.9"), hostMAC, replyWindow, askOptions{})); n != 0 {
			t.Errorf("192.0.2.9 (multipath, one nexthop was vif2.0): %d replies after vif2.0 was deleted, want 0", n)
		}
		tp.addGuest(t, tp.g2, "vif2.0", guest2IP, true)
		ipn(t, tp.host, "route", "replace", "192.0.2.9/32", "nexthop", "dev", "vif1.0", "nexthop", "dev", "vif2.0")
		if !p.waitAnswered(t, guest2IP, hostMAC, true, time.Second) {
			t.Fatalf("%s not answered within 1 s of vif2.0 and its route coming back", guest2IP)
		}
		if err := pingFrom(tp.router, guest2IP, 2*time.Second); err != nil {
			t.Errorf("router ping %s after the re-creation: %v", guest2IP, err)
		}
	})

	t.Run("hundreds of routes added and deleted at once are followed", func(t *testing.T) {
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		var targets []netip.Addr
		for i := 0; i < 256; i++ {
			targets = append(targets, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
		}
		for i := 128; i <= 250; i++ {
			targets = append(targets, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
		}
		// batch runs `ip -batch` with one route command per target; with
		// force, errors (already deleted) are ignored.
		dir := t.TempDir()
		batch := func(verb string, force bool) (string, error) {
			var b strings.Builder
			for _, a := range targets {
				b.WriteString("route " + verb + " " + a.String() + "/32 dev vif1.0\n")
			}
			file := filepath.Join(dir, verb+".batch")
			if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
				return "", err
			}
			args := []string{"-n", tp.host, "-batch", file}
			if force {
				args = append([]string{"-force"}, args...)
			}
			return tryRun("ip", args...)
		}
		t.Cleanup(func() { _, _ = batch("del", true) })
		if out, err := batch("add", false); err != nil {
			t.Fatalf("ip -batch (route add): %v\n%s", err, out)
		}
		samples := []netip.Addr{targets[0], targets[200], targets[len(targets)-1]}
		for _, a := range samples {
			if !p.waitAnswered(t, a, hostMAC, true, 2*time.Second) {
				t.Fatalf("%s not answered within 2 s of adding %d routes in one batch", a, len(targets))
			}
		}
		if out, err := batch("del", false); err != nil {
			t.Fatalf("ip -batch (route del): %v\n%s", err, out)
		}
		for _, a := range samples {
			if !p.waitAnswered(t, a, hostMAC, false, 2*time.Second) {
				t.Fatalf("%s still answered 2 s after deleting %d routes in one batch", a, len(targets))
			}
		}
	})

	t.Run("a MAC address change on the uplink is followed", func(t *testing.T) {
		// A bond failing over, or an operator setting a MAC: replies with the
		// old MAC would send the router's traffic nowhere.
		p := openProbe(t, tp.router, "eth0", routerIP)
		oldMAC := tp.hostMAC(t)
		newMAC := net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x01, 0x01}
		ipn(t, tp.host, "link", "set", "eth0", "address", newMAC.String())
		if !p.waitAnswered(t, guest1IP, newMAC, true, 2*time.Second) {
			n := len(p.ask(t, guest1IP, oldMAC, replyWindow, askOptions{}))
			t.Fatalf("%s not answered with the uplink's new MAC %s within 2 s of `ip link set eth0 address` (%d replies with the old %s)", guest1IP, newMAC, n, oldMAC)
		}
		replies := p.ask(t, guest2IP, newMAC, replyWindow, askOptions{dst: newMAC})
		if len(replies) != 1 {
			t.Fatalf("unicast request to the new MAC for %s: %d replies, want 1", guest2IP, len(replies))
		}
		checkReply(t, replies[0], newMAC, guest2IP, p.mac, p.ip)
	})

	t.Run("an uplink set down and up again is answered on again", func(t *testing.T) {
		ipn(t, tp.host, "link", "set", "eth0", "down")
		t.Cleanup(func() {
			_, _ = tryRun("ip", "-n", tp.host, "link", "set", "eth0", "up")
			// Down removed the routes through eth0.
			_, _ = tryRun("ip", "-n", tp.host, "route", "replace", "192.0.2.70/32", "dev", "eth0")
		})
		time.Sleep(300 * time.Millisecond)
		if !d.running() {
			t.Fatalf("proxyarp exited when its uplink went down")
		}
		ipn(t, tp.host, "link", "set", "eth0", "up")
		p := openProbe(t, tp.router, "eth0", routerIP)
		if !p.waitAnswered(t, guest1IP, tp.hostMAC(t), true, 5*time.Second) {
			t.Fatalf("%s not answered within 5 s of the uplink coming back up", guest1IP)
		}
	})

	t.Run("an uplink deleted and re-created is re-attached", func(t *testing.T) {
		ipn(t, tp.host, "link", "del", "eth0") // takes the router's end with it
		time.Sleep(300 * time.Millisecond)     // let proxyarp see the link go
		if !d.running() {
			t.Fatalf("proxyarp exited when its uplink was deleted")
		}
		tp.createUplink(t)
		// Deleting 192.0.2.1 made the kernel flush, without RTM_DELROUTE,
		// every route with "src 192.0.2.1": both guest routes are gone. Put
		// back g2's (and the uplink's /32) as an operator would, g1's later.
		ipn(t, tp.host, "route", "replace", guest2IP.String()+"/32", "dev", "vif2.0", "src", hostIP.String())
		ipn(t, tp.host, "route", "replace", "192.0.2.70/32", "dev", "eth0")
		p := openProbe(t, tp.router, "eth0", routerIP)
		hostMAC := tp.hostMAC(t)
		if !p.waitAnswered(t, guest2IP, hostMAC, true, 5*time.Second) {
			t.Fatalf("%s not answered within 5 s of the uplink's re-creation", guest2IP)
		}
		if !d.running() {
			t.Fatalf("proxyarp is no longer running")
		}
		if out := ipn(t, tp.host, "route", "show", guest1IP.String()+"/32"); strings.TrimSpace(out) != "" {
			t.Fatalf("kernel kept the route %q: this test's premise is wrong", out)
		}
		if n := len(p.ask(t, guest1IP, hostMAC, replyWindow, askOptions{})); n != 0 {
			t.Errorf("%s answered (%d replies) although its route was flushed with the uplink's address", guest1IP, n)
		}
		ipn(t, tp.host, "route", "replace", guest1IP.String()+"/32", "dev", "vif1.0", "src", hostIP.String())
		if !p.waitAnswered(t, guest1IP, hostMAC, true, time.Second) {
			t.Fatalf("%s not answered within 1 s of its route's re-creation", guest1IP)
		}
		if replies := p.ask(t, guest1IP, hostMAC, replyWindow, askOptions{}); len(replies) != 1 {
			t.Errorf("request for %s after re-attach: %d replies, want 1", guest1IP, len(replies))
		} else {
			checkReply(t, replies[0], hostMAC, guest1IP, p.mac, p.ip) // the new uplink's MAC
		}
		if err := pingFrom(tp.router, guest2IP, 2*time.Second); err != nil {
			t.Errorf("router ping %s over the re-created uplink: %v", guest2IP, err)
		}
	})

	t.Run("SIGTERM stops it with exit code 0", func(t *testing.T) {
		if !d.running() {
			t.Fatalf("proxyarp already exited: %v", d.err)
		}
		code, inTime := d.stop(t, syscall.SIGTERM)
		if !inTime {
			t.Fatalf("proxyarp did not exit within %v of SIGTERM (killed)", stopTimeout)
		}
		if code != 0 {
			t.Errorf("exit code after SIGTERM = %d, want 0", code)
		}
	})

	t.Run("with --log-format json every output line is a JSON object", func(t *testing.T) {
		out := strings.TrimSpace(d.out.String())
		if out == "" {
			t.Fatalf("proxyarp logged nothing")
		}
		for i, line := range strings.Split(out, "\n") {
			var obj map[string]any
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Errorf("output line %d is not a JSON object: %v: %q", i+1, err, line)
			}
		}
	})
}

func checkReply(t *testing.T, r arpReply, hostMAC net.HardwareAddr, target netip.Addr, reqMAC net.HardwareAddr, reqIP netip.Addr) {
	t.Helper()
	if !bytes.Equal(r.ethDst, reqMAC) {
		t.Errorf("eth dst = %s, want the requester's %s", r.ethDst, reqMAC)
	}
	if !bytes.Equal(r.ethSrc, hostMAC) {
		t.Errorf("eth src = %s, want the uplink's %s", r.ethSrc, hostMAC)
	}
	if r.ethType != 0x0806 {
		t.Errorf("ethertype = %#04x, want 0x0806", r.ethType)
	}
	if r.htype != 1 || r.ptype != 0x0800 || r.hlen != 6 || r.plen != 4 {
		t.Errorf("ARP header htype %d ptype %#04x hlen %d plen %d, want 1 0x0800 6 4", r.htype, r.ptype, r.hlen, r.plen)
	}
	if r.op != 2 {
		t.Errorf("op = %d, want 2 (reply)", r.op)
	}
	if !bytes.Equal(r.sha, hostMAC) || r.spa != target {
		t.Errorf("sender = (%s, %s), want (%s, %s)", r.sha, r.spa, hostMAC, target)
	}
	if !bytes.Equal(r.tha, reqMAC) || r.tpa != reqIP {
		t.Errorf("target = (%s, %s), want (%s, %s)", r.tha, r.tpa, reqMAC, reqIP)
	}
	if len(r.frame) != 60 {
		t.Errorf("frame length = %d, want 60 (padded to the Ethernet minimum)", len(r.frame))
	} else if !bytes.Equal(r.frame[42:], make([]byte, 18)) {
		t.Errorf("padding = %x, want zeros", r.frame[42:])
	}
}

// TestE2EUplinkMissingAtStart starts the daemon before its uplink exists.
func TestE2EUplinkMissingAtStart(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	tp := newTopology(t, topoOptions{})
	d := startDaemon(t, tp.host, bin, "serve", "--uplink", "eth0", "--log-format", "json")

	t.Run("it logs and waits for the missing uplink", func(t *testing.T) {
		deadline := time.Now().Add(3 * time.Second)
		for i := 0; i < 300 && d.out.String() == "" && d.running() && time.Now().Before(deadline); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // still waiting, not exiting
		if !d.running() {
			t.Fatalf("proxyarp exited while its uplink was missing: %v", d.err)
		}
		if strings.TrimSpace(d.out.String()) == "" {
			t.Errorf("proxyarp logged nothing within 3 s while waiting for its missing uplink")
		}
	})

	t.Run("it answers once the uplink appears", func(t *testing.T) {
		tp.createUplink(t)
		p := openProbe(t, tp.router, "eth0", routerIP)
		if !p.waitAnswered(t, guest1IP, tp.hostMAC(t), true, 5*time.Second) {
			t.Fatalf("%s not answered within 5 s of the uplink's creation (running: %v)", guest1IP, d.running())
		}
	})

	t.Run("SIGTERM while still waiting for a missing uplink exits 0", func(t *testing.T) {
		// A second daemon on an uplink that never appears: it never answers.
		w := startDaemon(t, tp.host, bin, "serve", "--uplink", "nosuch0")
		for i := 0; i < 200 && w.running() && !strings.Contains(w.out.String(), "waiting for uplink"); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if !w.running() {
			t.Fatalf("proxyarp --uplink nosuch0 exited instead of waiting: %v", w.err)
		}
		code, inTime := w.stop(t, syscall.SIGTERM)
		if !inTime {
			t.Fatalf("proxyarp waiting for its uplink did not exit within %v of SIGTERM (killed)", stopTimeout)
		}
		if code != 0 {
			t.Errorf("exit code after SIGTERM while waiting = %d, want 0", code)
		}
	})

	t.Run("SIGINT stops it with exit code 0", func(t *testing.T) {
		code, inTime := d.stop(t, syscall.SIGINT)
		if !inTime {
			t.Fatalf("proxyarp did not exit within %v of SIGINT (killed)", stopTimeout)
		}
		if code != 0 {
			t.Errorf("exit code after SIGINT = %d, want 0", code)
		}
	})
}

// TestE2EFlags checks that --allow and --guest-ifaces narrow the answers.
func TestE2EFlags(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	tp := newTopology(t, topoOptions{uplink: true, otherLinks: true})
	d := startDaemon(t, tp.host, bin, "serve", "--uplink", "eth0",
		"--allow", "192.0.2.0/30,192.0.2.88/29", "--guest-ifaces", "vif*", "--log-format", "text")
	p := openProbe(t, tp.router, "eth0", routerIP)
	hostMAC := tp.hostMAC(t)
	if !p.waitAnswered(t, guest1IP, hostMAC, true, readyTimeout) {
		t.Fatalf("%s (vif1.0, inside --allow) not answered within %v of the start (running: %v)", guest1IP, readyTimeout, d.running())
	}
	for _, c := range []struct{ name, target string }{
		{"an address routed to a guest outside --allow is not answered", "192.0.2.6"},
		{"an address routed to tap3, outside --guest-ifaces vif*, is not answered", "192.0.2.91"},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := netip.MustParseAddr(c.target)
			if n := len(p.ask(t, target, hostMAC, replyWindow, askOptions{})); n != 0 {
				t.Errorf("request for %s: %d replies within %v, want 0", target, n, replyWindow)
			}
		})
	}
}

// TestE2ECLI checks usage errors. It needs no root and no namespace: every
// invocation names an uplink that does not exist, so even a daemon that
// wrongly accepted its flags would only wait (and be killed), never open a
// socket on a real interface.
func TestE2ECLI(t *testing.T) {
	skipShort(t)
	t.Parallel()
	bin := buildBinary(t)
	const noLink = "pxr-e2e-nolink"
	cases := []struct {
		name    string
		args    []string
		oneLine string // when set, stderr must be exactly one line containing it
	}{
		{"a malformed allow prefix exits 2 naming it on one stderr line",
			[]string{"serve", "--uplink", noLink, "--allow", "192.0.2.999/32"}, "192.0.2.999/32"},
		{"an unknown flag exits 2", []string{"serve", "--uplink", noLink, "--no-such-flag"}, ""},
		{"a malformed guest-ifaces glob exits 2", []string{"serve", "--uplink", noLink, "--guest-ifaces", "["}, ""},
		{"an unknown log format exits 2", []string{"serve", "--uplink", noLink, "--log-format", "xml"}, ""},
		{"serve without an uplink exits 2", []string{"serve"}, ""},
		{"an unknown command exits 2", []string{"no-such-command"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, c.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("proxyarp %q did not exit within 10 s (killed)", c.args)
			}
			var ee *exec.ExitError
			code := 0
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("running proxyarp %q: %v", c.args, err)
			}
			if code != 2 {
				t.Errorf("proxyarp %q exit code = %d, want 2\nstdout: %s\nstderr: %s", c.args, code, stdout.String(), stderr.String())
			}
			if c.oneLine != "" {
				lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], c.oneLine) {
					t.Errorf("proxyarp %q stderr = %q, want one line naming %q", c.args, stderr.String(), c.oneLine)
				}
			}
		})
	}
}

// TestE2EWithoutPrivilege runs serve as nobody: it must fail at once with
// exit code 1 and one line saying what it lacks, not wait for the uplink.
// The uplink named does not exist, so nothing is opened even if it did not.
func TestE2EWithoutPrivilege(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	_, nbin := nobodyDir(t) // nobody must be able to reach and run the binary
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nbin, "serve", "--uplink", "pxrnolink0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("serve as nobody: %v, want exit code 1 (stderr %q)", err, stderr.String())
	}
	if lines := strings.Count(stderr.String(), "\n"); lines != 1 || !strings.Contains(stderr.String(), "CAP_NET_RAW") {
		t.Errorf("stderr = %q, want one line naming CAP_NET_RAW", stderr.String())
	}
}
