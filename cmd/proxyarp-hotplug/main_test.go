package main

import (
	"bytes"
	"strings"
	"testing"
)

// The exit codes of `proxyarp hotplug`: 0 for --help, 2 for a bad command
// line, 1 for a failure; and the same messages.
func TestHotplugExitCodes(t *testing.T) {
	for _, k := range []string{"XENBUS_PATH", "vif", "INTERFACE", "type_if", "ip", "netdev"} {
		t.Setenv(k, "")
	}
	tests := []struct {
		args       []string
		code       int
		out, inErr string
	}{
		{args: []string{"--help"}, code: 0, out: "Usage: proxyarp hotplug ACTION"},
		{args: nil, code: 2, inErr: "proxyarp: hotplug: missing ACTION"},
		{args: []string{"reboot"}, code: 2, inErr: `proxyarp: hotplug: unknown action "reboot"`},
		{args: []string{"online", "type_if=vif"}, code: 1, inErr: "proxyarp: hotplug: XENBUS_PATH is not set"},
		{args: []string{"add", "type_if=vif"}, code: 0},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := execute(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.inErr) {
			t.Errorf("proxyarp-hotplug %q = %d, stdout %q, stderr %q; want %d, stdout with %q, stderr with %q",
				tt.args, code, stdout.String(), stderr.String(), tt.code, tt.out, tt.inErr)
		}
	}
}
