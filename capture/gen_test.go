package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

var update = flag.Bool("update", false, "rewrite the generated captures and golden files in testdata/")

// baseTime is the timestamp of the first generated record; every record is
// 1 ms and 1 ns later than the one before (nanoseconds show in the output).
var baseTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixedClock returns the times of consecutive records.
func fixedClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time {
		k := n.Add(1) - 1
		return baseTime.Add(time.Duration(k) * (time.Millisecond + time.Nanosecond))
	}
}

// step is one event of a generated scenario: a frame received (with its
// packet type, and the error the reply write got) or an ownership change.
type step struct {
	frame  arpFrame
	raw    []byte // used instead of frame when not nil
	ptype  responder.PacketType
	werr   error
	change *routes.Change
	// announce, when valid, is a gratuitous ARP the responder sent.
	announce netip.Addr
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func (s step) bytes() []byte {
	if s.raw != nil {
		return s.raw
	}
	return s.frame.build()
}

// The answer set the decisions scenario starts with.
var (
	genOwned = []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")}
	genLocal = []netip.Addr{hostIP}
	// genGateway is the uplink's gateway in the decisions scenario (the
	// router's other address): never answered, even when owned.
	genGateway = netip.MustParseAddr("192.0.2.253")
	genAllow   = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
)

// decisionsSteps covers every reason of Decide, with packet types as the
// kernel reports them, and ownership changes in the middle.
func decisionsSteps() []step {
	bc := responder.PacketBroadcast
	return []step{
		{frame: arpFrame{}, ptype: bc},                                                           // answer
		{frame: arpFrame{ethDst: &uplinkMAC}, ptype: responder.PacketHost},                       // unicast re-check: answer
		{frame: arpFrame{targetIP: "192.0.2.9"}, ptype: bc},                                      // not-owned
		{frame: arpFrame{targetIP: "192.0.2.3", pad: make([]byte, 18)}, ptype: bc},               // zero padding: answer
		{frame: arpFrame{targetIP: "192.0.2.3", pad: bytes.Repeat([]byte{0xa5}, 18)}, ptype: bc}, // junk padding: answer
		{frame: arpFrame{senderIP: "0.0.0.0"}, ptype: bc},                                        // probe
		{frame: arpFrame{targetIP: "192.0.2.254"}, ptype: bc},                                    // gratuitous
		{frame: arpFrame{op: 2, targetIP: "192.0.2.254"}, ptype: bc},                             // gratuitous reply: not-request
		{frame: arpFrame{vlan: []uint16{0x8100}}, ptype: bc},                                     // vlan-tagged
		{frame: arpFrame{vlan: []uint16{0x88a8, 0x8100}}, ptype: bc},                             // QinQ: vlan-tagged
		{frame: arpFrame{}, ptype: responder.PacketOtherHost},                                    // live view of a tagged request: not-for-us
		{frame: arpFrame{ethDst: &otherMAC}, ptype: responder.PacketOtherHost},                   // unicast elsewhere: not-for-us
		{frame: arpFrame{senderMAC: &otherMAC}, ptype: bc},                                       // eth-src-mismatch
		{frame: arpFrame{ethSrc: ptr(responder.MAC{0x03, 0, 0, 0, 0, 1})}, ptype: bc},            // multicast sender: bad-sender-mac
		{frame: arpFrame{ethSrc: ptr(responder.MAC{})}, ptype: bc},                               // zero sender: bad-sender-mac
		{frame: arpFrame{senderIP: "127.0.0.1"}, ptype: bc},                                      // bad-sender-ip
		{frame: arpFrame{targetIP: "224.0.0.5"}, ptype: bc},                                      // bad-target-ip
		{frame: arpFrame{targetIP: "192.0.2.1"}, ptype: bc},                                      // own-address
		{frame: arpFrame{targetIP: genGateway.String()}, ptype: bc},                              // uplink-gateway
		{frame: arpFrame{targetIP: "198.51.100.7"}, ptype: bc},                                   // outside-allow
		{raw: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0}, ptype: bc},              // runt: malformed
		{frame: arpFrame{truncate: 30}, ptype: bc},                                               // truncated ARP: malformed
		{frame: arpFrame{etherType: 0x0800, pad: make([]byte, 18)}, ptype: bc},                   // IPv4 EtherType: malformed
		{frame: arpFrame{htype: 6}, ptype: bc},                                                   // IEEE 802 htype: malformed
		{frame: arpFrame{ptype: 0x86dd}, ptype: bc},                                              // IPv6 ptype: malformed
		{frame: arpFrame{hlen: 8}, ptype: bc},                                                    // hlen 8: malformed
		{frame: arpFrame{plen: 16}, ptype: bc},                                                   // plen 16: malformed
		{raw: mustHex("3333ff0000020200000000fe86dd6000000000203aff20010db80000000000000000000000feff0200000000000000000001ff00000287000a2d0000000020010db800000000000000000000000201010200000000fe"), ptype: responder.PacketMulticast}, // IPv6 NS, checksum off by 0x1000: bad-checksum
		{raw: mustHex("3333ff0000020200000000fe86dd6000000000203afe20010db80000000000000000000000feff0200000000000000000001ff00000287001a2d0000000020010db800000000000000000000000201010200000000fe"), ptype: responder.PacketMulticast}, // IPv6 NS, hop limit 254: invalid-ns
		{frame: arpFrame{}, ptype: bc, werr: errors.New("sendto: no buffer space available")}, // answer, reply failed
		{change: &routes.Change{Addr: netip.MustParseAddr("192.0.2.9"), Owned: true}},
		{announce: netip.MustParseAddr("192.0.2.9")},        // the responder announces it
		{frame: arpFrame{targetIP: "192.0.2.9"}, ptype: bc}, // now owned: answer
		{change: &routes.Change{Addr: netip.MustParseAddr("192.0.2.2"), Owned: false}},
		{frame: arpFrame{}, ptype: bc}, // no longer owned: not-owned
	}
}

// writeDecisions records the decisions scenario with a Recorder into dir,
// deciding each frame with responder.Decide as the live responder does.
func writeDecisions(dir string) error {
	live := NewStaticSet(append([]netip.Addr{genGateway}, genOwned...), genLocal)
	live.SetGateways([]netip.Addr{genGateway})
	cfg := &responder.Config{Allow: genAllow}
	guests, err := routes.ParseGlobs(routes.DefaultGlobs)
	if err != nil {
		return err
	}
	startSet := NewStaticSet(append([]netip.Addr{genGateway}, genOwned...), genLocal)
	startSet.SetGateways([]netip.Addr{genGateway})
	rec := &Recorder{
		Path:   filepath.Join(dir, "decisions.pcapng"),
		Uplink: "eth0",
		Guests: guests,
		Allow:  genAllow,
		Set:    startSet, // what Run reads at start
		Buffer: 1024,
		Now:    fixedClock(),
	}
	rec.Init()
	for _, s := range decisionsSteps() {
		if s.announce.IsValid() {
			rec.OnAnnounce(responder.AppendGratuitous(nil, uplinkMAC, s.announce), s.announce, nil)
			continue
		}
		if s.change != nil {
			live.SetOwned(s.change.Addr, s.change.Owned)
			rec.OnChange(*s.change)
			continue
		}
		frame := s.bytes()
		in := responder.Ingress{Name: "eth0", MAC: uplinkMAC, Type: s.ptype}
		d := responder.Decide(frame, in, live, cfg)
		rec.OnDecision(frame, in, d, s.werr)
	}
	// Everything is queued: a stopped context makes Run write it all out
	// and return.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rec.Run(ctx); err != nil {
		return err
	}
	if st := rec.Stats(); st.DroppedFrames+st.DroppedChanges != 0 {
		return fmt.Errorf("generator dropped records: %+v", st)
	}
	return nil
}

// classicSteps are frames as a plain tcpdump would capture them on the
// uplink: no packet type, no interface name. They are replayed with
// testdata/routes.txt.
func classicSteps() []step {
	return []step{
		{frame: arpFrame{targetIP: "192.0.2.2"}},                                             // vif1.0: answer
		{frame: arpFrame{targetIP: "192.0.2.2", ethDst: &uplinkMAC}},                         // unicast to us: answer
		{frame: arpFrame{targetIP: "192.0.2.2", ethDst: &otherMAC}},                          // unicast elsewhere: not-for-us
		{frame: arpFrame{targetIP: "192.0.2.5"}},                                             // via eth1: not-owned
		{frame: arpFrame{targetIP: "192.0.2.80"}},                                            // blackhole: not-owned
		{frame: arpFrame{targetIP: "192.0.2.9"}},                                             // multipath over two vifs: answer
		{frame: arpFrame{targetIP: "192.0.2.10"}},                                            // multipath, one linkdown: not-owned
		{frame: arpFrame{targetIP: "192.0.2.11"}},                                            // proto proxyarp: answer
		{frame: arpFrame{targetIP: "192.0.2.50"}},                                            // only the connected /24: not-owned
		{frame: arpFrame{targetIP: "192.0.2.1"}},                                             // own-address
		{frame: arpFrame{targetIP: "192.0.2.2", vlan: []uint16{0x8100}}},                     // vlan-tagged
		{frame: arpFrame{targetIP: "192.0.2.2", pad: make([]byte, 18)}},                      // padded: answer
		{frame: arpFrame{targetIP: "192.0.2.2", senderIP: "0.0.0.0", pad: make([]byte, 18)}}, // probe
	}
}

// writeClassic writes steps as a classic (libpcap) capture.
func writeClassic(path string, lt layers.LinkType, steps []step) error {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		return err
	}
	clock := fixedClock()
	for _, s := range steps {
		b := s.bytes()
		ci := gopacket.CaptureInfo{Timestamp: clock(), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// generate writes every generated testdata file into dir.
func generate(dir string) error {
	if err := writeDecisions(dir); err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	if err := writeClassic(filepath.Join(dir, "classic.pcap"), layers.LinkTypeEthernet, classicSteps()); err != nil {
		return fmt.Errorf("classic: %w", err)
	}
	if err := writeClassic(filepath.Join(dir, "raw-linktype.pcap"), layers.LinkTypeRaw, []step{{raw: []byte{0x45, 0, 0, 20}}}); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	// truncated.pcapng: the decisions capture cut inside its last record.
	ng, err := os.ReadFile(filepath.Join(dir, "decisions.pcapng"))
	if err != nil {
		return err
	}
	state, err := os.ReadFile(StatePath(filepath.Join(dir, "decisions.pcapng")))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "truncated.pcapng"), ng[:len(ng)-40], 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(StatePath(filepath.Join(dir, "truncated.pcapng")), state, 0o644); err != nil {
		return err
	}
	// corrupt.pcap: the classic capture with record 4 claiming 256 MiB.
	cl, err := os.ReadFile(filepath.Join(dir, "classic.pcap"))
	if err != nil {
		return err
	}
	off := 24
	for range 3 {
		off += 16 + int(binary.LittleEndian.Uint32(cl[off+8:]))
	}
	binary.LittleEndian.PutUint32(cl[off+8:], 256<<20)
	if err := os.WriteFile(filepath.Join(dir, "corrupt.pcap"), cl, 0o644); err != nil {
		return err
	}
	// skip.pcapng: the decisions capture with blocks that are corrupt but
	// whose lengths hold, so that replay skips them and goes on: packet 3
	// claims more bytes than its block has, packet 6 names interface 7 of
	// a section that has one, and an interface statistics block naming
	// interface 9 follows packet 10.
	if err := writeSkipNg(dir, ng, state); err != nil {
		return err
	}
	// skip.pcap: the classic capture with record 4 captured longer (42
	// bytes) than it was on the wire (10).
	cl, err = os.ReadFile(filepath.Join(dir, "classic.pcap"))
	if err != nil {
		return err
	}
	off = 24
	for range 3 {
		off += 16 + int(binary.LittleEndian.Uint32(cl[off+8:]))
	}
	binary.LittleEndian.PutUint32(cl[off+12:], 10)
	if err := os.WriteFile(filepath.Join(dir, "skip.pcap"), cl, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "not-a-capture.pcap"), []byte("this is not a capture\n"), 0o644)
}

// writeSkipNg writes skip.pcapng and its state file from the decisions
// capture ng (little-endian, as the Recorder writes it) and state.
func writeSkipNg(dir string, ng, state []byte) error {
	var out []byte
	packet := 0
	for off := 0; off < len(ng); {
		typ := binary.LittleEndian.Uint32(ng[off:])
		n := int(binary.LittleEndian.Uint32(ng[off+4:]))
		block := append([]byte(nil), ng[off:off+n]...)
		off += n
		if typ == 6 {
			packet++
			switch packet {
			case 3:
				binary.LittleEndian.PutUint32(block[20:], 0xffff) // captured length
			case 6:
				binary.LittleEndian.PutUint32(block[8:], 7) // interface ID
			}
		}
		out = append(out, block...)
		if typ == 6 && packet == 10 {
			isb := make([]byte, 24)
			binary.LittleEndian.PutUint32(isb[0:], 5) // interface statistics
			binary.LittleEndian.PutUint32(isb[4:], 24)
			binary.LittleEndian.PutUint32(isb[8:], 9) // interface ID
			binary.LittleEndian.PutUint32(isb[20:], 24)
			out = append(out, isb...)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "skip.pcapng"), out, 0o644); err != nil {
		return err
	}
	return os.WriteFile(StatePath(filepath.Join(dir, "skip.pcapng")), state, 0o644)
}

// generatedFiles are the files generate writes.
var generatedFiles = []string{
	"decisions.pcapng", "decisions.pcapng.state.json",
	"classic.pcap", "raw-linktype.pcap",
	"truncated.pcapng", "truncated.pcapng.state.json",
	"corrupt.pcap", "not-a-capture.pcap",
	"skip.pcapng", "skip.pcapng.state.json", "skip.pcap",
}

// TestCaptureTestdataIsReproducible regenerates the captures and checks
// they equal those in testdata/; with -update it rewrites them.
func TestCaptureTestdataIsReproducible(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir); err != nil {
		t.Fatalf("generate: %v", err)
	}
	for _, name := range generatedFiles {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./capture -update)", err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("%s differs from what the generator writes now (run go test ./capture -update and review the diff)", path)
		}
	}
	// The generated directory must hold nothing else: no rotated files.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(generatedFiles) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("generator wrote %v, want exactly %v", names, generatedFiles)
	}
}
