package xenstore_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxyarp/proxyarp/xenstore"
	"github.com/proxyarp/proxyarp/xenstore/xenstoretest"
)

func dial(t *testing.T, s *xenstoretest.Server) *xenstore.Client {
	t.Helper()
	c, err := xenstore.Dial(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestXenstoreClientReadsAndWritesTheFakeServer(t *testing.T) {
	s := xenstoretest.NewServer(t)
	s.Set("/local/domain/0/backend/vif/1/0/ip", "192.0.2.2 192.0.2.3")
	c := dial(t, s)

	got, err := c.Read("backend/vif/1/0/ip")
	if err != nil {
		t.Fatal(err)
	}
	if got != "192.0.2.2 192.0.2.3" {
		t.Errorf("Read of a relative path = %q, want the value under /local/domain/0", got)
	}
	if err := c.Write("backend/vif/1/0/hotplug-status", "connected"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("/local/domain/0/backend/vif/1/0/hotplug-status"); v != "connected" {
		t.Errorf("hotplug-status = %q after Write, want connected", v)
	}
	if err := c.Write("/local/domain/0/backend/vif/1/0/empty", ""); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Read("/local/domain/0/backend/vif/1/0/empty"); err != nil || got != "" {
		t.Errorf("Read of an empty value = %q, %v; want \"\", nil", got, err)
	}
	_, err = c.Read("backend/vif/1/0/vifname")
	if !errors.Is(err, xenstore.ErrNotFound) {
		t.Errorf("Read of a missing path = %v, want ErrNotFound", err)
	}
	want := []string{
		"read backend/vif/1/0/ip",
		"write backend/vif/1/0/hotplug-status connected",
		"write /local/domain/0/backend/vif/1/0/empty ",
		"read /local/domain/0/backend/vif/1/0/empty",
		"read backend/vif/1/0/vifname",
	}
	if diff := cmp.Diff(want, s.Requests()); diff != "" {
		t.Errorf("requests as the server saw them (-want +got):\n%s", diff)
	}
}

func raw(typ xenstore.Type, reqID uint32, payload []byte, announce int) []byte {
	b := make([]byte, xenstore.HeaderSize)
	binary.LittleEndian.PutUint32(b[0:], uint32(typ))
	binary.LittleEndian.PutUint32(b[4:], reqID)
	binary.LittleEndian.PutUint32(b[12:], uint32(announce))
	return append(b, payload...)
}

func TestXenstoreClientRejectsBadReplies(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(req xenstore.Message) []byte
		wantErr string
	}{
		{
			name:    "a reply to another request is an error",
			reply:   func(req xenstore.Message) []byte { return raw(xenstore.TypeRead, req.ReqID+7, []byte("x"), 1) },
			wantErr: "while waiting for",
		},
		{
			name:    "a payload longer than 4096 bytes is an error",
			reply:   func(req xenstore.Message) []byte { return raw(xenstore.TypeRead, req.ReqID, nil, 5000) },
			wantErr: "payload of 5000 bytes (max 4096)",
		},
		{
			name:    "an error reply is reported by its errno name",
			reply:   func(req xenstore.Message) []byte { return raw(xenstore.TypeError, req.ReqID, []byte("EACCES\x00"), 7) },
			wantErr: "xenstored error EACCES",
		},
		{
			name:    "an error reply without its NUL is reported as malformed",
			reply:   func(req xenstore.Message) []byte { return raw(xenstore.TypeError, req.ReqID, []byte("EACCES"), 6) },
			wantErr: "xenstored error EACCES (malformed reply)",
		},
		{
			name:    "a reply of another type is an error",
			reply:   func(req xenstore.Message) []byte { return raw(xenstore.TypeWrite, req.ReqID, []byte("OK\x00"), 3) },
			wantErr: "XS_WRITE reply to XS_READ",
		},
		{
			name:    "a connection closed mid-reply is an error",
			reply:   func(req xenstore.Message) []byte { return raw(xenstore.TypeRead, req.ReqID, []byte("ab"), 10)[:20] },
			wantErr: "read XS_READ payload",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := xenstoretest.NewServer(t)
			s.SetRaw(tt.reply)
			c := dial(t, s)
			c.Timeout = 500 * time.Millisecond
			_, err := c.Read("backend/vif/1/0/ip")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Read = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestXenstoreClientSkipsWatchEvents(t *testing.T) {
	s := xenstoretest.NewServer(t)
	s.SetRaw(func(req xenstore.Message) []byte {
		ev := raw(xenstore.TypeWatchEvent, 0, []byte("a\x00tok\x00"), 6)
		return append(ev, raw(xenstore.TypeRead, req.ReqID, []byte("v"), 1)...)
	})
	got, err := dial(t, s).Read("x")
	if err != nil || got != "v" {
		t.Errorf("Read with a watch event first = %q, %v; want \"v\", nil", got, err)
	}
}

func TestXenstoreCommandsFallback(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := &xenstore.Commands{
		ReadCommand:  write("xenstore-read", `grep "^$1=" `+store+` | tail -n1 | cut -d= -f2- | grep . || { echo "couldn't read path $1" >&2; exit 1; }`+"\n"),
		WriteCommand: write("xenstore-write", `echo "$1=$2" >> `+store+"\n"),
	}
	if err := c.Write("backend/vif/1/0/hotplug-status", "connected"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Read("backend/vif/1/0/hotplug-status")
	if err != nil || got != "connected" {
		t.Errorf("Read after Write = %q, %v; want connected", got, err)
	}
	if _, err := c.Read("backend/vif/1/0/ip"); !errors.Is(err, xenstore.ErrNotFound) {
		t.Errorf("Read of a missing key = %v, want ErrNotFound", err)
	}
}

func TestXenstoreReadBatchSendsAllRequestsAtOnce(t *testing.T) {
	s := xenstoretest.NewServer(t)
	s.Set("backend/vif/1/0/ip", "192.0.2.2")
	vals, errs := dial(t, s).ReadBatch([]string{"backend/vif/1/0/vifname", "backend/vif/1/0/ip", ""})
	if vals[1] != "192.0.2.2" || errs[1] != nil {
		t.Errorf("ReadBatch ip = %q, %v; want 192.0.2.2, nil", vals[1], errs[1])
	}
	if !errors.Is(errs[0], xenstore.ErrNotFound) {
		t.Errorf("ReadBatch of a missing key = %v, want ErrNotFound", errs[0])
	}
	if errs[2] == nil || !strings.Contains(errs[2].Error(), "bad path") {
		t.Errorf("ReadBatch of an empty path = %v, want a bad path error (not sent)", errs[2])
	}
	want := []string{"read backend/vif/1/0/vifname", "read backend/vif/1/0/ip"}
	if diff := cmp.Diff(want, s.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
