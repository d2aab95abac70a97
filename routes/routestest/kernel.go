// Package routestest provides test doubles for package routes, for tests
// here and in other packages (as net/http/httptest does for net/http).
package routestest

import (
	"fmt"
	"github.com/proxyarp/proxyarp/routes"
	"net/netip"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// FakeKernel is an in-memory routes.Kernel for tests, here and in other packages.
// It records every change it is asked for as a line of text in the style
// of ip(8), so that a test compares what was done as a list of lines:
//
//	addr add 192.0.2.1/32 dev vif1.0
//	link set vif1.0 up
//	sysctl net/ipv4/conf/vif1.0/proxy_arp=1
//	addr add fe80::1/64 dev vif1.0 nodad
//	route replace 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp
//	route del 192.0.2.2/32 dev vif1.0 src 192.0.2.1 metric 2 proto proxyarp
//	link set vif1.0 name web0
//
// Reads are not recorded. It is safe for concurrent use.
type FakeKernel struct {
	// Fail, when set, is called with each operation's line before it is
	// applied; a non-nil error fails the operation, which is then neither
	// applied nor recorded.
	Fail func(op string) error

	mu      sync.Mutex
	links   []routes.Link
	addrs   map[int][]netip.Prefix
	flags   map[netip.Prefix]uint32 // IPv6 address flags (IFA_F_*)
	routes  []routes.KernelRoute
	sysctls map[string]string
	ops     []string
}

var _ routes.Kernel = (*FakeKernel)(nil)

// NewFakeKernel returns an empty FakeKernel.
func NewFakeKernel() *FakeKernel {
	return &FakeKernel{addrs: map[int][]netip.Prefix{}, flags: map[netip.Prefix]uint32{}, sysctls: map[string]string{}}
}

// AddLink adds a link (Index 0 gets the next free index), with addresses,
// and returns it. It is not recorded.
func (k *FakeKernel) AddLink(l routes.Link, addrs ...netip.Prefix) routes.Link {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l.Index == 0 {
		l.Index = len(k.links) + 1
	}
	k.links = append(k.links, l)
	k.addrs[l.Index] = append(k.addrs[l.Index], addrs...)
	return l
}

// SetAddrFlags sets the IFA_F_* flags (tentative, deprecated...) of the
// IPv6 address p, as Addrs6 reports them. It is not recorded.
func (k *FakeKernel) SetAddrFlags(p netip.Prefix, flags uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.flags[p] = flags
}

// AddRoute adds a route as if someone else had installed it; LinkIndex is
// looked up from Dev. It is not recorded.
func (k *FakeKernel) AddRoute(r routes.KernelRoute) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r.Type == 0 {
		r.Type = unix.RTN_UNICAST
	}
	if i := k.linkIndex(r.Dev); i >= 0 {
		r.LinkIndex = k.links[i].Index
	}
	k.routes = append(k.routes, r)
}

// Ops returns the recorded operations and forgets them.
func (k *FakeKernel) Ops() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ops := k.ops
	k.ops = nil
	return ops
}

// Routes returns the fake's routes, as lines.
func (k *FakeKernel) Routes() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []string{}
	for _, r := range k.routes {
		out = append(out, r.String())
	}
	return out
}

// Sysctl returns the value written to key, and whether one was.
func (k *FakeKernel) Sysctl(key string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.sysctls[key]
	return v, ok
}

// Link returns the named link as the fake has it now.
func (k *FakeKernel) Link(name string) (routes.Link, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := k.linkIndex(name); i >= 0 {
		return k.links[i], true
	}
	return routes.Link{}, false
}

func (k *FakeKernel) linkIndex(name string) int {
	return slices.IndexFunc(k.links, func(l routes.Link) bool { return l.Name == name })
}

func (k *FakeKernel) byIndex(idx int) int {
	return slices.IndexFunc(k.links, func(l routes.Link) bool { return l.Index == idx })
}

// do records op unless Fail refuses it. The caller holds mu.
func (k *FakeKernel) do(op string) error {
	if k.Fail != nil {
		if err := k.Fail(op); err != nil {
			return err
		}
	}
	k.ops = append(k.ops, op)
	return nil
}

// LinkByName implements routes.Kernel.
func (k *FakeKernel) LinkByName(name string) (routes.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := k.linkIndex(name); i >= 0 {
		return k.links[i], nil
	}
	return routes.Link{}, fmt.Errorf("device %s: %w", name, routes.ErrNoDevice)
}

// Addrs implements routes.Kernel: the link's IPv4 addresses.
func (k *FakeKernel) Addrs(l routes.Link) ([]netip.Prefix, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byIndex(l.Index) < 0 {
		return nil, fmt.Errorf("device %s: %w", l.Name, routes.ErrNoDevice)
	}
	var out []netip.Prefix
	for _, p := range k.addrs[l.Index] {
		if p.Addr().Is4() {
			out = append(out, p)
		}
	}
	return out, nil
}

// Addrs6 implements routes.Kernel: the link's IPv6 addresses, with the
// scope the kernel would give them and the flags of SetAddrFlags.
func (k *FakeKernel) Addrs6(l routes.Link) ([]routes.IfAddr, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byIndex(l.Index) < 0 {
		return nil, fmt.Errorf("device %s: %w", l.Name, routes.ErrNoDevice)
	}
	var out []routes.IfAddr
	for _, p := range k.addrs[l.Index] {
		if !p.Addr().Is6() {
			continue
		}
		scope := unix.RT_SCOPE_UNIVERSE
		switch {
		case p.Addr().IsLinkLocalUnicast():
			scope = unix.RT_SCOPE_LINK
		case p.Addr().IsLoopback():
			scope = unix.RT_SCOPE_HOST
		}
		out = append(out, routes.IfAddr{Prefix: p, Scope: scope, Flags: k.flags[p]})
	}
	return out, nil
}

// AddAddr implements routes.Kernel. An IPv6 address is recorded with
// nodad, as the netlink Kernel adds it.
func (k *FakeKernel) AddAddr(l routes.Link, p netip.Prefix) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byIndex(l.Index) < 0 {
		return fmt.Errorf("device %s: %w", l.Name, routes.ErrNoDevice)
	}
	op := fmt.Sprintf("addr add %s dev %s", p, l.Name)
	if p.Addr().Is6() {
		op += " nodad"
	}
	if err := k.do(op); err != nil {
		return err
	}
	if !slices.Contains(k.addrs[l.Index], p) {
		k.addrs[l.Index] = append(k.addrs[l.Index], p)
	}
	return nil
}

// SetUp implements routes.Kernel. Setting a link down drops its routes, as the
// kernel does.
func (k *FakeKernel) SetUp(l routes.Link, up bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := k.byIndex(l.Index)
	if i < 0 {
		return fmt.Errorf("device %s: %w", l.Name, routes.ErrNoDevice)
	}
	state := "down"
	if up {
		state = "up"
	}
	if err := k.do(fmt.Sprintf("link set %s %s", k.links[i].Name, state)); err != nil {
		return err
	}
	k.links[i].Up = up
	if !up {
		k.routes = slices.DeleteFunc(k.routes, func(r routes.KernelRoute) bool { return r.LinkIndex == l.Index })
	}
	return nil
}

// Rename implements routes.Kernel.
func (k *FakeKernel) Rename(l routes.Link, name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := k.byIndex(l.Index)
	if i < 0 {
		return fmt.Errorf("device %s: %w", l.Name, routes.ErrNoDevice)
	}
	if k.links[i].Up {
		return fmt.Errorf("rename %s: %w", l.Name, unix.EBUSY)
	}
	if k.linkIndex(name) >= 0 {
		return fmt.Errorf("rename %s: %w", l.Name, unix.EEXIST)
	}
	if err := k.do(fmt.Sprintf("link set %s name %s", k.links[i].Name, name)); err != nil {
		return err
	}
	k.links[i].Name = name
	for j := range k.routes {
		if k.routes[j].LinkIndex == l.Index {
			k.routes[j].Dev = name
		}
	}
	return nil
}

// WriteSysctl implements routes.Kernel.
func (k *FakeKernel) WriteSysctl(key, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.do(fmt.Sprintf("sysctl %s=%s", key, value)); err != nil {
		return err
	}
	k.sysctls[key] = value
	return nil
}

// RoutesTo implements routes.Kernel.
func (k *FakeKernel) RoutesTo(dst netip.Prefix) ([]routes.KernelRoute, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []routes.KernelRoute
	for _, r := range k.routes {
		if r.Dst == dst {
			out = append(out, r)
		}
	}
	return out, nil
}

// RoutesByProto implements routes.Kernel.
func (k *FakeKernel) RoutesByProto(proto int) ([]routes.KernelRoute, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []routes.KernelRoute
	for _, r := range k.routes {
		if r.Protocol == proto {
			out = append(out, r)
		}
	}
	return out, nil
}

// ReplaceRoute implements Kernel: it replaces the route with the same
// destination and metric, as NLM_F_REPLACE does.
func (k *FakeKernel) ReplaceRoute(r routes.KernelRoute) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := k.byIndex(r.LinkIndex)
	if i < 0 {
		return fmt.Errorf("device #%d: %w", r.LinkIndex, routes.ErrNoDevice)
	}
	if !k.links[i].Up {
		return fmt.Errorf("route %s: %w", r, unix.ENETDOWN)
	}
	if err := k.do("route replace " + r.String()); err != nil {
		return err
	}
	j := slices.IndexFunc(k.routes, func(o routes.KernelRoute) bool { return o.Dst == r.Dst && o.Metric == r.Metric })
	if j >= 0 {
		k.routes[j] = r
	} else {
		k.routes = append(k.routes, r)
	}
	return nil
}

// DeleteRoute implements routes.Kernel.
func (k *FakeKernel) DeleteRoute(r routes.KernelRoute) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	j := slices.IndexFunc(k.routes, func(o routes.KernelRoute) bool {
		return o.Dst == r.Dst && o.LinkIndex == r.LinkIndex && o.Metric == r.Metric && o.Protocol == r.Protocol
	})
	if j < 0 {
		return fmt.Errorf("route %s: %w", r, unix.ESRCH)
	}
	if err := k.do("route del " + r.String()); err != nil {
		return err
	}
	k.routes = slices.Delete(k.routes, j, j+1)
	return nil
}

// NewXenHost returns a FakeKernel set up as a typical Xen dom0 before a
// hotplug: eth0 up with 192.0.2.1/24, fe80::1:1/64 and 2001:db8::1/64
// (the gateway device: MAIN_IP 192.0.2.1, MAIN_IP6 2001:db8::1), eth1 up
// without addresses, and the guest devices vif1.0, vif1.0-emu and vif2.0, down as netback
// and qemu create them.
func NewXenHost() *FakeKernel {
	k := NewFakeKernel()
	k.AddLink(routes.Link{Name: "eth0", Up: true, Carrier: true}, netip.MustParsePrefix("192.0.2.1/24"),
		netip.MustParsePrefix("fe80::1:1/64"), netip.MustParsePrefix("2001:db8::1/64"))
	k.AddLink(routes.Link{Name: "eth1", Up: true, Carrier: true})
	k.AddLink(routes.Link{Name: "vif1.0"})
	k.AddLink(routes.Link{Name: "vif1.0-emu"})
	k.AddLink(routes.Link{Name: "vif2.0"})
	return k
}

// GuestRoute returns the route proxyarp's manager installs for dst via dev
// on NewXenHost: src 192.0.2.1 (2001:db8::1 for an IPv6 dst), the given
// metric, proto proxyarp.
func GuestRoute(dst, dev string, metric int) routes.KernelRoute {
	p := netip.MustParsePrefix(dst)
	src := netip.MustParseAddr("192.0.2.1")
	if p.Addr().Is6() {
		src = netip.MustParseAddr("2001:db8::1")
	}
	return routes.KernelRoute{Dst: p, Dev: dev, Src: src, Metric: metric, Protocol: routes.ProtoProxyarp}
}
