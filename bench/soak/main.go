// Command soak is the load side of `make soak` (bench/soak.sh): a paced ARP
// flood whose every reply is checked against the owned set, with the
// daemon's RSS and goroutines sampled alongside, and a bounded route churn.
//
//	soak flood --iface eth0 --src 192.0.2.254 --host-mac MAC --owned A-B --never A-B --either A-B \
//	           --pid PID --metrics /path/to/sock [--rate 2000] [--duration 10m] [--interval 10s]
//	soak churn --dev vif1.0 --addrs A-B [--rate 50] [--duration 10m]
//
// flood prints one table row per interval and a verdict; it exits 1 on any
// wrong answer, more than --max-unanswered of the owned requests unanswered,
// RSS growth above --max-rss-growth after the warm-up, or goroutine growth.
// A wrong answer is a reply for an address in --never or in no given range,
// or a reply whose MACs or addresses are not those of a proxy reply from
// --host-mac to the requester. Replies for --either (the churned addresses)
// are right either way.
//
// Safety: both modes refuse to run outside a /run/netns/pxr-* network
// namespace, and in PID 1's; every address must be in 192.0.2.0/24,
// 198.51.100.0/24 or 203.0.113.0/24; rates, counts and durations are
// capped (at most 60 minutes).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/proxyarp/proxyarp/bench/internal/labnet"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	maxDuration = 60 * time.Minute
	maxRate     = 20000 // requests/s
	maxChurn    = 1000  // route changes/s
	maxTargets  = 1024
	staleAfter  = 2 * time.Second // a request unanswered for this long is not matched any more
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: soak flood|churn [flags] (see the package comment)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "flood":
		err = flood(os.Args[2:])
	case "churn":
		err = churn(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "soak: unknown mode %q: want flood or churn\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func checkDuration(d time.Duration) error {
	if d <= 0 || d > maxDuration {
		return fmt.Errorf("--duration %v: want more than 0 and at most %v", d, maxDuration)
	}
	return nil
}

// ---------------------------------------------------------------------------
// churn

// churn adds and deletes /32 routes via --dev (proto static), one change
// every 1/rate s, cycling over the addresses; it deletes what it added when
// it ends.
func churn(args []string) error {
	fs := flag.NewFlagSet("churn", flag.ExitOnError)
	dev := fs.String("dev", "vif1.0", "guest device the churned routes go through")
	addrs := fs.String("addrs", "", "addresses to churn: A,B-C,...")
	rate := fs.Int("rate", 50, "route changes per second")
	dur := fs.Duration("duration", 10*time.Minute, "how long")
	fs.Parse(args)
	if err := labnet.RefuseRootNamespace(); err != nil {
		return err
	}
	targets, err := labnet.ParseAddrs(*addrs, maxTargets)
	if err != nil || len(targets) == 0 {
		return fmt.Errorf("--addrs %q: %v", *addrs, err)
	}
	if *rate < 1 || *rate > maxChurn {
		return fmt.Errorf("--rate %d: want 1 to %d", *rate, maxChurn)
	}
	if err := checkDuration(*dur); err != nil {
		return err
	}
	link, err := netlink.LinkByName(*dev)
	if err != nil {
		return fmt.Errorf("device %s: %w", *dev, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	route := func(a netip.Addr) *netlink.Route {
		return &netlink.Route{
			LinkIndex: link.Attrs().Index, Dst: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)},
			Protocol: unix.RTPROT_STATIC, Scope: netlink.SCOPE_LINK, Table: unix.RT_TABLE_MAIN,
		}
	}
	present := make([]bool, len(targets))
	defer func() {
		for i, a := range targets {
			if present[i] {
				_ = netlink.RouteDel(route(a))
			}
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	var changes, errs int
	maxChanges := *rate * int(dur.Seconds()+1)
	for i := 0; changes < maxChanges; i = (i + 1) % len(targets) {
		select {
		case <-ctx.Done():
			fmt.Printf("churn: %d route changes via %s, %d errors\n", changes, *dev, errs)
			return nil
		case <-tick.C:
		}
		var err error
		if present[i] {
			err = netlink.RouteDel(route(targets[i]))
		} else {
			err = netlink.RouteReplace(route(targets[i]))
		}
		if err != nil {
			errs++
			if errs <= 5 {
				fmt.Fprintf(os.Stderr, "churn: route %s: %v\n", targets[i], err)
			}
			continue
		}
		present[i] = !present[i]
		changes++
	}
	fmt.Printf("churn: %d route changes via %s, %d errors\n", changes, *dev, errs)
	return nil
}

// ---------------------------------------------------------------------------
// flood

type class uint8

const (
	classNone   class = iota // in no range given: a reply is wrong
	classOwned               // must be answered
	classNever               // must never be answered
	classEither              // churned: either is right
)

// window is one interval's counters.
type window struct {
	sent, sentOwned, replies, ownedReplies, wrong int
	lat                                           []time.Duration
}

type flooder struct {
	conn    *packet.Conn
	mac     net.HardwareAddr
	hostMAC net.HardwareAddr
	src     netip.Addr
	classes map[netip.Addr]class

	mu sync.Mutex
	// pending are the send times of the requests for each address not yet
	// answered, oldest first: a reply answers the oldest one (replies to
	// one address come in order); entries older than staleAfter are
	// given up.
	pending map[netip.Addr][]time.Time
	cur     window
	wrongs  []string // the first few wrong answers, described
}

func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	iface := fs.String("iface", "eth0", "the router's interface")
	srcS := fs.String("src", "192.0.2.254", "sender IP of the requests")
	hostMACS := fs.String("host-mac", "", "the host uplink's MAC: every right reply comes from it")
	ownedS := fs.String("owned", "", "addresses that must be answered")
	neverS := fs.String("never", "", "addresses that must never be answered")
	eitherS := fs.String("either", "", "addresses that may be answered (churned)")
	rate := fs.Int("rate", 2000, "requests per second")
	dur := fs.Duration("duration", 10*time.Minute, "how long")
	interval := fs.Duration("interval", 10*time.Second, "sampling interval")
	warmup := fs.Duration("warmup", 60*time.Second, "RSS and goroutine baselines are taken at the first sample at or after this time")
	pid := fs.Int("pid", 0, "the daemon's PID (RSS from /proc/PID/status)")
	metricsSock := fs.String("metrics", "", "the daemon's --metrics-listen unix socket (go_goroutines)")
	maxRSS := fs.Float64("max-rss-growth", 0.20, "fail when RSS grows more than this fraction over the baseline")
	slack := fs.Int("goroutine-slack", 5, "fail when the goroutines of the last 3 samples all exceed the baseline by more than this")
	maxUnanswered := fs.Float64("max-unanswered", 0.01, "fail when more than this fraction of the owned requests is unanswered")
	fs.Parse(args)

	if err := labnet.RefuseRootNamespace(); err != nil {
		return err
	}
	if err := checkDuration(*dur); err != nil {
		return err
	}
	if *rate < 100 || *rate > maxRate {
		return fmt.Errorf("--rate %d: want 100 to %d", *rate, maxRate)
	}
	if *interval < time.Second || *interval > *dur {
		return fmt.Errorf("--interval %v: want 1s to --duration", *interval)
	}
	src, err := netip.ParseAddr(*srcS)
	if err != nil || !src.Is4() || !labnet.InDocRanges(src) {
		return fmt.Errorf("--src %q: want an IPv4 address in the documentation ranges", *srcS)
	}
	hostMAC, err := net.ParseMAC(*hostMACS)
	if err != nil || len(hostMAC) != 6 {
		return fmt.Errorf("--host-mac %q: want a MAC address", *hostMACS)
	}
	if *pid <= 0 || *metricsSock == "" {
		return errors.New("--pid and --metrics are required")
	}
	f := &flooder{hostMAC: hostMAC, src: src, classes: map[netip.Addr]class{}, pending: map[netip.Addr][]time.Time{}}
	var targets []netip.Addr
	for _, r := range []struct {
		s string
		c class
	}{{*ownedS, classOwned}, {*neverS, classNever}, {*eitherS, classEither}} {
		as, err := labnet.ParseAddrs(r.s, maxTargets)
		if err != nil {
			return err
		}
		for _, a := range as {
			f.classes[a] = r.c
		}
		targets = append(targets, as...)
	}
	if len(targets) == 0 || len(targets) > maxTargets {
		return fmt.Errorf("%d targets: want 1 to %d", len(targets), maxTargets)
	}
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		return err
	}
	f.mac = ifi.HardwareAddr
	f.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
	if err != nil {
		return fmt.Errorf("packet socket on %s: %w", *iface, err)
	}
	defer f.conn.Close()
	if rc, err := f.conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		})
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	readDone := make(chan struct{})
	go func() { defer close(readDone); f.read(ctx) }()

	type row struct {
		at          time.Duration
		w           window
		rssKiB      int
		goroutines  int
		p50, p99    time.Duration
		sampleError string
	}
	var rows []row
	fmt.Printf("%6s %8s %8s %6s %10s %8s %8s %9s %10s\n", "t", "sent", "replies", "wrong", "unanswered", "p50", "p99", "rss_kib", "goroutines")
	sample := func(at time.Duration) {
		f.mu.Lock()
		w := f.cur
		f.cur = window{}
		f.mu.Unlock()
		r := row{at: at, w: w}
		var errs []string
		if r.rssKiB, err = vmRSS(*pid); err != nil {
			errs = append(errs, err.Error())
		}
		if r.goroutines, err = goroutines(*metricsSock); err != nil {
			errs = append(errs, err.Error())
		}
		r.sampleError = strings.Join(errs, "; ")
		slices.Sort(w.lat)
		r.p50, r.p99 = pct(w.lat, 50), pct(w.lat, 99)
		rows = append(rows, r)
		fmt.Printf("%6s %8d %8d %6d %10d %8s %8s %9d %10d %s\n", at.Round(time.Second), w.sent, w.replies, w.wrong,
			max(0, w.sentOwned-w.ownedReplies), fmtDur(r.p50), fmtDur(r.p99), r.rssKiB, r.goroutines, r.sampleError)
	}

	// Paced: every 10 ms, rate/100 requests, round-robin over the targets.
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	nextSample := start.Add(*interval)
	perTick := max(1, *rate/100)
	buf := make([]byte, 60)
	next := 0
	maxSends := *rate * int(dur.Seconds()+2)
	sends := 0
loop:
	for sends < maxSends {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			for range perTick {
				a := targets[next]
				next = (next + 1) % len(targets)
				f.request(buf, a)
				// Queued before the send: the reply may be read before
				// WriteTo returns.
				t := time.Now()
				f.mu.Lock()
				if f.classes[a] == classOwned {
					q := f.pending[a]
					for len(q) > 0 && t.Sub(q[0]) > staleAfter {
						q = q[1:]
					}
					f.pending[a] = append(q, t)
				}
				f.cur.sent++
				if f.classes[a] == classOwned {
					f.cur.sentOwned++
				}
				f.mu.Unlock()
				if _, err := f.conn.WriteTo(buf, &packet.Addr{HardwareAddr: broadcast}); err != nil {
					return fmt.Errorf("send: %w", err)
				}
				sends++
			}
			if !now.Before(nextSample) {
				sample(now.Sub(start))
				nextSample = nextSample.Add(*interval)
			}
		}
	}
	// Late replies to the last requests.
	time.Sleep(200 * time.Millisecond)
	cancel()
	f.conn.SetReadDeadline(time.Now())
	<-readDone
	// Replies read after the last sample answer requests counted in it.
	f.mu.Lock()
	tail := f.cur
	f.mu.Unlock()

	// Verdict.
	var fails []string
	var total window
	total = window{sent: tail.sent, sentOwned: tail.sentOwned, replies: tail.replies, ownedReplies: tail.ownedReplies, wrong: tail.wrong}
	for _, r := range rows {
		total.sent += r.w.sent
		total.sentOwned += r.w.sentOwned
		total.replies += r.w.replies
		total.ownedReplies += r.w.ownedReplies
		total.wrong += r.w.wrong
		if r.sampleError != "" {
			fails = append(fails, fmt.Sprintf("sample at %v: %s", r.at.Round(time.Second), r.sampleError))
		}
	}
	if total.wrong > 0 {
		fails = append(fails, fmt.Sprintf("%d wrong answers, e.g. %s", total.wrong, strings.Join(f.wrongs, "; ")))
	}
	unanswered := max(0, total.sentOwned-total.ownedReplies)
	if total.sentOwned > 0 && float64(unanswered) > *maxUnanswered*float64(total.sentOwned) {
		fails = append(fails, fmt.Sprintf("%d of %d owned requests unanswered (> %.2f%%)", unanswered, total.sentOwned, 100**maxUnanswered))
	}
	base := slices.IndexFunc(rows, func(r row) bool { return r.at >= *warmup })
	if base < 0 || base == len(rows)-1 {
		fails = append(fails, fmt.Sprintf("no sample after the %v warm-up to compare with: run longer", *warmup))
	} else {
		b := rows[base]
		maxRSSSeen := 0
		for _, r := range rows[base:] {
			maxRSSSeen = max(maxRSSSeen, r.rssKiB)
		}
		growth := float64(maxRSSSeen-b.rssKiB) / float64(b.rssKiB)
		fmt.Printf("baseline at %v: rss %d KiB, %d goroutines; after it: max rss %d KiB (%+.1f%%)\n",
			b.at.Round(time.Second), b.rssKiB, b.goroutines, maxRSSSeen, 100*growth)
		if growth > *maxRSS {
			fails = append(fails, fmt.Sprintf("RSS grew %.1f%% after the warm-up (%d -> %d KiB), limit %.0f%%", 100*growth, b.rssKiB, maxRSSSeen, 100**maxRSS))
		}
		last := rows[max(base+1, len(rows)-3):]
		var lastG []int
		for _, r := range last {
			lastG = append(lastG, r.goroutines)
		}
		if slices.IndexFunc(lastG, func(g int) bool { return g <= b.goroutines+*slack }) < 0 {
			fails = append(fails, fmt.Sprintf("goroutines grew: %d at the baseline, last samples %v", b.goroutines, lastG))
		}
	}
	fmt.Printf("total: %d requests (%d owned), %d replies, %d wrong, %d owned unanswered\n", total.sent, total.sentOwned, total.replies, total.wrong, unanswered)
	if st, err := f.conn.Stats(); err == nil && st.Drops > 0 {
		fmt.Printf("note: the generator's own socket dropped %d frames (counted as unanswered)\n", st.Drops)
	}
	if len(fails) > 0 {
		for _, s := range fails {
			fmt.Println("FAIL:", s)
		}
		return errors.New("soak failed")
	}
	fmt.Println("PASS")
	return nil
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// request writes a broadcast ARP request for target into b (60 bytes).
func (f *flooder) request(b []byte, target netip.Addr) {
	clear(b)
	copy(b[0:6], broadcast)
	copy(b[6:12], f.mac)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_ARP)
	binary.BigEndian.PutUint16(b[14:], 1)
	binary.BigEndian.PutUint16(b[16:], unix.ETH_P_IP)
	b[18], b[19] = 6, 4
	binary.BigEndian.PutUint16(b[20:], 1)
	copy(b[22:28], f.mac)
	s := f.src.As4()
	copy(b[28:32], s[:])
	t := target.As4()
	copy(b[38:42], t[:])
}

// read checks every ARP reply until ctx is done.
func (f *flooder) read(ctx context.Context) {
	buf := make([]byte, 2048)
	for i := 0; ctx.Err() == nil && i < 1<<40; i++ {
		_ = f.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := f.conn.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			continue
		}
		f.check(buf[:n], now)
	}
}

func (f *flooder) check(fr []byte, now time.Time) {
	if len(fr) < 42 || binary.BigEndian.Uint16(fr[12:]) != unix.ETH_P_ARP || binary.BigEndian.Uint16(fr[20:]) != 2 {
		return // not an ARP reply: requests, gratuitous ARP
	}
	spa := netip.AddrFrom4([4]byte(fr[28:32]))
	tpa := netip.AddrFrom4([4]byte(fr[38:42]))
	ethDst, ethSrc, sha, tha := fr[0:6], fr[6:12], fr[22:28], fr[32:38]
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur.replies++
	var bad string
	switch c := f.classes[spa]; {
	case c == classNever:
		bad = "answered although never owned"
	case c == classNone:
		bad = "answered for an address never asked"
	case !bytes.Equal(sha, f.hostMAC) || !bytes.Equal(ethSrc, f.hostMAC):
		bad = fmt.Sprintf("sender MAC %s / Ethernet source %s, want the host's %s", net.HardwareAddr(sha), net.HardwareAddr(ethSrc), f.hostMAC)
	case tpa != f.src || !bytes.Equal(tha, f.mac) || !bytes.Equal(ethDst, f.mac):
		bad = fmt.Sprintf("to %s %s (Ethernet %s), want the requester %s %s", tpa, net.HardwareAddr(tha), net.HardwareAddr(ethDst), f.src, f.mac)
	case c == classOwned:
		f.cur.ownedReplies++
		q := f.pending[spa]
		for len(q) > 0 && now.Sub(q[0]) > staleAfter {
			q = q[1:]
		}
		if len(q) > 0 {
			f.cur.lat = append(f.cur.lat, now.Sub(q[0]))
			q = q[1:]
		}
		f.pending[spa] = q
	}
	if bad != "" {
		f.cur.wrong++
		if len(f.wrongs) < 5 {
			f.wrongs = append(f.wrongs, fmt.Sprintf("reply for %s: %s", spa, bad))
		}
	}
}

func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := min(len(xs)-1, max(0, int(p/100*float64(len(xs))+0.5)-1))
	return xs[i]
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dus", d.Microseconds())
	default:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
}

// vmRSS reads VmRSS (KiB) from /proc/PID/status.
func vmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("daemon gone? %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// goroutines reads go_goroutines from /metrics on the daemon's unix socket.
func goroutines(sock string) (int, error) {
	c := &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://proxyarp/metrics")
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, errors.New("metrics: no go_goroutines")
}
