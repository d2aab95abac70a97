package labnet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAddrs(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     int
		err      string
	}{
		{"a range inside a documentation prefix", "192.0.2.10-192.0.2.19", 100, 10, ""},
		{"single addresses and ranges mix", "198.51.100.1, 203.0.113.5-203.0.113.6", 100, 3, ""},
		{"nothing is no address", "", 100, 0, ""},
		{"an address outside the documentation ranges is refused", "10.0.0.1", 100, 0, "refusing 10.0.0.1"},
		{"a range leaving the documentation range is refused", "192.0.2.250-192.0.3.2", 100, 0, "refusing 192.0.3.0"},
		{"a reversed range is refused", "192.0.2.9-192.0.2.1", 100, 0, "bad range"},
		{"more than max is refused", "192.0.2.0-192.0.2.255", 10, 0, "more than 10"},
		{"IPv6 is refused", "2001:db8::1", 100, 0, "bad IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddrs(tt.in, tt.max)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseAddrs(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ParseAddrs(%q) = %d addresses, %v; want %d", tt.in, len(got), err, tt.want)
			}
			for _, a := range got {
				if !InDocRanges(a) {
					t.Errorf("%v is outside the documentation ranges", a)
				}
			}
		})
	}
	if InDocRanges(netip.MustParseAddr("192.0.3.1")) {
		t.Error("192.0.3.1 taken for a documentation address")
	}
}
