//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestServiceOutputNotRegular: -o never replaces what is not a regular file. A symbolic link
// and a FIFO (standing in for a device such as /dev/null, which a test cannot create without
// root) are refused before any call, and stay what they were; the link's file is untouched.
func TestServiceOutputNotRegular(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 3, ExportDelay: -1})
	real := e.write("real.csv", "keep me\n")
	link := e.path("link.csv")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	fifo := e.path("pipe.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target, want string
		mode         os.FileMode
	}{
		{link, "symbolic link", os.ModeSymlink},
		{fifo, "named pipe", os.ModeNamedPipe},
		{"/dev/null", "character device", os.ModeCharDevice},
	} {
		code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", tc.target)...)
		if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "-o -") {
			t.Errorf("-o %s: exit %d: %s", tc.target, code, errOut)
		}
		st, err := os.Lstat(tc.target)
		if err != nil || st.Mode()&tc.mode == 0 {
			t.Errorf("%s changed: %v %v", tc.target, st.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(real); string(b) != "keep me\n" {
		t.Errorf("the link's file changed: %q", b)
	}
	if n := totalRequests(e.sim.Stats()); n != 0 {
		t.Errorf("refused targets cost %d calls", n)
	}
	// -o - writes through standard output, to be redirected anywhere.
	code, stdout, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", "-")...)
	if code != 0 || !strings.HasPrefix(stdout, "id,Email") {
		t.Errorf("-o -: exit %d: %s", code, errOut)
	}
}
