// Command fakexenstored is a stand-in for xenstored for bench/hotplug.sh:
// it listens on a unix socket, speaks the xenstore wire protocol and
// answers XS_READ, XS_WRITE and XS_RM from an in-memory tree, so that
// `proxyarp hotplug` can be timed on a machine without Xen.
//
//	fakexenstored -socket PATH [KEY=VALUE...]
//
// Relative keys are under /local/domain/0, as xenstored resolves dom0's.
// It stops on SIGINT or SIGTERM and removes the socket. Not for production:
// no permissions, no transactions, no watches.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/proxyarp/proxyarp/xenstore"
)

const home = "/local/domain/0"

type tree struct {
	mu   sync.Mutex
	data map[string]string
}

func abs(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return home + "/" + p
}

func errReply(name string) xenstore.Message {
	return xenstore.Message{Type: xenstore.TypeError, Payload: append([]byte(name), 0)}
}

func (t *tree) answer(req xenstore.Message) xenstore.Message {
	path, rest, ok := bytes.Cut(req.Payload, []byte{0})
	if !ok || len(path) == 0 {
		return errReply("EINVAL")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch req.Type {
	case xenstore.TypeRead:
		v, found := t.data[abs(string(path))]
		if !found {
			return errReply("ENOENT")
		}
		return xenstore.Message{Type: req.Type, Payload: []byte(v)}
	case xenstore.TypeWrite:
		t.data[abs(string(path))] = string(rest)
	case xenstore.TypeRm:
		delete(t.data, abs(string(path)))
	default:
		return errReply("EINVAL")
	}
	return xenstore.Message{Type: req.Type, Payload: []byte("OK\x00")}
}

func (t *tree) serve(c net.Conn) {
	defer c.Close()
	for {
		req, err := xenstore.ReadMessage(c)
		if err != nil {
			return
		}
		reply := t.answer(req)
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

func main() {
	socket := flag.String("socket", "", "unix socket to listen on (required)")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "fakexenstored: -socket is required")
		os.Exit(2)
	}
	t := &tree{data: map[string]string{}}
	for _, kv := range flag.Args() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(os.Stderr, "fakexenstored: want KEY=VALUE, got %q\n", kv)
			os.Exit(2)
		}
		t.data[abs(k)] = v
	}
	ln, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakexenstored:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		ln.Close() // also removes the socket file
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			fmt.Fprintln(os.Stderr, "fakexenstored:", err)
			os.Exit(1)
		}
		go t.serve(c)
	}
}
