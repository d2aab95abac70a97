package xenstore

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// unixConn is a blocking unix stream socket to xenstored. Its reads and
// writes are plain system calls: the Go network poller that net.Dial sets
// up (an epoll instance, and a thread woken for every reply) costs more
// than the few requests of a hotplug run. Deadlines are SO_RCVTIMEO and
// SO_SNDTIMEO, so that a silent xenstored still fails the request.
type unixConn struct{ fd int }

// dialUnix connects to the unix stream socket at path.
func dialUnix(path string) (*unixConn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.SyscallError{Syscall: "connect", Err: err}
	}
	return &unixConn{fd: fd}, nil
}

// Read implements io.Reader; a read past the deadline fails with
// os.ErrDeadlineExceeded, a closed connection gives io.EOF.
func (c *unixConn) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(c.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, os.ErrDeadlineExceeded
		case err != nil:
			return 0, &os.SyscallError{Syscall: "read", Err: err}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write implements io.Writer: all of b, or an error.
func (c *unixConn) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(c.fd, b[done:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return done, os.ErrDeadlineExceeded
		case err != nil:
			return done, &os.SyscallError{Syscall: "write", Err: err}
		}
		done += n
	}
	return done, nil
}

// SetDeadline bounds each later read and write to the time left until t;
// the zero t means no bound.
func (c *unixConn) SetDeadline(t time.Time) error {
	var tv unix.Timeval
	if !t.IsZero() {
		tv = unix.NsecToTimeval(max(time.Until(t), time.Microsecond).Nanoseconds())
	}
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			return fmt.Errorf("set socket timeout: %w", err)
		}
	}
	return nil
}

// Close closes the socket.
func (c *unixConn) Close() error { return unix.Close(c.fd) }
