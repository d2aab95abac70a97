package main

// serve --config FILE: a TOML file with one key per serve flag (see
// docs/config.md and dist/proxyarp.toml). The file's values are applied as
// if given as flags, before the validation every flag goes through, except
// for the flags given on the command line, which win. Errors name the file
// and the line.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/proxyarp/proxyarp/capture"
	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// configKind is the TOML type a key takes.
type configKind int

const (
	kindString      configKind = iota + 1 // a string
	kindInt                               // an integer
	kindBool                              // true or false
	kindList                              // an array of strings, or one string with commas
	kindIntOrString                       // an integer or a string (sizes, rates)
)

func (k configKind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindInt:
		return "an integer"
	case kindBool:
		return "true or false"
	case kindList:
		return "an array of strings"
	case kindIntOrString:
		return "an integer or a string"
	}
	return "?"
}

// configKeys are the keys of the config file: the serve flags' names
// (except config itself) and their TOML types. TestConfigKeysCoverEveryFlag
// keeps it complete.
var configKeys = map[string]configKind{
	"uplink":         kindString,
	"guest-ifaces":   kindList,
	"allow":          kindList,
	"garp-count":     kindInt,
	"garp-interval":  kindString,
	"garp-rate":      kindInt,
	"rate-limit":     kindIntOrString,
	"max-owned":      kindInt,
	"busy-poll":      kindString,
	"keep-warm":      kindString,
	"read":           kindString,
	"pcap":           kindString,
	"pcap-max-size":  kindIntOrString,
	"pcap-files":     kindInt,
	"metrics-listen": kindList,
	"dry-run":        kindBool,
	"ndp":            kindBool,
	"defend-dad":     kindBool,
	"log-format":     kindString,
	"log-level":      kindString,
}

// repeatable flags take one flag value per array element; the other lists
// are joined with commas.
var repeatable = map[string]bool{"metrics-listen": true}

// configOrigin says where a flag's value came from, for error messages.
type configOrigin struct {
	file  string
	lines map[string]int // key -> line, for the keys applied from the file
}

// name returns how an error names the option: "--allow" for a flag or a
// default, "FILE:LINE: allow" for a value from the file.
func (o *configOrigin) name(flagName string) string {
	if o != nil {
		if line, ok := o.lines[flagName]; ok {
			return fmt.Sprintf("%s:%d: %s", o.file, line, flagName)
		}
	}
	return "--" + flagName
}

// applyConfigFile reads path and sets, through fs.Set, every key whose flag
// was not given on the command line (cmdline). It returns where each
// applied value came from. Errors are usage errors naming file and line.
func applyConfigFile(path string, fs *flag.FlagSet, cmdline map[string]bool) (*configOrigin, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("serve: --config: %v", err)
	}
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, usagef("serve: %s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, usagef("serve: %s: %v", path, err)
	}
	origin := &configOrigin{file: path, lines: map[string]int{}}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	// Report the first problem in file order.
	slices.SortFunc(keys, func(a, b string) int { return keyLine(data, a) - keyLine(data, b) })
	for _, key := range keys {
		line := keyLine(data, key)
		at := fmt.Sprintf("%s:%d", path, line)
		kind, ok := configKeys[key]
		if !ok {
			if _, table := doc[key].(map[string]any); table {
				return nil, usagef("serve: %s: unknown table %q (the config file has top-level keys only; see docs/config.md)", at, key)
			}
			return nil, usagef("serve: %s: unknown key %q (see docs/config.md)", at, key)
		}
		vals, err := flagValues(key, kind, doc[key])
		if err != nil {
			return nil, usagef("serve: %s: %s: %v", at, key, err)
		}
		if cmdline[key] {
			continue // the command line wins
		}
		origin.lines[key] = line
		for _, v := range vals {
			if err := fs.Set(key, v); err != nil {
				return nil, usagef("serve: %s: %s: %v", at, key, err)
			}
		}
	}
	return origin, nil
}

// flagValues converts a TOML value to the flag values it stands for.
func flagValues(key string, kind configKind, v any) ([]string, error) {
	bad := func() ([]string, error) { return nil, fmt.Errorf("want %s, not %s", kind, tomlType(v)) }
	switch x := v.(type) {
	case string:
		if kind == kindString || kind == kindIntOrString {
			return []string{x}, nil
		}
		if kind == kindList {
			if repeatable[key] {
				return []string{x}, nil
			}
			return []string{x}, nil
		}
	case int64:
		if kind == kindInt || kind == kindIntOrString {
			return []string{strconv.FormatInt(x, 10)}, nil
		}
	case bool:
		if kind == kindBool {
			return []string{strconv.FormatBool(x)}, nil
		}
	case []any:
		if kind != kindList {
			return bad()
		}
		var ss []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want an array of strings, found %s in it", tomlType(e))
			}
			ss = append(ss, s)
		}
		if repeatable[key] {
			return ss, nil
		}
		return []string{strings.Join(ss, ",")}, nil
	}
	return bad()
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// keyLine finds the line of a top-level key's assignment in a TOML file
// (BurntSushi/toml does not report key positions): the first line that
// starts with the key, bare or quoted, followed by "=". 0 if not found.
func keyLine(data []byte, key string) int {
	q := regexp.QuoteMeta(key)
	re := regexp.MustCompile(`^\s*(?:` + q + `|"` + q + `"|'` + q + `')\s*=`)
	for i, l := range strings.Split(string(data), "\n") {
		if re.MatchString(l) {
			return i + 1
		}
	}
	// A table header, [key].
	re = regexp.MustCompile(`^\s*\[+\s*(?:` + q + `|"` + q + `")\s*[\].]`)
	for i, l := range strings.Split(string(data), "\n") {
		if re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

// parseRate parses --rate-limit: "N/s" or "N" replies per second, N > 0;
// "0" or "off" turn the limit off.
func parseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "off" || t == "0" || t == "0/s" {
		return 0, nil
	}
	t = strings.TrimSuffix(t, "/s")
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 || n > 1e9 || n != n {
		return 0, fmt.Errorf("%q: want N/s with N > 0, such as 50/s, or off", s)
	}
	return n, nil
}

// rateString formats a rate limit as --rate-limit takes it.
func rateString(r float64) string {
	if r <= 0 {
		return "off"
	}
	return strconv.FormatFloat(r, 'f', -1, 64) + "/s"
}

// reloader re-reads --config on SIGHUP and applies what can change while
// serve runs: the guest globs and allow list (the watcher re-evaluates
// every address; Decide's allow list is swapped), gratuitous ARP settings,
// the rate limit and the log level. Other changed keys are named in a log
// line and wait for a restart. A file that does not parse or validate
// changes nothing: one line says why.
type reloader struct {
	args    []string // serve's command line: flags there still win
	cur     serveConfig
	log     *slog.Logger
	level   *slog.LevelVar
	watcher *routes.Watcher
	resp    *responder.Responder
	// rec, when capturing, records the new --guest-ifaces and --allow.
	rec *capture.Recorder
}

func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload()
		}
	}
}

func (r *reloader) reload() {
	if r.cur.configPath == "" {
		r.log.Warn("SIGHUP: serve has no --config file to re-read; nothing changed")
		return
	}
	next, err := parseServe(r.args, io.Discard)
	if err != nil {
		r.log.Error("config reload failed, keeping the running config", "file", r.cur.configPath,
			"err", strings.TrimPrefix(err.Error(), "serve: "))
		return
	}
	changed, restart := r.apply(next)
	attrs := []any{"file", r.cur.configPath}
	if len(changed) == 0 {
		attrs = append(attrs, "changed", "nothing")
	} else {
		keys := make([]string, 0, len(changed))
		for _, c := range changed {
			keys = append(keys, c.key)
		}
		attrs = append(attrs, "changed", strings.Join(keys, ","))
		for _, c := range changed {
			attrs = append(attrs, strings.ReplaceAll(c.key, "-", "_"), c.value)
		}
	}
	r.log.Info("config reloaded", attrs...)
	if len(restart) > 0 {
		r.log.Warn("config changes that need a restart, not applied", "file", r.cur.configPath, "keys", strings.Join(restart, ","))
	}
}

type change struct{ key, value string }

// apply applies next's live settings and returns what changed, and the
// changed keys that need a restart. r.cur takes the applied values.
func (r *reloader) apply(next serveConfig) (changed []change, restart []string) {
	cur := &r.cur
	if next.guests.String() != cur.guests.String() || prefixList(next.allow) != prefixList(cur.allow) {
		if next.guests.String() != cur.guests.String() {
			changed = append(changed, change{"guest-ifaces", next.guests.String()})
		}
		if prefixList(next.allow) != prefixList(cur.allow) {
			changed = append(changed, change{"allow", prefixList(next.allow)})
		}
		// Decide's allow list at once, the owned set right after.
		r.resp.SetConfig(&responder.Config{Allow: next.allow, DefendDAD: cur.defendDAD})
		r.watcher.Reconfigure(next.guests, next.allow)
		if r.rec != nil {
			r.rec.Reconfigure(next.guests, next.allow)
		}
		cur.guests, cur.allow = next.guests, next.allow
	}
	if next.defendDAD != cur.defendDAD {
		changed = append(changed, change{"defend-dad", strconv.FormatBool(next.defendDAD)})
		r.resp.SetConfig(&responder.Config{Allow: cur.allow, DefendDAD: next.defendDAD})
		cur.defendDAD = next.defendDAD
	}
	if next.announce != cur.announce {
		a := next.announce
		changed = append(changed, change{"garp", fmt.Sprintf("count=%d interval=%v rate=%d", a.Count, a.Interval, a.Rate)})
		r.resp.SetAnnouncements(a)
		cur.announce = a
	}
	if next.rateLimit != cur.rateLimit {
		changed = append(changed, change{"rate-limit", rateString(next.rateLimit)})
		r.resp.SetRateLimit(next.rateLimit)
		cur.rateLimit = next.rateLimit
	}
	if next.logLevel != cur.logLevel {
		changed = append(changed, change{"log-level", next.logLevel.String()})
		r.level.Set(next.logLevel)
		cur.logLevel = next.logLevel
	}
	for _, k := range []struct {
		key  string
		diff bool
	}{
		{"uplink", next.uplink != cur.uplink},
		{"log-format", next.logFormat != cur.logFormat},
		{"pcap", next.pcap.Path != cur.pcap.Path || next.pcap.MaxSize != cur.pcap.MaxSize || next.pcap.Files != cur.pcap.Files},
		{"metrics-listen", !slices.Equal(next.metricsListen, cur.metricsListen)},
		{"dry-run", next.dryRun != cur.dryRun},
		{"max-owned", next.maxOwned != cur.maxOwned},
		{"busy-poll", next.busyPoll != cur.busyPoll},
		{"keep-warm", next.keepWarm != cur.keepWarm},
		{"read", next.ring != cur.ring},
		{"ndp", next.ndp != cur.ndp},
	} {
		if k.diff {
			restart = append(restart, k.key)
		}
	}
	return changed, restart
}
