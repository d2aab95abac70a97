package responder

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestMACLimiterBucket(t *testing.T) {
	l := newMACLimiter(3, 16)
	t0 := time.Unix(1000, 0)
	a, b := MAC{2, 0, 0, 0, 0, 1}, MAC{2, 0, 0, 0, 0, 2}
	var got []bool
	for range 4 {
		got = append(got, l.allow(a, t0))
	}
	if want := []bool{true, true, true, false}; !equalBools(got, want) {
		t.Errorf("a burst of 4 at 3/s: %v, want %v", got, want)
	}
	if !l.allow(b, t0) {
		t.Error("another requester is limited by the first one's bucket")
	}
	// A third of a second later one token is back, not two.
	t1 := t0.Add(time.Second / 3).Add(time.Millisecond)
	if !l.allow(a, t1) || l.allow(a, t1) {
		t.Error("after 1/3 s at 3/s: want exactly one more reply")
	}
	// A rate change starts every bucket afresh; zero turns the limit off.
	l.setRate(1)
	if !l.allow(a, t1) || l.allow(a, t1) {
		t.Error("after setRate(1): want a burst of exactly one")
	}
	l.setRate(0)
	for range 100 {
		if !l.allow(a, t1) {
			t.Fatal("rate 0 limited a reply")
		}
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMACLimiterIsBoundedUnderAMACFlood(t *testing.T) {
	const max = 64
	l := newMACLimiter(1, max)
	now := time.Unix(1000, 0)
	for i := range 100000 {
		mac := MAC{2, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 0}
		now = now.Add(time.Microsecond) // all active: nothing refills
		if !l.allow(mac, now) {
			t.Fatalf("a new requester (%d) got no reply", i)
		}
		if len(l.buckets) > max {
			t.Fatalf("%d buckets after %d MACs, want at most %d", len(l.buckets), i+1, max)
		}
	}
	// Idle buckets go first: a heavy requester still active keeps its.
	l = newMACLimiter(1, max)
	heavy := MAC{2, 0xaa, 0, 0, 0, 0}
	l.allow(heavy, now)
	for i := range max - 1 {
		l.allow(MAC{2, 0, 0, 0, byte(i), 1}, now)
	}
	later := now.Add(2 * time.Second)
	l.allow(heavy, later) // active again: its bucket is fresh
	l.allow(MAC{2, 0xbb, 0, 0, 0, 0}, later)
	if _, ok := l.buckets[heavy]; !ok {
		t.Error("the active requester's bucket was evicted before idle ones")
	}
	if len(l.buckets) > max {
		t.Errorf("%d buckets, want at most %d", len(l.buckets), max)
	}
}

func TestRateLimitSuppressesRepliesPerRequester(t *testing.T) {
	var dl decisionLog
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r := &Responder{Set: set, RateLimit: 2, OnDecision: dl.hook}
	c := startOps(t, r)
	other := MAC{0x02, 0, 0, 0, 0, 0x42}
	for range 3 {
		c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	}
	c.in <- fakeFrame{b: request(t, reqOpts{ethSrc: &other, senderMAC: &other}), ptype: PacketBroadcast}
	errs := dl.wait(t, 4)
	if len(errs) != 4 || errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrRateLimited) || errs[3] != nil {
		t.Errorf("write errors of the 4 answered requests = %v, want [nil nil ErrRateLimited nil]", errs)
	}
	if got := collect(c, 100*time.Millisecond); len(got) != 3 {
		t.Errorf("%d replies written, want 3", len(got))
	}
	st := r.Stats()
	if st.Decisions[Answer] != 4 || st.Replies != 3 || st.RateLimitedReplies != 1 {
		t.Errorf("answer, replies, rate-limited = %d, %d, %d; want 4, 3, 1", st.Decisions[Answer], st.Replies, st.RateLimitedReplies)
	}

	// Lifted while running: everything is answered again.
	r.SetRateLimit(0)
	for range 3 {
		c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	}
	dl.wait(t, 7)
	if got := collect(c, 100*time.Millisecond); len(got) != 3 {
		t.Errorf("%d replies written after SetRateLimit(0), want 3", len(got))
	}
}

func TestRateLimitAppliesBeforeDryRun(t *testing.T) {
	var dl decisionLog
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r := &Responder{Set: set, RateLimit: 1, DryRun: true, OnDecision: dl.hook}
	c := startOps(t, r)
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	errs := dl.wait(t, 2)
	if len(errs) != 2 || !errors.Is(errs[0], ErrDryRun) || !errors.Is(errs[1], ErrRateLimited) {
		t.Errorf("write errors = %v, want [ErrDryRun ErrRateLimited]", errs)
	}
	if got := collect(c, 50*time.Millisecond); len(got) != 0 {
		t.Errorf("dry run wrote %d frames", len(got))
	}
	if st := r.Stats(); st.DryRunReplies != 1 || st.RateLimitedReplies != 1 {
		t.Errorf("dry-run, rate-limited = %d, %d; want 1, 1", st.DryRunReplies, st.RateLimitedReplies)
	}
}

func TestSetConfigNarrowsAllowLive(t *testing.T) {
	var dl decisionLog
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r := &Responder{Set: set, OnDecision: dl.hook}
	c := startOps(t, r)
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	dl.wait(t, 1)
	r.SetConfig(&Config{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	dl.wait(t, 2)
	if st := r.Stats(); st.Decisions[Answer] != 1 || st.Decisions[OutsideAllow] != 1 {
		t.Errorf("answer, outside-allow = %d, %d; want 1, 1", st.Decisions[Answer], st.Decisions[OutsideAllow])
	}
	if got := collect(c, 50*time.Millisecond); len(got) != 1 {
		t.Errorf("%d replies, want 1", len(got))
	}
}

func TestSetAnnouncementsLive(t *testing.T) {
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r, h := startAnnouncing(t, set, AnnounceConfig{}) // off at start
	c := nextConn(t, h)
	r.Announce(guestIP)
	if got := collect(c, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d announcements while off", len(got))
	}
	r.SetAnnouncements(AnnounceConfig{Count: 2, Interval: 10 * time.Millisecond})
	r.Announce(guestIP)
	if got := collect(c, 200*time.Millisecond); len(got) != 2 {
		t.Errorf("%d announcements after turning them on with count 2, want 2", len(got))
	}
}

func TestDecideRefusesTheUplinkGatewayWithoutAllocating(t *testing.T) {
	frame := request(t, reqOpts{targetIP: gatewayIP})
	var set AnswerSet = testSet()
	in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketBroadcast}
	var d Decision
	allocs := testing.AllocsPerRun(100, func() { d = Decide(frame, in, set, nil) })
	if d.Reason != UplinkGateway || allocs != 0 {
		t.Errorf("Decide = %v with %v allocations, want uplink-gateway with 0", d.Reason, allocs)
	}
	// An answer set that knows no gateways (a replayed capture's) decides
	// by ownership as before.
	plain := struct{ AnswerSet }{testSet()}
	if d := Decide(frame, in, plain, nil); d.Reason != Answer {
		t.Errorf("without GatewaySet: Decide = %v, want answer", d.Reason)
	}
}
