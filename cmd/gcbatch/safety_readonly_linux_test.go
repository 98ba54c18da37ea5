//go:build linux

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestSafetyReadOnlyState: the state file of a finished mailing sits on a file system that is
// then mounted read-only. The rerun must say the file cannot be written, not that it is
// damaged: the advice for damage (move the file aside and start afresh) would send every
// message again. Nothing is sent, exit 2, and `runs list` still reads the file.
func TestSafetyReadOnlyState(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	disk := e.path("disk")
	if err := os.Mkdir(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, disk, "4m")
	args, _ := messagesImport(t, e, 50)
	state := e.path("disk", "state.db")
	withState := func(more ...string) []string { return append([]string{"--state", state}, more...) }
	if code, out, errOut := e.gcbatch(t.Context(), withState(args...)...); code != 0 {
		t.Fatalf("import onto the tmpfs: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := syscall.Mount("tmpfs", disk, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting read-only: %v", err)
	}
	sent := e.sim.Stats().MessagesSent
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"existing file", withState(args...)},
		{"new file", append([]string{"--state", e.path("disk", "new.db")}, args...)},
	} {
		code, out, errOut := e.gcbatch(t.Context(), tc.args...)
		checkNoCrash(t, tc.name, out+errOut)
		if code != 2 || e.sim.Stats().MessagesSent != sent {
			t.Fatalf("%s on a read-only file system: exit %d, %d messages sent\n%s\n%s", tc.name, code, e.sim.Stats().MessagesSent-sent, out, errOut)
		}
		if !strings.Contains(errOut, "cannot be written") || !strings.Contains(errOut, "read-only") {
			t.Errorf("%s: the error does not say the state file cannot be written:\n%s", tc.name, errOut)
		}
		if strings.Contains(errOut, "damaged") || strings.Contains(errOut, "mv ") {
			t.Errorf("%s: a read-only file is reported as damaged, with advice that would resend rows:\n%s", tc.name, errOut)
		}
	}
	code, out, errOut := e.gcbatch(t.Context(), withState("runs", "list")...)
	if code != 0 || !strings.Contains(out, "done") {
		t.Errorf("runs list of a read-only state file: exit %d\n%s\n%s", code, out, errOut)
	}
}
