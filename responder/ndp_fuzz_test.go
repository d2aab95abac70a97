package responder

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
)

// FuzzDecideNDP feeds arbitrary IPv6 frames to Decide. It must never panic;
// whatever it answers must be a valid solicitation for an owned, allowed,
// non-local address, sent to us, with an advertisement that mdlayher/ndp
// parses as the answer; and wherever Decide accepted a solicitation as
// valid, its parse must agree with mdlayher/ndp's. Seeds live in
// testdata/fuzz/FuzzDecideNDP (a valid NS, a unicast NUD, a DAD probe, a bad
// checksum, a short message, ...).
func FuzzDecideNDP(f *testing.F) {
	f.Add(ns(f, nsOpts{}), uint8(PacketMulticast), false)
	f.Add(ns(f, nsOpts{dst: guestIP6, noSLLA: true}), uint8(PacketHost), false)
	f.Add(ns(f, nsOpts{unspecified: true}), uint8(PacketMulticast), true)
	f.Add(ns(f, nsOpts{badChecksum: true}), uint8(PacketMulticast), false)
	f.Add(ns(f, nsOpts{target: hostIP6, opts: []byte{14, 1, 1, 2, 3, 4, 5, 6}}), uint8(PacketMulticast), false)
	set := testSet()
	var as AnswerSet = set
	cfg := &Config{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}
	defend := &Config{Allow: cfg.Allow, DefendDAD: true}
	f.Fuzz(func(t *testing.T, frame []byte, ptype uint8, dad bool) {
		c := cfg
		if dad {
			c = defend
		}
		in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketType(ptype)}
		d := Decide(frame, in, as, c)
		r := d.Request
		if r.Proto == ProtoNDP && r.TargetIP.IsValid() && d.Reason != BadChecksum && d.Reason != InvalidNS {
			agreeWithNDP(t, frame, r)
		}
		reply := d.AppendReply(nil)
		if d.Reason != Answer {
			if len(reply) != 0 {
				t.Fatalf("reason %v but a reply was built", d.Reason)
			}
			return
		}
		if r.Proto != ProtoNDP {
			return // FuzzDecide's business
		}
		icmp := frame[ndpOff : ndpOff+int(binary.BigEndian.Uint16(frame[18:20]))]
		switch {
		case len(reply) != NAReplyLen:
			t.Fatalf("reply is %d bytes", len(reply))
		case !set.owned[r.TargetIP] || set.local[r.TargetIP] || set.gw[r.TargetIP] || !c.allows(r.TargetIP):
			t.Fatalf("answered for %v, which is not owned or allowed", r.TargetIP)
		case frame[21] != 255 || icmp[0] != icmpTypeNS || icmp[1] != 0 || frame[20] != 58:
			t.Fatalf("answered an invalid solicitation: % x", frame)
		case checksumOf(t, icmp, r.SenderIP, r.DstIP) != binary.BigEndian.Uint16(icmp[2:4]):
			t.Fatalf("answered a solicitation with a bad checksum: % x", frame)
		case in.Type == PacketOtherHost || in.Type == PacketOutgoing ||
			(r.EthDst != uplinkMAC && r.EthDst != MAC{0x33, 0x33, 0xff, icmp[21], icmp[22], icmp[23]}):
			t.Fatalf("answered a frame not for us: %+v type %v", r, in.Type)
		case r.SenderIP.IsUnspecified() && !c.DefendDAD:
			t.Fatalf("answered a DAD probe without DefendDAD")
		}
		w := naWant{dstMAC: r.SenderMAC, src: r.TargetIP, dst: r.SenderIP, solicited: true}
		if r.SenderIP.IsUnspecified() {
			w = naWant{dstMAC: allNodesMAC, src: r.TargetIP, dst: allNodes}
		} else if !bytes.Equal(reply[0:6], frame[6:12]) {
			t.Fatalf("reply to % x, the solicitation came from % x", reply[0:6], frame[6:12])
		}
		if r.TargetIP != guestIP6 && r.TargetIP != guest2IP6 {
			t.Fatalf("answered for %v", r.TargetIP)
		}
		checkNAFor(t, reply, w, r.TargetIP)
	})
}

// agreeWithNDP checks that mdlayher/ndp parses the solicitation Decide
// accepted the same way: target and first source link-layer address. ndp is
// stricter about options an NS does not use (MTU, prefix, DNS...) and about
// IPv4-mapped targets, and mis-sizes options of 32 units or more; such
// messages are skipped.
func agreeWithNDP(t *testing.T, frame []byte, r Request) {
	t.Helper()
	icmp := frame[ndpOff : ndpOff+int(binary.BigEndian.Uint16(frame[18:20]))]
	if r.TargetIP.Is4In6() {
		return
	}
	for o := icmp[nsLen:]; len(o) >= 2 && o[1] > 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
		switch {
		case o[0] == optSourceLL || o[0] == optTargetLL:
			if o[1] != 1 {
				return
			}
		case o[0] == 3 || o[0] == 5 || o[0] == 14 || o[0] == 24 || o[0] == 25 || o[0] == 26 || o[0] == 31 || o[0] == 37 || o[0] == 38:
			return // options ndp parses strictly
		case o[1] >= 32:
			return
		}
	}
	m, err := ndp.ParseMessage(icmp)
	if err != nil {
		t.Fatalf("Decide accepted a solicitation (reason %v) that ndp rejects: %v\n% x", r.Op, err, icmp)
	}
	n, ok := m.(*ndp.NeighborSolicitation)
	if !ok || n.TargetAddress != r.TargetIP {
		t.Fatalf("ndp parsed %#v, Decide target %v", m, r.TargetIP)
	}
	for _, o := range n.Options {
		if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Source {
			if !r.SourceLLA || !bytes.Equal(l.Addr, r.SenderMAC[:]) {
				t.Fatalf("ndp source link-layer address %v, Decide %v (option seen: %v)", l.Addr, r.SenderMAC, r.SourceLLA)
			}
			return
		}
	}
	if r.SourceLLA {
		t.Fatalf("Decide found a source link-layer address %v that ndp did not", r.SenderMAC)
	}
}
