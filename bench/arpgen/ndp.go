package main

// ndplat: the IPv6 twin of lat. Neighbor Solicitations, one at a time, to
// the target's solicited-node group (or, with --unicast, to a MAC and the
// target's own address: a router's reachability re-check), and the wire
// latency of the Neighbor Advertisement that answers each, from the kernel
// receive timestamps of both frames on the router's interface.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/proxyarp/proxyarp/bench/internal/labnet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
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

	rxfd, err := openPacket(ifi, unix.ETH_P_ALL, filterNDP(), 4<<20)
	if err != nil {
		return err
	}
	defer unix.Close(rxfd)
	rx, err := newTSReader(rxfd)
	if err != nil {
		return err
	}
	txfd, err := openPacket(ifi, 0, nil, 0)
	if err != nil {
		return err
	}
	defer unix.Close(txfd)
	// The kernel turns software timestamping on from a work queue
	// (net_enable_timestamp): until it has, frames are stamped when read,
	// and the first sample of a run can come out negative. Give it time.
	time.Sleep(100 * time.Millisecond)

	frames := make([][]byte, len(targets))
	for i, t := range targets {
		frames[i] = buildNS(ifi.HardwareAddr, src, t, ucast)
	}
	buf := make([]byte, 256)
	var wire, gen []float64
	var sent, unanswered, sendErrs, noReqTS, badChecksum, notSolicited int
	start := time.Now()
	deadline := start.Add(min(*limit, maxDuration))
	next := start
	for i := 0; i < *n && time.Now().Before(deadline); i++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		for j := 0; j < 10000; j++ { // drain whatever came late
			if _, _, _, ok, _ := rx.read(buf, 0); !ok {
				break
			}
		}
		tgt := targets[i%len(targets)]
		tSend := time.Now()
		next = tSend.Add(*interval)
		if err := write(txfd, frames[i%len(targets)]); err != nil {
			sendErrs++
			continue
		}
		sent++
		var reqTS, repTS time.Time
		until := tSend.Add(*timeout)
		for {
			rem := time.Until(until)
			if rem <= 0 {
				break
			}
			m, ptype, ts, ok, err := rx.read(buf, rem)
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if !ok {
				break
			}
			f, ok := parseNDP(buf[:m])
			if !ok || f.tgt != tgt {
				continue
			}
			switch {
			case ptype == packetOutgoing && f.typ == icmpNS && f.src == src:
				if reqTS.IsZero() {
					reqTS = ts
				}
			case ptype != packetOutgoing && f.typ == icmpNA && f.dst == src:
				if !f.checksumOK {
					badChecksum++
					continue
				}
				if f.flags&naFlagS == 0 {
					notSolicited++
					continue
				}
				repTS = ts
			}
			if !repTS.IsZero() {
				break
			}
		}
		if repTS.IsZero() {
			unanswered++
			continue
		}
		gen = append(gen, float64(repTS.Sub(tSend).Nanoseconds())/1e3)
		if reqTS.IsZero() {
			noReqTS++
			continue
		}
		if repTS.Before(reqTS) { // a timestamp taken at read time: not a wire figure
			noReqTS++
			continue
		}
		wire = append(wire, float64(repTS.Sub(reqTS).Nanoseconds())/1e3)
	}
	ws, gs := sorted(wire), sorted(gen)
	out := map[string]any{
		"kind": "ndplat", "proto": "ndp", "responder": *label, "case": *cas, "mode": mode,
		"interval_ms": float64(*interval) / 1e6, "targets": len(targets),
		"sent": sent, "answered": len(gen), "unanswered": unanswered, "send_errors": sendErrs,
		"no_request_ts": noReqTS, "bad_checksum": badChecksum, "unsolicited_na": notSolicited,
		"wire_p50_us": round(pct(ws, 50), 1), "wire_p99_us": round(pct(ws, 99), 1), "wire_max_us": round(pct(ws, 100), 1),
		"gen_p50_us": round(pct(gs, 50), 1), "gen_p99_us": round(pct(gs, 99), 1),
	}
	if *samples {
		r := make([]float64, len(wire))
		for i, w := range wire {
			r[i] = round(w, 1)
		}
		out["samples_us"] = r
	}
	emit(out)
	return nil
}

// printNDPReport prints ndpTable of a results file (until renderTables
// calls ndpTable itself, `arpgen report` leaves these rows out).
func printNDPReport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var r map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil {
			recs = append(recs, r)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Print(ndpTable(recs).String())
	return nil
}
