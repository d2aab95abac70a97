package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/proxyarp/proxyarp/explain"
	"github.com/proxyarp/proxyarp/hostcheck"
	"github.com/proxyarp/proxyarp/routes"
)

const doctorUsage = `Usage: proxyarp doctor [--uplink IFACE] [--guest-ifaces GLOBS]

Checks this host (its current network namespace) for what keeps proxyarp,
or the guests behind it, from working, and prints one line per finding with
the fix:
  error    IPv4 forwarding off; kernel proxy_arp on the uplink or "all"
           (conflicting, late answers for any routed address); the uplink
           missing or enslaved to a bridge or bond; strict rp_filter on the
           uplink when the default route leaves elsewhere; another
           proxy-ARP daemon (parprouted, farpd, ...) running
  warning  guest /32 routes without src; /32 host routes via interfaces
           that match no guest glob (not answered); strict rp_filter on a
           guest interface; a guest interface with proxy_arp=0 and no
           address; ip rules beyond the defaults; VLANs on the uplink;
           IPv6: kernel proxy_ndp on the uplink or "all", IPv6 forwarding
           off, or on while the uplink's accept_ra is not 2 (router
           advertisements then ignored on it)
  info     what was assumed (the uplink guessed from the default route)

What a guest needs is a /32 route via its interface (with src, so the host's
own packets to it carry the uplink's address) and proxy_arp=1 on that
interface (so its ARP for the gateway is answered). A dom0 /32 address on
the vif is not needed: the /32 route via the vif wins over the uplink's
connected /24 by longest prefix match, on any current kernel.

Exit codes: 0 no errors (warnings may be printed), 1 at least one error,
2 usage.

Flags:
`

func doctorCmd(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	uplink := fs.String("uplink", "", "the `IFACE` the router ARPs on (default: the default route's interface)")
	guests := fs.String("guest-ifaces", routes.DefaultGlobs, "comma-separated shell `GLOBS` naming guest interfaces, as for serve")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, doctorUsage)
			printFlags(stdout, fs)
			return exitOK, errHelp
		}
		return exitUsage, usagef("doctor: %v (see proxyarp doctor --help)", err)
	}
	if fs.NArg() > 0 {
		return exitUsage, usagef("doctor: unexpected argument %q (see proxyarp doctor --help)", fs.Arg(0))
	}
	g, err := routes.ParseGlobs(*guests)
	if err != nil {
		return exitUsage, usagef("doctor: --guest-ifaces: %v", err)
	}
	rules, err := explain.PolicyRules()
	if err != nil {
		return exitFailure, err
	}
	h, err := hostcheck.ReadHost(rules)
	if err != nil {
		return exitFailure, err
	}
	findings := hostcheck.Checker{}.Doctor(hostcheck.DoctorConfig{Uplink: *uplink, Guests: g}, h)
	return writeFindings(stdout, findings), nil
}

// writeFindings prints one line per finding and returns the exit code.
func writeFindings(w io.Writer, findings []hostcheck.Finding) int {
	var b strings.Builder
	code, problems := exitOK, 0
	for _, f := range findings {
		fmt.Fprintf(&b, "%s: %s [%s]; fix: %s\n", f.Severity, f.Problem, f.Check, f.Fix)
		if f.Severity == hostcheck.Error {
			code = exitFailure
		}
		if f.Severity != hostcheck.Info {
			problems++
		}
	}
	if problems == 0 {
		b.WriteString("ok: no problems found\n")
	}
	io.WriteString(w, b.String())
	return code
}
