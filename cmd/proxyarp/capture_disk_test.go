package main

// A full disk under `serve --pcap` (issue 16), in network namespaces (root
// only):
//
//	go test -count=1 -run CaptureDiskFull -v ./cmd/proxyarp/
//
// The capture goes to a 64 KiB tmpfs mounted in a private mount namespace
// that only the daemon lives in (unshare -m --propagation private around ip
// netns exec): the mount disappears with the process, never visible
// outside it. Namespaces are pxr-disk-<pid>-<random>-*.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDaemonOnTmpfs is startDaemon with a fresh tmpfs of size bytes mounted
// on dir for the daemon alone. unshare, sh and ip each exec the next, so the
// PID is proxyarp's; its mount namespace, and with it the tmpfs, ends when
// it does. Stopped by PID in t.Cleanup.
func startDaemonOnTmpfs(t *testing.T, dir, size, ns, bin string, args ...string) *daemon {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipping: needs util-linux unshare")
	}
	const script = `mount -t tmpfs -o size="$1",mode=0700 pxr-disk "$2" || exit 1; ns=$3; shift 3; exec ip netns exec "$ns" "$@"`
	d := &daemon{out: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", size, dir, ns, bin}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.stop(t, syscall.SIGTERM)
		if strings.Contains(d.out.String(), "WARNING: DATA RACE") {
			t.Errorf("proxyarp reported a data race")
		}
		if t.Failed() {
			t.Logf("proxyarp output (pid %d):\n%s", d.cmd.Process.Pid, d.out.String())
		}
	})
	return d
}

// logLines returns the daemon's JSON log lines whose msg is msg.
func logLines(d *daemon, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(d.out.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestCaptureDiskFull(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	h := newRelHostNamed(t, "pxr-disk-")
	h.addLink(t, "vif1.0", "p1")
	ipn(t, h.host, "route", "add", guest1IP.String()+"/32", "dev", "vif1.0", "src", hostIP.String())
	h.bin = buildBinary(t)
	dir := t.TempDir() // the mount point; the tmpfs is only in the daemon's mount namespace
	pcap := filepath.Join(dir, "uplink.pcapng")
	d := startDaemonOnTmpfs(t, dir, "64k", h.host, h.bin,
		"serve", "--uplink", "eth0", "--log-format", "json", "--garp-count", "0", "--pcap", pcap)
	for _, s := range []string{`"capture started"`, `"uplink attached"`} {
		if !waitLog(d, s, readyTimeout) {
			t.Fatalf("proxyarp did not log %s within %v (running %v)", s, readyTimeout, d.running())
		}
	}
	p := openProbe(t, h.router, "eth0", routerIP)
	hostMAC := linkMAC(t, h.host, "eth0")
	unowned := netip.MustParseAddr("192.0.2.99")
	if !p.waitAnswered(t, guest1IP, hostMAC, true, readyTimeout) {
		t.Fatalf("%s not answered after start", guest1IP)
	}

	// Flood (owned and not owned targets, 100 per batch, ~2000/s) until
	// the capture fails: about 1,000 records fill 64 KiB.
	const failed = `"capture failed, recording stopped"`
	sent, start := 0, time.Now()
	for batch := 0; batch < 200 && !strings.Contains(d.out.String(), failed) && time.Since(start) < 15*time.Second; batch++ {
		for i := range 100 {
			target := guest1IP
			if i%2 == 1 {
				target = unowned
			}
			p.send(t, p.request(target, askOptions{}))
			sent++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !waitLog(d, failed, 3*time.Second) {
		t.Fatalf("no %s log line after %d requests in %v (running %v)", failed, sent, time.Since(start).Round(time.Millisecond), d.running())
	}
	t.Logf("capture failed after %d requests in %v: %v", sent, time.Since(start).Round(time.Millisecond), logLines(d, "capture failed, recording stopped"))
	if files, err := os.ReadDir(fmt.Sprintf("/proc/%d/root%s", d.cmd.Process.Pid, dir)); err == nil {
		var sizes []string
		for _, f := range files {
			if fi, err := f.Info(); err == nil {
				sizes = append(sizes, fmt.Sprintf("%s %d", f.Name(), fi.Size()))
			}
		}
		t.Logf("on the 64 KiB tmpfs: %v", sizes)
	}

	// Answering goes on while the disk stays full, and the recorder's hooks
	// (full queue) never block the responder.
	for range 10 {
		for range 100 {
			p.send(t, p.request(unowned, askOptions{}))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !p.waitAnswered(t, guest1IP, hostMAC, true, time.Second) {
		t.Errorf("%s not answered after the capture disk filled", guest1IP)
	}
	if n := len(p.ask(t, unowned, hostMAC, replyWindow, askOptions{})); n != 0 {
		t.Errorf("%s (not owned) answered %d times after the capture disk filled", unowned, n)
	}
	late := netip.MustParseAddr("192.0.2.4")
	ipn(t, h.host, "route", "add", late.String()+"/32", "dev", "vif1.0", "src", hostIP.String())
	if !p.waitAnswered(t, late, hostMAC, true, time.Second) {
		t.Errorf("%s, routed after the capture disk filled, not answered within 1 s", late)
	}
	if !d.running() {
		t.Fatalf("proxyarp exited after the capture disk filled: %v", d.err)
	}

	// One log line, whatever happened after it.
	lines := logLines(d, "capture failed, recording stopped")
	if len(lines) != 1 {
		t.Errorf("%d %s lines, want 1", len(lines), failed)
	} else if e, _ := lines[0]["err"].(string); !strings.Contains(e, "no space left on device") {
		t.Errorf("capture failure err = %q, want it to say no space left on device", e)
	}
	var capLines int
	for _, l := range strings.Split(d.out.String(), "\n") {
		if strings.Contains(l, "capture") && (strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, `"level":"WARN"`)) {
			capLines++
		}
	}
	if capLines != 1 {
		t.Errorf("%d warning or error lines about the capture, want 1", capLines)
	}

	code, inTime := d.stop(t, syscall.SIGTERM)
	if code != 0 || !inTime {
		t.Errorf("after SIGTERM: exit code %d (in time: %v), want 0", code, inTime)
	}
	if len(logLines(d, "stopped")) != 1 {
		t.Errorf("no \"stopped\" log line after SIGTERM")
	}
}
