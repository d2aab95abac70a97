package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkKernel is the Kernel of the running host (or of one network
// namespace), built on vishvananda/netlink. It is safe for concurrent use.
type NetlinkKernel struct {
	ns *netns.NsHandle
	h  *netlink.Handle
}

var _ Kernel = (*NetlinkKernel)(nil)

// NewNetlinkKernel returns a Kernel for the current network namespace, or
// for ns when it is not nil (the handle must stay open while the Kernel is
// used; no thread of the caller is switched). Close it when done.
func NewNetlinkKernel(ns *netns.NsHandle) (*NetlinkKernel, error) {
	k := &NetlinkKernel{ns: ns}
	if ns != nil {
		h, err := netlink.NewHandleAt(*ns, unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("open netlink handle in namespace %s: %w", ns, err)
		}
		k.h = h
	} else {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("open netlink handle: %w", err)
		}
		k.h = h
	}
	return k, nil
}

// Close releases the netlink socket.
func (k *NetlinkKernel) Close() error {
	k.h.Close()
	return nil
}

// LinkByName implements Kernel.
func (k *NetlinkKernel) LinkByName(name string) (Link, error) {
	l, err := k.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return Link{}, fmt.Errorf("device %s: %w", name, ErrNoDevice)
		}
		return Link{}, fmt.Errorf("look up device %s: %w", name, err)
	}
	return convertLink(l), nil
}

func (k *NetlinkKernel) nlLink(l Link) (netlink.Link, error) {
	nl, err := k.h.LinkByIndex(l.Index)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("device %s: %w", l.Name, ErrNoDevice)
		}
		return nil, fmt.Errorf("look up device %s: %w", l.Name, err)
	}
	return nl, nil
}

// Addrs implements Kernel.
func (k *NetlinkKernel) Addrs(l Link) ([]netip.Prefix, error) {
	nl, err := k.nlLink(l)
	if err != nil {
		return nil, err
	}
	var as []netlink.Addr
	for range maxDumpAttempts {
		as, err = k.h.AddrList(nl, netlink.FAMILY_V4)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", l.Name, err)
	}
	var out []netip.Prefix
	for _, a := range as {
		if a.IPNet == nil || a.Flags&unix.IFA_F_SECONDARY != 0 {
			continue
		}
		if p, ok := convertPrefix(*a.IPNet); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// AddAddr implements Kernel with RTM_NEWADDR and NLM_F_REPLACE.
func (k *NetlinkKernel) AddAddr(l Link, p netip.Prefix) error {
	nl, err := k.nlLink(l)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipNet(p)}
	if err := k.h.AddrReplace(nl, a); err != nil {
		return err
	}
	return nil
}

// SetUp implements Kernel.
func (k *NetlinkKernel) SetUp(l Link, up bool) error {
	nl, err := k.nlLink(l)
	if err != nil {
		return err
	}
	if up {
		return k.h.LinkSetUp(nl)
	}
	return k.h.LinkSetDown(nl)
}

// Rename implements Kernel.
func (k *NetlinkKernel) Rename(l Link, name string) error {
	nl, err := k.nlLink(l)
	if err != nil {
		return err
	}
	return k.h.LinkSetName(nl, name)
}

// WriteSysctl implements Kernel. In another namespace it writes from a
// throw-away OS thread that enters the namespace (/proc/sys/net follows
// the writing thread's namespace) and is never returned to the Go runtime.
func (k *NetlinkKernel) WriteSysctl(key, value string) error {
	if strings.Contains(key, "..") {
		return fmt.Errorf("sysctl %q: bad key", key)
	}
	path := filepath.Join("/proc/sys", key)
	if k.ns == nil {
		return os.WriteFile(path, []byte(value), 0)
	}
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread ends with the goroutine, so its
		// namespace never leaks to other goroutines.
		runtime.LockOSThread()
		if err := netns.Set(*k.ns); err != nil {
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		errc <- os.WriteFile(path, []byte(value), 0)
	}()
	return <-errc
}

// RoutesTo implements Kernel.
func (k *NetlinkKernel) RoutesTo(dst netip.Prefix) ([]KernelRoute, error) {
	return k.list(&netlink.Route{Table: unix.RT_TABLE_MAIN, Dst: ipNet(dst)},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
}

// RoutesByProto implements Kernel.
func (k *NetlinkKernel) RoutesByProto(proto int) ([]KernelRoute, error) {
	return k.list(&netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: netlink.RouteProtocol(proto)},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
}

func (k *NetlinkKernel) list(filter *netlink.Route, mask uint64) ([]KernelRoute, error) {
	var (
		rs  []netlink.Route
		err error
	)
	for range maxDumpAttempts {
		rs, err = k.h.RouteListFiltered(netlink.FAMILY_V4, filter, mask)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	var out []KernelRoute
	for _, r := range rs {
		kr := KernelRoute{
			Metric: r.Priority, Protocol: int(r.Protocol), Type: r.Type,
			Src: convertIP(r.Src),
		}
		if r.Dst == nil {
			kr.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		} else if p, ok := convertPrefix(*r.Dst); ok {
			kr.Dst = p
		} else {
			continue
		}
		if len(r.MultiPath) == 0 && r.LinkIndex != 0 {
			kr.LinkIndex = r.LinkIndex
			name, ok := names[r.LinkIndex]
			if !ok {
				if l, err := k.h.LinkByIndex(r.LinkIndex); err == nil {
					name = l.Attrs().Name
				} else {
					name = fmt.Sprintf("#%d", r.LinkIndex)
				}
				names[r.LinkIndex] = name
			}
			kr.Dev = name
		}
		out = append(out, kr)
	}
	return out, nil
}

// ReplaceRoute implements Kernel with RTM_NEWROUTE and NLM_F_REPLACE, as
// `ip route replace ... scope link`.
func (k *NetlinkKernel) ReplaceRoute(r KernelRoute) error {
	nr := &netlink.Route{
		Dst:       ipNet(r.Dst),
		LinkIndex: r.LinkIndex,
		Priority:  r.Metric,
		Protocol:  netlink.RouteProtocol(r.Protocol),
		Table:     unix.RT_TABLE_MAIN,
		Type:      unix.RTN_UNICAST,
		Scope:     netlink.SCOPE_LINK,
	}
	if r.Src.IsValid() {
		nr.Src = net.IP(r.Src.AsSlice())
	}
	return k.h.RouteReplace(nr)
}

// DeleteRoute implements Kernel: the kernel matches destination, device,
// metric and protocol (any scope).
func (k *NetlinkKernel) DeleteRoute(r KernelRoute) error {
	nr := &netlink.Route{
		Dst:       ipNet(r.Dst),
		LinkIndex: r.LinkIndex,
		Priority:  r.Metric,
		Protocol:  netlink.RouteProtocol(r.Protocol),
		Table:     unix.RT_TABLE_MAIN,
		Scope:     netlink.SCOPE_NOWHERE,
	}
	return k.h.RouteDel(nr)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}
