package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/proxyarp/proxyarp/hostcheck"
	"github.com/proxyarp/proxyarp/metrics"
)

func TestOpsCommandsUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout (help) or stderr (errors)
	}{
		{"status --help exits 0", []string{"status", "--help"}, exitOK, "--metrics-addr ADDR"},
		{"explain --help exits 0", []string{"explain", "--help"}, exitOK, "--guest-ifaces GLOBS"},
		{"doctor --help exits 0 and says what matters", []string{"doctor", "--help"}, exitOK, "is not needed"},
		{"serve --help lists the new flags", []string{"serve", "--help"}, exitOK, "--dry-run"},
		{"explain without an address is a usage error", []string{"explain"}, exitUsage, "exactly one address"},
		{"explain of an address with a zone is a usage error", []string{"explain", "fe80::1%eth0"}, exitUsage, "not an IPv4 or IPv6 address"},
		{"explain with a bad allow is a usage error", []string{"explain", "192.0.2.2", "--allow", "x"}, exitUsage, `bad prefix "x"`},
		{"doctor with a stray argument is a usage error", []string{"doctor", "eth0"}, exitUsage, `unexpected argument "eth0"`},
		{"status with a stray argument is a usage error", []string{"status", "x"}, exitUsage, `unexpected argument "x"`},
		{"status without a daemon fails", []string{"status", "--metrics-addr", "/nonexistent/proxyarp.sock"}, exitFailure, "cannot reach the daemon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.out) {
				t.Errorf("exit %d, want %d; output does not contain %q:\n%s%s", code, tt.code, tt.out, stdout.String(), stderr.String())
			}
		})
	}
}

func TestParseServeMetricsAndDryRun(t *testing.T) {
	cfg, err := parseServe([]string{"--uplink", "eth0", "--dry-run", "--metrics-listen", "127.0.0.1:0", "--metrics-listen", "/run/x.sock"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.dryRun || len(cfg.metricsListen) != 2 || cfg.metricsListen[1] != "/run/x.sock" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestWriteStatus(t *testing.T) {
	var b bytes.Buffer
	st := metrics.Status{Uplink: "eth0", Attached: true, UplinkMAC: "02:00:00:00:00:01", RoutesSynced: true, DryRun: true,
		Owned: []metrics.Owned{{IP: netip.MustParseAddr("192.0.2.2"), Dev: "vif1.0"}},
		Counters: metrics.Counters{Requests: 5, Drops: map[string]uint64{"not-owned": 2, "malformed": 0},
			RepliesSuppressed: map[string]uint64{"dry-run": 3, "rate-limit": 0}}}
	if err := writeStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"uplink eth0: attached, MAC 02:00:00:00:00:01", "DRY RUN", "192.0.2.2  vif1.0", "requests 5", "dry-run=3 rate-limit=0", "drops: not-owned=2\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status output does not contain %q:\n%s", want, b.String())
		}
	}
}

func TestWriteFindingsExitCode(t *testing.T) {
	var b bytes.Buffer
	if code := writeFindings(&b, []hostcheck.Finding{{Severity: hostcheck.Info, Check: "uplink", Problem: "p", Fix: "f"}}); code != exitOK || !strings.Contains(b.String(), "ok: no problems found") {
		t.Errorf("info only: exit %d\n%s", code, b.String())
	}
	b.Reset()
	if code := writeFindings(&b, []hostcheck.Finding{{Severity: hostcheck.Warning, Check: "w"}, {Severity: hostcheck.Error, Check: "forwarding", Problem: "ip_forward is 0", Fix: "sysctl"}}); code != exitFailure || !strings.Contains(b.String(), "error: ip_forward is 0 [forwarding]; fix: sysctl") {
		t.Errorf("with an error: exit %d\n%s", code, b.String())
	}
}
