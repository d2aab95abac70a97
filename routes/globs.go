package routes

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// DefaultGlobs are the guest interface globs used when none are given:
// Xen PV vifs and Xen HVM / KVM taps.
const DefaultGlobs = "vif*,tap*"

// Globs is a validated list of shell globs (path.Match syntax) that name
// guest interfaces. The zero value matches nothing.
//
// Globs implements encoding.TextMarshaler and TextUnmarshaler, so it can be
// used with flag.TextVar.
type Globs struct {
	patterns []string
}

// ParseGlobs parses a comma-separated list of shell globs such as
// "vif*,tap*". Spaces around entries are ignored. An empty entry or a
// malformed pattern is an error that names it.
func ParseGlobs(s string) (Globs, error) {
	var g Globs
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			return Globs{}, fmt.Errorf("parse guest globs %q: empty glob", s)
		}
		// path.Match checks the whole pattern and reports
		// ErrBadPattern whatever the name.
		if _, err := path.Match(p, ""); err != nil {
			return Globs{}, fmt.Errorf("parse guest globs %q: glob %q: %w", s, p, err)
		}
		g.patterns = append(g.patterns, p)
	}
	return g, nil
}

// Match reports whether the interface name matches one of the globs.
func (g Globs) Match(name string) bool {
	for _, p := range g.patterns {
		// Patterns were validated by ParseGlobs: no error here.
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// IsZero reports whether g holds no globs.
func (g Globs) IsZero() bool { return len(g.patterns) == 0 }

// String returns the globs in the form ParseGlobs accepts.
func (g Globs) String() string { return strings.Join(g.patterns, ",") }

// MarshalText implements encoding.TextMarshaler.
func (g Globs) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseGlobs.
func (g *Globs) UnmarshalText(b []byte) error {
	if g == nil {
		return errors.New("routes: UnmarshalText on nil *Globs")
	}
	parsed, err := ParseGlobs(string(b))
	if err != nil {
		return err
	}
	*g = parsed
	return nil
}

// defaultGlobs is DefaultGlobs parsed.
var defaultGlobs = func() Globs {
	g, err := ParseGlobs(DefaultGlobs)
	if err != nil {
		panic(err)
	}
	return g
}()
