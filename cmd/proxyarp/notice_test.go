package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoticeListsLinkedModules checks that NOTICE names every third-party
// module linked into the binary, with its version.
func TestNoticeListsLinkedModules(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: the go tool is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	notice, err := os.ReadFile("../../NOTICE")
	if err != nil {
		t.Fatalf("read NOTICE: %v", err)
	}
	fields := strings.Fields(string(notice))
	has := map[string]bool{}
	for i := 0; i+1 < len(fields); i++ {
		has[fields[i]+" "+fields[i+1]] = true
	}
	seen := map[string]bool{}
	for _, mod := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if mod == "" || seen[mod] {
			continue
		}
		seen[mod] = true
		if !has[mod] {
			t.Errorf("NOTICE does not list %s, which is linked into proxyarp", mod)
		}
	}
	if len(seen) == 0 {
		t.Fatal("go list found no third-party modules; the test is not looking at the right package")
	}
}
