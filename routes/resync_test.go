package routes

import (
	"errors"
	"testing"
)

func TestWatcherCountsResyncsAfterLostEventsOnly(t *testing.T) {
	h := startWatcher(t, baseTruth(host(addrA, 0, dev(idxVif1))), nil)
	if !h.w.Synced() {
		t.Error("Synced() = false after the first sync")
	}
	if n := h.w.Resyncs(); n != 0 {
		t.Errorf("Resyncs() = %d after start, want 0 (the start-up sync is not a resync)", n)
	}
	h.lose(errors.New("lost"), baseTruth(host(addrA, 0, dev(idxVif1))))
	if n := h.w.Resyncs(); n != 1 {
		t.Errorf("Resyncs() = %d after one loss, want 1", n)
	}
	if !h.w.Synced() {
		t.Error("Synced() = false after the resync")
	}
}
