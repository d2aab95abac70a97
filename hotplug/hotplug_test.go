package hotplug

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/routes"
	"github.com/proxyarp/proxyarp/routes/routestest"
	"github.com/proxyarp/proxyarp/xenstore"
	"github.com/proxyarp/proxyarp/xenstore/xenstoretest"
)

const xb = "backend/vif/1/0"

// libxlEnv is what libxl passes for vif1.0 with gatewaydev unset.
func libxlEnv() map[string]string {
	return map[string]string{"XENBUS_PATH": xb, "vif": "vif1.0", "XENBUS_TYPE": "vif", "XENBUS_BASE_PATH": "backend", "script": "/etc/xen/scripts/vif-proxyarp"}
}

func TestHotplug(t *testing.T) {
	prep := func(dev string) []string {
		return []string{
			"addr add 192.0.2.1/32 dev " + dev,
			"link set " + dev + " up",
			"sysctl net/ipv4/conf/" + dev + "/proxy_arp=1",
			"sysctl net/ipv4/neigh/" + dev + "/proxy_delay=0",
		}
	}
	// prep6 is prep with the IPv6 steps of a list holding IPv6 entries.
	prep6 := func(dev string) []string {
		return []string{
			"addr add 192.0.2.1/32 dev " + dev,
			"sysctl net/ipv6/conf/" + dev + "/disable_ipv6=0",
			"sysctl net/ipv6/conf/" + dev + "/accept_ra=0",
			"link set " + dev + " up",
			"sysctl net/ipv4/conf/" + dev + "/proxy_arp=1",
			"sysctl net/ipv4/neigh/" + dev + "/proxy_delay=0",
			"addr add fe80::1/64 dev " + dev + " nodad",
		}
	}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string // nil: libxlEnv()
		unset  []string          // variables removed from env
		xs     map[string]string // xenstore contents (relative to /local/domain/0)
		kernel func(*routestest.FakeKernel)

		wantErr    string // "" for success
		wantUsage  bool   // exit 2
		wantOps    []string
		wantRoutes []string
		wantXS     map[string]string // keys under XENBUS_PATH that must hold these values ("" = absent)
	}{
		{
			name: "online routes the xenstore ip list to the vif and writes connected",
			args: []string{"online", "type_if=vif"},
			xs:   map[string]string{xb + "/ip": "192.0.2.2 192.0.2.3"},
			wantOps: append(prep("vif1.0"),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"192.0.2.3/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
			},
			wantXS: map[string]string{"hotplug-status": "connected", "hotplug-error": ""},
		},
		{
			name: "online takes ip from the arguments when xenstore has none",
			args: []string{"online", "type_if=vif", "ip=198.51.100.7"},
			wantOps: append(prep("vif1.0"),
				"route replace 198.51.100.7/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{"198.51.100.7/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
			wantXS:     map[string]string{"hotplug-status": "connected"},
		},
		{
			name:       "online twice converges",
			args:       []string{"online", "type_if=vif"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2"},
			kernel:     func(k *routestest.FakeKernel) { k.AddRoute(routestest.GuestRoute("192.0.2.2/32", "vif1.0", 2)) },
			wantOps:    append(prep("vif1.0"), "route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"},
			wantXS:     map[string]string{"hotplug-status": "connected"},
		},
		{
			name: "online renames the vif to vifname first",
			args: []string{"online", "type_if=vif"},
			xs:   map[string]string{xb + "/ip": "192.0.2.2", xb + "/vifname": "web0"},
			wantOps: append(append([]string{"link set vif1.0 name web0"}, prep("web0")...),
				"route replace 192.0.2.2/32 dev web0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{"192.0.2.2/32 dev web0 src 192.0.2.1 metric 2 proto proxyarp"},
			wantXS:     map[string]string{"hotplug-status": "connected"},
		},
		{
			name:       "online with a vifname already taken fails",
			args:       []string{"online", "type_if=vif"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2", xb + "/vifname": "vif2.0"},
			wantErr:    "cannot rename vif1.0 to vif2.0: a device called vif2.0 already exists",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error", "hotplug-error": "cannot rename vif1.0 to vif2.0: a device called vif2.0 already exists"},
		},
		{
			name:  "tap add routes to the emulated device with metric 1 and writes no status",
			args:  []string{"add", "type_if=tap"},
			env:   map[string]string{"INTERFACE": "vif1.0-emu", "vif": "vif1.0", "netdev": "eth0"},
			xs:    map[string]string{"/local/domain/0/" + xb + "/ip": "192.0.2.2"},
			unset: []string{"XENBUS_PATH"},
			wantOps: append(prep("vif1.0-emu"),
				"route replace 192.0.2.2/32 dev vif1.0-emu src 192.0.2.1 metric 1 proto proxyarp"),
			wantRoutes: []string{"192.0.2.2/32 dev vif1.0-emu src 192.0.2.1 metric 1 proto proxyarp"},
			wantXS:     map[string]string{"hotplug-status": ""},
		},
		{
			name:       "offline removes the routes and sets the device down",
			args:       []string{"offline", "type_if=vif"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2"},
			kernel:     func(k *routestest.FakeKernel) { k.AddRoute(routestest.GuestRoute("192.0.2.2/32", "vif1.0", 2)) },
			wantOps:    []string{"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp", "link set vif1.0 down"},
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": ""},
		},
		{
			name:       "offline needs no gateway device",
			args:       []string{"offline", "type_if=vif", "netdev=eth9"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2"},
			wantOps:    []string{"link set vif1.0 down"},
			wantRoutes: []string{},
		},
		{
			name:       "offline of a vif that is already gone succeeds",
			args:       []string{"offline", "type_if=vif"},
			env:        map[string]string{"vif": "vif7.0"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2"},
			wantRoutes: []string{},
		},
		{
			name:       "online for a tap does nothing",
			args:       []string{"online", "type_if=tap"},
			wantRoutes: []string{},
		},
		{
			name:       "add for a vif does nothing",
			args:       []string{"add", "type_if=vif"},
			wantRoutes: []string{},
		},
		{
			name:       "an unknown action is a usage error reported to xenstore",
			args:       []string{"reboot", "type_if=vif"},
			wantErr:    `unknown action "reboot"`,
			wantUsage:  true,
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error", "hotplug-error": `unknown action "reboot": want online, offline, add or remove`},
		},
		{
			name:       "an unknown type_if is a usage error",
			args:       []string{"online", "type_if=vbd"},
			wantErr:    `unknown type_if "vbd"`,
			wantUsage:  true,
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name:       "a missing XENBUS_PATH fails",
			args:       []string{"online", "type_if=vif"},
			unset:      []string{"XENBUS_PATH"},
			wantErr:    "XENBUS_PATH is not set",
			wantRoutes: []string{},
		},
		{
			name:       "a missing vif variable fails",
			args:       []string{"online", "type_if=vif"},
			unset:      []string{"vif"},
			wantErr:    "the device variable vif is not set",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error", "hotplug-error": "the device variable vif is not set"},
		},
		{
			name:       "a missing gateway device fails",
			args:       []string{"online", "type_if=vif", "netdev=eth9"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2"},
			wantErr:    "gateway device eth9 does not exist",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name:       "a gateway device without IPv4 fails",
			args:       []string{"online", "type_if=vif", "netdev=eth1"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2"},
			wantErr:    "gateway device eth1 has no IPv4 address",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error", "hotplug-error": "gateway device eth1 has no IPv4 address"},
		},
		{
			name:       "a bad ip entry fails",
			args:       []string{"online", "type_if=vif"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2 192.0.2.x"},
			wantErr:    `bad ip= entry "192.0.2.x"`,
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name:       "an entry equal to MAIN_IP fails the whole online",
			args:       []string{"online", "type_if=vif"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2 192.0.2.1"},
			wantErr:    "entry 192.0.2.1/32 is the host's own address",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name:       "an entry containing MAIN_IP fails the whole online",
			args:       []string{"online", "type_if=vif"},
			xs:         map[string]string{xb + "/ip": "192.0.2.0/24"},
			wantErr:    "entry 192.0.2.0/24 contains the host's own address 192.0.2.1",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name:       "a missing device fails",
			args:       []string{"online", "type_if=vif"},
			env:        map[string]string{"vif": "vif7.0"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2"},
			wantErr:    "device vif7.0: no such network device",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name:   "an address routed to another guest fails and is not taken over",
			args:   []string{"online", "type_if=vif"},
			xs:     map[string]string{xb + "/ip": "192.0.2.2 192.0.2.3"},
			kernel: func(k *routestest.FakeKernel) { k.AddRoute(routestest.GuestRoute("192.0.2.3/32", "vif2.0", 2)) },
			wantErr: "online vif1.0: 192.0.2.3/32 is already routed to another device: " +
				"192.0.2.3/32 dev vif2.0 src 192.0.2.1 metric 2 proto proxyarp",
			wantRoutes: []string{"192.0.2.3/32 dev vif2.0 src 192.0.2.1 metric 2 proto proxyarp"},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name: "online with a mixed list routes the IPv6 entries with MAIN_IP6 and puts fe80::1 on the vif",
			args: []string{"online", "type_if=vif"},
			xs:   map[string]string{xb + "/ip": "192.0.2.2 2001:db8:1::2 2001:db8:2::/64"},
			wantOps: append(prep6("vif1.0"),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"route replace 2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"2001:db8:2::/64 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
			},
			wantXS: map[string]string{"hotplug-status": "connected", "hotplug-error": ""},
		},
		{
			name: "online twice with IPv6 entries converges",
			args: []string{"online", "type_if=vif"},
			xs:   map[string]string{xb + "/ip": "192.0.2.2 2001:db8:1::2"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddRoute(routestest.GuestRoute("192.0.2.2/32", "vif1.0", 2))
				k.AddRoute(routestest.GuestRoute("2001:db8:1::2/128", "vif1.0", 2))
			},
			wantOps: append(prep6("vif1.0"),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
			},
			wantXS: map[string]string{"hotplug-status": "connected"},
		},
		{
			name: "ipv6_gateway= changes the vif's IPv6 address",
			args: []string{"online", "type_if=vif", "ipv6_gateway=fe80::fe"},
			xs:   map[string]string{xb + "/ip": "2001:db8:1::2"},
			wantOps: []string{ // an IPv6-only list: no IPv4 on the vif
				"sysctl net/ipv6/conf/vif1.0/disable_ipv6=0",
				"sysctl net/ipv6/conf/vif1.0/accept_ra=0",
				"link set vif1.0 up",
				"addr add fe80::fe/64 dev vif1.0 nodad",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
			},
			wantRoutes: []string{"2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp"},
			wantXS:     map[string]string{"hotplug-status": "connected"},
		},
		{
			name:       "a global ipv6_gateway fails",
			args:       []string{"online", "type_if=vif", "ipv6_gateway=2001:db8:1::1"},
			xs:         map[string]string{xb + "/ip": "2001:db8:1::2"},
			wantErr:    `bad ipv6_gateway="2001:db8:1::1"`,
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name: "a gateway device without global IPv6 gives IPv6 routes without src",
			args: []string{"online", "type_if=vif", "netdev=eth2"},
			xs:   map[string]string{xb + "/ip": "192.0.2.2 2001:db8:1::2"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddLink(routes.Link{Name: "eth2", Up: true}, netip.MustParsePrefix("192.0.2.1/24"))
			},
			wantOps: append(prep6("vif1.0"),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 2001:db8:1::2/128 dev vif1.0 metric 2 proto proxyarp"),
			wantRoutes: []string{
				"192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"2001:db8:1::2/128 dev vif1.0 metric 2 proto proxyarp",
			},
			wantXS: map[string]string{"hotplug-status": "connected"},
		},
		{
			name: "an IPv6-only list needs no IPv4 on the gateway device",
			args: []string{"online", "type_if=vif", "netdev=eth2"},
			xs:   map[string]string{xb + "/ip": "2001:db8:1::2"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddLink(routes.Link{Name: "eth2", Up: true}, netip.MustParsePrefix("2001:db8::7/64"))
			},
			wantOps: []string{
				"sysctl net/ipv6/conf/vif1.0/disable_ipv6=0",
				"sysctl net/ipv6/conf/vif1.0/accept_ra=0",
				"link set vif1.0 up",
				"addr add fe80::1/64 dev vif1.0 nodad",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::7 metric 2 proto proxyarp",
			},
			wantRoutes: []string{"2001:db8:1::2/128 dev vif1.0 src 2001:db8::7 metric 2 proto proxyarp"},
			wantXS:     map[string]string{"hotplug-status": "connected"},
		},
		{
			name:       "an IPv6 entry equal to MAIN_IP6 fails the whole online",
			args:       []string{"online", "type_if=vif"},
			xs:         map[string]string{xb + "/ip": "192.0.2.2 2001:db8::1"},
			wantErr:    "entry 2001:db8::1/128 is the host's own address (MAIN_IP6)",
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name: "a failing IPv6 route rolls back the routes added before it",
			args: []string{"online", "type_if=vif"},
			xs:   map[string]string{xb + "/ip": "192.0.2.2 2001:db8:1::2 2001:db8:1::3"},
			kernel: func(k *routestest.FakeKernel) {
				k.Fail = func(op string) error {
					if strings.Contains(op, "route replace 2001:db8:1::3/128") {
						return errors.New("no buffer space")
					}
					return nil
				}
			},
			wantErr: "add route 2001:db8:1::3/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp: no buffer space",
			wantOps: append(prep6("vif1.0"),
				"route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route replace 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"route del 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp"),
			wantRoutes: []string{},
			wantXS:     map[string]string{"hotplug-status": "error"},
		},
		{
			name: "offline removes the IPv6 routes too",
			args: []string{"offline", "type_if=vif"},
			xs:   map[string]string{xb + "/ip": "192.0.2.2 2001:db8:1::2 2001:db8:1::3"},
			kernel: func(k *routestest.FakeKernel) {
				k.AddRoute(routestest.GuestRoute("192.0.2.2/32", "vif1.0", 2))
				k.AddRoute(routestest.GuestRoute("2001:db8:1::2/128", "vif1.0", 2))
			},
			wantOps: []string{
				"route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp",
				"route del 2001:db8:1::2/128 dev vif1.0 src 2001:db8::1 metric 2 proto proxyarp",
				"link set vif1.0 down",
			},
			wantRoutes: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := xenstoretest.NewServer(t)
			for k, v := range tt.xs {
				srv.Set(k, v)
			}
			env := libxlEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			for _, k := range tt.unset {
				delete(env, k)
			}
			env["XENSTORED_PATH"] = srv.Path
			k := routestest.NewXenHost()
			if tt.kernel != nil {
				tt.kernel(k)
			}
			var logs bytes.Buffer
			deps := Deps{
				Getenv:    func(key string) string { return env[key] },
				OpenStore: xenstore.OpenEnv,
				Kernel:    func() (routes.Kernel, func(), error) { return k, func() {}, nil },
				Log:       slog.New(slog.NewTextHandler(&logs, nil)),
			}
			err := Run(context.Background(), tt.args, &bytes.Buffer{}, deps)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("hotplug %v = %v, want success", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("hotplug %v = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "cannot report") {
				t.Errorf("the failure did not reach xenstore: %v", err)
			}
			var uerr *UsageError
			if got := errors.As(err, &uerr); got != tt.wantUsage {
				t.Errorf("usage error = %v, want %v (err %v)", got, tt.wantUsage, err)
			}
			if diff := cmp.Diff(tt.wantOps, k.Ops()); diff != "" {
				t.Errorf("kernel operations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRoutes, k.Routes()); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			for key, want := range tt.wantXS {
				got, _ := srv.Get(xb + "/" + key)
				if got != want {
					t.Errorf("xenstore %s/%s = %q, want %q", xb, key, got, want)
				}
			}
		})
	}
}

func TestHotplugHelp(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), []string{"--help"}, &out, Deps{Getenv: func(string) string { return "" }})
	if !errors.Is(err, ErrHelp) || !strings.Contains(out.String(), "Usage: proxyarp hotplug ACTION") {
		t.Errorf("hotplug --help = %v, printed %q", err, out.String())
	}
}

func TestHotplugParsesIPEntries(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "addresses become /32s", in: "192.0.2.2  192.0.2.3\n", want: []string{"192.0.2.2/32", "192.0.2.3/32"}},
		{name: "prefixes are kept", in: "198.51.100.0/28", want: []string{"198.51.100.0/28"}},
		{name: "an empty list is empty", in: " ", want: nil},
		{name: "IPv6 addresses become /128s", in: "2001:db8::1 192.0.2.2", want: []string{"2001:db8::1/128", "192.0.2.2/32"}},
		{name: "IPv6 prefixes are kept", in: "2001:db8:1::/64", want: []string{"2001:db8:1::/64"}},
		{name: "an IPv4-mapped IPv6 address is refused", in: "::ffff:192.0.2.2", wantErr: true},
		{name: "a zone is refused", in: "fe80::2%eth0", wantErr: true},
		{name: "a bad IPv6 prefix length is refused", in: "2001:db8::/129", wantErr: true},
		{name: "a hostname is refused", in: "guest.example", wantErr: true},
		{name: "a bad prefix length is refused", in: "192.0.2.2/33", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEntries(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseEntries(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			var gs []string
			for _, p := range got {
				gs = append(gs, p.String())
			}
			if diff := cmp.Diff(tt.want, gs); diff != "" {
				t.Errorf("ParseEntries(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestHotplugTapXenbusPath(t *testing.T) {
	tests := []struct {
		dev, want string
		ok        bool
	}{
		{"vif1.0-emu", "/local/domain/0/backend/vif/1/0", true},
		{"vif12.3-emu", "/local/domain/0/backend/vif/12/3", true},
		{"vif1.0", "", false},
		{"tap1.0-emu", "", false},
		{"vif.0-emu", "", false},
		{"vif1.-emu", "", false},
		{"vif1-emu", "", false},
		{"vif1.0.1-emu", "", false},
		{"vifa.0-emu", "", false},
		{"vif1.0-emu-emu", "", false},
		{"web0-emu", "", false},
	}
	for _, tt := range tests {
		got, ok := tapXenbusPath(tt.dev)
		if got != tt.want || ok != tt.ok {
			t.Errorf("tapXenbusPath(%q) = %q, %v, want %q, %v", tt.dev, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHotplugParseGateway6(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "fe80::1/64"},
		{"fe80::fe", "fe80::fe/64"},
		{"fe80::1/128", "fe80::1/128"},
		{"none", "invalid Prefix"},
		{"2001:db8::1", "error"},
		{"192.0.2.1", "error"},
		{"fe80::1%eth0", "error"},
	}
	for _, tt := range tests {
		got, err := ParseGateway6(tt.in)
		s := got.String()
		if err != nil {
			s = "error"
		}
		if s != tt.want {
			t.Errorf("ParseGateway6(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
