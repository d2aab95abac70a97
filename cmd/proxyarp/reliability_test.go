package main

// Reliability tests of `proxyarp serve` in network namespaces (root only):
// a random routing table checked against the kernel's, malformed and
// must-not-answer frames on the live socket, and faults (SIGKILL and
// restart, netlink event loss, a guest interface deleted, routes added
// concurrently). Run as root:
//
//	go test -count=1 -run Reliability -v ./cmd/proxyarp/
//
// Namespaces are named pxr-rel-<pid>-<random>-<role> and deleted in
// t.Cleanup; only 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 are used.
// The host namespace sets arp_ignore=8, so its kernel never answers ARP:
// every reply carrying the host's MAC is proxyarp's. Helpers (addNamespaces,
// openProbe, startDaemon, ipn, ...) are netns_test.go's.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/packet"
)

// relHost is a host namespace with an uplink to a router namespace and a
// set of extra links, each a veth whose peer ("p<n>", not a guest name)
// stays in the host namespace: setting the peer down takes the carrier.
type relHost struct {
	router, host string
	peers        map[string]string // link -> its peer
	bin          string
}

func newRelHost(t *testing.T, links ...string) *relHost {
	t.Helper()
	ns := addNamespaces(t, "pxr-rel-", "router", "host")
	h := &relHost{router: ns["router"], host: ns["host"], peers: make(map[string]string)}
	for _, p := range []string{"net/ipv4/conf/all/proxy_arp", "net/ipv4/conf/default/proxy_arp"} {
		setSysctl(t, h.host, p, "0")
	}
	setSysctl(t, h.host, "net/ipv4/ip_forward", "1")
	setSysctl(t, h.host, "net/ipv4/conf/all/arp_ignore", "8")
	ipn(t, h.host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", h.router)
	ipn(t, h.host, "addr", "add", hostIP.String()+"/24", "dev", "eth0")
	ipn(t, h.router, "addr", "add", routerIP.String()+"/24", "dev", "eth0")
	ipn(t, h.host, "link", "set", "eth0", "up")
	ipn(t, h.router, "link", "set", "eth0", "up")
	for i, l := range links {
		h.addLink(t, l, fmt.Sprintf("p%d", i))
	}
	return h
}

func (h *relHost) addLink(t *testing.T, name, peer string) {
	t.Helper()
	ipn(t, h.host, "link", "add", name, "type", "veth", "peer", "name", peer)
	ipn(t, h.host, "link", "set", peer, "up")
	ipn(t, h.host, "link", "set", name, "up")
	h.peers[name] = peer
}

// batch runs `ip -n host [-force] -batch` on lines.
func (h *relHost) batch(t *testing.T, force bool, lines []string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-n", h.host, "-batch", file}
	if force {
		args = append([]string{"-force"}, args...)
	}
	return tryRun("ip", args...)
}

// waitLog waits until the daemon's output contains s.
func waitLog(d *daemon, s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for i := 0; i < 10000; i++ {
		if strings.Contains(d.out.String(), s) {
			return true
		}
		if time.Now().After(deadline) || !d.running() {
			return strings.Contains(d.out.String(), s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// startServe starts proxyarp serve on the host's eth0 with JSON logs and no
// gratuitous ARP, and waits until its table is loaded and it is attached.
func (h *relHost) startServe(t *testing.T, args ...string) *daemon {
	t.Helper()
	if h.bin == "" {
		h.bin = buildBinary(t)
	}
	d := startDaemon(t, h.host, h.bin, append([]string{"serve", "--uplink", "eth0", "--log-format", "json", "--garp-count", "0"}, args...)...)
	for _, s := range []string{`"routing table loaded"`, `"uplink attached"`} {
		if !waitLog(d, s, readyTimeout) {
			t.Fatalf("proxyarp did not log %s within %v (running %v):\n%s", s, readyTimeout, d.running(), d.out.String())
		}
	}
	return d
}

// askMany sends one broadcast request for each target and returns how many
// replies from hostMAC each got within window.
func (p *arpProbe) askMany(t *testing.T, targets []netip.Addr, hostMAC net.HardwareAddr, window time.Duration) map[netip.Addr]int {
	t.Helper()
	p.drain()
	for _, a := range targets {
		p.send(t, p.request(a, askOptions{}))
	}
	got := make(map[netip.Addr]int)
	for _, r := range p.replies(t, hostMAC, window) {
		if r.tpa == p.ip {
			got[r.spa]++
		}
	}
	return got
}

// waitAnswerSet asks every target until exactly the want set is answered
// (once each), up to timeout; it returns the differences of the last try.
func (p *arpProbe) waitAnswerSet(t *testing.T, targets []netip.Addr, want map[netip.Addr]bool, hostMAC net.HardwareAddr, timeout time.Duration) (extra, missing []netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for i := 0; i < 100; i++ {
		got := p.askMany(t, targets, hostMAC, 300*time.Millisecond)
		extra, missing = nil, nil
		for _, a := range targets {
			switch {
			case got[a] > 0 && !want[a]:
				extra = append(extra, a)
			case got[a] == 0 && want[a]:
				missing = append(missing, a)
			}
		}
		if len(extra) == 0 && len(missing) == 0 || time.Now().After(deadline) {
			return extra, missing
		}
	}
	return extra, missing
}

func addrRange(a, b, c byte, from, to int) []netip.Addr {
	var out []netip.Addr
	for i := from; i <= to; i++ {
		out = append(out, netip.AddrFrom4([4]byte{a, b, c, byte(i)}))
	}
	return out
}

// ---------------------------------------------------------------------------
// The kernel's view, read with ip -j, and the README's definition on it.

type ipRoute struct {
	Type     string `json:"type"`
	Dst      string `json:"dst"`
	Dev      string `json:"dev"`
	Metric   int    `json:"metric"`
	Protocol string `json:"protocol"`
	Flags    []string
	Nexthops []struct {
		Dev   string   `json:"dev"`
		Flags []string `json:"flags"`
	} `json:"nexthops"`
}

type ipLink struct {
	Name  string   `json:"ifname"`
	Flags []string `json:"flags"`
}

type ipAddr struct {
	Info []struct {
		Family string `json:"family"`
		Local  string `json:"local"`
	} `json:"addr_info"`
}

func ipJSON(t *testing.T, ns string, v any, args ...string) {
	t.Helper()
	out := ipn(t, ns, append([]string{"-j", "-d"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("parsing `ip -j -d %s`: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// kernelOwned applies the definition to the kernel's main table, links and
// addresses: a /32 route; every lowest-metric /32 route unicast and leaving
// through a guest (vif*, tap*, or proto 213, but never the uplink eth0) that
// is up with carrier, every nexthop of a multipath route too; not a host
// address; inside allow. It
// checks each owned address against `ip route get` as well.
func kernelOwned(t *testing.T, ns string, targets []netip.Addr, allow []netip.Prefix) map[netip.Addr]bool {
	t.Helper()
	var rs []ipRoute
	var ls []ipLink
	var as []ipAddr
	ipJSON(t, ns, &rs, "route", "show", "table", "main")
	ipJSON(t, ns, &ls, "link", "show")
	ipJSON(t, ns, &as, "addr", "show")
	usable := make(map[string]bool) // up with carrier
	for _, l := range ls {
		usable[l.Name] = slices.Contains(l.Flags, "UP") && slices.Contains(l.Flags, "LOWER_UP")
	}
	local := make(map[netip.Addr]bool)
	for _, a := range as {
		for _, i := range a.Info {
			if ip, err := netip.ParseAddr(i.Local); err == nil && i.Family == "inet" {
				local[ip] = true
			}
		}
	}
	guest := func(dev, proto string) bool {
		if dev == "eth0" { // the uplink: a route back out of it is never answered
			return false
		}
		return strings.HasPrefix(dev, "vif") || strings.HasPrefix(dev, "tap") || proto == "213" || proto == "proxyarp"
	}
	owned := make(map[netip.Addr]bool)
	for _, a := range targets {
		var host []ipRoute
		for _, r := range rs {
			if r.Dst == a.String() || r.Dst == a.String()+"/32" {
				host = append(host, r)
			}
		}
		if len(host) == 0 || local[a] {
			continue
		}
		allowed := len(allow) == 0
		for _, p := range allow {
			allowed = allowed || p.Contains(a)
		}
		lowest := host[0].Metric
		for _, r := range host {
			lowest = min(lowest, r.Metric)
		}
		ok := allowed
		var devs []string
		for _, r := range host {
			if r.Metric != lowest {
				continue
			}
			if r.Type != "unicast" && r.Type != "" {
				ok = false
			}
			hops := r.Nexthops
			if r.Dev != "" {
				hops = append(hops, struct {
					Dev   string   `json:"dev"`
					Flags []string `json:"flags"`
				}{r.Dev, r.Flags})
			}
			if len(hops) == 0 {
				ok = false
			}
			for _, nh := range hops {
				devs = append(devs, nh.Dev)
				if !guest(nh.Dev, r.Protocol) || !usable[nh.Dev] || slices.Contains(nh.Flags, "dead") || slices.Contains(nh.Flags, "linkdown") {
					ok = false
				}
			}
		}
		if !ok {
			continue
		}
		// The kernel's own lookup must agree: unicast via one of them.
		var get []ipRoute
		ipJSON(t, ns, &get, "route", "get", a.String())
		if len(get) != 1 || (get[0].Type != "" && get[0].Type != "unicast") || !slices.Contains(devs, get[0].Dev) {
			t.Errorf("oracle premise: %s owned by the definition via %v, but `ip route get` says %+v", a, devs, get)
			continue
		}
		owned[a] = true
	}
	return owned
}

// ---------------------------------------------------------------------------

// TestReliabilityLiveTableSample installs random routing tables in a host
// namespace (before and while proxyarp runs) and checks that the addresses
// answered on the uplink are exactly those the kernel's state makes owned.
func TestReliabilityLiveTableSample(t *testing.T) {
	requireRoot(t)
	links := []string{"vif1.0", "vif2.0", "vif3.0", "tap7", "eth1", "xvif3", "mytap0"}
	h := newRelHost(t, links...)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PXR_RELIABILITY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("PXR_RELIABILITY_SEED=%q: %v", s, err)
		}
	}
	t.Logf("PXR_RELIABILITY_SEED=%d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	targets := append(append(addrRange(192, 0, 2, 10, 29), addrRange(198, 51, 100, 10, 19)...), addrRange(203, 0, 113, 10, 19)...)
	allow := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/28"), netip.MustParsePrefix("203.0.113.0/24")}

	var d *daemon
	var p *arpProbe
	for round := range 3 {
		h.randomTable(t, r, links, targets)
		if round == 0 { // the first table is found by the start-up dump
			d = h.startServe(t, "--allow", "192.0.2.0/24,198.51.100.0/28,203.0.113.0/24")
			p = openProbe(t, h.router, "eth0", routerIP)
		}
		want := kernelOwned(t, h.host, targets, allow)
		hostMAC := linkMAC(t, h.host, "eth0")
		extra, missing := p.waitAnswerSet(t, targets, want, hostMAC, 3*time.Second)
		if len(extra) > 0 || len(missing) > 0 {
			t.Fatalf("seed %d round %d: answered but not owned %v; owned but not answered %v (owned: %d)\n%s",
				seed, round, extra, missing, len(want), ipn(t, h.host, "-d", "route", "show", "table", "main"))
		}
		t.Logf("round %d: %d of %d addresses owned, answered exactly", round, len(want), len(targets))
	}
	if !d.running() {
		t.Fatalf("proxyarp exited: %v", d.err)
	}
}

// randomTable replaces the test's routes, addresses and link states with
// random ones through `ip -force -batch` (commands the kernel refuses, such
// as a second `add` of a key, are part of the test and ignored).
func (h *relHost) randomTable(t *testing.T, r *rand.Rand, links []string, targets []netip.Addr) {
	t.Helper()
	reset := []string{"route flush table main proto static", "route flush table main proto 213", "route flush table 100"}
	for _, l := range links {
		reset = append(reset, "link set "+h.peers[l]+" up", "link set "+l+" up", "addr flush dev "+l)
	}
	if out, err := h.batch(t, true, reset); err != nil {
		t.Fatalf("resetting the table: %v\n%s", err, out)
	}
	var cmds []string
	type key struct {
		dst    netip.Addr
		metric int
	}
	appended := make(map[key][]string) // devs of a key, to avoid bugs 1 and 2
	for range 70 {
		a := pick(r, targets)
		metric := pick(r, []int{0, 0, 5, 10})
		dev := pick(r, links)
		k := key{a, metric}
		proto := pick(r, []string{"static", "static", "static", "213"})
		switch x := r.IntN(100); {
		case x < 40:
			cmds = append(cmds, fmt.Sprintf("route add %s/32 dev %s metric %d proto %s", a, dev, metric, proto))
			if len(appended[k]) == 0 {
				appended[k] = []string{dev}
			}
		case x < 55:
			if slices.Contains(appended[k], dev) {
				continue
			}
			appended[k] = append(appended[k], dev)
			cmds = append(cmds, fmt.Sprintf("route append %s/32 dev %s metric %d proto %s", a, dev, metric, proto))
		case x < 63:
			if len(appended[k]) > 1 {
				continue
			}
			appended[k] = []string{dev}
			cmds = append(cmds, fmt.Sprintf("route replace %s/32 dev %s metric %d proto %s", a, dev, metric, proto))
		case x < 70:
			cmds = append(cmds, fmt.Sprintf("route add %s/32 metric %d proto static nexthop dev %s nexthop dev %s", a, metric, dev, pick(r, links)))
		case x < 76:
			cmds = append(cmds, fmt.Sprintf("route add %s %s/32 metric %d proto static", pick(r, []string{"blackhole", "unreachable", "prohibit"}), a, metric))
		case x < 80:
			cmds = append(cmds, fmt.Sprintf("route add %s/32 dev eth0 metric %d proto static", a, metric)) // back out the uplink
		case x < 84:
			cmds = append(cmds, fmt.Sprintf("route add %s/32 dev %s table 100 proto static", a, dev))
		case x < 88:
			cmds = append(cmds, fmt.Sprintf("route add %s/30 dev %s proto static", netip.PrefixFrom(a, 30).Masked().Addr(), dev))
		case x < 92:
			cmds = append(cmds, fmt.Sprintf("addr add %s/32 dev %s", a, pick(r, []string{"eth1", "vif2.0"})))
		default:
			if len(appended[k]) <= 1 {
				cmds = append(cmds, fmt.Sprintf("route del %s/32 metric %d", a, metric))
				delete(appended, k)
			}
		}
	}
	for _, l := range links {
		switch r.IntN(8) {
		case 0:
			cmds = append(cmds, "link set "+l+" down")
		case 1:
			cmds = append(cmds, "link set "+h.peers[l]+" down") // no carrier
		}
	}
	_, _ = h.batch(t, true, cmds)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// ---------------------------------------------------------------------------

// dropsLogged stops the daemon with SIGTERM and returns the per-reason drop
// counts of its "responder stopped" line.
func dropsLogged(t *testing.T, d *daemon) map[string]int {
	t.Helper()
	if code, inTime := d.stop(t, syscall.SIGTERM); !inTime || code != 0 {
		t.Fatalf("proxyarp after SIGTERM: exit code %d, in time %v", code, inTime)
	}
	for _, line := range strings.Split(d.out.String(), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Drops string `json:"drops"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "responder stopped" {
			continue
		}
		drops := make(map[string]int)
		for _, f := range strings.Fields(rec.Drops) {
			name, n, ok := strings.Cut(f, "=")
			v, err := strconv.Atoi(n)
			if !ok || err != nil {
				t.Fatalf("unparsable drops field %q in %q", f, line)
			}
			drops[name] = v
		}
		return drops
	}
	t.Fatalf("no \"responder stopped\" line in the output:\n%s", d.out.String())
	return nil
}

// TestReliabilityMalformedInput sends every malformed or must-not-answer
// class of frame from the router namespace: none is answered, the next good
// request is, and the daemon counts each under its reason.
func TestReliabilityMalformedInput(t *testing.T) {
	requireRoot(t)
	h := newRelHost(t, "vif1.0")
	ipn(t, h.host, "route", "add", guest1IP.String()+"/32", "dev", "vif1.0")
	d := h.startServe(t)
	p := openProbe(t, h.router, "eth0", routerIP)
	hostMAC := linkMAC(t, h.host, "eth0")

	set := func(off int, b ...byte) func([]byte) []byte {
		return func(f []byte) []byte { copy(f[off:], b); return f }
	}
	u16 := func(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
	ip4 := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	bcast := []byte(broadcastMAC)
	mcast := []byte{0x01, 0x00, 0x5e, 0, 0, 1}
	zero := make([]byte, 6)
	both := func(m []byte) func([]byte) []byte { // Ethernet source and ARP sender
		return func(f []byte) []byte { copy(f[6:], m); copy(f[22:], m); return f }
	}
	// Offsets: Ethernet dst 0, src 6, type 12; ARP htype 14, ptype 16,
	// hlen 18, plen 19, op 20, sha 22, spa 28, tha 32, tpa 38.
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		reason string // the counted reason; "" when the kernel filters it out
	}{
		{"a request with hardware type 6 (IEEE 802) is malformed", set(14, u16(6)...), "malformed"},
		{"a request with protocol type IPv6 is malformed", set(16, u16(0x86dd)...), "malformed"},
		{"a request with hardware length 8 is malformed", set(18, 8), "malformed"},
		{"a request with protocol length 16 is malformed", set(19, 16), "malformed"},
		{"a request truncated to 30 bytes is malformed", func(f []byte) []byte { return f[:30] }, "malformed"},
		{"a request truncated inside the target address is malformed", func(f []byte) []byte { return f[:40] }, "malformed"},
		{"operation 0 is not a request", set(20, u16(0)...), "not-request"},
		{"operation 2 (reply) is not a request", set(20, u16(2)...), "not-request"},
		{"operation 3 (RARP request) is not a request", set(20, u16(3)...), "not-request"},
		{"operation 9 (InARP request) is not a request", set(20, u16(9)...), "not-request"},
		{"a request whose sender IP equals its target is gratuitous", set(28, guest1IP.AsSlice()...), "gratuitous"},
		{"a broadcast sender MAC is refused", both(bcast), "bad-sender-mac"},
		{"a multicast sender MAC is refused", both(mcast), "bad-sender-mac"},
		{"a zero sender MAC is refused", both(zero), "bad-sender-mac"},
		{"a broadcast ARP sender MAC under a unicast Ethernet source is a mismatch", set(22, bcast...), "eth-src-mismatch"},
		{"a broadcast sender IP is refused", set(28, ip4("255.255.255.255")...), "bad-sender-ip"},
		{"a multicast sender IP is refused", set(28, ip4("224.0.0.1")...), "bad-sender-ip"},
		{"a loopback sender IP is refused", set(28, ip4("127.0.0.1")...), "bad-sender-ip"},
		{"a zero sender IP is an address probe", set(28, ip4("0.0.0.0")...), "probe"},
		{"a broadcast target IP is refused", set(38, ip4("255.255.255.255")...), "bad-target-ip"},
		{"a multicast target IP is refused", set(38, ip4("239.1.2.3")...), "bad-target-ip"},
		{"a multicast Ethernet source is a mismatch with the ARP sender", set(6, mcast...), "eth-src-mismatch"},
		{"an Ethernet source other than the ARP sender is a mismatch", set(6, 0x02, 0, 0, 0, 0, 0x77), "eth-src-mismatch"},
		{"a request tagged VLAN 100 arrives untagged as another host's", func(f []byte) []byte {
			return slices.Insert(f, 12, 0x81, 0x00, 0x00, 100)
		}, "not-for-us"},
		{"a request tagged 802.1ad VLAN 200 arrives as another host's", func(f []byte) []byte {
			return slices.Insert(f, 12, 0x88, 0xa8, 0x00, 200)
		}, "not-for-us"},
		{"a request unicast to another MAC is not for us", set(0, 0x02, 0, 0, 0, 0, 0x99), "not-for-us"},
		{"a request unicast to a multicast MAC is not for us", set(0, mcast...), "not-for-us"},
		{"an ARP payload in an IPv4 EtherType never reaches the responder", set(12, u16(0x0800)...), ""},
		{"an ARP payload in an IPv6 EtherType never reaches the responder", set(12, u16(0x86dd)...), ""},
		{"a RARP frame never reaches the responder", set(12, u16(0x8035)...), ""},
		{"an LLDP frame never reaches the responder", set(12, u16(0x88cc)...), ""},
	}
	want := make(map[string]int)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.mutate(p.request(guest1IP, askOptions{}).bytes())
			p.drain()
			if _, err := p.conn.WriteTo(f, &packet.Addr{HardwareAddr: broadcastMAC}); err != nil {
				t.Fatalf("sending % x: %v", f, err)
			}
			if rs := p.replies(t, hostMAC, 300*time.Millisecond); len(rs) > 0 {
				t.Errorf("frame % x: %d replies from the host, want none: first % x", f, len(rs), rs[0].frame)
			}
			if !p.waitAnswered(t, guest1IP, hostMAC, true, time.Second) {
				t.Errorf("the good request after it: not answered within 1 s")
			}
			if c.reason != "" {
				want[c.reason]++
			}
		})
	}
	if !d.running() {
		t.Fatalf("proxyarp exited: %v", d.err)
	}
	got := dropsLogged(t, d)
	for r, n := range want {
		if got[r] != n {
			t.Errorf("drops counted as %s: %d, want %d (all: %v)", r, got[r], n, got)
		}
	}
	for r, n := range got {
		if _, ok := want[r]; !ok {
			t.Errorf("drops counted as %s: %d, want none (all: %v)", r, n, got)
		}
	}
}

// ---------------------------------------------------------------------------

// TestReliabilityFaults: the daemon killed and restarted, netlink events
// lost in a burst of route changes, a guest interface deleted, routes added
// concurrently.
func TestReliabilityFaults(t *testing.T) {
	requireRoot(t)
	guests := []string{"vif1.0", "vif2.0", "vif3.0", "vif4.0", "vif5.0", "tap6"}
	h := newRelHost(t, append(slices.Clone(guests), "eth1")...)
	ipn(t, h.host, "route", "add", guest1IP.String()+"/32", "dev", "vif1.0")
	ipn(t, h.host, "route", "add", guest2IP.String()+"/32", "dev", "vif2.0")
	d := h.startServe(t)
	p := openProbe(t, h.router, "eth0", routerIP)
	hostMAC := linkMAC(t, h.host, "eth0")
	if !p.waitAnswered(t, guest1IP, hostMAC, true, readyTimeout) {
		t.Fatalf("%s not answered after start", guest1IP)
	}
	parent := t

	t.Run("killed with SIGKILL and restarted it answers again within 1 s and not for a route removed meanwhile", func(t *testing.T) {
		added := netip.MustParseAddr("192.0.2.40")
		if code, _ := d.stop(t, syscall.SIGKILL); code != -1 {
			t.Fatalf("exit code after SIGKILL = %d, want -1 (killed)", code)
		}
		ipn(t, h.host, "route", "del", guest2IP.String()+"/32")
		ipn(t, h.host, "route", "add", added.String()+"/32", "dev", "vif3.0")
		// Registered on the parent test, so that it outlives this subtest.
		d = startDaemon(parent, h.host, h.bin, "serve", "--uplink", "eth0", "--log-format", "json", "--garp-count", "0")
		if !p.waitAnswered(t, guest1IP, hostMAC, true, time.Second) {
			t.Fatalf("%s not answered within 1 s of the restart", guest1IP)
		}
		if n := len(p.ask(t, guest2IP, hostMAC, replyWindow, askOptions{})); n != 0 {
			t.Errorf("%s answered (%d replies) after the restart, although its route was removed while proxyarp was down", guest2IP, n)
		}
		if n := len(p.ask(t, added, hostMAC, replyWindow, askOptions{})); n != 1 {
			t.Errorf("%s, routed while proxyarp was down: %d replies after the restart, want 1", added, n)
		}
	})

	t.Run("events lost in a burst of thousands of route changes are recovered by a resync", func(t *testing.T) {
		// Stop the daemon (SIGSTOP) so that its netlink sockets overflow
		// (ENOBUFS) during the burst, then let it go on: it must notice the
		// loss, resync, and answer exactly for the kernel's final state.
		all := append(append(addrRange(198, 51, 100, 1, 250), addrRange(203, 0, 113, 1, 250)...), addrRange(192, 0, 2, 100, 250)...)
		var lines []string
		for round := range 14 {
			for _, a := range all {
				lines = append(lines, fmt.Sprintf("route add %s/32 dev %s proto static", a, guests[round%len(guests)]))
			}
			for _, a := range all {
				lines = append(lines, fmt.Sprintf("route del %s/32 proto static", a))
			}
		}
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
		final := make(map[netip.Addr]bool)
		for _, a := range all {
			if r.IntN(3) == 0 {
				final[a] = true
				dev := pick(r, append(slices.Clone(guests), "eth1"))
				if dev == "eth1" {
					final[a] = false
				}
				lines = append(lines, fmt.Sprintf("route add %s/32 dev %s proto static", a, dev))
			}
		}
		t.Cleanup(func() { _, _ = tryRun("ip", "-n", h.host, "route", "flush", "table", "main", "proto", "static") })
		if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP: %v", err)
		}
		out, err := h.batch(t, false, lines)
		if cerr := d.cmd.Process.Signal(syscall.SIGCONT); cerr != nil {
			t.Fatalf("SIGCONT: %v", cerr)
		}
		if err != nil {
			t.Fatalf("ip -batch of %d route changes: %v\n%s", len(lines), err, out)
		}
		if !waitLog(d, `"why":"events lost"`, 5*time.Second) {
			t.Errorf("no resync after events lost within 5 s of %d route changes while stopped (log: %s)", len(lines), d.out.String())
		}
		sample := make([]netip.Addr, 0, 80)
		for _, i := range r.Perm(len(all))[:80] {
			sample = append(sample, all[i])
		}
		extra, missing := p.waitAnswerSet(t, sample, final, hostMAC, 3*time.Second)
		if len(extra) > 0 || len(missing) > 0 {
			t.Fatalf("after the burst: answered but not owned %v; owned but not answered %v", extra, missing)
		}
	})

	t.Run("a guest interface deleted takes its routes and their answers with it", func(t *testing.T) {
		addrs := addrRange(203, 0, 113, 100, 119)
		var lines []string
		want := make(map[netip.Addr]bool)
		for _, a := range addrs {
			lines = append(lines, fmt.Sprintf("route add %s/32 dev vif4.0 proto static", a))
			want[a] = true
		}
		mp := netip.MustParseAddr("203.0.113.120")
		lines = append(lines, "route add "+mp.String()+"/32 proto static nexthop dev vif4.0 nexthop dev vif5.0")
		if out, err := h.batch(t, false, lines); err != nil {
			t.Fatalf("ip -batch: %v\n%s", err, out)
		}
		want[mp] = true
		probe := append(slices.Clone(addrs), mp)
		if extra, missing := p.waitAnswerSet(t, probe, want, hostMAC, 2*time.Second); len(extra)+len(missing) > 0 {
			t.Fatalf("before the deletion: extra %v, missing %v", extra, missing)
		}
		ipn(t, h.host, "link", "del", "vif4.0")
		if extra, missing := p.waitAnswerSet(t, probe, nil, hostMAC, time.Second); len(extra)+len(missing) > 0 {
			t.Fatalf("still answered 1 s after vif4.0 was deleted: %v", extra)
		}
	})

	t.Run("50 guest routes added concurrently are all answered and all removed", func(t *testing.T) {
		addrs := addrRange(198, 51, 100, 200, 249)
		want := make(map[netip.Addr]bool)
		concurrently := func(verb string) {
			var wg sync.WaitGroup
			errs := make(chan error, len(addrs))
			for i, a := range addrs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					args := []string{"-n", h.host, "route", verb, a.String() + "/32", "proto", "static"}
					if verb == "add" {
						args = append(args, "dev", []string{"vif1.0", "vif2.0", "vif3.0", "vif5.0", "tap6"}[i%5])
					}
					if out, err := tryRun("ip", args...); err != nil {
						errs <- fmt.Errorf("ip route %s %s: %v: %s", verb, a, err, out)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		concurrently("add")
		for _, a := range addrs {
			want[a] = true
		}
		if extra, missing := p.waitAnswerSet(t, addrs, want, hostMAC, 2*time.Second); len(extra)+len(missing) > 0 {
			t.Fatalf("2 s after 50 concurrent route adds: extra %v, missing %v", extra, missing)
		}
		concurrently("del")
		if extra, _ := p.waitAnswerSet(t, addrs, nil, hostMAC, 2*time.Second); len(extra) > 0 {
			t.Fatalf("2 s after 50 concurrent route deletes, still answered: %v", extra)
		}
	})

	if !d.running() {
		t.Fatalf("proxyarp exited: %v", d.err)
	}
}

// TestReliabilityAliases keeps fixed two bugs the property test found in
// the watcher's mirror of the kernel (docs/RELIABILITY.md): `ip route
// replace` replaced every equal-key alias instead of the first, and routes
// differing only in proto or gateway were taken for one another.
func TestReliabilityAliases(t *testing.T) {
	requireRoot(t)
	h := newRelHost(t, "vif1.0", "eth1")
	h.startServe(t)
	p := openProbe(t, h.router, "eth0", routerIP)
	hostMAC := linkMAC(t, h.host, "eth0")
	cases := []struct {
		name     string
		target   string
		lines    []string
		answered bool // what the definition says
	}{
		{"bug 1: a route replaced while an equal-metric alias via a non-guest remains is not answered", "192.0.2.31", []string{
			"route add 192.0.2.31/32 dev vif1.0",
			"route append 192.0.2.31/32 dev eth1",
			"route replace 192.0.2.31/32 dev vif1.0 src 192.0.2.1", // replaces the first alias only
		}, false},
		{"bug 2: two routes differing only in proto are both kept", "192.0.2.33", []string{
			"route add 192.0.2.33/32 dev eth1 proto static",
			"route append 192.0.2.33/32 dev eth1 proto 213", // the static route via eth1 still counts
		}, false},
		{"bug 2: deleting one of two routes differing only in proto keeps the other", "192.0.2.32", []string{
			"route add 192.0.2.32/32 dev eth1 proto 213",
			"route append 192.0.2.32/32 dev eth1 proto static",
			"route del 192.0.2.32/32 dev eth1 proto static", // leaves proxyarp's own route
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out, err := h.batch(t, false, c.lines); err != nil {
				t.Fatalf("ip -batch: %v\n%s", err, out)
			}
			target := netip.MustParseAddr(c.target)
			if got := p.waitAnswered(t, target, hostMAC, c.answered, time.Second); !got {
				t.Errorf("%s answered: %v, want %v; the kernel has:\n%s", target, !c.answered, c.answered, ipn(t, h.host, "route", "show", target.String()+"/32"))
			}
		})
	}
}
