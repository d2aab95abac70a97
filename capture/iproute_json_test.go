package capture

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
)

var routeCmp = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// TestReadRoutesJSONMeansTheSameAsText: testdata/routes.json is what `ip -j
// route` prints for the table of testdata/routes.txt; both parse to the
// same table.
func TestReadRoutesJSONMeansTheSameAsText(t *testing.T) {
	read := func(path string) RouteTable {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		table, err := ReadRoutes(f, path)
		if err != nil {
			t.Fatalf("ReadRoutes(%s): %v", path, err)
		}
		return table
	}
	text, js := read("testdata/routes.txt"), read("testdata/routes.json")
	if diff := cmp.Diff(text, js, routeCmp...); diff != "" {
		t.Errorf("routes.json parses differently from routes.txt (-text +json):\n%s", diff)
	}
}

func TestParseRoutesJSONEntries(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []routes.Route
	}{
		{
			name: "a proto-proxyarp route of another table, by name and number",
			json: `[{"dst":"192.0.2.11","dev":"g11","table":"100","protocol":"proxyarp"},{"dst":"192.0.2.12","dev":"g11","table":7,"protocol":213}]`,
			want: []routes.Route{
				{Dst: netip.MustParsePrefix("192.0.2.11/32"), Table: 100, Type: unix.RTN_UNICAST, Protocol: routes.ProtoProxyarp, Nexthops: []routes.Nexthop{{LinkIndex: 1}}},
				{Dst: netip.MustParsePrefix("192.0.2.12/32"), Table: 7, Type: unix.RTN_UNICAST, Protocol: routes.ProtoProxyarp, Nexthops: []routes.Nexthop{{LinkIndex: 1}}},
			},
		},
		{
			name: "unreachable and prohibit are types; local table by name",
			json: ` [{"type":"unreachable","dst":"192.0.2.81"},{"type":"prohibit","dst":"192.0.2.82/32","table":"local"}]`,
			want: []routes.Route{
				{Dst: netip.MustParsePrefix("192.0.2.81/32"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNREACHABLE},
				{Dst: netip.MustParsePrefix("192.0.2.82/32"), Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_PROHIBIT},
			},
		},
		{
			name: "a single route's flags and a via gateway stay on its nexthop; unknown protocol names are not proxyarp",
			json: `[{"dst":"192.0.2.3","via":{"family":"inet","host":"198.51.100.1"},"dev":"vif1.0","protocol":"bird2","flags":["linkdown","onlink"]}]`,
			want: []routes.Route{
				{Dst: netip.MustParsePrefix("192.0.2.3/32"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Protocol: -1,
					Nexthops: []routes.Nexthop{{LinkIndex: 1, Gw: netip.MustParseAddr("198.51.100.1"), LinkDown: true}}},
			},
		},
		{
			name: "multipath nexthops keep dead",
			json: `[{"dst":"192.0.2.9","metric":5,"nexthops":[{"dev":"vif2.0","flags":["dead"]},{"gateway":"198.51.100.1","dev":"vif3.0"}]}]`,
			want: []routes.Route{
				{Dst: netip.MustParsePrefix("192.0.2.9/32"), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Priority: 5,
					Nexthops: []routes.Nexthop{{LinkIndex: 1, Dead: true}, {LinkIndex: 2, Gw: netip.MustParseAddr("198.51.100.1")}}},
			},
		},
		{
			name: "an empty table",
			json: "[ ]\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadRoutes(strings.NewReader(tt.json), "routes.json")
			if err != nil {
				t.Fatalf("ReadRoutes: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Routes, routeCmp...); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRoutesJSONErrorsNameFileAndEntry(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{"a bad destination is named", `[{"dst":"192.0.2.2","dev":"a"},{"dst":"192.0.2.300","dev":"b"}]`, `routes.json: entry 2: bad destination "192.0.2.300"`},
		{"an IPv4-mapped route is refused", `[{"dst":"::ffff:192.0.2.0/120","dev":"eth0"}]`, `routes.json: entry 1: destination "::ffff:192.0.2.0/120" is neither IPv4 nor plain IPv6`},
		{"a missing destination is refused", `[{"dev":"eth0"}]`, "entry 1: no destination"},
		{"an unknown type is refused", `[{"type":"sideways","dst":"192.0.2.2"}]`, `entry 1: unknown route type "sideways"`},
		{"a bad gateway is named", `[{"dst":"192.0.2.2","gateway":"nowhere","dev":"eth0"}]`, `entry 1: bad gateway "nowhere"`},
		{"a nexthop without dev is refused", `[{"dst":"192.0.2.9","nexthops":[{"dev":"a"},{"gateway":"198.51.100.1"}]}]`, "entry 1: nexthop 2 without dev"},
		{"a metric of the wrong type is named", `[{"dst":"192.0.2.2","metric":"high"}]`, "entry 1: json: cannot unmarshal string"},
		{"an entry that is not an object is named", `[{"dst":"192.0.2.2"}, 7]`, "entry 2: json: cannot unmarshal number"},
		{"broken JSON is refused", `[{"dst":"192.0.2.2"`, "routes.json: not a JSON array of routes"},
		{"text after the array is refused", `[] []`, "routes.json: text after the JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadRoutes(strings.NewReader(tt.json), "routes.json")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReadRoutes error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParseRoutesJSON feeds arbitrary text to the `ip -j route` parser and
// the rule: no panic, errors name the file, and every nexthop names a link
// of the table. Seeds: testdata/routes.json and
// testdata/fuzz/FuzzParseRoutesJSON.
func FuzzParseRoutesJSON(f *testing.F) {
	f.Add(mustRead(f, "testdata/routes.json"))
	f.Add(`[{"type":"blackhole","dst":"192.0.2.80","flags":[]}]`)
	f.Fuzz(func(t *testing.T, text string) {
		table, err := ParseRoutesJSON(strings.NewReader(text), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, rt := range table.Routes {
			if a := rt.Dst.Addr(); a.Is4In6() || a.Zone() != "" || rt.Dst != rt.Dst.Masked() {
				t.Fatalf("route %v is neither IPv4 nor plain IPv6, or not masked", rt)
			}
			for _, nh := range rt.Nexthops {
				if _, ok := table.Links[nh.LinkIndex]; !ok {
					t.Fatalf("route %v names link %d, not in the table", rt, nh.LinkIndex)
				}
			}
		}
		table.Owned(routesRule(), genLocal)
	})
}
