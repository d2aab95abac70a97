package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/proxyarp/proxyarp/routes"
)

const routeUsage = `Usage:
  proxyarp route add ADDR[/LEN] dev IFACE [--src IP | --gateway-dev IFACE] [--metric N]
  proxyarp route del ADDR[/LEN] dev IFACE
  proxyarp route list [--guest-ifaces GLOBS]

Manages guest routes without Xen (KVM/Proxmox taps, scripts), the way
"proxyarp hotplug" does for Xen: routes carry proxyarp's own protocol
(proto 213, "proxyarp" with dist/iproute2/rt_protos.d/proxyarp.conf), so
they are answered by "proxyarp serve" whatever the device is called, and
proxyarp only ever replaces or deletes its own routes.

add      installs "ADDR dev IFACE [src IP] metric N proto proxyarp". ADDR
         is IPv4 or IPv6 (an address means /32 or /128). Adding the same
         route again is fine; an address already routed by anyone else, or
         via another device, is refused and the route in the way named.
         Only the route is installed: the device is not touched (a guest
         reaching the host over IPv6 needs a link-local gateway address
         on it, as "proxyarp hotplug" puts fe80::1/64 on a vif).
         --src IP            preferred source address of the route (of
                             ADDR's family)
         --gateway-dev IFACE use IFACE's first IPv4 address as the source,
                             or for IPv6 its first global IPv6 address
         --metric N          the route's metric (default 0; the kernel
                             makes an IPv6 metric 0 1024)
         A prefix shorter than /32 (/128) is installed with a warning:
         serve answers only for host routes. An entry equal to or
         containing the source is refused.
del      deletes proxyarp's route to ADDR via IFACE (any metric). Routes not
         installed by proxyarp are never deleted.
list     prints proxyarp's routes (IPv4, then IPv6) and whether serve
         would answer for each
         (with --guest-ifaces as serve's; --allow is not taken into account).

Exit codes: 0 done, 1 failure, 2 usage error.
`

// routeDeps is the route command's view of the outside world.
type routeDeps struct {
	kernel func() (routes.Kernel, func(), error)
	// source gives the kernel state for list's answered column.
	source func() (routes.Source, func(), error)
	log    *slog.Logger
}

func routeCmd(args []string, stdout, stderr io.Writer) error {
	return runRoute(context.Background(), args, stdout, routeDeps{
		kernel: netlinkKernel,
		source: func() (routes.Source, func(), error) {
			s, err := routes.NewNetlinkSource(nil)
			if err != nil {
				return nil, nil, err
			}
			return s, func() { s.Close() }, nil
		},
		log: slog.New(slog.NewTextHandler(stderr, nil)),
	})
}

// routeArgs is a parsed route command line.
type routeArgs struct {
	verb       string
	dst        netip.Prefix
	dev        string
	src        netip.Addr
	gatewayDev string
	metric     int
	guests     string
}

func parseRoute(args []string, stdout io.Writer) (routeArgs, error) {
	ra := routeArgs{guests: routes.DefaultGlobs}
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, routeUsage)
			return ra, errHelp
		}
	}
	if len(args) == 0 {
		return ra, usagef("route: missing add, del or list (see proxyarp route --help)")
	}
	ra.verb, args = args[0], args[1:]
	switch ra.verb {
	case "add", "del", "list":
	default:
		return ra, usagef("route: unknown subcommand %q: want add, del or list", ra.verb)
	}
	// value returns the value of a flag given as --name VALUE or
	// --name=VALUE.
	value := func(i *int, name string) (string, error) {
		a := args[*i]
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, nil
		}
		if *i+1 >= len(args) {
			return "", usagef("route %s: %s needs a value", ra.verb, name)
		}
		*i++
		return args[*i], nil
	}
	var haveDst bool
	for i := 0; i < len(args); i++ {
		a := args[i]
		flagName, _, _ := strings.Cut(a, "=")
		flagName = "--" + strings.TrimLeft(flagName, "-")
		allowed := map[string][]string{
			"add":  {"--src", "--gateway-dev", "--metric"},
			"list": {"--guest-ifaces"},
		}[ra.verb]
		switch {
		case strings.HasPrefix(a, "-") && slices.Contains(allowed, flagName):
			v, err := value(&i, strings.SplitN(a, "=", 2)[0])
			if err != nil {
				return ra, err
			}
			switch flagName {
			case "--src":
				s, err := netip.ParseAddr(v)
				if err != nil || s.Is4In6() || s.Zone() != "" {
					return ra, usagef("route add: --src %q is not an IPv4 or IPv6 address", v)
				}
				ra.src = s
			case "--gateway-dev":
				ra.gatewayDev = v
			case "--metric":
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return ra, usagef("route add: --metric %q is not a number from 0 to 4294967295", v)
				}
				ra.metric = int(n)
			case "--guest-ifaces":
				ra.guests = v
			}
		case strings.HasPrefix(a, "-"):
			return ra, usagef("route %s: unknown flag %s (see proxyarp route --help)", ra.verb, a)
		case ra.verb == "list":
			return ra, usagef("route list: unexpected argument %q", a)
		case a == "dev":
			if i+1 >= len(args) {
				return ra, usagef("route %s: dev needs an interface name", ra.verb)
			}
			i++
			ra.dev = args[i]
		case !haveDst:
			p, err := parseEntry(a)
			if err != nil {
				return ra, usagef("route %s: %q is not an IPv4 or IPv6 address or prefix", ra.verb, a)
			}
			if p != p.Masked() {
				return ra, usagef("route %s: %s has host bits set (did you mean %s?)", ra.verb, p, p.Masked())
			}
			ra.dst, haveDst = p, true
		default:
			return ra, usagef("route %s: unexpected argument %q", ra.verb, a)
		}
	}
	if ra.verb == "list" {
		return ra, nil
	}
	if !haveDst {
		return ra, usagef("route %s: missing ADDR[/LEN]", ra.verb)
	}
	if ra.dev == "" {
		return ra, usagef("route %s: missing dev IFACE", ra.verb)
	}
	if len(ra.dev) > 15 || strings.ContainsAny(ra.dev, "/ \t\n") {
		return ra, usagef("route %s: %q is not a valid interface name", ra.verb, ra.dev)
	}
	if ra.src.IsValid() && ra.gatewayDev != "" {
		return ra, usagef("route add: give --src or --gateway-dev, not both")
	}
	if ra.src.IsValid() && ra.src.Is4() != ra.dst.Addr().Is4() {
		return ra, usagef("route add: --src %s and %s are not of the same family", ra.src, ra.dst)
	}
	return ra, nil
}

func runRoute(ctx context.Context, args []string, stdout io.Writer, deps routeDeps) error {
	ra, err := parseRoute(args, stdout)
	if err != nil {
		return err
	}
	var guests routes.Globs
	if ra.verb == "list" {
		if guests, err = routes.ParseGlobs(ra.guests); err != nil {
			return usagef("route list: --guest-ifaces: %v", err)
		}
	}
	k, release, err := deps.kernel()
	if err != nil {
		return err
	}
	defer release()
	m := &routes.Manager{Kernel: k, Log: deps.log}
	switch ra.verb {
	case "add":
		src := ra.src
		if ra.gatewayDev != "" {
			mainIP := m.MainIP
			if ra.dst.Addr().Is6() {
				mainIP = m.MainIP6
			}
			if src, err = mainIP(ra.gatewayDev); err != nil {
				return err
			}
		}
		spec := routes.PlugSpec{Dev: ra.dev, Entries: []netip.Prefix{ra.dst}, Metric: ra.metric}
		if src.Is6() {
			spec.Src6 = src
		} else {
			spec.Src = src
		}
		return m.AddRoutes(ctx, spec)
	case "del":
		managed, err := m.Managed()
		if err != nil {
			return err
		}
		found := false
		for _, r := range managed {
			found = found || r.Dst == ra.dst && r.Dev == ra.dev
		}
		if !found {
			return fmt.Errorf("route del: no proxyarp route to %s dev %s", ra.dst, ra.dev)
		}
		return m.Unplug(ctx, routes.UnplugSpec{Dev: ra.dev, Entries: []netip.Prefix{ra.dst}})
	}
	return listRoutes(ctx, m, guests, stdout, deps)
}

// listRoutes prints the managed routes, each with serve's verdict.
func listRoutes(ctx context.Context, m *routes.Manager, guests routes.Globs, w io.Writer, deps routeDeps) error {
	managed, err := m.Managed()
	if err != nil {
		return err
	}
	if len(managed) == 0 {
		return nil
	}
	src, release, err := deps.source()
	if err != nil {
		return err
	}
	defer release()
	snap, err := src.Dump(ctx)
	if err != nil {
		return fmt.Errorf("read the routing table: %w", err)
	}
	links := map[int]routes.Link{}
	for _, l := range snap.Links {
		links[l.Index] = l
	}
	local := map[netip.Addr]bool{}
	for _, a := range snap.Addrs {
		local[a.Prefix.Addr()] = true
	}
	rule := routes.Rule{Guests: guests}
	for _, r := range managed {
		status := "answered"
		if !r.Dst.IsSingleIP() {
			status = fmt.Sprintf("not answered: not a /%d", r.Dst.Addr().BitLen())
		} else if v := rule.Explain(r.Dst.Addr(), snap.Routes, links, local[r.Dst.Addr()]); !v.Owned() {
			status = "not answered: " + v.Reason.String()
			if v.Dev != "" {
				status += " (" + v.Dev + ")"
			}
		}
		fmt.Fprintf(w, "%s\t%s\n", r, status)
	}
	return nil
}
