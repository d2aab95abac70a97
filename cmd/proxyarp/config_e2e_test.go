package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EConfigReloadAndUplinkGateway runs serve from a config file on the
// seed topology with a default route via the router, and a /32 to the
// router's own address routed via a guest's vif (the mistake the
// uplink-gateway rule is for). The router's address is never answered;
// a SIGHUP after narrowing allow in the file stops answers outside it
// without re-attaching the socket; a broken file on reload changes nothing.
func TestE2EConfigReloadAndUplinkGateway(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	bin := buildBinary(t)
	tp := newTopology(t, topoOptions{uplink: true, guest2: true})
	ipn(t, tp.host, "route", "add", "default", "via", routerIP.String(), "dev", "eth0")
	ipn(t, tp.host, "route", "add", routerIP.String()+"/32", "dev", "vif1.0")

	conf := filepath.Join(t.TempDir(), "proxyarp.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "m.sock")
	write("uplink = \"eth0\"\nallow = [\"192.0.2.0/24\"]\nmetrics-listen = \"" + sock + "\"\n")
	d := startDaemon(t, tp.host, bin, "serve", "--config", conf)
	waitHealthy(t, sock, d)

	// Another requester than the router itself: a request from the
	// router for its own address would be gratuitous.
	p := openProbe(t, tp.router, "eth0", netip.MustParseAddr("192.0.2.253"))
	hostMAC := tp.hostMAC(t)
	for _, ip := range []netip.Addr{guest1IP, guest2IP} {
		if !p.waitAnswered(t, ip, hostMAC, true, readyTimeout) {
			t.Fatalf("%s not answered with allow 192.0.2.0/24", ip)
		}
	}
	if p.waitAnswered(t, routerIP, hostMAC, true, time.Second) {
		t.Errorf("the uplink's gateway %s was answered (it is routed via vif1.0)", routerIP)
	}
	if v, _ := sample(scrapeMetrics(t, sock), "proxyarp_drops_total", "reason", "uplink-gateway"); v < 1 {
		t.Errorf("drops{uplink-gateway} = %v, want at least 1", v)
	}
	if !strings.Contains(d.out.String(), `msg="uplink gateways, never answered" dev=eth0 gateways=`+routerIP.String()) {
		t.Errorf("no log line naming the uplink gateway")
	}

	// Narrow allow to guest 1 and reload.
	write("uplink = \"eth0\"\nallow = [\"192.0.2.2/32\"]\nmetrics-listen = \"" + sock + "\"\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !waitLog(d, `msg="config reloaded"`, readyTimeout) {
		t.Fatal("no reload logged after SIGHUP")
	}
	if !strings.Contains(d.out.String(), "changed=allow allow=192.0.2.2/32") {
		t.Errorf("the reload did not log the new allow list")
	}
	if !p.waitAnswered(t, guest2IP, hostMAC, false, readyTimeout) {
		t.Errorf("%s still answered after allow was narrowed to 192.0.2.2/32", guest2IP)
	}
	if !p.waitAnswered(t, guest1IP, hostMAC, true, readyTimeout) {
		t.Errorf("%s no longer answered after the reload", guest1IP)
	}

	// A broken file keeps the running config.
	write("uplink = \"eth0\"\nallow = [\"192.0.2.0/24\"\nmetrics-listen = \"" + sock + "\"\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !waitLog(d, `msg="config reload failed, keeping the running config"`, readyTimeout) {
		t.Fatal("no failed reload logged after SIGHUP with a broken file")
	}
	if !p.waitAnswered(t, guest2IP, hostMAC, false, time.Second) || !p.waitAnswered(t, guest1IP, hostMAC, true, readyTimeout) {
		t.Errorf("a broken config file changed what is answered")
	}
	if n := strings.Count(d.out.String(), `msg="uplink attached"`); n != 1 {
		t.Errorf("uplink attached %d times, want once: reloads must not re-open the socket", n)
	}
	if code, inTime := d.stop(t, syscall.SIGTERM); code != 0 || !inTime {
		t.Errorf("stop: exit %d, in time %v", code, inTime)
	}
}
