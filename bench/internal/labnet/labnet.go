// Package labnet holds the safety rules the bench tools share: they run
// only inside the project's own network namespaces and send only to and
// from the documentation ranges (RFC 5737 for IPv4, RFC 3849 for IPv6).
package labnet

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
)

// DocRanges are the only prefixes the bench tools send to or from
// (RFC 5737 documentation ranges).
var DocRanges = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// InDocRanges reports whether a is inside one of DocRanges.
func InDocRanges(a netip.Addr) bool {
	for _, p := range DocRanges {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// DocRange6 is the only IPv6 prefix the bench tools send to or from (RFC
// 3849), besides the link-local and multicast addresses Neighbor Discovery
// itself needs. It is kept apart from DocRanges so that the IPv4 checks
// (InDocRanges, ParseAddrs) never let an IPv6 address through.
var DocRange6 = netip.MustParsePrefix("2001:db8::/32")

// InDocRange6 reports whether a is inside DocRange6. An address with a zone
// or an IPv4-mapped one is not.
func InDocRange6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && a.Zone() == "" && DocRange6.Contains(a)
}

// RefuseRootNamespace fails unless this process runs in a named network
// namespace of the bench or the tests (/run/netns/pxr-*, created by
// `ip netns add`), and in any case when it is PID 1's namespace (where
// /proc/1/ns/net can be read: some sandboxes hide it even from root).
func RefuseRootNamespace() error {
	var self syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &self); err != nil {
		return fmt.Errorf("cannot tell the network namespace: %w", err)
	}
	var root syscall.Stat_t
	if err := syscall.Stat("/proc/1/ns/net", &root); err == nil && self.Ino == root.Ino && self.Dev == root.Dev {
		return errors.New("refusing to run in the root network namespace: run me with `ip netns exec pxr-...`")
	}
	names, _ := filepath.Glob("/run/netns/pxr-*")
	for _, name := range names {
		var st syscall.Stat_t
		if syscall.Stat(name, &st) == nil && st.Ino == self.Ino && st.Dev == self.Dev {
			return nil
		}
	}
	return errors.New("refusing to run outside a pxr-* network namespace (ip netns exec pxr-...): this may be the root namespace")
}

// ParseAddrs parses "A,B-C,..." into addresses, all inside DocRanges, at
// most max of them; "" is no address.
func ParseAddrs(s string, max int) ([]netip.Addr, error) {
	return parseAddrs(s, max, "IPv4", netip.Addr.Is4, InDocRanges,
		"only 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 are allowed")
}

// ParseAddrs6 is ParseAddrs for IPv6: "A,B-C,..." into addresses, all
// inside DocRange6 (2001:db8::/32), at most max of them; "" is no address.
// IPv4, IPv4-mapped and zoned addresses are refused.
func ParseAddrs6(s string, max int) ([]netip.Addr, error) {
	is6 := func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() && a.Zone() == "" }
	return parseAddrs(s, max, "IPv6", is6, InDocRange6, "only 2001:db8::/32 is allowed")
}

// parseAddrs is ParseAddrs and ParseAddrs6: addresses of the family
// (family names it in errors) that pass allowed (refused with the reason
// allowedMsg otherwise).
func parseAddrs(s string, max int, family string, ofFamily, allowed func(netip.Addr) bool, allowedMsg string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil || !ofFamily(a) {
			return nil, fmt.Errorf("bad %s address %q", family, lo)
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil || !ofFamily(b) || b.Less(a) {
				return nil, fmt.Errorf("bad range %q", part)
			}
		}
		for x := a; ; x = x.Next() {
			if !allowed(x) {
				return nil, fmt.Errorf("refusing %s: %s", x, allowedMsg)
			}
			if len(out) >= max {
				return nil, fmt.Errorf("more than %d addresses", max)
			}
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	return out, nil
}
