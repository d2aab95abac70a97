package capture

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
)

func TestParseRoutesLines(t *testing.T) {
	vif := func(i int) routes.Nexthop { return routes.Nexthop{LinkIndex: i} }
	tests := []struct {
		name string
		text string
		want []routes.Route
	}{
		{
			name: "a vif-route host route is a /32 via its device",
			text: "192.0.2.2 dev vif1.0 scope link src 192.0.2.1",
			want: []routes.Route{{Dst: netip.MustParsePrefix("192.0.2.2/32"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Nexthops: []routes.Nexthop{vif(1)}}},
		},
		{
			name: "a gateway and a metric are kept",
			text: "192.0.2.5 via 198.51.100.1 dev eth1 metric 10",
			want: []routes.Route{{Dst: netip.MustParsePrefix("192.0.2.5/32"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Priority: 10,
				Nexthops: []routes.Nexthop{{LinkIndex: 1, Gw: netip.MustParseAddr("198.51.100.1")}}}},
		},
		{
			name: "a blackhole has a type and no nexthop",
			text: "blackhole 192.0.2.80",
			want: []routes.Route{{Dst: netip.MustParsePrefix("192.0.2.80/32"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_BLACKHOLE}},
		},
		{
			name: "default is 0.0.0.0/0",
			text: "default via 198.51.100.1 dev eth1 proto dhcp src 198.51.100.2 metric 100",
			want: []routes.Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Priority: 100, Protocol: unix.RTPROT_DHCP,
				Nexthops: []routes.Nexthop{{LinkIndex: 1, Gw: netip.MustParseAddr("198.51.100.1")}}}},
		},
		{
			name: "a connected prefix is masked",
			text: "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1",
			want: []routes.Route{{Dst: netip.MustParsePrefix("192.0.2.0/24"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Protocol: unix.RTPROT_KERNEL, Nexthops: []routes.Nexthop{vif(1)}}},
		},
		{
			name: "multipath nexthops follow on indented lines, with their flags",
			text: "192.0.2.9 proto static metric 10\n\tnexthop via 198.51.100.1 dev vif2.0 weight 1\n\tnexthop dev vif3.0 weight 1 linkdown dead",
			want: []routes.Route{{Dst: netip.MustParsePrefix("192.0.2.9/32"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Priority: 10, Protocol: unix.RTPROT_STATIC,
				Nexthops: []routes.Nexthop{{LinkIndex: 1, Gw: netip.MustParseAddr("198.51.100.1")}, {LinkIndex: 2, LinkDown: true, Dead: true}}}},
		},
		{
			name: "table, proto number, locked metrics and flags are understood",
			text: "local 192.0.2.1 dev eth0 table local proto 213 scope host src 192.0.2.1 mtu lock 1400 onlink",
			want: []routes.Route{{Dst: netip.MustParsePrefix("192.0.2.1/32"), Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Protocol: routes.ProtoProxyarp, Nexthops: []routes.Nexthop{vif(1)}}},
		},
		{
			name: "blank lines and comments are skipped",
			text: "# routes\n\n   \n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRoutes(strings.NewReader(tt.text), "routes.txt")
			if err != nil {
				t.Fatalf("ParseRoutes: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Routes, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRoutesErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{"an unknown keyword is named", "192.0.2.2 dev vif1.0\n192.0.2.3 dev vif2.0 frobnicate 3", `routes.txt: line 2: unknown keyword "frobnicate"`},
		{"a bad destination is named", "192.0.2.300 dev vif1.0", `routes.txt: line 1: bad destination "192.0.2.300"`},
		{"an IPv4-mapped destination is refused", "::ffff:192.0.2.2 dev eth0", `line 1: destination "::ffff:192.0.2.2" is neither IPv4 nor plain IPv6`},
		{"a keyword without its value is named", "192.0.2.2 dev", "line 1: dev without a value"},
		{"a bad metric is named", "192.0.2.2 dev vif1.0 metric high", `line 1: bad metric "high"`},
		{"a bad gateway is named", "192.0.2.2 via nowhere dev eth0", `line 1: bad gateway "nowhere"`},
		{"a nexthop without a route is refused", "\tnexthop dev vif1.0", "line 1: nexthop line without a route before it"},
		{"a type without a destination is refused", "blackhole", "line 1: no destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRoutes(strings.NewReader(tt.text), "routes.txt")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseRoutes error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestRouteTableOwnedUsesTheRule checks the ownership of every /32 of
// testdata/routes.txt, as routes.Rule.Explain decides it.
func TestRouteTableOwnedUsesTheRule(t *testing.T) {
	f := strings.NewReader(mustRead(t, "testdata/routes.txt"))
	table, err := ParseRoutes(f, "routes.txt")
	if err != nil {
		t.Fatal(err)
	}
	guests, _ := routes.ParseGlobs(routes.DefaultGlobs)
	owned, verdicts := table.Owned(routes.Rule{Guests: guests}, genLocal)
	got := map[string]string{}
	for a, v := range verdicts {
		got[a.String()] = v.Reason.String()
	}
	want := map[string]string{
		"192.0.2.2":  "owned",
		"192.0.2.5":  "not-guest",
		"192.0.2.80": "not-unicast",
		"192.0.2.9":  "owned",
		"192.0.2.10": "no-carrier",
		"192.0.2.11": "owned",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if len(owned) != 3 {
		t.Errorf("owned = %v, want 3 addresses", owned)
	}
}

func TestParseRoutesIPv6(t *testing.T) {
	text := "2001:db8:1::/64 dev eth0 proto kernel metric 256\n2001:db8:1::2 dev vif1.0 metric 1024\n2001:db8:1::50 dev eth0 metric 1024\n"
	table, err := ParseRoutes(strings.NewReader(text), "routes6.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := table.Routes[1].Dst; got != netip.MustParsePrefix("2001:db8:1::2/128") {
		t.Errorf("an address alone = %v, want its /128", got)
	}
	owned, _ := table.Owned(routesRule(), nil)
	if len(owned) != 1 || owned[0] != netip.MustParseAddr("2001:db8:1::2") {
		t.Errorf("owned = %v, want 2001:db8:1::2 alone", owned)
	}
}
