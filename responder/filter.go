package responder

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// filterSnapLen is how many bytes of a matching frame the filter hands to
// user space: enough for any ARP frame (42 bytes, 60 padded, a little more
// with trailers), small enough to keep a flood cheap to copy.
const filterSnapLen = 256

// Filter returns the classic BPF program attached to the uplink socket: it
// passes frames whose EtherType is ARP (0x0806), truncated to 256 bytes, and
// nothing else. The kernel runs it before queueing, so other traffic never
// reaches the responder.
//
// The packet type (PACKET_OTHERHOST for a VLAN the host has no device for)
// is deliberately not filtered here: it reaches Decide through recvfrom's
// sockaddr_ll, so such frames are counted under a named reason instead of
// vanishing. Malformed ARP frames likewise pass, to be counted.
func Filter() ([]bpf.RawInstruction, error) {
	prog, err := bpf.Assemble(filterProgram())
	if err != nil {
		return nil, fmt.Errorf("assemble ARP filter: %w", err)
	}
	return prog, nil
}

func filterProgram() []bpf.Instruction {
	return []bpf.Instruction{
		// EtherType at offset 12.
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeARP, SkipTrue: 1},
		bpf.RetConstant{Val: filterSnapLen},
		bpf.RetConstant{Val: 0},
	}
}
