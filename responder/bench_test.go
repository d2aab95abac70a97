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
	benchDecide(b, set, Ingress{Name: "eth0", MAC: uplinkMAC, Type: PacketBroadcast}, []decideBench{
		{"owned", request(b, reqOpts{targetIP: guestIP}), Answer},
		{"not-owned", request(b, reqOpts{targetIP: unroutedIP}), NotOwned},
	})
}

// decideBench is one case of benchDecide: a frame and the verdict it gets.
type decideBench struct {
	name  string
	frame []byte
	want  Reason
}

// benchDecide times, for each case, one decision plus the reply built into
// a reused buffer, as the serve loop does.
func benchDecide(b *testing.B, as AnswerSet, in Ingress, cases []decideBench) {
	out := make([]byte, 0, MaxReplyLen)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := Decide(bc.frame, in, as, nil)
				if d.Reason != bc.want {
					b.Fatalf("Decide = %v, want %v", d.Reason, bc.want)
				}
				out = d.AppendReply(out[:0])
			}
		})
	}
}
