package main

import (
	"fmt"
	"github.com/proxyarp/proxyarp/bench/internal/labnet"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// runConv measures convergence: requests go out every --every while arpgen
// installs the target's /32 route via --route-dev in --route-ns (a pxr-*
// namespace, over netlink: the call takes ~0.1 ms, unlike forking ip) and
// then removes it. Times are from just before the netlink call to the
// kernel receive timestamp of the first reply after the add and of the last
// reply after the delete; their resolution is --every.
func runConv(args []string) error {
	c := newCommon("conv")
	reps := c.fs.Int("reps", 5, "add/del cycles")
	every := c.fs.Duration("every", time.Millisecond, "request interval")
	timeout := c.fs.Duration("timeout", 2*time.Second, "longest wait for the first reply after add")
	settle := c.fs.Duration("settle", 200*time.Millisecond, "how long to keep asking after del")
	routeNS := c.fs.String("route-ns", "", "namespace whose main table gets the route (pxr-* only)")
	routeDev := c.fs.String("route-dev", "vif1.0", "the route's device in --route-ns")
	routeSrc := c.fs.String("route-src", "", "the route's preferred source, if any")
	c.fs.Parse(args)
	ifi, src, targets, err := c.setup(1)
	if err != nil {
		return err
	}
	if *reps < 1 || *reps > 100 {
		return fmt.Errorf("--reps %d: want 1..100", *reps)
	}
	if *every < 100*time.Microsecond {
		return fmt.Errorf("--every %v: want at least 100us", *every)
	}
	tgt := targets[0]
	nl, link, err := routeHandle(*routeNS, *routeDev)
	if err != nil {
		return err
	}
	defer nl.Close()
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK, Dst: &net.IPNet{IP: tgt.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if *routeSrc != "" {
		s, err := netip.ParseAddr(*routeSrc)
		if err != nil || !labnet.InDocRanges(s) {
			return fmt.Errorf("--route-src %q: want a documentation-range address", *routeSrc)
		}
		route.Src = s.AsSlice()
	}
	nl.RouteDel(route) // start without it

	rxfd, err := openPacket(ifi, unix.ETH_P_ARP, filterARP(arpReply), 4<<20)
	if err != nil {
		return err
	}
	defer unix.Close(rxfd)
	rx, err := newTSReader(rxfd)
	if err != nil {
		return err
	}
	txfd, err := openPacket(ifi, 0, nil, 0)
	if err != nil {
		return err
	}
	defer unix.Close(txfd)
	frame := buildARP(broadcast, ifi.HardwareAddr, arpRequest, ifi.HardwareAddr, src, nil, tgt)

	var mu sync.Mutex
	var replyTS []time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	hardStop := time.Now().Add(time.Duration(*reps)*(*timeout+*settle+time.Second) + 10*time.Second)
	go func() { // sender
		defer wg.Done()
		runtime.LockOSThread()
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				if now.After(hardStop) {
					return
				}
				write(txfd, frame)
			}
		}
	}()
	go func() { // receiver
		defer wg.Done()
		runtime.LockOSThread()
		buf := make([]byte, 256)
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, _, ts, ok, err := rx.read(buf, 20*time.Millisecond)
			if err != nil || !ok {
				continue
			}
			if f, ok := parseARP(buf[:m]); ok && f.op == arpReply && f.spa == tgt && f.tpa == src {
				mu.Lock()
				replyTS = append(replyTS, ts)
				mu.Unlock()
			}
		}
	}()
	since := func(t0 time.Time) (first, last time.Time, n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, ts := range replyTS {
			if ts.After(t0) {
				if first.IsZero() {
					first = ts
				}
				last = ts
				n++
			}
		}
		return
	}
	var addMS, delMS []float64
	var addMissing, preAnswered int
	var runErr error
	for r := 0; r < *reps && runErr == nil; r++ {
		t0 := time.Now()
		time.Sleep(30 * time.Millisecond)
		if _, _, n := since(t0); n > 0 {
			preAnswered++
		}
		tAdd0 := time.Now()
		if runErr = nl.RouteAdd(route); runErr != nil {
			break
		}
		var first time.Time
		for until := tAdd0.Add(*timeout); time.Now().Before(until); time.Sleep(time.Millisecond) {
			if first, _, _ = since(tAdd0); !first.IsZero() {
				break
			}
		}
		if first.IsZero() {
			addMissing++
		} else {
			addMS = append(addMS, float64(first.Sub(tAdd0).Microseconds())/1e3)
		}
		time.Sleep(30 * time.Millisecond)
		tDel0 := time.Now()
		if runErr = nl.RouteDel(route); runErr != nil {
			break
		}
		time.Sleep(*settle)
		if _, last, n := since(tDel0); n > 0 {
			delMS = append(delMS, float64(last.Sub(tDel0).Microseconds())/1e3)
		} else {
			delMS = append(delMS, 0) // none after the delete began
		}
	}
	close(stop)
	wg.Wait()
	if runErr != nil {
		return runErr
	}
	as, ds := sorted(addMS), sorted(delMS)
	emit(map[string]any{
		"kind": "conv", "responder": c.label, "case": c.cas, "reps": *reps, "every_ms": float64(*every) / 1e6,
		"add_p50_ms": round(pct(as, 50), 2), "add_max_ms": round(pct(as, 100), 2), "add_missing": addMissing,
		"del_p50_ms": round(pct(ds, 50), 2), "del_max_ms": round(pct(ds, 100), 2),
		"pre_answered": preAnswered,
	})
	return nil
}
