package hostcheck

import (
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
)

type noRelations struct{}

func (noRelations) Relations(string) (Relations, error) { return Relations{}, nil }

func route(dst, dev, src string, proto int) HostRoute {
	r := HostRoute{Dst: netip.MustParsePrefix(dst), Dev: dev, Type: unix.RTN_UNICAST, Proto: proto}
	if src != "" {
		r.Src = netip.MustParseAddr(src)
	}
	return r
}

// healthy is a host with nothing to complain about.
func healthyHost() (fstest.MapFS, Host) {
	sys := fstest.MapFS{
		"net/ipv4/ip_forward":            {Data: []byte("1\n")},
		"net/ipv4/conf/all/proxy_arp":    {Data: []byte("0\n")},
		"net/ipv4/conf/eth0/proxy_arp":   {Data: []byte("0\n")},
		"net/ipv4/conf/eth0/forwarding":  {Data: []byte("1\n")},
		"net/ipv4/conf/all/rp_filter":    {Data: []byte("0\n")},
		"net/ipv4/conf/eth0/rp_filter":   {Data: []byte("1\n")},
		"net/ipv4/conf/vif1.0/rp_filter": {Data: []byte("2\n")},
		"net/ipv4/conf/vif1.0/proxy_arp": {Data: []byte("1\n")},
	}
	h := Host{
		Links: []HostLink{{Name: "lo"}, {Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")}}, {Name: "vif1.0"}, {Name: "eth1"}},
		Routes: []HostRoute{
			route("0.0.0.0/0", "eth0", "", unix.RTPROT_BOOT),
			route("192.0.2.0/24", "eth0", "192.0.2.1", unix.RTPROT_KERNEL),
			route("192.0.2.2/32", "vif1.0", "192.0.2.1", unix.RTPROT_BOOT),
		},
	}
	return sys, h
}

func checks(fs []Finding) map[string]Severity {
	m := map[string]Severity{}
	for _, f := range fs {
		m[f.Check] = f.Severity
	}
	return m
}

func TestDoctorHealthyHostHasOnlyInfo(t *testing.T) {
	sys, h := healthyHost()
	got := Checker{Sysctl: sys, Links: noRelations{}, Proc: fstest.MapFS{}}.Doctor(DoctorConfig{}, h)
	for _, f := range got {
		if f.Severity != Info {
			t.Errorf("unexpected finding on a healthy host: %s %s", f.Severity, f)
		}
	}
	if c := checks(got); c["uplink"] != Info {
		t.Errorf("the guessed uplink is not reported as info: %v", got)
	}
}

func TestDoctorFindings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(sys fstest.MapFS, h *Host, proc fstest.MapFS)
		check  string
		sev    Severity
		text   string
	}{
		{"forwarding off is an error", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			sys["net/ipv4/ip_forward"] = &fstest.MapFile{Data: []byte("0")}
		}, "forwarding", Error, "ip_forward is 0"},
		{"kernel proxy_arp on the uplink is an error", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			sys["net/ipv4/conf/eth0/proxy_arp"] = &fstest.MapFile{Data: []byte("1")}
		}, "kernel-proxy-arp", Error, "proxy_arp is 1"},
		{"a guest route without src is a warning", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			h.Routes[2].Src = netip.Addr{}
		}, "guest-route-src", Warning, "192.0.2.2/32 dev vif1.0 has no src"},
		{"a host route via a non-guest interface is a warning", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			h.Routes = append(h.Routes, route("192.0.2.90/32", "eth1", "", unix.RTPROT_BOOT))
		}, "route-not-guest", Warning, "eth1 matches none of the guest globs"},
		{"a proto proxyarp route counts as a guest's", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			h.Routes = append(h.Routes, route("192.0.2.91/32", "eth1", "", routes.ProtoProxyarp))
		}, "guest-route-src", Warning, "192.0.2.91/32 dev eth1 has no src"},
		{"strict rp_filter on a guest interface is a warning", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			sys["net/ipv4/conf/all/rp_filter"] = &fstest.MapFile{Data: []byte("1")}
			sys["net/ipv4/conf/vif1.0/rp_filter"] = &fstest.MapFile{Data: []byte("0")}
		}, "rp-filter", Warning, "strict rp_filter on guest interface vif1.0"},
		{"strict rp_filter on an uplink without the default route is an error", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			h.Routes[0].Dev = "eth1"
			sys["net/ipv4/conf/eth1/proxy_arp"] = &fstest.MapFile{Data: []byte("0")}
		}, "rp-filter", Error, "default route leaves via eth1"},
		{"a guest interface that cannot answer for the gateway is a warning", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			sys["net/ipv4/conf/vif1.0/proxy_arp"] = &fstest.MapFile{Data: []byte("0")}
		}, "guest-gateway", Warning, "a dom0 /32 address on vif1.0 is not needed"},
		{"policy rules are a warning", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			h.PolicyRules = []string{"100: from 192.0.2.2 lookup 100"}
		}, "policy-rules", Warning, "from 192.0.2.2 lookup 100"},
		{"parprouted running is an error", func(sys fstest.MapFS, h *Host, proc fstest.MapFS) {
			proc["4242/comm"] = &fstest.MapFile{Data: []byte("parprouted\n")}
		}, "other-daemon", Error, "parprouted (pid 4242) is running"},
		{"a missing uplink is an error", func(sys fstest.MapFS, h *Host, _ fstest.MapFS) {
			h.Links = h.Links[:1]
		}, "uplink", Error, "uplink eth0 does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, h := healthyHost()
			proc := fstest.MapFS{"1/comm": {Data: []byte("init\n")}}
			tt.mutate(sys, &h, proc)
			got := Checker{Sysctl: sys, Links: noRelations{}, Proc: proc}.Doctor(DoctorConfig{Uplink: "eth0"}, h)
			for _, f := range got {
				if f.Check == tt.check && f.Severity == tt.sev && strings.Contains(f.String(), tt.text) {
					return
				}
			}
			t.Errorf("no %s finding %s containing %q in:\n%v", tt.sev, tt.check, tt.text, got)
		})
	}
}
