package responder_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// staticSource is a routes.Source whose dump is a fixed table and whose
// subscription never reports anything.
type staticSource struct{ snap routes.Snapshot }

type quietSub struct{ ch chan routes.Event }

func (s quietSub) Events() <-chan routes.Event { return s.ch }
func (s quietSub) Err() error                  { return nil }
func (s quietSub) Close() error                { return nil }

func (s staticSource) Subscribe(context.Context) (routes.Subscription, error) {
	return quietSub{ch: make(chan routes.Event)}, nil
}
func (s staticSource) Dump(context.Context) (routes.Snapshot, error) { return s.snap, nil }

// loadedSet fills a real routes.Set through the real Watcher: n /32 routes
// spread over 100 guest vifs, plus the host's own address on eth0.
func loadedSet(b *testing.B, n int) *routes.Set {
	snap := routes.Snapshot{
		Links: []routes.Link{{Index: 1, Name: "eth0", Up: true, Carrier: true}},
		Addrs: []routes.Addr{{LinkIndex: 1, Prefix: netip.MustParsePrefix("192.0.2.1/24")}},
	}
	for i := range 100 {
		snap.Links = append(snap.Links, routes.Link{Index: 10 + i, Name: "vif" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Up: true, Carrier: true})
	}
	// 198.18.0.0/15, the benchmarking range (RFC 2544): 131072 addresses.
	// This table only lives in memory; nothing is sent to it.
	for i := range n {
		a := [4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)}
		snap.Routes = append(snap.Routes, routes.Route{
			Dst: netip.PrefixFrom(netip.AddrFrom4(a), 32), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST,
			Nexthops: []routes.Nexthop{{LinkIndex: 10 + i%100}},
		})
	}
	set := routes.NewSet()
	w := &routes.Watcher{Source: staticSource{snap}, Set: set, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-w.Ready()
	cancel()
	<-done
	if set.Len() != n {
		b.Fatalf("set holds %d addresses, want %d", set.Len(), n)
	}
	return set
}

func frame(b *testing.B, target string) []byte {
	router := net.HardwareAddr{2, 0, 0, 0, 0, 0xfe}
	p, err := arp.NewPacket(arp.OperationRequest, router, netip.MustParseAddr("192.0.2.254"), net.HardwareAddr{0, 0, 0, 0, 0, 0}, netip.MustParseAddr(target))
	if err != nil {
		b.Fatal(err)
	}
	pb, _ := p.MarshalBinary()
	f, err := (&ethernet.Frame{Destination: ethernet.Broadcast, Source: router, EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkDecideRoutesSet is the whole answer path minus the socket: Decide
// plus the lookup in a routes.Set holding 100k owned addresses, and the
// reply built into a reused buffer.
func BenchmarkDecideRoutesSet(b *testing.B) {
	set := loadedSet(b, 100_000)
	in := responder.Ingress{Name: "eth0", MAC: responder.MAC{2, 0, 0, 0, 0, 1}, Type: responder.PacketBroadcast}
	for _, bc := range []struct {
		name, target string
		want         responder.Reason
	}{
		{"owned", "198.19.134.159", responder.Answer},
		{"not-owned", "192.0.2.99", responder.NotOwned},
		{"own-address", "192.0.2.1", responder.OwnAddress},
	} {
		f := frame(b, bc.target)
		out := make([]byte, 0, responder.ReplyLen)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := responder.Decide(f, in, set, nil)
				if d.Reason != bc.want {
					b.Fatalf("Decide = %v, want %v", d.Reason, bc.want)
				}
				out = d.AppendReply(out[:0])
			}
		})
	}
}
