// Package xenstore reads and writes keys of Xen's xenstore, the way the
// hotplug scripts' xenstore-read and xenstore-write do, but by speaking
// xenstored's wire protocol directly: no fork per key.
//
// [Open] finds xenstored as the Xen tools do: the unix socket named by
// $XENSTORED_PATH, else /run/xenstored/socket or /var/run/xenstored/socket,
// else the /dev/xen/xenbus device (same protocol), and only when none of
// them exists the xenstore-read and xenstore-write commands on PATH.
//
// Paths are sent as given: xenstored resolves a relative path such as
// backend/vif/1/0 against the caller's home, /local/domain/0 in dom0.
package xenstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Store is what the hotplug code needs of xenstore: a Client or the
// Commands fallback.
type Store interface {
	// Read returns the value at path; a missing path gives an error
	// matching ErrNotFound.
	Read(path string) (string, error)
	// Write sets path to value, creating it (and its parents) if needed.
	Write(path, value string) error
	// Close releases the connection.
	Close() error
}

// Default locations of xenstored, in the order Open tries them after
// $XENSTORED_PATH.
var (
	DefaultSockets = []string{"/run/xenstored/socket", "/var/run/xenstored/socket"}
	DefaultDevice  = "/dev/xen/xenbus"
)

// Open connects to xenstore as described in the package comment.
func Open() (Store, error) {
	return open(os.Getenv, exec.LookPath)
}

// OpenEnv is Open with the environment read through getenv, for callers
// that carry their own (the hotplug command's tests).
func OpenEnv(getenv func(string) string) (Store, error) {
	return open(getenv, exec.LookPath)
}

func open(getenv func(string) string, lookPath func(string) (string, error)) (Store, error) {
	if p := getenv("XENSTORED_PATH"); p != "" {
		return Dial(p)
	}
	for _, p := range append(append([]string{}, DefaultSockets...), DefaultDevice) {
		if _, err := os.Stat(p); err == nil {
			return Dial(p)
		}
	}
	r, rerr := lookPath("xenstore-read")
	w, werr := lookPath("xenstore-write")
	if rerr == nil && werr == nil {
		return &Commands{ReadCommand: r, WriteCommand: w}, nil
	}
	return nil, fmt.Errorf("xenstore: no xenstored found (tried $XENSTORED_PATH, %s, %s, and xenstore-read/xenstore-write on PATH): is this a Xen dom0?",
		strings.Join(DefaultSockets, ", "), DefaultDevice)
}

// Client talks to xenstored over one connection. It sends one request at
// a time and is safe for concurrent use.
type Client struct {
	mu      sync.Mutex
	conn    io.ReadWriteCloser
	nextReq uint32
	// Timeout bounds each request on a connection that supports
	// deadlines (unix sockets); zero means 10 s.
	Timeout time.Duration
}

var _ Store = (*Client)(nil)

// Dial connects to xenstored at path: a unix socket, or a character
// device such as /dev/xen/xenbus.
func Dial(path string) (*Client, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("xenstore: %w", err)
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		c, err := net.Dial("unix", path)
		if err != nil {
			return nil, fmt.Errorf("xenstore: connect to %s: %w", path, err)
		}
		return NewClient(c), nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("xenstore: open %s: %w", path, err)
	}
	return NewClient(f), nil
}

// NewClient returns a Client speaking the xenstore protocol over conn,
// which it owns from then on.
func NewClient(conn io.ReadWriteCloser) *Client {
	return &Client{conn: conn, nextReq: 1}
}

// Close closes the connection.
func (c *Client) Close() error {
	return c.conn.Close()
}

// Read implements Store with XS_READ.
func (c *Client) Read(path string) (string, error) {
	if err := checkPath(path); err != nil {
		return "", err
	}
	reply, err := c.request(TypeRead, nulTerminated(path))
	if err != nil {
		return "", fmt.Errorf("xenstore read %s: %w", path, err)
	}
	return string(reply), nil
}

// Write implements Store with XS_WRITE.
func (c *Client) Write(path, value string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	payload := append(nulTerminated(path), value...)
	if _, err := c.request(TypeWrite, payload); err != nil {
		return fmt.Errorf("xenstore write %s: %w", path, err)
	}
	return nil
}

func checkPath(path string) error {
	if path == "" || strings.IndexByte(path, 0) >= 0 {
		return fmt.Errorf("xenstore: bad path %q", path)
	}
	return nil
}

func nulTerminated(s string) []byte {
	return append([]byte(s), 0)
}

type deadliner interface{ SetDeadline(time.Time) error }

// request sends one request and returns the payload of its reply. Watch
// events, which this client never asks for, are skipped.
func (c *Client) request(t Type, payload []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := Message{Type: t, ReqID: c.nextReq, Payload: payload}
	c.nextReq++
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	if d, ok := c.conn.(deadliner); ok {
		timeout := c.Timeout
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		d.SetDeadline(time.Now().Add(timeout))
		defer d.SetDeadline(time.Time{})
	}
	if _, err := c.conn.Write(b); err != nil {
		return nil, fmt.Errorf("send %s: %w", t, err)
	}
	for {
		m, err := ReadMessage(c.conn)
		if err != nil {
			return nil, err
		}
		if m.Type == TypeWatchEvent {
			continue
		}
		if m.ReqID != req.ReqID {
			return nil, fmt.Errorf("reply to request %d while waiting for %d", m.ReqID, req.ReqID)
		}
		if err := ReplyError(m); err != nil {
			return nil, err
		}
		if m.Type != t {
			return nil, fmt.Errorf("%s reply to %s", m.Type, t)
		}
		return m.Payload, nil
	}
}

// Commands is the Store of last resort: it runs the xenstore-read and
// xenstore-write commands, one process per call.
type Commands struct {
	// ReadCommand and WriteCommand are the commands' paths.
	ReadCommand, WriteCommand string
}

var _ Store = (*Commands)(nil)

// Read implements Store. A failing xenstore-read is reported as
// ErrNotFound (the command does not say why), with its message.
func (c *Commands) Read(path string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(c.ReadCommand, path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("xenstore-read %s: %s: %w", path, strings.TrimSpace(stderr.String()), ErrNotFound)
		}
		return "", fmt.Errorf("xenstore-read %s: %w", path, err)
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

// Write implements Store.
func (c *Commands) Write(path, value string) error {
	out, err := exec.Command(c.WriteCommand, path, value).CombinedOutput()
	if err != nil {
		return fmt.Errorf("xenstore-write %s: %v: %s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close implements Store; it does nothing.
func (c *Commands) Close() error { return nil }
