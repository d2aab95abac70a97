package capture

import (
	"encoding/binary"
	"flag"
	"io"
	"net/netip"

	"github.com/proxyarp/proxyarp/responder"
)

// The test network: the uplink eth0 of the host, the router on it.
var (
	uplinkMAC = responder.MAC{0x02, 0, 0, 0, 0, 0x01}
	routerMAC = responder.MAC{0x02, 0, 0, 0, 0, 0xfe}
	otherMAC  = responder.MAC{0x02, 0, 0, 0, 0, 0x77}
	routerIP  = netip.MustParseAddr("192.0.2.254")
	hostIP    = netip.MustParseAddr("192.0.2.1")
)

// arpFrame describes a frame to build; zero fields take the defaults of a
// broadcast request from the router.
type arpFrame struct {
	ethDst, ethSrc       *responder.MAC
	etherType            uint16
	vlan                 []uint16 // TPIDs of tags to insert, outermost first
	htype, ptype         uint16
	hlen, plen           uint8
	op                   uint16
	senderMAC, targetMAC *responder.MAC
	senderIP, targetIP   string
	pad                  []byte
	truncate             int // keep only this many bytes when > 0
}

func ptr[T any](v T) *T { return &v }

// build encodes f byte by byte, independently of the responder's parser.
func (f arpFrame) build() []byte {
	or := func(p *responder.MAC, d responder.MAC) responder.MAC {
		if p != nil {
			return *p
		}
		return d
	}
	or16 := func(v, d uint16) uint16 {
		if v != 0 {
			return v
		}
		return d
	}
	or8 := func(v, d uint8) uint8 {
		if v != 0 {
			return v
		}
		return d
	}
	orIP := func(s, d string) [4]byte {
		if s == "" {
			s = d
		}
		return netip.MustParseAddr(s).As4()
	}
	dst, src := or(f.ethDst, responder.BroadcastMAC), or(f.ethSrc, routerMAC)
	var b []byte
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	for i, tpid := range f.vlan {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(100+i)) // VID
	}
	b = binary.BigEndian.AppendUint16(b, or16(f.etherType, 0x0806))
	b = binary.BigEndian.AppendUint16(b, or16(f.htype, 1))
	b = binary.BigEndian.AppendUint16(b, or16(f.ptype, 0x0800))
	b = append(b, or8(f.hlen, 6), or8(f.plen, 4))
	b = binary.BigEndian.AppendUint16(b, or16(f.op, 1))
	sm := or(f.senderMAC, src)
	b = append(b, sm[:]...)
	sip := orIP(f.senderIP, routerIP.String())
	b = append(b, sip[:]...)
	tm := or(f.targetMAC, responder.MAC{})
	b = append(b, tm[:]...)
	tip := orIP(f.targetIP, "192.0.2.2")
	b = append(b, tip[:]...)
	b = append(b, f.pad...)
	if f.truncate > 0 {
		b = b[:f.truncate]
	}
	return b
}

// newFlagSet returns a quiet flag set, as serve builds its own.
func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
