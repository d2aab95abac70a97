package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

var (
	testMAC    = net.HardwareAddr{0x02, 0, 0x5e, 0x10, 0, 0xfe}
	testSrc    = netip.MustParseAddr("2001:db8:1::fe")
	testTarget = netip.MustParseAddr("2001:db8:1::2")
)

func TestBuildNSMatchesLibraries(t *testing.T) {
	for _, unicast := range []net.HardwareAddr{nil, {0x02, 0, 0x5e, 0x10, 0, 1}} {
		f := buildNS(testMAC, testSrc, testTarget, unicast)
		wantDstIP, wantDstMAC := netip.MustParseAddr("ff02::1:ff00:2"), net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}
		if unicast != nil {
			wantDstIP, wantDstMAC = testTarget, unicast
		}
		if !bytes.Equal(f[0:6], wantDstMAC) || !bytes.Equal(f[6:12], testMAC) || binary.BigEndian.Uint16(f[12:14]) != 0x86dd {
			t.Fatalf("Ethernet header % x, want dst %v src %v type 86dd", f[:14], wantDstMAC, testMAC)
		}
		var h ipv6.Header
		if hdr, err := ipv6.ParseHeader(f[14:]); err != nil {
			t.Fatal(err)
		} else {
			h = *hdr
		}
		if h.Version != 6 || h.NextHeader != 58 || h.HopLimit != 255 || h.PayloadLen != len(f)-icmpOff ||
			!h.Src.Equal(testSrc.AsSlice()) || !h.Dst.Equal(wantDstIP.AsSlice()) {
			t.Fatalf("IPv6 header %+v", h)
		}
		// The same message marshalled by mdlayher/ndp, checksummed by x/net/icmp.
		msg := &ndp.NeighborSolicitation{TargetAddress: testTarget,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: testMAC}}}
		body, err := ndp.MarshalMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		im := icmp.Message{Type: ipv6.ICMPTypeNeighborSolicitation, Body: &icmp.RawBody{Data: body[4:]}}
		want, err := im.Marshal(icmp.IPv6PseudoHeader(h.Src, h.Dst))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f[icmpOff:], want) {
			t.Errorf("NS (unicast %v):\n got % x\nwant % x", unicast, f[icmpOff:], want)
		}
		// And mdlayher/ndp parses it back.
		m, err := ndp.ParseMessage(f[icmpOff:])
		if err != nil {
			t.Fatal(err)
		}
		ns, ok := m.(*ndp.NeighborSolicitation)
		if !ok || ns.TargetAddress != testTarget {
			t.Errorf("parsed back %#v", m)
		}
		p, ok := parseNDP(f)
		if !ok || p.typ != icmpNS || !p.checksumOK || p.src != testSrc || p.dst != wantDstIP || p.tgt != testTarget {
			t.Errorf("parseNDP(NS) = %+v, %v", p, ok)
		}
	}
}

// na builds an answer as a proxy would: from its own address, to src.
func na(t *testing.T, flags ndp.NeighborAdvertisement, from netip.Addr, hop uint8) []byte {
	t.Helper()
	flags.TargetAddress = testTarget
	flags.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}}
	body, err := ndp.MarshalMessage(&flags)
	if err != nil {
		t.Fatal(err)
	}
	im := icmp.Message{Type: ipv6.ICMPTypeNeighborAdvertisement, Body: &icmp.RawBody{Data: body[4:]}}
	msg, err := im.Marshal(icmp.IPv6PseudoHeader(from.AsSlice(), testSrc.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	f := make([]byte, icmpOff, icmpOff+len(msg))
	copy(f[0:6], testMAC)
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:14], 0x86dd)
	f[14] = 0x60
	binary.BigEndian.PutUint16(f[18:20], uint16(len(msg)))
	f[20], f[21] = 58, hop
	s, d := from.As16(), testSrc.As16()
	copy(f[22:38], s[:])
	copy(f[38:54], d[:])
	return append(f, msg...)
}

func TestParseNDPAdvertisement(t *testing.T) {
	host := netip.MustParseAddr("2001:db8:1::1")
	f := na(t, ndp.NeighborAdvertisement{Solicited: true}, host, 255)
	p, ok := parseNDP(f)
	if !ok || p.typ != icmpNA || !p.checksumOK || p.flags&naFlagS == 0 || p.src != host || p.dst != testSrc || p.tgt != testTarget {
		t.Fatalf("parseNDP(NA) = %+v, %v", p, ok)
	}
	if p, _ := parseNDP(na(t, ndp.NeighborAdvertisement{Override: true}, host, 255)); p.flags&naFlagS != 0 {
		t.Errorf("unsolicited NA parsed with S: %+v", p)
	}
	if _, ok := parseNDP(na(t, ndp.NeighborAdvertisement{Solicited: true}, host, 64)); ok {
		t.Error("an NA with hop limit 64 was accepted")
	}
	bad := na(t, ndp.NeighborAdvertisement{Solicited: true}, host, 255)
	bad[len(bad)-1] ^= 0xff
	if p, ok := parseNDP(bad); !ok || p.checksumOK {
		t.Errorf("corrupted NA: %+v, %v; want parsed with a bad checksum", p, ok)
	}
	if _, ok := parseNDP(f[:icmpOff+10]); ok {
		t.Error("a truncated NA was accepted")
	}
	if _, ok := parseNDP(buildARP(broadcast, testMAC, arpRequest, testMAC, netip.MustParseAddr("192.0.2.254"), nil, netip.MustParseAddr("192.0.2.2"))); ok {
		t.Error("an ARP frame was taken for NDP")
	}
}

func TestFilterNDP(t *testing.T) {
	vm, err := bpf.NewVM(func() []bpf.Instruction {
		var ins []bpf.Instruction
		for _, r := range filterNDP() {
			ins = append(ins, r.Disassemble())
		}
		return ins
	}())
	if err != nil {
		t.Fatal(err)
	}
	host := netip.MustParseAddr("2001:db8:1::1")
	echo := na(t, ndp.NeighborAdvertisement{}, host, 255)
	echo[icmpOff] = 128 // an echo request
	udp := na(t, ndp.NeighborAdvertisement{}, host, 255)
	udp[20] = 17
	for _, c := range []struct {
		name string
		f    []byte
		pass bool
	}{
		{"NS", buildNS(testMAC, testSrc, testTarget, nil), true},
		{"NA", na(t, ndp.NeighborAdvertisement{Solicited: true}, host, 255), true},
		{"echo request", echo, false},
		{"UDP", udp, false},
		{"ARP", buildARP(broadcast, testMAC, arpRequest, testMAC, netip.MustParseAddr("192.0.2.254"), nil, netip.MustParseAddr("192.0.2.2")), false},
	} {
		n, err := vm.Run(c.f)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != c.pass {
			t.Errorf("%s: filter returned %d, want pass %v", c.name, n, c.pass)
		}
	}
}

func TestNDPTable(t *testing.T) {
	recs := []map[string]any{
		{"kind": "lat", "responder": "arp floor", "mode": "bcast", "interval_ms": 1.0, "sent": 10.0, "answered": 10.0},
		{"kind": "ndplat", "proto": "ndp", "responder": "kernel, own address", "mode": "mcast", "interval_ms": 1.0,
			"sent": 10.0, "answered": 10.0, "wire_p50_us": 2.5, "wire_p99_us": 9.0, "wire_max_us": 12.0, "gen_p50_us": 20.0},
		{"kind": "ndplat", "proto": "ndp", "responder": "proxyarp", "mode": "ucast", "interval_ms": 20.0, "sent": 5.0, "answered": 0.0},
	}
	tb := ndpTable(recs)
	if len(tb.rows) != 2 {
		t.Fatalf("rows %v, want the 2 NDP ones", tb.rows)
	}
	if r := tb.rows[0]; r[1] != "NS multicast, back-to-back" || r[2] != "10/10" || r[3] != "2.5 us" {
		t.Errorf("row 0 = %v", r)
	}
	if r := tb.rows[1]; r[1] != "NS unicast, sporadic" || r[2] != "0/5" || r[3] != "-" {
		t.Errorf("row 1 = %v", r)
	}
}
