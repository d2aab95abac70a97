package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/cli/*.md from the --help texts")

// cliPages are the subcommands with a reference page in docs/cli, and a
// line about where the longer prose lives.
var cliPages = []struct {
	cmd, see string
}{
	{"", "README.md"},
	{"serve", "README.md (Running it), docs/config.md, docs/metrics.md"},
	{"replay", "README.md (Recording and replaying)"},
	{"hotplug", "README.md (Xen), docs/hotplug.md"},
	{"route", "README.md (Xen: the route command)"},
	{"status", "docs/metrics.md"},
	{"explain", "docs/explain.md"},
	{"doctor", "docs/doctor.md"},
}

// cliPage renders the reference page of cmd from its --help text.
func cliPage(t *testing.T, cmd, see string) []byte {
	t.Helper()
	args := []string{"--help"}
	title := "proxyarp"
	if cmd != "" {
		args = []string{cmd, "--help"}
		title = "proxyarp " + cmd
	}
	var stdout, stderr bytes.Buffer
	if code := execute(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("%s --help: exit %d, stderr %q", title, code, stderr.String())
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "The text `%s --help` prints (docs/cli is generated from it: `go test ./cmd/proxyarp -run CLIDocs -update`). More: %s.\n\n", title, see)
	fmt.Fprintf(&b, "```\n%s```\n", stdout.String())
	return b.Bytes()
}

// TestCLIDocsMatchHelp keeps docs/cli/*.md equal to what --help prints, so
// the docs cannot drift from the code.
func TestCLIDocsMatchHelp(t *testing.T) {
	for _, p := range cliPages {
		name := "proxyarp.md"
		if p.cmd != "" {
			name = "proxyarp-" + p.cmd + ".md"
		}
		path := filepath.Join("..", "..", "docs", "cli", name)
		want := cliPage(t, p.cmd, p.see)
		if *updateDocs {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (regenerate: go test ./cmd/proxyarp -run CLIDocs -update)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from `%s --help` (regenerate: go test ./cmd/proxyarp -run CLIDocs -update)", path, p.cmd)
		}
	}
}
