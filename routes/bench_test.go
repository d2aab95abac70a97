package routes

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// bigTruth has n /32 routes spread over 1000 vifs (100 addresses each at
// n = 100k), from 10.0.0.0 up. These addresses never leave the process.
func bigTruth(n int) Snapshot {
	snap := Snapshot{Links: []Link{upLink(idxEth0, "eth0")}}
	const vifs = 1000
	for i := range vifs {
		snap.Links = append(snap.Links, upLink(100+i, fmt.Sprintf("vif%d.0", i)))
	}
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 10<<24+uint32(i))
		snap.Routes = append(snap.Routes, host(netip.AddrFrom4(b).String(), 0, dev(100+i%vifs)))
	}
	return snap
}

func benchWatcher(b *testing.B, n int) *Watcher {
	w := &Watcher{Set: NewSet(), Log: discardLogger()}
	w.setup()
	w.resync(bigTruth(n), nil, time.Now(), "bench")
	if got := w.Set.Len(); got != n {
		b.Fatalf("owned %d, want %d", got, n)
	}
	return w
}

// BenchmarkWatcherRouteChurn measures one route add plus one delete with
// 100k routes in the table.
func BenchmarkWatcherRouteChurn(b *testing.B) {
	w := benchWatcher(b, 100_000)
	r := host("192.0.2.10", 0, dev(100))
	b.ReportAllocs()
	for b.Loop() {
		w.apply(addRoute(r))
		w.apply(delRoute(r))
	}
}

// BenchmarkWatcherCarrierFlap measures a carrier loss and return of one vif
// carrying 100 of 100k routes.
func BenchmarkWatcherCarrierFlap(b *testing.B) {
	w := benchWatcher(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		w.apply(linkNoCarrier(100, "vif0.0"))
		w.apply(linkUp(100, "vif0.0"))
	}
}

// BenchmarkWatcherResync measures a full resync of 100k routes.
func BenchmarkWatcherResync(b *testing.B) {
	w := benchWatcher(b, 100_000)
	snap := bigTruth(100_000)
	b.ReportAllocs()
	for b.Loop() {
		w.resync(snap, nil, time.Now(), "bench")
	}
}
