// Package sdnotify tells the service manager (systemd) about the daemon's
// state over the sd_notify protocol: newline-separated VAR=value
// assignments in one datagram on the unix socket named by $NOTIFY_SOCKET.
// It has no dependency beyond the standard library, and every call is a
// no-op when the process was not started by a service manager that asked
// for notifications.
//
// The protocol is documented in sd_notify(3) and systemd.service(5)
// (Type=notify, WatchdogSec=).
package sdnotify

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Well-known states, for Send.
const (
	// Ready says start-up is finished (Type=notify waits for it).
	Ready = "READY=1"
	// Stopping says the daemon is shutting down.
	Stopping = "STOPPING=1"
	// Watchdog is the keep-alive ping WatchdogSec= asks for.
	Watchdog = "WATCHDOG=1"
)

// Status returns a STATUS= assignment: a one-line description of the
// daemon's state that systemctl status shows. Newlines are replaced by
// spaces, since they separate assignments.
func Status(s string) string {
	return "STATUS=" + strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// Notifier sends state to the service manager. A nil *Notifier is valid
// and sends nothing: that is what New returns when $NOTIFY_SOCKET is unset.
// Its methods are safe for concurrent use.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a Notifier for the socket named by $NOTIFY_SOCKET, or nil
// (and no error) when the variable is unset or empty. It returns an error
// for a value it cannot use (a relative path, a vsock address).
func New() (*Notifier, error) {
	return Open(os.Getenv("NOTIFY_SOCKET"))
}

// Open returns a Notifier for socket, an absolute path or an abstract
// socket name starting with '@'; nil when socket is empty.
func Open(socket string) (*Notifier, error) {
	switch {
	case socket == "":
		return nil, nil
	case strings.HasPrefix(socket, "/"), strings.HasPrefix(socket, "@"):
		// Go maps a leading '@' to the abstract namespace's NUL byte.
		return &Notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}, nil
	default:
		return nil, fmt.Errorf("NOTIFY_SOCKET=%q: want an absolute path or an abstract name starting with '@'", socket)
	}
}

// Enabled reports whether n sends anything.
func (n *Notifier) Enabled() bool { return n != nil }

// Send sends the assignments (Ready, Status("..."), ...) in one datagram,
// so that the service manager applies them together. It does nothing on a
// nil Notifier. It does not block: the socket is a datagram socket and
// the send fails rather than waits when the manager's queue is full.
func (n *Notifier) Send(states ...string) error {
	if n == nil || len(states) == 0 {
		return nil
	}
	for _, s := range states {
		if !strings.Contains(s, "=") || strings.Contains(s, "\n") {
			return fmt.Errorf("sd_notify: bad assignment %q", s)
		}
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(strings.Join(states, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// WatchdogInterval returns how often the service manager wants a Watchdog
// ping: half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises. It
// returns 0 when no watchdog is set, or when $WATCHDOG_PID names another
// process (the watchdog is for the main process, not its children).
func WatchdogInterval() (time.Duration, error) {
	return watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

func watchdogInterval(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("WATCHDOG_PID=%q: %w", pid, err)
		}
		if p != self {
			return 0, nil
		}
	}
	us, err := strconv.ParseUint(usec, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: %w", usec, err)
	}
	if us == 0 {
		return 0, errors.New("WATCHDOG_USEC=0: want a positive number of microseconds")
	}
	const maxUsec = uint64(math.MaxInt64 / int64(time.Microsecond))
	return time.Duration(min(us, maxUsec)) * time.Microsecond / 2, nil
}
