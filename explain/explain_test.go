package explain

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
)

const (
	idxEth0 = 2
	idxEth1 = 3
	idxVif  = 4
	idxTap  = 5
)

func rt(dst string, dev, metric int) routes.Route {
	return routes.Route{Dst: netip.MustParsePrefix(dst), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST,
		Priority: metric, Nexthops: []routes.Nexthop{{LinkIndex: dev}}}
}

func testHost() Host {
	black := rt("192.0.2.80/32", 0, 0)
	black.Type, black.Nexthops = unix.RTN_BLACKHOLE, nil
	return Host{Snapshot: routes.Snapshot{
		Links: []routes.Link{
			{Index: idxEth0, Name: "eth0", Up: true, Carrier: true},
			{Index: idxEth1, Name: "eth1", Up: true, Carrier: true},
			{Index: idxVif, Name: "vif1.0", Up: true, Carrier: true},
			{Index: idxTap, Name: "tap9", Up: true, Carrier: false},
		},
		Addrs: []routes.Addr{
			{LinkIndex: idxEth0, Prefix: netip.MustParsePrefix("192.0.2.1/24")},
			{LinkIndex: idxEth1, Prefix: netip.MustParsePrefix("198.51.100.1/24")},
		},
		Routes: []routes.Route{
			rt("192.0.2.0/24", idxEth0, 0),
			rt("198.51.100.0/24", idxEth1, 0),
			rt("192.0.2.2/32", idxVif, 0),
			rt("192.0.2.50/32", idxEth1, 0),
			rt("192.0.2.5/32", idxEth1, 5),
			rt("192.0.2.5/32", idxVif, 10),
			rt("192.0.2.9/32", idxTap, 0),
			rt("192.0.2.100/30", idxVif, 0),
			black,
		},
	}}
}

func TestExplain(t *testing.T) {
	tests := []struct {
		name      string
		addr      string
		opt       Options
		answered  bool
		decision  string
		rule      string
		whyPhrase string
	}{
		{"a guest's /32 is answered", "192.0.2.2", Options{}, true, "answer", "owned", "via vif1.0, a guest interface"},
		{"an unrouted address is not", "192.0.2.99", Options{}, false, "not-owned", "no-route", "192.0.2.0/24 via eth0 (a shorter prefix"},
		{"a shorter prefix via a guest is not", "192.0.2.101", Options{}, false, "not-owned", "no-route", "192.0.2.100/30 via vif1.0"},
		{"a route via a non-guest is not", "192.0.2.50", Options{}, false, "not-owned", "not-guest", "leaves via eth1, which matches none"},
		{"the lowest metric decides", "192.0.2.5", Options{}, false, "not-owned", "not-guest", "(metric 5) leaves via eth1"},
		{"no carrier is named", "192.0.2.9", Options{}, false, "not-owned", "no-carrier", "tap9, which has no carrier"},
		{"a blackhole is named", "192.0.2.80", Options{}, false, "not-owned", "not-unicast", "not unicast"},
		{"the host's own address is the kernel's", "192.0.2.1", Options{}, false, "own-address", "local", "is an address of this host (on eth0)"},
		{"outside --allow is not answered", "192.0.2.2", Options{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
			false, "outside-allow", "not-allowed", "outside --allow 198.51.100.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Explain(testHost(), netip.MustParseAddr(tt.addr), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Answered != tt.answered || rep.Decision != tt.decision || rep.Rule != tt.rule {
				t.Errorf("answered, decision, rule = %v, %s, %s; want %v, %s, %s", rep.Answered, rep.Decision, rep.Rule, tt.answered, tt.decision, tt.rule)
			}
			if rep.Uplink != "eth0" || rep.UplinkVia != "connected route 192.0.2.0/24" {
				t.Errorf("uplink %s by %s, want eth0 by its connected route", rep.Uplink, rep.UplinkVia)
			}
			if !strings.Contains(strings.Join(rep.Why, "\n"), tt.whyPhrase) {
				t.Errorf("why = %q, want it to contain %q", rep.Why, tt.whyPhrase)
			}
			var b strings.Builder
			if err := rep.WriteText(&b); err != nil || !strings.HasPrefix(b.String(), tt.addr+": ") {
				t.Errorf("text = %q, %v", b.String(), err)
			}
		})
	}
}

func TestExplainNamesPolicyRulesAndUplinkProblems(t *testing.T) {
	h := testHost()
	h.PolicyRules = []string{"100: from 192.0.2.2 lookup 100"}
	_, err := Explain(h, netip.MustParseAddr("203.0.113.7"), Options{})
	if err == nil || !strings.Contains(err.Error(), "--uplink") {
		t.Errorf("an address no connected prefix covers: err = %v, want one asking for --uplink", err)
	}
	rep, err := Explain(h, netip.MustParseAddr("192.0.2.2"), Options{Uplink: "eth1"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.UplinkVia != "--uplink" || !strings.Contains(strings.Join(rep.Why, "\n"), "policy rules beyond the defaults") {
		t.Errorf("report = %+v", rep)
	}
	if _, err := Explain(h, netip.MustParseAddr("192.0.2.2"), Options{Uplink: "eth7"}); err == nil {
		t.Error("a missing uplink is not an error")
	}
}

func TestDevices(t *testing.T) {
	got := Devices(testHost().Snapshot, []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.9")})
	if got[netip.MustParseAddr("192.0.2.2")] != "vif1.0" || got[netip.MustParseAddr("192.0.2.9")] != "tap9" || len(got) != 2 {
		t.Errorf("Devices = %v", got)
	}
}

func TestExplainRefusesTheUplinkGateway(t *testing.T) {
	h := testHost()
	def := rt("0.0.0.0/0", idxEth0, 0)
	def.Nexthops[0].Gw = netip.MustParseAddr("192.0.2.254")
	h.Snapshot.Routes = append(h.Snapshot.Routes, def, rt("192.0.2.254/32", idxVif, 0))
	rep, err := Explain(h, netip.MustParseAddr("192.0.2.254"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered || rep.Decision != "uplink-gateway" {
		t.Errorf("the default gateway routed to a vif: answered %v, decision %s; want not answered, uplink-gateway", rep.Answered, rep.Decision)
	}
}

func TestExplainNeverOwnsARouteBackOutTheUplink(t *testing.T) {
	h := testHost()
	back := rt("192.0.2.60/32", idxEth0, 0)
	back.Protocol = routes.ProtoProxyarp
	h.Snapshot.Routes = append(h.Snapshot.Routes, back)
	rep, err := Explain(h, netip.MustParseAddr("192.0.2.60"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Answered || rep.Rule != "not-guest" {
		t.Errorf("proxyarp's own route back out the uplink: answered %v, rule %s; want not answered, not-guest", rep.Answered, rep.Rule)
	}
}
