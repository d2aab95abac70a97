package routes

import (
	"encoding/binary"
	"iter"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// Set is the answer set: the owned addresses, the host's own addresses and
// the uplink's gateways, IPv4 and IPv6. It is safe for concurrent use.
// Owned, Local and Gateway do not allocate, so they can sit on the answer
// path of every ARP request or neighbour solicitation; they satisfy
// responder.AnswerSet and responder.GatewaySet.
//
// The queries answer for both families: an IPv4 address (netip.Addr.Is4)
// is looked up among the IPv4 addresses, an IPv6 address among the IPv6
// ones. An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is neither: it is
// never owned, local or a gateway, whatever its IPv4 form is. Unmap it
// first if it stands for an IPv4 address.
//
// The listings keep the meaning they had before IPv6: Len, Addrs,
// LocalAddrs and Gateways cover IPv4 only (ARP callers record and announce
// them); Len6, Addrs6, LocalAddrs6 and Gateways6 are their IPv6
// counterparts.
//
// A Watcher is the only writer of a Set (through unexported methods); share
// one Set between one Watcher and any number of readers.
type Set struct {
	mu    sync.RWMutex
	owned addrSet
	local addrSet
	// gw and gw6 hold the uplink's gateways, sorted: usually one or two,
	// read without the lock on every request.
	gw  atomic.Pointer[[]uint32]
	gw6 atomic.Pointer[[][16]byte]
}

// addrSet is a set of addresses with one map per family: IPv4 keyed by
// uint32 (the fast path of every ARP request), IPv6 by its 16 bytes.
type addrSet struct {
	v4 map[uint32]struct{}
	v6 map[[16]byte]struct{}
}

func newAddrSet(n4 int) addrSet {
	return addrSet{v4: make(map[uint32]struct{}, n4), v6: make(map[[16]byte]struct{})}
}

func (a addrSet) add(k addrKey) {
	if k.is4() {
		a.v4[k.v4()] = struct{}{}
	} else {
		a.v6[k] = struct{}{}
	}
}

func (a addrSet) del(k addrKey) {
	if k.is4() {
		delete(a.v4, k.v4())
	} else {
		delete(a.v6, k)
	}
}

func (a addrSet) has(k addrKey) bool {
	var ok bool
	if k.is4() {
		_, ok = a.v4[k.v4()]
	} else {
		_, ok = a.v6[k]
	}
	return ok
}

func (a addrSet) len() int { return len(a.v4) + len(a.v6) }

// all yields every key, IPv4 first, in no particular order.
func (a addrSet) all() iter.Seq[addrKey] {
	return func(yield func(addrKey) bool) {
		for k := range a.v4 {
			if !yield(key4(k)) {
				return
			}
		}
		for k := range a.v6 {
			if !yield(k) {
				return
			}
		}
	}
}

func (a addrSet) clone() addrSet {
	return addrSet{v4: maps.Clone(a.v4), v6: maps.Clone(a.v6)}
}

// NewSet returns an empty Set.
func NewSet() *Set {
	return &Set{owned: newAddrSet(0), local: newAddrSet(0)}
}

// key converts an IPv4 address to its IPv4 map key. It reports false for
// an invalid address, an IPv6 address and an IPv4-mapped IPv6 address.
func key(a netip.Addr) (uint32, bool) {
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:]), true
}

// key6 converts an IPv6 address that is not IPv4-mapped to its IPv6 map
// key, dropping any zone.
func key6(a netip.Addr) ([16]byte, bool) {
	if !a.Is6() || a.Is4In6() {
		return [16]byte{}, false
	}
	return a.As16(), true
}

// addrOf is the inverse of key.
func addrOf(k uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], k)
	return netip.AddrFrom4(b)
}

// Owned reports whether addr is answered for: an IPv4 address with an
// owned /32 route or an IPv6 address with an owned /128 route. It is false
// for an IPv4-mapped IPv6 address and the zero Addr. An IPv6 zone is
// ignored.
func (s *Set) Owned(addr netip.Addr) bool { return s.has(&s.owned, addr) }

// Local reports whether addr is an address configured on any interface of
// the host, IPv4 or IPv6 (link-local, tentative, optimistic, deprecated and
// dadfailed IPv6 addresses included). It is false for an IPv4-mapped IPv6
// address. An IPv6 zone is ignored.
func (s *Set) Local(addr netip.Addr) bool { return s.has(&s.local, addr) }

// has reports whether addr is in set, one of s's (read under s.mu: replace
// swaps their contents).
func (s *Set) has(set *addrSet, addr netip.Addr) bool {
	if addr.Is4() {
		b := addr.As4()
		s.mu.RLock()
		_, ok := set.v4[binary.BigEndian.Uint32(b[:])]
		s.mu.RUnlock()
		return ok
	}
	k, ok := key6(addr)
	if !ok {
		return false
	}
	s.mu.RLock()
	_, ok = set.v6[k]
	s.mu.RUnlock()
	return ok
}

// Gateway reports whether addr is a gateway of a main-table route via the
// uplink (the default route's next hop above all): never answered for.
// IPv6 gateways are usually link-local (fe80::1): they are matched without
// their zone, as the routes they come from are all via the uplink. It
// satisfies responder.GatewaySet and does not allocate.
func (s *Set) Gateway(addr netip.Addr) bool {
	if addr.Is4() {
		b := addr.As4()
		gw := s.gw.Load()
		if gw == nil {
			return false
		}
		_, found := slices.BinarySearch(*gw, binary.BigEndian.Uint32(b[:]))
		return found
	}
	k, ok := key6(addr)
	if !ok {
		return false
	}
	gw := s.gw6.Load()
	if gw == nil {
		return false
	}
	_, found := slices.BinarySearchFunc(*gw, k, compare16)
	return found
}

func compare16(a, b [16]byte) int { return compareKeys(a, b) }

// Gateways returns the uplink's IPv4 gateways in ascending order. It
// allocates.
func (s *Set) Gateways() []netip.Addr {
	var out []netip.Addr
	if gw := s.gw.Load(); gw != nil {
		for _, k := range *gw {
			out = append(out, addrOf(k))
		}
	}
	return out
}

// Gateways6 returns the uplink's IPv6 gateways (without zone) in ascending
// order. It allocates.
func (s *Set) Gateways6() []netip.Addr {
	var out []netip.Addr
	if gw := s.gw6.Load(); gw != nil {
		for _, k := range *gw {
			out = append(out, netip.AddrFrom16(k))
		}
	}
	return out
}

// Len returns the number of owned IPv4 addresses.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.owned.v4)
}

// Len6 returns the number of owned IPv6 addresses.
func (s *Set) Len6() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.owned.v6)
}

// lenAll returns the number of owned addresses of both families.
func (s *Set) lenAll() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.owned.len()
}

// Addrs returns the owned IPv4 addresses in ascending order, for status
// output, logs and tests. It allocates; do not call it per packet.
func (s *Set) Addrs() []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedAddrs(s.owned.v4)
}

// Addrs6 returns the owned IPv6 addresses in ascending order. It
// allocates; do not call it per packet.
func (s *Set) Addrs6() []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedAddrs6(s.owned.v6)
}

// LocalAddrs returns the host's own IPv4 addresses in ascending order, for
// recording the answer set (capture) and tests. It allocates; do not call
// it per packet.
func (s *Set) LocalAddrs() []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedAddrs(s.local.v4)
}

// LocalAddrs6 returns the host's own IPv6 addresses in ascending order. It
// allocates; do not call it per packet.
func (s *Set) LocalAddrs6() []netip.Addr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedAddrs6(s.local.v6)
}

func sortedAddrs(m map[uint32]struct{}) []netip.Addr {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]netip.Addr, len(keys))
	for i, k := range keys {
		out[i] = addrOf(k)
	}
	return out
}

func sortedAddrs6(m map[[16]byte]struct{}) []netip.Addr {
	keys := slices.SortedFunc(maps.Keys(m), compare16)
	out := make([]netip.Addr, len(keys))
	for i, k := range keys {
		out[i] = netip.AddrFrom16(k)
	}
	return out
}

// setOwned adds or removes one owned address.
func (s *Set) setOwned(k addrKey, owned bool) {
	s.mu.Lock()
	if owned {
		s.owned.add(k)
	} else {
		s.owned.del(k)
	}
	s.mu.Unlock()
}

// setLocal adds or removes one host address.
func (s *Set) setLocal(k addrKey, local bool) {
	s.mu.Lock()
	if local {
		s.local.add(k)
	} else {
		s.local.del(k)
	}
	s.mu.Unlock()
}

// isOwned is Owned by key.
func (s *Set) isOwned(k addrKey) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.owned.has(k)
}

// ownedKeys returns a copy of the owned keys.
func (s *Set) ownedKeys() addrSet {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.owned.clone()
}

// setGateways replaces the gateway set.
func (s *Set) setGateways(gw map[addrKey]struct{}) {
	var v4 []uint32
	var v6 [][16]byte
	for k := range gw {
		if k.is4() {
			v4 = append(v4, k.v4())
		} else {
			v6 = append(v6, k)
		}
	}
	slices.Sort(v4)
	slices.SortFunc(v6, compare16)
	s.gw.Store(&v4)
	s.gw6.Store(&v6)
}

// replace swaps the sets at once, so readers never see a half-applied
// resync. The Set takes ownership of owned and local.
func (s *Set) replace(owned, local addrSet, gw map[addrKey]struct{}) {
	// Gateways first: an address that just became one is refused before
	// the owned set that no longer holds it is in place.
	s.setGateways(gw)
	s.mu.Lock()
	s.owned, s.local = owned, local
	s.mu.Unlock()
}
