package routes

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// streamTruth is a streamSource that hands bigTruth's links and routes over
// one at a time, as NetlinkSource does: each route's Nexthops in a buffer
// reused from route to route.
type streamTruth struct{ n int }

func (s streamTruth) Subscribe(context.Context) (Subscription, error) {
	return nil, fmt.Errorf("streamTruth: no events")
}

func (s streamTruth) Dump(ctx context.Context) (Snapshot, error) {
	return bigTruth(s.n), nil
}

func (s streamTruth) dumpStream(ctx context.Context, sink dumpSink) error {
	const vifs = 1000
	sink.link(upLink(idxEth0, "eth0"))
	for i := range vifs {
		sink.link(upLink(100+i, fmt.Sprintf("vif%d.0", i)))
	}
	hops := make([]Nexthop, 1)
	for i := range s.n {
		hops[0] = Nexthop{LinkIndex: 100 + i%vifs}
		sink.route(Route{Dst: prefixOf(10<<24 + uint32(i)), Table: tableMain, Type: typeUnicast, Nexthops: hops})
	}
	return nil
}

func prefixOf(k uint32) netip.Prefix { return netip.PrefixFrom(addrOf(k), 32) }

// BenchmarkWatcherResyncStream measures a full resync of 100k routes as
// the kernel's source makes it: the dump streamed into a new mirror
// (dumpMirror), then every verdict recomputed (resyncMirror). Compare
// BenchmarkWatcherResync, which starts from a Snapshot already in memory.
func BenchmarkWatcherResyncStream(b *testing.B) {
	w := benchWatcher(b, 100_000)
	src := streamTruth{n: 100_000}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		w.m = newMirror() // as dumpBuffered does
		m, err := dumpMirror(ctx, src)
		if err != nil {
			b.Fatal(err)
		}
		w.resyncMirror(m, nil, time.Now(), "bench")
	}
	if got := w.Set.Len(); got != 100_000 {
		b.Fatalf("owned %d, want 100000", got)
	}
}
