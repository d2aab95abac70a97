package responder

// Reason is the outcome of Decide: Answer, or the one named reason a request
// was not answered. Reasons are stable strings: they appear in logs, metrics
// labels and replay output, and tests use them as the oracle.
type Reason uint8

// The possible outcomes of Decide, in the order Decide checks them.
const (
	// Answer means the request is for an owned address: reply.
	Answer Reason = iota
	// Malformed: not an Ethernet/IPv4 ARP frame (wrong htype, ptype, hlen
	// or plen, wrong EtherType, or truncated).
	Malformed
	// VLANTagged: the frame still carries an 802.1Q/802.1ad tag. Answering
	// would put the reply on the wrong VLAN.
	VLANTagged
	// NotForUs: the kernel classed the frame PACKET_OTHERHOST (a VLAN the
	// host has no device for, or promiscuous traffic), or it is unicast to a
	// MAC other than the uplink's.
	NotForUs
	// NotRequest: an ARP operation other than request (1).
	NotRequest
	// EthSrcMismatch: the Ethernet source differs from the ARP sender MAC.
	EthSrcMismatch
	// BadSenderMAC: the ARP sender MAC is zero, broadcast or multicast.
	BadSenderMAC
	// Probe: sender IP 0.0.0.0 (RFC 5227 address probe). The kernel does not
	// answer probes for proxied addresses either.
	Probe
	// BadSenderIP: a martian sender IP (0/8, loopback, multicast, 240/4,
	// limited broadcast).
	BadSenderIP
	// BadTargetIP: a martian target IP (same classes).
	BadTargetIP
	// Gratuitous: sender IP equals target IP (an announcement, not a
	// question).
	Gratuitous
	// OwnAddress: the target is an address of the host itself; the kernel
	// answers those.
	OwnAddress
	// UplinkGateway: the target is a gateway of a route via the uplink (the
	// next hop of the default route, typically the very router asking).
	// Answering would hijack the host's own way out, even when a /32 to
	// it is routed via a guest interface.
	UplinkGateway
	// OutsideAllow: the target is outside the configured allow list.
	OutsideAllow
	// NotOwned: no /32 route via a usable guest interface for the target.
	NotOwned

	numReasons
)

var reasonNames = [numReasons]string{
	Answer:         "answer",
	Malformed:      "malformed",
	VLANTagged:     "vlan-tagged",
	NotForUs:       "not-for-us",
	NotRequest:     "not-request",
	EthSrcMismatch: "eth-src-mismatch",
	BadSenderMAC:   "bad-sender-mac",
	Probe:          "probe",
	BadSenderIP:    "bad-sender-ip",
	BadTargetIP:    "bad-target-ip",
	Gratuitous:     "gratuitous",
	OwnAddress:     "own-address",
	UplinkGateway:  "uplink-gateway",
	OutsideAllow:   "outside-allow",
	NotOwned:       "not-owned",
}

// String returns the reason's stable name, for example "not-owned".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// DropReasons lists every reason other than Answer, in Decide's order, so
// that counters and metrics can be created for all of them up front.
func DropReasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := Malformed; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// ParseReason returns the Reason with the given name.
func ParseReason(name string) (Reason, bool) {
	for r, n := range reasonNames {
		if n == name {
			return Reason(r), true
		}
	}
	return 0, false
}
