package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReplayFromTheLiveKernel replays a capture that has no recorded state,
// without --routes, inside a namespace whose routing table is the one
// testdata/routes.txt describes: replay must take the answer set from the
// kernel and decide exactly as with the routes file.
func TestReplayFromTheLiveKernel(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	capturePath, err := filepath.Abs(captureData + "classic.pcap")
	if err != nil {
		t.Fatal(err)
	}
	ns := "pxr-rep-" + randomSuffix()
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := tryRun("ip", "netns", "del", ns); err != nil {
			t.Errorf("deleting namespace %s: %v\n%s", ns, err, out)
		}
	})
	ipn(t, ns, "link", "set", "lo", "up")
	// Each device is a veth whose peer (p-NAME, matching no guest glob)
	// stays in the namespace; a peer left down makes NAME lose carrier.
	for _, dev := range []string{"eth0", "eth1", "vif1.0", "vif2.0", "vif3.0", "vif4.0", "guest11"} {
		ipn(t, ns, "link", "add", dev, "type", "veth", "peer", "name", "p-"+dev)
		ipn(t, ns, "link", "set", dev, "up")
		if dev != "vif4.0" {
			ipn(t, ns, "link", "set", "p-"+dev, "up")
		}
	}
	ipn(t, ns, "link", "set", "eth0", "address", "02:00:00:00:00:01")
	ipn(t, ns, "addr", "add", "192.0.2.1/24", "dev", "eth0")
	ipn(t, ns, "addr", "add", "198.51.100.2/24", "dev", "eth1")
	for _, r := range [][]string{
		{"default", "via", "198.51.100.1", "dev", "eth1", "proto", "static", "metric", "100"},
		{"192.0.2.2", "dev", "vif1.0", "src", "192.0.2.1"},
		{"192.0.2.5", "via", "198.51.100.1", "dev", "eth1", "metric", "10"},
		{"blackhole", "192.0.2.80"},
		{"192.0.2.9", "proto", "static", "metric", "10", "nexthop", "dev", "vif2.0", "nexthop", "dev", "vif3.0"},
		{"192.0.2.10", "proto", "static", "metric", "10", "nexthop", "dev", "vif2.0", "nexthop", "dev", "vif4.0"},
		{"192.0.2.11", "dev", "guest11", "proto", "213"},
	} {
		ipn(t, ns, append([]string{"route", "add"}, r...)...)
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "replay", capturePath, "--uplink", "eth0", "--format", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay: %v\nstderr:\n%s", err, stderr.String())
	}
	if want := "no --routes was given: deciding with this host's routing table and addresses (3 owned,"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
	golden, err := os.ReadFile(captureData + "classic.pcap.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	// The golden file was made with --routes and no uplink name.
	want := strings.ReplaceAll(string(golden), `"ingress":"-"`, `"ingress":"eth0"`)
	if diff := cmp.Diff(want, stdout.String()); diff != "" {
		t.Errorf("replay from the kernel differs from replay with routes.txt (-want +got):\n%s\n(ip route in %s:\n%s)", diff, ns, ipn(t, ns, "route"))
	}
}
