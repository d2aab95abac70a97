package routes

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestExplain(t *testing.T) {
	const a = "192.0.2.10"
	links := linkMap(testLinks()...)
	withLinks := func(ls ...Link) map[int]Link {
		m := linkMap(testLinks()...)
		for _, l := range ls {
			m[l.Index] = l
		}
		return m
	}
	tests := []struct {
		name   string
		addr   string
		routes []Route
		links  map[int]Link // nil: testLinks
		local  bool
		allow  []netip.Prefix
		guests string // "": DefaultGlobs
		want   Verdict
	}{
		{
			name:   "a /32 via a vif is owned",
			routes: []Route{host(a, 0, dev(idxVif1))},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0"},
		},
		{
			name:   "a /32 via a tap is owned",
			routes: []Route{host(a, 5, dev(idxTap3))},
			want:   Verdict{Reason: ReasonOwned, Dev: "tap3.0", Metric: 5},
		},
		{
			name:   "a /32 via a gateway on a vif is owned",
			routes: []Route{host(a, 0, Nexthop{LinkIndex: idxVif1, Gw: mustAddr("198.51.100.1")})},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0"},
		},
		{
			name:   "a /32 via a non-guest interface is not owned",
			routes: []Route{host(a, 0, dev(idxEth1))},
			want:   Verdict{Reason: ReasonNotGuest, Dev: "eth1"},
		},
		{
			name:   "a /32 of proxyarp's own proto via a non-guest name is owned",
			routes: []Route{withProto(host(a, 2, dev(idxEth1)), ProtoProxyarp)},
			want:   Verdict{Reason: ReasonOwned, Dev: "eth1", Metric: 2},
		},
		{
			name:   "a /32 of another proto via a non-guest name is not owned",
			routes: []Route{withProto(host(a, 2, dev(idxEth1)), unix.RTPROT_STATIC)},
			want:   Verdict{Reason: ReasonNotGuest, Dev: "eth1", Metric: 2},
		},
		{
			name:   "a /32 of proxyarp's own proto via a link without carrier is not owned",
			routes: []Route{withProto(host(a, 2, dev(idxEth1)), ProtoProxyarp)},
			links:  withLinks(Link{Index: idxEth1, Name: "eth1", Up: true}),
			want:   Verdict{Reason: ReasonNoCarrier, Dev: "eth1", Metric: 2},
		},
		{
			name:   "a metric tie between proxyarp's route and a non-guest one is not owned",
			routes: []Route{withProto(host(a, 2, dev(idxEth1)), ProtoProxyarp), host(a, 2, dev(idxEth0))},
			want:   Verdict{Reason: ReasonNotGuest, Dev: "eth0", Metric: 2},
		},
		{
			name:   "custom globs can make eth1 a guest interface",
			routes: []Route{host(a, 0, dev(idxEth1))},
			guests: "eth1",
			want:   Verdict{Reason: ReasonOwned, Dev: "eth1"},
		},
		{
			name:   "a metric tie between a vif and eth1 is not owned",
			routes: []Route{host(a, 10, dev(idxVif1)), host(a, 10, dev(idxEth1))},
			want:   Verdict{Reason: ReasonNotGuest, Dev: "eth1", Metric: 10},
		},
		{
			name:   "a metric tie between two vifs is owned",
			routes: []Route{host(a, 10, dev(idxVif1)), host(a, 10, dev(idxVif2))},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0,vif2.0", Metric: 10},
		},
		{
			name:   "a lower metric via the vif beats a higher one via eth1",
			routes: []Route{host(a, 20, dev(idxEth1)), host(a, 10, dev(idxVif1))},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0", Metric: 10},
		},
		{
			name:   "a lower metric via eth1 beats a higher one via the vif",
			routes: []Route{host(a, 20, dev(idxVif1)), host(a, 10, dev(idxEth1))},
			want:   Verdict{Reason: ReasonNotGuest, Dev: "eth1", Metric: 10},
		},
		{
			name:   "a lower-metric blackhole is not owned",
			routes: []Route{host(a, 10, dev(idxVif1)), withType(host(a, 5), unix.RTN_BLACKHOLE)},
			want:   Verdict{Reason: ReasonNotUnicast, Metric: 5},
		},
		{
			name:   "an unreachable route with the same metric is not owned",
			routes: []Route{host(a, 10, dev(idxVif1)), withType(host(a, 10), unix.RTN_UNREACHABLE)},
			want:   Verdict{Reason: ReasonNotUnicast, Metric: 10},
		},
		{
			name:   "a higher-metric blackhole does not matter",
			routes: []Route{withType(host(a, 50), unix.RTN_BLACKHOLE), host(a, 10, dev(idxVif1))},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0", Metric: 10},
		},
		{
			name:   "a multipath route with only guest nexthops is owned",
			routes: []Route{host(a, 0, dev(idxVif1), dev(idxTap3))},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0,tap3.0"},
		},
		{
			name:   "a multipath route with one non-guest nexthop is not owned",
			routes: []Route{host(a, 0, dev(idxVif1), dev(idxEth1))},
			want:   Verdict{Reason: ReasonNotGuest, Dev: "eth1"},
		},
		{
			name:   "a multipath route with a dead nexthop is not owned",
			routes: []Route{host(a, 0, dev(idxVif1), Nexthop{LinkIndex: idxVif2, Dead: true})},
			want:   Verdict{Reason: ReasonLinkDown, Dev: "vif2.0"},
		},
		{
			name:   "a nexthop flagged linkdown is not owned",
			routes: []Route{host(a, 0, Nexthop{LinkIndex: idxVif1, LinkDown: true})},
			want:   Verdict{Reason: ReasonNoCarrier, Dev: "vif1.0"},
		},
		{
			name:   "a vif without carrier is not owned",
			routes: []Route{host(a, 0, dev(idxVif1))},
			links:  withLinks(Link{Index: idxVif1, Name: "vif1.0", Up: true}),
			want:   Verdict{Reason: ReasonNoCarrier, Dev: "vif1.0"},
		},
		{
			name:   "an administratively down vif is not owned",
			routes: []Route{host(a, 0, dev(idxVif1))},
			links:  withLinks(Link{Index: idxVif1, Name: "vif1.0", Carrier: true}),
			want:   Verdict{Reason: ReasonLinkDown, Dev: "vif1.0"},
		},
		{
			name:   "a route through an unknown link is not owned",
			routes: []Route{host(a, 0, dev(42))},
			want:   Verdict{Reason: ReasonUnknownLink, Dev: "#42"},
		},
		{
			name:   "a unicast route without a device is not owned",
			routes: []Route{host(a, 0)},
			want:   Verdict{Reason: ReasonUnknownLink},
		},
		{
			name:   "a host address is not owned",
			routes: []Route{host(a, 0, dev(idxVif1))},
			local:  true,
			want:   Verdict{Reason: ReasonLocal, Dev: "vif1.0"},
		},
		{
			name:   "an address outside the allow list is not owned",
			routes: []Route{host(a, 0, dev(idxVif1))},
			allow:  []netip.Prefix{mustPrefix("198.51.100.0/24")},
			want:   Verdict{Reason: ReasonNotAllowed, Dev: "vif1.0"},
		},
		{
			name:   "an address inside one of the allowed prefixes is owned",
			routes: []Route{host(a, 0, dev(idxVif1))},
			allow:  []netip.Prefix{mustPrefix("198.51.100.0/24"), mustPrefix("192.0.2.0/25")},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0"},
		},
		{
			name:   "a /24 routed to a vif owns none of its addresses",
			routes: []Route{withDst(host(a, 0, dev(idxVif1)), "192.0.2.0/24")},
			want:   Verdict{Reason: ReasonNoRoute},
		},
		{
			name:   "a /32 in another table is ignored",
			routes: []Route{withTable(host(a, 0, dev(idxVif1)), 100)},
			want:   Verdict{Reason: ReasonNoRoute},
		},
		{
			name:   "a lower-metric /32 via eth1 in another table does not matter",
			routes: []Route{withTable(host(a, 0, dev(idxEth1)), 100), host(a, 10, dev(idxVif1))},
			want:   Verdict{Reason: ReasonOwned, Dev: "vif1.0", Metric: 10},
		},
		{
			name:   "a route to another address is ignored",
			routes: []Route{host("192.0.2.11", 0, dev(idxVif1))},
			want:   Verdict{Reason: ReasonNoRoute},
		},
		{
			name: "no route at all is not owned",
			want: Verdict{Reason: ReasonNoRoute},
		},
		{
			name:   "an IPv6 address is not owned by a route to an IPv4 one",
			addr:   "2001:db8::1",
			routes: []Route{host(a, 0, dev(idxVif1))},
			want:   Verdict{Reason: ReasonNoRoute},
		},
	}
	// Every case runs for IPv4 (/32 routes) and for its IPv6 twin (/128
	// routes, see to6Addr): the rule is the same.
	for _, tt := range tests {
		for _, v6 := range []bool{false, true} {
			name := tt.name
			if v6 {
				name += " (IPv6)"
			}
			t.Run(name, func(t *testing.T) {
				globs := tt.guests
				if globs == "" {
					globs = DefaultGlobs
				}
				g, err := ParseGlobs(globs)
				if err != nil {
					t.Fatal(err)
				}
				if tt.links == nil {
					tt.links = links
				}
				if tt.addr == "" {
					tt.addr = a
				}
				addr, routes, allow := mustAddr(tt.addr), tt.routes, tt.allow
				if v6 {
					addr, routes, allow = to6Addr(addr), to6Routes(routes), to6Prefixes(allow)
				}
				r := Rule{Guests: g, Allow: allow}
				got := r.Explain(addr, routes, tt.links, tt.local)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Explain(%v) (-want +got):\n%s", addr, diff)
				}
			})
		}
	}
}

func TestReasonStrings(t *testing.T) {
	seen := map[string]Reason{}
	for r := ReasonOwned; r <= ReasonNotAllowed; r++ {
		s := r.String()
		if s == "" || s[0] == 'R' {
			t.Errorf("Reason %d has no label: %q", int(r), s)
		}
		if other, dup := seen[s]; dup {
			t.Errorf("Reasons %d and %d share the label %q", int(other), int(r), s)
		}
		seen[s] = r
	}
}

func TestExplainNeverOwnsRoutesBackOutTheUplink(t *testing.T) {
	const a = "192.0.2.10"
	links := linkMap(testLinks()...)
	guests, err := ParseGlobs("vif*,tap*,eth*") // even when a glob matches the uplink
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		route Route
	}{
		{"a plain route via the uplink", host(a, 0, dev(idxEth0))},
		{"proxyarp's own route via the uplink", withProto(host(a, 0, dev(idxEth0)), ProtoProxyarp)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Rule{Guests: guests, Uplink: "eth0"}.Explain(mustAddr(a), []Route{tt.route}, links, false)
			if want := (Verdict{Reason: ReasonNotGuest, Dev: "eth0"}); got != want {
				t.Errorf("Explain = %+v, want %+v", got, want)
			}
			// Without Uplink (replay of a file that names none) the old
			// rule holds: the glob decides.
			if got := (Rule{Guests: guests}).Explain(mustAddr(a), []Route{tt.route}, links, false); !got.Owned() {
				t.Errorf("without Uplink, Explain = %+v, want owned", got)
			}
		})
	}
}
