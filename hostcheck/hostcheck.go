// Package hostcheck inspects the host's kernel settings and interfaces for
// conditions under which proxyarp cannot do its job well: the kernel
// answering proxied requests as well, forwarding switched off, or an uplink
// that is not where the router's requests arrive. serve logs one warning
// line per finding at start-up.
package hostcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
)

// Finding is one problem found, with what to do about it.
type Finding struct {
	// Severity grades the finding for doctor; serve logs every finding as
	// a warning.
	Severity Severity
	// Check is a short stable identifier, for example "kernel-proxy-arp".
	Check string
	// Problem says what is wrong, naming the setting and its value.
	Problem string
	// Fix says what to run or change.
	Fix string
}

func (f Finding) String() string { return f.Problem + "; fix: " + f.Fix }

// Relations describes an interface's place among the host's links.
type Relations struct {
	// Master is the bridge or bond the interface is enslaved to, if any.
	Master string
	// MasterKind is the master's link kind ("bridge", "bond", ...).
	MasterKind string
	// VLANs lists the VLAN devices stacked on the interface.
	VLANs []string
}

// LinkInspector finds an interface's relations. NetlinkInspector is the live
// implementation.
type LinkInspector interface {
	Relations(name string) (Relations, error)
}

// Checker runs the checks against a sysctl tree and a LinkInspector.
type Checker struct {
	// Sysctl is the /proc/sys tree; nil means os.DirFS("/proc/sys").
	Sysctl fs.FS
	// Links inspects interfaces; nil means NetlinkInspector{}.
	Links LinkInspector
	// Proc is the /proc tree doctor looks for other daemons in; nil
	// means os.DirFS("/proc").
	Proc fs.FS
}

// Uplink checks the settings that matter for serving on uplink. Settings
// that cannot be read (the uplink may not exist yet) are skipped, not
// reported.
func (c Checker) Uplink(uplink string) []Finding {
	sys := c.Sysctl
	if sys == nil {
		sys = os.DirFS("/proc/sys")
	}
	links := c.Links
	if links == nil {
		links = NetlinkInspector{}
	}
	var out []Finding

	for _, dev := range []string{"all", uplink} {
		if v, ok := readSysctl(sys, "net/ipv4/conf/"+dev+"/proxy_arp"); ok && v != "0" {
			out = append(out, Finding{
				Check:   "kernel-proxy-arp",
				Problem: fmt.Sprintf("net.ipv4.conf.%s.proxy_arp is %s: the kernel answers proxied requests too, late (up to proxy_delay, 0.8 s by default) and for any address routed out another interface", dev, v),
				Fix:     fmt.Sprintf("sysctl -w net.ipv4.conf.%s.proxy_arp=0 once proxyarp runs (and remove it from /etc/sysctl.d)", dev),
			})
		}
	}

	fwd, ok := readSysctl(sys, "net/ipv4/ip_forward")
	if ok && fwd == "0" {
		out = append(out, Finding{
			Check:   "forwarding",
			Problem: "net.ipv4.ip_forward is 0: answered traffic for guests reaches the host and is dropped (a black hole)",
			Fix:     "sysctl -w net.ipv4.ip_forward=1",
		})
	} else if v, ok := readSysctl(sys, "net/ipv4/conf/"+uplink+"/forwarding"); ok && v == "0" {
		out = append(out, Finding{
			Check:   "forwarding",
			Problem: fmt.Sprintf("net.ipv4.conf.%s.forwarding is 0: traffic for guests arriving on the uplink is not forwarded (a black hole)", uplink),
			Fix:     fmt.Sprintf("sysctl -w net.ipv4.conf.%s.forwarding=1", uplink),
		})
	}

	rel, err := links.Relations(uplink)
	if err != nil {
		return out
	}
	if rel.Master != "" {
		kind := rel.MasterKind
		if kind == "" {
			kind = "master"
		}
		out = append(out, Finding{
			Check:   "uplink-enslaved",
			Problem: fmt.Sprintf("%s is a port of %s %s: ARP requests are delivered to %s, not to its ports", uplink, kind, rel.Master, rel.Master),
			Fix:     fmt.Sprintf("run proxyarp serve --uplink %s", rel.Master),
		})
	}
	if len(rel.VLANs) > 0 {
		out = append(out, Finding{
			Check:   "uplink-vlans",
			Problem: fmt.Sprintf("%s has VLAN devices (%s): requests tagged for those VLANs are not answered on %s", uplink, strings.Join(rel.VLANs, ", "), uplink),
			Fix:     fmt.Sprintf("if the router sits on a VLAN, run proxyarp serve --uplink %s (one instance per VLAN device)", rel.VLANs[0]),
		})
	}
	return out
}

// Uplink6 checks the IPv6 settings that matter for answering Neighbor
// Solicitations on uplink: the kernel's proxy_ndp (it answers too, for
// its proxy entries) and IPv6 forwarding. It finds nothing when IPv6 is
// disabled on uplink (serve answers ARP only then) or the settings cannot
// be read.
func (c Checker) Uplink6(uplink string) []Finding {
	sys := c.Sysctl
	if sys == nil {
		sys = os.DirFS("/proc/sys")
	}
	if v, ok := readSysctl(sys, "net/ipv6/conf/"+uplink+"/disable_ipv6"); !ok || v == "1" {
		return nil
	}
	var out []Finding
	for _, dev := range []string{"all", uplink} {
		if v, ok := readSysctl(sys, "net/ipv6/conf/"+dev+"/proxy_ndp"); ok && v != "0" {
			out = append(out, Finding{
				Check:   "kernel-proxy-ndp",
				Problem: fmt.Sprintf("net.ipv6.conf.%s.proxy_ndp is %s: the kernel answers Neighbor Solicitations for its proxy entries (ip -6 neigh add proxy) too", dev, v),
				Fix:     fmt.Sprintf("sysctl -w net.ipv6.conf.%s.proxy_ndp=0 once proxyarp runs (and remove the proxy entries: ip -6 neigh flush proxy)", dev),
			})
		}
	}
	if v, ok := readSysctl(sys, "net/ipv6/conf/all/forwarding"); ok && v == "0" {
		out = append(out, Finding{
			Check:   "forwarding6",
			Problem: "net.ipv6.conf.all.forwarding is 0: answered IPv6 traffic for guests reaches the host and is dropped (a black hole)",
			Fix:     "sysctl -w net.ipv6.conf.all.forwarding=1 (and net.ipv6.conf." + uplink + ".accept_ra=2 if the uplink is configured by router advertisements); without IPv6 guests, serve --ndp=false",
		})
	}
	return out
}

// readSysctl reads one sysctl by its slash path (which works for interface
// names containing dots, such as vif1.0).
func readSysctl(sys fs.FS, path string) (string, bool) {
	b, err := fs.ReadFile(sys, path)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// NetlinkInspector reads link relations from the kernel with netlink.
type NetlinkInspector struct {
	// Handle is the netlink handle to use; nil means the current namespace.
	Handle *netlink.Handle
}

// Relations implements LinkInspector.
func (n NetlinkInspector) Relations(name string) (Relations, error) {
	h := n.Handle
	if h == nil {
		var err error
		if h, err = netlink.NewHandle(); err != nil {
			return Relations{}, fmt.Errorf("netlink handle: %w", err)
		}
		defer h.Close()
	}
	all, err := h.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return Relations{}, fmt.Errorf("list links: %w", err)
	}
	var self netlink.Link
	byIndex := map[int]netlink.Link{}
	for _, l := range all {
		byIndex[l.Attrs().Index] = l
		if l.Attrs().Name == name {
			self = l
		}
	}
	if self == nil {
		return Relations{}, fmt.Errorf("link %s: not found", name)
	}
	var rel Relations
	if m, ok := byIndex[self.Attrs().MasterIndex]; ok && self.Attrs().MasterIndex != 0 {
		rel.Master, rel.MasterKind = m.Attrs().Name, m.Type()
	}
	for _, l := range all {
		if l.Type() == "vlan" && l.Attrs().ParentIndex == self.Attrs().Index {
			rel.VLANs = append(rel.VLANs, l.Attrs().Name)
		}
	}
	return rel, nil
}
