package hotplug

import (
	"strings"
	"testing"
)

// FuzzParseEntries feeds arbitrary ip= values (xenstore holds what the vif
// spec said) to ParseEntries: it must not panic, and what it accepts must
// be one valid prefix per word, never IPv4-mapped or zoned, that parses back
// to itself from its own text.
func FuzzParseEntries(f *testing.F) {
	for _, s := range []string{"192.0.2.2 192.0.2.3", "192.0.2.0/28", "2001:db8::2 2001:db8:1::/64", "", "  \t", "::ffff:192.0.2.1", "fe80::1%eth0", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseEntries(s)
		if err != nil {
			return
		}
		if len(ps) != len(strings.Fields(s)) {
			t.Fatalf("%q: %d entries from %d words", s, len(ps), len(strings.Fields(s)))
		}
		for _, p := range ps {
			if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("%q: accepted %v", s, p)
			}
			q, err := ParseEntry(p.String())
			if err != nil || q != p {
				t.Fatalf("%q: %v does not parse back to itself: %v, %v", s, p, q, err)
			}
		}
	})
}
