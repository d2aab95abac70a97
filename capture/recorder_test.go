package capture

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// readAll reads every frame of a capture file.
func readAll(t *testing.T, path string) []Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []Frame
	for {
		fr, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, fr)
	}
}

func TestCaptureRecordsTypesCommentsAndReplies(t *testing.T) {
	frames := readAll(t, "testdata/decisions.pcapng")
	type summary struct {
		Iface    string
		Type     string
		Comments []string
	}
	var got []summary
	for _, f := range frames[:5] {
		got = append(got, summary{f.Iface, f.Type.String(), f.Comments})
	}
	want := []summary{
		{"eth0", "broadcast", []string{"proxyarp decision=answer reason=answer reply=sent"}},
		{"eth0", "outgoing", nil},
		{"eth0", "host", []string{"proxyarp decision=answer reason=answer reply=sent"}},
		{"eth0", "outgoing", nil},
		{"eth0", "broadcast", []string{"proxyarp decision=drop reason=not-owned reply=none"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first frames (-want +got):\n%s", diff)
	}
	var failed []string
	for _, f := range frames {
		for _, c := range f.Comments {
			if strings.Contains(c, "reply=failed") {
				failed = append(failed, c)
			}
		}
	}
	if diff := cmp.Diff([]string{`proxyarp decision=answer reason=answer reply=failed error="sendto: no buffer space available"`}, failed); diff != "" {
		t.Errorf("failed replies (-want +got):\n%s", diff)
	}
}

// TestCaptureIsReadableByTcpdump runs tcpdump -r on the recorded capture
// when tcpdump is installed.
func TestCaptureIsReadableByTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("skipping: tcpdump is not installed")
	}
	out, err := exec.Command(tcpdump, "-nn", "-r", "testdata/decisions.pcapng").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	for _, want := range []string{"Request who-has 192.0.2.2 tell 192.0.2.254", "Reply 192.0.2.2 is-at 02:00:00:00:00:01"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("tcpdump output lacks %q:\n%s", want, out)
		}
	}
}

// answerDecision is an answered broadcast request for 192.0.2.2.
func answerDecision(t testing.TB) ([]byte, responder.Ingress, responder.Decision) {
	frame := arpFrame{}.build()
	in := responder.Ingress{Name: "eth0", MAC: uplinkMAC, Type: responder.PacketBroadcast}
	d := responder.Decide(frame, in, NewStaticSet(genOwned, nil), nil)
	if d.Reason != responder.Answer {
		t.Fatalf("test frame decided %v", d.Reason)
	}
	return frame, in, d
}

func TestCaptureHookNeverBlocksAndCountsDrops(t *testing.T) {
	rec := &Recorder{Path: filepath.Join(t.TempDir(), "c.pcapng"), Set: NewStaticSet(nil, nil), Buffer: 4}
	rec.Init()
	frame, in, d := answerDecision(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			rec.OnDecision(frame, in, d, nil)
		}
		for range 3 {
			rec.OnChange(routes.Change{Addr: netip.MustParseAddr("192.0.2.7"), Owned: true})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the hooks blocked with nobody reading the queue")
	}
	st := rec.Stats()
	if st.DroppedFrames != 6 || st.DroppedChanges != 3 {
		t.Errorf("dropped %d frames and %d changes, want 6 and 3", st.DroppedFrames, st.DroppedChanges)
	}

	// Run writes the 4 queued frames (and their replies), then notes the
	// drops on the next frame and records the full set again.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := rec.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	rec.OnDecision(frame, in, d, nil)
	time.Sleep(1500 * time.Millisecond) // one flush tick: the lost changes are made good
	cancel()
	wg.Wait()
	if got := len(readAll(t, rec.Path)); got != 10 {
		t.Errorf("capture has %d frames, want 10 (5 requests, 5 replies)", got)
	}
	recs, err := ReadStateFile(StatePath(rec.Path))
	if err != nil {
		t.Fatal(err)
	}
	fulls := 0
	for _, r := range recs {
		if r.Kind == KindFull {
			fulls++
		}
	}
	if fulls != 2 {
		t.Errorf("%d full state records, want 2 (start, after lost changes): %+v", fulls, recs)
	}
}

func TestCaptureHookDoesNotAllocate(t *testing.T) {
	rec := &Recorder{Set: NewStaticSet(nil, nil), Buffer: 1}
	rec.Init()
	frame, in, d := answerDecision(t)
	if n := testing.AllocsPerRun(1000, func() { rec.OnDecision(frame, in, d, nil) }); n != 0 {
		t.Errorf("OnDecision allocates %v times per call, want 0", n)
	}
}

func TestCaptureRotatesAndKeepsNFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arp.pcapng")
	if err := os.WriteFile(path, []byte("an older capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{Path: path, MaxSize: 4 << 10, Files: 3, Uplink: "eth0", Set: NewStaticSet(genOwned, genLocal), Buffer: 1000, Now: fixedClock()}
	rec.Init()
	frame, in, d := answerDecision(t)
	for range 200 {
		rec.OnDecision(frame, in, d, nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"arp.pcapng", "arp.pcapng.1", "arp.pcapng.1.state.json", "arp.pcapng.2", "arp.pcapng.2.state.json", "arp.pcapng.state.json"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for _, name := range []string{"arp.pcapng", "arp.pcapng.1", "arp.pcapng.2"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4<<10+256 {
			t.Errorf("%s is %d bytes, over the 4K limit by more than a record", name, fi.Size())
		}
		// Every file replays on its own, with its own state head, and
		// matches its recorded decisions.
		var out, log strings.Builder
		sum, err := (&Replayer{Verify: true, Out: &out, Log: &log}).ReplayFile(p)
		if err != nil {
			t.Fatalf("replay %s: %v", name, err)
		}
		if sum.Differences != 0 || sum.Corrupt != 0 || sum.Frames == 0 {
			t.Errorf("replay %s: %+v\n%s", name, sum, log.String())
		}
	}
	if st := rec.Stats(); st.Files < 4 {
		t.Errorf("Stats().Files = %d, want at least 4 (the limit was crossed repeatedly)", st.Files)
	}
}

func TestCaptureRunFailsOnAnUnwritablePath(t *testing.T) {
	rec := &Recorder{Path: filepath.Join(t.TempDir(), "missing-dir", "c.pcapng"), Set: NewStaticSet(nil, nil)}
	err := rec.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Fatalf("Run error = %v, want one naming the path", err)
	}
}

func TestCaptureAttachKeepsExistingHooks(t *testing.T) {
	var calls []string
	resp := &responder.Responder{
		OnDecision: func([]byte, responder.Ingress, responder.Decision, error) { calls = append(calls, "decision") },
		OnAnnounce: func([]byte, netip.Addr, error) { calls = append(calls, "announce") },
	}
	w := &routes.Watcher{OnChange: func(routes.Change) { calls = append(calls, "change") }}
	rec := &Recorder{Set: NewStaticSet(nil, nil), Buffer: 8}
	rec.Attach(resp, w)
	frame, in, d := answerDecision(t)
	resp.OnDecision(frame, in, d, nil)
	garp := netip.MustParseAddr("192.0.2.7")
	resp.OnAnnounce(responder.AppendGratuitous(nil, uplinkMAC, garp), garp, nil)
	w.OnChange(routes.Change{Addr: garp, Owned: true})
	if diff := cmp.Diff([]string{"decision", "announce", "change"}, calls); diff != "" {
		t.Errorf("existing hooks (-want +got):\n%s", diff)
	}
	if got := len(rec.queue()); got != 3 {
		t.Errorf("recorder queued %d records, want 3", got)
	}
}

func TestCaptureFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    Flags
	}{
		{"no flags record nothing", nil, "", Flags{MaxSize: DefaultMaxSize, Files: DefaultFiles}},
		{"a file alone takes the defaults", []string{"--pcap", "/tmp/a.pcapng"}, "", Flags{Path: "/tmp/a.pcapng", MaxSize: 100 << 20, Files: 5}},
		{"sizes take suffixes", []string{"--pcap", "a", "--pcap-max-size", "64K", "--pcap-files", "2"}, "", Flags{Path: "a", MaxSize: 64 << 10, Files: 2}},
		{"a bad size is named", []string{"--pcap", "a", "--pcap-max-size", "lots"}, `size "lots"`, Flags{}},
		{"a tiny size is refused", []string{"--pcap", "a", "--pcap-max-size", "100"}, "--pcap-max-size 100: want at least 4K", Flags{}},
		{"zero files are refused", []string{"--pcap", "a", "--pcap-files", "0"}, "--pcap-files 0: want at least 1", Flags{}},
		{"rotation flags need a file", []string{"--pcap-files", "3"}, "--pcap-files needs --pcap FILE", Flags{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flags
			fs := newFlagSet()
			f.Register(fs)
			err := fs.Parse(tt.args)
			if err == nil {
				err = f.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := Flags{Path: f.Path, MaxSize: f.MaxSize, Files: f.Files}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(Flags{})); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		{"1", 1}, {"4096", 4096}, {"64K", 64 << 10}, {"100M", 100 << 20}, {"2G", 2 << 30},
		{"100m", 100 << 20}, {"100MiB", 100 << 20}, {"1KB", 1 << 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s parses", tt.in), func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "K", "-1", "0", "1T", "1.5M", "99999999999G"} {
		t.Run(fmt.Sprintf("%q is refused", bad), func(t *testing.T) {
			if got, err := ParseSize(bad); err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
			}
		})
	}
	if s := Size(100 << 20).String(); s != "100M" {
		t.Errorf("String = %q, want 100M", s)
	}
}

// lateLocal is an answer set whose host addresses appear after the first
// look, as routes.Set's do when the watcher loads them after Run started.
type lateLocal struct {
	mu    sync.Mutex
	looks int
}

func (l *lateLocal) Addrs() []netip.Addr { return genOwned }
func (l *lateLocal) LocalAddrs() []netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.looks++
	if l.looks == 1 {
		return nil
	}
	return genLocal
}

// TestCaptureRecordsHostAddressesBeforeADecisionThatNeedsThem: a request
// for a host address decided before the once-a-second poll noticed the
// address still replays as own-address.
func TestCaptureRecordsHostAddressesBeforeADecisionThatNeedsThem(t *testing.T) {
	dir := t.TempDir()
	rec := &Recorder{Path: filepath.Join(dir, "c.pcapng"), Uplink: "eth0", Set: &lateLocal{}, Now: fixedClock()}
	rec.Init()
	frame := arpFrame{targetIP: hostIP.String()}.build()
	in := responder.Ingress{Name: "eth0", MAC: uplinkMAC, Type: responder.PacketBroadcast}
	d := responder.Decide(frame, in, NewStaticSet(genOwned, genLocal), nil)
	if d.Reason != responder.OwnAddress {
		t.Fatalf("test frame decided %v", d.Reason)
	}
	rec.OnDecision(frame, in, d, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var out, log strings.Builder
	sum, err := (&Replayer{Verify: true, Out: &out, Log: &log}).ReplayFile(rec.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Differences != 0 || !strings.Contains(out.String(), "drop (own-address)") {
		t.Errorf("replay differs from the live decision:\n%s%s", out.String(), log.String())
	}
}

// A capture whose disk fills up before the first periodic flush must still
// be replayable as far as it got: the full state is on disk as soon as the
// file set is opened, before any frame.
func TestCaptureStateIsOnDiskBeforeTheFirstFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pcapng")
	rec := &Recorder{Path: path, Uplink: "eth0", Set: NewStaticSet(genOwned, genLocal), Buffer: 4, Now: fixedClock()}
	if err := rec.open(true, rec.now()); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { rec.w.close() })
	recs, err := ReadStateFile(StatePath(path))
	if err != nil {
		t.Fatalf("reading the state file before any flush: %v", err)
	}
	if len(recs) != 1 || recs[0].Kind != KindFull {
		t.Fatalf("state file holds %d records (%+v), want the one full record", len(recs), recs)
	}
}

// A config reload that narrows --allow mid-capture: replay --verify must
// decide the frames before it with the old list and those after it with the
// new one, as the live responder did.
func TestCaptureRecordsAReloadedAllowList(t *testing.T) {
	wide := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	narrow := []netip.Prefix{netip.MustParsePrefix("192.0.2.3/32")}
	set := NewStaticSet(genOwned, genLocal)
	rec := &Recorder{Path: filepath.Join(t.TempDir(), "c.pcapng"), Uplink: "eth0", Allow: wide, Set: set, Now: fixedClock()}
	rec.Init()
	in := responder.Ingress{Name: "eth0", MAC: uplinkMAC, Type: responder.PacketBroadcast}
	ask := func(cfg *responder.Config, want responder.Reason) {
		t.Helper()
		frame := arpFrame{targetIP: "192.0.2.2"}.build()
		d := responder.Decide(frame, in, set, cfg)
		if d.Reason != want {
			t.Fatalf("live decision %v, want %v", d.Reason, want)
		}
		rec.OnDecision(frame, in, d, nil)
	}
	ask(&responder.Config{Allow: wide}, responder.Answer)
	rec.Reconfigure(routes.Globs{}, narrow)
	ask(&responder.Config{Allow: narrow}, responder.OutsideAllow)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var out, log strings.Builder
	sum, err := (&Replayer{Verify: true, Out: &out, Log: &log}).ReplayFile(rec.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Differences != 0 || !strings.Contains(out.String(), "drop (outside-allow)") {
		t.Errorf("replay across the reload differs from the live decisions:\n%s%s", out.String(), log.String())
	}
}
