package routes

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSet(t *testing.T) {
	s := NewSet()
	for _, a := range addrs("198.51.100.7", "192.0.2.10", "203.0.113.1", "2001:db8::10", "2001:db8::c000:20b") {
		k, _ := keyOf(a)
		s.setOwned(k, true)
	}
	for _, a := range addrs("192.0.2.1", "2001:db8::1", "fe80::1") {
		k, _ := keyOf(a)
		s.setLocal(k, true)
	}
	gw := map[addrKey]struct{}{}
	for _, a := range addrs("203.0.113.254", "fe80::254") {
		k, _ := keyOf(a)
		gw[k] = struct{}{}
	}
	s.setGateways(gw)

	tests := []struct {
		name      string
		addr      netip.Addr
		wantOwned bool
		wantLocal bool
		wantGw    bool
	}{
		{name: "an owned address is owned", addr: mustAddr("192.0.2.10"), wantOwned: true},
		{name: "another address is not", addr: mustAddr("192.0.2.11")},
		{name: "a host address is local, not owned", addr: mustAddr("192.0.2.1"), wantLocal: true},
		{name: "the IPv4-mapped IPv6 form of an owned address is not owned", addr: mustAddr("::ffff:192.0.2.10")},
		{name: "an owned IPv6 address is owned", addr: mustAddr("2001:db8::10"), wantOwned: true},
		{name: "another IPv6 address is not", addr: mustAddr("2001:db8::11")},
		{name: "an IPv6 host address is local, not owned", addr: mustAddr("2001:db8::1"), wantLocal: true},
		{name: "a link-local host address is local", addr: mustAddr("fe80::1"), wantLocal: true},
		{name: "a zone does not matter", addr: mustAddr("fe80::1%eth0"), wantLocal: true},
		{name: "an IPv4 gateway is a gateway", addr: mustAddr("203.0.113.254"), wantGw: true},
		{name: "a link-local IPv6 gateway is a gateway", addr: mustAddr("fe80::254"), wantGw: true},
		{name: "a link-local IPv6 gateway with a zone is a gateway", addr: mustAddr("fe80::254%eth0"), wantGw: true},
		{name: "the IPv4-mapped form of a gateway is not one", addr: mustAddr("::ffff:203.0.113.254")},
		{name: "the IPv4 address whose bits end an owned IPv6 address is not owned", addr: mustAddr("192.0.2.11")},
		{name: "the IPv4-mapped form of a host address is not local", addr: mustAddr("::ffff:192.0.2.1")},
		{name: "the zero Addr is neither", addr: netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Owned(tt.addr); got != tt.wantOwned {
				t.Errorf("Owned(%v) = %v, want %v", tt.addr, got, tt.wantOwned)
			}
			if got := s.Local(tt.addr); got != tt.wantLocal {
				t.Errorf("Local(%v) = %v, want %v", tt.addr, got, tt.wantLocal)
			}
			if got := s.Gateway(tt.addr); got != tt.wantGw {
				t.Errorf("Gateway(%v) = %v, want %v", tt.addr, got, tt.wantGw)
			}
		})
	}
	cmpA := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	for _, c := range []struct {
		name      string
		want, got []netip.Addr
	}{
		{"Addrs() (IPv4 only)", addrs("192.0.2.10", "198.51.100.7", "203.0.113.1"), s.Addrs()},
		{"Addrs6()", addrs("2001:db8::10", "2001:db8::c000:20b"), s.Addrs6()},
		{"LocalAddrs() (IPv4 only)", addrs("192.0.2.1"), s.LocalAddrs()},
		{"LocalAddrs6()", addrs("2001:db8::1", "fe80::1"), s.LocalAddrs6()},
		{"Gateways() (IPv4 only)", addrs("203.0.113.254"), s.Gateways()},
		{"Gateways6()", addrs("fe80::254"), s.Gateways6()},
	} {
		if diff := cmp.Diff(c.want, c.got, cmpA); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	if got := s.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3 (IPv4 only)", got)
	}
	if got := s.Len6(); got != 2 {
		t.Errorf("Len6() = %d, want 2", got)
	}
}

func TestKeyOfKeepsTheFamiliesApart(t *testing.T) {
	k4, ok4 := keyOf(mustAddr("192.0.2.1"))
	if !ok4 || !k4.is4() || k4.addr() != mustAddr("192.0.2.1") {
		t.Errorf("keyOf(192.0.2.1) = %v, %v: want an IPv4 key that converts back", k4.addr(), ok4)
	}
	if _, ok := keyOf(mustAddr("::ffff:192.0.2.1")); ok {
		t.Error("keyOf(::ffff:192.0.2.1) = true, want false: a mapped IPv6 address must never share the IPv4 key")
	}
	k6, ok6 := keyOf(mustAddr("2001:db8::1"))
	if !ok6 || k6.is4() || k6.addr() != mustAddr("2001:db8::1") {
		t.Errorf("keyOf(2001:db8::1) = %v, %v: want an IPv6 key that converts back", k6.addr(), ok6)
	}
	if _, ok := keyOf(netip.Addr{}); ok {
		t.Error("keyOf(zero Addr) = true, want false")
	}
}

// fillSet returns a Set with n owned addresses from 10.0.0.0 up, and the
// addresses.
func fillSet(n int) (*Set, []netip.Addr) {
	s := NewSet()
	as := make([]netip.Addr, n)
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], 10<<24+uint32(i))
		as[i] = netip.AddrFrom4(b)
		k, _ := keyOf(as[i])
		s.setOwned(k, true)
		if i%1000 == 0 {
			s.setLocal(k, true)
		}
	}
	return s, as
}

// fillSet6 returns a Set with n owned IPv6 addresses from 2001:db8::/96 up,
// and the addresses.
func fillSet6(n int) (*Set, []netip.Addr) {
	s := NewSet()
	as := make([]netip.Addr, n)
	for i := range n {
		b := mustAddr("2001:db8::").As16()
		binary.BigEndian.PutUint32(b[12:], uint32(i))
		as[i] = netip.AddrFrom16(b)
		k, _ := keyOf(as[i])
		s.setOwned(k, true)
		if i%1000 == 0 {
			s.setLocal(k, true)
		}
	}
	return s, as
}

func TestSetLookupsDoNotAllocate(t *testing.T) {
	s, as := fillSet(100_000)
	miss := mustAddr("192.0.2.99")
	v6 := mustAddr("2001:db8::1")
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		a := as[i%len(as)]
		i++
		if !s.Owned(a) {
			t.Fatalf("Owned(%v) = false", a)
		}
		s.Local(a)
		s.Owned(miss)
		s.Local(miss)
		s.Owned(v6)
		s.Local(v6)
		s.Gateway(a)
	})
	if allocs != 0 {
		t.Errorf("Owned/Local allocate %v times per run, want 0", allocs)
	}
}

func TestSetLookupsDoNotAllocate6(t *testing.T) {
	s, as := fillSet6(100_000)
	k, _ := keyOf(mustAddr("fe80::1"))
	s.setGateways(map[addrKey]struct{}{k: {}})
	miss := mustAddr("2001:db8:1::99")
	zoned := mustAddr("fe80::1%eth0")
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		a := as[i%len(as)]
		i++
		if !s.Owned(a) {
			t.Fatalf("Owned(%v) = false", a)
		}
		s.Local(a)
		s.Owned(miss)
		s.Local(miss)
		if !s.Gateway(zoned) {
			t.Fatalf("Gateway(%v) = false", zoned)
		}
		s.Owned(zoned)
	})
	if allocs != 0 {
		t.Errorf("IPv6 Owned/Local/Gateway allocate %v times per run, want 0", allocs)
	}
}

func TestSetConcurrentReadersAndWriter(t *testing.T) {
	s, as := fillSet(1000)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s.Owned(as[i%len(as)])
				s.Local(as[i%len(as)])
			}
		})
	}
	for i := range 10_000 {
		k, _ := keyOf(as[i%len(as)])
		s.setOwned(k, i%2 == 0)
		if i%1000 == 0 {
			owned := newAddrSet(1)
			owned.add(k)
			s.replace(owned, newAddrSet(0), nil)
			s.Addrs()
		}
	}
	close(stop)
	wg.Wait()
}

func BenchmarkSetOwned(b *testing.B) {
	s, as := fillSet(100_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !s.Owned(as[i]) {
			b.Fatal("not owned")
		}
		i++
		if i == len(as) {
			i = 0
		}
	}
}

// BenchmarkSetOwned6 is BenchmarkSetOwned for IPv6 addresses.
func BenchmarkSetOwned6(b *testing.B) {
	s, as := fillSet6(100_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !s.Owned(as[i]) {
			b.Fatal("not owned")
		}
		i++
		if i == len(as) {
			i = 0
		}
	}
}

func BenchmarkSetOwnedParallel(b *testing.B) {
	s, as := fillSet(100_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Owned(as[i])
			i++
			if i == len(as) {
				i = 0
			}
		}
	})
}

// Set must satisfy responder.AnswerSet; routes cannot import responder, so
// the interface's shape is repeated here.
var _ interface {
	Owned(netip.Addr) bool
	Local(netip.Addr) bool
} = (*Set)(nil)
