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
	for _, a := range addrs("198.51.100.7", "192.0.2.10", "203.0.113.1") {
		k, _ := key(a)
		s.setOwned(k, true)
	}
	k, _ := key(mustAddr("192.0.2.1"))
	s.setLocal(k, true)

	tests := []struct {
		name      string
		addr      netip.Addr
		wantOwned bool
		wantLocal bool
	}{
		{name: "an owned address is owned", addr: mustAddr("192.0.2.10"), wantOwned: true},
		{name: "another address is not", addr: mustAddr("192.0.2.11")},
		{name: "a host address is local, not owned", addr: mustAddr("192.0.2.1"), wantLocal: true},
		{name: "the IPv4-mapped IPv6 form of an owned address is not owned", addr: mustAddr("::ffff:192.0.2.10")},
		{name: "an IPv6 address is neither", addr: mustAddr("2001:db8::1")},
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
		})
	}
	if diff := cmp.Diff(addrs("192.0.2.10", "198.51.100.7", "203.0.113.1"), s.Addrs(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Addrs() (-want +got):\n%s", diff)
	}
	if got := s.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3", got)
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
		k, _ := key(as[i])
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
	})
	if allocs != 0 {
		t.Errorf("Owned/Local allocate %v times per run, want 0", allocs)
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
		k, _ := key(as[i%len(as)])
		s.setOwned(k, i%2 == 0)
		if i%1000 == 0 {
			s.replace(map[uint32]struct{}{k: {}}, map[uint32]struct{}{}, nil)
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
