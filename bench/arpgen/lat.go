package main

import (
	"fmt"
	"math"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
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

	rxfd, err := openPacket(ifi, unix.ETH_P_ALL, filterARP(0), 4<<20)
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

	frames := make([][]byte, len(targets))
	for i, t := range targets {
		frames[i] = buildARP(dst, ifi.HardwareAddr, arpRequest, ifi.HardwareAddr, src, nil, t)
	}
	buf := make([]byte, 256)
	var wire, gen []float64
	var sent, unanswered, sendErrs, noReqTS int
	start := time.Now()
	deadline := start.Add(min(*limit, maxDuration))
	next := start
	for i := 0; i < *n && time.Now().Before(deadline); i++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		for { // drain whatever came late
			if _, _, _, ok, _ := rx.read(buf, 0); !ok {
				break
			}
		}
		tgt := targets[i%len(targets)]
		tSend := time.Now()
		next = tSend.Add(*interval)
		if err := write(txfd, frames[i%len(targets)]); err != nil {
			sendErrs++
			continue
		}
		sent++
		var reqTS, repTS time.Time
		until := tSend.Add(*timeout)
		for {
			rem := time.Until(until)
			if rem <= 0 {
				break
			}
			m, ptype, ts, ok, err := rx.read(buf, rem)
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if !ok {
				break
			}
			f, ok := parseARP(buf[:m])
			if !ok {
				continue
			}
			switch {
			case ptype == packetOutgoing && f.op == arpRequest && f.tpa == tgt && f.spa == src:
				if reqTS.IsZero() {
					reqTS = ts
				}
			case ptype != packetOutgoing && f.op == arpReply && f.spa == tgt && f.tpa == src:
				repTS = ts
			}
			if !repTS.IsZero() {
				break
			}
		}
		if repTS.IsZero() {
			unanswered++
			continue
		}
		gen = append(gen, float64(repTS.Sub(tSend).Nanoseconds())/1e3)
		if reqTS.IsZero() {
			noReqTS++
			continue
		}
		wire = append(wire, float64(repTS.Sub(reqTS).Nanoseconds())/1e3)
	}
	ws, gs := sorted(wire), sorted(gen)
	out := map[string]any{
		"kind": "lat", "responder": c.label, "case": c.cas, "mode": mode,
		"interval_ms": float64(*interval) / 1e6, "targets": len(targets),
		"sent": sent, "answered": len(gen), "unanswered": unanswered, "send_errors": sendErrs,
		"no_request_ts": noReqTS,
		"wire_p50_us":   round(pct(ws, 50), 1), "wire_p99_us": round(pct(ws, 99), 1), "wire_max_us": round(pct(ws, 100), 1),
		"gen_p50_us": round(pct(gs, 50), 1), "gen_p99_us": round(pct(gs, 99), 1),
	}
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
	if *samples {
		r := make([]float64, len(wire))
		for i, w := range wire {
			r[i] = round(w, 1)
		}
		out["samples_us"] = r
	}
	emit(out)
	return nil
}
