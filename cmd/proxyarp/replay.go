package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"

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

The answer set comes from the state recorded beside the capture
(FILE.state.json, written by serve --pcap), or from --routes, the text
` + "`ip -4 route show`" + ` prints (every device named is taken as up with carrier),
with --local for the host's own addresses. Frames whose capture names no
interface are taken as arriving on the uplink; without a recorded packet
type (classic pcap) the decision relies on the MAC addresses.

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
	format    capture.Format
	verify    bool
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
	fs.StringVar(&cfg.routes, "routes", "", "answer set from this `FILE` of `ip -4 route show` output, instead of the recorded state")
	fs.StringVar(&local, "local", "", "comma-separated `ADDRS` of the host itself (with --routes)")
	fs.StringVar(&uplinkMAC, "uplink-mac", "", "the uplink's `MAC`, against which unicast requests are checked (default: the recorded one)")
	fs.StringVar(&guests, "guest-ifaces", routes.DefaultGlobs, "comma-separated shell `GLOBS` naming guest interfaces (with --routes)")
	fs.StringVar(&format, "format", "text", "output `FORMAT`: text or json")
	fs.BoolVar(&cfg.verify, "verify", false, "compare with the decisions recorded in the capture; report every difference")

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
		for _, name := range []string{"local", "guest-ifaces"} {
			if set[name] {
				return cfg, usagef("replay: --%s needs --routes FILE", name)
			}
		}
	}
	if local != "" {
		for _, s := range strings.Split(local, ",") {
			s = strings.TrimSpace(s)
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() {
				return cfg, usagef("replay: --local: %q is not an IPv4 address", s)
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
		UplinkMAC: cfg.uplinkMAC,
		Format:    cfg.format,
		Verify:    cfg.verify,
		Out:       stdout,
		Log:       stderr,
	}
	if cfg.routes != "" {
		st, err := stateFromRoutes(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "proxyarp: replay: %v\n", err)
			return exitFailure
		}
		rp.State = st
	}
	sum, err := rp.ReplayFile(cfg.file)
	if errors.Is(err, capture.ErrNoState) {
		fmt.Fprintf(stderr, "proxyarp: replay: %v\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "proxyarp: replay: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "replay: %s: %d frames, %d answered", cfg.file, sum.Frames, sum.Answered)
	if cfg.verify {
		fmt.Fprintf(stderr, ", %d differences from the recorded decisions", sum.Differences)
	}
	if sum.Corrupt != nil {
		fmt.Fprint(stderr, ", stopped at a corrupt record")
	}
	fmt.Fprintln(stderr)
	if sum.Corrupt != nil || sum.Differences > 0 {
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
	table, err := capture.ParseRoutes(f, cfg.routes)
	if err != nil {
		return nil, err
	}
	owned, _ := table.Owned(routes.Rule{Guests: cfg.guests}, cfg.local)
	return &capture.State{
		GuestIfaces: cfg.guests.String(),
		Set:         capture.NewStaticSet(owned, cfg.local),
	}, nil
}
