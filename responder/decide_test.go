package responder

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

var (
	uplinkMAC    = MAC{0x02, 0, 0, 0, 0, 0x01}
	routerMAC    = MAC{0x02, 0, 0, 0, 0, 0xfe}
	otherMAC     = MAC{0x02, 0, 0, 0, 0, 0x99}
	routerIP     = netip.MustParseAddr("192.0.2.254")
	hostIP       = netip.MustParseAddr("192.0.2.1")
	guestIP      = netip.MustParseAddr("192.0.2.2")
	guest2IP     = netip.MustParseAddr("198.51.100.7")
	unroutedIP   = netip.MustParseAddr("192.0.2.99")
	gatewayIP    = netip.MustParseAddr("192.0.2.253") // a gateway via the uplink, also routed to a guest
	broadcastMAC = BroadcastMAC

	// IPv6 twins of the addresses above (2001:db8::/32 only).
	routerIP6   = netip.MustParseAddr("2001:db8::fe")
	hostIP6     = netip.MustParseAddr("2001:db8::1")
	guestIP6    = netip.MustParseAddr("2001:db8::2")
	guest2IP6   = netip.MustParseAddr("2001:db8:1::7")
	unroutedIP6 = netip.MustParseAddr("2001:db8::99")
	gatewayIP6  = netip.MustParseAddr("2001:db8::fd")
)

// fakeSet is a map-backed AnswerSet and GatewaySet.
type fakeSet struct {
	owned, local, gw map[netip.Addr]bool
}

func (s fakeSet) Owned(a netip.Addr) bool   { return s.owned[a] }
func (s fakeSet) Local(a netip.Addr) bool   { return s.local[a] }
func (s fakeSet) Gateway(a netip.Addr) bool { return s.gw[a] }

var _ GatewaySet = fakeSet{}

func testSet() fakeSet {
	return fakeSet{
		owned: map[netip.Addr]bool{guestIP: true, guest2IP: true, gatewayIP: true, guestIP6: true, guest2IP6: true, gatewayIP6: true},
		local: map[netip.Addr]bool{hostIP: true, hostIP6: true},
		gw:    map[netip.Addr]bool{gatewayIP: true, gatewayIP6: true},
	}
}

// reqOpts describes a request frame; zero fields take the defaults of a
// broadcast who-has 192.0.2.2 from the router.
type reqOpts struct {
	ethDst, ethSrc, senderMAC *MAC
	op                        arp.Operation
	senderIP, targetIP        netip.Addr
}

// request builds a frame with mdlayher/arp and mdlayher/ethernet, an
// encoder independent of the code under test.
func request(t testing.TB, o reqOpts) []byte {
	t.Helper()
	mac := func(p *MAC, def MAC) net.HardwareAddr {
		if p != nil {
			return p[:]
		}
		return def[:]
	}
	if o.op == 0 {
		o.op = arp.OperationRequest
	}
	if !o.senderIP.IsValid() {
		o.senderIP = routerIP
	}
	if !o.targetIP.IsValid() {
		o.targetIP = guestIP
	}
	p, err := arp.NewPacket(o.op, mac(o.senderMAC, routerMAC), o.senderIP, net.HardwareAddr{0, 0, 0, 0, 0, 0}, o.targetIP)
	if err != nil {
		t.Fatalf("arp.NewPacket: %v", err)
	}
	payload, err := p.MarshalBinary()
	if err != nil {
		t.Fatalf("arp marshal: %v", err)
	}
	f := ethernet.Frame{
		Destination: mac(o.ethDst, broadcastMAC),
		Source:      mac(o.ethSrc, routerMAC),
		EtherType:   ethernet.EtherTypeARP,
		Payload:     payload,
	}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatalf("ethernet marshal: %v", err)
	}
	return b
}

// tagVLAN returns frame with an 802.1Q tag for vid inserted.
func tagVLAN(frame []byte, vid uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	out = append(out, 0x81, 0x00, byte(vid>>8), byte(vid))
	return append(out, frame[12:]...)
}

func withByte(frame []byte, off int, v byte) []byte {
	out := append([]byte(nil), frame...)
	out[off] = v
	return out
}

func ptr(m MAC) *MAC { return &m }

func TestDecideReasons(t *testing.T) {
	good := request(t, reqOpts{})
	tests := []struct {
		name  string
		frame []byte
		ptype PacketType
		cfg   *Config
		want  Reason
	}{
		{"a broadcast request for an owned address is answered", good, PacketBroadcast, nil, Answer},
		{"a unicast re-check to the uplink MAC is answered", request(t, reqOpts{ethDst: ptr(uplinkMAC)}), PacketHost, nil, Answer},
		{"a request read from a file with no packet type is answered", good, PacketUnknown, nil, Answer},
		{"a request for a second owned address is answered", request(t, reqOpts{targetIP: guest2IP}), PacketBroadcast, nil, Answer},
		{"an empty frame is malformed", nil, PacketBroadcast, nil, Malformed},
		{"a frame cut inside the Ethernet header is malformed", good[:13], PacketBroadcast, nil, Malformed},
		{"a frame cut inside the ARP packet is malformed", good[:41], PacketBroadcast, nil, Malformed},
		{"an IPv4 frame is malformed", withByte(good, 13, 0x00), PacketBroadcast, nil, Malformed},
		{"a hardware type other than Ethernet is malformed", withByte(good, 15, 6), PacketBroadcast, nil, Malformed},
		{"a protocol type other than IPv4 is malformed", withByte(good, 16, 0x86), PacketBroadcast, nil, Malformed},
		{"a hardware length other than 6 is malformed", withByte(good, 18, 8), PacketBroadcast, nil, Malformed},
		{"a protocol length other than 4 is malformed", withByte(good, 19, 16), PacketBroadcast, nil, Malformed},
		{"a VLAN-tagged request is not answered on the untagged uplink", tagVLAN(good, 100), PacketBroadcast, nil, VLANTagged},
		{"a priority-tagged request still carrying its tag is not answered", tagVLAN(good, 0), PacketBroadcast, nil, VLANTagged},
		{"a frame the kernel classed OTHERHOST is not for us", good, PacketOtherHost, nil, NotForUs},
		{"an outgoing frame is not for us", good, PacketOutgoing, nil, NotForUs},
		{"a unicast request to another MAC is not for us", request(t, reqOpts{ethDst: ptr(otherMAC)}), PacketUnknown, nil, NotForUs},
		{"a multicast-addressed request is not for us", request(t, reqOpts{ethDst: ptr(MAC{0x01, 0, 0x5e, 0, 0, 1})}), PacketMulticast, nil, NotForUs},
		{"a reply is not a request", request(t, reqOpts{op: arp.OperationReply}), PacketBroadcast, nil, NotRequest},
		{"an unknown operation is not a request", withByte(good, 21, 9), PacketBroadcast, nil, NotRequest},
		{"an Ethernet source other than the sender MAC is refused", request(t, reqOpts{ethSrc: ptr(otherMAC)}), PacketBroadcast, nil, EthSrcMismatch},
		{"a zero sender MAC is refused", request(t, reqOpts{ethSrc: ptr(MAC{}), senderMAC: ptr(MAC{})}), PacketBroadcast, nil, BadSenderMAC},
		{"a broadcast sender MAC is refused", request(t, reqOpts{ethSrc: ptr(BroadcastMAC), senderMAC: ptr(BroadcastMAC)}), PacketBroadcast, nil, BadSenderMAC},
		{"a multicast sender MAC is refused", request(t, reqOpts{ethSrc: ptr(MAC{0x01, 0, 0x5e, 0, 0, 1}), senderMAC: ptr(MAC{0x01, 0, 0x5e, 0, 0, 1})}), PacketBroadcast, nil, BadSenderMAC},
		{"an address probe from 0.0.0.0 is not answered", request(t, reqOpts{senderIP: netip.MustParseAddr("0.0.0.0")}), PacketBroadcast, nil, Probe},
		{"a loopback sender IP is a martian", request(t, reqOpts{senderIP: netip.MustParseAddr("127.0.0.1")}), PacketBroadcast, nil, BadSenderIP},
		{"a multicast sender IP is a martian", request(t, reqOpts{senderIP: netip.MustParseAddr("224.0.0.1")}), PacketBroadcast, nil, BadSenderIP},
		{"a class E sender IP is a martian", request(t, reqOpts{senderIP: netip.MustParseAddr("240.0.0.1")}), PacketBroadcast, nil, BadSenderIP},
		{"the limited broadcast as sender IP is a martian", request(t, reqOpts{senderIP: netip.MustParseAddr("255.255.255.255")}), PacketBroadcast, nil, BadSenderIP},
		{"a 0/8 sender IP other than 0.0.0.0 is a martian", request(t, reqOpts{senderIP: netip.MustParseAddr("0.1.2.3")}), PacketBroadcast, nil, BadSenderIP},
		{"a loopback target is a martian", request(t, reqOpts{targetIP: netip.MustParseAddr("127.0.0.1")}), PacketBroadcast, nil, BadTargetIP},
		{"a multicast target is a martian", request(t, reqOpts{targetIP: netip.MustParseAddr("239.1.1.1")}), PacketBroadcast, nil, BadTargetIP},
		{"a broadcast target is a martian", request(t, reqOpts{targetIP: netip.MustParseAddr("255.255.255.255")}), PacketBroadcast, nil, BadTargetIP},
		{"a zero target is a martian", request(t, reqOpts{targetIP: netip.MustParseAddr("0.0.0.0")}), PacketBroadcast, nil, BadTargetIP},
		{"a gratuitous request for an owned address is not answered", request(t, reqOpts{senderIP: guestIP, targetIP: guestIP}), PacketBroadcast, nil, Gratuitous},
		{"the host's own address is left to the kernel", request(t, reqOpts{targetIP: hostIP}), PacketBroadcast, nil, OwnAddress},
		{"the uplink's gateway is never answered, even when routed to a guest", request(t, reqOpts{targetIP: gatewayIP}), PacketBroadcast, nil, UplinkGateway},
		{"the uplink's gateway is refused before the allow list is looked at", request(t, reqOpts{targetIP: gatewayIP}), PacketBroadcast, &Config{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, UplinkGateway},
		{"an owned address outside the allow list is not answered", good, PacketBroadcast, &Config{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, OutsideAllow},
		{"an owned address inside one of the allow prefixes is answered", good, PacketBroadcast, &Config{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("192.0.2.0/28")}}, Answer},
		{"an unrouted address is not owned", request(t, reqOpts{targetIP: unroutedIP}), PacketBroadcast, nil, NotOwned},
		{"an empty allow list allows everything but still needs ownership", request(t, reqOpts{targetIP: unroutedIP}), PacketBroadcast, &Config{}, NotOwned},
	}
	seen := map[Reason]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.frame, Ingress{Name: "eth0", MAC: uplinkMAC, Type: tt.ptype}, testSet(), tt.cfg)
			if d.Reason != tt.want {
				t.Errorf("Decide = %v, want %v", d.Reason, tt.want)
			}
			reply := d.AppendReply(nil)
			if (len(reply) > 0) != (tt.want == Answer) {
				t.Errorf("AppendReply wrote %d bytes for reason %v", len(reply), d.Reason)
			}
		})
		seen[tt.want] = true
	}
	for r := Answer; r < numReasons; r++ {
		if !seen[r] && r != BadChecksum && r != InvalidNS { // NDP only: TestDecideNDPReasons
			t.Errorf("no test case for reason %v", r)
		}
	}
}

func TestDecideReplyBytes(t *testing.T) {
	// who-has 192.0.2.2 tell 192.0.2.254 (02:00:00:00:00:fe), answered by
	// the uplink 02:00:00:00:00:01. Written out by hand, field by field.
	want := strings.Join([]string{
		"0200000000fe", // Ethernet dst: the requester's Ethernet source
		"020000000001", // Ethernet src: the uplink
		"0806",         // EtherType ARP
		"0001",         // htype Ethernet
		"0800",         // ptype IPv4
		"06", "04",     // hlen, plen
		"0002",                   // op reply
		"020000000001",           // sender MAC: the uplink
		"c0000202",               // sender IP: 192.0.2.2, the asked-for address
		"0200000000fe",           // target MAC: the requester
		"c00002fe",               // target IP: 192.0.2.254
		strings.Repeat("00", 18), // padding to 60 bytes
	}, "")
	for _, tt := range []struct {
		name  string
		frame []byte
		ptype PacketType
	}{
		{"broadcast request", request(t, reqOpts{}), PacketBroadcast},
		{"unicast request", request(t, reqOpts{ethDst: ptr(uplinkMAC)}), PacketHost},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.frame, Ingress{Name: "eth0", MAC: uplinkMAC, Type: tt.ptype}, testSet(), nil)
			got := hex.EncodeToString(d.AppendReply(nil))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reply bytes (-want +got):\n%s", diff)
			}
			// And the reply parses as what it claims, with mdlayher/arp.
			var p arp.Packet
			raw, _ := hex.DecodeString(got)
			if err := p.UnmarshalBinary(raw[14:]); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if p.Operation != arp.OperationReply || p.SenderIP != guestIP || p.TargetIP != routerIP {
				t.Errorf("parsed reply = %+v", p)
			}
		})
	}
}

func TestAppendReplyKeepsPrefix(t *testing.T) {
	d := Decide(request(t, reqOpts{}), Ingress{MAC: uplinkMAC, Type: PacketBroadcast}, testSet(), nil)
	b := d.AppendReply([]byte("head"))
	if string(b[:4]) != "head" || len(b) != 4+ReplyLen {
		t.Errorf("AppendReply onto a prefix: len %d, prefix %q", len(b), b[:4])
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	frame := request(t, reqOpts{})
	var set AnswerSet = testSet()
	in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketBroadcast}
	cfg := &Config{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	out := make([]byte, 0, ReplyLen)
	allocs := testing.AllocsPerRun(100, func() {
		d := Decide(frame, in, set, cfg)
		out = d.AppendReply(out[:0])
	})
	if allocs != 0 {
		t.Errorf("Decide+AppendReply allocated %v times per request, want 0", allocs)
	}
}

func TestReasonNames(t *testing.T) {
	names := map[string]bool{}
	for r := Answer; r < numReasons; r++ {
		n := r.String()
		if n == "" || n == "unknown" || names[n] {
			t.Errorf("reason %d has name %q (empty, unknown or duplicate)", r, n)
		}
		names[n] = true
		if back, ok := ParseReason(n); !ok || back != r {
			t.Errorf("ParseReason(%q) = %v, %v; want %v", n, back, ok, r)
		}
	}
	if got := len(DropReasons()); got != int(numReasons)-1 {
		t.Errorf("DropReasons has %d entries, want %d", got, numReasons-1)
	}
	if Reason(200).String() != "unknown" {
		t.Errorf("out-of-range reason has name %q", Reason(200).String())
	}
}
