package main

import (
	"encoding/json"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/proxyarp/proxyarp/metrics"
	"github.com/proxyarp/proxyarp/responder"
)

// The daemon's metrics listen on a unix socket: the file system is shared
// across network namespaces, so the test reaches the daemon inside the host
// namespace without entering it.

// scrapeMetrics GETs /metrics over the unix socket and parses it.
func scrapeMetrics(t *testing.T, sock string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := metrics.UnixClient(sock).Get("http://proxyarp/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// sample returns the value of the sample of family name whose label
// matches (label "" for an unlabelled metric), and whether there is one.
func sample(mfs map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.Metric {
		match := label == ""
		for _, lp := range m.Label {
			if lp.GetName() == label && lp.GetValue() == value {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// waitSocket waits for the daemon's socket to answer /healthz with 200.
func waitHealthy(t *testing.T, sock string, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		resp, err := metrics.UnixClient(sock).Get("http://proxyarp/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/healthz not 200 within %v (running: %v)", readyTimeout, d.running())
}

func TestE2EMetricsStatusExplainDoctor(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	tp := newTopology(t, topoOptions{uplink: true, guest2: true})
	sock := filepath.Join(t.TempDir(), "m.sock")
	d := startDaemon(t, tp.host, bin, "serve", "--uplink", "eth0", "--metrics-listen", sock)
	p := openProbe(t, tp.router, "eth0", routerIP)
	hostMAC := tp.hostMAC(t)
	if !p.waitAnswered(t, guest1IP, hostMAC, true, readyTimeout) {
		t.Fatalf("%s not answered within %v (running: %v)", guest1IP, readyTimeout, d.running())
	}
	waitHealthy(t, sock, d)
	p.ask(t, netip.MustParseAddr("192.0.2.99"), hostMAC, replyWindow, askOptions{})
	// Another machine on the uplink announcing guest 2's address.
	p.send(t, p.request(guest2IP, askOptions{senderIP: guest2IP}))
	time.Sleep(100 * time.Millisecond)

	mfs := scrapeMetrics(t, sock)
	for _, c := range []struct {
		name, label, value string
		min, max           float64
	}{
		{"proxyarp_replies_sent_total", "", "", 1, 1e9},
		{"proxyarp_requests_total", "", "", 3, 1e9},
		{"proxyarp_drops_total", "reason", "not-owned", 1, 1e9},
		{"proxyarp_drops_total", "reason", "malformed", 0, 0},
		{"proxyarp_replies_suppressed_total", "cause", "dry-run", 0, 0},
		{"proxyarp_replies_suppressed_total", "cause", "rate-limit", 0, 0},
		{"proxyarp_owned_addresses", "", "", 2, 2},
		{"proxyarp_uplink_up", "", "", 1, 1},
		{"proxyarp_netlink_resyncs_total", "", "", 0, 0},
		{"proxyarp_garps_sent_total", "", "", 0, 1e9},
		{"proxyarp_conflicts_total", "", "", 1, 1},
		{"proxyarp_capture_dropped_total", "", "", 0, 0},
		{"proxyarp_reply_latency_seconds", "", "", 1, 1e9},
	} {
		v, ok := sample(mfs, c.name, c.label, c.value)
		if !ok || v < c.min || v > c.max {
			t.Errorf("%s{%s=%q} = %v (present %v), want %v..%v", c.name, c.label, c.value, v, ok, c.min, c.max)
		}
	}
	for _, r := range responder.DropReasons() {
		if _, ok := sample(mfs, "proxyarp_drops_total", "reason", r.String()); !ok {
			t.Errorf("proxyarp_drops_total{reason=%q} missing", r)
		}
	}

	// status, over the same socket.
	out, err := exec.Command(bin, "status", "--metrics-addr", sock).CombinedOutput()
	if err != nil {
		t.Fatalf("proxyarp status: %v\n%s", err, out)
	}
	for _, want := range []string{"uplink eth0: attached", guest1IP.String(), "vif1.0", guest2IP.String(), "vif2.0", "conflicts 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("proxyarp status does not show %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(bin, "status", "--json", "--metrics-addr", "unix:"+sock).Output()
	var st metrics.Status
	if err != nil || json.Unmarshal(out, &st) != nil || len(st.Owned) != 2 || st.Owned[0].Dev != "vif1.0" {
		t.Errorf("proxyarp status --json: %v\n%s", err, out)
	}

	// explain, in the host namespace.
	explainIn := func(args ...string) (string, int) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", tp.host, bin, "explain"}, args...)...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := explainIn(guest1IP.String()); code != 0 || !strings.Contains(out, "answered on eth0") || !strings.Contains(out, "vif1.0") {
		t.Errorf("explain %s: exit %d\n%s", guest1IP, code, out)
	}
	if out, code := explainIn("192.0.2.99", "--json"); code != exitNotAnswered || !strings.Contains(out, `"rule": "no-route"`) {
		t.Errorf("explain 192.0.2.99: exit %d\n%s", code, out)
	}

	// doctor: kernel proxy_arp on the uplink is an error.
	doctorIn := func() (string, int) {
		cmd := exec.Command("ip", "netns", "exec", tp.host, bin, "doctor", "--uplink", "eth0")
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := doctorIn(); strings.Contains(out, "kernel-proxy-arp") || code > 1 {
		t.Errorf("doctor before: exit %d\n%s", code, out)
	}
	setSysctl(t, tp.host, "net/ipv4/conf/eth0/proxy_arp", "1")
	if out, code := doctorIn(); code != 1 || !strings.Contains(out, "error: net.ipv4.conf.eth0.proxy_arp is 1") {
		t.Errorf("doctor with proxy_arp on the uplink: exit %d, want 1\n%s", code, out)
	}
	setSysctl(t, tp.host, "net/ipv4/conf/eth0/proxy_arp", "0")
}

func TestE2EDryRunSendsNothingButCounts(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	tp := newTopology(t, topoOptions{uplink: true})
	sock := filepath.Join(t.TempDir(), "m.sock")
	d := startDaemon(t, tp.host, bin, "serve", "--uplink", "eth0", "--dry-run", "--metrics-listen", sock)
	waitHealthy(t, sock, d)
	deadline := time.Now().Add(readyTimeout)
	for {
		if v, _ := sample(scrapeMetrics(t, sock), "proxyarp_owned_addresses", "", ""); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not owned within %v", guest1IP, readyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := openProbe(t, tp.router, "eth0", routerIP)
	hostMAC := tp.hostMAC(t)
	const asks = 3
	for range asks {
		if r := p.ask(t, guest1IP, hostMAC, 200*time.Millisecond, askOptions{}); len(r) != 0 {
			t.Fatalf("dry run answered %s: %d replies", guest1IP, len(r))
		}
	}
	// A route added at run time would be announced: in a dry run it is not.
	late := netip.MustParseAddr("192.0.2.4")
	ipn(t, tp.host, "route", "add", late.String()+"/32", "dev", "vif1.0", "src", hostIP.String())
	time.Sleep(300 * time.Millisecond)

	mfs := scrapeMetrics(t, sock)
	if v, _ := sample(mfs, "proxyarp_replies_suppressed_total", "cause", "dry-run"); v != asks {
		t.Errorf("replies suppressed (dry-run) = %v, want %d", v, asks)
	}
	if v, _ := sample(mfs, "proxyarp_replies_sent_total", "", ""); v != 0 {
		t.Errorf("replies sent = %v in a dry run, want 0", v)
	}
	if v, _ := sample(mfs, "proxyarp_garps_sent_total", "", ""); v != 0 {
		t.Errorf("gratuitous ARP sent = %v in a dry run, want 0", v)
	}
	if v, _ := sample(mfs, "proxyarp_garps_suppressed_total", "cause", "dry-run"); v < 1 {
		t.Errorf("gratuitous ARP suppressed (dry-run) = %v, want at least 1", v)
	}
	resp, err := metrics.UnixClient(sock).Get("http://proxyarp/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"dry_run": true`) {
		t.Errorf("/status does not say dry run:\n%s", body)
	}
	if !strings.Contains(d.out.String(), "dry run") {
		t.Errorf("the log does not say dry run")
	}
}
