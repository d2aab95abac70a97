// Package hotplug is the Xen network hotplug script for routed guests, a
// drop-in for vif-route: the logic behind `proxyarp hotplug` and the lean
// proxyarp-hotplug binary. It depends on routes and xenstore only, so that a
// binary linking it starts fast.
package hotplug

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/proxyarp/proxyarp/routes"
	"github.com/proxyarp/proxyarp/xenstore"
)

// Usage is the help text of the hotplug command.
const Usage = `Usage: proxyarp hotplug ACTION [type_if=vif|tap] [key=value...]

The Xen network hotplug script for routed guests: a drop-in for vif-route,
run by libxl through /etc/xen/scripts/vif-proxyarp. In the vif spec:

  vif = [ 'script=vif-proxyarp,ip=192.0.2.2 2001:db8:1::2,gatewaydev=eth0' ]

ACTION is online or offline for a PV vif (type_if=vif, the default), add or
remove for the emulated twin of a HVM guest (type_if=tap); other pairs do
nothing. key=value arguments override the environment.

Environment (set by libxl):
  XENBUS_PATH   the vif's xenstore directory, e.g. backend/vif/1/0 (required
                for type_if=vif; derived from INTERFACE for tap)
  vif           the device for type_if=vif, e.g. vif1.0
  INTERFACE     the device for type_if=tap, e.g. vif1.0-emu
  netdev        the gateway device whose first IPv4 address is MAIN_IP and
                first global IPv6 address MAIN_IP6 (the vif spec's
                gatewaydev; default eth0)
  ip            the addresses, when $XENBUS_PATH/ip is not in xenstore
  ipv6_gateway  the guests' IPv6 gateway put on the vif when an entry is
                IPv6: a link-local address (default fe80::1, as fe80::1/64),
                or none; vif-proxyarp reads VAR=value lines such as this
                one from /etc/default/proxyarp-hotplug

online/add: the device is renamed to $XENBUS_PATH/vifname (tap: NAME-emu)
if set, gets MAIN_IP/32, is set up with proxy_arp=1 and proxy_delay=0, and
each ip entry gets a route "ENTRY dev DEV src MAIN_IP metric M proto
proxyarp" (M = 2 for vif, 1 for tap). Entries may be prefixes (installed,
but only /32s and /128s are answered by proxyarp serve). A second online
converges. An entry already routed elsewhere, or equal to or containing
MAIN_IP or MAIN_IP6, fails the whole online and nothing is left half-done.
online then writes hotplug-status=connected.
IPv6 entries (an address means /128) are routed the same way with src
MAIN_IP6; without a usable global IPv6 address on netdev they are routed
without src, with a warning. With an IPv6 entry the device also gets
disable_ipv6=0, accept_ra=0 and ipv6_gateway (nodad): the guest uses
"default via fe80::1". A list of IPv6 entries only needs no IPv4 on netdev
and puts none on the device.
offline/remove: deletes proxyarp's routes to the entries and sets the
device down; routes or devices already gone are fine.

On failure it writes hotplug-error=MESSAGE and hotplug-status=error under
XENBUS_PATH, so that libxl reports the reason, and exits 1 (2 for a bad
command line).

xenstore is reached through $XENSTORED_PATH, /run/xenstored/socket,
/var/run/xenstored/socket or /dev/xen/xenbus, else xenstore-read and
xenstore-write on PATH.
`

// ErrHelp means --help was asked for and printed: exit 0.
var ErrHelp = errors.New("help printed")

// UsageError is a bad command line: reported in one line, exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Deps is hotplug's view of the outside world; tests replace it.
type Deps struct {
	Getenv func(string) string
	// OpenStore connects to xenstore.
	OpenStore func(getenv func(string) string) (xenstore.Store, error)
	// Kernel returns the Kernel to change and a function releasing it.
	Kernel func() (routes.Kernel, func(), error)
	Log    *slog.Logger
}

// DefaultDeps is the host: the process environment, the xenstore of
// xenstore.OpenEnv, the netlink Kernel, and a text log to stderr.
func DefaultDeps(stderr io.Writer) Deps {
	return Deps{
		Getenv:    os.Getenv,
		OpenStore: xenstore.OpenEnv,
		Kernel:    NetlinkKernel,
		Log:       slog.New(slog.NewTextHandler(stderr, nil)),
	}
}

// NetlinkKernel is the host's Kernel.
func NetlinkKernel() (routes.Kernel, func(), error) {
	k, err := routes.NewNetlinkKernel(nil)
	if err != nil {
		return nil, nil, err
	}
	return k, func() { k.Close() }, nil
}

// run is one invocation, as vif-common.sh sets it up.
type run struct {
	action  string
	typeIf  string
	vars    map[string]string // environment overridden by key=value args
	xbPath  string
	dev     string
	store   xenstore.Store
	deps    Deps
	metric  int
	entries []netip.Prefix
}

// vars are the variables read from the environment; key=value
// arguments may set any of them.
var vars = []string{"XENBUS_PATH", "vif", "INTERFACE", "netdev", "ip", "type_if", "ipv6_gateway"}

// DefaultGateway6 is the guests' IPv6 gateway that online puts on the vif
// when an ip= entry is IPv6 (ipv6_gateway= changes it).
var DefaultGateway6 = netip.MustParsePrefix("fe80::1/64")

// Run runs the hotplug command with the arguments args (after "hotplug"),
// printing --help to stdout. A bad command line is a *UsageError; --help is
// ErrHelp. Failures are also reported to xenstore under XENBUS_PATH.
func Run(ctx context.Context, args []string, stdout io.Writer, deps Deps) (err error) {
	r := &run{deps: deps, vars: map[string]string{}}
	for _, k := range vars {
		if v := deps.Getenv(k); v != "" {
			r.vars[k] = v
		}
	}
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, Usage)
			return ErrHelp
		}
		// xen-script-common.sh: an argument with "=" past its first
		// character sets a variable; the first other one is the action.
		if i := strings.IndexByte(a, '='); i > 0 {
			r.vars[a[:i]] = a[i+1:]
		} else if r.action == "" {
			r.action = a
		} else {
			return usagef("hotplug: unexpected argument %q (see proxyarp hotplug --help)", a)
		}
	}
	r.xbPath = r.vars["XENBUS_PATH"]
	defer func() {
		if err != nil && !errors.Is(err, ErrHelp) {
			err = r.fail(err)
		}
		if r.store != nil {
			r.store.Close()
		}
	}()

	switch r.action {
	case "online", "offline", "add", "remove":
	case "":
		return usagef("hotplug: missing ACTION: online, offline, add or remove (see proxyarp hotplug --help)")
	default:
		return usagef("hotplug: unknown action %q: want online, offline, add or remove", r.action)
	}
	r.typeIf = r.vars["type_if"]
	if r.typeIf == "" {
		r.typeIf = "vif" // older Xen does not pass it
	}
	switch r.typeIf {
	case "vif":
		if r.action == "add" || r.action == "remove" {
			return nil
		}
		r.dev, r.metric = r.vars["vif"], 2
		if r.xbPath == "" {
			return errors.New("hotplug: XENBUS_PATH is not set (run by libxl, it always is)")
		}
		if r.dev == "" {
			return errors.New("hotplug: the device variable vif is not set")
		}
	case "tap":
		if r.action == "online" || r.action == "offline" {
			return nil
		}
		r.dev, r.metric = r.vars["INTERFACE"], 1
		if r.dev == "" {
			return errors.New("hotplug: the device variable INTERFACE is not set")
		}
		if p, ok := tapXenbusPath(r.dev); ok {
			r.xbPath = p
		} else if r.xbPath == "" {
			return fmt.Errorf("hotplug: XENBUS_PATH is not set and INTERFACE %q is not named vifDOMID.DEVID-emu", r.dev)
		}
	default:
		return usagef("hotplug: unknown type_if %q: want vif or tap", r.typeIf)
	}

	store, err := deps.OpenStore(deps.Getenv)
	if err != nil {
		return err
	}
	r.store = store

	k, release, err := deps.Kernel()
	if err != nil {
		return err
	}
	defer release()
	m := &routes.Manager{Kernel: k, Log: deps.Log}

	plugging := r.action == "online" || r.action == "add"
	vifname, ip, err := r.readVifnameIP()
	if err != nil {
		return err
	}
	if vifname != "" {
		if r.typeIf == "tap" {
			vifname += "-emu"
		}
		if plugging {
			if err := m.Rename(r.dev, vifname); err != nil && !renamedAlready(k, r.dev, vifname) {
				return err
			}
		}
		r.dev = vifname
	}
	if ip == "" {
		ip = r.vars["ip"]
	}
	r.entries, err = ParseEntries(ip)
	if err != nil {
		return err
	}

	if !plugging {
		if err := m.Unplug(ctx, routes.UnplugSpec{Dev: r.dev, Entries: r.entries, Down: true}); err != nil {
			return fmt.Errorf("%s %s: %w", r.action, r.dev, err)
		}
		deps.Log.Info("hotplug done", "action", r.action, "dev", r.dev, "entries", len(r.entries))
		return nil
	}
	netdev := r.vars["netdev"]
	if netdev == "" {
		netdev = "eth0"
	}
	spec := routes.PlugSpec{Dev: r.dev, Entries: r.entries, Metric: r.metric}
	has4, has6 := false, false
	for _, e := range r.entries {
		has4, has6 = has4 || e.Addr().Is4(), has6 || e.Addr().Is6()
	}
	if has4 || !has6 {
		// As vif-route; an IPv6-only list needs no MAIN_IP.
		if spec.Src, err = m.MainIP(netdev); err != nil {
			return err
		}
	}
	if has6 {
		if spec.Gateway6, err = ParseGateway6(r.vars["ipv6_gateway"]); err != nil {
			return err
		}
		spec.Src6, err = m.MainIP6(netdev)
		if errors.Is(err, routes.ErrNoGlobalIPv6) {
			// The source only matters to packets the host itself
			// sends the guest: the guest works without it.
			deps.Log.Warn("gateway device has no usable global IPv6 address: IPv6 routes installed without src", "netdev", netdev, "dev", r.dev)
		} else if err != nil {
			return err
		}
	}
	if err := m.Plug(ctx, spec); err != nil {
		return fmt.Errorf("%s %s: %w", r.action, r.dev, err)
	}
	if r.action == "online" {
		if err := store.Write(r.xbPath+"/hotplug-status", "connected"); err != nil {
			return err
		}
	}
	attrs := []any{"action", r.action, "dev", r.dev, "main_ip", spec.Src.String(), "entries", len(r.entries)}
	if has6 {
		attrs = append(attrs, "main_ip6", spec.Src6.String(), "ipv6_gateway", spec.Gateway6.String())
	}
	deps.Log.Info("hotplug done", attrs...)
	return nil
}

// ParseGateway6 parses ipv6_gateway=: a link-local IPv6 address, with a
// prefix length or without (then /64); "" is DefaultGateway6 and "none"
// the zero Prefix (no gateway address on the vif).
func ParseGateway6(s string) (netip.Prefix, error) {
	switch s {
	case "":
		return DefaultGateway6, nil
	case "none":
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(s)
	if !strings.Contains(s, "/") {
		var a netip.Addr
		if a, err = netip.ParseAddr(s); err == nil && a.Zone() == "" {
			p = netip.PrefixFrom(a, 64)
		} else if err == nil {
			err = errors.New("zone") // a Prefix would drop it silently
		}
	}
	if err != nil || !p.Addr().Is6() || !p.Addr().IsLinkLocalUnicast() {
		return netip.Prefix{}, fmt.Errorf("hotplug: bad ipv6_gateway=%q: want a link-local IPv6 address such as fe80::1 (or none)", s)
	}
	return p, nil
}

// readVifnameIP returns the values of vifname and ip under XENBUS_PATH,
// "" for a key that is not there. Both are asked for in one exchange with
// xenstored, in vif-common.sh's order (vifname, then ip).
func (r *run) readVifnameIP() (vifname, ip string, err error) {
	vals, errs := xenstore.ReadAll(r.store, r.xbPath+"/vifname", r.xbPath+"/ip")
	for i, err := range errs {
		if errors.Is(err, xenstore.ErrNotFound) {
			vals[i] = ""
		} else if err != nil {
			return "", "", err
		}
	}
	return strings.TrimSpace(vals[0]), strings.TrimSpace(vals[1]), nil
}

// fail reports err to libxl as the Xen scripts' fatal does:
// hotplug-error=MESSAGE, then hotplug-status=error, under XENBUS_PATH.
// Without XENBUS_PATH there is nowhere to write.
func (r *run) fail(err error) error {
	if r.xbPath == "" {
		return err
	}
	if r.store == nil {
		s, oerr := r.deps.OpenStore(r.deps.Getenv)
		if oerr != nil {
			return errors.Join(err, fmt.Errorf("cannot report it to xenstore: %w", oerr))
		}
		r.store = s // closed by Run
	}
	msg := strings.TrimPrefix(err.Error(), "hotplug: ")
	for _, kv := range [][2]string{{"hotplug-error", msg}, {"hotplug-status", "error"}} {
		if werr := r.store.Write(r.xbPath+"/"+kv[0], kv[1]); werr != nil {
			return errors.Join(err, fmt.Errorf("cannot report it to xenstore: %w", werr))
		}
	}
	return err
}

// tapXenbusPath derives the vif's xenstore directory from the name of its
// emulated twin, vifDOMID.DEVID-emu, as vif-common.sh does.
func tapXenbusPath(dev string) (string, bool) {
	rest, ok := strings.CutPrefix(dev, "vif")
	if !ok {
		return "", false
	}
	if rest, ok = strings.CutSuffix(rest, "-emu"); !ok {
		return "", false
	}
	domid, devid, ok := strings.Cut(rest, ".")
	if !ok || !allDigits(domid) || !allDigits(devid) {
		return "", false
	}
	return "/local/domain/0/backend/vif/" + domid + "/" + devid, true
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseEntries parses the vif's ip= list: IPv4 and IPv6 addresses or
// prefixes separated by white space.
func ParseEntries(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		p, err := ParseEntry(f)
		if err != nil {
			return nil, fmt.Errorf("bad ip= entry %q: want an IPv4 or IPv6 address or prefix such as 192.0.2.2, 192.0.2.0/28, 2001:db8::2 or 2001:db8:1::/64", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseEntry parses ADDR or ADDR/LEN, IPv4 or IPv6; an address means
// ADDR/32 or ADDR/128. IPv4-mapped IPv6 addresses and zones are refused.
func ParseEntry(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("not an IPv4 or IPv6 prefix: %q", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is4In6() || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not an IPv4 or IPv6 address: %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// renamedAlready reports whether dev was renamed to vifname already (by an
// earlier or a racing online): dev is gone and vifname exists. vif-common.sh
// renames only while no device is called $vifname.
func renamedAlready(k routes.Kernel, dev, vifname string) bool {
	if _, err := k.LinkByName(dev); !errors.Is(err, routes.ErrNoDevice) {
		return false
	}
	_, err := k.LinkByName(vifname)
	return err == nil
}
