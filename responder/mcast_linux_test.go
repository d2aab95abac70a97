package responder

import (
	"encoding/hex"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// joinerInNamespace creates namespace pxr-n6<random> (deleted at cleanup)
// holding a veth pair up0 - rtr0, both up, and opens a GroupJoiner on up0
// from a thread inside it. It skips the test unless run as root.
func joinerInNamespace(t *testing.T) (*GroupJoiner, string) {
	t.Helper()
	ns := vethNamespace(t, "pxr-n6")
	var g *GroupJoiner
	err := inNamespace(ns, func() error {
		ifi, err := net.InterfaceByName("up0")
		if err != nil {
			return err
		}
		g, err = NewGroupJoiner(ifi.Index)
		return err
	})
	if err != nil {
		t.Fatalf("NewGroupJoiner in %s: %v", ns, err)
	}
	t.Cleanup(func() { g.Close() })
	return g, ns
}

// igmp6 returns the groups /proc/net/igmp6 lists for up0 in ns, as
// 32-digit hex strings.
func igmp6(t *testing.T, ns string) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/igmp6").Output()
	if err != nil {
		t.Fatalf("read /proc/net/igmp6 in %s: %v", ns, err)
	}
	groups := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "up0" {
			groups[f[2]] = true
		}
	}
	return groups
}

func hexGroup(a netip.Addr) string { b := a.As16(); return hex.EncodeToString(b[:]) }

func TestGroupJoinerJoinsSolicitedNodeGroups(t *testing.T) {
	g, ns := joinerInNamespace(t)
	a := netip.MustParseAddr("2001:db8::2")
	shares := netip.MustParseAddr("2001:db8:1::2") // same low 24 bits: same group
	other := netip.MustParseAddr("2001:db8::1:7")
	grpA, grpOther := hexGroup(SolicitedNode(a)), hexGroup(SolicitedNode(other))
	if grpA != "ff0200000000000000000001ff000002" {
		t.Fatalf("group of %v is %s", a, grpA)
	}
	for _, addr := range []netip.Addr{a, shares, other} {
		if err := g.Join(addr); err != nil {
			t.Fatalf("Join(%v): %v", addr, err)
		}
	}
	if got := igmp6(t, ns); !got[grpA] || !got[grpOther] {
		t.Fatalf("after joining, /proc/net/igmp6 lists %v for up0; want %s and %s", got, grpA, grpOther)
	}
	if g.Groups() != 2 {
		t.Errorf("Groups() = %d, want 2", g.Groups())
	}
	// The group stays while an address sharing it is still joined.
	if err := g.Leave(a); err != nil {
		t.Fatalf("Leave(%v): %v", a, err)
	}
	if got := igmp6(t, ns); !got[grpA] {
		t.Errorf("left %s while %v still shares it", grpA, shares)
	}
	if err := g.Leave(shares); err != nil {
		t.Fatalf("Leave(%v): %v", shares, err)
	}
	if got := igmp6(t, ns); got[grpA] || !got[grpOther] {
		t.Errorf("after leaving both sharers: %v; want %s gone, %s kept", got, grpA, grpOther)
	}
	if err := g.Leave(shares); err != nil {
		t.Errorf("a second Leave: %v, want nothing done", err)
	}
	if err := g.Join(netip.MustParseAddr("192.0.2.2")); err == nil {
		t.Errorf("joined a group for an IPv4 address")
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := igmp6(t, ns); got[grpOther] {
		t.Errorf("Close left %s joined", grpOther)
	}
	if err := g.Join(other); err == nil {
		t.Errorf("Join after Close succeeded")
	}
}

func TestGroupJoinerOpensMoreSocketsWhenOneIsFull(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: joins thousands of groups")
	}
	g, ns := joinerInNamespace(t)
	// A socket holds about optmem_max/64 memberships: a few thousand.
	const n = 6000
	base := netip.MustParseAddr("2001:db8::").As16()
	for i := range n {
		a := base
		a[13], a[14], a[15] = byte(i>>16), byte(i>>8), byte(i)
		if err := g.Join(netip.AddrFrom16(a)); err != nil {
			t.Fatalf("Join #%d: %v", i, err)
		}
	}
	g.mu.Lock()
	sockets := len(g.fds)
	g.mu.Unlock()
	if got := len(igmp6(t, ns)); got < n {
		t.Errorf("/proc/net/igmp6 lists %d groups on up0, want at least %d", got, n)
	}
	t.Logf("%d groups on %d sockets", n, sockets)
	if sockets < 2 {
		t.Logf("all %d groups fit one socket (net.core.optmem_max is large here): the overflow path was not exercised", n)
	}
}
