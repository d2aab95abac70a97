package responder

import (
	"encoding/binary"
	"net/netip"
)

// Frame layout constants for Ethernet II carrying IPv6 with an ICMPv6
// Neighbor Solicitation or Advertisement (RFC 8200, RFC 4861).
const (
	etherTypeIPv6 = 0x86dd

	ipv6HeaderLen = 40
	// ndpOff is where the ICMPv6 message starts in an untagged frame.
	ndpOff = ethHeaderLen + ipv6HeaderLen

	protoICMPv6 = 58

	icmpTypeNS = 135
	icmpTypeNA = 136

	nsLen       = 24 // type, code, checksum, reserved, target
	naLen       = 24 // type, code, checksum, flags+reserved, target
	llaOptLen   = 8  // an Ethernet link-layer address option
	optSourceLL = 1
	optTargetLL = 2

	naFlagRouter    = 0x80
	naFlagSolicited = 0x40
	naFlagOverride  = 0x20

	ndpHopLimit = 255

	// NAReplyLen is the length of the Neighbor Advertisement AppendReply
	// builds for an answered Neighbor Solicitation, and of the one
	// AppendUnsolicitedNA builds: 14 bytes of Ethernet, 40 of IPv6, 24 of
	// NA and an 8-byte target link-layer address option. It needs no
	// padding (the Ethernet minimum is 60).
	NAReplyLen = ndpOff + naLen + llaOptLen

	// MaxReplyLen is the longest frame AppendReply, AppendGratuitous or
	// AppendUnsolicitedNA appends: a buffer with this much room never
	// grows, whatever the protocol.
	MaxReplyLen = max(ReplyLen, NAReplyLen)
)

// allNodes is ff02::1, the destination of unsolicited advertisements and of
// the answer to a duplicate address detection probe.
var allNodes = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})

// allNodesMAC is the Ethernet multicast address of ff02::1 (RFC 2464).
var allNodesMAC = MAC{0x33, 0x33, 0, 0, 0, 1}

// Proto is the protocol of a decided frame.
type Proto uint8

// The protocols Decide handles.
const (
	// ProtoARP is an ARP frame (EtherType 0x0806), and any frame Decide
	// could not tell the protocol of (shorter than an Ethernet header).
	ProtoARP Proto = iota
	// ProtoNDP is an IPv6 frame (EtherType 0x86dd): Neighbor Discovery.
	ProtoNDP
)

// String returns "arp" or "ndp".
func (p Proto) String() string {
	switch p {
	case ProtoARP:
		return "arp"
	case ProtoNDP:
		return "ndp"
	}
	return "unknown"
}

// SolicitedNode returns the solicited-node multicast group of addr
// (ff02::1:ffXX:XXXX with the low 24 bits of addr, RFC 4291 2.7.1): the
// group a Neighbor Solicitation for addr is sent to, and the group a host
// answering for addr must join. It returns the zero Addr for an address
// that is not IPv6.
func SolicitedNode(addr netip.Addr) netip.Addr {
	if !addr.Is6() || addr.Is4In6() {
		return netip.Addr{}
	}
	a := addr.As16()
	return netip.AddrFrom16(solicitedNode(&a))
}

func solicitedNode(a *[16]byte) [16]byte {
	return [16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// solicitedNodeMAC is the Ethernet multicast address of addr's
// solicited-node group: 33:33:ff:XX:XX:XX (RFC 2464 7).
func solicitedNodeMAC(a *[16]byte) MAC {
	return MAC{0x33, 0x33, 0xff, a[13], a[14], a[15]}
}

// isSolicitedNode reports whether a is any solicited-node group
// (ff02::1:ff00:0/104).
func isSolicitedNode(a *[16]byte) bool {
	return a[0] == 0xff && a[1] == 0x02 && a[2]|a[3]|a[4]|a[5]|a[6]|a[7]|a[8]|a[9]|a[10] == 0 &&
		a[11] == 1 && a[12] == 0xff
}

// icmpv6Checksum returns the ICMPv6 checksum of msg sent from src to dst
// (RFC 8200 8.1: the one's complement sum over the pseudo-header and msg).
// Over a message whose checksum field is filled in, it returns 0 when that
// checksum is right.
func icmpv6Checksum(src, dst *[16]byte, msg []byte) uint16 {
	var sum uint64
	for i := 0; i < 16; i += 2 {
		sum += uint64(src[i])<<8 | uint64(src[i+1])
		sum += uint64(dst[i])<<8 | uint64(dst[i+1])
	}
	n := len(msg)
	sum += uint64(n>>16) + uint64(n&0xffff) + protoICMPv6
	i := 0
	for ; i+8 <= n; i += 8 {
		v := binary.BigEndian.Uint64(msg[i:])
		sum += v>>48 + (v>>32)&0xffff + (v>>16)&0xffff + v&0xffff
	}
	for ; i+1 < n; i += 2 {
		sum += uint64(msg[i])<<8 | uint64(msg[i+1])
	}
	if i < n {
		sum += uint64(msg[i]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// decideNDP is Decide for an untagged IPv6 frame (EtherType already
// checked). The checks follow RFC 4861 7.1.1, then the same policy as ARP.
func decideNDP(d *Decision, frame []byte, in Ingress, set AnswerSet, cfg *Config) {
	r := &d.Request
	r.Proto = ProtoNDP
	if len(frame) < ndpOff || frame[ethHeaderLen]>>4 != 6 {
		d.Reason = Malformed
		return
	}
	ip := frame[ethHeaderLen:ndpOff]
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if len(frame)-ndpOff < plen {
		d.Reason = Malformed // truncated (Ethernet trailers beyond plen are fine)
		return
	}
	src, dst := [16]byte(ip[8:24]), [16]byte(ip[24:40])
	r.SenderIP = netip.AddrFrom16(src)
	r.DstIP = netip.AddrFrom16(dst)
	if in.Type == PacketOtherHost || in.Type == PacketOutgoing {
		d.Reason = NotForUs
		return
	}
	// Only an ICMPv6 header right after the IPv6 header is looked at: an
	// NS behind extension headers is not answered (NDPFilter drops those
	// anyway, like every other IPv6 packet). No NDP implementation sends
	// them so; walking the chain is complexity for no gain.
	if ip[6] != protoICMPv6 {
		d.Reason = NotRequest
		return
	}
	icmp := frame[ndpOff : ndpOff+plen]
	if len(icmp) < 4 {
		d.Reason = Malformed
		return
	}
	r.Op = uint16(icmp[0])
	if icmp[0] != icmpTypeNS {
		d.Reason = NotRequest
		return
	}
	if len(icmp) >= nsLen {
		r.TargetIP = netip.AddrFrom16([16]byte(icmp[8:24])) // for the record, even if invalid
	}
	if icmpv6Checksum(&src, &dst, icmp) != 0 {
		d.Reason = BadChecksum
		return
	}
	// RFC 4861 7.1.1.
	if ip[7] != ndpHopLimit || icmp[1] != 0 || len(icmp) < nsLen {
		d.Reason = InvalidNS
		return
	}
	target := [16]byte(icmp[8:24])
	if target[0] == 0xff {
		d.Reason = InvalidNS // multicast target
		return
	}
	for opts := icmp[nsLen:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			d.Reason = InvalidNS
			return
		}
		n := int(opts[1]) * 8
		if opts[0] == optSourceLL {
			if n != llaOptLen {
				d.Reason = InvalidNS // not an Ethernet address
				return
			}
			if !r.SourceLLA { // the first one counts, as in the kernel
				r.SourceLLA = true
				copy(r.SenderMAC[:], opts[2:8])
			}
		}
		opts = opts[n:]
	}
	dad := r.SenderIP.IsUnspecified()
	if dad && (!isSolicitedNode(&dst) || r.SourceLLA) {
		d.Reason = InvalidNS
		return
	}
	if !r.SourceLLA {
		r.SenderMAC = r.EthSrc
	}
	if r.EthDst != in.MAC && r.EthDst != solicitedNodeMAC(&target) ||
		dst != target && dst != solicitedNode(&target) {
		d.Reason = NotForUs
		return
	}
	switch {
	case r.SenderMAC != r.EthSrc:
		d.Reason = EthSrcMismatch
	case r.SenderMAC.IsZero() || r.SenderMAC.IsMulticast():
		d.Reason = BadSenderMAC
	case dad && !cfg.defendDAD():
		d.Reason = Probe
	case !dad && martian6(r.SenderIP):
		d.Reason = BadSenderIP
	case martian6(r.TargetIP) || r.TargetIP.IsLinkLocalUnicast():
		d.Reason = BadTargetIP
	case r.SenderIP == r.TargetIP:
		d.Reason = Gratuitous
	default:
		decideTarget(d, set, cfg)
	}
}

// martian6 reports the IPv6 address classes that are never a neighbour's
// address on the uplink: unspecified, loopback, multicast and IPv4-mapped.
func martian6(a netip.Addr) bool {
	return a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.Is4In6()
}

// appendNA appends a Neighbor Advertisement for target from mac to
// (dstMAC, dst) with the given flags and a target link-layer address option
// of mac: NAReplyLen bytes, checksum included. It does not allocate when b
// has room.
func appendNA(b []byte, mac, dstMAC MAC, target, dst netip.Addr, flags byte) []byte {
	start := len(b)
	t, d := target.As16(), dst.As16()
	b = append(b, dstMAC[:]...)
	b = append(b, mac[:]...)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = binary.BigEndian.AppendUint16(b, naLen+llaOptLen)
	b = append(b, protoICMPv6, ndpHopLimit)
	b = append(b, t[:]...) // the NA comes from the target address
	b = append(b, d[:]...)
	icmp := len(b)
	b = append(b, icmpTypeNA, 0, 0, 0, flags, 0, 0, 0)
	b = append(b, t[:]...)
	b = append(b, optTargetLL, 1)
	b = append(b, mac[:]...)
	binary.BigEndian.PutUint16(b[icmp+2:], icmpv6Checksum(&t, &d, b[icmp:start+NAReplyLen]))
	return b
}

// appendNDPReply is AppendReply for an answered Neighbor Solicitation.
func (d *Decision) appendNDPReply(b []byte) []byte {
	r := &d.Request
	if r.SenderIP.IsUnspecified() {
		// Defending against duplicate address detection (RFC 4861 7.2.4):
		// to all nodes, Solicited clear; Override clear as for any proxy
		// (7.2.8), as the kernel's proxy_ndp does.
		return appendNA(b, d.UplinkMAC, allNodesMAC, r.TargetIP, allNodes, 0)
	}
	// A proxy's solicited answer: Solicited set, Router and Override clear
	// (RFC 4861 7.2.8), so that a guest's own advertisement, should it
	// ever reach the router, wins.
	return appendNA(b, d.UplinkMAC, r.SenderMAC, r.TargetIP, r.SenderIP, naFlagSolicited)
}
