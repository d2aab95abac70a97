package main

// Side by side: Debian's real vif-route (xen-utils-common) and vif-proxyarp
// run with the same libxl environment in two network namespaces built the
// same way, and the results compared. Run as root:
//
//	go test -count=1 -run VifRoute -v ./cmd/proxyarp/
//
// Each script runs under `ip netns exec NS unshare -m --propagation private`:
// inside that private mount namespace a stub of xenstore-read, -write and
// -exists (a shell script over a per-test directory, logging every call) is
// bind-mounted over the real /usr/bin ones, because the Xen scripts put
// /usr/bin first on PATH, and a per-test directory is bind-mounted over
// /var/log so that the hotplug log of neither script reaches the host's.
// proxyarp talks to a fake xenstored (xenstoretest) through XENSTORED_PATH
// holding the same keys. Nothing is mounted, and no interface or route is
// changed, outside the test's own namespaces (pxr-cmp-*).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/xenstore/xenstoretest"
)

const vifRouteScript = "/etc/xen/scripts/vif-route"

// xsStub is the stub xenstore-read/-write/-exists, one file bind-mounted over
// all three (it dispatches on its name). %[1]s is the directory holding the
// tree (paths relative to /local/domain/0, as xenstored resolves them) and
// the call log (.log: "read PATH", "write PATH VALUE", "exists PATH", with
// PATH as the caller passed it, as xenstoretest.Server records it).
const xsStub = `#!/bin/sh
dir='%[1]s'
norm() { case $1 in /local/domain/0/*) echo "${1#/local/domain/0/}" ;; /*) echo "$1" ;; *) echo "$1" ;; esac; }
case ${0##*/} in
xenstore-read)
	echo "read $1" >>"$dir/.log"
	f=$dir/$(norm "$1")
	if [ -f "$f" ]; then cat "$f"; echo; else echo "couldn't read path $1" >&2; exit 1; fi ;;
xenstore-exists)
	echo "exists $1" >>"$dir/.log"
	[ -f "$dir/$(norm "$1")" ] ;;
xenstore-write)
	while [ $# -ge 2 ]; do
		echo "write $1 $2" >>"$dir/.log"
		f=$dir/$(norm "$1")
		mkdir -p "$(dirname "$f")"
		printf '%%s' "$2" >"$f"
		shift 2
	done ;;
*) echo "xenstore stub: unknown name $0" >&2; exit 1 ;;
esac
`

// xsWrapper runs in the private mount namespace: it bind-mounts the stub over
// the xenstore commands that exist (the others are found on PATH, where the
// stub directory comes last) and the log directory over /var/log, then execs
// the script. $1 is the stub, $2 the log directory.
const xsWrapper = `set -e
stub=$1 logdir=$2
shift 2
for c in xenstore-read xenstore-write xenstore-exists; do
	if [ -e "/usr/bin/$c" ]; then mount --bind "$stub" "/usr/bin/$c"; fi
done
mount --bind "$logdir" /var/log
exec "$@"
`

// cmpSide is one namespace with one script under test.
type cmpSide struct {
	name   string // "vif-route" or "vif-proxyarp"
	ns     string
	script string
	dir    string // stub tree, stub commands, log directory
	srv    *xenstoretest.Server
	env    []string
}

func requireVifRoute(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(vifRouteScript); err != nil {
		t.Skipf("skipping: %s not found: the comparison runs Debian's real vif-route (apt-get install -y --no-install-recommends xen-utils-common net-tools)", vifRouteScript)
	}
	for _, tool := range []string{"ifconfig", "unshare", "mount", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not found: vif-route and the private mount namespace need it (apt-get install -y --no-install-recommends net-tools util-linux mount)", tool)
		}
	}
}

// newCmpSide builds a namespace like the other side's: eth0 (192.0.2.1/24,
// the gateway device, up, peer in the same namespace) and vif1.0 and
// vif1.0-emu (down, as netback and qemu create them; peers up so that they
// get carrier), and the stub xenstore tree holding xs.
func newCmpSide(t *testing.T, name, ns, script string, xs map[string]string) *cmpSide {
	t.Helper()
	s := &cmpSide{name: name, ns: ns, script: script, dir: t.TempDir()}
	for _, args := range [][]string{
		{"link", "add", "eth0", "type", "veth", "peer", "name", "up0"},
		{"addr", "add", "192.0.2.1/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"link", "add", "vif1.0", "type", "veth", "peer", "name", "g1.0"},
		{"link", "set", "g1.0", "up"},
		{"link", "add", "vif1.0-emu", "type", "veth", "peer", "name", "g1.0-emu"},
		{"link", "set", "g1.0-emu", "up"},
	} {
		ipn(t, ns, args...)
	}
	for _, d := range []string{"tree", "log/xen", "stub"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub := filepath.Join(s.dir, "stub", "xenstore-stub")
	if err := os.WriteFile(stub, []byte(fmt.Sprintf(xsStub, filepath.Join(s.dir, "tree"))), 0o755); err != nil {
		t.Fatal(err)
	}
	// For xenstore commands absent from /usr/bin: found last on PATH.
	for _, c := range []string{"xenstore-read", "xenstore-write", "xenstore-exists"} {
		if err := os.Symlink(stub, filepath.Join(s.dir, "stub", c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir, "wrapper.sh"), []byte(xsWrapper), 0o644); err != nil {
		t.Fatal(err)
	}
	s.srv = xenstoretest.NewServer(t)
	for k, v := range xs {
		f := filepath.Join(s.dir, "tree", k)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		s.srv.Set(k, v)
	}
	return s
}

// run runs the side's script with libxl's environment plus env (KEY=VALUE)
// and args, and returns its exit code and the xenstore requests it made:
// the stub's log and the fake xenstored's, merged (each side uses one).
func (s *cmpSide) run(t *testing.T, binDir string, env []string, args ...string) (int, []string) {
	t.Helper()
	_ = os.Remove(filepath.Join(s.dir, "tree", ".log"))
	s.srv.Requests()
	full := []string{
		"PATH=" + binDir + ":/usr/sbin:/usr/bin:/sbin:/bin:" + filepath.Join(s.dir, "stub"),
		"XENBUS_TYPE=vif", "XENBUS_BASE_PATH=backend", "script=" + s.script,
		"XENSTORED_PATH=" + s.srv.Path,
	}
	full = append(full, env...)
	cmdArgs := []string{"netns", "exec", s.ns, "unshare", "-m", "--propagation", "private",
		"env", "-i"}
	cmdArgs = append(cmdArgs, full...)
	cmdArgs = append(cmdArgs, "sh", filepath.Join(s.dir, "wrapper.sh"),
		filepath.Join(s.dir, "stub", "xenstore-stub"), filepath.Join(s.dir, "log"), s.script)
	cmdArgs = append(cmdArgs, args...)
	out, err := tryRun("ip", cmdArgs...)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %s: %v\n%s", s.name, strings.Join(args, " "), err, out)
		}
		code = ee.ExitCode()
	}
	if strings.TrimSpace(out) != "" {
		t.Logf("%s %s output:\n%s", s.name, strings.Join(args, " "), out)
	}
	var reqs []string
	if b, err := os.ReadFile(filepath.Join(s.dir, "tree", ".log")); err == nil {
		reqs = append(reqs, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	}
	reqs = append(reqs, s.srv.Requests()...)
	return code, reqs
}

// hotplugLog returns what the script wrote to the (private) hotplug log.
func (s *cmpSide) hotplugLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log", "xen", "xen-hotplug.log"))
	return string(b)
}

// xs returns the value of a key in the side's xenstore (stub tree or fake).
func (s *cmpSide) xs(key string) string {
	if v, ok := s.srv.Get(key); ok {
		return v
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "tree", key))
	if err != nil {
		return "<absent>"
	}
	return string(b)
}

// netState is what the comparison looks at in a namespace, as text lines.
type netState struct {
	Routes []string // main table, IPv4; "proto 213/proxyarp" noted apart
	Local  []string // local table, IPv4
	Addrs  []string // "DEV ADDR/LEN scope SCOPE"
	Brd    []string // "DEV ADDR brd BRD" for addresses with a broadcast
	Links  []string // "DEV up|down"
	Sysctl []string // proxy_arp and proxy_delay of the guest devices
}

func readNetState(t *testing.T, ns string) netState {
	t.Helper()
	var st netState
	lines := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.Join(strings.Fields(l), " "); l != "" {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out
	}
	st.Routes = lines(ipn(t, ns, "-4", "route", "show", "table", "main"))
	st.Local = lines(ipn(t, ns, "-4", "route", "show", "table", "local"))
	var addrs []struct {
		Ifname   string `json:"ifname"`
		Flags    []string
		AddrInfo []struct {
			Local     string `json:"local"`
			Prefixlen int    `json:"prefixlen"`
			Broadcast string `json:"broadcast"`
			Scope     string `json:"scope"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(ipn(t, ns, "-j", "-4", "addr", "show")), &addrs); err != nil {
		t.Fatalf("parsing ip -j addr in %s: %v", ns, err)
	}
	for _, l := range addrs {
		up := "down"
		if slices.Contains(l.Flags, "UP") {
			up = "up"
		}
		st.Links = append(st.Links, l.Ifname+" "+up)
		for _, a := range l.AddrInfo {
			st.Addrs = append(st.Addrs, fmt.Sprintf("%s %s/%d scope %s", l.Ifname, a.Local, a.Prefixlen, a.Scope))
			if a.Broadcast != "" {
				st.Brd = append(st.Brd, fmt.Sprintf("%s %s brd %s", l.Ifname, a.Local, a.Broadcast))
			}
		}
	}
	slices.Sort(st.Links)
	slices.Sort(st.Addrs)
	slices.Sort(st.Brd)
	for _, dev := range []string{"vif1.0", "vif1.0-emu"} {
		for _, k := range []string{"conf/" + dev + "/proxy_arp", "neigh/" + dev + "/proxy_delay"} {
			out, err := tryRun("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/"+k)
			if err != nil {
				continue
			}
			st.Sysctl = append(st.Sysctl, k+"="+strings.TrimSpace(out))
		}
	}
	return st
}

// withoutProto returns routes with " proto 213" or " proto proxyarp"
// removed, and how many carried it.
func withoutProto(routes []string) ([]string, int) {
	out := make([]string, len(routes))
	n := 0
	for i, r := range routes {
		s := strings.Replace(strings.Replace(r, " proto 213", "", 1), " proto proxyarp", "", 1)
		if s != r {
			n++
		}
		out[i] = s
	}
	return out, n
}

// localAside drops from a local table the broadcast routes of the guest
// devices (vif-route's ifconfig gives their /32 a broadcast address) when
// brd is set, and every route of the devices in skip.
func localAside(local []string, brd bool, skip []string) []string {
	var out []string
	for _, l := range local {
		drop := false
		for _, dev := range []string{"vif1.0", "vif1.0-emu"} {
			if strings.Contains(l+" ", " dev "+dev+" ") && (brd && strings.HasPrefix(l, "broadcast ") || slices.Contains(skip, dev)) {
				drop = true
			}
		}
		if !drop {
			out = append(out, l)
		}
	}
	return out
}

// upDiffers returns the devices up on one side and down on the other.
func upDiffers(a, b netState) []string {
	var out []string
	for _, l := range a.Links {
		dev, _, _ := strings.Cut(l, " ")
		if !slices.Contains(b.Links, l) {
			out = append(out, dev)
		}
	}
	return out
}

// TestVifRouteComparison runs vif-route and vif-proxyarp through libxl's
// sequences and checks that they leave the same routes, addresses, links
// and xenstore writes, except where vif-proxyarp is meant to differ:
//
//   - its routes carry proto proxyarp (213);
//   - a second online converges (vif-route fails: ip route add, EEXIST);
//   - proxy_delay=0 on the guest device (vif-route keeps the default 80);
//   - offline sets the device down (vif-route's ifdown is a no-op
//     without ifupdown);
//   - the device's /32 has no broadcast address (vif-route's ifconfig
//     gives the /32 the classful broadcast 192.0.2.255, and the kernel a
//     local broadcast route for it on the vif).
func TestVifRouteComparison(t *testing.T) {
	requireRoot(t)
	requireVifRoute(t)
	t.Parallel()
	bin := buildBinary(t)
	binDir := filepath.Dir(bin)
	proxyScript, err := filepath.Abs("../../dist/xen/vif-proxyarp")
	if err != nil {
		t.Fatal(err)
	}
	xs := map[string]string{"backend/vif/1/0/ip": "192.0.2.2 192.0.2.3"}
	nss := addNamespaces(t, "pxr-cmp-", "route", "parp")
	sides := [2]*cmpSide{
		newCmpSide(t, "vif-route", nss["route"], vifRouteScript, xs),
		newCmpSide(t, "vif-proxyarp", nss["parp"], proxyScript, xs),
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range sides {
				t.Logf("%s hotplug log:\n%s", s.name, s.hotplugLog())
			}
		}
	})
	vifEnv := []string{"XENBUS_PATH=backend/vif/1/0", "vif=vif1.0", "netdev=eth0"}
	tapEnv := []string{"INTERFACE=vif1.0-emu", "netdev=eth0"}

	// step runs one action on both sides and returns their exit codes,
	// xenstore requests and resulting state.
	type result struct {
		code int
		reqs []string
		st   netState
	}
	step := func(t *testing.T, env []string, args ...string) [2]result {
		var r [2]result
		for i, s := range sides {
			r[i].code, r[i].reqs = s.run(t, binDir, env, args...)
			r[i].st = readNetState(t, s.ns)
		}
		return r
	}
	// same compares everything but the documented differences, which the
	// caller checks.
	same := func(t *testing.T, what string, r [2]result, dev string, wantProto int) {
		t.Helper()
		routes, n := withoutProto(r[1].st.Routes)
		if n != wantProto {
			t.Errorf("%s: %d of vif-proxyarp's routes carry proto 213, want %d: %q", what, n, wantProto, r[1].st.Routes)
		}
		if _, n := withoutProto(r[0].st.Routes); n != 0 {
			t.Errorf("%s: vif-route's routes carry proto 213: %q", what, r[0].st.Routes)
		}
		if diff := cmp.Diff(r[0].st.Routes, routes); diff != "" {
			t.Errorf("%s: main table, proto aside (-vif-route +vif-proxyarp):\n%s", what, diff)
		}
		// Aside: vif-route's broadcast routes of the guest devices, and
		// the local routes of a device vif-proxyarp set down (the kernel
		// drops them) and vif-route did not.
		skip := upDiffers(r[0].st, r[1].st)
		if diff := cmp.Diff(localAside(r[0].st.Local, true, skip), localAside(r[1].st.Local, false, skip)); diff != "" {
			t.Errorf("%s: local table, broadcast routes and devices up on one side only (%q) aside (-vif-route +vif-proxyarp):\n%s", what, skip, diff)
		}
		if diff := cmp.Diff(r[0].st.Addrs, r[1].st.Addrs); diff != "" {
			t.Errorf("%s: addresses (-vif-route +vif-proxyarp):\n%s", what, diff)
		}
		if diff := cmp.Diff(r[0].reqs, r[1].reqs); diff != "" {
			t.Errorf("%s: xenstore requests (-vif-route +vif-proxyarp):\n%s", what, diff)
		}
	}
	// differs checks the documented differences of a plugged device.
	plugged := func(t *testing.T, what string, r [2]result, dev string) {
		t.Helper()
		wantBrd := []string{dev + " 192.0.2.1 brd 192.0.2.255"}
		if diff := cmp.Diff(wantBrd, r[0].st.Brd); diff != "" {
			t.Errorf("%s: vif-route's broadcast addresses (-want +got):\n%s", what, diff)
		}
		if len(r[1].st.Brd) != 0 {
			t.Errorf("%s: vif-proxyarp's addresses with a broadcast: %q, want none", what, r[1].st.Brd)
		}
		for i, delay := range []string{"80", "0"} {
			if !slices.Contains(r[i].st.Sysctl, "conf/"+dev+"/proxy_arp=1") || !slices.Contains(r[i].st.Sysctl, "neigh/"+dev+"/proxy_delay="+delay) {
				t.Errorf("%s: %s's sysctls %q, want proxy_arp=1 and proxy_delay=%s on %s", what, sides[i].name, r[i].st.Sysctl, delay, dev)
			}
		}
		for i := range sides {
			if !slices.Contains(r[i].st.Links, dev+" up") {
				t.Errorf("%s: %s left %s %q, want up", what, sides[i].name, dev, r[i].st.Links)
			}
		}
	}

	t.Run("vif online", func(t *testing.T) {
		r := step(t, vifEnv, "online", "type_if=vif")
		for i, s := range sides {
			if r[i].code != 0 {
				t.Fatalf("%s online: exit %d, want 0", s.name, r[i].code)
			}
			if got := s.xs("backend/vif/1/0/hotplug-status"); got != "connected" {
				t.Errorf("%s online: hotplug-status %q, want connected", s.name, got)
			}
		}
		want := []string{
			"192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1 linkdown",
			"192.0.2.2 dev vif1.0 scope link src 192.0.2.1 metric 2",
			"192.0.2.3 dev vif1.0 scope link src 192.0.2.1 metric 2",
		}
		if diff := cmp.Diff(want, r[0].st.Routes); diff != "" {
			t.Errorf("vif-route's routes after online (-want +got):\n%s", diff)
		}
		wantReqs := []string{"read backend/vif/1/0/vifname", "read backend/vif/1/0/ip", "write backend/vif/1/0/hotplug-status connected"}
		if diff := cmp.Diff(wantReqs, r[0].reqs); diff != "" {
			t.Errorf("vif-route's xenstore requests (-want +got):\n%s", diff)
		}
		same(t, "online", r, "vif1.0", 2)
		plugged(t, "online", r, "vif1.0")
	})

	t.Run("a second vif online: vif-route fails, vif-proxyarp converges", func(t *testing.T) {
		r := step(t, vifEnv, "online", "type_if=vif")
		if r[0].code != 1 || sides[0].xs("backend/vif/1/0/hotplug-status") != "error" {
			t.Errorf("vif-route's second online: exit %d, hotplug-status %q; want 1 and error (ip route add: File exists)",
				r[0].code, sides[0].xs("backend/vif/1/0/hotplug-status"))
		}
		if r[1].code != 0 || sides[1].xs("backend/vif/1/0/hotplug-status") != "connected" {
			t.Errorf("vif-proxyarp's second online: exit %d, hotplug-status %q; want 0 and connected",
				r[1].code, sides[1].xs("backend/vif/1/0/hotplug-status"))
		}
		if got := sides[1].xs("backend/vif/1/0/hotplug-error"); got != "<absent>" {
			t.Errorf("vif-proxyarp's second online wrote hotplug-error %q", got)
		}
		// The kernel state is the same: vif-route failed on its first
		// route, which was there already.
		routes, _ := withoutProto(r[1].st.Routes)
		if diff := cmp.Diff(r[0].st.Routes, routes); diff != "" {
			t.Errorf("main table after a second online (-vif-route +vif-proxyarp):\n%s", diff)
		}
	})

	t.Run("vif offline", func(t *testing.T) {
		r := step(t, vifEnv, "offline", "type_if=vif")
		for i, s := range sides {
			if r[i].code != 0 {
				t.Errorf("%s offline: exit %d, want 0", s.name, r[i].code)
			}
		}
		if got := r[0].st.Routes; len(got) != 1 {
			t.Errorf("vif-route left routes after offline: %q", got)
		}
		wantReqs := []string{"read backend/vif/1/0/vifname", "read backend/vif/1/0/ip"}
		if diff := cmp.Diff(wantReqs, r[0].reqs); diff != "" {
			t.Errorf("vif-route's xenstore requests on offline (-want +got):\n%s", diff)
		}
		same(t, "offline", r, "vif1.0", 0)
		if !slices.Contains(r[0].st.Links, "vif1.0 up") || !slices.Contains(r[1].st.Links, "vif1.0 down") {
			t.Errorf("vif1.0 after offline: vif-route %q, vif-proxyarp %q; want up (ifdown is a no-op) and down", r[0].st.Links, r[1].st.Links)
		}
	})

	t.Run("tap add", func(t *testing.T) {
		r := step(t, tapEnv, "add", "type_if=tap")
		for i, s := range sides {
			if r[i].code != 0 {
				t.Fatalf("%s add: exit %d, want 0", s.name, r[i].code)
			}
		}
		want := []string{
			"192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1 linkdown",
			"192.0.2.2 dev vif1.0-emu scope link src 192.0.2.1 metric 1",
			"192.0.2.3 dev vif1.0-emu scope link src 192.0.2.1 metric 1",
		}
		if diff := cmp.Diff(want, r[0].st.Routes); diff != "" {
			t.Errorf("vif-route's routes after tap add (-want +got):\n%s", diff)
		}
		wantReqs := []string{"read /local/domain/0/backend/vif/1/0/vifname", "read /local/domain/0/backend/vif/1/0/ip"}
		if diff := cmp.Diff(wantReqs, r[0].reqs); diff != "" {
			t.Errorf("vif-route's xenstore requests on tap add (-want +got):\n%s", diff)
		}
		same(t, "tap add", r, "vif1.0-emu", 2)
		// vif1.0 keeps its address from the vif online on both sides.
		wantBrd := []string{"vif1.0 192.0.2.1 brd 192.0.2.255", "vif1.0-emu 192.0.2.1 brd 192.0.2.255"}
		if diff := cmp.Diff(wantBrd, r[0].st.Brd); diff != "" {
			t.Errorf("vif-route's broadcast addresses (-want +got):\n%s", diff)
		}
		for i, delay := range []string{"80", "0"} {
			if !slices.Contains(r[i].st.Sysctl, "neigh/vif1.0-emu/proxy_delay="+delay) || !slices.Contains(r[i].st.Links, "vif1.0-emu up") {
				t.Errorf("%s after tap add: %q %q, want vif1.0-emu up with proxy_delay=%s", sides[i].name, r[i].st.Sysctl, r[i].st.Links, delay)
			}
		}
	})

	t.Run("tap remove", func(t *testing.T) {
		r := step(t, tapEnv, "remove", "type_if=tap")
		for i, s := range sides {
			if r[i].code != 0 {
				t.Errorf("%s remove: exit %d, want 0", s.name, r[i].code)
			}
		}
		same(t, "tap remove", r, "vif1.0-emu", 0)
		if !slices.Contains(r[0].st.Links, "vif1.0-emu up") || !slices.Contains(r[1].st.Links, "vif1.0-emu down") {
			t.Errorf("vif1.0-emu after remove: vif-route %q, vif-proxyarp %q; want up and down", r[0].st.Links, r[1].st.Links)
		}
	})

	t.Run("pairs libxl never runs do nothing", func(t *testing.T) {
		before := [2]netState{readNetState(t, sides[0].ns), readNetState(t, sides[1].ns)}
		for _, c := range []struct {
			env  []string
			args []string
		}{
			{vifEnv, []string{"add", "type_if=vif"}},
			{tapEnv, []string{"online", "type_if=tap"}},
		} {
			r := step(t, c.env, c.args...)
			for i, s := range sides {
				if r[i].code != 0 || len(r[i].reqs) != 0 {
					t.Errorf("%s %q: exit %d, xenstore requests %q; want 0 and none", s.name, c.args, r[i].code, r[i].reqs)
				}
				if diff := cmp.Diff(before[i], r[i].st); diff != "" {
					t.Errorf("%s %q changed the namespace (-before +after):\n%s", s.name, c.args, diff)
				}
			}
		}
	})
}
