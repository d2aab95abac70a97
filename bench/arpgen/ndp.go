package main

// ndplat: the IPv6 twin of lat. Neighbor Solicitations, one at a time, to
// the target's solicited-node group (or, with --unicast, to a MAC and the
// target's own address: a router's reachability re-check), and the wire
// latency of the Neighbor Advertisement that answers each, from the kernel
// receive timestamps of both frames on the router's interface.

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/proxyarp/proxyarp/bench/internal/labnet"
	"golang.org/x/net/bpf"
)

const (
	ethTypeIPv6  = 0x86dd
	ipv6HdrLen   = 40
	icmpOff      = 14 + ipv6HdrLen // the ICMPv6 message in an untagged frame
	protoICMPv6  = 58
	icmpNS       = 135
	icmpNA       = 136
	ndpHopLimit  = 255
	nsWithSLLLen = 24 + 8 // NS header and target, source link-layer option
	naFlagS      = 0x40
)

// filterNDP passes untagged IPv6 frames carrying ICMPv6 (right after the
// IPv6 header) Neighbor Solicitations and Advertisements, 128 bytes of each.
func filterNDP() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ethTypeIPv6, SkipTrue: 6},
		bpf.LoadAbsolute{Off: 14 + 6, Size: 1}, // next header
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 4},
		bpf.LoadAbsolute{Off: icmpOff, Size: 1}, // ICMPv6 type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: icmpNS, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpNA, SkipTrue: 1},
		bpf.RetConstant{Val: 128},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err)
	}
	return raw
}

// checksum6 is the ICMPv6 checksum of msg (its checksum field zero) from
// src to dst: the one's complement sum over the pseudo-header and msg.
func checksum6(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	s, d := src.As16(), dst.As16()
	for i := 0; i < 16; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + protoICMPv6
	for i := 0; i+1 < len(msg); i += 2 {
		sum += uint32(msg[i])<<8 | uint32(msg[i+1])
	}
	if len(msg)%2 == 1 {
		sum += uint32(msg[len(msg)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// solicitedNode6 returns ff02::1:ffXX:XXXX for a and its Ethernet group
// 33:33:ff:XX:XX:XX.
func solicitedNode6(a netip.Addr) (netip.Addr, net.HardwareAddr) {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]}),
		net.HardwareAddr{0x33, 0x33, 0xff, b[13], b[14], b[15]}
}

// buildNS writes an Ethernet + IPv6 + ICMPv6 Neighbor Solicitation for
// target from src (MAC srcMAC, also in the source link-layer address
// option), hop limit 255. With a nil unicast MAC it goes to the target's
// solicited-node group; otherwise to that MAC and the target's address.
func buildNS(srcMAC net.HardwareAddr, src, target netip.Addr, unicast net.HardwareAddr) []byte {
	dstIP, dstMAC := solicitedNode6(target)
	if unicast != nil {
		dstIP, dstMAC = target, unicast
	}
	b := make([]byte, icmpOff+nsWithSLLLen)
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:14], ethTypeIPv6)
	ip := b[14:icmpOff]
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:6], nsWithSLLLen)
	ip[6] = protoICMPv6
	ip[7] = ndpHopLimit
	s, d, t := src.As16(), dstIP.As16(), target.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	m := b[icmpOff:]
	m[0] = icmpNS
	copy(m[8:24], t[:])
	m[24], m[25] = 1, 1 // source link-layer address, 8 bytes
	copy(m[26:32], srcMAC)
	binary.BigEndian.PutUint16(m[2:4], checksum6(src, dstIP, m))
	return b
}

// ndpFields are the parts of an NS or NA frame the bench looks at.
type ndpFields struct {
	typ           uint8
	flags         uint8 // NA: R, S, O in the top bits
	src, dst, tgt netip.Addr
	checksumOK    bool
}

// parseNDP parses an untagged Ethernet + IPv6 + ICMPv6 NS or NA (no
// extension headers), checking the hop limit and the checksum.
func parseNDP(b []byte) (ndpFields, bool) {
	if len(b) < icmpOff+24 || binary.BigEndian.Uint16(b[12:14]) != ethTypeIPv6 || b[14]>>4 != 6 {
		return ndpFields{}, false
	}
	ip := b[14:icmpOff]
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if ip[6] != protoICMPv6 || ip[7] != ndpHopLimit || plen < 24 || len(b)-icmpOff < plen {
		return ndpFields{}, false
	}
	m := b[icmpOff : icmpOff+plen]
	if m[0] != icmpNS && m[0] != icmpNA || m[1] != 0 {
		return ndpFields{}, false
	}
	f := ndpFields{
		typ: m[0], src: netip.AddrFrom16([16]byte(ip[8:24])), dst: netip.AddrFrom16([16]byte(ip[24:40])),
		tgt: netip.AddrFrom16([16]byte(m[8:24])),
	}
	if f.typ == icmpNA {
		f.flags = m[4]
	}
	f.checksumOK = checksum6(f.src, f.dst, m) == 0
	return f, true
}

// runNDPLat is lat for IPv6 Neighbor Discovery.
func runNDPLat(args []string) error {
	fs := flag.NewFlagSet("ndplat", flag.ExitOnError)
	iface := fs.String("iface", "eth0", "interface to send on (the router's)")
	srcS := fs.String("src", "2001:db8:1::fe", "IPv6 source of the solicitations (2001:db8::/32)")
	targetS := fs.String("target", "2001:db8:1::2", "target addresses (2001:db8::/32): A,B-C,...")
	label := fs.String("label", "", "responder name, copied to the output")
	cas := fs.String("case", "", "case name, copied to the output")
	n := fs.Int("n", 200, "solicitations to send")
	interval := fs.Duration("interval", time.Millisecond, "time from one solicitation to the next (or to the previous answer, when later)")
	timeout := fs.Duration("timeout", 100*time.Millisecond, "how long to wait for each advertisement")
	unicast := fs.String("unicast", "", "send to this MAC and the target's address instead of its solicited-node group (a router's re-check)")
	limit := fs.Duration("max", time.Minute, "stop after this long whatever --n says")
	samples := fs.Bool("samples", false, "include every wire sample (us) in the output")
	report := fs.String("report", "", "send nothing: print the NDP table of this results file (JSON lines) as markdown")
	fs.Parse(args)
	if *report != "" {
		return printNDPReport(*report)
	}

	if err := labnet.RefuseRootNamespace(); err != nil {
		return err
	}
	src, err := netip.ParseAddr(*srcS)
	if err != nil || !labnet.InDocRange6(src) {
		return fmt.Errorf("--src %q: want an IPv6 address in 2001:db8::/32", *srcS)
	}
	targets, err := labnet.ParseAddrs6(*targetS, 1024)
	if err != nil {
		return fmt.Errorf("--target: %w", err)
	}
	if len(targets) == 0 {
		return fmt.Errorf("--target: no address")
	}
	if *n <= 0 || *n > maxRequests {
		return fmt.Errorf("--n %d: want 1..%d", *n, maxRequests)
	}
	if *timeout <= 0 || *timeout > 10*time.Second {
		return fmt.Errorf("--timeout %v: want (0, 10s]", *timeout)
	}
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("%s has no Ethernet MAC", ifi.Name)
	}
	var ucast net.HardwareAddr
	mode := "mcast"
	if *unicast != "" {
		if ucast, err = net.ParseMAC(*unicast); err != nil || len(ucast) != 6 || ucast[0]&1 != 0 {
			return fmt.Errorf("--unicast %q: not a unicast MAC", *unicast)
		}
		mode = "ucast"
	}
	runtime.LockOSThread()

	rx, txfd, closeAll, err := openLatSockets(ifi, filterNDP())
	if err != nil {
		return err
	}
	defer closeAll()
	// The kernel turns software timestamping on from a work queue
	// (net_enable_timestamp): until it has, frames are stamped when read,
	// and the first sample of a run can come out negative. Give it time.
	time.Sleep(100 * time.Millisecond)

	frames := make([][]byte, len(targets))
	for i, t := range targets {
		frames[i] = buildNS(ifi.HardwareAddr, src, t, ucast)
	}
	var badChecksum, notSolicited int
	st, err := latRun{
		rx: rx, txfd: txfd, targets: targets, frames: frames,
		n: *n, interval: *interval, timeout: *timeout, limit: *limit,
		drainMax:        10000,
		dropEarlyAnswer: true,
		classify: func(frame []byte, outgoing bool, tgt netip.Addr) int {
			f, ok := parseNDP(frame)
			if !ok || f.tgt != tgt {
				return latOther
			}
			switch {
			case outgoing && f.typ == icmpNS && f.src == src:
				return latRequest
			case !outgoing && f.typ == icmpNA && f.dst == src:
				if !f.checksumOK {
					badChecksum++
					return latOther
				}
				if f.flags&naFlagS == 0 {
					notSolicited++
					return latOther
				}
				return latAnswer
			}
			return latOther
		},
	}.measure()
	if err != nil {
		return err
	}
	out := map[string]any{
		"kind": "ndplat", "proto": "ndp", "responder": *label, "case": *cas, "mode": mode,
		"interval_ms": float64(*interval) / 1e6, "targets": len(targets),
		"bad_checksum": badChecksum, "unsolicited_na": notSolicited,
	}
	st.addTo(out, *samples)
	emit(out)
	return nil
}

// printNDPReport prints ndpTable of a results file (bench/ndp.sh's own
// table; `arpgen report` renders it among the others).
func printNDPReport(path string) error {
	recs, err := readRecords(path)
	if err != nil {
		return err
	}
	fmt.Print(ndpTable(recs).String())
	return nil
}
