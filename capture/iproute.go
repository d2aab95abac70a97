package capture

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
)

// RouteTable is a routing table as `ip -4 route show` printed it: the routes
// and the links they name, every link taken as up with carrier (unless a
// route says linkdown or dead).
type RouteTable struct {
	// Routes are the parsed routes, in the order of the text.
	Routes []routes.Route
	// Links maps the made-up ifindex of each device named to its link.
	Links map[int]routes.Link
}

// Owned applies the answer rule (routes.Rule.Explain, so that replay and
// the daemon cannot disagree) to every /32 destination of the main table
// and returns the owned addresses, in ascending order, and the verdicts of
// all /32 destinations. local holds the host's addresses.
func (t RouteTable) Owned(rule routes.Rule, local []netip.Addr) ([]netip.Addr, map[netip.Addr]routes.Verdict) {
	isLocal := map[netip.Addr]bool{}
	for _, a := range local {
		isLocal[a] = true
	}
	byDst := map[netip.Addr][]routes.Route{}
	for _, rt := range t.Routes {
		if rt.Dst.Bits() == rt.Dst.Addr().BitLen() { // host routes: /32, /128
			byDst[rt.Dst.Addr()] = append(byDst[rt.Dst.Addr()], rt)
		}
	}
	verdicts := make(map[netip.Addr]routes.Verdict, len(byDst))
	owned := map[netip.Addr]struct{}{}
	for a, rts := range byDst {
		v := rule.Explain(a, rts, t.Links, isLocal[a])
		verdicts[a] = v
		if v.Owned() {
			owned[a] = struct{}{}
		}
	}
	return sortedKeys(owned), verdicts
}

// Gateways returns the gateways of the main table's routes via uplink, in
// ascending order: the addresses Decide never answers for (uplink-gateway).
// An empty uplink names none.
func (t RouteTable) Gateways(uplink string) []netip.Addr {
	if uplink == "" {
		return nil
	}
	gws := map[netip.Addr]struct{}{}
	for _, rt := range t.Routes {
		if rt.Table != unix.RT_TABLE_MAIN {
			continue
		}
		for _, nh := range rt.Nexthops {
			if l, ok := t.Links[nh.LinkIndex]; ok && l.Name == uplink && nh.Gw.IsValid() {
				gws[nh.Gw] = struct{}{}
			}
		}
	}
	return sortedKeys(gws)
}

// newRouteTable returns an empty table and the function that gives each
// device named in the routes a made-up ifindex and a link that is up with
// carrier.
func newRouteTable() (RouteTable, func(dev string) int) {
	t := RouteTable{Links: map[int]routes.Link{}}
	index := map[string]int{}
	return t, func(dev string) int {
		if i, ok := index[dev]; ok {
			return i
		}
		i := len(index) + 1
		index[dev] = i
		t.Links[i] = routes.Link{Index: i, Name: dev, Up: true, Carrier: true}
		return i
	}
}

// parseTable returns the number of a routing table as ip(8) names it: main,
// local, default or a number; any other name (from rt_tables) is taken as
// some table other than main.
func parseTable(v string) int {
	switch v {
	case "", "main":
		return unix.RT_TABLE_MAIN
	case "local":
		return unix.RT_TABLE_LOCAL
	case "default":
		return unix.RT_TABLE_DEFAULT
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0
	}
	return int(n)
}

// routeTypes are the route types `ip route` prints before the destination.
var routeTypes = map[string]int{
	"unicast":     unix.RTN_UNICAST,
	"local":       unix.RTN_LOCAL,
	"broadcast":   unix.RTN_BROADCAST,
	"anycast":     unix.RTN_ANYCAST,
	"multicast":   unix.RTN_MULTICAST,
	"blackhole":   unix.RTN_BLACKHOLE,
	"unreachable": unix.RTN_UNREACHABLE,
	"prohibit":    unix.RTN_PROHIBIT,
	"throw":       unix.RTN_THROW,
	"nat":         unix.RTN_NAT,
}

// routeProtos are iproute2's names of route protocols (rt_protos), plus
// proxyarp's own.
var routeProtos = map[string]int{
	"redirect": unix.RTPROT_REDIRECT,
	"kernel":   unix.RTPROT_KERNEL,
	"boot":     unix.RTPROT_BOOT,
	"static":   unix.RTPROT_STATIC,
	"ra":       unix.RTPROT_RA,
	"dhcp":     unix.RTPROT_DHCP,
	"bird":     unix.RTPROT_BIRD,
	"zebra":    unix.RTPROT_ZEBRA,
	"bgp":      unix.RTPROT_BGP,
	"ospf":     unix.RTPROT_OSPF,
	"isis":     unix.RTPROT_ISIS,
	"babel":    unix.RTPROT_BABEL,
	"proxyarp": routes.ProtoProxyarp,
}

// Keywords `ip route` prints with one argument that the rule ignores.
var ignoredArgs = map[string]bool{
	"scope": true, "src": true, "realm": true, "realms": true, "pref": true,
	"expires": true, "tos": true, "dsfield": true, "weight": true, "nhid": true,
	"error": true, "from": true, "iif": true, "uid": true, "mark": true,
	"ttl-propagate": true, "users": true, "age": true, "used": true,
	// Route metrics, which may be preceded by "lock".
	"mtu": true, "advmss": true, "rtt": true, "rttvar": true, "reordering": true,
	"window": true, "cwnd": true, "initcwnd": true, "initrwnd": true,
	"ssthresh": true, "rto_min": true, "hoplimit": true, "features": true,
	"quickack": true, "congctl": true, "fastopen_no_cookie": true,
}

// Flags `ip route` prints without an argument that the rule ignores.
var ignoredFlags = map[string]bool{
	"onlink": true, "pervasive": true, "offload": true, "trap": true,
	"notify": true, "rt_offload": true, "rt_trap": true, "rt_offload_failed": true,
	"cache": true, "unresolved": true,
}

// ParseRoutes parses the output of `ip -4 route show` (any table; `table
// all` too): lines such as
//
//	default via 198.51.100.1 dev eth0 proto static metric 100
//	192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1
//	192.0.2.2 dev vif1.0 scope link src 192.0.2.1
//	192.0.2.5 via 198.51.100.1 dev eth1 metric 10
//	blackhole 192.0.2.80
//	192.0.2.9 proto static metric 10
//		nexthop dev vif2.0 weight 1
//		nexthop dev vif3.0 weight 1 linkdown
//
// Blank lines and lines starting with # are skipped. Every device named
// becomes a link that is up with carrier; linkdown and dead flags are kept
// on the nexthop. name is used in errors, which give the line number.
func ParseRoutes(r io.Reader, name string) (RouteTable, error) {
	t, devIndex := newRouteTable()
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		fields := strings.Fields(text)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		fail := func(format string, args ...any) (RouteTable, error) {
			return RouteTable{}, fmt.Errorf("%s: line %d: %s: %q", name, line, fmt.Sprintf(format, args...), strings.TrimSpace(text))
		}
		if fields[0] == "nexthop" {
			if len(t.Routes) == 0 || text[0] != ' ' && text[0] != '\t' {
				return fail("nexthop line without a route before it")
			}
			rt := &t.Routes[len(t.Routes)-1]
			var nh routes.Nexthop
			hasDev := false
			if err := parseWords(fields[1:], rt, &nh, &hasDev, devIndex, true); err != nil {
				return fail("%v", err)
			}
			if !hasDev {
				return fail("nexthop without dev")
			}
			rt.Nexthops = append(rt.Nexthops, nh)
			continue
		}
		rt := routes.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST}
		ws := fields
		if typ, ok := routeTypes[ws[0]]; ok {
			rt.Type = typ
			ws = ws[1:]
			if len(ws) == 0 {
				return fail("no destination")
			}
		}
		dst, err := parseDst(ws[0])
		if err != nil {
			return fail("%v", err)
		}
		rt.Dst = dst
		var nh routes.Nexthop
		hasDev := false
		if err := parseWords(ws[1:], &rt, &nh, &hasDev, devIndex, false); err != nil {
			return fail("%v", err)
		}
		if hasDev {
			rt.Nexthops = []routes.Nexthop{nh}
		}
		t.Routes = append(t.Routes, rt)
	}
	if err := sc.Err(); err != nil {
		return RouteTable{}, fmt.Errorf("%s: line %d: %w", name, line+1, err)
	}
	return t, nil
}

// parseDst parses a destination: "default", an address (a /32 or /128) or
// a prefix, IPv4 or IPv6. "default" is read as 0.0.0.0/0, in `ip -6 route`
// output too: a default route never decides an answer.
func parseDst(s string) (netip.Prefix, error) {
	if s == "default" {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	}
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad destination %q", s)
	}
	if p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("destination %q is neither IPv4 nor plain IPv6", s)
	}
	return p.Masked(), nil
}

// parseWords parses the keywords after a destination (or after nexthop) into
// rt and nh. In a nexthop line only nexthop keywords are allowed.
func parseWords(ws []string, rt *routes.Route, nh *routes.Nexthop, hasDev *bool, devIndex func(string) int, inNexthop bool) error {
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		arg := func() (string, error) {
			if i+1 >= len(ws) {
				return "", fmt.Errorf("%s without a value", w)
			}
			i++
			return ws[i], nil
		}
		switch {
		case w == "dev":
			v, err := arg()
			if err != nil {
				return err
			}
			nh.LinkIndex = devIndex(v)
			*hasDev = true
		case w == "via":
			v, err := arg()
			if err != nil {
				return err
			}
			if v == "inet" || v == "inet6" {
				if v, err = arg(); err != nil {
					return err
				}
			}
			gw, perr := netip.ParseAddr(v)
			if perr != nil {
				return fmt.Errorf("bad gateway %q", v)
			}
			nh.Gw = gw
		case w == "linkdown":
			nh.LinkDown = true
		case w == "dead":
			nh.Dead = true
		case w == "metric" && !inNexthop:
			v, err := arg()
			if err != nil {
				return err
			}
			m, perr := strconv.ParseUint(v, 10, 32)
			if perr != nil {
				return fmt.Errorf("bad metric %q", v)
			}
			rt.Priority = int(m)
		case w == "table" && !inNexthop:
			v, err := arg()
			if err != nil {
				return err
			}
			rt.Table = parseTable(v)
		case w == "proto" && !inNexthop:
			v, err := arg()
			if err != nil {
				return err
			}
			if p, ok := routeProtos[v]; ok {
				rt.Protocol = p
			} else if n, perr := strconv.ParseUint(v, 10, 8); perr == nil {
				rt.Protocol = int(n)
			} else {
				rt.Protocol = -1 // a name from rt_protos.d: not proxyarp's
			}
		case ignoredArgs[w]:
			if _, err := arg(); err != nil {
				return err
			}
			if ws[i] == "lock" {
				if _, err := arg(); err != nil {
					return err
				}
			}
		case ignoredFlags[w]:
		default:
			return fmt.Errorf("unknown keyword %q", w)
		}
	}
	return nil
}

// SnapshotTable turns a dump of the running kernel (routes.Source.Dump)
// into the table and host addresses replay decides with: the same input
// ParseRoutes and --local give, for the same rule (RouteTable.Owned).
func SnapshotTable(snap routes.Snapshot) (RouteTable, []netip.Addr) {
	t := RouteTable{Routes: snap.Routes, Links: make(map[int]routes.Link, len(snap.Links))}
	for _, l := range snap.Links {
		t.Links[l.Index] = l
	}
	seen := map[netip.Addr]struct{}{}
	for _, a := range snap.Addrs {
		seen[a.Prefix.Addr()] = struct{}{}
	}
	return t, sortedKeys(seen)
}
