package responder

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Frame layout constants for Ethernet II carrying an Ethernet/IPv4 ARP
// packet (RFC 826).
const (
	ethHeaderLen = 14
	arpLen       = 28
	// ReplyLen is the length of every ARP reply (and gratuitous ARP) Decide's
	// caller sends: the 42-byte Ethernet+ARP frame padded to the 60-byte
	// Ethernet minimum. NDP replies are NAReplyLen bytes; size buffers with
	// MaxReplyLen.
	ReplyLen = 60

	etherTypeARP   = 0x0806
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	etherTypeQinQ2 = 0x9100

	arpHTypeEthernet = 1
	arpPTypeIPv4     = 0x0800
	arpOpRequest     = 1
	arpOpReply       = 2
)

// PacketType is the kernel's classification of a received frame (the
// sll_pkttype of struct sockaddr_ll).
type PacketType uint8

// Packet types as the kernel reports them, plus PacketUnknown for frames
// whose type was not recorded (for example frames read from a pcap file).
const (
	PacketHost      PacketType = 0   // PACKET_HOST: unicast to this interface
	PacketBroadcast PacketType = 1   // PACKET_BROADCAST
	PacketMulticast PacketType = 2   // PACKET_MULTICAST
	PacketOtherHost PacketType = 3   // PACKET_OTHERHOST: not for this host
	PacketOutgoing  PacketType = 4   // PACKET_OUTGOING: sent by this host
	PacketUnknown   PacketType = 255 // not known; Decide relies on the MACs
)

// String returns the kernel's name for the packet type, without PACKET_.
func (t PacketType) String() string {
	switch t {
	case PacketHost:
		return "host"
	case PacketBroadcast:
		return "broadcast"
	case PacketMulticast:
		return "multicast"
	case PacketOtherHost:
		return "otherhost"
	case PacketOutgoing:
		return "outgoing"
	case PacketUnknown:
		return "unknown"
	}
	return fmt.Sprintf("pkttype(%d)", uint8(t))
}

// MAC is an Ethernet hardware address. Unlike net.HardwareAddr it is
// comparable and never allocates.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// MACFrom converts a 6-byte hardware address; it reports false for any other
// length (InfiniBand, IEEE 1394, ...).
func MACFrom(hw net.HardwareAddr) (MAC, bool) {
	var m MAC
	if len(hw) != len(m) {
		return m, false
	}
	copy(m[:], hw)
	return m, true
}

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// HardwareAddr returns m as a newly allocated net.HardwareAddr.
func (m MAC) HardwareAddr() net.HardwareAddr { return append(net.HardwareAddr(nil), m[:]...) }

// String formats m as aa:bb:cc:dd:ee:ff.
func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// Ingress describes where a frame arrived: on which interface, with which
// MAC, and how the kernel classified it.
type Ingress struct {
	// Name is the interface name, for logs and replay output.
	Name string
	// MAC is the interface's hardware address: the MAC replies announce.
	MAC MAC
	// Type is the kernel's packet type, or PacketUnknown.
	Type PacketType
}

// Config holds the parts of the daemon's configuration Decide depends on.
// The zero value (or a nil *Config) answers every owned address.
type Config struct {
	// Allow, when not empty, limits answers to targets inside one of these
	// prefixes.
	Allow []netip.Prefix
	// DefendDAD answers IPv6 duplicate address detection probes (Neighbor
	// Solicitations from ::) for owned addresses, as the kernel's proxy_ndp
	// does: a Neighbor Advertisement to all nodes (ff02::1) makes the
	// prober give the address up. Off, such probes are dropped as Probe
	// (and counted as conflicts), like ARP probes.
	DefendDAD bool
}

// Request is the content of an ARP request or an IPv6 Neighbor
// Solicitation, as parsed by Decide. Fields are filled as far as parsing
// got: a Malformed frame may leave all of them zero.
//
// For ARP (Proto ProtoARP) the fields are the ARP packet's. For NDP (Proto
// ProtoNDP): Op is the ICMPv6 type (135 for a solicitation); SenderIP is the
// IPv6 source (:: for a duplicate address detection probe), DstIP the IPv6
// destination, TargetIP the solicitation's target; SenderMAC is the source
// link-layer address option when present (SourceLLA), else the Ethernet
// source, and is where the answer goes; TargetMAC stays zero.
type Request struct {
	EthDst, EthSrc       MAC
	Op                   uint16
	SenderMAC, TargetMAC MAC
	SenderIP, TargetIP   netip.Addr
	// Proto is the protocol of the frame, by its EtherType.
	Proto Proto
	// DstIP is the IPv6 destination of an NDP frame: the target itself or
	// its solicited-node group when valid. Zero for ARP.
	DstIP netip.Addr
	// SourceLLA reports that the solicitation carried a source link-layer
	// address option (NDP only).
	SourceLLA bool
}

// Decision is the outcome of Decide for one frame.
type Decision struct {
	// Reason is Answer or the reason the frame is dropped.
	Reason Reason
	// Request holds the parsed frame.
	Request Request
	// UplinkMAC is the ingress interface's MAC: the answer's sender MAC.
	UplinkMAC MAC
}

// Decide is the whole policy of the responder: given one received frame, the
// interface it arrived on, the answer set and the configuration, it says
// whether to answer and, if not, why. It answers ARP requests and IPv6
// Neighbor Solicitations (validated as RFC 4861 7.1.1 asks) for owned
// addresses. It is pure (no I/O, no clocks, no
// allocation), so the live responder, the tests and the pcap replay share
// it and cannot disagree.
//
// frame starts at the Ethernet header. A nil cfg means the zero Config.
func Decide(frame []byte, in Ingress, set AnswerSet, cfg *Config) Decision {
	d := Decision{UplinkMAC: in.MAC}
	if len(frame) < ethHeaderLen {
		d.Reason = Malformed
		return d
	}
	r := &d.Request
	copy(r.EthDst[:], frame[0:6])
	copy(r.EthSrc[:], frame[6:12])
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherTypeARP:
	case etherTypeIPv6:
		decideNDP(&d, frame, in, set, cfg)
		return d
	case etherTypeVLAN, etherTypeQinQ, etherTypeQinQ2:
		d.Reason = VLANTagged
		return d
	default:
		d.Reason = Malformed
		return d
	}
	if len(frame) < ethHeaderLen+arpLen {
		d.Reason = Malformed
		return d
	}
	a := frame[ethHeaderLen : ethHeaderLen+arpLen]
	if binary.BigEndian.Uint16(a[0:2]) != arpHTypeEthernet ||
		binary.BigEndian.Uint16(a[2:4]) != arpPTypeIPv4 ||
		a[4] != 6 || a[5] != 4 {
		d.Reason = Malformed
		return d
	}
	r.Op = binary.BigEndian.Uint16(a[6:8])
	copy(r.SenderMAC[:], a[8:14])
	r.SenderIP = netip.AddrFrom4([4]byte(a[14:18]))
	copy(r.TargetMAC[:], a[18:24])
	r.TargetIP = netip.AddrFrom4([4]byte(a[24:28]))

	switch {
	case in.Type == PacketOtherHost || in.Type == PacketOutgoing:
		d.Reason = NotForUs
	case r.EthDst != BroadcastMAC && r.EthDst != in.MAC:
		d.Reason = NotForUs
	case r.Op != arpOpRequest:
		d.Reason = NotRequest
	case r.EthSrc != r.SenderMAC:
		d.Reason = EthSrcMismatch
	case r.SenderMAC.IsZero() || r.SenderMAC.IsMulticast():
		d.Reason = BadSenderMAC
	case r.SenderIP == netip.IPv4Unspecified():
		d.Reason = Probe
	case martian(r.SenderIP):
		d.Reason = BadSenderIP
	case martian(r.TargetIP):
		d.Reason = BadTargetIP
	case r.SenderIP == r.TargetIP:
		d.Reason = Gratuitous
	default:
		decideTarget(&d, set, cfg)
	}
	return d
}

// decideTarget is the part of the policy shared by ARP and NDP: whose
// address the well-formed request asks for.
func decideTarget(d *Decision, set AnswerSet, cfg *Config) {
	t := d.Request.TargetIP
	switch {
	case set.Local(t):
		d.Reason = OwnAddress
	case isGateway(set, t):
		d.Reason = UplinkGateway
	case !cfg.allows(t):
		d.Reason = OutsideAllow
	case !set.Owned(t):
		d.Reason = NotOwned
	default:
		d.Reason = Answer
	}
}

func (c *Config) defendDAD() bool { return c != nil && c.DefendDAD }

func (c *Config) allows(a netip.Addr) bool {
	if c == nil || len(c.Allow) == 0 {
		return true
	}
	for _, p := range c.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// martian reports the address classes no ARP packet may carry, as the
// kernel treats them: 0.0.0.0/8, 127.0.0.0/8 (loopback), 224.0.0.0/4
// (multicast) and 240.0.0.0/4 (reserved, including 255.255.255.255).
func martian(a netip.Addr) bool {
	b := a.As4()
	return b[0] == 0 || b[0] == 127 || b[0] >= 224
}

// AppendReply appends the reply to an answered request to b and returns the
// extended slice. It returns b unchanged when d.Reason is not Answer. It
// does not allocate when b has room for MaxReplyLen more bytes.
//
// For ARP: Ethernet from the uplink MAC to the requester's Ethernet source,
// ARP op 2 with sender (uplink MAC, requested address) and target
// (requester MAC, requester IP), zero-padded to ReplyLen bytes.
//
// For NDP: a Neighbor Advertisement of NAReplyLen bytes from the target
// address and the uplink MAC, hop limit 255, with a target link-layer
// address option of the uplink MAC and Router and Override clear (RFC 4861
// 7.2.8, a proxy's answer). To a solicitation: Solicited set, to the
// solicitation's source address at its SenderMAC. To a duplicate address
// detection probe (Config.DefendDAD): Solicited clear, to all nodes (ff02::1
// at 33:33:00:00:00:01), RFC 4861 7.2.4.
//
// The reply is built from validated fields only, never by re-marshalling
// the received bytes.
func (d Decision) AppendReply(b []byte) []byte {
	if d.Reason != Answer {
		return b
	}
	if d.Request.Proto == ProtoNDP {
		return d.appendNDPReply(b)
	}
	r := &d.Request
	start := len(b)
	b = append(b, r.EthSrc[:]...)
	b = append(b, d.UplinkMAC[:]...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, arpHTypeEthernet)
	b = binary.BigEndian.AppendUint16(b, arpPTypeIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, arpOpReply)
	b = append(b, d.UplinkMAC[:]...)
	t := r.TargetIP.As4()
	b = append(b, t[:]...)
	b = append(b, r.SenderMAC[:]...)
	s := r.SenderIP.As4()
	b = append(b, s[:]...)
	for len(b)-start < ReplyLen {
		b = append(b, 0)
	}
	return b
}
