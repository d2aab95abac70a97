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
