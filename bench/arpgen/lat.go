package main

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"time"
)

const packetOutgoing = 4 // PACKET_OUTGOING

// runLat sends one request at a time and measures the reply's wire latency:
// the kernel receive timestamp of the reply minus that of the request, both
// taken on the router's interface (an ETH_P_ALL socket sees the outgoing
// request with its timestamp), plus the latency from the generator's own
// send call.
func runLat(args []string) error {
	c := newCommon("lat")
	n := c.fs.Int("n", 200, "requests to send")
	interval := c.fs.Duration("interval", time.Millisecond, "time from one request to the next (or to the previous reply, when later)")
	timeout := c.fs.Duration("timeout", 100*time.Millisecond, "how long to wait for each reply")
	unicast := c.fs.String("unicast", "", "send to this MAC instead of broadcast (a router's re-check)")
	limit := c.fs.Duration("max", time.Minute, "stop after this long whatever --n says")
	samples := c.fs.Bool("samples", false, "include every wire sample (us) in the output")
	metricsUnix := c.fs.String("metrics-unix", "", "serve's metrics unix socket: also report the latency inside proxyarp (its reply latency histogram)")
	c.fs.Parse(args)
	var inside0 []bucket
	if *metricsUnix != "" {
		var err error
		if inside0, err = scrapeInside(*metricsUnix); err != nil {
			return err
		}
	}
	ifi, src, targets, err := c.setup(1024)
	if err != nil {
		return err
	}
	if *n <= 0 || *n > maxRequests {
		return fmt.Errorf("--n %d: want 1..%d", *n, maxRequests)
	}
	dst := broadcast
	mode := "bcast"
	if *unicast != "" {
		if dst, err = net.ParseMAC(*unicast); err != nil || len(dst) != 6 {
			return fmt.Errorf("--unicast %q: not a MAC", *unicast)
		}
		mode = "ucast"
	}
	runtime.LockOSThread()

	rx, txfd, closeAll, err := openLatSockets(ifi, filterARP(0))
	if err != nil {
		return err
	}
	defer closeAll()

	frames := make([][]byte, len(targets))
	for i, t := range targets {
		frames[i] = buildARP(dst, ifi.HardwareAddr, arpRequest, ifi.HardwareAddr, src, nil, t)
	}
	st, err := latRun{
		rx: rx, txfd: txfd, targets: targets, frames: frames,
		n: *n, interval: *interval, timeout: *timeout, limit: *limit,
		classify: func(frame []byte, outgoing bool, tgt netip.Addr) int {
			f, ok := parseARP(frame)
			switch {
			case !ok:
				return latOther
			case outgoing && f.op == arpRequest && f.tpa == tgt && f.spa == src:
				return latRequest
			case !outgoing && f.op == arpReply && f.spa == tgt && f.tpa == src:
				return latAnswer
			}
			return latOther
		},
	}.measure()
	if err != nil {
		return err
	}
	out := map[string]any{
		"kind": "lat", "responder": c.label, "case": c.cas, "mode": mode,
		"interval_ms": float64(*interval) / 1e6, "targets": len(targets),
	}
	st.addTo(out, *samples)
	if *metricsUnix != "" {
		inside1, err := scrapeInside(*metricsUnix)
		if err != nil {
			return err
		}
		if p50 := insidePercentile(inside0, inside1, 50); !math.IsNaN(p50) {
			out["inside_p50_us"] = round(p50, 1)
			out["inside_p99_us"] = round(insidePercentile(inside0, inside1, 99), 1)
		}
	}
	emit(out)
	return nil
}
