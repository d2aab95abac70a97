package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
)

// ReadRoutes parses a routes file in either form `ip route` prints: JSON
// (`ip -j route`, `ip -4 -j route show table all`), recognised by its
// first non-space byte '[', or text (ParseRoutes). The two forms mean the
// same: ParseRoutesJSON documents the JSON one.
func ReadRoutes(r io.Reader, name string) (RouteTable, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return RouteTable{}, fmt.Errorf("%s: %w", name, err)
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return ParseRoutesJSON(bytes.NewReader(b), name)
	}
	return ParseRoutes(bytes.NewReader(b), name)
}

// jsonText is a JSON string or number, as text: iproute2 prints "table"
// and "protocol" as strings ("main", "213"), other tools as numbers.
type jsonText string

func (j *jsonText) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*j = jsonText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*j = jsonText(n)
	return nil
}

// jsonVia is the "via" object ip prints for a gateway of another family.
type jsonVia struct {
	Family string `json:"family"`
	Host   string `json:"host"`
}

// jsonNexthop is a nexthop of a route, or the route itself for the keys it
// shares with one.
type jsonNexthop struct {
	Gateway string   `json:"gateway"`
	Via     *jsonVia `json:"via"`
	Dev     string   `json:"dev"`
	Flags   []string `json:"flags"`
}

// jsonRoute is one element of `ip -j route` output. Keys the answer rule
// does not look at (scope, prefsrc, metrics, ...) are ignored.
type jsonRoute struct {
	jsonNexthop
	Type     string        `json:"type"`
	Dst      *string       `json:"dst"`
	Table    jsonText      `json:"table"`
	Protocol jsonText      `json:"protocol"`
	Metric   *uint32       `json:"metric"`
	Nexthops []jsonNexthop `json:"nexthops"`
}

// ParseRoutesJSON parses the JSON `ip -j route` and `ip -4 -j route show
// [table all]` print: an array of objects such as
//
//	{"dst":"192.0.2.2","dev":"vif1.0","scope":"link","flags":[]}
//	{"type":"blackhole","dst":"192.0.2.80","flags":[]}
//	{"dst":"192.0.2.9","protocol":"static","metric":10,"flags":[],
//	 "nexthops":[{"dev":"vif2.0","weight":1,"flags":[]},
//	             {"dev":"vif3.0","weight":1,"flags":["linkdown"]}]}
//
// with the meaning ParseRoutes gives the text: every device named becomes a
// link that is up with carrier, the "linkdown" and "dead" flags stay on
// their nexthop, "protocol" 213 or "proxyarp" marks proxyarp's routes,
// "table" absent or "main" is the main table. Keys the rule does not use
// are ignored. Errors name the file and the entry, counted from 1.
func ParseRoutesJSON(r io.Reader, name string) (RouteTable, error) {
	var entries []json.RawMessage
	dec := json.NewDecoder(r)
	if err := dec.Decode(&entries); err != nil {
		return RouteTable{}, fmt.Errorf("%s: not a JSON array of routes: %w", name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return RouteTable{}, fmt.Errorf("%s: text after the JSON array of routes", name)
	}
	t, devIndex := newRouteTable()
	for i, raw := range entries {
		rt, err := jsonRouteOf(raw, devIndex)
		if err != nil {
			return RouteTable{}, fmt.Errorf("%s: entry %d: %v: %s", name, i+1, err, compact(raw))
		}
		t.Routes = append(t.Routes, rt)
	}
	return t, nil
}

// compact shortens an entry for an error message.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		b.Reset()
		b.Write(raw)
	}
	s := b.String()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func jsonRouteOf(raw json.RawMessage, devIndex func(string) int) (routes.Route, error) {
	var jr jsonRoute
	if err := json.Unmarshal(raw, &jr); err != nil {
		return routes.Route{}, err
	}
	rt := routes.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST}
	if jr.Type != "" {
		typ, ok := routeTypes[jr.Type]
		if !ok {
			return routes.Route{}, fmt.Errorf("unknown route type %q", jr.Type)
		}
		rt.Type = typ
	}
	if jr.Dst == nil {
		return routes.Route{}, errors.New("no destination")
	}
	dst, err := parseDst(*jr.Dst)
	if err != nil {
		return routes.Route{}, err
	}
	rt.Dst = dst
	rt.Table = parseTable(string(jr.Table))
	if v := string(jr.Protocol); v != "" {
		if p, ok := routeProtos[v]; ok {
			rt.Protocol = p
		} else if n, perr := strconv.ParseUint(v, 10, 8); perr == nil {
			rt.Protocol = int(n)
		} else {
			rt.Protocol = -1 // a name from rt_protos.d: not proxyarp's
		}
	}
	if jr.Metric != nil {
		rt.Priority = int(*jr.Metric)
	}
	if jr.Dev != "" {
		nh, err := jsonNexthopOf(jr.jsonNexthop, devIndex)
		if err != nil {
			return routes.Route{}, err
		}
		rt.Nexthops = append(rt.Nexthops, nh)
	} else if jr.Gateway != "" || jr.Via != nil {
		// As in the text form, a gateway without a device is kept as
		// nothing: the rule then finds no link.
		if _, err := jsonGateway(jr.jsonNexthop); err != nil {
			return routes.Route{}, err
		}
	}
	for k, jn := range jr.Nexthops {
		if jn.Dev == "" {
			return routes.Route{}, fmt.Errorf("nexthop %d without dev", k+1)
		}
		nh, err := jsonNexthopOf(jn, devIndex)
		if err != nil {
			return routes.Route{}, fmt.Errorf("nexthop %d: %w", k+1, err)
		}
		rt.Nexthops = append(rt.Nexthops, nh)
	}
	return rt, nil
}

func jsonGateway(jn jsonNexthop) (netip.Addr, error) {
	s := jn.Gateway
	if jn.Via != nil {
		if s != "" {
			return netip.Addr{}, errors.New("both gateway and via")
		}
		s = jn.Via.Host
	}
	if s == "" {
		return netip.Addr{}, nil
	}
	gw, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("bad gateway %q", s)
	}
	return gw, nil
}

func jsonNexthopOf(jn jsonNexthop, devIndex func(string) int) (routes.Nexthop, error) {
	gw, err := jsonGateway(jn)
	if err != nil {
		return routes.Nexthop{}, err
	}
	nh := routes.Nexthop{LinkIndex: devIndex(jn.Dev), Gw: gw}
	for _, f := range jn.Flags {
		switch f {
		case "linkdown":
			nh.LinkDown = true
		case "dead":
			nh.Dead = true
		}
	}
	return nh, nil
}
