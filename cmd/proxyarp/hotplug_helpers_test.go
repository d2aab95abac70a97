package main

// The hotplug logic and its unit tests are in package hotplug; these are
// the fixtures the hotplug tests of this package share (the fake dom0 is
// routestest.NewXenHost).

const xb = "backend/vif/1/0"

// libxlEnv is what libxl passes for vif1.0 with gatewaydev unset.
func libxlEnv() map[string]string {
	return map[string]string{"XENBUS_PATH": xb, "vif": "vif1.0", "XENBUS_TYPE": "vif", "XENBUS_BASE_PATH": "backend", "script": "/etc/xen/scripts/vif-proxyarp"}
}
