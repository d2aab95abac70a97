package main

import (
	"net/netip"

	"github.com/proxyarp/proxyarp/routes"
	"github.com/proxyarp/proxyarp/routes/routestest"
)

// The hotplug logic and its unit tests are in package hotplug; these are
// the fixtures the hotplug and route tests of this package share.

const xb = "backend/vif/1/0"

// hotplugHost is a FakeKernel with eth0 (192.0.2.1/24), eth1 (no IPv4),
// and the down guest devices vif1.0, vif1.0-emu and vif2.0.
func hotplugHost() *routestest.FakeKernel {
	k := routestest.NewFakeKernel()
	k.AddLink(routes.Link{Name: "eth0", Up: true, Carrier: true}, netip.MustParsePrefix("192.0.2.1/24"))
	k.AddLink(routes.Link{Name: "eth1", Up: true, Carrier: true})
	k.AddLink(routes.Link{Name: "vif1.0"})
	k.AddLink(routes.Link{Name: "vif1.0-emu"})
	k.AddLink(routes.Link{Name: "vif2.0"})
	return k
}

func guestRoute(dst, dev string, metric int) routes.KernelRoute {
	return routes.KernelRoute{
		Dst: netip.MustParsePrefix(dst), Dev: dev, Src: netip.MustParseAddr("192.0.2.1"),
		Metric: metric, Protocol: routes.ProtoProxyarp,
	}
}

// libxlEnv is what libxl passes for vif1.0 with gatewaydev unset.
func libxlEnv() map[string]string {
	return map[string]string{"XENBUS_PATH": xb, "vif": "vif1.0", "XENBUS_TYPE": "vif", "XENBUS_BASE_PATH": "backend", "script": "/etc/xen/scripts/vif-proxyarp"}
}
