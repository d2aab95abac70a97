package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/proxyarp/proxyarp/bench/internal/labnet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// runChurn changes routes while other measurements run: it adds and
// removes /32 routes for --pool addresses (documentation ranges only) via
// --route-dev in --route-ns, --rate changes per second, for --for. Each
// change is one netlink call; the pool's addresses come and go in turn, so
// the answer set's size stays near half the pool. Nothing is ever sent to
// them (serve may announce them: its own gratuitous ARP, on the uplink).
func runChurn(args []string) error {
	fs := flag.NewFlagSet("churn", flag.ExitOnError)
	label := fs.String("label", "", "responder label, copied to the output")
	routeNS := fs.String("route-ns", "", "namespace whose main table is changed (pxr-* only)")
	routeDev := fs.String("route-dev", "vif1.0", "the routes' device in --route-ns")
	pool := fs.String("pool", "198.51.100.1-198.51.100.200", "the routes' addresses: A,B-C,...")
	rate := fs.Int("rate", 1000, "route changes per second (1..10000)")
	dur := fs.Duration("for", 5*time.Second, "how long (at most 60s)")
	fs.Parse(args)
	if err := labnet.RefuseRootNamespace(); err != nil {
		return err
	}
	if *rate < 1 || *rate > 10000 {
		return fmt.Errorf("--rate %d: want 1..10000", *rate)
	}
	if *dur <= 0 || *dur > time.Minute {
		return fmt.Errorf("--for %v: want up to 60s", *dur)
	}
	addrs, err := labnet.ParseAddrs(*pool, 4096)
	if err != nil {
		return fmt.Errorf("--pool: %w", err)
	}
	nl, link, err := routeHandle(*routeNS, *routeDev)
	if err != nil {
		return err
	}
	defer nl.Close()
	route := func(a netip.Addr) *netlink.Route {
		return &netlink.Route{LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK,
			Dst: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	}
	present := make([]bool, len(addrs))
	defer func() {
		for i, a := range addrs {
			if present[i] {
				nl.RouteDel(route(a))
			}
		}
	}()
	step := time.Second / time.Duration(*rate)
	start := time.Now()
	end := start.Add(*dur)
	changes, errs := 0, 0
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * step)
		if !next.Before(end) {
			break
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		k := i % len(addrs)
		var err error
		if present[k] {
			err = nl.RouteDel(route(addrs[k]))
		} else {
			err = nl.RouteAdd(route(addrs[k]))
		}
		if err != nil {
			errs++
			continue
		}
		present[k] = !present[k]
		changes++
	}
	el := time.Since(start)
	emit(map[string]any{"kind": "churn", "responder": *label, "changes": changes, "errors": errs,
		"rate": *rate, "achieved_per_s": round(float64(changes)/el.Seconds(), 0), "pool": len(addrs)})
	return nil
}

// routeHandle opens a netlink handle in namespace ns (pxr-* only: the
// bench changes no other routing table) and looks up its link dev, for
// --route-ns and --route-dev.
func routeHandle(ns, dev string) (*netlink.Handle, netlink.Link, error) {
	if !strings.HasPrefix(ns, "pxr-") {
		return nil, nil, fmt.Errorf("--route-ns %q: want a pxr-* namespace", ns)
	}
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		return nil, nil, fmt.Errorf("--route-ns: %w", err)
	}
	nl, err := netlink.NewHandleAt(nsh)
	nsh.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("--route-ns: %w", err)
	}
	link, err := nl.LinkByName(dev)
	if err != nil {
		nl.Close()
		return nil, nil, fmt.Errorf("--route-dev %s in %s: %w", dev, ns, err)
	}
	return nl, link, nil
}
