package responder

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendGratuitousBytes(t *testing.T) {
	want := strings.Join([]string{
		"ffffffffffff", "020000000001", "0806", // broadcast from the uplink
		"0001", "0800", "06", "04", "0001", // Ethernet/IPv4 request
		"020000000001", "c0000202", // sender: uplink MAC, 192.0.2.2
		"000000000000", "c0000202", // target: zero MAC, 192.0.2.2
		strings.Repeat("00", 18),
	}, "")
	got := hex.EncodeToString(AppendGratuitous(nil, uplinkMAC, guestIP))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("announcement bytes (-want +got):\n%s", diff)
	}
	// Our own Decide sees it as what it is: gratuitous, never answered.
	d := Decide(AppendGratuitous(nil, routerMAC, guestIP), Ingress{MAC: uplinkMAC, Type: PacketBroadcast}, testSet(), nil)
	if d.Reason != Gratuitous {
		t.Errorf("Decide(announcement) = %v, want %v", d.Reason, Gratuitous)
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tb := newTokenBucket(2, t0)
	for i := range 2 {
		if ok, _ := tb.take(t0); !ok {
			t.Fatalf("take %d of a full bucket refused", i+1)
		}
	}
	ok, wait := tb.take(t0)
	if ok || wait != 500*time.Millisecond {
		t.Errorf("third take at once = %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := tb.take(t0.Add(500 * time.Millisecond)); !ok {
		t.Error("take after the refill time refused")
	}
	if ok, _ := tb.take(t0.Add(time.Hour)); !ok {
		t.Error("take after an hour refused")
	}
	// An hour of idling refills only a second's worth.
	tb.take(t0.Add(time.Hour))
	if ok, _ := tb.take(t0.Add(time.Hour)); ok {
		t.Error("the bucket held more than its rate")
	}
	if ok, _ := newTokenBucket(0, t0).take(t0); !ok {
		t.Error("rate 0 (no cap) refused")
	}
}

// mutableSet is an AnswerSet whose owned addresses tests can change.
type mutableSet struct {
	mu    sync.Mutex
	owned map[netip.Addr]bool
}

func (s *mutableSet) Owned(a netip.Addr) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.owned[a] }
func (s *mutableSet) Local(netip.Addr) bool   { return false }
func (s *mutableSet) set(a netip.Addr, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owned[a] = v
}
func (s *mutableSet) Addrs() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.Addr
	for a, v := range s.owned {
		if v {
			out = append(out, a)
		}
	}
	return out
}

func startAnnouncing(t *testing.T, set *mutableSet, cfg AnnounceConfig) (*Responder, *fakeHost) {
	t.Helper()
	h := newFakeHost()
	h.setLink(eth0)
	r, _ := runResponder(t, &Responder{Uplink: "eth0", Set: set, Listen: h.listen, LookupLink: h.lookup, Announcements: cfg})
	return r, h
}

// nextAttachedConn is nextConn, then waits (bounded) until the responder
// says it is attached: announcements made before that are not sent.
func nextAttachedConn(t *testing.T, r *Responder, h *fakeHost) *fakeConn {
	t.Helper()
	c := nextConn(t, h)
	for i := 0; i < 500 && !r.Attached(); i++ {
		time.Sleep(time.Millisecond)
	}
	if !r.Attached() {
		t.Fatal("responder not attached 0.5 s after opening its socket")
	}
	return c
}

// collect reads the frames written on c for d.
func collect(c *fakeConn, d time.Duration) [][]byte {
	var out [][]byte
	deadline := time.After(d)
	for {
		select {
		case b := <-c.out:
			out = append(out, b)
		case <-deadline:
			return out
		}
	}
}

func TestAnnounceSendsABurst(t *testing.T) {
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r, h := startAnnouncing(t, set, AnnounceConfig{Count: 3, Interval: 30 * time.Millisecond})
	c := nextAttachedConn(t, r, h)
	r.Announce(guestIP)
	got := collect(c, 300*time.Millisecond)
	if len(got) != 3 {
		t.Fatalf("%d frames for one burst of 3", len(got))
	}
	want := AppendGratuitous(nil, uplinkMAC, guestIP)
	for i, f := range got {
		if diff := cmp.Diff(want, f); diff != "" {
			t.Errorf("frame %d (-want +got):\n%s", i, diff)
		}
	}
	if n := r.Stats().GARPsSent; n != 3 {
		t.Errorf("GARPsSent = %d, want 3", n)
	}
}

func TestAnnounceStopsWhenNoLongerOwned(t *testing.T) {
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r, h := startAnnouncing(t, set, AnnounceConfig{Count: 5, Interval: 300 * time.Millisecond})
	c := nextAttachedConn(t, r, h)
	r.Announce(guestIP)
	expectReply(t, c) // the first announcement goes out at once
	set.set(guestIP, false)
	if rest := collect(c, 1200*time.Millisecond); len(rest) != 0 {
		t.Errorf("%d more announcements after the address moved away; want none", len(rest))
	}
}

func TestAnnounceRespectsTheGlobalRate(t *testing.T) {
	set := &mutableSet{owned: map[netip.Addr]bool{}}
	var addrs []netip.Addr
	for i := range 20 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})
		set.set(a, true)
		addrs = append(addrs, a)
	}
	r, h := startAnnouncing(t, set, AnnounceConfig{Count: 1, Interval: time.Second, Rate: 5})
	c := nextAttachedConn(t, r, h)
	for _, a := range addrs {
		r.Announce(a)
	}
	// A full bucket lets 5 out at once, then one every 200 ms: well under
	// 20 within half a second, and never more than 5 + 0.5 s * 5/s.
	got := collect(c, 500*time.Millisecond)
	if len(got) < 5 || len(got) > 8 {
		t.Errorf("%d announcements in 0.5 s at 5/s (bucket of 5); want 5 to 8", len(got))
	}
}

func TestAnnounceDisabled(t *testing.T) {
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r, h := startAnnouncing(t, set, AnnounceConfig{})
	c := nextConn(t, h)
	r.Announce(guestIP)
	if got := collect(c, 100*time.Millisecond); len(got) != 0 {
		t.Errorf("%d announcements with Count 0", len(got))
	}
}

func TestReattachAnnouncesEveryOwnedAddressOnce(t *testing.T) {
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true, guest2IP: true}}
	r, h := startAnnouncing(t, set, AnnounceConfig{Count: 3, Interval: 10 * time.Millisecond})
	c1 := nextConn(t, h)
	if got := collect(c1, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d announcements at start-up; what the first sync finds is not news", len(got))
	}
	newMAC := MAC{0x02, 0, 0, 0, 0, 0x42}
	moved := *eth0
	moved.HardwareAddr = newMAC[:]
	h.setLink(&moved)
	r.Recheck()
	c2 := nextConn(t, h)
	got := collect(c2, 200*time.Millisecond)
	seen := map[netip.Addr]int{}
	for _, f := range got {
		if MAC(f[6:12]) != newMAC {
			t.Errorf("announcement from %v, want the new MAC %v", MAC(f[6:12]), newMAC)
		}
		seen[netip.AddrFrom4([4]byte(f[28:32]))]++
	}
	if diff := cmp.Diff(map[netip.Addr]int{guestIP: 1, guest2IP: 1}, seen); diff != "" {
		t.Errorf("announcements per address after re-attach (-want +got):\n%s", diff)
	}
}
