package routes

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseGlobs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // String() of the result
		wantErr string // substring of the error, "" for none
		badPat  bool   // error must wrap path.ErrBadPattern
	}{
		{name: "the default globs parse", in: DefaultGlobs, want: "vif*,tap*"},
		{name: "spaces around entries are ignored", in: " vif* , tap*", want: "vif*,tap*"},
		{name: "a single exact name is a glob too", in: "eth9", want: "eth9"},
		{name: "an empty string is rejected", in: "", wantErr: "empty glob"},
		{name: "an empty entry is rejected", in: "vif*,,tap*", wantErr: "empty glob"},
		{name: "a trailing comma is rejected", in: "vif*,", wantErr: "empty glob"},
		{name: "an unclosed bracket is rejected and named", in: "vif*,tap[", wantErr: `glob "tap["`, badPat: true},
		{name: "a trailing backslash is rejected and named", in: `vif\`, wantErr: `glob "vif\\"`, badPat: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGlobs(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseGlobs(%q): %v", tt.in, err)
				}
				if diff := cmp.Diff(tt.want, g.String()); diff != "" {
					t.Errorf("String() (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseGlobs(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			if got := errors.Is(err, path.ErrBadPattern); got != tt.badPat {
				t.Errorf("errors.Is(err, path.ErrBadPattern) = %v, want %v", got, tt.badPat)
			}
		})
	}
}

func TestGlobsMatch(t *testing.T) {
	g, err := ParseGlobs("vif*,tap*,kvm-?")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dev  string
		want bool
	}{
		{name: "a Xen PV vif matches", dev: "vif12.0", want: true},
		{name: "a Xen HVM emulated tap matches", dev: "vif12.0-emu", want: true},
		{name: "a tap matches", dev: "tap3", want: true},
		{name: "a question mark matches one character", dev: "kvm-1", want: true},
		{name: "a question mark does not match two", dev: "kvm-12", want: false},
		{name: "the uplink does not match", dev: "eth0", want: false},
		{name: "a prefix in the middle does not match", dev: "xvif1", want: false},
		{name: "an empty name does not match", dev: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.Match(tt.dev); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.dev, got, tt.want)
			}
		})
	}
	if (Globs{}).Match("vif1.0") {
		t.Error("the zero Globs matched vif1.0, want no match")
	}
}

func TestGlobsText(t *testing.T) {
	var g Globs
	if err := g.UnmarshalText([]byte("vif*, tap*")); err != nil {
		t.Fatal(err)
	}
	b, err := g.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("vif*,tap*", string(b)); diff != "" {
		t.Errorf("MarshalText (-want +got):\n%s", diff)
	}
	if err := g.UnmarshalText([]byte("tap[")); err == nil {
		t.Error("UnmarshalText(tap[) succeeded, want an error")
	}
	if diff := cmp.Diff("vif*,tap*", g.String()); diff != "" {
		t.Errorf("a failed UnmarshalText changed the globs (-want +got):\n%s", diff)
	}
}
