package main

// Two `proxyarp hotplug` processes racing on one vif (issue 16), in network
// namespaces (root only):
//
//	go test -count=1 -run HotplugRace -v ./cmd/proxyarp/
//
// libxl serialises the scripts of one device, but udev, a retried
// `xl network-attach` or an operator re-running the script do not: the
// result must still be consistent. Namespaces are pxr-race-<pid>-<random>-*,
// deleted in t.Cleanup; helpers are netns_test.go's, reliability_test.go's
// and hotplug_e2e_test.go's.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/xenstore/xenstoretest"
)

// raceHotplugTimeout bounds one racing `proxyarp hotplug` process.
const raceHotplugTimeout = 20 * time.Second

// newRelHostNamed is newRelHost with namespaces named PREFIX<pid>-<random>-*
// and no extra links.
func newRelHostNamed(t *testing.T, prefix string) *relHost {
	t.Helper()
	ns := addNamespaces(t, prefix, "router", "host")
	h := &relHost{router: ns["router"], host: ns["host"], peers: make(map[string]string)}
	hostSysctls(t, h.host)
	// The host's kernel never answers ARP: every reply carrying its MAC
	// is proxyarp's.
	setSysctl(t, h.host, "net/ipv4/conf/all/arp_ignore", "8")
	tp := &topology{router: h.router, host: h.host}
	tp.createUplink(t)
	return h
}

// hotplugResult is one racing process's outcome.
type hotplugResult struct {
	action string
	err    error
	out    string
}

// raceHotplugs starts one `proxyarp hotplug ACTION` per action, stagger
// apart (each started before any is waited for), and returns their outcomes
// in the order given.
func raceHotplugs(t *testing.T, ns, bin string, env []string, stagger time.Duration, actions ...string) []hotplugResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), raceHotplugTimeout)
	defer cancel()
	res := make([]hotplugResult, len(actions))
	outs := make([]*syncBuffer, len(actions))
	var wg sync.WaitGroup
	for i, a := range actions {
		outs[i] = &syncBuffer{}
		cmd := hotplugCmd(t, ctx, ns, bin, env, a, "type_if=vif")
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if i > 0 {
			time.Sleep(stagger)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting proxyarp hotplug %s: %v", a, err)
		}
		wg.Go(func() { res[i] = hotplugResult{action: a, err: cmd.Wait()} })
	}
	wg.Wait()
	for i := range res {
		res[i].out = outs[i].String()
	}
	return res
}

// linkUp reports whether dev is administratively up in ns.
func linkUp(t *testing.T, ns, dev string) bool {
	t.Helper()
	out := ipn(t, ns, "-o", "link", "show", "dev", dev)
	flags, _, _ := strings.Cut(out, ">")
	return slices.Contains(strings.Split(flags[strings.IndexByte(flags, '<')+1:], ","), "UP")
}

func TestHotplugRace(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	h := newRelHostNamed(t, "pxr-race-")
	guest := addNamespaces(t, "pxr-race-", "g1")["g1"]
	bareGuest(t, h.host, guest, "vif1.0", guest1IP, hostIP)

	entries := []netip.Addr{guest1IP, netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("192.0.2.21"), netip.MustParseAddr("192.0.2.22")}
	var want []string
	var ipList []string
	for _, a := range entries {
		want = append(want, a.String()+" dev vif1.0 scope link src 192.0.2.1 metric 2")
		ipList = append(ipList, a.String())
	}
	slices.Sort(want)
	srv := xenstoretest.NewServer(t)
	srv.Set("backend/vif/1/0/ip", strings.Join(ipList, " "))
	env := hotplugEnv(srv, 1, 0)
	const status = "backend/vif/1/0/hotplug-status"

	d := startDaemon(t, h.host, bin, "serve", "--uplink", "eth0", "--log-format", "json", "--garp-count", "0")
	if !waitLog(d, `"uplink attached"`, readyTimeout) {
		t.Fatalf("proxyarp serve did not attach within %v:\n%s", readyTimeout, d.out.String())
	}
	p := openProbe(t, h.router, "eth0", routerIP)
	hostMAC := linkMAC(t, h.host, "eth0")

	// reset unplugs the vif as offline does (with ip: cheaper than a -race
	// process), clears hotplug-status and, when plugged, runs one online.
	reset := func(t *testing.T, plugged bool) {
		t.Helper()
		ipn(t, h.host, "route", "flush", "proto", "213")
		ipn(t, h.host, "link", "set", "vif1.0", "down")
		srv.Set(status, "")
		srv.Set("backend/vif/1/0/hotplug-error", "")
		if plugged {
			hotplugE2ERun(t, h.host, bin, env, "online", "type_if=vif")
		}
	}
	// consistent checks the result of a race: proxyarp's routes are all
	// there (device up, hotplug-status=connected) or none is, and
	// proxyarp serve answers exactly for them. It returns "present" or
	// "absent".
	consistent := func(t *testing.T, res []hotplugResult) string {
		t.Helper()
		got := managedRoutes(t, h.host)
		st, _ := srv.Get(status)
		var outcome string
		switch {
		case cmp.Equal(want, got):
			outcome = "present"
			if st != "connected" {
				t.Errorf("all routes present but hotplug-status = %q, want connected", st)
			}
			if !linkUp(t, h.host, "vif1.0") {
				t.Errorf("all routes present but vif1.0 is down")
			}
		case len(got) == 0:
			outcome = "absent"
		default:
			t.Errorf("half plugged: proxyarp's routes (-want +got):\n%s", cmp.Diff(want, got))
		}
		for _, r := range res {
			if strings.Contains(r.out, "file exists") || strings.Contains(strings.ToLower(r.out), "eexist") {
				t.Errorf("hotplug %s failed with EEXIST: %s", r.action, r.out)
			}
		}
		owned := make(map[netip.Addr]bool)
		for _, a := range entries {
			owned[a] = outcome == "present"
		}
		if extra, missing := p.waitAnswerSet(t, entries, owned, hostMAC, 2*time.Second); len(extra)+len(missing) > 0 {
			t.Errorf("routes %s; proxyarp serve answers %v it should not and misses %v", outcome, extra, missing)
		}
		if t.Failed() {
			for _, r := range res {
				t.Logf("hotplug %s: %v\n%s", r.action, r.err, r.out)
			}
		}
		return outcome
	}

	// Each round is one race; under -race on 2 busy cores a round takes
	// 2-4 s. PXR_RACE_ROUNDS=N runs more.
	rounds := 2
	if n, err := strconv.Atoi(os.Getenv("PXR_RACE_ROUNDS")); err == nil && n > 0 && n <= 500 {
		rounds = n
	}
	t.Run("two onlines at once both succeed and plug the vif fully", func(t *testing.T) {
		for round := range rounds {
			reset(t, round%2 == 1) // from unplugged, and from plugged
			res := raceHotplugs(t, h.host, bin, env, rand.N(30*time.Millisecond), "online", "online")
			for _, r := range res {
				if r.err != nil {
					t.Errorf("round %d: hotplug online: %v\n%s", round, r.err, r.out)
				}
			}
			if got := consistent(t, res); got != "present" {
				t.Errorf("round %d: routes %s after two successful onlines", round, got)
			}
			if t.Failed() {
				return
			}
		}
	})

	t.Run("online racing offline leaves the vif fully plugged or fully unplugged", func(t *testing.T) {
		outcomes := map[string]int{}
		for round := range 2 * rounds {
			plugged := round%2 == 1
			reset(t, plugged)
			actions := []string{"online", "offline"}
			if round%4 >= 2 {
				actions = []string{"offline", "online"} // started first
			}
			// A hotplug process runs for ~30 ms (~0.5 s with -race): a
			// random stagger moves the second across the first's steps.
			span := 40 * time.Millisecond
			if raceEnabled() {
				span = 400 * time.Millisecond
			}
			stagger := rand.N(span)
			res := raceHotplugs(t, h.host, bin, env, stagger, actions...)
			t.Logf("round %d: %s then %s %v later, from plugged=%v", round, actions[0], actions[1], stagger.Round(time.Millisecond), plugged)
			online := res[slices.IndexFunc(res, func(r hotplugResult) bool { return r.action == "online" })]
			for _, r := range res {
				if r.action == "offline" && r.err != nil {
					t.Errorf("round %d: hotplug offline: %v\n%s", round, r.err, r.out)
				}
			}
			got := consistent(t, res)
			if got == "present" && online.err != nil {
				t.Errorf("round %d: routes present although online failed: %v", round, online.err)
			}
			outcomes[fmt.Sprintf("%s (online ok=%v)", got, online.err == nil)]++
			if t.Failed() {
				return
			}
		}
		t.Logf("outcomes over %d rounds: %v", 2*rounds, outcomes)
	})

	t.Run("two onlines at once with vifname both succeed", func(t *testing.T) {
		// vif-common.sh renames only when no device is called $vifname
		// yet; the loser of the race finds the device renamed already and
		// goes on with it (it used to fail and write hotplug-status=error
		// over the winner's connected).
		vif := "vif3.0"
		ipn(t, h.host, "link", "add", vif, "type", "veth", "peer", "name", "p3")
		ipn(t, h.host, "link", "set", "p3", "up")
		srv.Set("backend/vif/3/0/ip", "192.0.2.30")
		srv.Set("backend/vif/3/0/vifname", "web3")
		env3 := hotplugEnv(srv, 3, 0)
		res := raceHotplugs(t, h.host, bin, env3, 0, "online", "online")
		for _, r := range res {
			if r.err != nil {
				t.Errorf("hotplug online with vifname: %v\n%s", r.err, r.out)
			}
		}
		if st, _ := srv.Get("backend/vif/3/0/hotplug-status"); st != "connected" {
			t.Errorf("hotplug-status = %q after two onlines with vifname, want connected", st)
		}
		if got := ipn(t, h.host, "-4", "route", "show", "192.0.2.30/32", "proto", "213"); !strings.Contains(got, "dev web3") {
			t.Errorf("route to 192.0.2.30 = %q, want one via web3", strings.TrimSpace(got))
		}
	})

	if !d.running() {
		t.Fatalf("proxyarp serve exited: %v", d.err)
	}
}
