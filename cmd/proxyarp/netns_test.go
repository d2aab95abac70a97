package main

// Helpers for the end-to-end tests: building the binary, network namespaces
// and veth topologies, a daemon runner, and crafted ARP requests sent and
// observed from inside the router namespace.
//
// Safety: everything happens inside network namespaces this file creates
// (names "pxr-e2e-<pid>-<random>-<role>"), with addresses from the
// documentation ranges only. Veth pairs are created directly inside a
// namespace with their peer in another one, so the root namespace never holds
// them. Sockets are opened on OS threads that switched namespace and are never
// switched back (the thread dies with its goroutine).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Addresses of the seed topology (documentation ranges only).
var (
	routerIP = netip.MustParseAddr("192.0.2.254")
	hostIP   = netip.MustParseAddr("192.0.2.1")
	guest1IP = netip.MustParseAddr("192.0.2.2")
	guest2IP = netip.MustParseAddr("192.0.2.3")
)

const (
	cmdTimeout  = 15 * time.Second // any single ip/sysctl command
	stopTimeout = 5 * time.Second  // SIGTERM -> SIGKILL
)

// skipShort skips end-to-end tests in -short mode (make unit).
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	skipShort(t)
	if os.Geteuid() != 0 {
		t.Skip("skipping: end-to-end tests need root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: end-to-end tests need iproute2's ip command")
	}
}

// raceEnabled reports whether this test binary was built with -race; the
// product binary is then built with -race too, so the e2e tests catch data
// races in the daemon.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// buildBinary builds the proxyarp binary from this package's directory into
// a per-test temporary directory (the build cache makes repeats cheap).
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "proxyarp")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, ".")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func randomSuffix() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
}

// run runs a command with a timeout and returns its combined output, failing
// the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := tryRun(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func tryRun(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// ipn runs `ip -n NS args...`.
func ipn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", ns}, args...)...)
}

// setSysctl writes /proc/sys/PATH inside namespace ns. The slash form copes
// with interface names that contain dots (vif1.0).
func setSysctl(t *testing.T, ns, path, value string) {
	t.Helper()
	run(t, "ip", "netns", "exec", ns, "sh", "-c", `echo "$1" > "/proc/sys/$2"`, "sh", value, path)
}

// addNamespaces creates one namespace per role, with loopback up, and deletes
// them all in t.Cleanup.
func addNamespaces(t *testing.T, prefix string, roles ...string) map[string]string {
	t.Helper()
	suffix := randomSuffix()
	names := make(map[string]string, len(roles))
	for _, role := range roles {
		name := fmt.Sprintf("%s%s-%s", prefix, suffix, role)
		run(t, "ip", "netns", "add", name)
		names[role] = name
		t.Cleanup(func() {
			if out, err := tryRun("ip", "netns", "del", name); err != nil {
				t.Errorf("deleting namespace %s: %v\n%s", name, err, out)
			}
		})
		ipn(t, name, "link", "set", "lo", "up")
	}
	return names
}

// linkMAC reads an interface's MAC address inside a namespace.
func linkMAC(t *testing.T, ns, ifname string) net.HardwareAddr {
	t.Helper()
	out := ipn(t, ns, "-j", "link", "show", "dev", ifname)
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("parsing `ip -j link show %s` in %s: %v\n%s", ifname, ns, err, out)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		t.Fatalf("parsing MAC of %s in %s: %v", ifname, ns, err)
	}
	return mac
}

// topology is the seed page's network in namespaces: router <-> host eth0
// (the uplink), host vif1.0 <-> g1, host vif2.0 <-> g2, host eth1 <-> other.
type topology struct {
	router, host, g1, g2, other string
}

type topoOptions struct {
	uplink     bool // create host eth0 <-> router eth0 now
	guest2     bool // g2 behind vif2.0
	otherLinks bool // eth1 to "other", and the negative-case routes
}

func newTopology(t *testing.T, opt topoOptions) *topology {
	t.Helper()
	roles := []string{"router", "host", "g1"}
	if opt.guest2 {
		roles = append(roles, "g2")
	}
	if opt.otherLinks {
		roles = append(roles, "other")
	}
	ns := addNamespaces(t, "pxr-e2e-", roles...)
	tp := &topology{router: ns["router"], host: ns["host"], g1: ns["g1"], g2: ns["g2"], other: ns["other"]}

	setSysctl(t, tp.host, "net/ipv4/ip_forward", "1")
	setSysctl(t, tp.host, "net/ipv4/conf/all/proxy_arp", "0")
	setSysctl(t, tp.host, "net/ipv4/conf/default/proxy_arp", "0")
	if opt.uplink {
		tp.createUplink(t)
	}
	// Without the uplink there is no 192.0.2.1 yet to use as route source.
	tp.addGuest(t, tp.g1, "vif1.0", guest1IP, opt.uplink)
	if opt.guest2 {
		tp.addGuest(t, tp.g2, "vif2.0", guest2IP, opt.uplink)
	}
	if opt.otherLinks {
		ipn(t, tp.host, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", tp.other)
		ipn(t, tp.host, "addr", "add", "198.51.100.1/24", "dev", "eth1")
		ipn(t, tp.other, "addr", "add", "198.51.100.254/24", "dev", "eth0")
		ipn(t, tp.host, "link", "set", "eth1", "up")
		ipn(t, tp.other, "link", "set", "eth0", "up")
		// Targets that kernel proxy_arp would answer and proxyarp must not.
		ipn(t, tp.host, "route", "add", "192.0.2.50/32", "dev", "eth1")
		ipn(t, tp.host, "route", "add", "192.0.2.61/32", "via", "198.51.100.254", "dev", "eth1")
		ipn(t, tp.host, "route", "add", "default", "via", "198.51.100.254", "dev", "eth1")
		ipn(t, tp.host, "route", "add", "blackhole", "192.0.2.80/32")
		if opt.uplink {
			ipn(t, tp.host, "route", "add", "192.0.2.70/32", "dev", "eth0")
		}
		// Two more links with carrier (peers in "other"): tap3 matches the
		// default guest globs, eth2 does not.
		for _, ifname := range []string{"tap3", "eth2"} {
			ipn(t, tp.host, "link", "add", ifname, "type", "veth", "peer", "name", ifname, "netns", tp.other)
			ipn(t, tp.other, "link", "set", ifname, "up")
			ipn(t, tp.host, "link", "set", ifname, "up")
		}
		ipn(t, tp.host, "route", "add", "192.0.2.91/32", "dev", "tap3")
		ipn(t, tp.host, "route", "add", "192.0.2.90/32", "dev", "eth2")
		// A host address that also has a /32 route via a guest.
		ipn(t, tp.host, "addr", "add", "192.0.2.7/32", "dev", "eth2")
		ipn(t, tp.host, "route", "add", "192.0.2.7/32", "dev", "vif1.0")
		// Lowest metric via a non-guest (192.0.2.5) or via a guest (192.0.2.6).
		ipn(t, tp.host, "route", "add", "192.0.2.5/32", "dev", "eth1", "metric", "5")
		ipn(t, tp.host, "route", "add", "192.0.2.5/32", "dev", "vif1.0", "metric", "10")
		ipn(t, tp.host, "route", "add", "192.0.2.6/32", "dev", "vif1.0", "metric", "5")
		ipn(t, tp.host, "route", "add", "192.0.2.6/32", "dev", "eth1", "metric", "10")
		// Multipath: one nexthop not a guest (192.0.2.8); all guests (192.0.2.9).
		ipn(t, tp.host, "route", "add", "192.0.2.8/32", "nexthop", "dev", "vif1.0", "nexthop", "dev", "eth1")
		if opt.guest2 {
			ipn(t, tp.host, "route", "add", "192.0.2.9/32", "nexthop", "dev", "vif1.0", "nexthop", "dev", "vif2.0")
		}
		// Via a guest, but in another table, or not a /32.
		ipn(t, tp.host, "route", "add", "192.0.2.92/32", "dev", "vif1.0", "table", "100")
		ipn(t, tp.host, "route", "add", "192.0.2.100/30", "dev", "vif1.0")
	}
	return tp
}

// createUplink creates host eth0 (192.0.2.1/24) and router eth0
// (192.0.2.254/24) as a veth pair, created inside the host namespace.
func (tp *topology) createUplink(t *testing.T) {
	t.Helper()
	ipn(t, tp.host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", tp.router)
	setSysctl(t, tp.host, "net/ipv4/conf/eth0/proxy_arp", "0")
	ipn(t, tp.host, "addr", "add", hostIP.String()+"/24", "dev", "eth0")
	ipn(t, tp.router, "addr", "add", routerIP.String()+"/24", "dev", "eth0")
	ipn(t, tp.host, "link", "set", "eth0", "up")
	ipn(t, tp.router, "link", "set", "eth0", "up")
}

// addGuest creates host vif <-> guest eth0 with the guest's /32 address, a
// default route via 192.0.2.1 and the host's /32 route, as vif-route does.
func (tp *topology) addGuest(t *testing.T, guest, vif string, ip netip.Addr, withSrc bool) {
	t.Helper()
	ipn(t, tp.host, "link", "add", vif, "type", "veth", "peer", "name", "eth0", "netns", guest)
	setSysctl(t, tp.host, "net/ipv4/conf/"+vif+"/proxy_arp", "1")
	setSysctl(t, tp.host, "net/ipv4/neigh/"+vif+"/proxy_delay", "0")
	ipn(t, guest, "addr", "add", ip.String()+"/32", "dev", "eth0")
	ipn(t, guest, "link", "set", "eth0", "up")
	ipn(t, tp.host, "link", "set", vif, "up")
	ipn(t, guest, "route", "add", "default", "via", hostIP.String(), "dev", "eth0", "onlink")
	route := []string{"route", "add", ip.String() + "/32", "dev", vif}
	if withSrc {
		route = append(route, "src", hostIP.String())
	}
	ipn(t, tp.host, route...)
}

func (tp *topology) hostMAC(t *testing.T) net.HardwareAddr { return linkMAC(t, tp.host, "eth0") }

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is a proxyarp process started by a test.
type daemon struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// startDaemon runs `ip netns exec NS BIN args...`. ip netns exec execs the
// binary in place, so the PID is proxyarp's own. The process is stopped by
// PID in t.Cleanup (SIGTERM, then SIGKILL) and its output logged on failure.
func startDaemon(t *testing.T, ns, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{out: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	d.cmd.Stdout = d.out
	d.cmd.Stderr = d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.stop(t, syscall.SIGTERM)
		out := d.out.String()
		if strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("proxyarp reported a data race")
		}
		if t.Failed() {
			t.Logf("proxyarp output (pid %d):\n%s", d.cmd.Process.Pid, out)
		}
	})
	return d
}

func (d *daemon) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// stop sends sig, waits up to stopTimeout, then SIGKILLs. It returns the exit
// code (-1 when killed by a signal) and whether the process stopped in time.
func (d *daemon) stop(t *testing.T, sig syscall.Signal) (code int, inTime bool) {
	t.Helper()
	if d.running() {
		_ = d.cmd.Process.Signal(sig)
	}
	inTime = true
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
		inTime = false
		_ = d.cmd.Process.Kill()
		select {
		case <-d.done:
		case <-time.After(stopTimeout):
			t.Errorf("proxyarp pid %d did not die after SIGKILL", d.cmd.Process.Pid)
			return -1, false
		}
	}
	return d.cmd.ProcessState.ExitCode(), inTime
}

// inNamespace runs fn on a fresh OS thread switched into namespace ns. The
// thread is never switched back: it exits with the goroutine. Whatever fn
// opens (sockets) stays in ns.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime terminates this thread on return.
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("opening namespace %s: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// arpProbe is a packet socket (ETH_P_ARP) on an interface of the router
// namespace, sending crafted requests and reading the replies.
type arpProbe struct {
	conn *packet.Conn
	mac  net.HardwareAddr // the router interface's MAC: the requester
	ip   netip.Addr       // the requester's IP
}

func openProbe(t *testing.T, ns, ifname string, requesterIP netip.Addr) *arpProbe {
	t.Helper()
	p := &arpProbe{ip: requesterIP}
	err := inNamespace(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		if err != nil {
			return err
		}
		// Promiscuous (on the router's own interface, in its namespace), so
		// that a reply sent to a MAC other than the router's is seen too.
		if err := c.SetPromiscuous(true); err != nil {
			c.Close()
			return err
		}
		p.conn, p.mac = c, ifi.HardwareAddr
		return nil
	})
	if err != nil {
		t.Fatalf("opening ARP probe on %s in %s: %v", ifname, ns, err)
	}
	t.Cleanup(func() { p.conn.Close() })
	return p
}

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// arpFrame describes an Ethernet + ARP frame to send.
type arpFrame struct {
	ethDst, ethSrc net.HardwareAddr
	vlan           uint16 // 802.1Q VID; untagged when 0
	op             uint16
	sha            net.HardwareAddr
	spa            netip.Addr
	tha            net.HardwareAddr
	tpa            netip.Addr
}

// bytes marshals f, padded to the 60-byte Ethernet minimum (64 when tagged).
func (f arpFrame) bytes() []byte {
	b := make([]byte, 0, 64)
	b = append(b, f.ethDst...)
	b = append(b, f.ethSrc...)
	if f.vlan > 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, f.vlan&0x0fff)
	}
	b = binary.BigEndian.AppendUint16(b, 0x0806)
	b = binary.BigEndian.AppendUint16(b, 1)      // htype Ethernet
	b = binary.BigEndian.AppendUint16(b, 0x0800) // ptype IPv4
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, f.op)
	b = append(b, f.sha...)
	s4, t4 := f.spa.As4(), f.tpa.As4()
	b = append(b, s4[:]...)
	tha := f.tha
	if tha == nil {
		tha = make(net.HardwareAddr, 6)
	}
	b = append(b, tha...)
	b = append(b, t4[:]...)
	minLen := 60 // Ethernet minimum without FCS
	if f.vlan > 0 {
		minLen += 4
	}
	for len(b) < minLen {
		b = append(b, 0)
	}
	return b
}

// arpReply is a parsed ARP reply seen by the probe.
type arpReply struct {
	frame          []byte
	ethDst, ethSrc net.HardwareAddr
	ethType        uint16
	htype, ptype   uint16
	hlen, plen     uint8
	op             uint16
	sha, tha       net.HardwareAddr
	spa, tpa       netip.Addr
}

func parseARP(f []byte) (arpReply, bool) {
	if len(f) < 42 {
		return arpReply{}, false
	}
	r := arpReply{
		frame:   append([]byte(nil), f...),
		ethDst:  net.HardwareAddr(f[0:6]),
		ethSrc:  net.HardwareAddr(f[6:12]),
		ethType: binary.BigEndian.Uint16(f[12:14]),
	}
	a := f[14:]
	r.htype = binary.BigEndian.Uint16(a[0:2])
	r.ptype = binary.BigEndian.Uint16(a[2:4])
	r.hlen, r.plen = a[4], a[5]
	r.op = binary.BigEndian.Uint16(a[6:8])
	if r.ethType != 0x0806 || r.hlen != 6 || r.plen != 4 {
		return r, false
	}
	r.sha = net.HardwareAddr(a[8:14])
	r.spa = netip.AddrFrom4([4]byte(a[14:18]))
	r.tha = net.HardwareAddr(a[18:24])
	r.tpa = netip.AddrFrom4([4]byte(a[24:28]))
	r.ethDst = append(net.HardwareAddr(nil), r.ethDst...)
	r.ethSrc = append(net.HardwareAddr(nil), r.ethSrc...)
	r.sha = append(net.HardwareAddr(nil), r.sha...)
	r.tha = append(net.HardwareAddr(nil), r.tha...)
	return r, true
}

// drain discards frames already queued on the socket (late replies to
// earlier requests), bounded in count and time.
func (p *arpProbe) drain() {
	buf := make([]byte, 2048)
	deadline := time.Now().Add(20 * time.Millisecond)
	_ = p.conn.SetReadDeadline(deadline)
	for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
		if _, _, err := p.conn.ReadFrom(buf); err != nil {
			return
		}
	}
}

type askOptions struct {
	dst      net.HardwareAddr // Ethernet destination; broadcast when nil
	vlan     uint16           // 802.1Q VID; untagged when 0
	op       uint16           // ARP operation; request (1) when 0
	sha      net.HardwareAddr // ARP sender MAC; the probe's own MAC when nil
	senderIP netip.Addr       // ARP sender IP; the probe's own IP when invalid
}

// request builds the frame ask sends for target.
func (p *arpProbe) request(target netip.Addr, opt askOptions) arpFrame {
	f := arpFrame{ethDst: opt.dst, ethSrc: p.mac, vlan: opt.vlan, op: opt.op, sha: opt.sha, spa: opt.senderIP, tpa: target}
	if f.ethDst == nil {
		f.ethDst = broadcastMAC
	}
	if f.op == 0 {
		f.op = 1
	}
	if f.sha == nil {
		f.sha = p.mac
	}
	if !f.spa.IsValid() {
		f.spa = p.ip
	}
	return f
}

// send writes frames on the probe's interface.
func (p *arpProbe) send(t *testing.T, frames ...arpFrame) {
	t.Helper()
	for _, f := range frames {
		if _, err := p.conn.WriteTo(f.bytes(), &packet.Addr{HardwareAddr: f.ethDst}); err != nil {
			t.Fatalf("sending ARP frame for %s: %v", f.tpa, err)
		}
	}
}

// collect reads, for window, the replies that answer req from fromMAC:
// op 2, Ethernet source or ARP sender MAC fromMAC, sender IP = req's target
// and target IP = req's sender IP.
func (p *arpProbe) collect(t *testing.T, req arpFrame, fromMAC net.HardwareAddr, window time.Duration) []arpReply {
	t.Helper()
	var replies []arpReply
	for _, r := range p.replies(t, fromMAC, window) {
		if r.spa == req.tpa && r.tpa == req.spa {
			replies = append(replies, r)
		}
	}
	return replies
}

// replies reads, for window, every ARP reply (op 2) whose Ethernet source
// or ARP sender MAC is fromMAC.
func (p *arpProbe) replies(t *testing.T, fromMAC net.HardwareAddr, window time.Duration) []arpReply {
	t.Helper()
	var out []arpReply
	buf := make([]byte, 2048)
	if err := p.conn.SetReadDeadline(time.Now().Add(window)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	for i := 0; i < 100000; i++ {
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			t.Fatalf("reading ARP replies: %v", err)
		}
		r, ok := parseARP(buf[:n])
		if ok && r.op == 2 && (bytes.Equal(r.ethSrc, fromMAC) || bytes.Equal(r.sha, fromMAC)) {
			out = append(out, r)
		}
	}
	return out
}

// ask sends one request for target and returns the replies to it from
// fromMAC seen within window.
func (p *arpProbe) ask(t *testing.T, target netip.Addr, fromMAC net.HardwareAddr, window time.Duration, opt askOptions) []arpReply {
	t.Helper()
	p.drain()
	req := p.request(target, opt)
	p.send(t, req)
	return p.collect(t, req, fromMAC, window)
}

// waitAnswered polls with requests (one every ~100 ms) until a request for
// target is answered (want true) or goes unanswered (want false) by fromMAC,
// up to timeout. An "unanswered" result is confirmed with a 500 ms window.
func (p *arpProbe) waitAnswered(t *testing.T, target netip.Addr, fromMAC net.HardwareAddr, want bool, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for i := 0; i < 1000; i++ {
		got := len(p.ask(t, target, fromMAC, 100*time.Millisecond, askOptions{})) > 0
		if got == want {
			if !want {
				return len(p.ask(t, target, fromMAC, 500*time.Millisecond, askOptions{})) == 0
			}
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
	return false
}

// waitReplies polls until a request for target gets exactly want replies
// from fromMAC (200 ms windows, up to timeout), then confirms the count with
// one more request and a 500 ms window.
func (p *arpProbe) waitReplies(t *testing.T, target netip.Addr, fromMAC net.HardwareAddr, want int, timeout time.Duration) (got int, ok bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for i := 0; i < 1000; i++ {
		got = len(p.ask(t, target, fromMAC, 200*time.Millisecond, askOptions{}))
		if got == want {
			got = len(p.ask(t, target, fromMAC, 500*time.Millisecond, askOptions{}))
			return got, got == want
		}
		if time.Now().After(deadline) {
			break
		}
	}
	return got, false
}

// pingFrom sends one ICMP echo request from inside namespace ns (the kernel
// resolves the next hop with ARP as ping would) and waits for the reply.
func pingFrom(ns string, dst netip.Addr, timeout time.Duration) error {
	var c net.PacketConn
	err := inNamespace(ns, func() error {
		var err error
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return fmt.Errorf("opening ICMP socket in %s: %w", ns, err)
	}
	defer c.Close()
	idb := make([]byte, 2)
	_, _ = rand.Read(idb)
	id := binary.BigEndian.Uint16(idb)
	const seq = 1
	msg := []byte{8, 0, 0, 0, 0, 0, 0, seq, 'p', 'x', 'r', '-', 'e', '2', 'e'}
	binary.BigEndian.PutUint16(msg[4:6], id)
	binary.BigEndian.PutUint16(msg[2:4], icmpChecksum(msg))
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("sending echo to %s: %w", dst, err)
	}
	deadline := time.Now().Add(timeout)
	_ = c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	for i := 0; i < 10000; i++ {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("no echo reply from %s within %v: %w", dst, timeout, err)
		}
		ipa, ok := from.(*net.IPAddr)
		if !ok || !ipa.IP.Equal(dst.AsSlice()) || n < 8 {
			continue
		}
		if buf[0] == 0 && binary.BigEndian.Uint16(buf[4:6]) == id && binary.BigEndian.Uint16(buf[6:8]) == seq {
			return nil
		}
	}
	return fmt.Errorf("no echo reply from %s", dst)
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
