package responder

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// mapSet is a minimal AnswerSet keyed like routes.Set, to measure Decide
// itself; routes has its own benchmark of the real set.
type mapSet map[uint32]struct{}

func (s mapSet) Owned(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	_, ok := s[binary.BigEndian.Uint32(b[:])]
	return ok
}
func (s mapSet) Local(netip.Addr) bool { return false }

// BenchmarkDecide measures one decision plus reply at 100k owned
// addresses, hit and miss.
func BenchmarkDecide(b *testing.B) {
	set := mapSet{}
	base := binary.BigEndian.Uint32([]byte{198, 18, 0, 0}) // 198.18.0.0/15 stand-in keys
	for i := range uint32(100_000) {
		set[base+i] = struct{}{}
	}
	// One of the 100k is the test guest address.
	g := guestIP.As4()
	set[binary.BigEndian.Uint32(g[:])] = struct{}{}
	var as AnswerSet = set
	in := Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketBroadcast}
	for _, bc := range []struct {
		name   string
		target netip.Addr
		want   Reason
	}{
		{"owned", guestIP, Answer},
		{"not-owned", unroutedIP, NotOwned},
	} {
		frame := request(b, reqOpts{targetIP: bc.target})
		out := make([]byte, 0, ReplyLen)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := Decide(frame, in, as, nil)
				if d.Reason != bc.want {
					b.Fatalf("Decide = %v, want %v", d.Reason, bc.want)
				}
				out = d.AppendReply(out[:0])
			}
		})
	}
}
