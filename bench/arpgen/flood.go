package main

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// runFlood sends N broadcast requests over the targets, paced at --rate per
// second (0: as fast as the generator can), and counts the replies until
// none came for --quiet.
func runFlood(args []string) error {
	c := newCommon("flood")
	n := c.fs.Int("n", 10000, "requests to send")
	rate := c.fs.Int("rate", 0, "requests per second; 0 sends unpaced")
	quiet := c.fs.Duration("quiet", 500*time.Millisecond, "stop counting replies after this long without one")
	limit := c.fs.Duration("max", 30*time.Second, "stop sending after this long whatever --n says")
	peerNS := c.fs.String("peer-ns", "", "namespace of the responder's interface, to read its rx_dropped (netlink, read only)")
	peerIf := c.fs.String("peer-iface", "eth0", "the responder's interface in --peer-ns")
	rpid := c.fs.Int("responder-pid", 0, "the responder's PID, to report its CPU time per request (/proc/PID/stat)")
	metrics := c.fs.String("metrics-unix", "", "serve's metrics unix socket, to report the frames its receive socket dropped (proxyarp_socket_drops_total)")
	c.fs.Parse(args)
	ifi, src, targets, err := c.setup(65536)
	if err != nil {
		return err
	}
	if *n <= 0 || *n > maxRequests {
		return fmt.Errorf("--n %d: want 1..%d", *n, maxRequests)
	}
	if *rate < 0 || *rate > 10_000_000 {
		return fmt.Errorf("--rate %d: want 0..10000000", *rate)
	}
	want := make(map[netip.Addr]bool, len(targets))
	for _, t := range targets {
		want[t] = true
	}
	peerDrops := func() uint64 { return 0 }
	if *peerNS != "" {
		h, err := netns.GetFromName(*peerNS)
		if err != nil {
			return fmt.Errorf("--peer-ns: %w", err)
		}
		nh, err := netlink.NewHandleAt(h)
		h.Close()
		if err != nil {
			return fmt.Errorf("--peer-ns: %w", err)
		}
		defer nh.Close()
		peerDrops = func() uint64 {
			l, err := nh.LinkByName(*peerIf)
			if err != nil || l.Attrs().Statistics == nil {
				return 0
			}
			return l.Attrs().Statistics.RxDropped
		}
	}
	txDropped := func() uint64 {
		b, _ := os.ReadFile("/sys/class/net/" + ifi.Name + "/statistics/tx_dropped")
		v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		return v
	}

	rxfd, err := openPacket(ifi, unix.ETH_P_ARP, filterARP(arpReply), 64<<20)
	if err != nil {
		return err
	}
	defer unix.Close(rxfd)
	txfd, err := openPacket(ifi, 0, nil, 0)
	if err != nil {
		return err
	}
	defer unix.Close(txfd)
	frames := make([][]byte, len(targets))
	for i, t := range targets {
		frames[i] = buildARP(broadcast, ifi.HardwareAddr, arpRequest, ifi.HardwareAddr, src, nil, t)
	}

	var (
		sendDone   atomic.Bool
		replies    atomic.Int64
		firstRep   atomic.Int64
		lastRep    atomic.Int64
		sendEnd    atomic.Int64
		rxDone     = make(chan error, 1)
		hardStop   = time.Now().Add(min(*limit, maxDuration) + 30*time.Second)
		peer0, tx0 = peerDrops(), txDropped()
		cpu0       = procCPU(*rpid)
	)
	var sockDrops0 float64
	if *metrics != "" {
		if sockDrops0, err = scrapeCounter(*metrics, socketDropsMetric); err != nil {
			return fmt.Errorf("--metrics-unix: %w", err)
		}
	}
	stats(rxfd) // reset
	go func() {
		runtime.LockOSThread()
		buf := make([]byte, 256)
		for {
			m, _, err := recvFrom(rxfd, buf, unix.MSG_DONTWAIT)
			if err == unix.EAGAIN || err == unix.EINTR {
				now := time.Now()
				if done := sendDone.Load(); done {
					quietFrom := max(lastRep.Load(), sendEnd.Load())
					if now.UnixNano()-quietFrom > int64(*quiet) {
						rxDone <- nil
						return
					}
				}
				if now.After(hardStop) {
					rxDone <- nil
					return
				}
				fds := [1]unix.PollFd{{Fd: int32(rxfd), Events: unix.POLLIN}}
				unix.Poll(fds[:], 20)
				continue
			}
			if err != nil {
				rxDone <- err
				return
			}
			f, ok := parseARP(buf[:m])
			if !ok || f.op != arpReply || f.tpa != src || !want[f.spa] {
				continue
			}
			now := time.Now().UnixNano()
			replies.Add(1)
			firstRep.CompareAndSwap(0, now)
			lastRep.Store(now)
		}
	}()

	runtime.LockOSThread()
	var sent, sendErrs int
	var firstErr error
	start := time.Now()
	deadline := start.Add(min(*limit, maxDuration))
	for i := 0; i < *n; i++ {
		if i&63 == 0 && time.Now().After(deadline) {
			break
		}
		if *rate > 0 {
			due := start.Add(time.Duration(int64(i) * int64(time.Second) / int64(*rate)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		if err := write(txfd, frames[i%len(frames)]); err != nil {
			sendErrs++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		sent++
	}
	sendDur := time.Since(start)
	sendEnd.Store(time.Now().UnixNano())
	sendDone.Store(true)
	if err := <-rxDone; err != nil {
		return fmt.Errorf("reading replies: %w", err)
	}
	_, genDrops := stats(rxfd)
	got := replies.Load()
	out := map[string]any{
		"kind": "flood", "responder": c.label, "case": c.cas, "rate": *rate, "targets": len(targets),
		"sent": sent, "send_errors": sendErrs, "answered": got,
		"fraction":      round(float64(min(got, int64(sent)))/float64(max(sent, 1)), 4),
		"offered_pps":   round(float64(sent)/sendDur.Seconds(), 0),
		"gen_rx_drops":  genDrops,
		"wire_tx_drops": txDropped() - tx0,
	}
	if *peerNS != "" {
		out["peer_rx_drops"] = peerDrops() - peer0
	}
	if f, l := firstRep.Load(), lastRep.Load(); got > 1 && l > f {
		out["reply_pps"] = round(float64(got)/(float64(l-start.UnixNano())/1e9), 0)
		out["last_reply_ms"] = round(float64(l-start.UnixNano())/1e6, 1)
	}
	if firstErr != nil {
		out["first_send_error"] = firstErr.Error()
	}
	if *rpid > 0 {
		cpu := procCPU(*rpid) - cpu0
		out["responder_cpu_ms"] = round(cpu.Seconds()*1e3, 1)
		out["responder_cpu_us_per_req"] = round(float64(cpu.Microseconds())/float64(max(sent, 1)), 2)
	}
	if *metrics != "" {
		d, err := scrapeCounter(*metrics, socketDropsMetric)
		if err != nil {
			return fmt.Errorf("--metrics-unix: %w", err)
		}
		out["responder_socket_drops"] = d - sockDrops0
	}
	emit(out)
	return nil
}

// socketDropsMetric is serve's count of frames its receive sockets
// dropped (ring or buffer full).
const socketDropsMetric = "proxyarp_socket_drops_total"

// procCPU is the CPU time of process pid (0: none): the sum over its
// threads of the nanoseconds the scheduler ran them (/proc/PID/task/*/
// schedstat), far finer than utime+stime's 10 ms ticks.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		sum += time.Duration(ns)
	}
	return sum
}
