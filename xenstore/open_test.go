package xenstore

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestXenstoreOpenFindsXenstored(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	oldSockets, oldDevice := DefaultSockets, DefaultDevice
	t.Cleanup(func() { DefaultSockets, DefaultDevice = oldSockets, oldDevice })
	DefaultSockets = []string{filepath.Join(dir, "missing"), sock}
	DefaultDevice = filepath.Join(dir, "xenbus")

	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	found := func(string) (string, error) { return "/usr/bin/xenstore-x", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	tests := []struct {
		name     string
		env      map[string]string
		sockets  []string
		lookPath func(string) (string, error)
		want     string // "client", "commands", or an error substring
	}{
		{name: "XENSTORED_PATH is used when set", env: map[string]string{"XENSTORED_PATH": sock}, sockets: []string{}, lookPath: missing, want: "client"},
		{name: "a bad XENSTORED_PATH is an error", env: map[string]string{"XENSTORED_PATH": filepath.Join(dir, "nope")}, lookPath: found, want: "no such file"},
		{name: "the first existing default socket is used", lookPath: found, want: "client"},
		{name: "the commands are the fallback when no socket exists", sockets: []string{}, lookPath: found, want: "commands"},
		{name: "no xenstore at all is an error", sockets: []string{}, lookPath: missing, want: "no xenstored found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			DefaultSockets = []string{filepath.Join(dir, "missing"), sock}
			if tt.sockets != nil {
				DefaultSockets = tt.sockets
			}
			s, err := open(env(tt.env), tt.lookPath)
			got := ""
			switch s.(type) {
			case *Client:
				got = "client"
			case *Commands:
				got = "commands"
			}
			if err != nil {
				got = err.Error()
			} else {
				s.Close()
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("open = %q, want %q", got, tt.want)
			}
		})
	}
}
