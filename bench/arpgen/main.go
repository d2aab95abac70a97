// Command arpgen is proxyarp's ARP load generator, latency probe and
// reference responder, for the benchmarks (bench/run.sh, make bench).
//
//	arpgen lat   --iface eth0 --src 192.0.2.254 --target 192.0.2.2 [--unicast MAC] [--n 1000] [--interval 1ms]
//	arpgen flood --iface eth0 --src 192.0.2.254 --target 192.0.2.10-192.0.2.209 [--rate 10000] [--n 50000]
//	arpgen conv  --iface eth0 --src 192.0.2.254 --target 192.0.2.3 --add 'ip -n NS route add ...' --del '...'
//	arpgen ref   --iface eth0 --answer 192.0.2.2,192.0.2.10-192.0.2.209 [--for 10m]
//	arpgen report --in results.jsonl [--md docs/BENCHMARKS.md]
//
// Safety: every mode that touches the network refuses to run in the root
// network namespace (the one of PID 1) and to send for or from any address
// outside the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and
// 203.0.113.0/24. Every loop is bounded in count and in time. Results are
// JSON lines on stdout, one per measurement.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"github.com/proxyarp/proxyarp/bench/internal/labnet"
	"net"
	"net/netip"
	"os"
	"sort"
	"time"
)

// Hard caps, whatever the flags say.
const (
	maxRequests = 2_000_000
	maxDuration = 10 * time.Minute
)

// common are the flags of the modes that send requests.
type common struct {
	iface, src, target, label, cas string
	fs                             *flag.FlagSet
}

func newCommon(mode string) *common {
	c := &common{fs: flag.NewFlagSet(mode, flag.ExitOnError)}
	c.fs.StringVar(&c.iface, "iface", "eth0", "interface to send on (the router's)")
	c.fs.StringVar(&c.src, "src", "192.0.2.254", "sender IP of the requests")
	c.fs.StringVar(&c.target, "target", "192.0.2.2", "target addresses: A,B-C,...")
	c.fs.StringVar(&c.label, "label", "", "responder name, copied to the output")
	c.fs.StringVar(&c.cas, "case", "", "case name, copied to the output")
	return c
}

// setup checks the namespace and the addresses and looks up the interface.
func (c *common) setup(maxTargets int) (*net.Interface, netip.Addr, []netip.Addr, error) {
	if err := labnet.RefuseRootNamespace(); err != nil {
		return nil, netip.Addr{}, nil, err
	}
	src, err := netip.ParseAddr(c.src)
	if err != nil || !src.Is4() || !labnet.InDocRanges(src) {
		return nil, netip.Addr{}, nil, fmt.Errorf("--src %q: want an IPv4 address in the documentation ranges", c.src)
	}
	targets, err := labnet.ParseAddrs(c.target, maxTargets)
	if err != nil {
		return nil, netip.Addr{}, nil, fmt.Errorf("--target: %w", err)
	}
	ifi, err := net.InterfaceByName(c.iface)
	if err != nil {
		return nil, netip.Addr{}, nil, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, netip.Addr{}, nil, fmt.Errorf("%s has no Ethernet MAC", c.iface)
	}
	return ifi, src, targets, nil
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "arpgen:", err)
	os.Exit(1)
}

// pct returns the p-th percentile (0-100) of sorted xs, nearest rank.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(p/100*float64(len(xs))+0.5) - 1
	i = max(0, min(i, len(xs)-1))
	return xs[i]
}

func sorted(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: arpgen lat|ndplat|flood|conv|ref|churn|report [flags] (see the package comment)")
		os.Exit(2)
	}
	// Whatever happens, never run longer than maxDuration.
	time.AfterFunc(maxDuration+time.Minute, func() {
		fmt.Fprintln(os.Stderr, "arpgen: hard time limit reached")
		os.Exit(3)
	})
	var err error
	switch os.Args[1] {
	case "lat":
		err = runLat(os.Args[2:])
	case "flood":
		err = runFlood(os.Args[2:])
	case "conv":
		err = runConv(os.Args[2:])
	case "ref":
		err = runRef(os.Args[2:])
	case "churn":
		err = runChurn(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:])
	case "ndplat":
		err = runNDPLat(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "arpgen: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fatal(err)
	}
}
