package routes_test

import (
	"context"
	"errors"
	"github.com/proxyarp/proxyarp/routes"
	"github.com/proxyarp/proxyarp/routes/routestest"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeHost is a FakeKernel with an uplink eth0 (192.0.2.1/24) and guest
// devices vif1.0, vif1.0-emu and vif2.0, all down (as netback creates them).
func fakeHost() *routestest.FakeKernel {
	k := routestest.NewFakeKernel()
	k.AddLink(routes.Link{Name: "eth0", Up: true, Carrier: true}, netip.MustParsePrefix("192.0.2.1/24"))
	k.AddLink(routes.Link{Name: "vif1.0"})
	k.AddLink(routes.Link{Name: "vif1.0-emu"})
	k.AddLink(routes.Link{Name: "vif2.0"})
	return k
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func ours(dst, dev string, metric int) routes.KernelRoute {
	return routes.KernelRoute{
		Dst: netip.MustParsePrefix(dst), Dev: dev, Src: netip.MustParseAddr("192.0.2.1"),
		Metric: metric, Protocol: routes.ProtoProxyarp,
	}
}

func TestManagerPlug(t *testing.T) {
	prep := []string{
		"addr add 192.0.2.1/32 dev vif1.0",
		"link set vif1.0 up",
		"sysctl net/ipv4/conf/vif1.0/proxy_arp=1",
		"sysctl net/ipv4/neigh/vif1.0/proxy_delay=0",
	}
	tests := []struct {
		name       string
		setup      func(*routestest.FakeKernel)
		spec       routes.PlugSpec
		wantErr    string // substring; "" for success
		wantOps    []string
		wantRoutes []string
	}{
		{
			name: "two addresses are routed to the vif with our proto",
			spec: routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32", "192.0.2.3/32"), Metric: 2},
			wantOps: append(prep,
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
			},
		},
		{
			name: "a second plug of the same routes converges",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.2/32", "vif1.0", 2))
			},
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32"), Metric: 2},
			wantOps:    append(prep, "route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
		},
		{
			name: "our route with another metric on the same device is replaced",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.2/32", "vif1.0", 5))
			},
			spec: routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32"), Metric: 2},
			wantOps: append(prep,
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 5 proto proxyarp"),
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
		},
		{
			name: "the emulated twin's route at another metric is kept beside ours",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.2/32", "vif1.0-emu", 1))
			},
			spec:    routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32"), Metric: 2},
			wantOps: append(prep, "route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0-emu src 192.0.2.1 metric 1 proto proxyarp",
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
			},
		},
		{
			name: "an address routed to another guest is refused before anything changes",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.3/32", "vif2.0", 2))
			},
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32", "192.0.2.3/32"), Metric: 2},
			wantErr:    "192.0.2.3/32 is already routed to another device: 192.0.2.3/32 dev vif2.0 src 192.0.2.1 metric 2 proto proxyarp",
			wantRoutes: []string{"192.0.2.3/32 dev vif2.0 src 192.0.2.1 metric 2 proto proxyarp"},
		},
		{
			name: "a route on the same device that is not ours is refused",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("192.0.2.2/32"), Dev: "vif1.0", Metric: 2, Protocol: unix.RTPROT_BOOT})
			},
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32"), Metric: 2},
			wantErr:    "192.0.2.2/32 is already routed: 192.0.2.2/32 dev vif1.0 metric 2 proto boot (not installed by proxyarp",
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 metric 2 proto boot"},
		},
		{
			name:       "an entry equal to the host's address is refused",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32", "192.0.2.1/32"), Metric: 2},
			wantErr:    "entry 192.0.2.1/32 is the host's own address",
			wantRoutes: []string{},
		},
		{
			name:       "an entry containing the host's address is refused",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.0/28"), Metric: 2},
			wantErr:    "entry 192.0.2.0/28 contains the host's own address 192.0.2.1",
			wantRoutes: []string{},
		},
		{
			name:       "an entry with host bits set is refused",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("198.51.100.5/24"), Metric: 2},
			wantErr:    "entry 198.51.100.5/24 has host bits set (did you mean 198.51.100.0/24?)",
			wantRoutes: []string{},
		},
		{
			name:       "a missing device is refused",
			spec:       routes.PlugSpec{Dev: "vif9.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32"), Metric: 2},
			wantErr:    "plug vif9.0: device vif9.0: no such network device",
			wantRoutes: []string{},
		},
		{
			name: "a prefix shorter than /32 is installed",
			spec: routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("198.51.100.0/28"), Metric: 2},
			wantOps: append(prep,
				"route replace 198.51.100.0/28 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{"198.51.100.0/28 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
		},
		{
			name: "a failing route removes the routes added before it",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.2/32", "vif1.0", 2))
				k.Fail = func(op string) error {
					if strings.HasPrefix(op, "route replace 192.0.2.4/32") {
						return unix.ENOBUFS
					}
					return nil
				}
			},
			spec:    routes.PlugSpec{Dev: "vif1.0", Src: netip.MustParseAddr("192.0.2.1"), Entries: prefixes("192.0.2.2/32", "192.0.2.3/32", "192.0.2.4/32"), Metric: 2},
			wantErr: "add route 192.0.2.4/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp: no buffer space available",
			wantOps: append(prep,
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route del 192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			// The route that was there before stays.
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := fakeHost()
			if tt.setup != nil {
				tt.setup(k)
			}
			m := &routes.Manager{Kernel: k, Log: slog.New(slog.DiscardHandler)}
			err := m.Plug(context.Background(), tt.spec)
			checkErr(t, "Plug", err, tt.wantErr)
			if diff := cmp.Diff(tt.wantOps, k.Ops()); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			want := tt.wantRoutes
			if diff := cmp.Diff(want, k.Routes()); diff != "" {
				t.Errorf("routes after Plug (-want +got):\n%s", diff)
			}
		})
	}
}

func checkErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("%s = %v, want success", what, err)
	case want != "" && err == nil:
		t.Fatalf("%s succeeded, want an error containing %q", what, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("%s = %q, want an error containing %q", what, err, want)
	}
}

func TestManagerUnplug(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(*routestest.FakeKernel)
		spec       routes.UnplugSpec
		wantErr    string
		wantOps    []string
		wantRoutes []string
	}{
		{
			name: "our routes to the entries are removed and the device set down",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.2/32", "vif1.0", 2))
				k.AddRoute(ours("192.0.2.3/32", "vif1.0", 2))
				k.AddRoute(ours("192.0.2.2/32", "vif1.0-emu", 1))
			},
			spec: routes.UnplugSpec{Dev: "vif1.0", Entries: prefixes("192.0.2.2/32", "192.0.2.3/32"), Down: true},
			wantOps: []string{
				"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route del 192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"link set vif1.0 down",
			},
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0-emu src 192.0.2.1 metric 1 proto proxyarp"},
		},
		{
			name: "a route that is not ours is left alone",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("192.0.2.2/32"), Dev: "vif1.0", Metric: 2, Protocol: unix.RTPROT_BOOT})
			},
			spec:       routes.UnplugSpec{Dev: "vif1.0", Entries: prefixes("192.0.2.2/32")},
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 metric 2 proto boot"},
		},
		{
			name:       "routes already gone are fine",
			spec:       routes.UnplugSpec{Dev: "vif1.0", Entries: prefixes("192.0.2.2/32"), Down: true},
			wantOps:    []string{"link set vif1.0 down"},
			wantRoutes: []string{},
		},
		{
			name:       "a device that is already gone is fine",
			spec:       routes.UnplugSpec{Dev: "vif9.0", Entries: prefixes("192.0.2.2/32"), Down: true},
			wantRoutes: []string{},
		},
		{
			name: "a failing delete is reported and the other entries still removed",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.2/32", "vif1.0", 2))
				k.AddRoute(ours("192.0.2.3/32", "vif1.0", 2))
				k.Fail = func(op string) error {
					if strings.HasPrefix(op, "route del 192.0.2.2/32") {
						return unix.EPERM
					}
					return nil
				}
			},
			spec:       routes.UnplugSpec{Dev: "vif1.0", Entries: prefixes("192.0.2.2/32", "192.0.2.3/32")},
			wantErr:    "delete route 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp: operation not permitted",
			wantOps:    []string{"route del 192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := fakeHost()
			if tt.setup != nil {
				tt.setup(k)
			}
			m := &routes.Manager{Kernel: k, Log: slog.New(slog.DiscardHandler)}
			err := m.Unplug(context.Background(), tt.spec)
			checkErr(t, "Unplug", err, tt.wantErr)
			if diff := cmp.Diff(tt.wantOps, k.Ops()); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRoutes, k.Routes()); diff != "" {
				t.Errorf("routes after Unplug (-want +got):\n%s", diff)
			}
		})
	}
}

func TestManagerMainIP(t *testing.T) {
	k := fakeHost()
	k.AddLink(routes.Link{Name: "eth1", Up: true})
	m := &routes.Manager{Kernel: k}
	tests := []struct {
		name, dev, want, wantErr string
	}{
		{name: "the uplink's first address is the main IP", dev: "eth0", want: "192.0.2.1"},
		{name: "a device without IPv4 is an error", dev: "eth1", wantErr: "gateway device eth1 has no IPv4 address"},
		{name: "a missing device is an error", dev: "eth7", wantErr: "gateway device eth7 does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.MainIP(tt.dev)
			checkErr(t, "MainIP", err, tt.wantErr)
			if tt.want != "" && got != netip.MustParseAddr(tt.want) {
				t.Errorf("MainIP(%s) = %v, want %s", tt.dev, got, tt.want)
			}
		})
	}
}

func TestManagerRename(t *testing.T) {
	k := fakeHost()
	m := &routes.Manager{Kernel: k}
	if err := m.Rename("vif1.0", "vif2.0"); err == nil || !strings.Contains(err.Error(), "a device called vif2.0 already exists") {
		t.Errorf("Rename onto an existing name = %v, want a refusal naming vif2.0", err)
	}
	if err := m.Rename("vif1.0", "web0"); err != nil {
		t.Fatalf("Rename = %v", err)
	}
	if diff := cmp.Diff([]string{"link set vif1.0 name web0"}, k.Ops()); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
}

func TestManagerManagedListsOnlyOurRoutes(t *testing.T) {
	k := fakeHost()
	k.AddRoute(ours("192.0.2.9/32", "vif2.0", 2))
	k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("192.0.2.5/32"), Dev: "vif1.0", Protocol: unix.RTPROT_BOOT})
	k.AddRoute(ours("192.0.2.2/32", "vif1.0", 2))
	m := &routes.Manager{Kernel: k}
	got, err := m.Managed()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range got {
		lines = append(lines, r.String())
	}
	want := []string{
		"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
		"192.0.2.9/32 dev vif2.0 src 192.0.2.1 metric 2 proto proxyarp",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("Managed (-want +got):\n%s", diff)
	}
}

func TestFakeKernelDeleteOfMissingRouteIsESRCH(t *testing.T) {
	k := fakeHost()
	err := k.DeleteRoute(ours("192.0.2.2/32", "vif1.0", 2))
	if !errors.Is(err, unix.ESRCH) {
		t.Errorf("DeleteRoute of a missing route = %v, want ESRCH", err)
	}
}

// fakeHost6 is fakeHost with IPv6 on eth0: a link-local address, then
// 2001:db8::1/64 (MAIN_IP6).
func fakeHost6() *routestest.FakeKernel {
	k := routestest.NewFakeKernel()
	k.AddLink(routes.Link{Name: "eth0", Up: true, Carrier: true}, prefixes("192.0.2.1/24", "fe80::1:1/64", "2001:db8::1/64")...)
	k.AddLink(routes.Link{Name: "vif1.0"})
	k.AddLink(routes.Link{Name: "vif1.0-emu"})
	k.AddLink(routes.Link{Name: "vif2.0"})
	return k
}

func ours6(dst, dev string, metric int) routes.KernelRoute {
	r := ours(dst, dev, metric)
	r.Src = netip.MustParseAddr("2001:db8::1")
	return r
}

func TestManagerPlugIPv6(t *testing.T) {
	src, src6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	gw := netip.MustParsePrefix("fe80::1/64")
	prep := []string{
		"addr add 192.0.2.1/32 dev vif1.0",
		"sysctl net/ipv6/conf/vif1.0/disable_ipv6=0",
		"sysctl net/ipv6/conf/vif1.0/accept_ra=0",
		"link set vif1.0 up",
		"sysctl net/ipv4/conf/vif1.0/proxy_arp=1",
		"sysctl net/ipv4/neigh/vif1.0/proxy_delay=0",
		"addr add fe80::1/64 dev vif1.0 nodad",
	}
	tests := []struct {
		name       string
		setup      func(*routestest.FakeKernel)
		spec       routes.PlugSpec
		wantErr    string // substring; "" for success
		wantOps    []string
		wantRoutes []string
	}{
		{
			name: "a mixed list routes IPv4 and IPv6 entries, a /128 and a /64, with their own sources",
			spec: routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: gw, Metric: 2,
				Entries: prefixes("192.0.2.2/32", "2001:db8:1::2/128", "2001:db8:2::/64")},
			wantOps: append(slices.Clone(prep),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"route replace 2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
			},
		},
		{
			name: "an IPv6-only list leaves the device's IPv4 alone when there is no MAIN_IP",
			spec: routes.PlugSpec{Dev: "vif1.0", Src6: src6, Gateway6: gw, Metric: 2, Entries: prefixes("2001:db8:1::2/128")},
			wantOps: []string{
				"sysctl net/ipv6/conf/vif1.0/disable_ipv6=0",
				"sysctl net/ipv6/conf/vif1.0/accept_ra=0",
				"link set vif1.0 up",
				"addr add fe80::1/64 dev vif1.0 nodad",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
			},
			wantRoutes: []string{"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp"},
		},
		{
			name:       "without MAIN_IP6 the IPv6 routes have no source",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: src, Gateway6: gw, Metric: 2, Entries: prefixes("2001:db8:1::2/128")},
			wantOps:    append(slices.Clone(prep), "route replace 2001:db8:1::2/128 dev vif1.0 metric 2 proto proxyarp"),
			wantRoutes: []string{"2001:db8:1::2/128 dev vif1.0 metric 2 proto proxyarp"},
		},
		{
			name: "a second plug converges",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(ours("192.0.2.2/32", "vif1.0", 2))
				k.AddRoute(ours6("2001:db8:1::2/128", "vif1.0", 2))
			},
			spec: routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: gw, Metric: 2, Entries: prefixes("192.0.2.2/32", "2001:db8:1::2/128")},
			wantOps: append(slices.Clone(prep),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
			},
		},
		{
			name:       "MAIN_IP6 itself is refused before anything changes",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: gw, Metric: 2, Entries: prefixes("192.0.2.2/32", "2001:db8::1/128")},
			wantErr:    "entry 2001:db8::1/128 is the host's own address (MAIN_IP6)",
			wantRoutes: []string{},
		},
		{
			name:       "a prefix containing MAIN_IP6 is refused",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: gw, Metric: 2, Entries: prefixes("2001:db8::/48")},
			wantErr:    "entry 2001:db8::/48 contains the host's own address 2001:db8::1 (MAIN_IP6)",
			wantRoutes: []string{},
		},
		{
			name:       "a link-local entry is refused",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: gw, Metric: 2, Entries: prefixes("fe80::2/128")},
			wantErr:    "entry fe80::2/128 is not a global unicast IPv6 address",
			wantRoutes: []string{},
		},
		{
			name:       "a global gateway address is refused",
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: netip.MustParsePrefix("2001:db8:1::1/64"), Metric: 2, Entries: prefixes("2001:db8:1::2/128")},
			wantErr:    "IPv6 gateway 2001:db8:1::1/64 is not a link-local IPv6 address",
			wantRoutes: []string{},
		},
		{
			name: "an IPv6 entry routed by someone else is refused, naming the route",
			setup: func(k *routestest.FakeKernel) {
				k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("2001:db8:1::2/128"), Dev: "vif2.0", Metric: 1024, Protocol: unix.RTPROT_BOOT})
			},
			spec:       routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: gw, Metric: 2, Entries: prefixes("192.0.2.2/32", "2001:db8:1::2/128")},
			wantErr:    "2001:db8:1::2/128 is already routed: 2001:db8:1::2/128 dev vif2.0 metric 1024 proto boot",
			wantRoutes: []string{"2001:db8:1::2/128 dev vif2.0 metric 1024 proto boot"},
		},
		{
			name: "a failed IPv6 route rolls back the IPv4 and IPv6 routes added before it",
			setup: func(k *routestest.FakeKernel) {
				k.Fail = func(op string) error {
					if strings.Contains(op, "2001:db8:1::3/128") {
						return unix.ENOMEM
					}
					return nil
				}
			},
			spec:    routes.PlugSpec{Dev: "vif1.0", Src: src, Src6: src6, Gateway6: gw, Metric: 2, Entries: prefixes("192.0.2.2/32", "2001:db8:1::2/128", "2001:db8:1::3/128")},
			wantErr: "add route 2001:db8:1::3/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp: cannot allocate memory",
			wantOps: append(slices.Clone(prep),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"route del 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := fakeHost6()
			if tt.setup != nil {
				tt.setup(k)
			}
			var logs strings.Builder
			m := &routes.Manager{Kernel: k, Log: slog.New(slog.NewTextHandler(&logs, nil))}
			err := m.Plug(context.Background(), tt.spec)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Plug: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Plug error = %v, want it to contain %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantOps, k.Ops()); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRoutes, k.Routes()); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			for _, e := range tt.spec.Entries {
				if err == nil && e.Addr().Is6() && e.Bits() != 128 && !strings.Contains(logs.String(), "not a /128") {
					t.Errorf("no warning for %s; log:\n%s", e, logs.String())
				}
			}
		})
	}
}

func TestManagerUnplugIPv6(t *testing.T) {
	k := fakeHost6()
	k.AddRoute(ours("192.0.2.2/32", "vif1.0", 2))
	k.AddRoute(ours6("2001:db8:1::2/128", "vif1.0", 2))
	k.AddRoute(ours6("2001:db8:2::/64", "vif1.0", 2))
	m := &routes.Manager{Kernel: k}
	// 2001:db8:1::3 is already gone: fine.
	spec := routes.UnplugSpec{Dev: "vif1.0", Entries: prefixes("192.0.2.2/32", "2001:db8:1::2/128", "2001:db8:1::3/128", "2001:db8:2::/64")}
	if err := m.Unplug(context.Background(), spec); err != nil {
		t.Fatalf("Unplug: %v", err)
	}
	want := []string{
		"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
		"route del 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
		"route del 2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
	}
	if diff := cmp.Diff(want, k.Ops()); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	if err := m.Unplug(context.Background(), spec); err != nil {
		t.Fatalf("second Unplug: %v", err)
	}
}

func TestManagerMainIP6(t *testing.T) {
	tests := []struct {
		name    string
		addrs   []string
		flags   map[string]uint32
		want    string
		wantErr error
	}{
		{name: "the first global address, after the link-local one", addrs: []string{"fe80::1:1/64", "2001:db8::1/64", "2001:db8::2/64"}, want: "2001:db8::1"},
		{name: "a tentative address is skipped", addrs: []string{"2001:db8::1/64", "2001:db8::2/64"}, flags: map[string]uint32{"2001:db8::1/64": unix.IFA_F_TENTATIVE}, want: "2001:db8::2"},
		{name: "a deprecated address only when there is no other", addrs: []string{"2001:db8::1/64", "2001:db8::2/64"}, flags: map[string]uint32{"2001:db8::1/64": unix.IFA_F_DEPRECATED}, want: "2001:db8::2"},
		{name: "a deprecated address rather than none", addrs: []string{"2001:db8::1/64"}, flags: map[string]uint32{"2001:db8::1/64": unix.IFA_F_DEPRECATED}, want: "2001:db8::1"},
		{name: "a temporary address and a failed one are skipped", addrs: []string{"2001:db8::9/64", "2001:db8::8/64"}, flags: map[string]uint32{"2001:db8::9/64": unix.IFA_F_TEMPORARY, "2001:db8::8/64": unix.IFA_F_DADFAILED}, wantErr: routes.ErrNoGlobalIPv6},
		{name: "link-local only is no MAIN_IP6", addrs: []string{"192.0.2.1/24", "fe80::1:1/64"}, wantErr: routes.ErrNoGlobalIPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := routestest.NewFakeKernel()
			k.AddLink(routes.Link{Name: "eth0", Up: true}, prefixes(tt.addrs...)...)
			for p, f := range tt.flags {
				k.SetAddrFlags(netip.MustParsePrefix(p), f)
			}
			got, err := (&routes.Manager{Kernel: k}).MainIP6("eth0")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("MainIP6 = %v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("MainIP6 = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}
