package explain

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/proxyarp/proxyarp/routes"
)

func testHost6() Host {
	h := testHost()
	s := &h.Snapshot
	s.Addrs = append(s.Addrs,
		routes.Addr{LinkIndex: idxEth0, Prefix: netip.MustParsePrefix("2001:db8:1::1/64")},
		routes.Addr{LinkIndex: idxVif, Prefix: netip.MustParsePrefix("fe80::1/64")})
	s.Routes = append(s.Routes,
		rt("2001:db8:1::/64", idxEth0, 256),
		rt("2001:db8:1::2/128", idxVif, 1024),
		rt("2001:db8:1::50/128", idxEth1, 1024),
		rt("2001:db8:1::100/126", idxVif, 1024))
	return h
}

func TestExplainIPv6(t *testing.T) {
	tests := []struct {
		name      string
		addr      string
		opt       Options
		answered  bool
		decision  string
		rule      string
		whySubstr string
	}{
		{"a /128 via a guest is answered on the uplink that covers it", "2001:db8:1::2", Options{}, true, "answer", "owned", "2001:db8:1::2/128 is routed (metric 1024) via vif1.0"},
		{"a /128 via another interface is not", "2001:db8:1::50", Options{}, false, "not-owned", "not-guest", "lowest-metric /128 route"},
		{"a shorter prefix via a guest is not", "2001:db8:1::101", Options{}, false, "not-owned", "no-route", "no /128 route to 2001:db8:1::101"},
		{"an address of the host is not", "2001:db8:1::1", Options{}, false, "own-address", "local", "an address of this host"},
		{"outside an IPv6 --allow is not", "2001:db8:1::2", Options{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8:2::/64")}}, false, "outside-allow", "not-allowed", "outside --allow 2001:db8:2::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Explain(testHost6(), netip.MustParseAddr(tt.addr), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Answered != tt.answered || rep.Decision != tt.decision || rep.Rule != tt.rule || rep.Uplink != "eth0" {
				t.Errorf("answered %v decision %q rule %q uplink %q; want %v %q %q eth0", rep.Answered, rep.Decision, rep.Rule, rep.Uplink, tt.answered, tt.decision, tt.rule)
			}
			if w := strings.Join(rep.Why, "\n"); !strings.Contains(w, tt.whySubstr) {
				t.Errorf("why = %q, want it to contain %q", w, tt.whySubstr)
			}
		})
	}
	devs := Devices(testHost6().Snapshot, []netip.Addr{netip.MustParseAddr("2001:db8:1::2")})
	if devs[netip.MustParseAddr("2001:db8:1::2")] != "vif1.0" {
		t.Errorf("Devices = %v, want 2001:db8:1::2 on vif1.0", devs)
	}
}
