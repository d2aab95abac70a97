package capture

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// classicState is the answer set of classic.pcap: testdata/routes.txt with
// the host address 192.0.2.1.
func classicState(t *testing.T) *State {
	t.Helper()
	f, err := os.Open("testdata/routes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table, err := ParseRoutes(f, "testdata/routes.txt")
	if err != nil {
		t.Fatal(err)
	}
	guests, err := routes.ParseGlobs(routes.DefaultGlobs)
	if err != nil {
		t.Fatal(err)
	}
	owned, _ := table.Owned(routes.Rule{Guests: guests}, genLocal)
	return &State{Set: NewStaticSet(owned, genLocal)}
}

// TestReplayGolden replays the testdata captures and compares the output
// with the golden files; -update rewrites them.
func TestReplayGolden(t *testing.T) {
	tests := []struct {
		name        string
		file        string
		golden      string
		format      Format
		fromRoutes  bool
		uplinkMAC   responder.MAC
		verify      bool
		wantStopped string // substring of Summary.Stopped; "" for none
		wantCorrupt int
		wantDiffs   int
	}{
		{name: "a recorded capture replays with its recorded state as text", file: "decisions.pcapng", golden: "decisions.pcapng.golden.txt", verify: true},
		{name: "a recorded capture replays with its recorded state as JSON", file: "decisions.pcapng", golden: "decisions.pcapng.golden.json", format: JSON, verify: true},
		{name: "a classic pcap replays with a routes file and an uplink MAC", file: "classic.pcap", golden: "classic.pcap.golden.json", format: JSON, fromRoutes: true, uplinkMAC: uplinkMAC},
		{name: "a truncated capture replays up to the cut and reports it", file: "truncated.pcapng", golden: "truncated.pcapng.golden.txt", verify: true, wantStopped: "record 38: unexpected EOF", wantCorrupt: 1},
		{name: "a corrupt record stops the replay and is named", file: "corrupt.pcap", golden: "corrupt.pcap.golden.txt", fromRoutes: true, uplinkMAC: uplinkMAC, wantStopped: "record 4: capture length exceeds snap length", wantCorrupt: 1},
		{name: "corrupt pcapng blocks are skipped and the replay goes on", file: "skip.pcapng", golden: "skip.pcapng.golden.txt", verify: true, wantCorrupt: 3},
		{name: "a corrupt classic record is skipped and the replay goes on", file: "skip.pcap", golden: "skip.pcap.golden.txt", fromRoutes: true, uplinkMAC: uplinkMAC, wantCorrupt: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, log bytes.Buffer
			rp := &Replayer{Format: tt.format, Verify: tt.verify, UplinkMAC: tt.uplinkMAC, Out: &out, Log: &log}
			if tt.fromRoutes {
				rp.State = classicState(t)
			}
			sum, err := rp.ReplayFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatalf("ReplayFile: %v", err)
			}
			switch {
			case tt.wantStopped == "" && sum.Stopped != nil:
				t.Errorf("Stopped = %v, want none", sum.Stopped)
			case tt.wantStopped != "" && (sum.Stopped == nil || !strings.Contains(sum.Stopped.Error(), tt.wantStopped)):
				t.Errorf("Stopped = %v, want one containing %q", sum.Stopped, tt.wantStopped)
			}
			if sum.Corrupt != tt.wantCorrupt {
				t.Errorf("Corrupt = %d, want %d; log:\n%s", sum.Corrupt, tt.wantCorrupt, log.String())
			}
			if sum.Differences != tt.wantDiffs {
				t.Errorf("Differences = %d, want %d; log:\n%s", sum.Differences, tt.wantDiffs, log.String())
			}
			checkGolden(t, filepath.Join("testdata", tt.golden), out.Bytes())
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./capture -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("replay output differs from %s (-want +got):\n%s", path, diff)
	}
}

// TestReplayCoversEveryReason checks the decisions capture exercises every
// outcome of Decide, so the golden file pins each of them.
func TestReplayCoversEveryReason(t *testing.T) {
	var out bytes.Buffer
	rp := &Replayer{Format: JSON, Out: &out}
	if _, err := rp.ReplayFile("testdata/decisions.pcapng"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		i := strings.Index(l, `"reason":"`)
		if i < 0 {
			t.Fatalf("no reason in %s", l)
		}
		seen[strings.SplitN(l[i+len(`"reason":"`):], `"`, 2)[0]] = true
	}
	for _, r := range append(responder.DropReasons(), responder.Answer) {
		if !seen[r.String()] {
			t.Errorf("no frame of decisions.pcapng is decided %s", r)
		}
	}
}

// TestReplayVerifyReportsDifferences replays the recorded capture against
// another answer set: every changed decision is a difference, named.
func TestReplayVerifyReportsDifferences(t *testing.T) {
	var out, log bytes.Buffer
	rp := &Replayer{
		State:     &State{Uplink: "eth0", UplinkMAC: uplinkMAC, Config: responder.Config{Allow: genAllow}, Set: NewStaticSet(nil, genLocal)},
		Verify:    true,
		Out:       &out,
		Log:       &log,
		UplinkMAC: uplinkMAC,
	}
	sum, err := rp.ReplayFile("testdata/decisions.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	// Answered in the capture: frames 1, 3, 6, 8, 32 and 34 (replies and
	// gratuitous ARPs are frames of their own, never verified); and frame
	// 23, recorded uplink-gateway, which an empty set calls not-owned.
	if sum.Differences != 7 {
		t.Errorf("Differences = %d, want 7; log:\n%s", sum.Differences, log.String())
	}
	if want := "frame 1: recorded answer, replay decides drop (not-owned)"; !strings.Contains(log.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, log.String())
	}
}

// TestReplayVerifyWithoutRecordsIsADifference: a classic pcap has no
// recorded decisions, so --verify cannot pass on it.
func TestReplayVerifyWithoutRecordsIsADifference(t *testing.T) {
	var out, log bytes.Buffer
	rp := &Replayer{State: classicState(t), Verify: true, Out: &out, Log: &log}
	sum, err := rp.ReplayFile("testdata/classic.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Differences != sum.Frames || sum.Frames == 0 {
		t.Errorf("Differences = %d for %d frames, want all", sum.Differences, sum.Frames)
	}
	if !strings.Contains(log.String(), "frame 1: no recorded decision") {
		t.Errorf("log does not name frame 1:\n%s", log.String())
	}
}

func TestReplayUnreadableFiles(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		state   *State
		wantErr string
		wantIs  error
	}{
		{"a missing capture is named", "testdata/nonexistent.pcap", &State{}, "nonexistent.pcap: no such file", nil},
		{"a non-Ethernet link type is refused", "testdata/raw-linktype.pcap", &State{}, "link type is not Ethernet: Raw", ErrLinkType},
		{"a file that is no capture is refused", "testdata/not-a-capture.pcap", &State{}, "not-a-capture.pcap: not a pcap or pcapng capture", nil},
		{"a capture without state needs routes", "testdata/classic.pcap", nil, "classic.pcap has no recorded state", ErrNoState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			rp := &Replayer{State: tt.state, Out: &out}
			_, err := rp.ReplayFile(tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReplayFile error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if out.Len() != 0 {
				t.Errorf("output on failure: %q", out.String())
			}
		})
	}
}

func TestReadStateErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{"a change before the full state is refused", `{"from_frame":1,"kind":"owned","owned":["192.0.2.2"]}`, `line 1: first record is "owned"`},
		{"a broken line is named", "{\"from_frame\":1,\"kind\":\"full\"}\n{oops", "line 2:"},
		{"frames going back are refused", "{\"from_frame\":5,\"kind\":\"full\"}\n{\"from_frame\":4,\"kind\":\"local\"}", "line 2: from_frame 4 goes back"},
		{"an unknown kind is refused", "{\"from_frame\":1,\"kind\":\"full\"}\n{\"from_frame\":1,\"kind\":\"weird\"}", `line 2: unknown kind "weird"`},
		{"a bad MAC is refused", `{"from_frame":1,"kind":"full","uplink_mac":"zz"}`, `line 1: uplink MAC "zz"`},
		{"an empty file has no state", "", "no state records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadState(strings.NewReader(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReadState error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStateApplyFollowsChanges(t *testing.T) {
	recs, err := ReadStateFile("testdata/decisions.pcapng.state.json")
	if err != nil {
		t.Fatal(err)
	}
	var st State
	for _, r := range recs {
		if err := st.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	got := struct {
		Uplink, MAC            string
		Allow                  []netip.Prefix
		Owned, Local, Gateways []netip.Addr
	}{st.Uplink, st.UplinkMAC.String(), st.Config.Allow, st.Set.Addrs(), st.Set.LocalAddrs(), st.Set.Gateways()}
	want := got
	want.Uplink, want.MAC, want.Allow = "eth0", uplinkMAC.String(), genAllow
	want.Owned = []netip.Addr{netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("192.0.2.9"), genGateway}
	want.Local = genLocal
	want.Gateways = []netip.Addr{genGateway}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("state after all records (-want +got):\n%s", diff)
	}
}

// TestReplayWritesReplies: --write-replies gets one reply per answered
// frame, as the responder would send it, stamped with the request's time;
// the file is pinned by a golden capture.
func TestReplayWritesReplies(t *testing.T) {
	var out, replies bytes.Buffer
	rp := &Replayer{State: classicState(t), UplinkMAC: uplinkMAC, Format: JSON, Out: &out, Replies: &replies}
	sum, err := rp.ReplayFile("testdata/classic.pcap")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/classic.pcap.replies.pcap", replies.Bytes())
	var answered []JSONLine
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var jl JSONLine
		if err := json.Unmarshal([]byte(l), &jl); err != nil {
			t.Fatal(err)
		}
		if jl.Decision == "answer" {
			answered = append(answered, jl)
		}
	}
	rd, err := NewReader(bytes.NewReader(replies.Bytes()))
	if err != nil {
		t.Fatalf("replies are not a capture: %v", err)
	}
	var n int
	for ; ; n++ {
		f, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(answered) {
			t.Fatalf("more replies than the %d answers", len(answered))
		}
		req := answered[n]
		if got := f.Time.UTC().Format(time.RFC3339Nano); got != req.Time {
			t.Errorf("reply %d stamped %s, want the request's %s", f.Number, got, req.Time)
		}
		// Decide the reply as if it came back: an ARP reply from the
		// uplink MAC for the target, to the requester.
		d := responder.Decide(f.Data, responder.Ingress{MAC: responder.BroadcastMAC, Type: responder.PacketHost}, NewStaticSet(nil, nil), nil)
		r := d.Request
		if r.Op != 2 || r.EthSrc != uplinkMAC || r.SenderMAC != uplinkMAC || r.SenderIP.String() != req.TargetIP ||
			r.TargetIP.String() != req.SenderIP || r.TargetMAC.String() != req.SenderMAC || r.EthDst.String() != req.SenderMAC {
			t.Errorf("reply %d does not answer %+v: %+v", f.Number, req, r)
		}
		if len(f.Data) != responder.ReplyLen {
			t.Errorf("reply %d is %d bytes, want %d", f.Number, len(f.Data), responder.ReplyLen)
		}
	}
	if n != sum.Answered || n == 0 {
		t.Errorf("%d replies for %d answers", n, sum.Answered)
	}
}

// TestReplayWritesAnEmptyReplyCapture: no answer, still a valid capture.
func TestReplayWritesAnEmptyReplyCapture(t *testing.T) {
	var out, replies bytes.Buffer
	rp := &Replayer{State: &State{}, Out: &out, Replies: &replies}
	if _, err := rp.ReplayFile("testdata/classic.pcap"); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(bytes.NewReader(replies.Bytes()))
	if err != nil {
		t.Fatalf("replies are not a capture: %v", err)
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next = %v, want io.EOF", err)
	}
}

// TestReaderFramesPcapngBlocks: a concatenation of pcapng files (several
// sections) reads as one capture, and a block whose lengths disagree, or
// which claims more than the file has, stops the reading.
func TestReaderFramesPcapngBlocks(t *testing.T) {
	ng := []byte(mustRead(t, "testdata/decisions.pcapng"))
	count := func(t *testing.T, data []byte) (frames int, last error) {
		t.Helper()
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for {
			f, err := rd.Next()
			if err != nil {
				return frames, err
			}
			frames++
			if f.Number != frames || f.Iface != "eth0" {
				t.Fatalf("frame %d: number %d, interface %q", frames, f.Number, f.Iface)
			}
		}
	}
	t.Run("two sections read as one capture", func(t *testing.T) {
		n, err := count(t, append(append([]byte(nil), ng...), ng...))
		if !errors.Is(err, io.EOF) || n != 76 {
			t.Errorf("read %d frames, then %v; want 76, then EOF", n, err)
		}
	})
	// The first packet block follows the section header and the
	// interface block.
	shb := int(binary.LittleEndian.Uint32(ng[4:]))
	first := shb + int(binary.LittleEndian.Uint32(ng[shb+4:]))
	firstLen := int(binary.LittleEndian.Uint32(ng[first+4:]))
	t.Run("a trailing length that differs stops the reading", func(t *testing.T) {
		bad := append([]byte(nil), ng...)
		binary.LittleEndian.PutUint32(bad[first+firstLen-4:], uint32(firstLen+4))
		n, err := count(t, bad)
		if n != 0 || err == nil || !strings.Contains(err.Error(), "record 1: block of type 0x6") || !strings.Contains(err.Error(), "trailing length") {
			t.Errorf("read %d frames, then %v; want 0, then a trailing-length error", n, err)
		}
	})
	t.Run("a block longer than the file stops the reading", func(t *testing.T) {
		bad := append([]byte(nil), ng...)
		binary.LittleEndian.PutUint32(bad[first+4:], 1<<20)
		n, err := count(t, bad)
		if n != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("read %d frames, then %v; want 0, then unexpected EOF", n, err)
		}
	})
}
