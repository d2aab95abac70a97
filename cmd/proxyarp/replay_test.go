package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// captureData is the capture package's generated testdata.
const captureData = "../../capture/testdata/"

func TestReplayExitCodes(t *testing.T) {
	dir := t.TempDir()
	badRoutes := filepath.Join(dir, "bad-routes.txt")
	if err := os.WriteFile(badRoutes, []byte("192.0.2.2 dev vif1.0\n192.0.2.3 dev vif1.0 sideways\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noneOwned := filepath.Join(dir, "none-owned.txt")
	if err := os.WriteFile(noneOwned, []byte("192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badJSON := filepath.Join(dir, "bad-routes.json")
	if err := os.WriteFile(badJSON, []byte(`[{"dst":"192.0.2.2","dev":"vif1.0"},{"type":"sideways","dst":"192.0.2.3"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	routesFile := captureData + "routes.txt"
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string // substring
		wantLines  int    // stdout lines; -1 to skip
	}{
		{"a recorded capture verifies cleanly", []string{captureData + "decisions.pcapng", "--verify"}, exitOK, "0 differences", 38},
		{"flags may come before the file", []string{"--format", "json", captureData + "decisions.pcapng"}, exitOK, "38 frames, 6 answered", 38},
		{"a classic pcap replays with routes", []string{captureData + "classic.pcap", "--routes", routesFile, "--local", "192.0.2.1", "--uplink-mac", "02:00:00:00:00:01"}, exitOK, "13 frames", 13},
		{"a routes file that owns nothing makes verify differ", []string{captureData + "decisions.pcapng", "--routes", noneOwned, "--uplink-mac", "02:00:00:00:00:01", "--verify"}, exitDiffer, "frame 1: recorded answer, replay decides drop (not-owned)", 38},
		{"a truncated capture is a corrupt record", []string{captureData + "truncated.pcapng"}, exitDiffer, "record 38: unexpected EOF", 37},
		{"a corrupt record is named", []string{captureData + "corrupt.pcap", "--routes", routesFile}, exitDiffer, "record 4:", 3},
		{"corrupt blocks are skipped and replay goes on", []string{captureData + "skip.pcapng", "--verify"}, exitDiffer, "0 differences from the recorded decisions, 3 corrupt records skipped", 36},
		{"a corrupt classic record is skipped", []string{captureData + "skip.pcap", "--routes", routesFile}, exitDiffer, "record 4 (byte 198): capture length exceeds original packet length: 42 > 10; skipped", 12},
		{"a missing capture cannot be read", []string{filepath.Join(dir, "nope.pcapng"), "--routes", routesFile}, exitFailure, "nope.pcapng: no such file", 0},
		{"a non-Ethernet capture is refused", []string{captureData + "raw-linktype.pcap", "--routes", routesFile}, exitFailure, "link type is not Ethernet", 0},
		{"a text file is refused", []string{captureData + "not-a-capture.pcap", "--routes", routesFile}, exitFailure, "not a pcap or pcapng capture", 0},
		{"a missing routes file is named", []string{captureData + "classic.pcap", "--routes", filepath.Join(dir, "none.txt")}, exitFailure, "none.txt: no such file", 0},
		{"an unparseable routes line is named", []string{captureData + "classic.pcap", "--routes", badRoutes}, exitFailure, `bad-routes.txt: line 2: unknown keyword "sideways"`, 0},
		{"a JSON routes file is read", []string{captureData + "classic.pcap", "--routes", captureData + "routes.json", "--local", "192.0.2.1"}, exitOK, "13 frames", 13},
		{"a bad JSON routes entry is named", []string{captureData + "classic.pcap", "--routes", badJSON}, exitFailure, `bad-routes.json: entry 2: unknown route type "sideways"`, 0},
		{"an unknown uplink interface is named", []string{captureData + "classic.pcap", "--routes", routesFile, "--uplink", "pxr-no-such0"}, exitFailure, "--uplink: pxr-no-such0:", 0},
		{"an unwritable replies file is named", []string{captureData + "classic.pcap", "--routes", routesFile, "--write-replies", filepath.Join(dir, "no", "dir", "r.pcap")}, exitFailure, "--write-replies: open", 0},
		{"no file is a usage error", nil, exitUsage, "a capture FILE is required", 0},
		{"two files are a usage error", []string{"a.pcap", "b.pcap"}, exitUsage, `unexpected argument "b.pcap"`, 0},
		{"an unknown format is a usage error", []string{"a.pcap", "--format", "xml"}, exitUsage, `--format "xml"`, 0},
		{"a bad MAC is a usage error", []string{"a.pcap", "--uplink-mac", "nope"}, exitUsage, `--uplink-mac "nope"`, 0},
		{"a bad local address is a usage error", []string{"a.pcap", "--routes", "r", "--local", "192.0.2.1,x"}, exitUsage, `--local: "x"`, 0},
		{"local without routes is a usage error", []string{"a.pcap", "--local", "192.0.2.1"}, exitUsage, "--local needs --routes", 0},
		{"a bad glob is a usage error", []string{"a.pcap", "--routes", "r", "--guest-ifaces", "["}, exitUsage, "--guest-ifaces", 0},
		{"an unknown flag is a usage error", []string{"a.pcap", "--frobnicate"}, exitUsage, "-frobnicate", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := replay(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr.String())
			}
			if tt.wantLines >= 0 {
				if got := strings.Count(stdout.String(), "\n"); got != tt.wantLines {
					t.Errorf("stdout has %d lines, want %d", got, tt.wantLines)
				}
			}
			if tt.wantCode == exitUsage {
				if lines := strings.Count(stderr.String(), "\n"); lines != 1 {
					t.Errorf("a usage error takes %d lines of stderr, want 1:\n%s", lines, stderr.String())
				}
			}
		})
	}
}

// TestReplayMatchesGolden checks the command prints exactly the golden
// output the capture package pins.
func TestReplayMatchesGolden(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"recorded state as text", []string{captureData + "decisions.pcapng"}, "decisions.pcapng.golden.txt"},
		{"recorded state as JSON", []string{captureData + "decisions.pcapng", "--format", "json"}, "decisions.pcapng.golden.json"},
		{"routes as JSON", []string{captureData + "classic.pcap", "--format=json", "--routes", captureData + "routes.txt", "--local", "192.0.2.1", "--uplink-mac", "02:00:00:00:00:01"}, "classic.pcap.golden.json"},
		{"ip -j route JSON as routes", []string{captureData + "classic.pcap", "--format=json", "--routes", captureData + "routes.json", "--local", "192.0.2.1", "--uplink-mac", "02:00:00:00:00:01"}, "classic.pcap.golden.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := replay(tt.args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
			}
			want, err := os.ReadFile(captureData + tt.golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReplayWritesReplies checks --write-replies writes the replies the
// capture package pins, and that a capture that cannot be read leaves no
// replies file behind.
func TestReplayWritesReplies(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "replies.pcap")
	var stdout, stderr bytes.Buffer
	args := []string{captureData + "classic.pcap", "--routes", captureData + "routes.txt", "--local", "192.0.2.1", "--uplink-mac", "02:00:00:00:00:01", "--write-replies", out}
	if code := replay(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(captureData + "classic.pcap.replies.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from classic.pcap.replies.pcap", out)
	}
	if !strings.Contains(stderr.String(), "(replies in "+out+")") {
		t.Errorf("summary does not name the replies file:\n%s", stderr.String())
	}

	bad := filepath.Join(dir, "bad.pcap")
	stderr.Reset()
	if code := replay([]string{captureData + "not-a-capture.pcap", "--routes", captureData + "routes.txt", "--write-replies", bad}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitFailure, stderr.String())
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a failed replay left %s behind (%v)", bad, err)
	}
}

func TestReplayHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := replay([]string{"--help"}, &stdout, &stderr); code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
	for _, want := range []string{"--routes FILE", "--local ADDRS", "--uplink-mac MAC", "--verify", "--format FORMAT", "--write-replies OUT.pcap", "--uplink IFACE", "ip -j route", "running kernel", "Exit codes"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("replay --help does not mention %q", want)
		}
	}
}
