package responder

import "net/netip"

// AnswerSet is the view of the kernel's routing state that Decide needs.
// routes.Set implements it; tests use a map-backed fake.
//
// Implementations must be safe for concurrent use: the live responder calls
// them from its read loop while the route watcher updates them, and they must
// not allocate, since they sit on the answer path of every request.
type AnswerSet interface {
	// Owned reports whether addr is answered for: it has a /32 route in the
	// main table whose lowest-metric routes all leave through guest
	// interfaces that are up with carrier, and it is not a host address.
	Owned(addr netip.Addr) bool
	// Local reports whether addr is an address of the host itself.
	Local(addr netip.Addr) bool
}

// GatewaySet is implemented by answer sets that know the uplink's gateways:
// the next hops of the main table's routes via the uplink (the default
// route's above all). Decide never answers for them (UplinkGateway).
// routes.Set implements it. It is a separate interface so that answer sets
// that know no gateways (a replayed capture's, tests' fakes) need not.
//
// Gateway must be safe for concurrent use and must not allocate, like the
// AnswerSet methods.
type GatewaySet interface {
	// Gateway reports whether addr is a gateway of a route via the uplink.
	Gateway(addr netip.Addr) bool
}

// isGateway reports whether set knows addr as an uplink gateway. The type
// assertion does not allocate.
func isGateway(set AnswerSet, addr netip.Addr) bool {
	g, ok := set.(GatewaySet)
	return ok && g.Gateway(addr)
}
