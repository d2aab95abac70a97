package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordHook is a vif-post.d hook that appends what vif-route's hooks are
// given (command, type_if, dev, ip) to the file %s. It calls log, one of
// the functions of xen-hotplug-common.sh that hooks rely on: were it
// missing, the library's ERR trap would fail the hotplug (exit 1).
const recordHook = `#!/bin/bash
log debug "record.hook: $command $dev"
echo "$command $type_if $dev $ip" >>'%s'
`

// TestVifProxyarpRunsVifPostHooks installs vif-proxyarp beside Debian's Xen
// script library with an executable hook in vif-post.d, and checks that the
// hook runs after proxyarp's hotplug with vif-route's environment: online
// and offline for a vif (named by vifname when xenstore has one), add and
// remove for a tap, and not at all for the pairs that do nothing.
func TestVifProxyarpRunsVifPostHooks(t *testing.T) {
	requireRoot(t)
	requireVifRoute(t)
	t.Parallel()
	bin := buildBinary(t)

	// A scripts directory like /etc/xen/scripts: vif-proxyarp, the library
	// it sources, and vif-post.d/record.hook.
	scripts := t.TempDir()
	src, err := os.ReadFile("../../dist/xen/vif-proxyarp")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(scripts, "vif-proxyarp")
	if err := os.WriteFile(script, src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, lib := range []string{"xen-hotplug-common.sh", "hotplugpath.sh", "logging.sh", "xen-script-common.sh", "locking.sh"} {
		if err := os.Symlink(filepath.Join(filepath.Dir(vifRouteScript), lib), filepath.Join(scripts, lib)); err != nil {
			t.Fatal(err)
		}
	}
	record := filepath.Join(t.TempDir(), "hooks.log")
	if err := os.MkdirAll(filepath.Join(scripts, "vif-post.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scripts, "vif-post.d", "record.hook"), []byte(strings.Replace(recordHook, "%s", record, 1)), 0o755); err != nil {
		t.Fatal(err)
	}

	ns := addNamespaces(t, "pxr-post-", "host")["host"]
	side := newCmpSide(t, "vif-proxyarp", ns, script, map[string]string{
		"backend/vif/1/0/ip":      "192.0.2.2",
		"backend/vif/1/0/vifname": "web1",
	})
	vifEnv := []string{"XENBUS_PATH=backend/vif/1/0", "vif=vif1.0", "netdev=eth0"}
	tapEnv := []string{"INTERFACE=vif1.0-emu", "netdev=eth0"}
	for _, step := range []struct {
		env  []string
		args []string
	}{
		{vifEnv, []string{"online", "type_if=vif"}},
		{vifEnv, []string{"add", "type_if=vif"}}, // nothing to do: no hook either
		{vifEnv, []string{"offline", "type_if=vif"}},
		{tapEnv, []string{"add", "type_if=tap"}},
		{tapEnv, []string{"remove", "type_if=tap"}},
	} {
		if code, _ := side.run(t, filepath.Dir(bin), step.env, step.args...); code != 0 {
			t.Fatalf("vif-proxyarp %v: exit %d\nhotplug log:\n%s", step.args, code, side.hotplugLog())
		}
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the hook never ran: %v\nhotplug log:\n%s", err, side.hotplugLog())
	}
	want := strings.Join([]string{
		"online vif web1 192.0.2.2",
		"offline vif web1 192.0.2.2",
		"add tap web1-emu 192.0.2.2",
		"remove tap web1-emu 192.0.2.2",
	}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("hook calls:\n%s\nwant:\n%s", got, want)
	}
}
