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

// ndpFilterSnapLen is how many bytes of a Neighbor Solicitation NDPFilter
// hands to user space: a whole untagged 1500-byte frame, since Decide
// verifies the ICMPv6 checksum over the whole message (a truncated
// solicitation would read as BadChecksum or Malformed). Solicitations are
// 78 or 86 bytes in practice.
const ndpFilterSnapLen = ethHeaderLen + 1500

// NDPFilter returns the classic BPF program for the IPv6 socket (bound to
// EtherType 0x86dd on the uplink): it passes IPv6 frames whose next header
// is ICMPv6 (58, no extension headers) and whose ICMPv6 type is Neighbor
// Solicitation (135), up to 1514 bytes, and nothing else. Like Filter it
// leaves the packet type and every validity check to Decide, so that they
// are counted.
func NDPFilter() ([]bpf.RawInstruction, error) {
	prog, err := bpf.Assemble(ndpFilterProgram())
	if err != nil {
		return nil, fmt.Errorf("assemble NDP filter: %w", err)
	}
	return prog, nil
}

func ndpFilterProgram() []bpf.Instruction {
	return []bpf.Instruction{
		// EtherType at offset 12.
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeIPv6, SkipTrue: 5},
		// IPv6 next header at 14+6.
		bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 3},
		// ICMPv6 type at 14+40. A load beyond the frame returns 0.
		bpf.LoadAbsolute{Off: ndpOff, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpTypeNS, SkipTrue: 1},
		bpf.RetConstant{Val: ndpFilterSnapLen},
		bpf.RetConstant{Val: 0},
	}
}
