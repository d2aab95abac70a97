package sdnotify

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// listen opens a unixgram socket standing in for the service manager's.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive reads one datagram, failing the test after a second.
func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reading notification: %v", err)
	}
	return string(buf[:n])
}

func TestSendToPathSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	srv := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	n, err := New()
	if err != nil || !n.Enabled() {
		t.Fatalf("New() = %v, %v; want an enabled notifier", n, err)
	}
	for _, tc := range []struct {
		name   string
		states []string
		want   string
	}{
		{"ready with a status is one datagram", []string{Ready, Status("answering on eth0")}, "READY=1\nSTATUS=answering on eth0\n"},
		{"a watchdog ping", []string{Watchdog}, "WATCHDOG=1\n"},
		{"stopping", []string{Stopping}, "STOPPING=1\n"},
		{"newlines in a status become spaces", []string{Status("two\nlines")}, "STATUS=two lines\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := n.Send(tc.states...); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if diff := cmp.Diff(tc.want, receive(t, srv)); diff != "" {
				t.Errorf("datagram (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSendToAbstractSocket(t *testing.T) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "@pxr-sdnotify-test-" + hex.EncodeToString(b)
	srv := listen(t, name)
	n, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(Ready); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := receive(t, srv); got != "READY=1\n" {
		t.Errorf("got %q, want READY=1", got)
	}
}

func TestUnsetIsANoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := New()
	if err != nil || n != nil {
		t.Fatalf("New() = %v, %v; want nil, nil", n, err)
	}
	if n.Enabled() {
		t.Error("a nil notifier says it is enabled")
	}
	if err := n.Send(Ready, Status("x")); err != nil {
		t.Errorf("Send on a nil notifier: %v", err)
	}
}

func TestOpenRejectsRelativeAndVsock(t *testing.T) {
	for _, s := range []string{"notify.sock", "vsock:2:1234"} {
		if _, err := Open(s); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", s)
		}
	}
}

func TestSendFailsWhenNobodyListens(t *testing.T) {
	n, err := Open(filepath.Join(t.TempDir(), "gone"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(Ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Send to a missing socket = %v, want ENOENT", err)
	}
}

func TestSendRejectsBadAssignments(t *testing.T) {
	n, err := Open(filepath.Join(t.TempDir(), "unused"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"READY", "A=1\nB=2"} {
		if err := n.Send(s); err == nil {
			t.Errorf("Send(%q) succeeded, want an error", s)
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		name      string
		usec, pid string
		want      time.Duration
		wantErr   bool
	}{
		{"no watchdog when WATCHDOG_USEC is unset", "", "", 0, false},
		{"half of WatchdogSec=30s", "30000000", "", 15 * time.Second, false},
		{"for this process", "30000000", "42", 15 * time.Second, false},
		{"none when WATCHDOG_PID is another process", "30000000", "7", 0, false},
		{"huge values are clamped, not overflowed", "18446744073709551615", "", time.Duration(1<<63-1) / 1000 * 1000 / 2, false},
		{"zero is an error", "0", "", 0, true},
		{"garbage is an error", "30s", "", 0, true},
		{"a garbage pid is an error", "30000000", "x", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := watchdogInterval(tc.usec, tc.pid, 42)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("interval = %v, want %v", got, tc.want)
			}
		})
	}
}
