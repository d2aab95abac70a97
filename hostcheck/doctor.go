package hostcheck

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/proxyarp/proxyarp/routes"
)

// Severity grades a doctor finding.
type Severity int

// Severities, least severe first. The zero Severity is Warning, so that
// findings made before severities existed keep their meaning.
const (
	Warning Severity = iota
	Info
	Error
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Error:
		return "error"
	}
	return "warning"
}

// HostRoute is a main-table IPv4 route as doctor looks at it.
type HostRoute struct {
	Dst    netip.Prefix
	Dev    string     // "" for routes without a device; several nexthops: the first
	Src    netip.Addr // the route's preferred source, if any
	Gw     netip.Addr
	Proto  int
	Type   int
	Metric int
}

// HostLink is an interface as doctor looks at it.
type HostLink struct {
	Name  string
	Addrs []netip.Prefix
}

// Host is the state doctor checks, read once (ReadHost) or built by tests.
type Host struct {
	Links  []HostLink
	Routes []HostRoute
	// PolicyRules are the IPv4 policy rules beyond the three defaults.
	PolicyRules []string
	// Routes6 are the main-table IPv6 /128 unicast routes.
	Routes6 []HostRoute
}

// ReadHost reads links, addresses and main-table routes of the current
// network namespace. policyRules are passed through (explain.PolicyRules
// reads them).
func ReadHost(policyRules []string) (Host, error) {
	h := Host{PolicyRules: policyRules}
	links, err := netlink.LinkList()
	if err != nil {
		return h, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		hl := HostLink{Name: a.Name}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err == nil {
			for _, ad := range addrs {
				if ad.IPNet == nil {
					continue
				}
				ip, ok := netip.AddrFromSlice(ad.IP)
				ones, _ := ad.Mask.Size()
				if ok {
					hl.Addrs = append(hl.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
				}
			}
		}
		h.Links = append(h.Links, hl)
	}
	rts, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return h, fmt.Errorf("list routes: %w", err)
	}
	rts6, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return h, fmt.Errorf("list IPv6 routes: %w", err)
	}
	for _, r := range rts6 {
		if r.Dst == nil || r.Type != unix.RTN_UNICAST {
			continue
		}
		ip, _ := netip.AddrFromSlice(r.Dst.IP)
		if ones, _ := r.Dst.Mask.Size(); ones != 128 {
			continue
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		h.Routes6 = append(h.Routes6, HostRoute{Dst: netip.PrefixFrom(ip, 128), Dev: names[idx], Proto: int(r.Protocol), Type: r.Type, Metric: r.Priority})
	}
	for _, r := range rts {
		hr := HostRoute{Proto: int(r.Protocol), Type: r.Type, Metric: r.Priority}
		if r.Dst == nil {
			hr.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		} else {
			ip, _ := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			hr.Dst = netip.PrefixFrom(ip.Unmap(), ones)
		}
		if ip, ok := netip.AddrFromSlice(r.Src); ok {
			hr.Src = ip.Unmap()
		}
		if ip, ok := netip.AddrFromSlice(r.Gw); ok {
			hr.Gw = ip.Unmap()
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		hr.Dev = names[idx]
		h.Routes = append(h.Routes, hr)
	}
	return h, nil
}

// DoctorConfig is what doctor checks against.
type DoctorConfig struct {
	// Uplink is the interface the router ARPs on; "" means the device of
	// the default route.
	Uplink string
	// Guests names the guest interfaces; the zero Globs means the default.
	Guests routes.Globs
}

// otherDaemons are process names (comm) of other proxy-ARP daemons.
var otherDaemons = []string{"parprouted", "farpd", "arpd", "proxyarpd", "choparp"}

// Doctor runs every check on h, the sysctl tree and the process list: the
// start-up checks of Uplink, graded, plus guest routes, rp_filter, policy
// rules and other proxy-ARP daemons. Errors are problems that break or
// endanger answering; warnings are likely mistakes; info says what was
// assumed.
func (c Checker) Doctor(cfg DoctorConfig, h Host) []Finding {
	sys := c.Sysctl
	if sys == nil {
		sys = os.DirFS("/proc/sys")
	}
	guests := cfg.Guests
	if guests.IsZero() {
		guests, _ = routes.ParseGlobs(routes.DefaultGlobs)
	}
	var out []Finding
	add := func(sev Severity, check, problem, fix string) {
		out = append(out, Finding{Severity: sev, Check: check, Problem: problem, Fix: fix})
	}
	linkByName := map[string]HostLink{}
	for _, l := range h.Links {
		linkByName[l.Name] = l
	}

	uplink := cfg.Uplink
	var defaultDev string
	for _, r := range h.Routes {
		if r.Dst.Bits() == 0 && r.Type == unix.RTN_UNICAST && defaultDev == "" {
			defaultDev = r.Dev
		}
	}
	if uplink == "" {
		uplink = defaultDev
		if uplink == "" {
			add(Error, "uplink", "no --uplink given and no default route to guess it from", "run proxyarp doctor --uplink IFACE")
		} else {
			add(Info, "uplink", fmt.Sprintf("checking %s as the uplink (the default route's interface)", uplink), "pass --uplink IFACE if the router ARPs on another interface")
		}
	}
	if uplink != "" {
		if _, ok := linkByName[uplink]; !ok {
			add(Error, "uplink", fmt.Sprintf("uplink %s does not exist", uplink), "create it, or pass the right --uplink")
		}
		for _, f := range c.Uplink(uplink) {
			f.Severity = Error
			if f.Check == "uplink-vlans" {
				f.Severity = Warning
			}
			out = append(out, f)
		}
	}

	// IPv6 on the uplink: warnings. IPv6 forwarding matters only to a
	// host with IPv6 guests (a /128 route via a guest interface).
	guests6 := false
	for _, r := range h.Routes6 {
		if guests.Match(r.Dev) || r.Proto == routes.ProtoProxyarp {
			guests6 = true
		}
	}
	if uplink != "" {
		for _, f := range c.Uplink6(uplink) {
			if f.Check == "forwarding6" && !guests6 {
				continue
			}
			f.Severity = Warning
			out = append(out, f)
		}
		fwd, _ := readSysctl(sys, "net/ipv6/conf/all/forwarding")
		ra, ok := readSysctl(sys, "net/ipv6/conf/"+uplink+"/accept_ra")
		dis, _ := readSysctl(sys, "net/ipv6/conf/"+uplink+"/disable_ipv6")
		if fwd == "1" && ok && ra != "2" && dis != "1" {
			add(Warning, "accept-ra", fmt.Sprintf("IPv6 forwarding is on and %s has accept_ra=%s: the kernel ignores router advertisements on it, so an uplink configured by SLAAC or a default route learnt from the router is lost when they expire", uplink, ra),
				fmt.Sprintf("sysctl -w net/ipv6/conf/%s/accept_ra=2 (or configure the uplink's IPv6 address and default route statically)", uplink))
		}
	}

	// Guest routes, and /32 routes that look like guests' but are not.
	guestDevs := map[string]bool{}
	for _, r := range h.Routes {
		if r.Dst.Bits() != 32 || r.Type != unix.RTN_UNICAST || r.Dev == "" {
			continue
		}
		switch {
		case guests.Match(r.Dev) || r.Proto == routes.ProtoProxyarp:
			guestDevs[r.Dev] = true
			if !r.Src.IsValid() {
				add(Warning, "guest-route-src", fmt.Sprintf("guest route %s dev %s has no src: what the host itself sends the guest (ICMP errors, its own traffic) takes %s's first address, or none", r.Dst, r.Dev, r.Dev),
					fmt.Sprintf("ip route replace %s dev %s src <uplink address> (as vif-route and proxyarp route add do)", r.Dst, r.Dev))
			}
		case r.Dev != uplink && r.Dev != "lo" && !r.Gw.IsValid() && r.Proto != unix.RTPROT_KERNEL:
			add(Warning, "route-not-guest", fmt.Sprintf("%s dev %s is a /32 host route but %s matches none of the guest globs %s: it is not answered", r.Dst, r.Dev, r.Dev, guests),
				fmt.Sprintf("if %s is a guest interface, add it to --guest-ifaces (or install the route with proxyarp route add)", r.Dev))
		}
	}

	// What a guest needs to reach its gateway: the vif answering its ARP.
	// That is proxy_arp on the vif (vif-route sets it), not a dom0 /32
	// address on the vif: the /32 route via the vif already wins over the
	// uplink's connected prefix, on any current kernel.
	for dev := range guestDevs {
		pa, ok := readSysctl(sys, "net/ipv4/conf/"+dev+"/proxy_arp")
		if ok && pa == "0" && len(linkByName[dev].Addrs) == 0 {
			add(Warning, "guest-gateway", fmt.Sprintf("guest interface %s has proxy_arp=0 and no address: the guest's ARP for its gateway is not answered", dev),
				fmt.Sprintf("sysctl -w net/ipv4/conf/%s/proxy_arp=1 (and net/ipv4/neigh/%s/proxy_delay=0); a dom0 /32 address on %s is not needed", dev, dev, dev))
		}
	}

	// rp_filter: the effective value is the larger of all and the device.
	rpf := func(dev string) int {
		a, _ := readSysctl(sys, "net/ipv4/conf/all/rp_filter")
		d, _ := readSysctl(sys, "net/ipv4/conf/"+dev+"/rp_filter")
		ai, _ := strconv.Atoi(a)
		di, _ := strconv.Atoi(d)
		return max(ai, di)
	}
	for dev := range guestDevs {
		if rpf(dev) == 1 {
			add(Warning, "rp-filter", fmt.Sprintf("strict rp_filter on guest interface %s: packets from a guest address not routed back via %s (a secondary address, a route being moved, a multipath route) are dropped", dev, dev),
				fmt.Sprintf("sysctl -w net/ipv4/conf/%s/rp_filter=2 (loose) and net.ipv4.conf.all.rp_filter=0 or 2", dev))
		}
	}
	if uplink != "" && defaultDev != "" && defaultDev != uplink && rpf(uplink) == 1 {
		add(Error, "rp-filter", fmt.Sprintf("strict rp_filter on uplink %s while the default route leaves via %s: traffic for guests arriving on %s from outside is dropped", uplink, defaultDev, uplink),
			fmt.Sprintf("sysctl -w net/ipv4/conf/%s/rp_filter=2 (loose) and net.ipv4.conf.all.rp_filter=0 or 2", uplink))
	}

	if len(h.PolicyRules) > 0 {
		add(Warning, "policy-rules", fmt.Sprintf("policy rules beyond the defaults: %s; proxyarp answers from the main table only, while these may route guests' addresses by other tables", strings.Join(h.PolicyRules, "; ")),
			"check with proxyarp explain ADDR for each guest address; keep guest /32 routes in the main table")
	}

	for _, name := range c.runningDaemons() {
		add(Error, "other-daemon", fmt.Sprintf("%s is running: it answers proxy ARP too, for its own idea of which addresses", name),
			fmt.Sprintf("stop and disable %s once proxyarp runs", name))
	}
	return out
}

// runningDaemons lists the other proxy-ARP daemons found in the process
// table.
func (c Checker) runningDaemons() []string {
	proc := c.Proc
	if proc == nil {
		proc = os.DirFS("/proc")
	}
	ents, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := fs.ReadFile(proc, e.Name()+"/comm")
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, d := range otherDaemons {
			if comm == d && !seen[d] {
				seen[d] = true
				out = append(out, fmt.Sprintf("%s (pid %s)", d, e.Name()))
			}
		}
	}
	return out
}
