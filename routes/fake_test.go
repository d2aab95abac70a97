package routes

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource is a scripted Source: Dump returns the current truth (after
// any queued errors), Subscribe hands out fakeSubs the test drives.
type fakeSource struct {
	mu       sync.Mutex
	truth    Snapshot
	dumpErrs []error            // returned by the next Dumps, in order
	subErrs  []error            // returned by the next Subscribes, in order
	onDump   func(sub *fakeSub) // run once, inside the next successful Dump
	dumps    int                // Dump calls
	cur      *fakeSub
	subs     chan *fakeSub // every new subscription
}

func newFakeSource(truth Snapshot) *fakeSource {
	return &fakeSource{truth: truth, subs: make(chan *fakeSub, 16)}
}

func (f *fakeSource) setTruth(s Snapshot) {
	f.mu.Lock()
	f.truth = s
	f.mu.Unlock()
}

func (f *fakeSource) dumpCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dumps
}

func (f *fakeSource) Subscribe(ctx context.Context) (Subscription, error) {
	f.mu.Lock()
	if len(f.subErrs) > 0 {
		err := f.subErrs[0]
		f.subErrs = f.subErrs[1:]
		f.mu.Unlock()
		return nil, err
	}
	sub := &fakeSub{ch: make(chan Event), closed: make(chan struct{})}
	f.cur = sub
	f.mu.Unlock()
	f.subs <- sub
	return sub, nil
}

func (f *fakeSource) Dump(ctx context.Context) (Snapshot, error) {
	f.mu.Lock()
	f.dumps++
	if len(f.dumpErrs) > 0 {
		err := f.dumpErrs[0]
		f.dumpErrs = f.dumpErrs[1:]
		f.mu.Unlock()
		return Snapshot{}, err
	}
	snap := Snapshot{
		Links:  slices.Clone(f.truth.Links),
		Addrs:  slices.Clone(f.truth.Addrs),
		Routes: slices.Clone(f.truth.Routes),
	}
	hook, sub := f.onDump, f.cur
	f.onDump = nil
	f.mu.Unlock()
	if hook != nil {
		hook(sub)
	}
	return snap, nil
}

// fakeSub is a Subscription the test feeds by hand.
type fakeSub struct {
	ch     chan Event // unbuffered: a send returns once the watcher took it
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	err    error
}

func (s *fakeSub) Events() <-chan Event { return s.ch }

func (s *fakeSub) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *fakeSub) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *fakeSub) send(t *testing.T, ev Event) {
	t.Helper()
	select {
	case s.ch <- ev:
	case <-s.closed:
		t.Fatalf("send %v: subscription closed by the watcher", ev.Kind)
	case <-time.After(5 * time.Second):
		t.Fatalf("send %v: watcher not reading", ev.Kind)
	}
}

// lose ends the subscription as a netlink receive error does.
func (s *fakeSub) lose(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.ch)
}

// harness runs a Watcher on a fakeSource.
type harness struct {
	t    *testing.T
	src  *fakeSource
	sub  *fakeSub
	w    *Watcher
	set  *Set
	acks chan string
	logs *logRecorder
}

// startWatcher runs a Watcher on truth and waits for its first sync.
// configure, if not nil, can set fields before Run.
func startWatcher(t *testing.T, truth Snapshot, configure func(*Watcher, *fakeSource)) *harness {
	t.Helper()
	h := newHarness(t, truth, configure)
	h.sub = h.nextSub()
	h.wait("sync")
	return h
}

func newHarness(t *testing.T, truth Snapshot, configure func(*Watcher, *fakeSource)) *harness {
	t.Helper()
	h := &harness{
		t:    t,
		src:  newFakeSource(truth),
		set:  NewSet(),
		acks: make(chan string, 1024),
		logs: &logRecorder{},
	}
	h.w = &Watcher{
		Source:     h.src,
		Set:        h.set,
		Log:        slog.New(h.logs),
		minBackoff: time.Millisecond,
		maxBackoff: 10 * time.Millisecond,
		// No verification resync unless a test asks for one: it would
		// interleave "sync" reports with the events a test waits for.
		verifyDelay: time.Hour,
		hook:        func(s string) { h.acks <- s },
	}
	if configure != nil {
		configure(h.w, h.src)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

func (h *harness) nextSub() *fakeSub {
	h.t.Helper()
	select {
	case s := <-h.src.subs:
		return s
	case <-time.After(5 * time.Second):
		h.t.Fatal("the watcher did not subscribe")
		return nil
	}
}

// wait waits for the watcher to report what ("sync" or "event").
func (h *harness) wait(what string) {
	h.t.Helper()
	select {
	case got := <-h.acks:
		if got != what {
			h.t.Fatalf("watcher reported %q, want %q", got, what)
		}
	case <-time.After(5 * time.Second):
		h.t.Fatalf("watcher did not report %q", what)
	}
}

// send delivers events one by one, each applied before the next.
func (h *harness) send(evs ...Event) {
	h.t.Helper()
	for _, ev := range evs {
		h.sub.send(h.t, ev)
		h.wait("event")
	}
}

// lose loses the subscription; the source's truth becomes truth; it waits
// for the resync.
func (h *harness) lose(err error, truth Snapshot) {
	h.t.Helper()
	h.src.setTruth(truth)
	h.sub.lose(err)
	h.sub = h.nextSub()
	h.wait("sync")
}

// logRecorder is a slog.Handler that keeps each record as one line
// "msg key=value ...", leaving out durations.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "duration", "retry_in":
		default:
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// take returns the lines logged since the last take.
func (r *logRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lines
	r.lines = nil
	return l
}
