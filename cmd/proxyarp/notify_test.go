package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDaemon stands in for the watcher and the responder, and records what
// the notifier sends.
type fakeDaemon struct {
	ready    chan struct{}
	synced   atomic.Bool
	attached atomic.Bool
	up       atomic.Bool
	owned    atomic.Int64

	mu   sync.Mutex
	sent []string // one entry per datagram, assignments joined by "|"
	wake chan struct{}
}

func newFakeDaemon() *fakeDaemon {
	return &fakeDaemon{ready: make(chan struct{}), wake: make(chan struct{}, 100)}
}

func (f *fakeDaemon) Ready() <-chan struct{} { return f.ready }
func (f *fakeDaemon) Synced() bool           { return f.synced.Load() }
func (f *fakeDaemon) Attached() bool         { return f.attached.Load() }

func (f *fakeDaemon) sync() {
	f.synced.Store(true)
	close(f.ready)
}

func (f *fakeDaemon) send(states ...string) error {
	f.mu.Lock()
	f.sent = append(f.sent, strings.Join(states, "|"))
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

func (f *fakeDaemon) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

// waitFor waits until a datagram containing want was sent, and returns
// everything sent so far.
func (f *fakeDaemon) waitFor(t *testing.T, want string) []string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		msgs := f.messages()
		for _, m := range msgs {
			if strings.Contains(m, want) {
				return msgs
			}
		}
		select {
		case <-f.wake:
		case <-deadline:
			t.Fatalf("no notification containing %q; sent:\n%s", want, strings.Join(msgs, "\n"))
		}
	}
}

func count(msgs []string, want string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, want) {
			n++
		}
	}
	return n
}

func startNotifier(t *testing.T, f *fakeDaemon, watchdog, attachGrace time.Duration) (stop func()) {
	t.Helper()
	s := &systemdState{
		send:        f.send,
		log:         slog.New(slog.DiscardHandler),
		uplink:      "eth0",
		watcher:     f,
		resp:        f,
		owned:       func() int { return int(f.owned.Load()) },
		uplinkUp:    func(string) bool { return f.up.Load() },
		watchdog:    watchdog,
		tick:        10 * time.Millisecond,
		attachGrace: attachGrace,
		detachGrace: time.Nanosecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestNotifyReadyAfterSyncAndAttach(t *testing.T) {
	f := newFakeDaemon()
	f.up.Store(true)
	f.owned.Store(2)
	stop := startNotifier(t, f, 0, time.Minute)
	f.waitFor(t, "STATUS=starting")
	time.Sleep(50 * time.Millisecond)
	if msgs := f.messages(); count(msgs, "READY=1") != 0 {
		t.Fatalf("READY before the first sync: %q", msgs)
	}
	f.sync()
	f.attached.Store(true)
	msgs := f.waitFor(t, "READY=1")
	if got, want := msgs[len(msgs)-1], "READY=1|STATUS=answering on eth0 for 2 addresses"; got != want {
		t.Errorf("ready notification = %q, want %q", got, want)
	}
	// A lost uplink and its return update the status.
	f.attached.Store(false)
	f.up.Store(false)
	f.waitFor(t, "STATUS=waiting for uplink eth0")
	f.up.Store(true)
	f.attached.Store(true)
	f.owned.Store(3)
	f.waitFor(t, "STATUS=answering on eth0 for 3 addresses")
	stop()
	msgs = f.messages()
	if got := msgs[len(msgs)-1]; got != "STOPPING=1|STATUS=stopping" {
		t.Errorf("last notification = %q, want STOPPING=1", got)
	}
	if n := count(msgs, "READY=1"); n != 1 {
		t.Errorf("READY sent %d times, want once", n)
	}
	if n := count(msgs, "WATCHDOG=1"); n != 0 {
		t.Errorf("WATCHDOG sent %d times without a watchdog", n)
	}
}

func TestNotifyReadyAtOnceWhileTheUplinkIsMissing(t *testing.T) {
	f := newFakeDaemon()
	// READY within waitFor's 5s proves it did not wait for the attach.
	startNotifier(t, f, 0, time.Minute)
	f.sync()
	msgs := f.waitFor(t, "READY=1")
	if got, want := msgs[len(msgs)-1], "READY=1|STATUS=waiting for uplink eth0"; !strings.HasPrefix(got, want) {
		t.Errorf("ready notification = %q, want prefix %q", got, want)
	}
}

func TestNotifyReadyAfterGraceWhenTheAttachDoesNotHappen(t *testing.T) {
	f := newFakeDaemon()
	f.up.Store(true)
	startNotifier(t, f, 0, 200*time.Millisecond)
	start := time.Now()
	f.sync()
	msgs := f.waitFor(t, "READY=1")
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("READY after %v, want the 200ms attach grace first", d)
	}
	if got, want := msgs[len(msgs)-1], "READY=1|STATUS=attaching to uplink eth0"; !strings.HasPrefix(got, want) {
		t.Errorf("ready notification = %q, want prefix %q", got, want)
	}
}

func TestNotifyWatchdogOnlyWhileHealthy(t *testing.T) {
	f := newFakeDaemon()
	f.up.Store(true)
	f.attached.Store(true)
	stop := startNotifier(t, f, 40*time.Millisecond, time.Minute)
	f.sync()
	f.waitFor(t, "READY=1")
	time.Sleep(300 * time.Millisecond)
	healthy := count(f.messages(), "WATCHDOG=1")
	if healthy < 3 {
		t.Fatalf("%d watchdog pings in 300ms at a 40ms interval, want several", healthy)
	}
	for _, tc := range []struct {
		name string
		fail func()
		mend func()
	}{
		{"routing table not synced", func() { f.synced.Store(false) }, func() { f.synced.Store(true) }},
		{"uplink up but not attached", func() { f.attached.Store(false) }, func() { f.attached.Store(true) }},
	} {
		tc.fail()
		time.Sleep(50 * time.Millisecond) // a ping may have been on its way
		before := count(f.messages(), "WATCHDOG=1")
		time.Sleep(300 * time.Millisecond)
		if n := count(f.messages(), "WATCHDOG=1") - before; n != 0 {
			t.Errorf("%s: %d watchdog pings, want none", tc.name, n)
		}
		tc.mend()
		before = count(f.messages(), "WATCHDOG=1")
		time.Sleep(200 * time.Millisecond)
		if n := count(f.messages(), "WATCHDOG=1") - before; n == 0 {
			t.Errorf("%s, then mended: no watchdog pings, want them back", tc.name)
		}
	}
	// Waiting for a missing uplink is healthy.
	f.attached.Store(false)
	f.up.Store(false)
	time.Sleep(50 * time.Millisecond)
	before := count(f.messages(), "WATCHDOG=1")
	time.Sleep(200 * time.Millisecond)
	if n := count(f.messages(), "WATCHDOG=1") - before; n == 0 {
		t.Error("no watchdog pings while waiting for a missing uplink, want them")
	}
	stop()
}

// An uplink that comes up between two attach tries of the responder is
// not a reason to stop the watchdog pings, for detachGrace.
func TestNotifyToleratesAnAttachInProgress(t *testing.T) {
	f := newFakeDaemon()
	f.up.Store(true)
	f.attached.Store(true)
	s := &systemdState{
		send: f.send, log: slog.New(slog.DiscardHandler), uplink: "eth0", watcher: f, resp: f,
		owned: func() int { return 0 }, uplinkUp: func(string) bool { return f.up.Load() },
		detachGrace: time.Second,
	}
	f.sync()
	now := time.Now()
	if why := s.unhealthy(now); why != "" {
		t.Fatalf("attached: unhealthy %q", why)
	}
	f.attached.Store(false)
	if why := s.unhealthy(now.Add(time.Millisecond)); why != "" {
		t.Errorf("just detached with the uplink up: unhealthy %q, want healthy for the grace", why)
	}
	if why := s.unhealthy(now.Add(1100 * time.Millisecond)); why == "" {
		t.Error("detached for longer than the grace: healthy, want the reason")
	}
	f.attached.Store(true)
	if why := s.unhealthy(now.Add(1200 * time.Millisecond)); why != "" {
		t.Errorf("attached again: unhealthy %q", why)
	}
}
