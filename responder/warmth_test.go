package responder

import (
	"testing"
	"time"
)

// TestWarmthSleep: the reader sleeps at most warmPollInterval while a frame
// came within KeepWarm, pollInterval otherwise (before any frame, once
// KeepWarm has passed, and with KeepWarm zero).
func TestWarmthSleep(t *testing.T) {
	w := warmth{keepWarm: time.Hour}
	if got := w.sleep(); got != pollInterval {
		t.Errorf("before any frame: sleep %v, want %v", got, pollInterval)
	}
	w.frame()
	if got := w.sleep(); got != warmPollInterval {
		t.Errorf("right after a frame, KeepWarm 1h: sleep %v, want %v", got, warmPollInterval)
	}
	if warmPollInterval >= 10*time.Millisecond {
		t.Errorf("warmPollInterval %v: must stay under sysmon's 10 ms, or the P is taken all the same", warmPollInterval)
	}

	w = warmth{keepWarm: time.Nanosecond}
	w.frame()
	time.Sleep(time.Millisecond)
	if got := w.sleep(); got != pollInterval {
		t.Errorf("KeepWarm passed: sleep %v, want %v", got, pollInterval)
	}

	w = warmth{busyPoll: time.Hour}
	w.frame()
	if got := w.sleep(); got != pollInterval {
		t.Errorf("KeepWarm 0: sleep %v, want %v", got, pollInterval)
	}
}

// TestWarmthSpin: spinning follows a frame only when it came within the
// busy-poll window of the one before, and never without a window.
func TestWarmthSpin(t *testing.T) {
	w := warmth{busyPoll: time.Hour, keepWarm: time.Hour}
	w.frame()
	if !w.spinUntil().IsZero() {
		t.Error("after a lone frame: spins, want no spinning")
	}
	w.frame()
	until := w.spinUntil()
	if until.IsZero() {
		t.Fatal("after two frames back to back: no spinning")
	}
	if want := w.last.Add(time.Hour); !until.Equal(want) {
		t.Errorf("spins until %v, want the last frame + the window, %v", until, want)
	}

	w = warmth{busyPoll: time.Nanosecond}
	w.frame()
	time.Sleep(time.Millisecond)
	w.frame()
	if !w.spinUntil().IsZero() {
		t.Error("frames further apart than the window: spins")
	}

	w = warmth{keepWarm: time.Hour}
	w.frame()
	w.frame()
	if !w.spinUntil().IsZero() {
		t.Error("busy-poll window 0: spins")
	}
}
