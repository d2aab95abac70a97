// Package xenstoretest provides a fake xenstored for tests: a unix socket
// speaking the xenstore wire protocol over an in-memory tree.
package xenstoretest

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/proxyarp/proxyarp/xenstore"
)

// Home is where the fake resolves relative paths, as xenstored does for
// dom0.
const Home = "/local/domain/0"

// Server is a fake xenstored. It answers XS_READ, XS_WRITE, XS_RM and
// XS_DIRECTORY from an in-memory map, and XS_ERROR EINVAL to anything else.
// It records each request as a line: "read PATH", "write PATH VALUE",
// "rm PATH", with PATH as the client sent it.
type Server struct {
	// Path is the socket's path: set XENSTORED_PATH to it.
	Path string

	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	raw   func(req xenstore.Message) []byte
	data  map[string]string
	reqs  []string
	conns map[net.Conn]struct{}
}

// NewServer starts a fake xenstored on a socket in a temporary directory
// and stops it when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 90 { // sun_path holds 108 bytes
		d, err := os.MkdirTemp("", "xs")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	s := &Server{
		Path:  filepath.Join(dir, "xenstored.sock"),
		data:  map[string]string{},
		conns: map[net.Conn]struct{}{},
	}
	ln, err := net.Listen("unix", s.Path)
	if err != nil {
		t.Fatalf("fake xenstored: %v", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and waits for its goroutines.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Abs resolves p as xenstored does: relative paths are under Home.
func Abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return Home + "/" + p
}

// Set stores value at path (relative paths are under Home).
func (s *Server) Set(path, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[Abs(path)] = value
}

// Get returns the value at path (relative paths are under Home).
func (s *Server) Get(path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[Abs(path)]
	return v, ok
}

// SetRaw makes f answer the requests it wants to with raw bytes of its
// own (malformed replies, wrong request ids); f returning nil lets the
// server answer normally. It is safe to call while clients are connected
// (the clients' blocking sockets give the race detector no ordering with
// the server, so the function is handed over under the server's lock).
func (s *Server) SetRaw(f func(req xenstore.Message) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = f
}

// Requests returns the requests received so far and forgets them.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.handle(c)
		}()
	}
}

func (s *Server) handle(c net.Conn) {
	for {
		req, err := xenstore.ReadMessage(c)
		if err != nil {
			return
		}
		s.mu.Lock()
		raw := s.raw
		s.mu.Unlock()
		if raw != nil {
			if b := raw(req); b != nil {
				if _, err := c.Write(b); err != nil {
					return
				}
				continue
			}
		}
		reply := s.answer(req)
		reply.ReqID, reply.TxID = req.ReqID, req.TxID
		b, err := reply.Marshal()
		if err != nil {
			return
		}
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

func errReply(name string) xenstore.Message {
	return xenstore.Message{Type: xenstore.TypeError, Payload: append([]byte(name), 0)}
}

var errBad = errors.New("bad request")

// pathArg splits a NUL-terminated path off the payload.
func pathArg(p []byte) (string, []byte, error) {
	path, rest, ok := bytes.Cut(p, []byte{0})
	if !ok || len(path) == 0 {
		return "", nil, errBad
	}
	return string(path), rest, nil
}

func (s *Server) answer(req xenstore.Message) xenstore.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := xenstore.Message{Type: req.Type, Payload: []byte("OK\x00")}
	switch req.Type {
	case xenstore.TypeRead:
		path, rest, err := pathArg(req.Payload)
		if err != nil || len(rest) != 0 {
			return errReply("EINVAL")
		}
		s.reqs = append(s.reqs, "read "+path)
		v, found := s.data[Abs(path)]
		if !found {
			return errReply("ENOENT")
		}
		return xenstore.Message{Type: req.Type, Payload: []byte(v)}
	case xenstore.TypeWrite:
		path, value, err := pathArg(req.Payload)
		if err != nil {
			return errReply("EINVAL")
		}
		s.reqs = append(s.reqs, "write "+path+" "+string(value))
		s.data[Abs(path)] = string(value)
		return ok
	case xenstore.TypeRm:
		path, _, err := pathArg(req.Payload)
		if err != nil {
			return errReply("EINVAL")
		}
		s.reqs = append(s.reqs, "rm "+path)
		abs := Abs(path)
		for k := range s.data {
			if k == abs || strings.HasPrefix(k, abs+"/") {
				delete(s.data, k)
			}
		}
		return ok
	case xenstore.TypeDirectory:
		path, _, err := pathArg(req.Payload)
		if err != nil {
			return errReply("EINVAL")
		}
		s.reqs = append(s.reqs, "directory "+path)
		prefix := Abs(path) + "/"
		seen := map[string]bool{}
		var out []byte
		for k := range s.data {
			if rest, found := strings.CutPrefix(k, prefix); found {
				child, _, _ := strings.Cut(rest, "/")
				if !seen[child] {
					seen[child] = true
					out = append(append(out, child...), 0)
				}
			}
		}
		return xenstore.Message{Type: req.Type, Payload: out}
	}
	s.reqs = append(s.reqs, "unsupported "+req.Type.String())
	return errReply("EINVAL")
}
