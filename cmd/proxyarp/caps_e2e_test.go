package main

// Least privilege: serve runs as nobody with only CAP_NET_RAW and
// CAP_NET_ADMIN, as dist/systemd/proxyarp.service runs it, and tells a
// stand-in for systemd's notification socket what it does.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/proxyarp/proxyarp/responder"
)

const nobody = "65534"

// setprivArgs drops to nobody with exactly caps (setpriv's names, such as
// "net_raw"); none at all when caps is empty.
func setprivArgs(caps ...string) []string {
	args := []string{"--reuid=" + nobody, "--regid=" + nobody, "--clear-groups"}
	if len(caps) == 0 {
		return append(args, "--inh-caps=-all", "--bounding-set=-all")
	}
	list := "+" + strings.Join(caps, ",+")
	return append(args, "--inh-caps="+list, "--ambient-caps="+list, "--bounding-set=-all,"+list)
}

// nobodyDir returns a 0755 directory holding a copy of the binary, which
// nobody can reach and run (the test's own temporary directories are 0700).
func nobodyDir(t *testing.T) (dir, bin string) {
	t.Helper()
	src := buildBinary(t)
	dir, err := os.MkdirTemp("", "pxr-caps-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "proxyarp")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

func requireSetpriv(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipping: needs setpriv (util-linux)")
	}
}

// notifyListener is a stand-in for systemd's NOTIFY_SOCKET, writable by
// nobody.
type notifyListener struct {
	conn *net.UnixConn
	path string
	msgs chan string
}

func listenNotify(t *testing.T, dir string) *notifyListener {
	t.Helper()
	path := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{conn: c, path: path, msgs: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return n
}

// wait returns the first datagram containing want, failing after timeout.
func (n *notifyListener) wait(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q; seen %q", want, seen)
			}
			if strings.Contains(m, want) {
				return m
			}
			seen = append(seen, m)
		case <-deadline:
			t.Fatalf("no notification containing %q within %v; seen %q", want, timeout, seen)
		}
	}
}

// procStatus returns the value of a field of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// TestE2ELeastPrivilege runs serve as nobody with only CAP_NET_RAW and
// CAP_NET_ADMIN. Started before the uplink exists, it tells systemd READY
// with a status saying it waits; once the uplink appears it attaches,
// answers for the guest, updates the status and pings the watchdog; on
// SIGTERM it says STOPPING and exits 0.
func TestE2ELeastPrivilege(t *testing.T) {
	requireSetpriv(t)
	t.Parallel()
	dir, bin := nobodyDir(t)
	notify := listenNotify(t, dir)

	ns := addNamespaces(t, "pxr-caps-", "router", "host", "g1")
	tp := &topology{router: ns["router"], host: ns["host"], g1: ns["g1"]}
	setSysctl(t, tp.host, "net/ipv4/ip_forward", "1")
	setSysctl(t, tp.host, "net/ipv4/conf/all/proxy_arp", "0")
	setSysctl(t, tp.host, "net/ipv4/conf/default/proxy_arp", "0")
	tp.addGuest(t, tp.g1, "vif1.0", guest1IP, false)

	// env and setpriv exec in place: the PID is proxyarp's.
	args := []string{"NOTIFY_SOCKET=" + notify.path, "WATCHDOG_USEC=1000000", "setpriv"}
	args = append(args, setprivArgs("net_raw", "net_admin")...)
	// --read recvmmsg: that reader sets its receive buffer with
	// SO_RCVBUFFORCE, which shows below whether CAP_NET_ADMIN is in effect.
	args = append(args, bin, "serve", "--uplink", "eth0", "--garp-count", "0", "--read", "recvmmsg")
	d := startDaemon(t, tp.host, "env", args...)

	ready := notify.wait(t, "READY=1", 10*time.Second)
	if !strings.Contains(ready, "STATUS=waiting for uplink eth0") {
		t.Errorf("READY without the uplink = %q, want a STATUS saying it waits for eth0", ready)
	}
	pid := d.cmd.Process.Pid
	if uid := procStatus(t, pid, "Uid"); !strings.HasPrefix(uid, nobody+"\t") {
		t.Errorf("Uid = %q, want %s", uid, nobody)
	}
	// CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13: nothing else.
	for _, f := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if got := procStatus(t, pid, f); got != "0000000000003000" {
			t.Errorf("%s = %s, want 0000000000003000 (CAP_NET_RAW and CAP_NET_ADMIN only)", f, got)
		}
	}

	tp.createUplink(t)
	notify.wait(t, "STATUS=answering on eth0 for 1 addresses", 10*time.Second)
	probe := openProbe(t, tp.router, "eth0", routerIP)
	if !probe.waitAnswered(t, guest1IP, tp.hostMAC(t), true, 10*time.Second) {
		t.Fatalf("%s not answered by proxyarp running as nobody with CAP_NET_RAW and CAP_NET_ADMIN", guest1IP)
	}
	// CAP_NET_ADMIN is in effect: the packet socket got its receive
	// buffer (SO_RCVBUFFORCE; ss shows the kernel's doubled value).
	if _, err := exec.LookPath("ss"); err == nil {
		out := run(t, "ip", "netns", "exec", tp.host, "ss", "-0", "-a", "-m", "-p")
		if want := fmt.Sprintf("rb%d", 2*responder.RecvBufferSize); !strings.Contains(out, want) {
			t.Errorf("packet socket without its %d MiB receive buffer (%s; CAP_NET_ADMIN not effective?):\n%s", responder.RecvBufferSize>>20, want, out)
		}
	}
	notify.wait(t, "WATCHDOG=1", 5*time.Second)
	if out := d.out.String(); strings.Contains(out, "level=WARN msg=\"notifying systemd failed") ||
		strings.Contains(out, "withholding systemd watchdog ping") || strings.Contains(out, "receive buffer") {
		t.Errorf("unexpected warnings:\n%s", out)
	}

	code, inTime := d.stop(t, syscall.SIGTERM)
	if !inTime || code != 0 {
		t.Errorf("SIGTERM: exit code %d (in time: %v), want 0", code, inTime)
	}
	notify.wait(t, "STOPPING=1", time.Second)
}

// TestE2EWithoutCapabilities runs serve as nobody without any capability,
// inside a namespace with a real uplink: it must refuse to start, exit 1,
// with one line naming CAP_NET_RAW.
func TestE2EWithoutCapabilities(t *testing.T) {
	requireSetpriv(t)
	t.Parallel()
	_, bin := nobodyDir(t)
	ns := addNamespaces(t, "pxr-caps-", "router", "host")
	tp := &topology{router: ns["router"], host: ns["host"]}
	tp.createUplink(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append([]string{"netns", "exec", tp.host, "setpriv"}, setprivArgs()...)
	args = append(args, bin, "serve", "--uplink", "eth0")
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("serve without capabilities: %v, want exit code 1 (stderr %q)", err, stderr.String())
	}
	if lines := strings.Count(stderr.String(), "\n"); lines != 1 || !strings.Contains(stderr.String(), "CAP_NET_RAW") {
		t.Errorf("stderr = %q, want one line naming CAP_NET_RAW", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}
