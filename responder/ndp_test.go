package responder

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// nsOpts describes a Neighbor Solicitation frame; zero fields take the
// defaults of a multicast solicitation for 2001:db8::2 from the router
// 2001:db8::fe, with a source link-layer address option of the router's
// MAC, as a router resolving a guest's address sends it.
type nsOpts struct {
	ethDst, ethSrc *MAC
	src, dst       netip.Addr // dst: the target's solicited-node group
	unspecified    bool       // source :: (duplicate address detection)
	target         netip.Addr
	slla           *MAC   // source link-layer address option; default routerMAC
	noSLLA         bool   // leave the option out
	opts           []byte // raw options appended after the SLLA
	hop            *uint8
	code           uint8
	icmpType       uint8 // default 135
	nextHeader     *uint8
	badChecksum    bool
	body           []byte // replaces the reserved field, target and options
}

// ns builds a solicitation with an encoder independent of the code under
// test: the IPv6 header by hand, the ICMPv6 message and its checksum with
// golang.org/x/net/icmp, the Ethernet destination from the IPv6 one as RFC
// 2464 maps it.
func ns(t testing.TB, o nsOpts) []byte {
	t.Helper()
	if !o.target.IsValid() {
		o.target = guestIP6
	}
	if !o.src.IsValid() {
		o.src = routerIP6
	}
	if o.unspecified {
		o.src = netip.IPv6Unspecified()
		if o.slla == nil {
			o.noSLLA = true
		}
	}
	if !o.dst.IsValid() {
		t16 := o.target.As16()
		o.dst = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: t16[13], 14: t16[14], 15: t16[15]})
	}
	if o.icmpType == 0 {
		o.icmpType = icmpTypeNS
	}
	body := o.body
	if body == nil {
		body = make([]byte, 4, 64)
		body = append(body, o.target.AsSlice()...)
		if !o.noSLLA {
			m := routerMAC
			if o.slla != nil {
				m = *o.slla
			}
			body = append(body, optSourceLL, 1)
			body = append(body, m[:]...)
		}
		body = append(body, o.opts...)
	}
	msg := icmp.Message{Type: ipv6.ICMPType(o.icmpType), Code: int(o.code), Body: &icmp.RawBody{Data: body}}
	im, err := msg.Marshal(icmp.IPv6PseudoHeader(o.src.AsSlice(), o.dst.AsSlice()))
	if err != nil {
		t.Fatalf("icmp marshal: %v", err)
	}
	if o.badChecksum {
		im[2] ^= 0x10
	}
	d := o.dst.As16()
	ethDst := MAC{0x33, 0x33, d[12], d[13], d[14], d[15]}
	if !o.dst.IsMulticast() {
		ethDst = uplinkMAC
	}
	if o.ethDst != nil {
		ethDst = *o.ethDst
	}
	ethSrc := routerMAC
	if o.ethSrc != nil {
		ethSrc = *o.ethSrc
	}
	hop, nh := uint8(255), uint8(58)
	if o.hop != nil {
		hop = *o.hop
	}
	if o.nextHeader != nil {
		nh = *o.nextHeader
	}
	f := append([]byte(nil), ethDst[:]...)
	f = append(f, ethSrc[:]...)
	f = append(f, 0x86, 0xdd, 0x60, 0, 0, 0)
	f = binary.BigEndian.AppendUint16(f, uint16(len(im)))
	f = append(f, nh, hop)
	f = append(f, o.src.AsSlice()...)
	f = append(f, o.dst.AsSlice()...)
	return append(f, im...)
}

func u8(v uint8) *uint8 { return &v }

// setPayloadLen returns frame with the IPv6 payload length set to n.
func setPayloadLen(frame []byte, n int) []byte {
	out := append([]byte(nil), frame...)
	binary.BigEndian.PutUint16(out[18:20], uint16(n))
	return out
}

func TestDecideNDPReasons(t *testing.T) {
	good := ns(t, nsOpts{})
	allNodesDst := netip.MustParseAddr("ff02::1")
	defend := &Config{DefendDAD: true}
	tests := []struct {
		name  string
		frame []byte
		ptype PacketType
		cfg   *Config
		want  Reason
	}{
		{"a multicast solicitation for an owned address is answered", good, PacketMulticast, nil, Answer},
		{"a unicast reachability check to the uplink MAC is answered", ns(t, nsOpts{dst: guestIP6, noSLLA: true}), PacketHost, nil, Answer},
		{"a unicast solicitation to the target with a source link-layer option is answered", ns(t, nsOpts{dst: guestIP6}), PacketHost, nil, Answer},
		{"a solicitation read from a file with no packet type is answered", good, PacketUnknown, nil, Answer},
		{"a solicitation for a second owned address is answered", ns(t, nsOpts{target: guest2IP6}), PacketMulticast, nil, Answer},
		{"a solicitation from a link-local router address is answered", ns(t, nsOpts{src: netip.MustParseAddr("fe80::1")}), PacketMulticast, nil, Answer},
		{"a solicitation with a nonce option is answered", ns(t, nsOpts{opts: []byte{14, 1, 1, 2, 3, 4, 5, 6}}), PacketMulticast, nil, Answer},
		{"a solicitation with an unknown option is answered", ns(t, nsOpts{opts: []byte{200, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}), PacketMulticast, nil, Answer},
		{"a solicitation followed by Ethernet trailer bytes is answered", append(good, 0, 0, 0, 0), PacketMulticast, nil, Answer},
		{"a duplicate address detection probe is answered when told to defend", ns(t, nsOpts{unspecified: true}), PacketMulticast, defend, Answer},
		{"a frame cut inside the IPv6 header is malformed", good[:40], PacketMulticast, nil, Malformed},
		{"an IPv6 frame of IP version 4 is malformed", withByte(good, 14, 0x40), PacketMulticast, nil, Malformed},
		{"a payload length beyond the frame is malformed", setPayloadLen(good, len(good)-ndpOff+1), PacketMulticast, nil, Malformed},
		{"an ICMPv6 message shorter than its header is malformed", setPayloadLen(good, 3), PacketMulticast, nil, Malformed},
		{"a VLAN-tagged solicitation is not answered on the untagged uplink", tagVLAN(good, 100), PacketMulticast, nil, VLANTagged},
		{"a solicitation the kernel classed OTHERHOST is not for us", good, PacketOtherHost, nil, NotForUs},
		{"an outgoing solicitation is not for us", good, PacketOutgoing, nil, NotForUs},
		{"a unicast solicitation to another MAC is not for us", ns(t, nsOpts{dst: guestIP6, ethDst: ptr(otherMAC)}), PacketOtherHost, nil, NotForUs},
		{"a unicast solicitation to another MAC read from a file is not for us", ns(t, nsOpts{dst: guestIP6, ethDst: ptr(otherMAC)}), PacketUnknown, nil, NotForUs},
		{"a solicitation sent to another target's solicited-node MAC is not for us", ns(t, nsOpts{ethDst: &MAC{0x33, 0x33, 0xff, 0, 0, 0x07}}), PacketMulticast, nil, NotForUs},
		{"a broadcast solicitation is not for us", ns(t, nsOpts{ethDst: ptr(BroadcastMAC)}), PacketBroadcast, nil, NotForUs},
		{"a solicitation to all nodes is not for us", ns(t, nsOpts{dst: allNodesDst, ethDst: &MAC{0x33, 0x33, 0xff, 0, 0, 2}}), PacketMulticast, nil, NotForUs},
		{"a solicitation to another unicast address is not for us", ns(t, nsOpts{dst: routerIP6}), PacketHost, nil, NotForUs},
		{"a solicitation to another solicited-node group is not for us", ns(t, nsOpts{dst: netip.MustParseAddr("ff02::1:ff00:7"), ethDst: &MAC{0x33, 0x33, 0xff, 0, 0, 2}}), PacketMulticast, nil, NotForUs},
		{"a neighbor advertisement is not a request", ns(t, nsOpts{icmpType: icmpTypeNA}), PacketMulticast, nil, NotRequest},
		{"a router solicitation is not a request", ns(t, nsOpts{icmpType: 133, body: make([]byte, 4)}), PacketMulticast, nil, NotRequest},
		{"a solicitation behind a hop-by-hop header is not looked at", ns(t, nsOpts{nextHeader: u8(0)}), PacketMulticast, nil, NotRequest},
		{"a UDP packet is not a request", ns(t, nsOpts{nextHeader: u8(17)}), PacketMulticast, nil, NotRequest},
		{"a solicitation with a wrong checksum is refused", ns(t, nsOpts{badChecksum: true}), PacketMulticast, nil, BadChecksum},
		{"a solicitation whose checksum covers a cut payload is refused", setPayloadLen(good, len(good)-ndpOff-8), PacketMulticast, nil, BadChecksum},
		{"a hop limit below 255 is invalid (it crossed a router)", ns(t, nsOpts{hop: u8(254)}), PacketMulticast, nil, InvalidNS},
		{"an ICMPv6 code other than 0 is invalid", ns(t, nsOpts{code: 1}), PacketMulticast, nil, InvalidNS},
		{"a solicitation shorter than 24 bytes is invalid", ns(t, nsOpts{body: make([]byte, 16)}), PacketMulticast, nil, InvalidNS},
		{"a multicast target is invalid", ns(t, nsOpts{target: netip.MustParseAddr("ff02::1:ff00:2"), dst: netip.MustParseAddr("ff02::1:ff00:2")}), PacketMulticast, nil, InvalidNS},
		{"an option of length 0 is invalid", ns(t, nsOpts{opts: []byte{200, 0, 0, 0, 0, 0, 0, 0}}), PacketMulticast, nil, InvalidNS},
		{"an option overrunning the message is invalid", ns(t, nsOpts{opts: []byte{200, 2, 0, 0, 0, 0, 0, 0}}), PacketMulticast, nil, InvalidNS},
		{"a lone option byte is invalid", ns(t, nsOpts{opts: []byte{200}}), PacketMulticast, nil, InvalidNS},
		{"a source link-layer option of 14 bytes is invalid on Ethernet", ns(t, nsOpts{noSLLA: true, opts: []byte{1, 2, 2, 0, 0, 0, 0, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0}}), PacketMulticast, nil, InvalidNS},
		{"a probe to a unicast destination is invalid", ns(t, nsOpts{unspecified: true, dst: guestIP6}), PacketHost, nil, InvalidNS},
		{"a probe carrying a source link-layer option is invalid", ns(t, nsOpts{unspecified: true, slla: ptr(routerMAC)}), PacketMulticast, nil, InvalidNS},
		{"a source link-layer address other than the Ethernet source is refused", ns(t, nsOpts{slla: ptr(otherMAC)}), PacketMulticast, nil, EthSrcMismatch},
		{"a multicast Ethernet source without a link-layer option is refused", ns(t, nsOpts{noSLLA: true, ethSrc: &MAC{0x33, 0x33, 0, 0, 0, 1}}), PacketMulticast, nil, BadSenderMAC},
		{"a zero source link-layer address is refused", ns(t, nsOpts{slla: &MAC{}, ethSrc: &MAC{}}), PacketMulticast, nil, BadSenderMAC},
		{"a duplicate address detection probe is not answered", ns(t, nsOpts{unspecified: true}), PacketMulticast, nil, Probe},
		{"a loopback source is a martian", ns(t, nsOpts{src: netip.IPv6Loopback()}), PacketMulticast, nil, BadSenderIP},
		{"a multicast source is a martian", ns(t, nsOpts{src: allNodesDst}), PacketMulticast, nil, BadSenderIP},
		{"an IPv4-mapped source is a martian", ns(t, nsOpts{src: netip.MustParseAddr("::ffff:192.0.2.254")}), PacketMulticast, nil, BadSenderIP},
		{"a link-local target is never proxied", ns(t, nsOpts{target: netip.MustParseAddr("fe80::2")}), PacketMulticast, nil, BadTargetIP},
		{"a loopback target is a martian", ns(t, nsOpts{target: netip.IPv6Loopback()}), PacketMulticast, nil, BadTargetIP},
		{"an unspecified target is a martian", ns(t, nsOpts{target: netip.IPv6Unspecified()}), PacketMulticast, nil, BadTargetIP},
		{"an IPv4-mapped target is a martian", ns(t, nsOpts{target: netip.MustParseAddr("::ffff:192.0.2.2")}), PacketMulticast, nil, BadTargetIP},
		{"a solicitation from the target address itself is not a question", ns(t, nsOpts{src: guestIP6}), PacketMulticast, nil, Gratuitous},
		{"the host's own address is left to the kernel", ns(t, nsOpts{target: hostIP6}), PacketMulticast, nil, OwnAddress},
		{"the uplink's gateway is never answered, even when routed to a guest", ns(t, nsOpts{target: gatewayIP6}), PacketMulticast, nil, UplinkGateway},
		{"the uplink's gateway is not defended against a probe either", ns(t, nsOpts{target: gatewayIP6, unspecified: true}), PacketMulticast, defend, UplinkGateway},
		{"an owned address outside the allow list is not answered", good, PacketMulticast, &Config{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48")}}, OutsideAllow},
		{"an IPv4 allow list allows no IPv6 address", good, PacketMulticast, &Config{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, OutsideAllow},
		{"an owned address inside the allow list is answered", good, PacketMulticast, &Config{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}}, Answer},
		{"an unrouted address is not owned", ns(t, nsOpts{target: unroutedIP6}), PacketMulticast, nil, NotOwned},
		{"a probe for an unrouted address is not defended", ns(t, nsOpts{target: unroutedIP6, unspecified: true}), PacketMulticast, defend, NotOwned},
	}
	seen := map[Reason]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.frame, Ingress{Name: "eth0", MAC: uplinkMAC, Type: tt.ptype}, testSet(), tt.cfg)
			if d.Reason != tt.want {
				t.Errorf("Decide = %v, want %v (request %+v)", d.Reason, tt.want, d.Request)
			}
			if len(tt.frame) >= 14 && tt.want != VLANTagged && d.Request.Proto != ProtoNDP {
				t.Errorf("Proto = %v, want ndp", d.Request.Proto)
			}
			reply := d.AppendReply(nil)
			if (len(reply) > 0) != (tt.want == Answer) {
				t.Errorf("AppendReply wrote %d bytes for reason %v", len(reply), d.Reason)
			}
			if len(reply) > 0 && len(reply) != NAReplyLen {
				t.Errorf("reply is %d bytes, want %d", len(reply), NAReplyLen)
			}
		})
		seen[tt.want] = true
	}
	for r := Answer; r < numReasons; r++ {
		if !seen[r] {
			t.Errorf("no NDP test case for reason %v", r)
		}
	}
}

func TestDecideNDPRequestFields(t *testing.T) {
	d := Decide(ns(t, nsOpts{}), Ingress{MAC: uplinkMAC, Type: PacketMulticast}, testSet(), nil)
	want := Request{
		EthDst: MAC{0x33, 0x33, 0xff, 0, 0, 2}, EthSrc: routerMAC,
		Op:        icmpTypeNS,
		SenderMAC: routerMAC,
		SenderIP:  routerIP6, TargetIP: guestIP6,
		Proto:     ProtoNDP,
		DstIP:     netip.MustParseAddr("ff02::1:ff00:2"),
		SourceLLA: true,
	}
	if diff := cmp.Diff(want, d.Request, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Request (-want +got):\n%s", diff)
	}
	// Without the option, the answer goes to the Ethernet source.
	d = Decide(ns(t, nsOpts{dst: guestIP6, noSLLA: true, ethSrc: ptr(otherMAC)}), Ingress{MAC: uplinkMAC, Type: PacketHost}, testSet(), nil)
	if d.Reason != Answer || d.Request.SenderMAC != otherMAC || d.Request.SourceLLA {
		t.Errorf("unicast NS without option: reason %v, request %+v", d.Reason, d.Request)
	}
}

// The answer to the default solicitation, written out by hand field by
// field; the checksum was computed independently (x/net/icmp).
var wantNA = strings.Join([]string{
	"0200000000fe",                     // Ethernet dst: the source link-layer address
	"020000000001",                     // Ethernet src: the uplink
	"86dd",                             // EtherType IPv6
	"60000000",                         // version 6, class 0, flow 0
	"0020",                             // payload length 32
	"3a",                               // next header ICMPv6
	"ff",                               // hop limit 255
	"20010db8000000000000000000000002", // src: the target
	"20010db80000000000000000000000fe", // dst: the solicitation's source
	"88", "00", "CSUM",                 // type 136, code 0, checksum
	"40000000",                         // Solicited; Router and Override clear
	"20010db8000000000000000000000002", // target
	"0201", "020000000001",             // target link-layer address option: the uplink
}, "")

// checksumOf computes the ICMPv6 checksum of msg with x/net/icmp.
func checksumOf(t *testing.T, msg []byte, src, dst netip.Addr) uint16 {
	t.Helper()
	m := icmp.Message{Type: ipv6.ICMPType(msg[0]), Code: int(msg[1]), Body: &icmp.RawBody{Data: msg[4:]}}
	b, err := m.Marshal(icmp.IPv6PseudoHeader(src.AsSlice(), dst.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint16(b[2:4])
}

func TestDecideNDPReplyBytes(t *testing.T) {
	d := Decide(ns(t, nsOpts{}), Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketMulticast}, testSet(), nil)
	reply := d.AppendReply(nil)
	msg := reply[ndpOff:]
	sum := checksumOf(t, msg, guestIP6, routerIP6)
	want := strings.Replace(wantNA, "CSUM", hex.EncodeToString([]byte{byte(sum >> 8), byte(sum)}), 1)
	if diff := cmp.Diff(want, hex.EncodeToString(reply)); diff != "" {
		t.Errorf("reply bytes (-want +got):\n%s", diff)
	}
	// The same checksum, pinned: a regression in both encoders at once
	// would still show.
	if got := binary.BigEndian.Uint16(msg[2:4]); got != 0xa975 {
		t.Errorf("checksum = %#04x, want 0xa975", got)
	}
	checkNA(t, reply, naWant{dstMAC: routerMAC, src: guestIP6, dst: routerIP6, solicited: true})
}

func TestDecideNDPDefendsDAD(t *testing.T) {
	d := Decide(ns(t, nsOpts{unspecified: true, ethSrc: ptr(otherMAC)}), Ingress{MAC: uplinkMAC, Type: PacketMulticast}, testSet(), &Config{DefendDAD: true})
	if d.Reason != Answer {
		t.Fatalf("Decide = %v, want answer", d.Reason)
	}
	checkNA(t, d.AppendReply(nil), naWant{dstMAC: allNodesMAC, src: guestIP6, dst: netip.MustParseAddr("ff02::1")})
	if a, ok := Conflict(d, testSet()); !ok || a != guestIP6 {
		t.Errorf("Conflict = %v, %v; a defended probe is a conflict on %v", a, ok, guestIP6)
	}
}

func TestAppendUnsolicitedNA(t *testing.T) {
	got := AppendUnsolicitedNA(nil, uplinkMAC, guestIP6)
	checkNA(t, got, naWant{dstMAC: allNodesMAC, src: guestIP6, dst: netip.MustParseAddr("ff02::1"), override: true})
	// The ICMPv6 part is exactly what mdlayher/ndp marshals.
	na := &ndp.NeighborAdvertisement{Override: true, TargetAddress: guestIP6,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: net.HardwareAddr(uplinkMAC[:])}}}
	want, err := ndp.MarshalMessageChecksum(na, guestIP6, netip.MustParseAddr("ff02::1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[ndpOff:], want) {
		t.Errorf("ICMPv6 part\n got % x\nwant % x (mdlayher/ndp)", got[ndpOff:], want)
	}
	if b := AppendUnsolicitedNA([]byte("x"), uplinkMAC, guestIP); string(b) != "x" {
		t.Errorf("an IPv4 address got an NA: % x", b)
	}
	var as AnswerSet = testSet()
	if d := Decide(got, Ingress{MAC: otherMAC, Type: PacketMulticast}, as, nil); d.Reason != NotRequest {
		t.Errorf("our own unsolicited NA decided %v, want not-request", d.Reason)
	}
	buf := make([]byte, 0, MaxReplyLen)
	if n := testing.AllocsPerRun(100, func() { buf = AppendUnsolicitedNA(buf[:0], uplinkMAC, guestIP6) }); n != 0 {
		t.Errorf("AppendUnsolicitedNA allocated %v times", n)
	}
}

type naWant struct {
	dstMAC                     MAC
	src, dst                   netip.Addr
	solicited, override, route bool
}

// checkNA checks an NA frame's headers and parses its ICMPv6 part with
// mdlayher/ndp, and its checksum with x/net/icmp.
func checkNA(t *testing.T, f []byte, w naWant) {
	t.Helper()
	checkNAFor(t, f, w, guestIP6)
}

func checkNAFor(t *testing.T, f []byte, w naWant, target netip.Addr) {
	t.Helper()
	if len(f) != NAReplyLen {
		t.Fatalf("NA is %d bytes, want %d", len(f), NAReplyLen)
	}
	if MAC(f[0:6]) != w.dstMAC || MAC(f[6:12]) != uplinkMAC || binary.BigEndian.Uint16(f[12:14]) != etherTypeIPv6 {
		t.Errorf("Ethernet header % x", f[:14])
	}
	h, err := ipv6.ParseHeader(f[14:ndpOff])
	if err != nil {
		t.Fatalf("IPv6 header: %v", err)
	}
	if h.Version != 6 || h.NextHeader != 58 || h.HopLimit != 255 || h.PayloadLen != naLen+llaOptLen ||
		!h.Src.Equal(w.src.AsSlice()) || !h.Dst.Equal(w.dst.AsSlice()) {
		t.Errorf("IPv6 header %+v, want src %v dst %v", h, w.src, w.dst)
	}
	msg := f[ndpOff:]
	if got, want := binary.BigEndian.Uint16(msg[2:4]), checksumOf(t, msg, w.src, w.dst); got != want {
		t.Errorf("checksum %#04x, want %#04x", got, want)
	}
	m, err := ndp.ParseMessage(msg)
	if err != nil {
		t.Fatalf("ndp.ParseMessage: %v", err)
	}
	want := &ndp.NeighborAdvertisement{Solicited: w.solicited, Override: w.override, Router: w.route, TargetAddress: target,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: net.HardwareAddr(uplinkMAC[:])}}}
	if diff := cmp.Diff(want, m, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("parsed NA (-want +got):\n%s", diff)
	}
}

func TestICMPv6ChecksumVectors(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1").As16()
	b := netip.MustParseAddr("2001:db8::2").As16()
	zero := [16]byte{}
	tests := []struct {
		name     string
		src, dst *[16]byte
		msg      string
		want     uint16
	}{
		// Pseudo-header only: 2001+0db8+0001 + 2001+0db8+0002 + length 0 +
		// 58 = 0x5baf; its complement 0xa450.
		{"an empty message", &a, &b, "", 0xa450},
		// An odd length pads with a zero byte: + 0x0100 + length 1.
		{"an odd length", &a, &b, "01", 0xa34f},
		// Carries fold back in: 4*ffff + ff00 + length 9 + 58 = 0x4ff3f,
		// folded 0xff43, complement 0x00bc.
		{"a carry-heavy message", &zero, &zero, "ffffffffffffffffff", 0x00bc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, _ := hex.DecodeString(tt.msg)
			if got := icmpv6Checksum(tt.src, tt.dst, msg); got != tt.want {
				t.Errorf("checksum = %#04x, want %#04x", got, tt.want)
			}
		})
	}
	// Any message, against x/net/icmp: every length from 4 to 80.
	for n := 4; n <= 80; n++ {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i*37 + n)
		}
		msg[0], msg[1], msg[2], msg[3] = icmpTypeNS, 0, 0, 0
		want := checksumOf(t, msg, netip.AddrFrom16(a), netip.AddrFrom16(b))
		if got := icmpv6Checksum(&a, &b, msg); got != want {
			t.Errorf("length %d: checksum %#04x, x/net/icmp says %#04x", n, got, want)
		}
		binary.BigEndian.PutUint16(msg[2:], want)
		if got := icmpv6Checksum(&a, &b, msg); got != 0 {
			t.Errorf("length %d: a correct checksum verifies as %#04x, want 0", n, got)
		}
	}
}

func TestSolicitedNode(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"2001:db8::2", "ff02::1:ff00:2"},
		{"2001:db8:1:2:3:4:5678:9abc", "ff02::1:ff78:9abc"},
		{"192.0.2.2", "invalid IP"},
		{"::ffff:192.0.2.2", "invalid IP"},
	} {
		if got := SolicitedNode(netip.MustParseAddr(tt.in)).String(); got != tt.want {
			t.Errorf("SolicitedNode(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDecideNDPDoesNotAllocate(t *testing.T) {
	var set AnswerSet = testSet()
	in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketMulticast}
	cfg := &Config{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}, DefendDAD: true}
	out := make([]byte, 0, MaxReplyLen)
	for _, frame := range [][]byte{ns(t, nsOpts{}), ns(t, nsOpts{unspecified: true}), ns(t, nsOpts{target: unroutedIP6})} {
		allocs := testing.AllocsPerRun(100, func() {
			d := Decide(frame, in, set, cfg)
			out = d.AppendReply(out[:0])
		})
		if allocs != 0 {
			t.Errorf("Decide+AppendReply allocated %v times per solicitation, want 0", allocs)
		}
	}
}

func TestConflictNDP(t *testing.T) {
	in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketMulticast}
	tests := []struct {
		name  string
		frame nsOpts
		want  netip.Addr
	}{
		{"a solicitation from the router is no conflict", nsOpts{}, netip.Addr{}},
		{"a probe for an owned address is a conflict", nsOpts{unspecified: true, ethSrc: ptr(otherMAC)}, guestIP6},
		{"a probe for an address not owned is no conflict", nsOpts{unspecified: true, target: unroutedIP6}, netip.Addr{}},
		{"a solicitation sent from an owned address by another machine is a conflict",
			nsOpts{src: guestIP6, slla: ptr(otherMAC), ethSrc: ptr(otherMAC), target: routerIP6}, guestIP6},
		{"a solicitation from an owned address by our own MAC is no conflict",
			nsOpts{src: guestIP6, slla: ptr(uplinkMAC), ethSrc: ptr(uplinkMAC), target: routerIP6}, netip.Addr{}},
		{"an invalid probe is not trusted", nsOpts{unspecified: true, hop: u8(1)}, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(ns(t, tt.frame), in, testSet(), nil)
			got, ok := Conflict(d, testSet())
			if ok != tt.want.IsValid() || got != tt.want {
				t.Errorf("Conflict (reason %v) = %v, %v; want %v", d.Reason, got, ok, tt.want)
			}
		})
	}
}

// BenchmarkDecideNDP measures one decision on a solicitation plus the
// advertisement, at 100k owned IPv6 addresses, hit and miss.
func BenchmarkDecideNDP(b *testing.B) {
	set := fakeSet{owned: map[netip.Addr]bool{}, local: map[netip.Addr]bool{}, gw: map[netip.Addr]bool{}}
	base := netip.MustParseAddr("2001:db8:100::").As16()
	for i := range 100_000 {
		a := base
		binary.BigEndian.PutUint32(a[12:], uint32(i))
		set.owned[netip.AddrFrom16(a)] = true
	}
	set.owned[guestIP6] = true
	benchDecide(b, set, Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketMulticast}, []decideBench{
		{"ns-owned", ns(b, nsOpts{target: guestIP6}), Answer},
		{"ns-not-owned", ns(b, nsOpts{target: unroutedIP6}), NotOwned},
	})
}
