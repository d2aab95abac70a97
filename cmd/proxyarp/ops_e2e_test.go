package main

// End-to-end tests of `proxyarp doctor` and `proxyarp explain`: the built
// binary runs inside a host namespace (ip netns exec) set up with one
// problem per subtest, and the test checks the exit code and that the
// finding's check name, or explain's rule and decision, is reported.
//
// Every subtest has its own namespaces ("pxr-ops-<pid>-<random>-host" and
// "-peer", deleted in t.Cleanup), with addresses from the documentation
// ranges only, so the subtests run in parallel.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// opsHost is a host namespace with an uplink and one guest:
//
//	host eth0 192.0.2.1/24 <-> peer eth0 192.0.2.254/24 (the router)
//	host vif1.0            <-> peer g1 (guest 192.0.2.2, both ends up)
//	default via 192.0.2.254 dev eth0
//	192.0.2.2/32 dev vif1.0 src 192.0.2.1, proxy_arp=1 on vif1.0
//
// with forwarding on and proxy_arp and rp_filter off everywhere: a host
// doctor has nothing to say about.
type opsHost struct {
	host, peer string
}

func newOpsHost(t *testing.T) *opsHost {
	t.Helper()
	ns := addNamespaces(t, "pxr-ops-", "host", "peer")
	h := &opsHost{host: ns["host"], peer: ns["peer"]}
	// A new namespace copies all/default from the initial one (IPv4): set
	// what the checks read before creating links, so the links inherit it.
	h.sysctls(t,
		"net/ipv4/ip_forward", "1",
		"net/ipv4/conf/all/proxy_arp", "0",
		"net/ipv4/conf/default/proxy_arp", "0",
		"net/ipv4/conf/all/rp_filter", "0",
		"net/ipv4/conf/default/rp_filter", "0",
	)
	h.link(t, "eth0", "eth0", true)
	ipn(t, h.host, "addr", "add", "192.0.2.1/24", "dev", "eth0")
	ipn(t, h.peer, "addr", "add", "192.0.2.254/24", "dev", "eth0")
	ipn(t, h.host, "route", "add", "default", "via", "192.0.2.254", "dev", "eth0")
	h.guest(t, "vif1.0", "g1", true)
	ipn(t, h.host, "route", "add", "192.0.2.2/32", "dev", "vif1.0", "src", "192.0.2.1")
	return h
}

// sysctls writes PATH VALUE pairs under /proc/sys in the host namespace, in
// one shell.
func (h *opsHost) sysctls(t *testing.T, kv ...string) {
	t.Helper()
	var script strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&script, `echo "${%d}" > "/proc/sys/${%d}" || exit 1; `, i+1, i+2)
	}
	args := []string{"netns", "exec", h.host, "sh", "-c", script.String(), "sh"}
	for i := 0; i+1 < len(kv); i += 2 {
		args = append(args, kv[i+1], kv[i])
	}
	run(t, "ip", args...)
}

// link creates host NAME <-> peer PEER (a veth pair created in the host
// namespace), sets the host end up and the peer end up when peerUp.
func (h *opsHost) link(t *testing.T, name, peer string, peerUp bool) {
	t.Helper()
	ipn(t, h.host, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", h.peer)
	if peerUp {
		ipn(t, h.peer, "link", "set", peer, "up")
	}
	ipn(t, h.host, "link", "set", name, "up")
}

// guest creates a guest interface as vif-route leaves it: proxy_arp=1,
// proxy_delay=0.
func (h *opsHost) guest(t *testing.T, vif, peer string, peerUp bool) {
	t.Helper()
	ipn(t, h.host, "link", "add", vif, "type", "veth", "peer", "name", peer, "netns", h.peer)
	h.sysctls(t, "net/ipv4/conf/"+vif+"/proxy_arp", "1", "net/ipv4/neigh/"+vif+"/proxy_delay", "0")
	if peerUp {
		ipn(t, h.peer, "link", "set", peer, "up")
	}
	ipn(t, h.host, "link", "set", vif, "up")
}

// eth1 adds a second, non-guest interface host eth1 198.51.100.1/24 <->
// peer eth1 198.51.100.254/24.
func (h *opsHost) eth1(t *testing.T) {
	t.Helper()
	h.link(t, "eth1", "eth1", true)
	ipn(t, h.host, "addr", "add", "198.51.100.1/24", "dev", "eth1")
	ipn(t, h.peer, "addr", "add", "198.51.100.254/24", "dev", "eth1")
}

// runIn runs `ip netns exec NS BIN args...` and returns its stdout, stderr
// and exit code.
func runIn(t *testing.T, ns, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// finding returns doctor's line for check with severity sev, if any.
func finding(out, sev, check string) (string, bool) {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, sev+": ") && strings.Contains(l, " ["+check+"]; fix: ") {
			return l, true
		}
	}
	return "", false
}

func TestE2EOpsDoctor(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)

	tests := []struct {
		name   string
		setup  func(t *testing.T, h *opsHost)
		args   []string // after doctor; default --uplink eth0
		code   int
		sev    string
		check  string
		detail string // a substring of the finding's line
	}{
		{
			name:  "ip_forward off",
			setup: func(t *testing.T, h *opsHost) { h.sysctls(t, "net/ipv4/ip_forward", "0") },
			code:  1, sev: "error", check: "forwarding", detail: "net.ipv4.ip_forward is 0",
		},
		{
			name:  "forwarding off on the uplink",
			setup: func(t *testing.T, h *opsHost) { h.sysctls(t, "net/ipv4/conf/eth0/forwarding", "0") },
			code:  1, sev: "error", check: "forwarding", detail: "net.ipv4.conf.eth0.forwarding is 0",
		},
		{
			name:  "kernel proxy_arp on the uplink",
			setup: func(t *testing.T, h *opsHost) { h.sysctls(t, "net/ipv4/conf/eth0/proxy_arp", "1") },
			code:  1, sev: "error", check: "kernel-proxy-arp", detail: "net.ipv4.conf.eth0.proxy_arp is 1",
		},
		{
			name:  "kernel proxy_arp on all",
			setup: func(t *testing.T, h *opsHost) { h.sysctls(t, "net/ipv4/conf/all/proxy_arp", "1") },
			code:  1, sev: "error", check: "kernel-proxy-arp", detail: "net.ipv4.conf.all.proxy_arp is 1",
		},
		{
			name: "strict rp_filter on the uplink while the default route leaves elsewhere",
			setup: func(t *testing.T, h *opsHost) {
				h.eth1(t)
				ipn(t, h.host, "route", "replace", "default", "via", "198.51.100.254", "dev", "eth1")
				h.sysctls(t, "net/ipv4/conf/eth0/rp_filter", "1")
			},
			code: 1, sev: "error", check: "rp-filter", detail: "strict rp_filter on uplink eth0 while the default route leaves via eth1",
		},
		{
			name: "strict rp_filter on all counts for the uplink",
			setup: func(t *testing.T, h *opsHost) {
				h.eth1(t)
				ipn(t, h.host, "route", "replace", "default", "via", "198.51.100.254", "dev", "eth1")
				h.sysctls(t, "net/ipv4/conf/all/rp_filter", "1")
			},
			code: 1, sev: "error", check: "rp-filter", detail: "strict rp_filter on uplink eth0",
		},
		{
			name:  "strict rp_filter on a guest interface",
			setup: func(t *testing.T, h *opsHost) { h.sysctls(t, "net/ipv4/conf/vif1.0/rp_filter", "1") },
			code:  0, sev: "warning", check: "rp-filter", detail: "strict rp_filter on guest interface vif1.0",
		},
		{
			name: "guest /32 route without src",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "route", "add", "192.0.2.3/32", "dev", "vif1.0")
			},
			code: 0, sev: "warning", check: "guest-route-src", detail: "guest route 192.0.2.3/32 dev vif1.0 has no src",
		},
		{
			name: "guest route via an interface matching no guest glob",
			setup: func(t *testing.T, h *opsHost) {
				h.eth1(t)
				ipn(t, h.host, "route", "add", "192.0.2.50/32", "dev", "eth1", "src", "192.0.2.1")
			},
			code: 0, sev: "warning", check: "route-not-guest", detail: "192.0.2.50/32 dev eth1 is a /32 host route",
		},
		{
			name: "guest route via an interface outside --guest-ifaces",
			setup: func(t *testing.T, h *opsHost) {
				h.guest(t, "xen5", "g5", true)
				ipn(t, h.host, "route", "add", "192.0.2.5/32", "dev", "xen5", "src", "192.0.2.1")
			},
			args: []string{"--uplink", "eth0", "--guest-ifaces", "vif*"},
			code: 0, sev: "warning", check: "route-not-guest", detail: "xen5 matches none of the guest globs vif*",
		},
		{
			name: "guest interface with proxy_arp=0 and no address",
			setup: func(t *testing.T, h *opsHost) {
				h.sysctls(t, "net/ipv4/conf/vif1.0/proxy_arp", "0")
			},
			code: 0, sev: "warning", check: "guest-gateway", detail: "guest interface vif1.0 has proxy_arp=0",
		},
		{
			name: "ip rule beyond the defaults",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "rule", "add", "pref", "1000", "to", "192.0.2.2", "lookup", "100")
			},
			code: 0, sev: "warning", check: "policy-rules", detail: "1000: from all to 192.0.2.2/32 lookup 100",
		},
		{
			name: "uplink enslaved to a bridge",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "link", "add", "br0", "type", "bridge")
				ipn(t, h.host, "link", "set", "eth0", "master", "br0")
			},
			code: 1, sev: "error", check: "uplink-enslaved", detail: "eth0 is a port of bridge br0",
		},
		{
			name: "VLAN on the uplink",
			setup: func(t *testing.T, h *opsHost) {
				if out, err := tryRun("ip", "-n", h.host, "link", "add", "link", "eth0", "name", "eth0.7", "type", "vlan", "id", "7"); err != nil {
					t.Skipf("skipping: cannot create a VLAN device (8021q missing?): %v\n%s", err, out)
				}
			},
			code: 0, sev: "warning", check: "uplink-vlans", detail: "eth0 has VLAN devices (eth0.7)",
		},
		{
			name: "uplink missing",
			args: []string{"--uplink", "eth9"},
			code: 1, sev: "error", check: "uplink", detail: "uplink eth9 does not exist",
		},
		{
			name: "uplink guessed from the default route",
			args: []string{},
			code: 0, sev: "info", check: "uplink", detail: "checking eth0 as the uplink",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newOpsHost(t)
			if tt.setup != nil {
				tt.setup(t, h)
			}
			args := tt.args
			if args == nil {
				args = []string{"--uplink", "eth0"}
			}
			out, stderr, code := runIn(t, h.host, bin, append([]string{"doctor"}, args...)...)
			if _, ok := finding(out, "error", "other-daemon"); ok {
				t.Skipf("another proxy-ARP daemon runs on this machine (doctor looks host-wide):\n%s", out)
			}
			line, ok := finding(out, tt.sev, tt.check)
			if code != tt.code || !ok || !strings.Contains(line, tt.detail) {
				t.Errorf("doctor %s: exit %d, want %d; want a %s [%s] line containing %q:\n%s%s",
					strings.Join(args, " "), code, tt.code, tt.sev, tt.check, tt.detail, out, stderr)
			}
		})
	}

	t.Run("clean host", func(t *testing.T) {
		t.Parallel()
		h := newOpsHost(t)
		out, stderr, code := runIn(t, h.host, bin, "doctor", "--uplink", "eth0")
		if _, ok := finding(out, "error", "other-daemon"); ok {
			t.Skipf("another proxy-ARP daemon runs on this machine (doctor looks host-wide):\n%s", out)
		}
		if code != 0 || strings.Contains(out, "error: ") || out != "ok: no problems found\n" {
			t.Errorf("doctor on a clean host: exit %d, want 0 and only \"ok: no problems found\":\n%s%s", code, out, stderr)
		}
	})
}

// explainReport is the part of explain --json the tests look at.
type explainReport struct {
	Addr      string `json:"addr"`
	Uplink    string `json:"uplink"`
	UplinkVia string `json:"uplink_chosen_by"`
	Answered  bool   `json:"answered"`
	Decision  string `json:"decision"`
	Rule      string `json:"rule"`
	Dev       string `json:"dev"`
	Metric    int    `json:"metric"`
	Routes    []struct {
		Dst      string   `json:"dst"`
		Type     string   `json:"type"`
		Dev      string   `json:"dev"`
		Via      string   `json:"via"`
		Flags    []string `json:"flags"`
		Selected bool     `json:"selected"`
	} `json:"routes"`
	PolicyRules []string `json:"policy_rules"`
	Why         []string `json:"why"`
}

func TestE2EOpsExplain(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)

	tests := []struct {
		name     string
		setup    func(t *testing.T, h *opsHost)
		addr     string
		args     []string // after ADDR --json
		code     int
		decision string
		rule     string
		dev      string
		check    func(t *testing.T, r explainReport) // more, optional
	}{
		{
			name: "owned /32 via a vif is answered",
			addr: "192.0.2.2", code: 0, decision: "answer", rule: "owned", dev: "vif1.0",
			check: func(t *testing.T, r explainReport) {
				if !r.Answered || r.Uplink != "eth0" || r.UplinkVia != "connected route 192.0.2.0/24" {
					t.Errorf("answered %v, uplink %q chosen by %q; want true, eth0, connected route 192.0.2.0/24", r.Answered, r.Uplink, r.UplinkVia)
				}
				wantRoute(t, r, "192.0.2.2/32", "vif1.0", true)
			},
		},
		{
			name: "a shorter prefix via a vif is never answered",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "route", "add", "192.0.2.100/30", "dev", "vif1.0")
			},
			addr: "192.0.2.101", code: 3, decision: "not-owned", rule: "no-route",
			check: func(t *testing.T, r explainReport) {
				wantRoute(t, r, "192.0.2.100/30", "vif1.0", false)
				wantWhy(t, r, "a shorter prefix, never answered")
			},
		},
		{
			name: "a /32 via a non-guest interface",
			setup: func(t *testing.T, h *opsHost) {
				h.eth1(t)
				ipn(t, h.host, "route", "add", "192.0.2.50/32", "dev", "eth1")
			},
			addr: "192.0.2.50", code: 3, decision: "not-owned", rule: "not-guest", dev: "eth1",
			check: func(t *testing.T, r explainReport) { wantRoute(t, r, "192.0.2.50/32", "eth1", true) },
		},
		{
			name: "a guest with no carrier (peer down)",
			setup: func(t *testing.T, h *opsHost) {
				h.guest(t, "vif3.0", "g3", false)
				ipn(t, h.host, "route", "add", "192.0.2.30/32", "dev", "vif3.0", "src", "192.0.2.1")
			},
			addr: "192.0.2.30", code: 3, decision: "not-owned", rule: "no-carrier", dev: "vif3.0",
		},
		{
			name: "a blackhole",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "route", "add", "blackhole", "192.0.2.80/32")
			},
			addr: "192.0.2.80", code: 3, decision: "not-owned", rule: "not-unicast",
			check: func(t *testing.T, r explainReport) {
				if len(r.Routes) == 0 || r.Routes[0].Dst != "192.0.2.80/32" || r.Routes[0].Type != "blackhole" {
					t.Errorf("routes %+v: want 192.0.2.80/32 blackhole first", r.Routes)
				}
			},
		},
		{
			// A host address is named as such, with or without a /32.
			name: "the host's own address",
			addr: "192.0.2.1", code: 3, decision: "own-address", rule: "local",
			check: func(t *testing.T, r explainReport) {
				wantWhy(t, r, "192.0.2.1 is an address of this host (on eth0): the kernel answers for it, proxyarp never does")
			},
		},
		{
			name: "the host's own address, also routed via a vif",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "addr", "add", "192.0.2.7/32", "dev", "lo")
				ipn(t, h.host, "route", "add", "192.0.2.7/32", "dev", "vif1.0")
			},
			addr: "192.0.2.7", code: 3, decision: "own-address", rule: "local", dev: "vif1.0",
			check: func(t *testing.T, r explainReport) { wantWhy(t, r, "is an address of this host (on lo)") },
		},
		{
			name: "the uplink's gateway, even when routed via a vif",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "route", "add", "192.0.2.254/32", "dev", "vif1.0", "src", "192.0.2.1")
			},
			addr: "192.0.2.254", code: 3, decision: "uplink-gateway", rule: "owned", dev: "vif1.0",
			check: func(t *testing.T, r explainReport) {
				wantRoute(t, r, "0.0.0.0/0", "eth0", false)
				wantWhy(t, r, "dropped as uplink-gateway")
			},
		},
		{
			name: "outside --allow",
			addr: "192.0.2.2", args: []string{"--allow", "198.51.100.0/24"}, code: 3, decision: "outside-allow", rule: "not-allowed", dev: "vif1.0",
		},
		{
			name: "the report names a policy rule",
			setup: func(t *testing.T, h *opsHost) {
				ipn(t, h.host, "rule", "add", "pref", "1000", "to", "192.0.2.2", "lookup", "100")
			},
			addr: "192.0.2.2", code: 0, decision: "answer", rule: "owned", dev: "vif1.0",
			check: func(t *testing.T, r explainReport) {
				if !slices.Contains(r.PolicyRules, "1000: from all to 192.0.2.2/32 lookup 100") {
					t.Errorf("policy_rules %q: want 1000: from all to 192.0.2.2/32 lookup 100", r.PolicyRules)
				}
				wantWhy(t, r, "policy rules beyond the defaults are present")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newOpsHost(t)
			if tt.setup != nil {
				tt.setup(t, h)
			}
			args := append([]string{"explain", tt.addr, "--json"}, tt.args...)
			out, stderr, code := runIn(t, h.host, bin, args...)
			var r explainReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%s: exit %d, output is not a JSON report: %v\n%s%s", strings.Join(args, " "), code, err, out, stderr)
			}
			if code != tt.code || r.Decision != tt.decision || r.Rule != tt.rule || r.Dev != tt.dev || r.Addr != tt.addr {
				t.Errorf("%s: exit %d, decision %q, rule %q, dev %q; want exit %d, %q, %q, %q\n%s%s",
					strings.Join(args, " "), code, r.Decision, r.Rule, r.Dev, tt.code, tt.decision, tt.rule, tt.dev, out, stderr)
			}
			if r.Answered != (tt.code == 0) {
				t.Errorf("answered %v with exit %d", r.Answered, code)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
			if t.Failed() {
				text, _, _ := runIn(t, h.host, bin, append([]string{"explain", tt.addr}, tt.args...)...)
				t.Logf("text report:\n%s", text)
			}
		})
	}
}

// wantRoute checks that r lists dst via dev, starred (selected) or not.
func wantRoute(t *testing.T, r explainReport, dst, dev string, selected bool) {
	t.Helper()
	for _, rt := range r.Routes {
		if rt.Dst == dst && rt.Dev == dev {
			if rt.Selected != selected {
				t.Errorf("route %s dev %s: selected %v, want %v", dst, dev, rt.Selected, selected)
			}
			return
		}
	}
	t.Errorf("routes %+v: want %s dev %s listed", r.Routes, dst, dev)
}

// wantWhy checks that one of r's sentences contains s.
func wantWhy(t *testing.T, r explainReport, s string) {
	t.Helper()
	for _, w := range r.Why {
		if strings.Contains(w, s) {
			return
		}
	}
	t.Errorf("why %q: want a sentence containing %q", r.Why, s)
}
