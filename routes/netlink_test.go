package routes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// netnsTest is a private network namespace for one test.
type netnsTest struct {
	t    *testing.T
	name string
	ns   netns.NsHandle
}

// newNetns creates namespace pxr-rt-<random> and deletes it at cleanup.
// It skips the test unless run as root.
func newNetns(t *testing.T) *netnsTest {
	t.Helper()
	return newNetnsNamed(t, "pxr-rt-", "netlink integration test")
}

// newNetnsNamed creates namespace PREFIX<random> for the test described by
// what, and deletes it at cleanup. It skips the test unless run as root.
func newNetnsNamed(t *testing.T, prefix, what string) *netnsTest {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipping %s: needs root to create a network namespace (run: sudo go test ./routes/)", what)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("skipping %s: iproute2's ip not found", what)
	}
	var b [4]byte
	rand.Read(b[:])
	n := &netnsTest{t: t, name: prefix + hex.EncodeToString(b[:])}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("skipping %s: ip netns add: %v: %s", what, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.name, err, out)
		}
	})
	ns, err := netns.GetFromName(n.name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", n.name, err)
	}
	t.Cleanup(func() { ns.Close() })
	n.ns = ns
	return n
}

// ip runs `ip -n NS args...` inside the test namespace.
func (n *netnsTest) ip(args ...string) {
	n.t.Helper()
	full := append([]string{"-n", n.name}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(full, " "), err, out)
	}
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startNetlinkWatcher runs w until the test ends and waits for its first
// sync.
func startNetlinkWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-w.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("watcher not ready")
	}
}

func TestNetlinkSourceInNamespace(t *testing.T) {
	n := newNetns(t)
	// vif-pxr has carrier while its peer eth-pxr is up.
	n.ip("link", "add", "vif-pxr", "type", "veth", "peer", "name", "eth-pxr")
	n.ip("link", "set", "vif-pxr", "up")
	n.ip("link", "set", "eth-pxr", "up")
	n.ip("link", "set", "lo", "up")
	n.ip("route", "add", "198.51.100.5/32", "dev", "vif-pxr") // before the watcher: from the dump

	src, err := NewNetlinkSource(&NetlinkConfig{Namespace: &n.ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	set := NewSet()
	w := &Watcher{Source: src, Set: set, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	startNetlinkWatcher(t, w)

	a := netip.MustParseAddr("192.0.2.10")
	dumped := netip.MustParseAddr("198.51.100.5")
	marker := netip.MustParseAddr("203.0.113.77")
	owned := func(want bool) func() bool { return func() bool { return set.Owned(a) == want } }
	// settle proves earlier events were applied: the marker route is only
	// owned once the watcher has seen vif-pxr up with carrier.
	settle := func() {
		t.Helper()
		n.ip("route", "replace", marker.String()+"/32", "dev", "vif-pxr")
		eventually(t, "the marker is owned", func() bool { return set.Owned(marker) })
		n.ip("route", "del", marker.String()+"/32", "dev", "vif-pxr")
		eventually(t, "the marker is gone", func() bool { return !set.Owned(marker) })
	}

	if !set.Owned(dumped) {
		t.Errorf("Owned(%v) = false after the initial dump, want true", dumped)
	}
	if lo := netip.MustParseAddr("127.0.0.1"); !set.Local(lo) {
		t.Errorf("Local(%v) = false after the initial dump, want true", lo)
	}

	steps := []struct {
		name      string
		cmd       string
		wantOwned bool
		settle    bool // the vif has carrier: prove all events were applied
	}{
		{"a /32 route via the vif is owned", "route add 192.0.2.10/32 dev vif-pxr metric 100", true, true},
		{"a lower-metric route via eth-pxr takes it away", "route add 192.0.2.10/32 dev eth-pxr metric 10", false, true},
		{"deleting that route gives it back", "route del 192.0.2.10/32 dev eth-pxr metric 10", true, true},
		{"a host address is not owned", "addr add 192.0.2.10/32 dev eth-pxr", false, true},
		{"removing the host address gives it back", "addr del 192.0.2.10/32 dev eth-pxr", true, true},
		{"carrier loss takes it away", "link set eth-pxr down", false, false},
		{"carrier return gives it back without a route event", "link set eth-pxr up", true, true},
		{"replace to eth-pxr takes it away", "route replace 192.0.2.10/32 dev eth-pxr metric 100", false, true},
		{"replace back to the vif gives it back", "route replace 192.0.2.10/32 dev vif-pxr metric 100", true, true},
		{"deleting the route takes it away", "route del 192.0.2.10/32 dev vif-pxr metric 100", false, true},
		{"a route in table 100 is not owned", "route add 192.0.2.10/32 dev vif-pxr table 100", false, true},
		{"a /24 routed to the vif is not owned", "route add 192.0.2.0/24 dev vif-pxr", false, true},
		{"the main-table /32 is owned again", "route add 192.0.2.10/32 dev vif-pxr", true, true},
		{"the vif set down flushes the route", "link set vif-pxr down", false, false},
	}
	for _, s := range steps {
		n.ip(strings.Fields(s.cmd)...)
		eventually(t, s.name, owned(s.wantOwned))
		if s.settle {
			settle()
			if got := set.Owned(a); got != s.wantOwned {
				t.Fatalf("%s: Owned(%v) = %v after settling, want %v", s.name, a, got, s.wantOwned)
			}
		}
	}

	// Back up, the vif has no route: the kernel flushed it silently.
	n.ip("link", "set", "vif-pxr", "up")
	settle()
	if set.Owned(a) {
		t.Errorf("Owned(%v) = true after the vif came back up, want false: the kernel flushed its route", a)
	}
	if set.Owned(dumped) {
		t.Errorf("Owned(%v) = true after the vif went down and up, want false", dumped)
	}
	n.ip("route", "add", "192.0.2.10/32", "dev", "vif-pxr")
	eventually(t, "the re-added route is owned", owned(true))

	n.ip("link", "del", "vif-pxr")
	eventually(t, "the deleted vif's route is gone", owned(false))
}

// TestNetlinkSourceResyncsAfterOverflow overflows a tiny receive buffer
// with a burst of routes: the kernel drops events (ENOBUFS), the watcher
// must notice, resync, and end with the right set.
func TestNetlinkSourceResyncsAfterOverflow(t *testing.T) {
	n := newNetns(t)
	n.ip("link", "add", "vif-pxr", "type", "veth", "peer", "name", "eth-pxr")
	n.ip("link", "set", "vif-pxr", "up")
	n.ip("link", "set", "eth-pxr", "up")

	src, err := NewNetlinkSource(&NetlinkConfig{Namespace: &n.ns, ReceiveBufferSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	set := NewSet()
	logs := &logRecorder{}
	// The watcher stalls on the first event until the bursts are in, so
	// that the source's channels fill and the 4 KiB socket overflows
	// whatever the machine's speed.
	gate := make(chan struct{})
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(gate) }) }
	t.Cleanup(openGate)
	w := &Watcher{Source: src, Set: set, Log: slog.New(logs), hook: func(what string) {
		if what == "event" {
			<-gate
		}
	}}
	startNetlinkWatcher(t, w)

	var add, del strings.Builder
	want := 0
	for _, net := range []string{"192.0.2", "198.51.100", "203.0.113"} {
		for i := range 256 {
			fmt.Fprintf(&add, "route add %s.%d/32 dev vif-pxr\n", net, i)
			fmt.Fprintf(&del, "route del %s.%d/32 dev vif-pxr\n", net, i)
			want++
		}
	}
	// 5 x 768 = 3840 events, more than the source's channels hold.
	for _, b := range []string{add.String(), del.String(), add.String(), del.String(), add.String()} {
		n.batch(b)
	}
	openGate()
	eventually(t, fmt.Sprintf("%d addresses are owned", want), func() bool { return set.Len() == want })
	n.batch(del.String())
	eventually(t, "no address is owned", func() bool { return set.Len() == 0 })

	lines := logs.take()
	lost := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "netlink events lost, resyncing") {
			lost++
		}
	}
	if lost == 0 {
		t.Error("no event loss logged: the test did not overflow the socket")
	}
	t.Logf("%d losses and resyncs", lost)
	for _, l := range lines {
		if !strings.HasPrefix(l, "address") {
			t.Log(l)
		}
	}
}

// batch runs `ip -n NS -batch -` with the commands on stdin.
func (n *netnsTest) batch(cmds string) {
	n.t.Helper()
	c := exec.Command("ip", "-n", n.name, "-batch", "-")
	c.Stdin = strings.NewReader(cmds)
	if out, err := c.CombinedOutput(); err != nil {
		n.t.Fatalf("ip -batch: %v: %s", err, out)
	}
}
