package responder

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// startOps runs r against a fake host with eth0 up and returns its socket.
func startOps(t *testing.T, r *Responder) *fakeConn {
	t.Helper()
	h := newFakeHost()
	h.setLink(eth0)
	r.Uplink, r.Listen, r.LookupLink = "eth0", h.listen, h.lookup
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of cancel")
		}
	})
	return nextConn(t, h)
}

// decisionLog records the OnDecision calls.
type decisionLog struct {
	mu   sync.Mutex
	errs []error
	n    int
}

func (l *decisionLog) hook(frame []byte, in Ingress, d Decision, werr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if d.Reason == Answer {
		l.errs = append(l.errs, werr)
	}
}

func (l *decisionLog) wait(t *testing.T, n int) []error {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		got, errs := l.n, append([]error(nil), l.errs...)
		l.mu.Unlock()
		if got >= n {
			return errs
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d decisions within 5 s", n)
	return nil
}

func TestDryRunDecidesAndCountsButSendsNothing(t *testing.T) {
	var dl decisionLog
	var announced []error
	var mu sync.Mutex
	set := &mutableSet{owned: map[netip.Addr]bool{guestIP: true}}
	r := &Responder{
		Set: set, DryRun: true, OnDecision: dl.hook,
		Announcements: AnnounceConfig{Count: 2, Interval: 10 * time.Millisecond},
		OnAnnounce: func(frame []byte, addr netip.Addr, werr error) {
			mu.Lock()
			announced = append(announced, werr)
			mu.Unlock()
		},
	}
	c := startOps(t, r)
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	c.in <- fakeFrame{b: request(t, reqOpts{targetIP: unroutedIP}), ptype: PacketBroadcast}
	r.Announce(guestIP)
	errs := dl.wait(t, 2)
	if len(errs) != 1 || !errors.Is(errs[0], ErrDryRun) {
		t.Errorf("OnDecision write errors for the answered request = %v, want [ErrDryRun]", errs)
	}
	if got := collect(c, 200*time.Millisecond); len(got) != 0 {
		t.Errorf("dry run wrote %d frames, want none", len(got))
	}
	st := r.Stats()
	if st.Decisions[Answer] != 1 || st.Replies != 0 || st.DryRunReplies != 1 {
		t.Errorf("answer, replies, dry-run replies = %d, %d, %d; want 1, 0, 1", st.Decisions[Answer], st.Replies, st.DryRunReplies)
	}
	if st.GARPsSent != 0 || st.DryRunGARPs != 2 {
		t.Errorf("GARPs sent, suppressed = %d, %d; want 0, 2", st.GARPsSent, st.DryRunGARPs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(announced) != 2 || !errors.Is(announced[0], ErrDryRun) {
		t.Errorf("OnAnnounce errors = %v, want 2 x ErrDryRun", announced)
	}
}

// countingObserver is a LatencyObserver.
type countingObserver struct {
	mu  sync.Mutex
	obs []float64
}

func (o *countingObserver) Observe(s float64) {
	o.mu.Lock()
	o.obs = append(o.obs, s)
	o.mu.Unlock()
}

func TestLatencyIsObservedForEveryReplyWritten(t *testing.T) {
	obs := &countingObserver{}
	r := &Responder{Set: testSet(), Latency: obs}
	c := startOps(t, r)
	c.in <- fakeFrame{b: request(t, reqOpts{targetIP: unroutedIP}), ptype: PacketBroadcast}
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	expectReply(t, c)
	time.Sleep(20 * time.Millisecond)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.obs) != 1 {
		t.Fatalf("%d latencies observed, want 1 (the one reply)", len(obs.obs))
	}
	if s := obs.obs[0]; s < 0 || s > 5 {
		t.Errorf("latency %v s is not plausible", s)
	}
	if mac, ok := r.UplinkMAC(); !ok || mac != uplinkMAC {
		t.Errorf("UplinkMAC() = %v, %v; want %v, true", mac, ok, uplinkMAC)
	}
}

func TestConflict(t *testing.T) {
	in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketBroadcast}
	zero := MAC{}
	tests := []struct {
		name  string
		frame reqOpts
		want  netip.Addr // invalid: no conflict
	}{
		{"a request from the router is no conflict", reqOpts{}, netip.Addr{}},
		{"another machine announcing an owned address is a conflict",
			reqOpts{senderMAC: ptr(otherMAC), ethSrc: ptr(otherMAC), senderIP: guestIP, targetIP: guestIP}, guestIP},
		{"a broadcast reply claiming an owned address is a conflict",
			reqOpts{op: 2, senderMAC: ptr(otherMAC), ethSrc: ptr(otherMAC), senderIP: guestIP, targetIP: routerIP}, guestIP},
		{"a request sent from an owned address by another machine is a conflict",
			reqOpts{senderMAC: ptr(otherMAC), ethSrc: ptr(otherMAC), senderIP: guestIP, targetIP: routerIP}, guestIP},
		{"a probe for an owned address is a conflict",
			reqOpts{senderMAC: ptr(otherMAC), ethSrc: ptr(otherMAC), senderIP: netip.IPv4Unspecified(), targetIP: guestIP}, guestIP},
		{"a probe for an address not owned is no conflict",
			reqOpts{senderMAC: ptr(otherMAC), ethSrc: ptr(otherMAC), senderIP: netip.IPv4Unspecified(), targetIP: unroutedIP}, netip.Addr{}},
		{"an announcement of an address not owned is no conflict",
			reqOpts{senderMAC: ptr(otherMAC), ethSrc: ptr(otherMAC), senderIP: unroutedIP, targetIP: unroutedIP}, netip.Addr{}},
		{"our own MAC announcing an owned address is no conflict",
			reqOpts{senderMAC: ptr(uplinkMAC), ethSrc: ptr(uplinkMAC), senderIP: guestIP, targetIP: guestIP}, netip.Addr{}},
		{"an inconsistent frame is not trusted",
			reqOpts{senderMAC: ptr(otherMAC), ethSrc: ptr(routerMAC), senderIP: guestIP, targetIP: guestIP}, netip.Addr{}},
		{"a zero sender MAC is not trusted",
			reqOpts{senderMAC: &zero, ethSrc: &zero, senderIP: guestIP, targetIP: guestIP}, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(request(t, tt.frame), in, testSet(), nil)
			got, ok := Conflict(d, testSet())
			if ok != tt.want.IsValid() || got != tt.want {
				t.Errorf("Conflict (reason %v) = %v, %v; want %v, %v", d.Reason, got, ok, tt.want, tt.want.IsValid())
			}
		})
	}
}

func TestConflictsAreCountedAndLoggedOncePerInterval(t *testing.T) {
	var logBuf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logBuf}, nil))
	r := &Responder{Set: testSet(), Log: log, ConflictInterval: time.Hour}
	c := startOps(t, r)
	garp := request(t, reqOpts{senderMAC: ptr(otherMAC), ethSrc: ptr(otherMAC), senderIP: guestIP, targetIP: guestIP})
	for range 3 {
		c.in <- fakeFrame{b: garp, ptype: PacketBroadcast}
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Conflicts < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := r.Stats().Conflicts; n != 3 {
		t.Fatalf("Conflicts = %d, want 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logBuf.String(), "address conflict"); n != 1 {
		t.Errorf("%d conflict lines logged, want 1:\n%s", n, logBuf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
