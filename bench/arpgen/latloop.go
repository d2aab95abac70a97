package main

// The measuring that lat and ndplat share: their sockets, the loop that
// sends one request at a time and times its answer, and the figures it
// reports. Each supplies its frames and says which frames read back are
// its request and its answer.

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// openLatSockets opens the receiving socket (ETH_P_ALL, so that it also sees
// the outgoing requests, with filter and kernel receive timestamps) and the
// sending one on ifi; closeAll closes both.
func openLatSockets(ifi *net.Interface, filter []bpf.RawInstruction) (rx *tsReader, txfd int, closeAll func(), err error) {
	rxfd, err := openPacket(ifi, unix.ETH_P_ALL, filter, 4<<20)
	if err != nil {
		return nil, 0, nil, err
	}
	if rx, err = newTSReader(rxfd); err != nil {
		unix.Close(rxfd)
		return nil, 0, nil, err
	}
	if txfd, err = openPacket(ifi, 0, nil, 0); err != nil {
		unix.Close(rxfd)
		return nil, 0, nil, err
	}
	return rx, txfd, func() { unix.Close(txfd); unix.Close(rxfd) }, nil
}

// What a frame read back during a latency run is, as latRun.classify says.
const (
	latOther   = iota // no part of this exchange
	latRequest        // the request just sent, seen leaving the interface
	latAnswer         // the answer to it
)

// latRun is one latency run: n requests (frames[i%len(frames)] for
// targets[i%len(targets)]), one at a time, interval apart or right after
// the previous answer when that came later, each answer awaited at most
// timeout, the whole run at most limit (and maxDuration).
type latRun struct {
	rx                       *tsReader
	txfd                     int
	targets                  []netip.Addr
	frames                   [][]byte
	n                        int
	interval, timeout, limit time.Duration
	// drainMax bounds the reads that drop late frames before each
	// request; 0: until there are none.
	drainMax int
	// dropEarlyAnswer counts an answer stamped before its request (a
	// timestamp taken at read time, not a wire figure) as one without a
	// request timestamp.
	dropEarlyAnswer bool
	// classify says what frame, read after the request for tgt was sent,
	// is; outgoing: the interface sent it (PACKET_OUTGOING).
	classify func(frame []byte, outgoing bool, tgt netip.Addr) int
}

// latStats is what a latRun measured.
type latStats struct {
	wire []float64 // us, answer minus request, both kernel receive timestamps
	gen  []float64 // us, answer minus the generator's send call

	sent, unanswered, sendErrs, noReqTS int
}

// measure sends the requests and times the answers.
func (r latRun) measure() (latStats, error) {
	var s latStats
	buf := make([]byte, 256)
	start := time.Now()
	deadline := start.Add(min(r.limit, maxDuration))
	next := start
	for i := 0; i < r.n && time.Now().Before(deadline); i++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		for j := 0; r.drainMax == 0 || j < r.drainMax; j++ { // drain whatever came late
			if _, _, _, ok, _ := r.rx.read(buf, 0); !ok {
				break
			}
		}
		tgt := r.targets[i%len(r.targets)]
		tSend := time.Now()
		next = tSend.Add(r.interval)
		if err := write(r.txfd, r.frames[i%len(r.targets)]); err != nil {
			s.sendErrs++
			continue
		}
		s.sent++
		var reqTS, repTS time.Time
		until := tSend.Add(r.timeout)
		for {
			rem := time.Until(until)
			if rem <= 0 {
				break
			}
			m, ptype, ts, ok, err := r.rx.read(buf, rem)
			if err != nil {
				return s, fmt.Errorf("read: %w", err)
			}
			if !ok {
				break
			}
			switch r.classify(buf[:m], ptype == packetOutgoing, tgt) {
			case latRequest:
				if reqTS.IsZero() {
					reqTS = ts
				}
			case latAnswer:
				repTS = ts
			}
			if !repTS.IsZero() {
				break
			}
		}
		if repTS.IsZero() {
			s.unanswered++
			continue
		}
		s.gen = append(s.gen, float64(repTS.Sub(tSend).Nanoseconds())/1e3)
		if reqTS.IsZero() {
			s.noReqTS++
			continue
		}
		if r.dropEarlyAnswer && repTS.Before(reqTS) {
			s.noReqTS++
			continue
		}
		s.wire = append(s.wire, float64(repTS.Sub(reqTS).Nanoseconds())/1e3)
	}
	return s, nil
}

// addTo sets the counts and percentiles in out, and with samples every wire
// sample (samples_us).
func (s latStats) addTo(out map[string]any, samples bool) {
	ws, gs := sorted(s.wire), sorted(s.gen)
	out["sent"] = s.sent
	out["answered"] = len(s.gen)
	out["unanswered"] = s.unanswered
	out["send_errors"] = s.sendErrs
	out["no_request_ts"] = s.noReqTS
	out["wire_p50_us"] = round(pct(ws, 50), 1)
	out["wire_p99_us"] = round(pct(ws, 99), 1)
	out["wire_max_us"] = round(pct(ws, 100), 1)
	out["gen_p50_us"] = round(pct(gs, 50), 1)
	out["gen_p99_us"] = round(pct(gs, 99), 1)
	if samples {
		r := make([]float64, len(s.wire))
		for i, w := range s.wire {
			r[i] = round(w, 1)
		}
		out["samples_us"] = r
	}
}
