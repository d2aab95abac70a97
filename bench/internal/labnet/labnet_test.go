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

func TestParseAddrs6(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     int
		err      string
	}{
		{"a range inside 2001:db8::/32", "2001:db8:1::2-2001:db8:1::5", 100, 4, ""},
		{"single addresses and ranges mix", "2001:db8::1, 2001:db8:ffff:ffff::1-2001:db8:ffff:ffff::2", 100, 3, ""},
		{"nothing is no address", "", 100, 0, ""},
		{"an address outside 2001:db8::/32 is refused", "2001:db9::1", 100, 0, "refusing 2001:db9::1"},
		{"a global address is refused", "2a00:1450::1", 100, 0, "refusing"},
		{"link-local is refused", "fe80::1", 100, 0, "refusing fe80::1"},
		{"multicast is refused", "ff02::1", 100, 0, "refusing ff02::1"},
		{"a range leaving the prefix is refused", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe-2001:db9::1", 100, 0, "refusing 2001:db9::"},
		{"a reversed range is refused", "2001:db8::9-2001:db8::1", 100, 0, "bad range"},
		{"more than max is refused", "2001:db8::1-2001:db8::ff", 10, 0, "more than 10"},
		{"IPv4 is refused", "192.0.2.1", 100, 0, "bad IPv6 address"},
		{"IPv4-mapped is refused", "::ffff:192.0.2.1", 100, 0, "bad IPv6 address"},
		{"a zone is refused", "2001:db8::1%eth0", 100, 0, "bad IPv6 address"},
		{"a range to IPv4 is refused", "2001:db8::1-192.0.2.1", 100, 0, "bad range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddrs6(tt.in, tt.max)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseAddrs6(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ParseAddrs6(%q) = %d addresses, %v; want %d", tt.in, len(got), err, tt.want)
			}
			for _, a := range got {
				if !InDocRange6(a) {
					t.Errorf("%v is outside 2001:db8::/32", a)
				}
			}
		})
	}
}

func TestDocRangesStaySeparate(t *testing.T) {
	// IPv6 never passes the IPv4 checks, nor IPv4 the IPv6 one.
	for _, s := range []string{"2001:db8::1", "2001:db8:1::2", "::ffff:192.0.2.1"} {
		if InDocRanges(netip.MustParseAddr(s)) {
			t.Errorf("InDocRanges(%s) = true, want false (IPv4 only)", s)
		}
	}
	for _, s := range []string{"192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1%eth0", "fe80::1", "2001:db9::1"} {
		if InDocRange6(netip.MustParseAddr(s)) {
			t.Errorf("InDocRange6(%s) = true, want false", s)
		}
	}
	if !InDocRange6(netip.MustParseAddr("2001:db8:ffff::1")) {
		t.Error("2001:db8:ffff::1 not taken for a documentation address")
	}
}
