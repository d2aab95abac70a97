package hostcheck

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

type fakeLinks map[string]Relations

func (f fakeLinks) Relations(name string) (Relations, error) {
	r, ok := f[name]
	if !ok {
		return Relations{}, errors.New("not found")
	}
	return r, nil
}

func sysctls(kv map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range kv {
		m[k] = &fstest.MapFile{Data: []byte(v + "\n")}
	}
	return m
}

// healthy is a host set up as proxyarp wants it.
func healthy() map[string]string {
	return map[string]string{
		"net/ipv4/ip_forward":               "1",
		"net/ipv4/conf/all/proxy_arp":       "0",
		"net/ipv4/conf/eth0/proxy_arp":      "0",
		"net/ipv4/conf/eth0/forwarding":     "1",
		"net/ipv4/conf/vif1.0/proxy_arp":    "1",
		"net/ipv4/neigh/vif1.0/proxy_delay": "0",
	}
}

func TestUplinkChecks(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		links fakeLinks
		want  []string
	}{
		{"a healthy host has no findings", nil, fakeLinks{"eth0": {}}, nil},
		{"kernel proxy_arp on the uplink is reported", map[string]string{"net/ipv4/conf/eth0/proxy_arp": "1"}, fakeLinks{"eth0": {}}, []string{"kernel-proxy-arp"}},
		{"kernel proxy_arp on all is reported", map[string]string{"net/ipv4/conf/all/proxy_arp": "1"}, fakeLinks{"eth0": {}}, []string{"kernel-proxy-arp"}},
		{"forwarding off is reported", map[string]string{"net/ipv4/ip_forward": "0"}, fakeLinks{"eth0": {}}, []string{"forwarding"}},
		{"forwarding off on the uplink only is reported", map[string]string{"net/ipv4/conf/eth0/forwarding": "0"}, fakeLinks{"eth0": {}}, []string{"forwarding"}},
		{"a bridge port uplink is reported", nil, fakeLinks{"eth0": {Master: "br0", MasterKind: "bridge"}}, []string{"uplink-enslaved"}},
		{"VLAN uppers are reported", nil, fakeLinks{"eth0": {VLANs: []string{"eth0.100"}}}, []string{"uplink-vlans"}},
		{"a missing uplink skips the link checks", nil, fakeLinks{}, nil},
		{"everything wrong at once", map[string]string{"net/ipv4/conf/all/proxy_arp": "1", "net/ipv4/conf/eth0/proxy_arp": "1", "net/ipv4/ip_forward": "0"},
			fakeLinks{"eth0": {Master: "bond0", MasterKind: "bond", VLANs: []string{"eth0.7"}}},
			[]string{"kernel-proxy-arp", "kernel-proxy-arp", "forwarding", "uplink-enslaved", "uplink-vlans"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := healthy()
			for k, v := range tt.set {
				kv[k] = v
			}
			got := Checker{Sysctl: sysctls(kv), Links: tt.links}.Uplink("eth0")
			var checks []string
			for _, f := range got {
				checks = append(checks, f.Check)
				if f.Problem == "" || f.Fix == "" {
					t.Errorf("finding %q lacks problem or fix: %+v", f.Check, f)
				}
			}
			if diff := cmp.Diff(tt.want, checks); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindingNamesTheMaster(t *testing.T) {
	got := Checker{Sysctl: sysctls(healthy()), Links: fakeLinks{"eth0": {Master: "br0", MasterKind: "bridge"}}}.Uplink("eth0")
	if len(got) != 1 || got[0].Fix != "run proxyarp serve --uplink br0" {
		t.Errorf("findings = %+v, want one telling to use br0", got)
	}
}
