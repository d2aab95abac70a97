package responder

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzDecide feeds arbitrary bytes and packet types to Decide. It must never
// panic, and whatever it answers must be an owned, non-local address asked
// by a well-formed broadcast or unicast-to-us request, with a reply that
// says exactly that. Seeds live in testdata/fuzz/FuzzDecide.
func FuzzDecide(f *testing.F) {
	f.Add(request(f, reqOpts{}), uint8(PacketBroadcast))
	f.Add(request(f, reqOpts{ethDst: ptr(uplinkMAC)}), uint8(PacketHost))
	f.Add(tagVLAN(request(f, reqOpts{}), 100), uint8(PacketOtherHost))
	f.Add(request(f, reqOpts{targetIP: hostIP}), uint8(PacketBroadcast))
	f.Add([]byte{}, uint8(PacketUnknown))
	set := testSet()
	var as AnswerSet = set
	cfg := &Config{Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	f.Fuzz(func(t *testing.T, frame []byte, ptype uint8) {
		in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketType(ptype)}
		d := Decide(frame, in, as, cfg)
		reply := d.AppendReply(nil)
		if d.Reason != Answer {
			if len(reply) != 0 {
				t.Fatalf("reason %v but a reply was built", d.Reason)
			}
			return
		}
		r := d.Request
		switch {
		case len(reply) != ReplyLen:
			t.Fatalf("reply is %d bytes", len(reply))
		case !set.owned[r.TargetIP] || set.local[r.TargetIP] || !cfg.allows(r.TargetIP):
			t.Fatalf("answered for %v, which is not owned or allowed", r.TargetIP)
		case r.Op != 1 || r.EthSrc != r.SenderMAC:
			t.Fatalf("answered a non-request or spoofed frame: %+v", r)
		case in.Type == PacketOtherHost || (r.EthDst != BroadcastMAC && r.EthDst != uplinkMAC):
			t.Fatalf("answered a frame not for us: %+v type %v", r, in.Type)
		case !bytes.Equal(reply[0:6], frame[6:12]) || !bytes.Equal(reply[6:12], uplinkMAC[:]):
			t.Fatalf("reply Ethernet header % x for request % x", reply[:14], frame[:14])
		case !bytes.Equal(reply[28:32], frame[38:42]) || !bytes.Equal(reply[38:42], frame[28:32]):
			t.Fatalf("reply addresses swapped wrongly: % x", reply)
		}
	})
}
