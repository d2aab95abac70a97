package responder

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeJoiner records Join, Leave and Close as text lines.
type fakeJoiner struct {
	mu  *sync.Mutex // the ndpHost's
	ops *[]string
	id  int
}

func (j *fakeJoiner) log(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	*j.ops = append(*j.ops, fmt.Sprintf("%d %s", j.id, s))
}

func (j *fakeJoiner) Join(a netip.Addr) error  { j.log("join " + a.String()); return nil }
func (j *fakeJoiner) Leave(a netip.Addr) error { j.log("leave " + a.String()); return nil }
func (j *fakeJoiner) Close() error             { j.log("close"); return nil }

// ndpHost is a fakeHost with a second listen for the NDP socket and a
// joiner factory.
type ndpHost struct {
	*fakeHost
	conns6  chan *fakeConn
	ipv6    bool
	mu      sync.Mutex
	ops     []string
	joiners int
}

func newNDPHost() *ndpHost {
	return &ndpHost{fakeHost: newFakeHost(), conns6: make(chan *fakeConn, 8), ipv6: true}
}

func (h *ndpHost) listen6(*net.Interface) (Conn, error) {
	c := newFakeConn()
	h.conns6 <- c
	return c, nil
}

func (h *ndpHost) newJoiner(int) (Joiner, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.joiners++
	return &fakeJoiner{mu: &h.mu, ops: &h.ops, id: h.joiners}, nil
}

func (h *ndpHost) joinOps() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// listingSet is a fakeSet that lists its owned addresses, as routes.Set.
type listingSet struct {
	fakeSet
}

func (s listingSet) Addrs() []netip.Addr {
	var out []netip.Addr
	for a, ok := range s.owned {
		if ok && a.Is4() {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (s listingSet) Addrs6() []netip.Addr {
	var out []netip.Addr
	for a, ok := range s.owned {
		if ok && a.Is6() {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func ndpResponder(h *ndpHost, logw *bytes.Buffer) *Responder {
	r := &Responder{
		Uplink: "eth0", Set: listingSet{testSet()}, NDP: true,
		Listen: h.listen, LookupLink: h.lookup, ListenNDP: h.listen6,
		IPv6Enabled: func(string) bool { return h.ipv6 },
		NewJoiner:   h.newJoiner,
	}
	if logw != nil {
		r.Log = slog.New(slog.NewTextHandler(logw, nil))
	}
	return r
}

func nextConn6(t *testing.T, h *ndpHost) *fakeConn {
	t.Helper()
	select {
	case c := <-h.conns6:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("responder did not open an NDP socket within 5 s")
		return nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunAnswersNeighborSolicitationsOnTheSecondSocket(t *testing.T) {
	h := newNDPHost()
	h.setLink(eth0)
	var decided []Proto
	var mu sync.Mutex
	r := ndpResponder(h, nil)
	r.OnDecision = func(_ []byte, _ Ingress, d Decision, _ error) {
		mu.Lock()
		defer mu.Unlock()
		decided = append(decided, d.Request.Proto)
	}
	runResponder(t, r)
	c, c6 := nextConn(t, h.fakeHost), nextConn6(t, h)

	c6.in <- fakeFrame{b: ns(t, nsOpts{}), ptype: PacketMulticast}
	checkNA(t, expectReply(t, c6), naWant{dstMAC: routerMAC, src: guestIP6, dst: routerIP6, solicited: true})
	c6.in <- fakeFrame{b: ns(t, nsOpts{target: unroutedIP6}), ptype: PacketMulticast}
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	if got := expectReply(t, c); len(got) != ReplyLen {
		t.Errorf("ARP reply is %d bytes, want %d", len(got), ReplyLen)
	}
	// The replies counter moves after the write the test has already
	// seen: wait for it too.
	waitFor(t, "three decisions and two replies", func() bool { st := r.Stats(); return st.Frames == 3 && st.Replies == 2 })
	st := r.Stats()
	if st.Replies != 2 || st.Decisions[Answer] != 2 || st.Decisions[NotOwned] != 1 {
		t.Errorf("stats: replies %d, answered %d, not owned %d; want 2, 2, 1", st.Replies, st.Decisions[Answer], st.Decisions[NotOwned])
	}
	select {
	case b := <-c6.out:
		t.Errorf("unexpected frame on the NDP socket (no answer for an unowned target): % x", b)
	case b := <-c.out:
		t.Errorf("unexpected frame on the ARP socket: % x", b)
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(fmt.Sprint(decided), "ndp"); n != 2 {
		t.Errorf("OnDecision saw protocols %v, want 2 ndp", decided)
	}
}

func TestRunJoinsGroupsAndRejoinsOnReattach(t *testing.T) {
	h := newNDPHost()
	h.setLink(eth0)
	r, _ := runResponder(t, ndpResponder(h, nil))
	c, _ := nextConn(t, h.fakeHost), nextConn6(t, h)
	// At attach: every owned IPv6 address of the Set, in order.
	waitFor(t, "the start-up joins", func() bool { return r.JoinedGroups() == 3 })
	extra := netip.MustParseAddr("2001:db8::42")
	r.SetOwned(extra, true)
	r.SetOwned(extra, true) // idempotent
	r.SetOwned(guestIP, true)
	r.SetOwned(guest2IP6, false)
	r.SetOwned(guest2IP6, false)
	want := []string{"1 join 2001:db8::2", "1 join 2001:db8::fd", "1 join 2001:db8:1::7", "1 join 2001:db8::42", "1 leave 2001:db8:1::7"}
	if diff := cmp.Diff(want, h.joinOps()); diff != "" {
		t.Errorf("joiner operations (-want +got):\n%s", diff)
	}

	// The uplink goes away: the groups go with the sockets, and the new
	// attachment joins the Set's addresses again.
	c.in <- fakeFrame{err: os.NewSyscallError("recvfrom", unix.ENETDOWN)}
	nextConn(t, h.fakeHost)
	nextConn6(t, h)
	waitFor(t, "the re-attach joins", func() bool { return len(h.joinOps()) == len(want)+4 })
	want = append(want, "1 close", "2 join 2001:db8::2", "2 join 2001:db8::fd", "2 join 2001:db8:1::7")
	if diff := cmp.Diff(want, h.joinOps()); diff != "" {
		t.Errorf("joiner operations (-want +got):\n%s", diff)
	}
}

func TestRunAnnouncesIPv6WithUnsolicitedNAs(t *testing.T) {
	h := newNDPHost()
	h.setLink(eth0)
	r := ndpResponder(h, nil)
	r.Announcements = AnnounceConfig{Count: 2, Interval: 10 * time.Millisecond}
	runResponder(t, r)
	c, c6 := nextConn(t, h.fakeHost), nextConn6(t, h)
	waitFor(t, "attached", r.Attached)
	r.Announce(guestIP6)
	for range 2 {
		checkNA(t, expectReply(t, c6), naWant{dstMAC: allNodesMAC, src: guestIP6, dst: allNodes, override: true})
	}
	r.Announce(guestIP)
	if f := expectReply(t, c); len(f) != ReplyLen || f[0] != 0xff {
		t.Errorf("gratuitous ARP % x", f)
	}
	waitFor(t, "the announcements counted", func() bool { return r.Stats().GARPsSent == 4 })

	// Re-attach: announceAll covers the IPv6 addresses.
	c.in <- fakeFrame{err: os.NewSyscallError("recvfrom", unix.ENETDOWN)}
	c, c6 = nextConn(t, h.fakeHost), nextConn6(t, h)
	got := map[netip.Addr]bool{}
	for range 3 {
		f := expectReply(t, c6)
		got[netip.AddrFrom16([16]byte(f[ndpOff+8:ndpOff+24]))] = true
	}
	if !got[guestIP6] || !got[guest2IP6] || !got[gatewayIP6] {
		t.Errorf("re-attach announced %v, want the 3 owned IPv6 addresses", got)
	}
}

func TestRunAnswersARPOnlyWhenIPv6IsDisabled(t *testing.T) {
	h := newNDPHost()
	h.ipv6 = false
	h.setLink(eth0)
	var logw syncBuf
	r := ndpResponder(h, nil)
	r.Log = slog.New(slog.NewTextHandler(&logw, nil))
	runResponder(t, r)
	c := nextConn(t, h.fakeHost)
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	expectReply(t, c)
	// A re-attach does not say it again.
	c.in <- fakeFrame{err: os.NewSyscallError("recvfrom", unix.ENETDOWN)}
	c = nextConn(t, h.fakeHost)
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	expectReply(t, c)
	select {
	case <-h.conns6:
		t.Error("an NDP socket was opened on an uplink without IPv6")
	default:
	}
	if n := strings.Count(logw.String(), "IPv6 is disabled on the uplink"); n != 1 {
		t.Errorf("logged the ARP-only note %d times, want 1:\n%s", n, logw.String())
	}
	if r.JoinedGroups() != 0 {
		t.Errorf("JoinedGroups = %d without IPv6, want 0", r.JoinedGroups())
	}
}

// syncBuf is a bytes.Buffer safe for the logger's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
