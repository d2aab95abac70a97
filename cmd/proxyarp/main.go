// Command proxyarp is a selective proxy-ARP daemon for VM hosts: it answers
// the upstream router's ARP requests on the uplink, with the uplink's MAC,
// for exactly the addresses routed to guest interfaces by /32 host routes,
// and for nothing else.
//
// Run "proxyarp help" for the subcommands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Exit codes, a contract for scripts and service managers.
const (
	exitOK      = 0 // clean stop
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // bad command line
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
}

const mainUsage = `proxyarp: selective proxy-ARP for VM hosts.

Answers the upstream router's ARP requests on the uplink for the addresses
that have a /32 host route via a guest interface (vif*, tap*), and for
nothing else: a replacement for net.ipv4.conf.<uplink>.proxy_arp=1, which
answers for any address routed out another interface, and by default up to
0.8 s late.

Usage:
  proxyarp serve --uplink IFACE [flags]   run the responder (see serve --help)
  proxyarp replay FILE [flags]            decide a capture's frames again offline (see replay --help)
  proxyarp hotplug ACTION [key=value...]  Xen vif hotplug, a drop-in for vif-route (see hotplug --help)
  proxyarp route add|del|list ...         manage guest routes without Xen (see route --help)
  proxyarp status [--json]                what the running daemon holds (see status --help)
  proxyarp explain ADDR [flags]           whether ADDR would be answered, and why (see explain --help)
  proxyarp doctor [--uplink IFACE]        check the host for problems, one line each with the fix (see doctor --help)
  proxyarp version                        print the version and build details
  proxyarp help                           print this help

Exit codes: 0 clean stop, 1 runtime failure, 2 usage error
(replay: 3 a corrupt record or a decision that differs;
explain: 3 the address would not be answered; doctor: 1 an error found).
`

// usageError is a bad command line: reported in one line, exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp means --help was asked for and printed: exit 0.
var errHelp = errors.New("help printed")

func execute(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(rest, stdout, stderr)
	case "replay":
		return replay(rest, stdout, stderr)
	case "hotplug":
		err = hotplugMain(rest, stdout, stderr)
	case "route":
		err = routeCmd(rest, stdout, stderr)
	case "status":
		err = statusCmd(rest, stdout, stderr)
	case "explain":
		var code int
		if code, err = explainCmd(rest, stdout, stderr); err == nil {
			return code
		}
	case "doctor":
		var code int
		if code, err = doctorCmd(rest, stdout, stderr); err == nil {
			return code
		}
	case "version", "--version":
		err = version(stdout)
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	default:
		err = usagef("unknown command %q (commands: serve, replay, hotplug, route, status, explain, doctor, version, help)", cmd)
	}
	var uerr *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "proxyarp: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "proxyarp: %v\n", err)
		return exitFailure
	}
}

func version(w io.Writer) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(w, "proxyarp (no build information)")
		return nil
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	fmt.Fprintf(w, "proxyarp %s %s\n", v, bi.GoVersion)
	return nil
}
