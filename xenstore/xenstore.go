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
	if c, err := dialUnix(path); err == nil {
		return NewClient(c), nil // the usual case, without a stat first
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("xenstore: %w", err)
	}
	if fi.Mode()&fs.ModeSocket != 0 {
		c, err := dialUnix(path)
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
	vals, errs := c.ReadBatch([]string{path})
	return vals[0], errs[0]
}

// ReadBatch implements BatchReader: it sends the XS_READ requests for
// all of paths in one write, then reads their replies, so that a run
// waits for xenstored once rather than once per key.
func (c *Client) ReadBatch(paths []string) ([]string, []error) {
	reqs := make([]request, len(paths))
	for i, p := range paths {
		reqs[i] = request{t: TypeRead, payload: nulTerminated(p)}
		if err := checkPath(p); err != nil {
			reqs[i].err = err
		}
	}
	c.exchange(reqs)
	vals, errs := make([]string, len(paths)), make([]error, len(paths))
	for i, r := range reqs {
		vals[i], errs[i] = string(r.reply), r.err
		if r.err != nil && checkPath(paths[i]) == nil {
			errs[i] = &PathError{Op: "read", Path: paths[i], Err: r.err}
		}
	}
	return vals, errs
}

// PathError is a failed request about one path: "xenstore OP PATH: ERR".
// (It is built without fmt: a hotplug run reads a missing vifname every
// time, and formatting that error would be wasted start-up work.)
type PathError struct {
	Op   string // "read" or "write"
	Path string
	Err  error
}

func (e *PathError) Error() string { return "xenstore " + e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error, which may match ErrNotFound.
func (e *PathError) Unwrap() error { return e.Err }

// Write implements Store with XS_WRITE.
func (c *Client) Write(path, value string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	r := []request{{t: TypeWrite, payload: append(nulTerminated(path), value...)}}
	if c.exchange(r); r[0].err != nil {
		return &PathError{Op: "write", Path: path, Err: r[0].err}
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

// request is one request of an exchange and its outcome: the payload of
// its reply, or an error. A request whose err is set beforehand is not
// sent.
type request struct {
	t       Type
	payload []byte
	reply   []byte
	err     error
}

// exchange sends reqs (those without an error yet) in one write and reads
// their replies, which xenstored sends in order. Watch events, which this
// client never asks for, are skipped. A failure of the connection fails
// every request still waiting for its reply.
func (c *Client) exchange(reqs []request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		out     []byte
		pending []int // indexes of the requests sent, in order
	)
	for i := range reqs {
		if reqs[i].err != nil {
			continue
		}
		m := Message{Type: reqs[i].t, ReqID: c.nextReq, Payload: reqs[i].payload}
		c.nextReq++
		b, err := m.Marshal()
		if err != nil {
			reqs[i].err = err
			continue
		}
		out = append(out, b...)
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return
	}
	failAll := func(err error) {
		for _, i := range pending {
			reqs[i].err = err
		}
	}
	if d, ok := c.conn.(deadliner); ok {
		timeout := c.Timeout
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		d.SetDeadline(time.Now().Add(timeout))
		defer d.SetDeadline(time.Time{})
	}
	firstID := c.nextReq - uint32(len(pending))
	if _, err := c.conn.Write(out); err != nil {
		failAll(fmt.Errorf("send %s: %w", reqs[pending[0]].t, err))
		return
	}
	for n := 0; len(pending) > 0; n++ {
		i, id := pending[0], firstID+uint32(n)
		m, err := ReadMessage(c.conn)
		if err != nil {
			failAll(err)
			return
		}
		if m.Type == TypeWatchEvent {
			n--
			continue
		}
		if m.ReqID != id {
			failAll(fmt.Errorf("reply to request %d while waiting for %d", m.ReqID, id))
			return
		}
		pending = pending[1:]
		switch rerr := ReplyError(m); {
		case rerr != nil:
			reqs[i].err = rerr
		case m.Type != reqs[i].t:
			reqs[i].err = fmt.Errorf("%s reply to %s", m.Type, reqs[i].t)
		default:
			reqs[i].reply = m.Payload
		}
	}
}

// BatchReader is a Store that can read several keys in one exchange with
// xenstored (a Client).
type BatchReader interface {
	// ReadBatch reads each of paths as Read would: vals[i] and errs[i]
	// are the outcome of Read(paths[i]).
	ReadBatch(paths []string) (vals []string, errs []error)
}

var _ BatchReader = (*Client)(nil)

// ReadAll reads each of paths from s, in one exchange when s is a
// BatchReader, else one Read after the other (in order, all of them).
func ReadAll(s Store, paths ...string) ([]string, []error) {
	if b, ok := s.(BatchReader); ok {
		return b.ReadBatch(paths)
	}
	vals, errs := make([]string, len(paths)), make([]error, len(paths))
	for i, p := range paths {
		vals[i], errs[i] = s.Read(p)
	}
	return vals, errs
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
