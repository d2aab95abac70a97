package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "proxyarp.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigKeysCoverEveryFlag(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseServe([]string{"--help"}, &help); err != errHelp {
		t.Fatalf("parseServe --help: %v", err)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  --([a-z-]+)`).FindAllStringSubmatch(help.String(), -1) {
		if m[1] != "config" {
			flags = append(flags, m[1])
		}
	}
	var keys []string
	for k := range configKeys {
		keys = append(keys, k)
	}
	slices.Sort(flags)
	slices.Sort(keys)
	if !slices.Equal(flags, keys) {
		t.Errorf("serve flags %v\nconfig keys %v", flags, keys)
	}
	// And docs/config.md and dist/proxyarp.toml document every key.
	for _, f := range []string{"../../docs/config.md", "../../dist/proxyarp.toml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if !regexp.MustCompile(`(?m)^[#\s|` + "`" + `]*` + regexp.QuoteMeta(k) + `\b`).Match(b) {
				t.Errorf("%s does not document key %q", f, k)
			}
		}
	}
}

func TestDistConfigExampleParses(t *testing.T) {
	// The example is all comments but the uplink: it must parse and
	// leave the defaults.
	cfg, err := parseServe([]string{"--config", "../../dist/proxyarp.toml"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.uplink != "eth0" || cfg.announce != responder.DefaultAnnounce || cfg.maxOwned != routes.DefaultMaxOwned || cfg.rateLimit != 0 {
		t.Errorf("cfg from the example = %+v", cfg)
	}
}

func TestConfigFileSetsEveryFlag(t *testing.T) {
	p := writeConfig(t, `# every key
uplink = "eth0"
guest-ifaces = ["vif*", "tap1*"]
allow = ["192.0.2.0/25", "198.51.100.0/24"]
garp-count = 5
garp-interval = "500ms"
garp-rate = 20
rate-limit = "50/s"
max-owned = 4096
pcap = "/tmp/x.pcapng"
pcap-max-size = "10M"
pcap-files = 3
metrics-listen = ["127.0.0.1:9520", "unix:/run/proxyarp/proxyarp.sock"]
dry-run = true
log-format = "json"
log-level = "debug"
`)
	cfg, err := parseServe([]string{"--config", p}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.uplink != "eth0" || cfg.guests.String() != "vif*,tap1*" || prefixList(cfg.allow) != "192.0.2.0/25,198.51.100.0/24" ||
		cfg.announce != (responder.AnnounceConfig{Count: 5, Interval: 500 * time.Millisecond, Rate: 20}) ||
		cfg.rateLimit != 50 || cfg.maxOwned != 4096 || cfg.pcap.Path != "/tmp/x.pcapng" || cfg.pcap.MaxSize != 10<<20 ||
		cfg.pcap.Files != 3 || len(cfg.metricsListen) != 2 || !cfg.dryRun || cfg.logFormat != "json" || cfg.logLevel != slog.LevelDebug {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestCommandLineWinsOverConfigFile(t *testing.T) {
	p := writeConfig(t, "uplink = \"eth0\"\nallow = \"192.0.2.0/24\"\nmetrics-listen = [\"127.0.0.1:1\"]\nrate-limit = 10\n")
	cfg, err := parseServe([]string{"--allow", "203.0.113.0/24", "--config", p, "--metrics-listen", "127.0.0.1:2", "--uplink", "eth9"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.uplink != "eth9" || prefixList(cfg.allow) != "203.0.113.0/24" || !slices.Equal(cfg.metricsListen, []string{"127.0.0.1:2"}) || cfg.rateLimit != 10 {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestBadConfigFileIsAUsageErrorNamingFileAndLine(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"an unknown key", "uplink = \"eth0\"\n\nfrobnicate = 1\n", `:3: unknown key "frobnicate"`},
		{"a table", "uplink = \"eth0\"\n[metrics]\nlisten = \"x\"\n", `:2: unknown table "metrics"`},
		{"a syntax error", "uplink = \"eth0\"\nallow = [\"192.0.2.0/24\"\n", `:2: expected a comma`},
		{"a wrong type", "uplink = \"eth0\"\ngarp-count = \"three\"\n", `:2: garp-count: want an integer, not a string`},
		{"a bad prefix", "uplink = \"eth0\"\n# comment\nallow = [\"192.0.2.0/24\", \"192.0.2.999/32\"]\n", `:3: allow: bad prefix "192.0.2.999/32"`},
		{"a bad duration", "uplink = \"eth0\"\ngarp-interval = \"soon\"\n", `:2: garp-interval: `},
		{"a bad rate", "uplink = \"eth0\"\nrate-limit = \"fast\"\n", `:2: rate-limit: `},
		{"a bad level", "uplink = \"eth0\"\n  log-level = \"loud\"\n", `:2: log-level "loud"`},
		{"a zero cap", "uplink = \"eth0\"\nmax-owned = 0\n", `:2: max-owned 0`},
		{"an array of numbers", "uplink = \"eth0\"\nallow = [1, 2]\n", `:2: allow: want an array of strings`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.text)
			_, err := parseServe([]string{"--config", p}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), p+tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, p+tt.want)
			}
			var stdout, stderr bytes.Buffer
			if code := execute([]string{"serve", "--config", p}, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if lines := strings.Count(stderr.String(), "\n"); lines != 1 {
				t.Errorf("stderr has %d lines, want 1:\n%s", lines, stderr.String())
			}
		})
	}
	if _, err := parseServe([]string{"--config", "/nonexistent/proxyarp.toml", "--uplink", "eth0"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/proxyarp.toml") {
		t.Errorf("missing file: error = %v", err)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"50/s": 50, "50": 50, "0.5/s": 0.5, "off": 0, "0": 0} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1/s", "fast", "10/m", "NaN"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) succeeded", in)
		}
	}
	for _, args := range [][]string{{"--rate-limit", "100/s"}, {"--rate-limit=off"}} {
		if _, err := parseServe(append([]string{"--uplink", "eth0"}, args...), &bytes.Buffer{}); err != nil {
			t.Errorf("parseServe %v: %v", args, err)
		}
	}
}

func TestReloadAppliesLiveSettingsAndKeepsTheOldOnError(t *testing.T) {
	p := writeConfig(t, "uplink = \"eth0\"\nallow = \"192.0.2.0/24\"\n")
	args := []string{"--config", p, "--garp-count", "2"}
	cfg, err := parseServe(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	level := new(slog.LevelVar)
	resp := &responder.Responder{Config: &responder.Config{Allow: cfg.allow}, Announcements: cfg.announce}
	w := &routes.Watcher{Uplink: "eth0"}
	r := &reloader{args: args, cur: cfg, log: slog.New(slog.NewTextHandler(&logs, nil)), level: level, watcher: w, resp: resp}

	// Allow narrowed, rate limit and log level set, garp-count changed in
	// the file but given on the command line, uplink changed.
	if err := os.WriteFile(p, []byte("uplink = \"eth1\"\nallow = \"192.0.2.0/28\"\nrate-limit = \"5/s\"\nlog-level = \"debug\"\ngarp-count = 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if got := prefixList(resp.CurrentConfig().Allow); got != "192.0.2.0/28" {
		t.Errorf("Decide's allow after reload = %s", got)
	}
	if level.Level() != slog.LevelDebug || r.cur.rateLimit != 5 || r.cur.announce.Count != 2 || r.cur.uplink != "eth0" {
		t.Errorf("after reload: level %v, cur %+v", level.Level(), r.cur)
	}
	out := logs.String()
	for _, want := range []string{`msg="config reloaded"`, `changed=allow,rate-limit,log-level`, `allow=192.0.2.0/28`, `rate_limit=5/s`,
		`msg="config changes that need a restart, not applied"`, `keys=uplink`} {
		if !strings.Contains(out, want) {
			t.Errorf("reload log lacks %q:\n%s", want, out)
		}
	}

	// A broken file changes nothing and says why in one line.
	if err := os.WriteFile(p, []byte("uplink = \"eth0\"\nallow = \"nonsense\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(strings.Split(strings.TrimSpace(logs.String()), "\n"))
	r.reload()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != before+1 || !strings.Contains(lines[len(lines)-1], `msg="config reload failed, keeping the running config"`) ||
		!strings.Contains(lines[len(lines)-1], p+":2: allow") {
		t.Errorf("bad reload logged:\n%s", strings.Join(lines[before:], "\n"))
	}
	if got := prefixList(resp.CurrentConfig().Allow); got != "192.0.2.0/28" || level.Level() != slog.LevelDebug {
		t.Errorf("a bad file changed the running config: allow %s, level %v", got, level.Level())
	}
}

func TestIPv6KeysFromFileAndReload(t *testing.T) {
	p := writeConfig(t, "uplink = \"eth0\"\nallow = [\"2001:db8:1::/64\"]\nndp = true\ndefend-dad = false\n")
	args := []string{"--config", p}
	cfg, err := parseServe(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ndp || cfg.defendDAD || prefixList(cfg.allow) != "2001:db8:1::/64" {
		t.Fatalf("parsed ndp %v defend-dad %v allow %s; want true false 2001:db8:1::/64", cfg.ndp, cfg.defendDAD, prefixList(cfg.allow))
	}
	var logs syncBuffer
	resp := &responder.Responder{Config: cfg.responderConfig()}
	r := &reloader{args: args, cur: cfg, log: slog.New(slog.NewTextHandler(&logs, nil)), level: new(slog.LevelVar), watcher: &routes.Watcher{Uplink: "eth0"}, resp: resp}
	if err := os.WriteFile(p, []byte("uplink = \"eth0\"\nallow = [\"2001:db8:1::/64\"]\nndp = false\ndefend-dad = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.reload()
	if c := resp.CurrentConfig(); !c.DefendDAD || prefixList(c.Allow) != "2001:db8:1::/64" {
		t.Errorf("after reload Decide's config = %+v, want DefendDAD and the allow list kept", c)
	}
	if !r.cur.ndp {
		t.Error("ndp changed without a restart")
	}
	for _, want := range []string{`changed=defend-dad`, `defend_dad=true`, `keys=ndp`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("reload log lacks %q:\n%s", want, logs.String())
		}
	}
}
