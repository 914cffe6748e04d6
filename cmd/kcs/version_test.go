package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// `kcs version` names the commit the binary was built from, its time and
// the Go version. The end-to-end binary is built as the environment says
// (GOFLAGS may hold -buildvcs=false); if it has no commit, the test builds
// one with -buildvcs=true, and skips where that cannot work (no git, not a
// checkout).
func TestVersionNamesCommit(t *testing.T) {
	bin := kcsBin
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("kcs version: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "commit:      unknown") {
		bin = filepath.Join(t.TempDir(), "kcs")
		if b, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Skipf("no version control information for the build (not a git checkout, or no git): %v\n%s", err, b)
		}
		if out, err = exec.Command(bin, "version").CombinedOutput(); err != nil {
			t.Fatalf("kcs version: %v\n%s", err, out)
		}
	}
	t.Logf("kcs version:\n%s", out)
	for _, re := range []string{
		`(?m)^kcs \S+$`,
		`(?m)^commit: +[0-9a-f]{40}(\+dirty \(built with uncommitted changes\))?$`,
		`(?m)^commit time: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`,
		`(?m)^go: +` + regexp.QuoteMeta(runtime.Version()) + ` ` + runtime.GOOS + `/` + runtime.GOARCH + `$`,
	} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("kcs version does not match %s:\n%s", re, out)
		}
	}
}
