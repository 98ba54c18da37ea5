package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/internal/gen"
)

// TestRuns: runs list shows every import newest first; runs show tells what is left and how
// to resume; unknown ids and a missing state file are usage errors.
func TestRuns(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	if code, _, errOut := e.gcbatch(t.Context(), "runs"); code != 2 || !strings.Contains(errOut, "no state file") {
		t.Fatalf("runs without a state file: exit %d, %q", code, errOut)
	}
	var csvBuf bytes.Buffer
	gen.Contacts(&csvBuf, 60, 2)
	in := e.write("contacts.csv", csvBuf.String())
	mp := e.write("contacts.yaml", gen.ContactsMapping())
	if code, out, _ := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "1000/s", "--max-rows", "20", in); code != 3 {
		t.Fatalf("max rows: exit %d\n%s", code, out)
	}
	stopped := e.lastRun()
	if code, out, _ := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "1000/s", in); code != 0 {
		t.Fatalf("rest: exit %d\n%s", code, out)
	}
	done := e.lastRun()

	for _, args := range [][]string{{"runs"}, {"runs", "list"}} {
		code, out, _ := e.gcbatch(t.Context(), args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], done.ID) || !strings.HasPrefix(lines[2], stopped.ID) {
			t.Fatalf("%v:\n%s", args, out)
		}
		if !strings.Contains(lines[2], "stopped") || !strings.Contains(lines[1], "done") {
			t.Fatalf("statuses:\n%s", out)
		}
	}
	code, out, _ := e.gcbatch(t.Context(), "runs", "show", stopped.ID)
	if code != 0 || !strings.Contains(out, "--max-rows reached") || !strings.Contains(out, "to resume") ||
		!strings.Contains(out, "--max-rows 20") || !strings.Contains(out, "left") {
		t.Fatalf("runs show (stopped): exit %d\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "left" && f[1] != "40" {
			t.Fatalf("left %s, want 40:\n%s", f[1], out)
		}
	}
	code, out, _ = e.gcbatch(t.Context(), "runs", "show", done.ID)
	if code != 0 || strings.Contains(out, "to resume") || !strings.Contains(out, "skipped") {
		t.Fatalf("runs show (done): exit %d\n%s", code, out)
	}
	if code, _, errOut := e.gcbatch(t.Context(), "runs", "show", "19990101-000000-ffff"); code != 2 || !strings.Contains(errOut, "no run") {
		t.Fatalf("unknown run: exit %d %q", code, errOut)
	}
}
