package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
	"github.com/proxyarp/proxyarp/routes/routestest"
)

// snapSource is a routes.Source that only dumps a fixed snapshot.
type snapSource struct{ snap routes.Snapshot }

func (s snapSource) Subscribe(context.Context) (routes.Subscription, error) {
	return nil, errors.New("not supported")
}

func (s snapSource) Dump(context.Context) (routes.Snapshot, error) { return s.snap, nil }

func routeTestDeps(k *routestest.FakeKernel, snap routes.Snapshot) routeDeps {
	return routeDeps{
		kernel: func() (routes.Kernel, func(), error) { return k, func() {}, nil },
		source: func() (routes.Source, func(), error) { return snapSource{snap}, func() {}, nil },
		log:    slog.New(slog.DiscardHandler),
	}
}

func TestRouteCommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		kernel     func(*routestest.FakeKernel)
		wantErr    string
		wantUsage  bool
		wantOps    []string
		wantRoutes []string
	}{
		{
			name:       "add installs the route with the gateway device's address as source",
			args:       []string{"add", "192.0.2.2", "dev", "tap101i0", "--gateway-dev", "eth0", "--metric", "1"},
			wantOps:    []string{"route replace 192.0.2.2/32 dev tap101i0 src 192.0.2.1 metric 1 proto proxyarp"},
			wantRoutes: []string{"192.0.2.2/32 dev tap101i0 src 192.0.2.1 metric 1 proto proxyarp"},
		},
		{
			name:       "add with --src= and no metric uses metric 0",
			args:       []string{"add", "198.51.100.0/28", "dev", "tap101i0", "--src=192.0.2.1"},
			wantOps:    []string{"route replace 198.51.100.0/28 dev tap101i0 src 192.0.2.1 metric 0 proto proxyarp"},
			wantRoutes: []string{"198.51.100.0/28 dev tap101i0 src 192.0.2.1 metric 0 proto proxyarp"},
		},
		{
			name:       "add without a source installs a route without src",
			args:       []string{"add", "192.0.2.2/32", "dev", "tap101i0"},
			wantOps:    []string{"route replace 192.0.2.2/32 dev tap101i0 metric 0 proto proxyarp"},
			wantRoutes: []string{"192.0.2.2/32 dev tap101i0 metric 0 proto proxyarp"},
		},
		{
			name: "add over someone else's route is refused",
			args: []string{"add", "192.0.2.2", "dev", "tap101i0"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("192.0.2.2/32"), Dev: "tap101i0", Protocol: unix.RTPROT_BOOT})
			},
			wantErr:    "192.0.2.2/32 is already routed: 192.0.2.2/32 dev tap101i0 metric 0 proto boot",
			wantRoutes: []string{"192.0.2.2/32 dev tap101i0 metric 0 proto boot"},
		},
		{
			name:       "add of the source address itself is refused",
			args:       []string{"add", "192.0.2.1", "dev", "tap101i0", "--gateway-dev", "eth0"},
			wantErr:    "entry 192.0.2.1/32 is the host's own address",
			wantRoutes: []string{},
		},
		{
			name:       "add of an IPv6 address takes the gateway device's first global IPv6 address as source",
			args:       []string{"add", "2001:db8:1::2", "dev", "tap101i0", "--gateway-dev", "eth0", "--metric", "1"},
			wantOps:    []string{"route replace 2001:db8:1::2/128 dev tap101i0 src 2001:db8::1 metric 1 proto proxyarp"},
			wantRoutes: []string{"2001:db8:1::2/128 dev tap101i0 src 2001:db8::1 metric 1 proto proxyarp"},
		},
		{
			name:       "add of an IPv6 prefix with --src and no metric uses the kernel's 1024",
			args:       []string{"add", "2001:db8:2::/64", "dev", "tap101i0", "--src", "2001:db8::1"},
			wantOps:    []string{"route replace 2001:db8:2::/64 dev tap101i0 src 2001:db8::1 metric 1024 proto proxyarp"},
			wantRoutes: []string{"2001:db8:2::/64 dev tap101i0 src 2001:db8::1 metric 1024 proto proxyarp"},
		},
		{
			name: "adding the same IPv6 route again converges",
			args: []string{"add", "2001:db8:1::2", "dev", "tap101i0"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("2001:db8:1::2/128"), Dev: "tap101i0", Metric: 1024, Protocol: routes.ProtoProxyarp})
			},
			wantOps:    []string{"route replace 2001:db8:1::2/128 dev tap101i0 metric 1024 proto proxyarp"},
			wantRoutes: []string{"2001:db8:1::2/128 dev tap101i0 metric 1024 proto proxyarp"},
		},
		{
			name:       "add of an IPv6 address with an IPv4 source is a usage error",
			args:       []string{"add", "2001:db8:1::2", "dev", "tap101i0", "--src", "192.0.2.1"},
			wantErr:    "are not of the same family",
			wantUsage:  true,
			wantRoutes: []string{},
		},
		{
			name:       "add of MAIN_IP6 itself is refused",
			args:       []string{"add", "2001:db8::1", "dev", "tap101i0", "--gateway-dev", "eth0"},
			wantErr:    "entry 2001:db8::1/128 is the host's own address (MAIN_IP6)",
			wantRoutes: []string{},
		},
		{
			name:       "--gateway-dev without global IPv6 fails for an IPv6 route",
			args:       []string{"add", "2001:db8:1::2", "dev", "tap101i0", "--gateway-dev", "eth1"},
			wantErr:    "gateway device eth1: no usable global IPv6 address",
			wantRoutes: []string{},
		},
		{
			name: "del removes proxyarp's IPv6 route",
			args: []string{"del", "2001:db8:1::2/128", "dev", "tap101i0"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("2001:db8:1::2/128"), Dev: "tap101i0", Metric: 1024, Protocol: routes.ProtoProxyarp})
			},
			wantOps:    []string{"route del 2001:db8:1::2/128 dev tap101i0 metric 1024 proto proxyarp"},
			wantRoutes: []string{},
		},
		{
			name:       "del removes proxyarp's route",
			args:       []string{"del", "192.0.2.2", "dev", "vif1.0"},
			kernel:     func(k *routestest.FakeKernel) { k.AddRoute(routestest.GuestRoute("192.0.2.2/32", "vif1.0", 2)) },
			wantOps:    []string{"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
			wantRoutes: []string{},
		},
		{
			name: "del refuses a route proxyarp did not install",
			args: []string{"del", "192.0.2.2", "dev", "vif1.0"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("192.0.2.2/32"), Dev: "vif1.0", Protocol: unix.RTPROT_BOOT})
			},
			wantErr:    "no proxyarp route to 192.0.2.2/32 dev vif1.0",
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 metric 0 proto boot"},
		},
		{name: "no subcommand is a usage error", args: nil, wantErr: "missing add, del or list", wantUsage: true, wantRoutes: []string{}},
		{name: "an unknown subcommand is a usage error", args: []string{"flush"}, wantErr: `unknown subcommand "flush"`, wantUsage: true, wantRoutes: []string{}},
		{name: "a missing dev is a usage error", args: []string{"add", "192.0.2.2"}, wantErr: "missing dev IFACE", wantUsage: true, wantRoutes: []string{}},
		{name: "a missing address is a usage error", args: []string{"del", "dev", "vif1.0"}, wantErr: "missing ADDR[/LEN]", wantUsage: true, wantRoutes: []string{}},
		{name: "a bad address is a usage error", args: []string{"add", "192.0.2.300", "dev", "vif1.0"}, wantErr: `"192.0.2.300" is not an IPv4 or IPv6 address or prefix`, wantUsage: true, wantRoutes: []string{}},
		{name: "host bits in a prefix are a usage error", args: []string{"add", "192.0.2.5/24", "dev", "vif1.0"}, wantErr: "did you mean 192.0.2.0/24?", wantUsage: true, wantRoutes: []string{}},
		{name: "--src and --gateway-dev together are a usage error", args: []string{"add", "192.0.2.2", "dev", "vif1.0", "--src", "192.0.2.1", "--gateway-dev", "eth0"}, wantErr: "not both", wantUsage: true, wantRoutes: []string{}},
		{name: "a bad metric is a usage error", args: []string{"add", "192.0.2.2", "dev", "vif1.0", "--metric", "-1"}, wantErr: `--metric "-1"`, wantUsage: true, wantRoutes: []string{}},
		{name: "a flag of another subcommand is a usage error", args: []string{"del", "192.0.2.2", "dev", "vif1.0", "--metric", "2"}, wantErr: "unknown flag --metric", wantUsage: true, wantRoutes: []string{}},
		{name: "a flag without its value is a usage error", args: []string{"add", "192.0.2.2", "dev", "vif1.0", "--src"}, wantErr: "--src needs a value", wantUsage: true, wantRoutes: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := routestest.NewXenHost()
			k.AddLink(routes.Link{Name: "tap101i0", Up: true, Carrier: true})
			if tt.kernel != nil {
				tt.kernel(k)
			}
			err := runRoute(context.Background(), tt.args, &bytes.Buffer{}, routeTestDeps(k, routes.Snapshot{}))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("route %v = %v, want success", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("route %v = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			var uerr *usageError
			if got := errors.As(err, &uerr); got != tt.wantUsage {
				t.Errorf("usage error = %v, want %v (err %v)", got, tt.wantUsage, err)
			}
			if diff := cmp.Diff(tt.wantOps, k.Ops()); diff != "" {
				t.Errorf("kernel operations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRoutes, k.Routes()); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRouteListShowsWhetherEachRouteIsAnswered(t *testing.T) {
	k := routestest.NewXenHost()
	k.AddRoute(routestest.GuestRoute("192.0.2.2/32", "vif1.0", 2))
	k.AddRoute(routestest.GuestRoute("192.0.2.3/32", "vif2.0", 2))
	k.AddRoute(routestest.GuestRoute("198.51.100.0/28", "vif1.0", 2))
	k.AddRoute(routes.KernelRoute{Dst: netip.MustParsePrefix("203.0.113.9/32"), Dev: "vif1.0", Protocol: unix.RTPROT_BOOT})
	k.AddRoute(routestest.GuestRoute("2001:db8:1::2/128", "vif1.0", 2))
	k.AddRoute(routestest.GuestRoute("2001:db8:1::3/128", "vif2.0", 2))
	k.AddRoute(routestest.GuestRoute("2001:db8:2::/64", "vif1.0", 2))
	vif1, _ := k.Link("vif1.0")
	vif2, _ := k.Link("vif2.0")
	host := func(dst string, idx int) routes.Route {
		return routes.Route{
			Dst: netip.MustParsePrefix(dst), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST,
			Priority: 2, Protocol: routes.ProtoProxyarp, Nexthops: []routes.Nexthop{{LinkIndex: idx}},
		}
	}
	snap := routes.Snapshot{
		Links: []routes.Link{
			{Index: vif1.Index, Name: "vif1.0", Up: true, Carrier: true},
			{Index: vif2.Index, Name: "vif2.0", Up: true}, // no carrier
		},
		Routes: []routes.Route{
			host("192.0.2.2/32", vif1.Index), host("192.0.2.3/32", vif2.Index),
			host("2001:db8:1::2/128", vif1.Index), host("2001:db8:1::3/128", vif2.Index),
		},
	}
	var out bytes.Buffer
	if err := runRoute(context.Background(), []string{"list"}, &out, routeTestDeps(k, snap)); err != nil {
		t.Fatal(err)
	}
	want := "192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp\tanswered\n" +
		"192.0.2.3/32 dev vif2.0 src 192.0.2.1 metric 2 proto proxyarp\tnot answered: no-carrier (vif2.0)\n" +
		"198.51.100.0/28 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp\tnot answered: not a /32\n" +
		"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp\tanswered\n" +
		"2001:db8:1::3/128 dev vif2.0 src 2001:db8::1 metric 2 proto proxyarp\tnot answered: no-carrier (vif2.0)\n" +
		"2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp\tnot answered: not a /128\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("route list (-want +got):\n%s", diff)
	}
}

func TestRouteHelp(t *testing.T) {
	var out bytes.Buffer
	err := runRoute(context.Background(), []string{"add", "--help"}, &out, routeDeps{})
	if !errors.Is(err, errHelp) || !strings.Contains(out.String(), "proxyarp route add ADDR[/LEN] dev IFACE") {
		t.Errorf("route add --help = %v, printed %q", err, out.String())
	}
}

// TestRouteIPv6InNamespace runs route add, list and del for IPv6 against
// the real kernel of a pxr-hp6-* namespace (eth0 2001:db8::1/64 nodad).
func TestRouteIPv6InNamespace(t *testing.T) {
	name, k := hpNetnsNamed(t, "pxr-hp6-")
	hpIP(t, name, "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad")
	hpIP(t, name, "link", "set", "vif1.0", "up")
	nsh, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsh.Close() })
	deps := routeDeps{
		kernel: func() (routes.Kernel, func(), error) { return k, func() {}, nil },
		source: func() (routes.Source, func(), error) {
			s, err := routes.NewNetlinkSource(&routes.NetlinkConfig{Namespace: &nsh})
			if err != nil {
				return nil, nil, err
			}
			return s, func() { s.Close() }, nil
		},
		log: slog.New(slog.DiscardHandler),
	}
	route := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runRoute(context.Background(), args, &out, deps); err != nil {
			t.Fatalf("route %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	for range 2 { // a second add converges (metric 0 is the kernel's 1024)
		route("add", "2001:db8:1::9", "dev", "vif1.0", "--gateway-dev", "eth0")
	}
	route("add", "2001:db8:2::/64", "dev", "vif1.0", "--src", "2001:db8::1", "--metric", "5")
	if diff := cmp.Diff([]string{
		"2001:db8:1::9 dev vif1.0 src 2001:db8::1 metric 1024 pref medium",
		"2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 5 pref medium",
	}, hpRoutes6(t, name, "vif1.0")); diff != "" {
		t.Errorf("IPv6 routes after add (-want +got):\n%s", diff)
	}
	want := "2001:db8:1::9/128 dev vif1.0 src 2001:db8::1 metric 1024 proto proxyarp\tanswered\n" +
		"2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 5 proto proxyarp\tnot answered: not a /128\n"
	if diff := cmp.Diff(want, route("list")); diff != "" {
		t.Errorf("route list (-want +got):\n%s", diff)
	}
	route("del", "2001:db8:1::9", "dev", "vif1.0")
	route("del", "2001:db8:2::/64", "dev", "vif1.0")
	if got := hpRoutes6(t, name, "vif1.0"); len(got) != 0 {
		t.Errorf("IPv6 routes left after del: %q", got)
	}
}
