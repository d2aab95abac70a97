package routes

import (
	"log/slog"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Interface indexes of the test host.
const (
	idxEth0 = 1 // uplink
	idxVif1 = 2
	idxVif2 = 3
	idxEth1 = 4 // a second, non-guest interface
	idxTap3 = 5
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addrs(ss ...string) []netip.Addr {
	out := []netip.Addr{}
	for _, s := range ss {
		out = append(out, mustAddr(s))
	}
	return out
}

// upLink is a link that is up with carrier.
func upLink(idx int, name string) Link {
	return Link{Index: idx, Name: name, Up: true, Carrier: true}
}

// testLinks are the links of the test host, all up with carrier.
func testLinks() []Link {
	return []Link{
		upLink(idxEth0, "eth0"),
		upLink(idxVif1, "vif1.0"),
		upLink(idxVif2, "vif2.0"),
		upLink(idxEth1, "eth1"),
		upLink(idxTap3, "tap3.0"),
	}
}

func linkMap(ls ...Link) map[int]Link {
	m := make(map[int]Link)
	for _, l := range ls {
		m[l.Index] = l
	}
	return m
}

func dev(idx int) Nexthop { return Nexthop{LinkIndex: idx} }

// host returns a unicast host route in the main table: /32 for an IPv4
// address, /128 for an IPv6 one.
func host(dst string, metric int, hops ...Nexthop) Route {
	return Route{
		Dst:      netip.PrefixFrom(mustAddr(dst), hostBits(mustAddr(dst))),
		Table:    unix.RT_TABLE_MAIN,
		Type:     unix.RTN_UNICAST,
		Priority: metric,
		Nexthops: hops,
	}
}

func withType(r Route, typ int) Route {
	r.Type = typ
	r.Nexthops = nil
	return r
}

func withProto(r Route, proto int) Route {
	r.Protocol = proto
	return r
}

func withTable(r Route, table int) Route {
	r.Table = table
	return r
}

func withDst(r Route, dst string) Route {
	r.Dst = mustPrefix(dst)
	return r
}

func addRoute(r Route) Event  { return Event{Kind: RouteAdd, Route: r} }
func replRoute(r Route) Event { return Event{Kind: RouteReplace, Route: r} }
func delRoute(r Route) Event  { return Event{Kind: RouteDel, Route: r} }
func linkUp(idx int, name string) Event {
	return Event{Kind: LinkUpdate, Link: upLink(idx, name)}
}
func linkNoCarrier(idx int, name string) Event {
	return Event{Kind: LinkUpdate, Link: Link{Index: idx, Name: name, Up: true}}
}
func linkDown(idx int, name string) Event {
	return Event{Kind: LinkUpdate, Link: Link{Index: idx, Name: name}}
}
func linkDel(idx int) Event { return Event{Kind: LinkDel, Link: Link{Index: idx}} }
func addrAdd(idx int, p string) Event {
	return Event{Kind: AddrAdd, Addr: Addr{LinkIndex: idx, Prefix: mustPrefix(p)}}
}
func addrDel(idx int, p string) Event {
	return Event{Kind: AddrDel, Addr: Addr{LinkIndex: idx, Prefix: mustPrefix(p)}}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, mustPrefix(s))
	}
	return out
}
