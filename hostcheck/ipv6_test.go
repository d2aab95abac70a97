package hostcheck

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// healthy6 is an uplink set up as serve wants it for IPv6.
func healthy6() map[string]string {
	return map[string]string{
		"net/ipv6/conf/all/forwarding":    "1",
		"net/ipv6/conf/all/proxy_ndp":     "0",
		"net/ipv6/conf/eth0/proxy_ndp":    "0",
		"net/ipv6/conf/eth0/disable_ipv6": "0",
		"net/ipv6/conf/eth0/accept_ra":    "2",
	}
}

func TestUplink6Checks(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"a healthy uplink has no findings", nil, nil},
		{"kernel proxy_ndp on the uplink is reported", map[string]string{"net/ipv6/conf/eth0/proxy_ndp": "1"}, []string{"kernel-proxy-ndp"}},
		{"kernel proxy_ndp on all is reported", map[string]string{"net/ipv6/conf/all/proxy_ndp": "1"}, []string{"kernel-proxy-ndp"}},
		{"IPv6 forwarding off is reported", map[string]string{"net/ipv6/conf/all/forwarding": "0"}, []string{"forwarding6"}},
		{"nothing is reported when IPv6 is disabled on the uplink",
			map[string]string{"net/ipv6/conf/eth0/disable_ipv6": "1", "net/ipv6/conf/all/forwarding": "0", "net/ipv6/conf/eth0/proxy_ndp": "1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := healthy6()
			for k, v := range tt.set {
				kv[k] = v
			}
			var got []string
			for _, f := range (Checker{Sysctl: sysctls(kv)}).Uplink6("eth0") {
				got = append(got, f.Check)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
	if got := (Checker{Sysctl: fstest.MapFS{}}).Uplink6("eth0"); got != nil {
		t.Errorf("without an IPv6 sysctl tree: %v, want nothing", got)
	}
}

func TestDoctorIPv6Findings(t *testing.T) {
	tests := []struct {
		name   string
		set    map[string]string
		want   map[string]Severity
		guest6 bool
	}{
		{"IPv6 forwarding off with an IPv6 guest is a warning", map[string]string{"net/ipv6/conf/all/forwarding": "0"}, map[string]Severity{"forwarding6": Warning}, true},
		{"accept_ra 1 with forwarding on is a warning", map[string]string{"net/ipv6/conf/eth0/accept_ra": "1"}, map[string]Severity{"accept-ra": Warning}, false},
		{"accept_ra 0 with forwarding on is a warning", map[string]string{"net/ipv6/conf/eth0/accept_ra": "0"}, map[string]Severity{"accept-ra": Warning}, false},
		{"accept_ra 1 with forwarding off is nothing without IPv6 guests", map[string]string{"net/ipv6/conf/eth0/accept_ra": "1", "net/ipv6/conf/all/forwarding": "0"}, map[string]Severity{}, false},
		{"proxy_ndp on the uplink is a warning", map[string]string{"net/ipv6/conf/eth0/proxy_ndp": "1"}, map[string]Severity{"kernel-proxy-ndp": Warning}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, h := healthyHost()
			for k, v := range healthy6() {
				sys[k] = &fstest.MapFile{Data: []byte(v + "\n")}
			}
			for k, v := range tt.set {
				sys[k] = &fstest.MapFile{Data: []byte(v + "\n")}
			}
			if tt.guest6 {
				h.Routes6 = append(h.Routes6, route("2001:db8:1::2/128", "vif1.0", "", 3))
			}
			got := checks(Checker{Sysctl: sys, Links: noRelations{}, Proc: fstest.MapFS{}}.Doctor(DoctorConfig{}, h))
			for k, sev := range got {
				if sev == Info {
					delete(got, k)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}
