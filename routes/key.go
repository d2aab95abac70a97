package routes

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// addrKey is an address as a key of the watcher's and the mirror's maps:
// the 16 bytes of an IPv6 address, or of the IPv4-mapped form of an IPv4
// address. keyOf never makes a key of a real IPv4-mapped IPv6 address
// (::ffff:192.0.2.1 given as IPv6), so the two families cannot be confused:
// a key of the ::ffff:0:0/96 form always stands for an IPv4 address.
type addrKey [16]byte

// keyOf returns the key of an IPv4 address or of an IPv6 address that is
// not IPv4-mapped; it reports false for anything else (the zero Addr, an
// IPv4-mapped IPv6 address). An IPv6 zone is dropped.
func keyOf(a netip.Addr) (addrKey, bool) {
	if a.Is4() || (a.Is6() && !a.Is4In6()) {
		return a.As16(), true
	}
	return addrKey{}, false
}

// v4Prefix is the ::ffff:0:0/96 prefix of the keys of IPv4 addresses.
var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// is4 reports whether k is the key of an IPv4 address.
func (k addrKey) is4() bool { return [12]byte(k[:12]) == v4Prefix }

// v4 returns the IPv4 map key of the Set; k must be an IPv4 key.
func (k addrKey) v4() uint32 { return binary.BigEndian.Uint32(k[12:]) }

// addr returns the address k stands for.
func (k addrKey) addr() netip.Addr {
	if k.is4() {
		return netip.AddrFrom4([4]byte(k[12:]))
	}
	return netip.AddrFrom16(k)
}

// key4 is the key of the IPv4 address of the Set's key k.
func key4(k uint32) addrKey {
	var b addrKey
	copy(b[:12], v4Prefix[:])
	binary.BigEndian.PutUint32(b[12:], k)
	return b
}

// compareKeys orders keys as their 16-byte forms: IPv4 addresses (in
// ::ffff:0:0/96) after ::/96 and before every global IPv6 address.
func compareKeys(a, b addrKey) int { return bytes.Compare(a[:], b[:]) }

// hostBits returns the prefix length of a host route to a: 32 or 128.
func hostBits(a netip.Addr) int {
	if a.Is4() {
		return 32
	}
	return 128
}
