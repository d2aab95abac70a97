package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseServe(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring of the usage error; "" for success
		allow   []netip.Prefix
	}{
		{"an uplink alone is enough", []string{"--uplink", "eth0"}, "", nil},
		{"single-dash flags work too", []string{"-uplink=eth0"}, "", nil},
		{"allow prefixes are parsed and masked", []string{"--uplink", "eth0", "--allow", "192.0.2.0/24, 198.51.100.9/24"}, "",
			[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")}},
		{"a missing uplink is a usage error", nil, "--uplink is required", nil},
		{"a malformed prefix is named", []string{"--uplink", "eth0", "--allow", "192.0.2.999/32"}, `bad prefix "192.0.2.999/32"`, nil},
		{"an address without a length is refused", []string{"--uplink", "eth0", "--allow", "192.0.2.1"}, `bad prefix "192.0.2.1"`, nil},
		{"IPv6 prefixes are accepted beside IPv4 ones", []string{"--uplink", "eth0", "--allow", "192.0.2.0/24,2001:db8:1::9/64"}, "",
			[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}},
		{"an IPv4-mapped IPv6 prefix is refused", []string{"--uplink", "eth0", "--allow", "::ffff:192.0.2.0/120"}, "no mapped IPv4", nil},
		{"an empty allow entry is refused", []string{"--uplink", "eth0", "--allow", "192.0.2.0/24,"}, `bad prefix ""`, nil},
		{"a malformed glob is named", []string{"--uplink", "eth0", "--guest-ifaces", "vif*,["}, `"["`, nil},
		{"an unknown flag is named", []string{"--uplink", "eth0", "--frobnicate"}, "-frobnicate", nil},
		{"an unknown log format is refused", []string{"--uplink", "eth0", "--log-format", "xml"}, `--log-format "xml"`, nil},
		{"an unknown log level is refused", []string{"--uplink", "eth0", "--log-level", "loud"}, `--log-level "loud"`, nil},
		{"a stray argument is refused", []string{"--uplink", "eth0", "extra"}, `unexpected argument "extra"`, nil},
		{"an impossible interface name is refused", []string{"--uplink", "a/b"}, "not a valid interface name", nil},
		{"busy polling can be turned off", []string{"--uplink", "eth0", "--busy-poll", "0"}, "", nil},
		{"a negative busy-poll window is refused", []string{"--uplink", "eth0", "--busy-poll", "-1ms"}, "--busy-poll -1ms: want 0", nil},
		{"a busy-poll window over a second is refused", []string{"--uplink", "eth0", "--busy-poll", "2s"}, "--busy-poll 2s: want 0", nil},
		{"the ring can be chosen", []string{"--uplink", "eth0", "--read", "ring"}, "", nil},
		{"recvmmsg reads can be chosen", []string{"--uplink", "eth0", "--read", "recvmmsg"}, "", nil},
		{"an unknown read mode is refused", []string{"--uplink", "eth0", "--read", "mmap"}, `--read "mmap": want recvmmsg or ring`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseServe(tt.args, &bytes.Buffer{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseServe: %v", err)
				}
				if diff := cmp.Diff(tt.allow, cfg.allow, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
					t.Errorf("allow (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseServe error = %v, want one containing %q", err, tt.wantErr)
			}
			var stdout, stderr bytes.Buffer
			if code := execute(append([]string{"serve"}, tt.args...), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if lines := strings.Count(stderr.String(), "\n"); lines != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", lines, stderr.String())
			}
		})
	}
}

func TestServeHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"serve", "--help"}, &stdout, &stderr); code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
	for _, want := range []string{"--uplink IFACE", "--guest-ifaces GLOBS", "--allow PREFIXES", "--log-format", "proxy_arp=0"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("serve --help does not mention %q", want)
		}
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := execute([]string{"frob"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr.String(), `"frob"`) {
		t.Errorf("stderr %q does not name the command", stderr.String())
	}
}
