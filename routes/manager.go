package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoDevice is returned (wrapped) by a Kernel, and so by the Manager,
// when a named network device does not exist.
var ErrNoDevice = errors.New("no such network device")

// KernelRoute is an IPv4 or IPv6 route of the main table as the Manager
// installs, finds and removes it: one device, no gateway.
type KernelRoute struct {
	Dst netip.Prefix
	// Dev is the outgoing device's name; empty when the route has none
	// (blackhole) or several nexthops (multipath).
	Dev string
	// LinkIndex is Dev's ifindex; the Manager fills it in when it asks a
	// Kernel to install or delete a route.
	LinkIndex int
	// Src is the preferred source address; the zero Addr for none.
	Src netip.Addr
	// Metric is the route's priority; lower wins.
	Metric int
	// Protocol is the originator, ProtoProxyarp for the Manager's routes.
	Protocol int
	// Type is unix.RTN_UNICAST for ordinary routes.
	Type int
}

// String formats r the way `ip route` prints it, for logs, errors and the
// fake's operation lines, e.g. "192.0.2.2/32 dev vif1.0 src 192.0.2.1
// metric 2 proto proxyarp".
func (r KernelRoute) String() string {
	var b strings.Builder
	if r.Type != 0 && r.Type != unix.RTN_UNICAST {
		fmt.Fprintf(&b, "%s ", routeTypeName(r.Type))
	}
	b.WriteString(r.Dst.String())
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	fmt.Fprintf(&b, " metric %d proto %s", r.Metric, protoName(r.Protocol))
	return b.String()
}

func routeTypeName(t int) string {
	switch t {
	case unix.RTN_BLACKHOLE:
		return "blackhole"
	case unix.RTN_UNREACHABLE:
		return "unreachable"
	case unix.RTN_PROHIBIT:
		return "prohibit"
	case unix.RTN_LOCAL:
		return "local"
	}
	return fmt.Sprintf("type%d", t)
}

// protoName names the route protocols worth naming, as iproute2 does.
func protoName(p int) string {
	switch p {
	case ProtoProxyarp:
		return "proxyarp"
	case unix.RTPROT_UNSPEC:
		return "unspec"
	case unix.RTPROT_KERNEL:
		return "kernel"
	case unix.RTPROT_BOOT:
		return "boot"
	case unix.RTPROT_STATIC:
		return "static"
	case unix.RTPROT_DHCP:
		return "dhcp"
	}
	return fmt.Sprint(p)
}

// Kernel is the seam between the Manager and the kernel:
// NewNetlinkKernel in production, FakeKernel in tests. Methods taking a
// Link use its Index and Name only.
type Kernel interface {
	// LinkByName returns the named link, or an error wrapping
	// ErrNoDevice.
	LinkByName(name string) (Link, error)
	// Addrs returns the link's primary IPv4 addresses, in the kernel's
	// order (the first is what `ip -4 addr show primary` prints first).
	Addrs(l Link) ([]netip.Prefix, error)
	// Addrs6 returns the link's IPv6 addresses, with their scopes and
	// flags, in the kernel's order (that of `ip -6 addr show`).
	Addrs6(l Link) ([]IfAddr, error)
	// AddAddr puts p on the link; an address already there is not an
	// error. An IPv6 address is added without duplicate address
	// detection (nodad): it is usable at once.
	AddAddr(l Link, p netip.Prefix) error
	// SetUp sets the link administratively up or down.
	SetUp(l Link, up bool) error
	// Rename renames a link (which must be down).
	Rename(l Link, name string) error
	// WriteSysctl writes value to /proc/sys/KEY in the Kernel's network
	// namespace; key uses slashes: net/ipv4/conf/vif1.0/proxy_arp.
	WriteSysctl(key, value string) error
	// RoutesTo returns the routes of the main table whose destination is
	// exactly dst (of dst's family).
	RoutesTo(dst netip.Prefix) ([]KernelRoute, error)
	// RoutesByProto returns the IPv4 and IPv6 routes of the main table
	// with the given protocol.
	RoutesByProto(proto int) ([]KernelRoute, error)
	// ReplaceRoute installs r (NLM_F_REPLACE: it replaces the route with
	// the same destination and metric, if any).
	ReplaceRoute(r KernelRoute) error
	// DeleteRoute deletes r, matched by destination, device, metric and
	// protocol. A missing route gives an error wrapping unix.ESRCH.
	DeleteRoute(r KernelRoute) error
}

// IfAddr is an address of a link as the kernel lists it.
type IfAddr struct {
	Prefix netip.Prefix
	// Scope is the address's scope: unix.RT_SCOPE_UNIVERSE (global),
	// RT_SCOPE_LINK (fe80::/10), RT_SCOPE_HOST (::1).
	Scope int
	// Flags are the IFA_F_* flags (tentative, dadfailed, deprecated...).
	Flags uint32
}

// Manager installs and removes guest routes the way Xen's vif-route does,
// tagged with ProtoProxyarp so that it never touches a route it did not
// install: idempotent over its own routes, an error over anyone else's.
//
// The zero Manager is not usable: set Kernel. A Manager is as safe for
// concurrent use as its Kernel; two Manager calls on the same addresses at
// once race like two `ip route` commands.
type Manager struct {
	// Kernel is the host (NewNetlinkKernel) or a FakeKernel. Required.
	Kernel Kernel
	// Log receives warnings (for example a route the responder will not
	// answer for) and one line per change; nil discards them.
	Log *slog.Logger
}

// PlugSpec describes the routes to one guest device.
type PlugSpec struct {
	// Dev is the guest device, e.g. vif1.0 or vif1.0-emu.
	Dev string
	// Src is the host's address (MAIN_IP: the first IPv4 address of the
	// gateway device), used as the IPv4 routes' preferred source. Plug
	// also puts Src/32 on Dev. Plug needs it unless every entry is IPv6
	// (then the zero Addr leaves the device's IPv4 alone); AddRoutes
	// accepts the zero Addr: no source.
	Src netip.Addr
	// Src6 is the host's IPv6 address (MAIN_IP6: the first global IPv6
	// address of the gateway device), the IPv6 routes' preferred source;
	// the zero Addr for none.
	Src6 netip.Addr
	// Gateway6 is the guests' IPv6 gateway, a link-local address that
	// Plug puts on Dev (nodad) when an entry is IPv6, e.g. fe80::1/64;
	// the zero Prefix for none. AddRoutes ignores it.
	Gateway6 netip.Prefix
	// Entries are the destinations: the vif's ip= list, IPv4 and IPv6.
	// Entries other than host routes (/32, /128) are installed, with a
	// warning: the responder only answers for host routes.
	Entries []netip.Prefix
	// Metric is the routes' metric: 2 for a vif, 1 for a tap (as
	// vif-route). IPv6 routes of metric 0 get the kernel's 1024.
	Metric int
}

// families reports whether entries hold IPv4 and IPv6 prefixes.
func families(entries []netip.Prefix) (has4, has6 bool) {
	for _, e := range entries {
		if e.Addr().Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	return has4, has6
}

// Plug prepares a guest device and routes spec.Entries to it, like
// vif-route's online: Src/32 on the device, device up, proxy_arp=1 and
// neigh proxy_delay=0 on it (so the guest's ARP for its gateway is
// answered at once), then one route per entry:
//
//	ENTRY dev DEV src SRC metric METRIC proto proxyarp
//
// When an entry is IPv6, the device also gets disable_ipv6=0 and
// accept_ra=0 (a guest's router advertisements never configure the host)
// before it is set up, then Gateway6 (nodad), and the IPv6 routes get Src6
// as their source (none when Src6 is the zero Addr). An IPv4-only plug
// does nothing of this: not one more request.
//
// Everything is checked before anything changes: the device must exist,
// no entry may equal or contain Src or Src6, and no entry may already be
// routed by anyone else (another device, or a route not carrying
// ProtoProxyarp); the error names the route in the way. A route of ours to
// the same device is replaced, so a second Plug converges. When installing
// a route fails, the routes this call added (IPv4 and IPv6) are removed
// again.
func (m *Manager) Plug(ctx context.Context, spec PlugSpec) error {
	has4, has6 := families(spec.Entries)
	if spec.Src.IsValid() || has4 || !has6 {
		if !spec.Src.Is4() {
			return fmt.Errorf("plug %s: source address %v is not IPv4", spec.Dev, spec.Src)
		}
	}
	if err := checkSpec6(spec); err != nil {
		return fmt.Errorf("plug %s: %w", spec.Dev, err)
	}
	p, err := m.plan(spec)
	if err != nil {
		return err
	}
	if spec.Src.IsValid() {
		host := netip.PrefixFrom(spec.Src, 32)
		if err := m.Kernel.AddAddr(p.link, host); err != nil {
			return fmt.Errorf("add address %s to %s: %w", host, spec.Dev, err)
		}
	}
	if has6 {
		// Before the device is up: IPv6 comes up with it, and no
		// router advertisement is accepted meanwhile.
		if err := m.writeSysctls(
			"net/ipv6/conf/"+spec.Dev+"/disable_ipv6", "0",
			"net/ipv6/conf/"+spec.Dev+"/accept_ra", "0",
		); err != nil {
			return err
		}
	}
	if err := m.Kernel.SetUp(p.link, true); err != nil {
		return fmt.Errorf("set %s up: %w", spec.Dev, err)
	}
	if spec.Src.IsValid() {
		if err := m.writeSysctls(
			"net/ipv4/conf/"+spec.Dev+"/proxy_arp", "1",
			"net/ipv4/neigh/"+spec.Dev+"/proxy_delay", "0",
		); err != nil {
			return err
		}
	}
	if has6 && spec.Gateway6.IsValid() {
		if err := m.Kernel.AddAddr(p.link, spec.Gateway6); err != nil {
			return fmt.Errorf("add address %s to %s: %w", spec.Gateway6, spec.Dev, err)
		}
	}
	return m.install(ctx, p)
}

// writeSysctls writes key, value pairs in order.
func (m *Manager) writeSysctls(kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := m.Kernel.WriteSysctl(kv[i], kv[i+1]); err != nil {
			return fmt.Errorf("set %s=%s: %w", kv[i], kv[i+1], err)
		}
	}
	return nil
}

// checkSpec6 checks the IPv6 fields of spec.
func checkSpec6(spec PlugSpec) error {
	if spec.Src6.IsValid() && (!spec.Src6.Is6() || spec.Src6.Is4In6()) {
		return fmt.Errorf("source address %v is not IPv6", spec.Src6)
	}
	if g := spec.Gateway6; g.IsValid() && (!g.Addr().Is6() || !g.Addr().IsLinkLocalUnicast() || g.Addr().Zone() != "") {
		return fmt.Errorf("IPv6 gateway %v is not a link-local IPv6 address (such as fe80::1/64)", g)
	}
	return nil
}

// AddRoutes installs the routes of spec like Plug, with the same checks
// and the same all-or-nothing behaviour, but leaves the device alone (no
// address, no up, no sysctls): for `proxyarp route add`.
func (m *Manager) AddRoutes(ctx context.Context, spec PlugSpec) error {
	if spec.Src.IsValid() && !spec.Src.Is4() {
		return fmt.Errorf("add routes via %s: source address %v is not IPv4", spec.Dev, spec.Src)
	}
	if err := checkSpec6(PlugSpec{Src6: spec.Src6}); err != nil {
		return fmt.Errorf("add routes via %s: %w", spec.Dev, err)
	}
	p, err := m.plan(spec)
	if err != nil {
		return err
	}
	return m.install(ctx, p)
}

// plan is a checked PlugSpec.
type plan struct {
	spec   PlugSpec
	link   Link
	routes []KernelRoute
	// existing[i] says whether routes[i] is already installed (ours, same
	// device, same metric): it is replaced but not removed on rollback.
	existing []bool
	// stale are our routes to the same device with another metric, to
	// remove once the new ones are in.
	stale []KernelRoute
}

// ip6DefaultMetric is the metric the kernel gives an IPv6 route of
// metric 0 (IP6_RT_PRIO_USER).
const ip6DefaultMetric = 1024

// plan checks spec against the kernel without changing anything.
func (m *Manager) plan(spec PlugSpec) (plan, error) {
	p := plan{spec: spec}
	if err := checkEntries(spec.Entries, spec.Src, spec.Src6); err != nil {
		return p, fmt.Errorf("plug %s: %w", spec.Dev, err)
	}
	link, err := m.Kernel.LinkByName(spec.Dev)
	if err != nil {
		return p, fmt.Errorf("plug %s: %w", spec.Dev, err)
	}
	p.link = link
	for _, e := range spec.Entries {
		src, metric := spec.Src, spec.Metric
		if e.Addr().Is6() {
			src = spec.Src6
			if metric == 0 {
				metric = ip6DefaultMetric
			}
		}
		r := KernelRoute{
			Dst: e, Dev: link.Name, LinkIndex: link.Index, Src: src,
			Metric: metric, Protocol: ProtoProxyarp, Type: unix.RTN_UNICAST,
		}
		have, err := m.Kernel.RoutesTo(e)
		if err != nil {
			return p, fmt.Errorf("list routes to %s: %w", e, err)
		}
		exists := false
		for _, h := range have {
			switch {
			case h.Protocol != ProtoProxyarp:
				return p, fmt.Errorf("%s is already routed: %s (not installed by proxyarp; remove it first)", e, h)
			case h.Dev == link.Name && h.Metric == metric:
				exists = true
			case h.Dev == link.Name:
				p.stale = append(p.stale, h)
			case sameGuest(h.Dev, link.Name) && h.Metric != metric:
				// vif-route routes a HVM guest's addresses both to
				// its PV vif (metric 2) and to its emulated twin
				// vifD.N-emu (metric 1). At the same metric the
				// replace would take the twin's route over.
			default:
				return p, fmt.Errorf("%s is already routed to another device: %s", e, h)
			}
		}
		if m.Log != nil {
			if e.Addr().Is4() && e.Bits() != 32 {
				m.Log.Warn("route is not a /32: installed, but proxyarp answers ARP only for /32 routes", "dst", e.String(), "dev", link.Name)
			} else if e.Addr().Is6() && e.Bits() != 128 {
				m.Log.Warn("route is not a /128: installed, but proxyarp answers NDP only for /128 routes", "dst", e.String(), "dev", link.Name)
			}
		}
		p.routes = append(p.routes, r)
		p.existing = append(p.existing, exists)
	}
	return p, nil
}

// sameGuest reports whether a and b are a HVM guest's PV vif and its
// emulated twin: NAME and NAME-emu.
func sameGuest(a, b string) bool {
	return a == b+"-emu" || b == a+"-emu"
}

// checkEntries refuses invalid entries, IPv6 entries that are not global
// unicast, and entries covering src or src6.
func checkEntries(entries []netip.Prefix, src, src6 netip.Addr) error {
	for _, e := range entries {
		if !e.IsValid() || e.Addr().Is4In6() || e.Addr().Zone() != "" {
			return fmt.Errorf("entry %v is not an IPv4 or IPv6 address or prefix", e)
		}
		if e != e.Masked() {
			return fmt.Errorf("entry %s has host bits set (did you mean %s?)", e, e.Masked())
		}
		own, name := src, "MAIN_IP"
		if a := e.Addr(); a.Is6() {
			if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
				return fmt.Errorf("entry %s is not a global unicast IPv6 address or prefix", e)
			}
			own, name = src6, "MAIN_IP6"
		}
		if own.IsValid() && e.Contains(own) {
			if e.IsSingleIP() {
				return fmt.Errorf("entry %s is the host's own address (%s): refusing to route it to a guest", e, name)
			}
			return fmt.Errorf("entry %s contains the host's own address %s (%s): refusing to route it to a guest", e, own, name)
		}
	}
	return nil
}

// install puts p's routes in, or none of the new ones.
func (m *Manager) install(ctx context.Context, p plan) error {
	var added []KernelRoute
	for i, r := range p.routes {
		err := ctx.Err()
		if err == nil {
			err = m.Kernel.ReplaceRoute(r)
			if err != nil {
				err = fmt.Errorf("add route %s: %w", r, err)
			}
		}
		if err != nil {
			for _, a := range slices.Backward(added) {
				if derr := m.Kernel.DeleteRoute(a); derr != nil && !errors.Is(derr, unix.ESRCH) {
					err = errors.Join(err, fmt.Errorf("roll back route %s: %w", a, derr))
				}
			}
			return err
		}
		if !p.existing[i] {
			added = append(added, r)
			m.logInfo("route added", r)
		}
	}
	for _, s := range p.stale {
		s.LinkIndex = p.link.Index
		if err := m.Kernel.DeleteRoute(s); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete replaced route %s: %w", s, err)
		}
	}
	return nil
}

func (m *Manager) logInfo(msg string, r KernelRoute) {
	if m.Log != nil {
		m.Log.Info(msg, "dst", r.Dst.String(), "dev", r.Dev, "metric", r.Metric)
	}
}

// UnplugSpec describes the routes to remove from one guest device.
type UnplugSpec struct {
	// Dev is the guest device.
	Dev string
	// Entries are the destinations whose routes via Dev are removed.
	Entries []netip.Prefix
	// Down also sets Dev down once its routes are gone.
	Down bool
}

// Unplug removes the routes to spec.Entries via spec.Dev that carry
// ProtoProxyarp, whatever their metric, like vif-route's offline. Routes
// already gone, and a device that no longer exists, are not errors (the
// kernel removed its routes with it). Routes via Dev that are not
// proxyarp's are left alone, with a warning. It tries every entry and
// returns the errors joined.
func (m *Manager) Unplug(ctx context.Context, spec UnplugSpec) error {
	link, err := m.Kernel.LinkByName(spec.Dev)
	if errors.Is(err, ErrNoDevice) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unplug %s: %w", spec.Dev, err)
	}
	var errs []error
	for _, e := range spec.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		have, err := m.Kernel.RoutesTo(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("list routes to %s: %w", e, err))
			continue
		}
		for _, h := range have {
			if h.Dev != link.Name {
				continue
			}
			if h.Protocol != ProtoProxyarp {
				if m.Log != nil {
					m.Log.Warn("route not installed by proxyarp: left alone", "route", h.String())
				}
				continue
			}
			h.LinkIndex = link.Index
			if err := m.Kernel.DeleteRoute(h); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete route %s: %w", h, err))
				continue
			}
			m.logInfo("route deleted", h)
		}
	}
	if spec.Down {
		if err := m.Kernel.SetUp(link, false); err != nil && !errors.Is(err, ErrNoDevice) {
			errs = append(errs, fmt.Errorf("set %s down: %w", spec.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// MainIP returns the first primary IPv4 address of dev, as vif-common.sh's
// dom0_ip does: the source of guest routes.
func (m *Manager) MainIP(dev string) (netip.Addr, error) {
	link, err := m.Kernel.LinkByName(dev)
	if errors.Is(err, ErrNoDevice) {
		return netip.Addr{}, fmt.Errorf("gateway device %s does not exist (set gatewaydev= in the vif spec, or netdev=)", dev)
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("gateway device %s: %w", dev, err)
	}
	addrs, err := m.Kernel.Addrs(link)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of gateway device %s: %w", dev, err)
	}
	for _, a := range addrs {
		if a.Addr().Is4() {
			return a.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("gateway device %s has no IPv4 address", dev)
}

// ErrNoGlobalIPv6 is returned (wrapped) by MainIP6 when the device has no
// usable global IPv6 address.
var ErrNoGlobalIPv6 = errors.New("no usable global IPv6 address")

// MainIP6 returns MAIN_IP6, the source of IPv6 guest routes: the first
// global-scope IPv6 address of dev as `ip -6 addr show` lists it, skipping
// addresses that are tentative (the kernel refuses them as a route's
// source), that failed duplicate address detection, or that are
// temporary (privacy) addresses; a deprecated address only when there is
// no other. An error wrapping ErrNoGlobalIPv6 says there is none.
func (m *Manager) MainIP6(dev string) (netip.Addr, error) {
	link, err := m.Kernel.LinkByName(dev)
	if errors.Is(err, ErrNoDevice) {
		return netip.Addr{}, fmt.Errorf("gateway device %s does not exist (set gatewaydev= in the vif spec, or netdev=)", dev)
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("gateway device %s: %w", dev, err)
	}
	addrs, err := m.Kernel.Addrs6(link)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list IPv6 addresses of gateway device %s: %w", dev, err)
	}
	var deprecated netip.Addr
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_UNIVERSE || !a.Prefix.Addr().Is6() ||
			a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_TEMPORARY) != 0 {
			continue
		}
		if a.Flags&unix.IFA_F_DEPRECATED == 0 {
			return a.Prefix.Addr(), nil
		}
		if !deprecated.IsValid() {
			deprecated = a.Prefix.Addr()
		}
	}
	if deprecated.IsValid() {
		return deprecated, nil
	}
	return netip.Addr{}, fmt.Errorf("gateway device %s: %w", dev, ErrNoGlobalIPv6)
}

// Rename renames device from to to, refusing when a device called to
// already exists (it may be another guest's). The device is set down
// first: the kernel renames only devices that are down.
func (m *Manager) Rename(from, to string) error {
	if _, err := m.Kernel.LinkByName(to); err == nil {
		return fmt.Errorf("cannot rename %s to %s: a device called %s already exists", from, to, to)
	} else if !errors.Is(err, ErrNoDevice) {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	link, err := m.Kernel.LinkByName(from)
	if err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	if link.Up {
		if err := m.Kernel.SetUp(link, false); err != nil {
			return fmt.Errorf("set %s down to rename it: %w", from, err)
		}
	}
	if err := m.Kernel.Rename(link, to); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return nil
}

// Managed returns the routes that carry ProtoProxyarp, sorted by
// destination, device and metric.
func (m *Manager) Managed() ([]KernelRoute, error) {
	rs, err := m.Kernel.RoutesByProto(ProtoProxyarp)
	if err != nil {
		return nil, fmt.Errorf("list proxyarp routes: %w", err)
	}
	slices.SortFunc(rs, func(a, b KernelRoute) int {
		if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
			return c
		}
		if c := a.Dst.Bits() - b.Dst.Bits(); c != 0 {
			return c
		}
		if c := strings.Compare(a.Dev, b.Dev); c != 0 {
			return c
		}
		return a.Metric - b.Metric
	})
	return rs, nil
}
