package routes

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// Set is the answer set: the owned addresses and the host's own addresses.
// It is safe for concurrent use. Owned and Local do not allocate, so they
// can sit on the answer path of every ARP request; they satisfy
// responder.AnswerSet.
//
// A Watcher is the only writer of a Set (through unexported methods); share
// one Set between one Watcher and any number of readers.
type Set struct {
	mu    sync.RWMutex
	owned map[uint32]struct{}
	local map[uint32]struct{}
	// gw holds the uplink's gateways, sorted: usually one or two, read
	// without the lock on every request.
	gw atomic.Pointer[[]uint32]
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{
		owned: make(map[uint32]struct{}),
		local: make(map[uint32]struct{}),
	}
}

// key converts an IPv4 address to its map key. It reports false for an
// invalid address, an IPv6 address and an IPv4-mapped IPv6 address.
func key(a netip.Addr) (uint32, bool) {
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:]), true
}

// addrOf is the inverse of key.
func addrOf(k uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], k)
	return netip.AddrFrom4(b)
}

// Owned reports whether addr is answered for. It is false for anything but
// an IPv4 address.
func (s *Set) Owned(addr netip.Addr) bool {
	k, ok := key(addr)
	if !ok {
		return false
	}
	s.mu.RLock()
	_, ok = s.owned[k]
	s.mu.RUnlock()
	return ok
}

// Local reports whether addr is an IPv4 address configured on any
// interface of the host.
func (s *Set) Local(addr netip.Addr) bool {
	k, ok := key(addr)
	if !ok {
		return false
	}
	s.mu.RLock()
	_, ok = s.local[k]
	s.mu.RUnlock()
	return ok
}

// Gateway reports whether addr is a gateway of a main-table route via the
// uplink (the default route's next hop above all): never answered for. It
// satisfies responder.GatewaySet and does not allocate.
func (s *Set) Gateway(addr netip.Addr) bool {
	k, ok := key(addr)
	if !ok {
		return false
	}
	gw := s.gw.Load()
	if gw == nil {
		return false
	}
	_, found := slices.BinarySearch(*gw, k)
	return found
}

// Gateways returns the uplink's gateways in ascending order. It allocates.
func (s *Set) Gateways() []netip.Addr {
	var out []netip.Addr
	if gw := s.gw.Load(); gw != nil {
		for _, k := range *gw {
			out = append(out, addrOf(k))
		}
	}
	return out
}

// Len returns the number of owned addresses.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.owned)
}

// Addrs returns the owned addresses in ascending order, for status output,
// logs and tests. It allocates; do not call it per packet.
func (s *Set) Addrs() []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedAddrs(s.owned)
}

// LocalAddrs returns the host's own addresses in ascending order, for
// recording the answer set (capture) and tests. It allocates; do not call
// it per packet.
func (s *Set) LocalAddrs() []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedAddrs(s.local)
}

func sortedAddrs(m map[uint32]struct{}) []netip.Addr {
	keys := make([]uint32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]netip.Addr, len(keys))
	for i, k := range keys {
		out[i] = addrOf(k)
	}
	return out
}

// setOwned adds or removes one owned address.
func (s *Set) setOwned(k uint32, owned bool) {
	s.mu.Lock()
	if owned {
		s.owned[k] = struct{}{}
	} else {
		delete(s.owned, k)
	}
	s.mu.Unlock()
}

// setLocal adds or removes one host address.
func (s *Set) setLocal(k uint32, local bool) {
	s.mu.Lock()
	if local {
		s.local[k] = struct{}{}
	} else {
		delete(s.local, k)
	}
	s.mu.Unlock()
}

// isOwned is Owned by key.
func (s *Set) isOwned(k uint32) bool {
	s.mu.RLock()
	_, ok := s.owned[k]
	s.mu.RUnlock()
	return ok
}

// ownedKeys returns a copy of the owned keys.
func (s *Set) ownedKeys() map[uint32]struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := make(map[uint32]struct{}, len(s.owned))
	for k := range s.owned {
		m[k] = struct{}{}
	}
	return m
}

// setGateways replaces the gateway set. The Set takes ownership of gw.
func (s *Set) setGateways(gw map[uint32]struct{}) {
	keys := make([]uint32, 0, len(gw))
	for k := range gw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s.gw.Store(&keys)
}

// replace swaps the maps at once, so readers never see a half-applied
// resync. The Set takes ownership of the maps.
func (s *Set) replace(owned, local, gw map[uint32]struct{}) {
	// Gateways first: an address that just became one is refused before
	// the owned set that no longer holds it is in place.
	s.setGateways(gw)
	s.mu.Lock()
	s.owned, s.local = owned, local
	s.mu.Unlock()
}
