package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/proxyarp/proxyarp/explain"
	"github.com/proxyarp/proxyarp/routes"
)

// exitNotAnswered is explain's exit code for an address that would not be
// answered.
const exitNotAnswered = 3

const explainUsage = `Usage: proxyarp explain ADDR [--uplink IFACE] [--guest-ifaces GLOBS] [--allow PREFIXES] [--json]

Says whether proxyarp serve would answer the router's ARP requests for the
IPv4 address ADDR (Neighbor Solicitations for an IPv6 ADDR), and why, from
the live kernel of this network namespace: the /32 (/128) routes to ADDR in
the main table, their metric and interface, the
rule that said no (no /32 route or only a shorter prefix, not a guest
interface, down or without carrier, a host address, outside --allow), and
policy rules (ip rule) that may route ADDR by another table. It reads the
routes the way serve's watcher does and runs serve's Decide on a
broadcast request for ADDR, so it cannot disagree with a daemon started
with the same flags.

The uplink defaults to the interface whose connected prefix covers ADDR.

Exit codes: 0 ADDR would be answered, 3 it would not, 1 failure, 2 usage.

Flags:
`

func explainCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	uplink := fs.String("uplink", "", "the `IFACE` requests arrive on (default: the interface whose connected prefix covers ADDR)")
	guests := fs.String("guest-ifaces", routes.DefaultGlobs, "comma-separated shell `GLOBS` naming guest interfaces, as for serve")
	allow := fs.String("allow", "", "comma-separated `PREFIXES`, as for serve")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	// ADDR may come before the flags.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, explainUsage)
				printFlags(stdout, fs)
				return exitOK, errHelp
			}
			return exitUsage, usagef("explain: %v (see proxyarp explain --help)", err)
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) != 1 {
		return exitUsage, usagef("explain: want exactly one address (see proxyarp explain --help)")
	}
	addr, err := netip.ParseAddr(pos[0])
	if err != nil || addr.Zone() != "" {
		return exitUsage, usagef("explain: %q is not an IPv4 or IPv6 address", pos[0])
	}
	g, err := routes.ParseGlobs(*guests)
	if err != nil {
		return exitUsage, usagef("explain: --guest-ifaces: %v", err)
	}
	pfx, err := parseAllow(*allow)
	if err != nil {
		return exitUsage, usagef("explain: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := explain.Read(ctx)
	if err != nil {
		return exitFailure, err
	}
	rep, err := explain.Explain(h, addr, explain.Options{Uplink: *uplink, Guests: g, Allow: pfx})
	if err != nil {
		return exitFailure, err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return exitFailure, err
	}
	if !rep.Answered {
		return exitNotAnswered, nil
	}
	return exitOK, nil
}

// parseAllow parses an --allow list; "" is none.
func parseAllow(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		p, err := netip.ParsePrefix(f)
		if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("--allow: bad prefix %q (want a CIDR like 192.0.2.0/24 or 2001:db8::/64)", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
