package routes

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link is the part of a network interface the answer rule looks at.
type Link struct {
	Index int
	Name  string
	// Up is the administrative state (IFF_UP).
	Up bool
	// Carrier is IFF_LOWER_UP: the link has carrier (operationally up).
	Carrier bool
}

// Addr is an IPv4 or IPv6 address configured on a link of the host.
type Addr struct {
	LinkIndex int
	// Prefix is the address with its prefix length, e.g. 192.0.2.1/24 or
	// 2001:db8::1/64. An IPv4 address is in its 4-byte form (Is4).
	Prefix netip.Prefix
}

// Nexthop is one way out of a route.
type Nexthop struct {
	LinkIndex int
	// Gw is the gateway, the zero Addr when the route is direct. It is of
	// the route's family, except for an IPv4 route via an IPv6 next hop
	// (RTA_VIA); IPv6 gateways are often link-local, without zone.
	Gw netip.Addr
	// LinkDown is RTNH_F_LINKDOWN: the nexthop's link has no carrier.
	LinkDown bool
	// Dead is RTNH_F_DEAD: the nexthop's link is administratively down
	// (only seen on multipath routes; single-nexthop routes are removed).
	Dead bool
}

// Route is an IPv4 or IPv6 route as the kernel reports it. Dst says the
// family: an IPv4 prefix in its 4-byte form, or an IPv6 prefix.
type Route struct {
	Dst netip.Prefix
	// Table is the routing table id; only unix.RT_TABLE_MAIN matters.
	Table int
	// Type is the route type: unix.RTN_UNICAST, RTN_BLACKHOLE, ...
	Type int
	// Priority is the metric; lower wins. The kernel makes an IPv6 route's
	// metric 0 into 1024.
	Priority int
	// Tos is the IPv4 tos; always 0 for IPv6.
	Tos int
	// Protocol is the route's originator (RTPROT_*, the `proto` of ip
	// route): ProtoProxyarp for the routes proxyarp's Manager installs.
	Protocol int
	// Nexthops holds one entry for an ordinary route, several for a
	// multipath route, none for blackhole and similar types.
	Nexthops []Nexthop
}

// String formats r roughly as `ip route` does, for logs and test failures.
func (r Route) String() string {
	s := fmt.Sprintf("%s table %d type %d metric %d", r.Dst, r.Table, r.Type, r.Priority)
	if r.Tos != 0 {
		s += fmt.Sprintf(" tos %d", r.Tos)
	}
	if r.Protocol != 0 {
		s += fmt.Sprintf(" proto %d", r.Protocol)
	}
	for _, nh := range r.Nexthops {
		s += " nexthop"
		if nh.Gw.IsValid() {
			s += " via " + nh.Gw.String()
		}
		s += fmt.Sprintf(" dev #%d", nh.LinkIndex)
		if nh.LinkDown {
			s += " linkdown"
		}
		if nh.Dead {
			s += " dead"
		}
	}
	return s
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds. RouteReplace is an RTM_NEWROUTE with NLM_F_REPLACE.
const (
	RouteAdd EventKind = iota + 1
	RouteReplace
	RouteDel
	LinkUpdate
	LinkDel
	AddrAdd
	AddrDel
)

var eventKindNames = [...]string{
	RouteAdd:     "route-add",
	RouteReplace: "route-replace",
	RouteDel:     "route-del",
	LinkUpdate:   "link-update",
	LinkDel:      "link-del",
	AddrAdd:      "addr-add",
	AddrDel:      "addr-del",
}

// String returns a short name such as "route-add".
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change notification from the kernel. Only the field that
// matches Kind is meaningful: Route for Route*, Link for Link*, Addr for
// Addr*. For LinkDel only Link.Index is required.
type Event struct {
	Kind  EventKind
	Route Route
	Link  Link
	Addr  Addr
}

// Snapshot is the result of a full dump. Routes may contain routes of any
// table and prefix length; the Watcher keeps what it needs.
type Snapshot struct {
	Links  []Link
	Addrs  []Addr
	Routes []Route
}

// ErrDumpInterrupted is returned (wrapped) by Source.Dump when the kernel
// flagged the dump as inconsistent (NLM_F_DUMP_INTR): the table changed
// while it was being read. The Watcher retries the dump at once. It is the
// same value as netlink.ErrDumpInterrupted.
var ErrDumpInterrupted = netlink.ErrDumpInterrupted

// Source is the seam between the Watcher and the kernel.
//
// The Watcher subscribes first and dumps second, so that no change falls
// between the two; events that arrive during the dump are applied after it.
type Source interface {
	// Subscribe starts delivering route, link and address events.
	// The subscription ends when ctx is done or Close is called.
	Subscribe(ctx context.Context) (Subscription, error)
	// Dump reads the current links, IPv4 and IPv6 addresses and IPv4 and
	// IPv6 main-table routes. It may fail with an error wrapping
	// ErrDumpInterrupted.
	Dump(ctx context.Context) (Snapshot, error)
}

// Subscription is a live stream of kernel events.
type Subscription interface {
	// Events returns the event stream. The channel is closed when the
	// subscription is lost (e.g. the netlink socket overflowed with
	// ENOBUFS) or closed; after that, the state must be resynchronised
	// from a new subscription and a fresh dump.
	Events() <-chan Event
	// Err reports why Events was closed; nil before that, or after Close.
	Err() error
	// Close ends the subscription and releases its sockets. It is safe to
	// call more than once.
	Close() error
}

// ProtoProxyarp is the route protocol number (the `proto` of ip route)
// that marks the routes proxyarp's Manager installs. The Manager only ever
// replaces or removes routes carrying it, and Rule counts them as guest
// routes whatever their device is called. 213 is unassigned in iproute2's
// rt_protos and the kernel's RTPROT_* list; dist/iproute2/rt_protos.d/
// proxyarp.conf names it "proxyarp" for ip route.
const ProtoProxyarp = 213

const (
	tableMain   = unix.RT_TABLE_MAIN
	typeUnicast = unix.RTN_UNICAST
)
