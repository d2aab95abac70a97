package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/proxyarp/proxyarp/metrics"
)

// defaultStatusAddr is where status asks when not told: the unix socket
// the systemd unit has serve listen on (serve --metrics-listen).
const defaultStatusAddr = "/run/proxyarp/proxyarp.sock"

const statusUsage = `Usage: proxyarp status [--json] [--metrics-addr ADDR]

Asks the running daemon what it holds: the uplink and whether its socket is
attached, every owned address with the interface it is routed to, and the
counters. The daemon must run with --metrics-listen ADDR; status asks
ADDR's /status: a unix socket path (default ` + defaultStatusAddr + `,
what dist/systemd/proxyarp.service uses) or host:port.

Exit codes: 0 the daemon answered, 1 it could not be reached, 2 usage.

Flags:
`

func statusCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print the daemon's /status JSON as is")
	addr := fs.String("metrics-addr", defaultStatusAddr, "the daemon's --metrics-listen `ADDR`: a unix socket path or host:port")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, statusUsage)
			printFlags(stdout, fs)
			return errHelp
		}
		return usagef("status: %v (see proxyarp status --help)", err)
	}
	if fs.NArg() > 0 {
		return usagef("status: unexpected argument %q (see proxyarp status --help)", fs.Arg(0))
	}
	body, err := fetchStatus(*addr)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var st metrics.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("status from %s: %w", *addr, err)
	}
	return writeStatus(stdout, st)
}

// fetchStatus GETs /status from a --metrics-listen address.
func fetchStatus(addr string) ([]byte, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + addr + "/status"
	if metrics.IsUnixAddr(addr) {
		client = metrics.UnixClient(metrics.UnixPath(addr))
		url = "http://proxyarp/status"
	}
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the daemon at %s (is proxyarp serve running with --metrics-listen %s?): %w", addr, addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("status from %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status from %s: %s", addr, resp.Status)
	}
	return body, nil
}

func writeStatus(w io.Writer, st metrics.Status) error {
	var b strings.Builder
	state := "not attached (waiting for it)"
	if st.Attached {
		state = "attached, MAC " + st.UplinkMAC
	}
	fmt.Fprintf(&b, "uplink %s: %s\n", st.Uplink, state)
	if st.RoutesSynced {
		b.WriteString("routing table: synced\n")
	} else {
		b.WriteString("routing table: NOT synced (starting, or resyncing after lost netlink events)\n")
	}
	if st.DryRun {
		b.WriteString("mode: DRY RUN (deciding and counting, sending nothing)\n")
	}
	fmt.Fprintf(&b, "owned addresses: %d\n", len(st.Owned))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, o := range st.Owned {
		dev := o.Dev
		if dev == "" {
			dev = "?"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", o.IP, dev)
	}
	tw.Flush()
	if st.DevicesError != "" {
		fmt.Fprintf(&b, "  (interfaces unknown: %s)\n", st.DevicesError)
	}
	c := st.Counters
	fmt.Fprintf(&b, "counters: requests %d, replies sent %d, gratuitous ARP sent %d, conflicts %d, netlink resyncs %d, capture dropped %d, socket errors %d read / %d write\n",
		c.Requests, c.RepliesSent, c.GARPsSent, c.Conflicts, c.NetlinkResyncs, c.CaptureDropped, c.ReadErrors, c.WriteErrors)
	fmt.Fprintf(&b, "replies suppressed: %s\n", countList(c.RepliesSuppressed, true))
	fmt.Fprintf(&b, "drops: %s\n", countList(c.Drops, false))
	_, err := io.WriteString(w, b.String())
	return err
}

// countList formats name=n pairs by name; zeros only when all is set.
func countList(m map[string]uint64, all bool) string {
	names := make([]string, 0, len(m))
	for k, v := range m {
		if all || v > 0 {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	for i, k := range names {
		names[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(names, " ")
}
