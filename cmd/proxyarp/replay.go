package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/proxyarp/proxyarp/capture"
	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// exitDiffer is replay's exit code when a record is corrupt or, with
// --verify, a decision differs from the recorded one.
const exitDiffer = 3

const replayUsage = `Usage: proxyarp replay FILE [flags]

Reads a capture (pcapng, as serve --pcap writes it, or classic pcap;
Ethernet only) and decides every frame again with the responder's own
decision function. Prints one line per frame on stdout; summaries, errors
and differences go to stderr.

The answer set comes from --routes, the text ` + "`ip route show`" + ` prints (-4 or -6) or
the JSON of ` + "`ip -j route`" + ` (every device named is taken as up with carrier),
with --local for the host's own addresses; or else from the state recorded
beside the capture (FILE.state.json, written by serve --pcap); or else from
the routing table and addresses of the running kernel, as serve would see
them (replay says so on stderr). Frames whose capture names no interface
are taken as arriving on the uplink; without a recorded packet type
(classic pcap) the decision relies on the MAC addresses.

Exit codes: 0 every record read (and, with --verify, no difference),
1 the capture or routes file cannot be read, 2 usage error, 3 a corrupt
record or (with --verify) a decision that differs.

Flags:
`

// replayConfig is the parsed command line of replay.
type replayConfig struct {
	file      string
	routes    string
	local     []netip.Addr
	uplinkMAC responder.MAC
	guests    routes.Globs
	uplink    string
	format    capture.Format
	verify    bool
	replies   string
}

func parseReplay(args []string, stdout io.Writer) (replayConfig, error) {
	var (
		cfg       replayConfig
		local     string
		uplinkMAC string
		guests    string
		format    string
	)
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.routes, "routes", "", "answer set from this `FILE` of `ip -4 route show` text or `ip -j route` JSON, instead of the recorded state")
	fs.StringVar(&local, "local", "", "comma-separated `ADDRS` of the host itself (with --routes)")
	fs.StringVar(&cfg.uplink, "uplink", "", "the uplink `IFACE` of this host: the ingress of frames whose capture names none, and the uplink MAC unless --uplink-mac is given")
	fs.StringVar(&uplinkMAC, "uplink-mac", "", "the uplink's `MAC`, against which unicast requests are checked (default: the recorded one)")
	fs.StringVar(&guests, "guest-ifaces", routes.DefaultGlobs, "comma-separated shell `GLOBS` naming guest interfaces (with --routes or the live kernel)")
	fs.StringVar(&format, "format", "text", "output `FORMAT`: text or json")
	fs.BoolVar(&cfg.verify, "verify", false, "compare with the decisions recorded in the capture; report every difference")
	fs.StringVar(&cfg.replies, "write-replies", "", "write the replies the answers would send to `OUT.pcap` (classic pcap, the requests' timestamps)")

	// Flags may come before or after FILE.
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, replayUsage)
				printFlags(stdout, fs)
				return cfg, errHelp
			}
			return cfg, usagef("replay: %v (see proxyarp replay --help)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch len(files) {
	case 0:
		return cfg, usagef("replay: a capture FILE is required (see proxyarp replay --help)")
	case 1:
		cfg.file = files[0]
	default:
		return cfg, usagef("replay: unexpected argument %q (one capture FILE at a time)", files[1])
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.routes == "" {
		if set["local"] {
			return cfg, usagef("replay: --local needs --routes FILE")
		}
	}
	if local != "" {
		for _, s := range strings.Split(local, ",") {
			s = strings.TrimSpace(s)
			a, err := netip.ParseAddr(s)
			if err != nil || a.Is4In6() || a.Zone() != "" {
				return cfg, usagef("replay: --local: %q is not an IPv4 or IPv6 address", s)
			}
			cfg.local = append(cfg.local, a)
		}
	}
	if uplinkMAC != "" {
		hw, err := net.ParseMAC(uplinkMAC)
		mac, ok := responder.MACFrom(hw)
		if err != nil || !ok {
			return cfg, usagef("replay: --uplink-mac %q: want an Ethernet MAC like 02:00:00:00:00:01", uplinkMAC)
		}
		cfg.uplinkMAC = mac
	}
	g, err := routes.ParseGlobs(guests)
	if err != nil {
		return cfg, usagef("replay: --guest-ifaces: %v", err)
	}
	cfg.guests = g
	switch format {
	case "text":
		cfg.format = capture.Text
	case "json":
		cfg.format = capture.JSON
	default:
		return cfg, usagef("replay: --format %q: want text or json", format)
	}
	return cfg, nil
}

// replay runs the replay subcommand and returns its exit code.
func replay(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseReplay(args, stdout)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "proxyarp: %v\n", err)
		return exitUsage
	}
	rp := &capture.Replayer{
		Uplink:    cfg.uplink,
		UplinkMAC: cfg.uplinkMAC,
		Format:    cfg.format,
		Verify:    cfg.verify,
		Out:       stdout,
		Log:       stderr,
	}
	if cfg.uplink != "" && cfg.uplinkMAC.IsZero() {
		mac, err := ifaceMAC(cfg.uplink)
		if err != nil {
			fmt.Fprintf(stderr, "proxyarp: replay: --uplink: %v\n", err)
			return exitFailure
		}
		rp.UplinkMAC = mac
	}
	if cfg.routes != "" {
		st, err := stateFromRoutes(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "proxyarp: replay: %v\n", err)
			return exitFailure
		}
		rp.State = st
	} else {
		rp.Fallback = func() (*capture.State, error) { return stateFromKernel(cfg, stderr) }
	}
	var replies *bufio.Writer
	var repliesFile *os.File
	if cfg.replies != "" {
		f, err := os.Create(cfg.replies)
		if err != nil {
			fmt.Fprintf(stderr, "proxyarp: replay: --write-replies: %v\n", err)
			return exitFailure
		}
		repliesFile, replies = f, bufio.NewWriter(f)
		rp.Replies = replies
	}
	sum, err := rp.ReplayFile(cfg.file)
	if repliesFile != nil {
		ferr := replies.Flush()
		if cerr := repliesFile.Close(); ferr == nil {
			ferr = cerr
		}
		if err == nil && ferr != nil {
			err = fmt.Errorf("--write-replies: %w", ferr)
		}
		if err != nil {
			os.Remove(cfg.replies)
		}
	}
	if errors.Is(err, capture.ErrNoState) {
		fmt.Fprintf(stderr, "proxyarp: replay: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "proxyarp: replay: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "replay: %s: %d frames, %d answered", cfg.file, sum.Frames, sum.Answered)
	if cfg.replies != "" {
		fmt.Fprintf(stderr, " (replies in %s)", cfg.replies)
	}
	if cfg.verify {
		fmt.Fprintf(stderr, ", %d differences from the recorded decisions", sum.Differences)
	}
	if skipped := sum.Corrupt; skipped > 0 {
		if sum.Stopped != nil {
			skipped--
		}
		if skipped == 1 {
			fmt.Fprint(stderr, ", 1 corrupt record skipped")
		} else if skipped > 1 {
			fmt.Fprintf(stderr, ", %d corrupt records skipped", skipped)
		}
	}
	if sum.Stopped != nil {
		fmt.Fprint(stderr, ", stopped at a corrupt record")
	}
	fmt.Fprintln(stderr)
	if sum.Corrupt > 0 || sum.Differences > 0 {
		return exitDiffer
	}
	return exitOK
}

// stateFromRoutes builds the answer set from --routes and --local with the
// daemon's own rule.
func stateFromRoutes(cfg replayConfig) (*capture.State, error) {
	f, err := os.Open(cfg.routes)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	defer f.Close()
	table, err := capture.ReadRoutes(f, cfg.routes)
	if err != nil {
		return nil, err
	}
	owned, _ := table.Owned(routes.Rule{Guests: cfg.guests, Uplink: cfg.uplink}, cfg.local)
	set := capture.NewStaticSet(owned, cfg.local)
	set.SetGateways(table.Gateways(cfg.uplink))
	return &capture.State{
		Uplink:      cfg.uplink,
		GuestIfaces: cfg.guests.String(),
		Set:         set,
	}, nil
}

// kernelDumpTries bounds the retries of a dump the kernel flagged as
// interrupted (the table changed while it was read).
const kernelDumpTries = 5

// stateFromKernel builds the answer set from the running kernel's routing
// table, links and addresses (the daemon's own dump and rule), and says so
// on stderr. It is replay's answer set when the capture has no recorded
// state and no --routes is given.
func stateFromKernel(cfg replayConfig, stderr io.Writer) (*capture.State, error) {
	src, err := routes.NewNetlinkSource(nil)
	if err != nil {
		return nil, fmt.Errorf("read the kernel's routing table: %w", err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var snap routes.Snapshot
	for try := 1; ; try++ {
		snap, err = src.Dump(ctx)
		if err == nil || !errors.Is(err, routes.ErrDumpInterrupted) || try == kernelDumpTries {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read the kernel's routing table: %w", err)
	}
	table, local := capture.SnapshotTable(snap)
	owned, _ := table.Owned(routes.Rule{Guests: cfg.guests, Uplink: cfg.uplink}, local)
	set := capture.NewStaticSet(owned, local)
	set.SetGateways(table.Gateways(cfg.uplink))
	fmt.Fprintf(stderr, "replay: %s has no recorded state (%s) and no --routes was given: deciding with this host's routing table and addresses (%d owned, %d host addresses, --guest-ifaces %s)\n",
		cfg.file, capture.StatePath(cfg.file), len(owned), len(local), cfg.guests)
	return &capture.State{
		Uplink:      cfg.uplink,
		GuestIfaces: cfg.guests.String(),
		Set:         set,
	}, nil
}

// ifaceMAC returns the Ethernet MAC of a network interface of this host.
func ifaceMAC(name string) (responder.MAC, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return responder.MAC{}, fmt.Errorf("%s: %w", name, err)
	}
	mac, ok := responder.MACFrom(ifi.HardwareAddr)
	if !ok {
		return responder.MAC{}, fmt.Errorf("%s has no Ethernet MAC (%q)", name, ifi.HardwareAddr)
	}
	return mac, nil
}
