package routes

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkConfig configures NewNetlinkSource. A nil *NetlinkConfig means
// defaults.
type NetlinkConfig struct {
	// Namespace, when set, is the network namespace to watch instead of
	// the caller's. The handle must stay open while the source is used.
	// No thread of the caller is switched for good: vishvananda/netlink
	// enters the namespace on a locked thread only to open its sockets.
	Namespace *netns.NsHandle
	// ReceiveBufferSize is the receive buffer of each event socket;
	// zero means 4 MiB. It is set with SO_RCVBUFFORCE when permitted
	// (CAP_NET_ADMIN), else with SO_RCVBUF (capped by rmem_max).
	ReceiveBufferSize int
}

const defaultReceiveBufferSize = 4 << 20

// NetlinkSource is the Source of the running kernel, built on
// vishvananda/netlink. It is safe for concurrent use.
type NetlinkSource struct {
	ns     *netns.NsHandle
	rcvbuf int
	h      *netlink.Handle
}

var _ Source = (*NetlinkSource)(nil)

// NewNetlinkSource returns a Source for the current network namespace, or
// for cfg.Namespace. Close it when done.
func NewNetlinkSource(cfg *NetlinkConfig) (*NetlinkSource, error) {
	if cfg == nil {
		cfg = &NetlinkConfig{}
	}
	s := &NetlinkSource{ns: cfg.Namespace, rcvbuf: cfg.ReceiveBufferSize}
	if s.rcvbuf == 0 {
		s.rcvbuf = defaultReceiveBufferSize
	}
	if s.ns != nil {
		h, err := netlink.NewHandleAt(*s.ns, unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("open netlink handle in namespace %s: %w", s.ns, err)
		}
		s.h = h
	} else {
		// The zero Handle works in the current namespace and opens a
		// socket per request.
		s.h = &netlink.Handle{}
	}
	return s, nil
}

// Close releases the dump handle. Subscriptions are closed separately.
func (s *NetlinkSource) Close() error {
	s.h.Close()
	return nil
}

// Dump implements Source: links, IPv4 and IPv6 addresses, IPv4 and IPv6
// main-table routes.
// An inconsistent dump returns an error wrapping ErrDumpInterrupted.
func (s *NetlinkSource) Dump(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	err := s.dumpStream(ctx, dumpSink{
		link:  func(l Link) { snap.Links = append(snap.Links, l) },
		addr:  func(a Addr) { snap.Addrs = append(snap.Addrs, a) },
		route: func(r Route) { snap.Routes = append(snap.Routes, cloneRoute(r)) },
	})
	if err != nil {
		return Snapshot{}, err
	}
	return snap, nil
}

// dumpSink receives a dump as it is read: every link first, then every
// address, then every route. A route's Nexthops are only valid during the
// call: the sink copies what it keeps. The Watcher fills its mirror from it without
// holding the whole dump (see streamSource).
type dumpSink struct {
	link  func(Link)
	addr  func(Addr)
	route func(Route)
}

// streamSource is a Source that can hand its dump over piece by piece.
type streamSource interface {
	dumpStream(ctx context.Context, sink dumpSink) error
}

var _ streamSource = (*NetlinkSource)(nil)

// dumpStream is Dump without the Snapshot. Routes are read with
// RouteListFilteredIter and converted one at a time: the library's Route is
// 376 bytes plus its own allocations, and a []netlink.Route of 100k routes
// alone took ~50 MB (twice that while append grew it).
func (s *NetlinkSource) dumpStream(ctx context.Context, sink dumpSink) error {
	links, err := s.h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		sink.link(convertLink(l))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Every address counts, whatever its flags: an IPv6 address that is
	// tentative (DAD under way) or dadfailed is still configured here.
	addrs, err := s.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list IPv4 and IPv6 addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		if p, ok := convertPrefixAny(*a.IPNet); ok {
			sink.addr(Addr{LinkIndex: a.LinkIndex, Prefix: p})
		}
	}
	var hops []Nexthop // reused from route to route
	for _, fam := range []struct {
		family int
		name   string
	}{{netlink.FAMILY_V4, "IPv4"}, {netlink.FAMILY_V6, "IPv6"}} {
		if err := ctx.Err(); err != nil {
			return err
		}
		err = s.h.RouteListFilteredIter(fam.family,
			&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE,
			func(r netlink.Route) bool {
				rt, ok := convertRouteInto(r, hops[:0])
				if ok {
					if cap(rt.Nexthops) > cap(hops) {
						hops = rt.Nexthops
					}
					sink.route(rt)
				}
				return true
			})
		if err != nil {
			return fmt.Errorf("list %s routes of the main table: %w", fam.name, err)
		}
	}
	return nil
}

// Subscribe implements Source with three netlink subscriptions (routes,
// links, addresses), merged into one channel. If any of them ends, the
// whole subscription is lost.
//
// Events of different kinds come from different sockets: their relative
// order is not guaranteed by the kernel, only the order within each kind.
func (s *NetlinkSource) Subscribe(ctx context.Context) (Subscription, error) {
	// SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it take what
	// rmem_max allows. Ask first: vishvananda/netlink v1.3.1 leaks the
	// socket when setting the buffer fails.
	sub, err := s.subscribe(ctx, hasNetAdmin())
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// hasNetAdmin reports whether CAP_NET_ADMIN is in the effective set.
func hasNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	const bit = unix.CAP_NET_ADMIN
	return data[bit/32].Effective&(1<<(bit%32)) != 0
}

func (s *NetlinkSource) subscribe(ctx context.Context, force bool) (*netlinkSub, error) {
	sub := &netlinkSub{
		events: make(chan Event, 1024),
		done:   make(chan struct{}),
	}
	rc := make(chan netlink.RouteUpdate, 1024)
	lc := make(chan netlink.LinkUpdate, 256)
	ac := make(chan netlink.AddrUpdate, 256)
	var started []func()
	fail := func(what string, err error) (*netlinkSub, error) {
		close(sub.done)
		for _, drain := range started {
			go drain()
		}
		return nil, fmt.Errorf("subscribe to %s events: %w", what, err)
	}

	err := netlink.RouteSubscribeWithOptions(rc, sub.done, netlink.RouteSubscribeOptions{
		Namespace:              s.ns,
		ErrorCallback:          sub.callback,
		ReceiveBufferSize:      s.rcvbuf,
		ReceiveBufferForceSize: force,
	})
	if err != nil {
		return fail("route", err)
	}
	started = append(started, func() { drain(rc) })
	err = netlink.LinkSubscribeWithOptions(lc, sub.done, netlink.LinkSubscribeOptions{
		Namespace:              s.ns,
		ErrorCallback:          sub.callback,
		ReceiveBufferSize:      s.rcvbuf,
		ReceiveBufferForceSize: force,
	})
	if err != nil {
		return fail("link", err)
	}
	started = append(started, func() { drain(lc) })
	err = netlink.AddrSubscribeWithOptions(ac, sub.done, netlink.AddrSubscribeOptions{
		Namespace:              s.ns,
		ErrorCallback:          sub.callback,
		ReceiveBufferSize:      s.rcvbuf,
		ReceiveBufferForceSize: force,
	})
	if err != nil {
		return fail("address", err)
	}
	go sub.run(ctx, rc, lc, ac)
	return sub, nil
}

func drain[T any](c <-chan T) {
	for range c {
	}
}

// netlinkSub merges the three vishvananda subscriptions.
type netlinkSub struct {
	events    chan Event
	done      chan struct{} // closing it closes the netlink sockets
	closeOnce sync.Once

	mu      sync.Mutex
	lastErr error // last error reported by an ErrorCallback
	err     error // why events was closed
	closed  bool  // Close was called
}

var _ Subscription = (*netlinkSub)(nil)

func (s *netlinkSub) Events() <-chan Event { return s.events }

func (s *netlinkSub) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *netlinkSub) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeOnce.Do(func() { close(s.done) })
	return nil
}

func (s *netlinkSub) callback(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// lost records why the subscription ended, unless it was closed on
// purpose.
func (s *netlinkSub) lost(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil {
		return
	}
	if s.lastErr != nil {
		s.err = fmt.Errorf("%s events: %w", what, s.lastErr)
	} else {
		s.err = fmt.Errorf("%s event subscription closed", what)
	}
}

func (s *netlinkSub) run(ctx context.Context, rc <-chan netlink.RouteUpdate, lc <-chan netlink.LinkUpdate, ac <-chan netlink.AddrUpdate) {
	defer func() {
		// Closing done closes the sockets; the library's goroutines
		// then close their channels, which are drained so that none
		// stays blocked on a send.
		s.closeOnce.Do(func() { close(s.done) })
		for rc != nil || lc != nil || ac != nil {
			select {
			case _, ok := <-rc:
				if !ok {
					rc = nil
				}
			case _, ok := <-lc:
				if !ok {
					lc = nil
				}
			case _, ok := <-ac:
				if !ok {
					ac = nil
				}
			}
		}
		close(s.events)
	}()
	for {
		var ev Event
		var keep bool
		select {
		case u, ok := <-rc:
			if !ok {
				rc = nil
				s.lost("route")
				return
			}
			ev, keep = routeEvent(u)
		case u, ok := <-lc:
			if !ok {
				lc = nil
				s.lost("link")
				return
			}
			ev, keep = linkEvent(u)
		case u, ok := <-ac:
			if !ok {
				ac = nil
				s.lost("address")
				return
			}
			ev, keep = addrEvent(u)
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
		if !keep {
			continue
		}
		select {
		case s.events <- ev:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

func routeEvent(u netlink.RouteUpdate) (Event, bool) {
	r, ok := convertRoute(u.Route)
	if !ok {
		return Event{}, false
	}
	switch {
	case u.Type == unix.RTM_DELROUTE:
		return Event{Kind: RouteDel, Route: r}, true
	case u.Type == unix.RTM_NEWROUTE && u.NlFlags&unix.NLM_F_REPLACE != 0:
		return Event{Kind: RouteReplace, Route: r}, true
	case u.Type == unix.RTM_NEWROUTE:
		return Event{Kind: RouteAdd, Route: r}, true
	}
	return Event{}, false
}

func linkEvent(u netlink.LinkUpdate) (Event, bool) {
	if u.Link == nil || u.Link.Attrs() == nil {
		return Event{}, false
	}
	l := convertLink(u.Link)
	if u.Header.Type == unix.RTM_DELLINK {
		return Event{Kind: LinkDel, Link: l}, true
	}
	return Event{Kind: LinkUpdate, Link: l}, true
}

func addrEvent(u netlink.AddrUpdate) (Event, bool) {
	p, ok := convertPrefixAny(u.LinkAddress)
	if !ok {
		return Event{}, false
	}
	a := Addr{LinkIndex: u.LinkIndex, Prefix: p}
	if u.NewAddr {
		return Event{Kind: AddrAdd, Addr: a}, true
	}
	return Event{Kind: AddrDel, Addr: a}, true
}

func convertLink(l netlink.Link) Link {
	a := l.Attrs()
	return Link{
		Index:   a.Index,
		Name:    a.Name,
		Up:      a.Flags&net.FlagUp != 0,
		Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0,
	}
}

// convertPrefix converts an IPv4 net.IPNet; it reports false for anything
// else.
func convertPrefix(n net.IPNet) (netip.Prefix, bool) {
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip, ones), true
}

// convertPrefixAny converts an IPv4 or IPv6 net.IPNet. An IPv4 prefix
// (32-bit mask) is unmapped from the 16-byte form netlink may hand out; an
// IPv6 prefix (128-bit mask) stays IPv6, IPv4-mapped or not, so that it is
// never taken for an IPv4 one.
func convertPrefixAny(n net.IPNet) (netip.Prefix, bool) {
	ones, bits := n.Mask.Size()
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	switch {
	case bits == 32:
		if ip = ip.Unmap(); !ip.Is4() {
			return netip.Prefix{}, false
		}
	case bits == 128 && ip.BitLen() == 128:
	default:
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip, ones), true
}

// convertIP converts a gateway; nil gives the zero Addr.
func convertIP(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// convertGw converts the gateway of a nexthop: gw (RTA_GATEWAY, of the
// route's family: IPv4 unmapped when v6 is false, IPv6 kept as is when it
// is true) or else via (RTA_VIA: an IPv4 route via an IPv6 next hop, such
// as `ip route add default via inet6 fe80::1`). Neither gives the zero
// Addr.
func convertGw(gw net.IP, via netlink.Destination, v6 bool) netip.Addr {
	if gw == nil {
		if v, ok := via.(*netlink.Via); ok && v != nil {
			a, ok := netip.AddrFromSlice(v.Addr)
			if !ok {
				return netip.Addr{}
			}
			if v.AddrFamily == netlink.FAMILY_V4 {
				a = a.Unmap()
			}
			return a
		}
		return netip.Addr{}
	}
	a, ok := netip.AddrFromSlice(gw)
	if !ok {
		return netip.Addr{}
	}
	if !v6 {
		a = a.Unmap()
	}
	return a
}

// convertRoute converts an IPv4 or IPv6 route; it reports false for other
// families and for cloned routes (IPv6 exceptions: PMTU, redirects), which
// are a cache, not the routing table.
func convertRoute(r netlink.Route) (Route, bool) {
	return convertRouteInto(r, nil)
}

// convertRouteInto is convertRoute with the nexthops appended to hops.
func convertRouteInto(r netlink.Route, hops []Nexthop) (Route, bool) {
	if r.Flags&unix.RTM_F_CLONED != 0 {
		return Route{}, false
	}
	var v6 bool
	switch r.Family {
	case netlink.FAMILY_V4:
	case netlink.FAMILY_V6:
		v6 = true
	case 0:
		// Family unknown: the destination's mask says.
		v6 = r.Dst != nil && len(r.Dst.Mask) == net.IPv6len
	default:
		return Route{}, false
	}
	rt := Route{Table: r.Table, Type: r.Type, Priority: r.Priority, Tos: r.Tos, Protocol: int(r.Protocol)}
	if r.Dst == nil {
		if v6 {
			rt.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		} else {
			rt.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
	} else {
		p, ok := convertPrefixAny(*r.Dst)
		if !ok || p.Addr().Is6() != v6 {
			return Route{}, false
		}
		rt.Dst = p
	}
	if len(r.MultiPath) > 0 {
		rt.Nexthops = hops
		for _, nh := range r.MultiPath {
			rt.Nexthops = append(rt.Nexthops, Nexthop{
				LinkIndex: nh.LinkIndex,
				Gw:        convertGw(nh.Gw, nh.Via, v6),
				LinkDown:  nh.Flags&unix.RTNH_F_LINKDOWN != 0,
				Dead:      nh.Flags&unix.RTNH_F_DEAD != 0,
			})
		}
	} else if r.LinkIndex != 0 || r.Gw != nil || r.Via != nil {
		rt.Nexthops = append(hops, Nexthop{
			LinkIndex: r.LinkIndex,
			Gw:        convertGw(r.Gw, r.Via, v6),
			LinkDown:  r.Flags&unix.RTNH_F_LINKDOWN != 0,
			Dead:      r.Flags&unix.RTNH_F_DEAD != 0,
		})
	}
	return rt, true
}
