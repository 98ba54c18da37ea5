package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionStamped builds gcbatch as `make build` does, with a version and commit stamped by
// -ldflags, and checks that `gcbatch version` and `gcbatch --version` both print them with the
// Go version, so a bug report names its build.
func TestVersionStamped(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "gcbatch")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test -X main.commit=0123abcd", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("gcbatch %v: %v\n%s", args, err, out)
		}
		got := strings.TrimSpace(string(out))
		for _, want := range []string{"gcbatch v9.8.7-test", "commit 0123abcd", runtime.Version()} {
			if !strings.Contains(got, want) {
				t.Errorf("gcbatch %v printed %q, want it to contain %q", args, got, want)
			}
		}
	}
}

// TestVersionUnstamped: a build without -ldflags (go install) still names itself.
func TestVersionUnstamped(t *testing.T) {
	ver, rev, goVersion := buildInfo()
	if ver == "" || rev == "" || goVersion != runtime.Version() {
		t.Fatalf("buildInfo() = %q, %q, %q", ver, rev, goVersion)
	}
}
