package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2ECaptureReplay records a live run with serve --pcap, then replays
// the capture with --verify: replay must make exactly the decisions the live
// responder made, from the state recorded beside the capture.
func TestE2ECaptureReplay(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	tp := newTopology(t, topoOptions{uplink: true, otherLinks: true})
	pcap := filepath.Join(t.TempDir(), "uplink.pcapng")
	d := startDaemon(t, tp.host, bin, "serve", "--uplink", "eth0", "--pcap", pcap)
	p := openProbe(t, tp.router, "eth0", routerIP)
	hostMAC := tp.hostMAC(t)
	if !p.waitAnswered(t, guest1IP, hostMAC, true, readyTimeout) {
		t.Fatalf("%s not answered within %v of the start (running: %v)", guest1IP, readyTimeout, d.running())
	}
	// A mix of answered and dropped requests, and a route added at run
	// time, so that replay has to follow the recorded state changes.
	p.ask(t, netip.MustParseAddr("192.0.2.99"), hostMAC, replyWindow, askOptions{})
	p.ask(t, hostIP, hostMAC, replyWindow, askOptions{})
	p.ask(t, guest1IP, hostMAC, replyWindow, askOptions{dst: net.HardwareAddr{2, 0, 0, 0, 0, 0x99}})
	p.ask(t, guest1IP, hostMAC, replyWindow, askOptions{vlan: 100})
	late := netip.MustParseAddr("192.0.2.4")
	ipn(t, tp.host, "route", "add", late.String()+"/32", "dev", "vif1.0", "src", hostIP.String())
	if !p.waitAnswered(t, late, hostMAC, true, time.Second) {
		t.Fatalf("%s not answered within 1 s of its route", late)
	}
	ipn(t, tp.host, "route", "del", late.String()+"/32", "dev", "vif1.0")
	if !p.waitAnswered(t, late, hostMAC, false, time.Second) {
		t.Fatalf("%s still answered 1 s after its route went", late)
	}
	if code, _ := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("serve exited %d", code)
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "replay", pcap, "--verify", "--format", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay --verify: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	answered := map[string]int{}
	reasons := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var rec struct {
			TargetIP string `json:"target_ip"`
			Decision string `json:"decision"`
			Reason   string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("replay line %q is not JSON: %v", line, err)
		}
		if rec.Decision == "answer" {
			answered[rec.TargetIP]++
		}
		reasons[rec.Reason]++
	}
	if answered[guest1IP.String()] == 0 || answered[late.String()] == 0 {
		t.Errorf("replay answered %v; want both %s and %s among them", answered, guest1IP, late)
	}
	for _, want := range []string{"not-owned", "own-address", "not-for-us"} {
		if reasons[want] == 0 {
			t.Errorf("no replayed frame dropped as %s; reasons seen: %v", want, reasons)
		}
	}
	if !strings.Contains(stderr.String(), "0 differences") {
		t.Errorf("replay summary %q does not report 0 differences", stderr.String())
	}
}
