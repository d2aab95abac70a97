package responder

// Reason is the outcome of Decide: Answer, or the one named reason a request
// was not answered. Reasons are stable strings: they appear in logs, metrics
// labels and replay output, and tests use them as the oracle.
type Reason uint8

// The possible outcomes of Decide, in the order Decide checks them, except
// that the NDP-only BadChecksum and InvalidNS, added last to keep the
// numbering stable, come right after NotRequest. Each reason's comment says
// what it means for ARP; for NDP where the meaning needs saying.
const (
	// Answer means the request is for an owned address: reply.
	Answer Reason = iota
	// Malformed: not an Ethernet/IPv4 ARP frame (wrong htype, ptype, hlen
	// or plen, wrong EtherType, or truncated). NDP: not IPv6 version 6, a
	// payload length beyond the frame, or an ICMPv6 message under 4 bytes.
	Malformed
	// VLANTagged: the frame still carries an 802.1Q/802.1ad tag. Answering
	// would put the reply on the wrong VLAN.
	VLANTagged
	// NotForUs: the kernel classed the frame PACKET_OTHERHOST (a VLAN the
	// host has no device for, or promiscuous traffic), or it is unicast to a
	// MAC other than the uplink's. NDP: the Ethernet destination is neither
	// the uplink MAC nor the target's solicited-node multicast MAC
	// (33:33:ff:XX:XX:XX), or the IPv6 destination is neither the target
	// nor its solicited-node group.
	NotForUs
	// NotRequest: an ARP operation other than request (1). NDP: an IPv6
	// packet that is not ICMPv6 right after the IPv6 header (extension
	// headers are not walked), or an ICMPv6 type other than Neighbor
	// Solicitation (135).
	NotRequest
	// EthSrcMismatch: the Ethernet source differs from the ARP sender MAC
	// (NDP: from the source link-layer address option).
	EthSrcMismatch
	// BadSenderMAC: the ARP sender MAC is zero, broadcast or multicast (NDP:
	// the source link-layer address, or the Ethernet source without one).
	BadSenderMAC
	// Probe: sender IP 0.0.0.0 (RFC 5227 address probe). The kernel does not
	// answer probes for proxied addresses either. NDP: source :: (RFC 4862
	// duplicate address detection), unless Config.DefendDAD.
	Probe
	// BadSenderIP: a martian sender IP (0/8, loopback, multicast, 240/4,
	// limited broadcast; IPv6: loopback, multicast, IPv4-mapped).
	BadSenderIP
	// BadTargetIP: a martian target IP (same classes; IPv6: also ::
	// and link-local, which are never proxied).
	BadTargetIP
	// Gratuitous: sender IP equals target IP (an announcement, not a
	// question; NDP: source address equals target).
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
	// NotOwned: no /32 (/128) route via a usable guest interface for the
	// target.
	NotOwned
	// BadChecksum: an IPv6 Neighbor Solicitation whose ICMPv6 checksum is
	// wrong (corrupted, or truncated by a too-small capture).
	BadChecksum
	// InvalidNS: an IPv6 Neighbor Solicitation that fails RFC 4861 7.1.1's
	// validation: hop limit not 255, ICMPv6 code not 0, shorter than 24
	// bytes, multicast target, an option of length 0 or overrunning the
	// message, a source link-layer address option that is not 6 bytes, or
	// a source :: (duplicate address detection) not sent to a
	// solicited-node group or carrying a source link-layer address option.
	InvalidNS

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
	BadChecksum:    "bad-checksum",
	InvalidNS:      "invalid-ns",
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
