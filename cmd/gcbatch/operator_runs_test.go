package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
)

// liveStatus waits until the subprocess import publishes its status beside the state file
// and has sent at least minRows rows, and returns the status.
func liveStatus(t *testing.T, e *importEnv, p *proc, minRows int) *importer.LiveStatus {
	t.Helper()
	var st *importer.LiveStatus
	ok := waitFor(t, p, func() bool {
		st, _ = importer.ReadStatus(e.path("state.db"))
		return st != nil && e.sim.Stats().UsersCreated >= minRows
	})
	if !ok || p.exited() {
		t.Fatalf("the import ended before it could be watched:\n%s", p.stderr.String())
	}
	return st
}

// TestOperatorRunsBesideImport: `runs` and `runs show` work while an import runs on the same
// state file (a subprocess, slowed by the simulator's latency): exit 0, the run shown as
// running with its progress and process, the earlier runs listed; an export beside it says
// what is going on and what to do; and the import, unaffected, sends every row once.
func TestOperatorRunsBesideImport(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Latency: 20 * time.Millisecond})
	earlierIn, earlierMap, _ := usersFile(t, e, "earlier", 5)
	if code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", earlierMap, "--rate", "1000/s", earlierIn); code != 0 {
		t.Fatalf("the earlier import: exit %d\n%s%s", code, out, errOut)
	}
	earlier := e.lastRun()

	in, mp, valid := usersFile(t, e, "big", 150)
	p := e.start(append(e.commonArgs(), "import", "--mapping", mp, "--rate", "40/s", in)...)
	live := liveStatus(t, e, p, 10)
	if live.PID != p.cmd.Process.Pid {
		t.Errorf("the status names pid %d, the import is %d", live.PID, p.cmd.Process.Pid)
	}

	code, out, errOut := e.gcbatch(t.Context(), "runs")
	if code != 0 {
		t.Fatalf("runs beside a running import: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[1], live.Run.ID) || !strings.Contains(lines[1], "running") ||
		!strings.HasPrefix(lines[2], earlier.ID) || !strings.Contains(lines[2], "done") {
		t.Fatalf("runs does not list the running import first and the earlier run after it:\n%s", out)
	}
	if !strings.Contains(out, live.Run.ID+" is running now:") || !strings.Contains(out, "rows settled") ||
		!strings.Contains(out, fmt.Sprintf("pid %d", p.cmd.Process.Pid)) {
		t.Errorf("runs does not show the running import's progress:\n%s", out)
	}

	code, out, errOut = e.gcbatch(t.Context(), "runs", "show", live.Run.ID)
	if code != 0 || !strings.Contains(out, "status             running") || !strings.Contains(out, fmt.Sprintf("pid %d", p.cmd.Process.Pid)) ||
		!strings.Contains(out, "import --mapping "+mp) || !strings.Contains(out, "this import is running now") || strings.Contains(out, "to resume") {
		t.Fatalf("runs show of the running import: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ = e.gcbatch(t.Context(), "runs", "show", earlier.ID); code != 0 || !strings.Contains(out, "status             done") {
		t.Fatalf("runs show of the earlier run: exit %d\n%s", code, out)
	}

	code, _, errOut = e.gcbatch(t.Context(), "export", "users", "--created-from", "2024-01-01", "-o", e.path("u.csv"))
	if code != 2 || !strings.Contains(errOut, "an import is running on it: run "+live.Run.ID) || !strings.Contains(errOut, "rerun this command when it ends") {
		t.Errorf("export beside the import: exit %d\n%s", code, errOut)
	}
	if p.exited() {
		t.Fatal("the import ended before runs was checked beside it; the test proved nothing")
	}

	if code := p.code(); code != 0 {
		t.Fatalf("the watched import: exit %d\n%s%s", code, p.stdout.String(), p.stderr.String())
	}
	checkAllOnce(t, e, valid)
	if _, err := os.Stat(importer.StatusPath(e.path("state.db"))); !os.IsNotExist(err) {
		t.Errorf("the live status is left behind after the import ended: %v", err)
	}
	code, out, _ = e.gcbatch(t.Context(), "runs")
	if code != 0 || !strings.Contains(strings.Split(out, "\n")[1], "done") || strings.Contains(out, "running") {
		t.Fatalf("runs after the import:\n%s", out)
	}
}

// TestOperatorRunsKilledImport: an import killed with SIGKILL shows as interrupted, its rows
// left unknown until resumed, with the exact command that resumes it; that command finishes
// the file with every row sent once.
func TestOperatorRunsKilledImport(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Latency: 10 * time.Millisecond})
	in, mp, valid := usersFile(t, e, "killed", 120)
	p := e.start(append(e.commonArgs(), "import", "--mapping", mp, "--rate", "50/s", "--concurrency", "2", in)...)
	live := liveStatus(t, e, p, 5)
	p.cmd.Process.Kill()
	p.code()
	if _, err := os.Stat(importer.StatusPath(e.path("state.db"))); err != nil {
		t.Fatalf("the killed import left no status behind, so this test proves less than it says: %v", err)
	}
	assertNoKey(t, e.dir, e.key) // the status file left behind included

	// Another command holding the state file (here: this test) does not make the dead run
	// look alive: its process is gone.
	holder, err := checkpoint.Open(e.path("state.db"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.gcbatch(t.Context(), "runs")
	holder.Close()
	if code != 0 || !strings.Contains(out, live.Run.ID) || !strings.Contains(out, "interrupted") || strings.Contains(out, "running") {
		t.Fatalf("runs while another command holds the state file: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = e.gcbatch(t.Context(), "runs")
	if code != 0 {
		t.Fatalf("runs: exit %d\n%s%s", code, out, errOut)
	}
	row := strings.Fields(strings.Split(out, "\n")[1])
	if row[0] != live.Run.ID || row[5] != "interrupted" || row[len(row)-1] != "?" {
		t.Fatalf("the killed run is not listed as interrupted with its rows left unknown:\n%s", out)
	}
	resume := live.Run.Command
	if !strings.HasPrefix(resume, "gcbatch ") || !strings.Contains(resume, " import ") || !strings.Contains(resume, " --mapping "+mp+" ") ||
		!strings.Contains(resume, " --rate 50/s ") || !strings.HasSuffix(resume, " "+in) {
		t.Fatalf("the run's resume command is %q", resume)
	}
	if !strings.Contains(out, "Resume with:\n  "+resume+"\n") {
		t.Fatalf("runs does not give the command that resumes the killed run (%s):\n%s", resume, out)
	}
	code, out, _ = e.gcbatch(t.Context(), "runs", "show", live.Run.ID)
	if code != 0 || !strings.Contains(out, "status             interrupted") || !strings.Contains(out, "left               unknown until resumed") ||
		!strings.Contains(out, "unknown until resumed") || !strings.Contains(out, "to resume") || !strings.Contains(out, "  "+resume+"\n") {
		t.Fatalf("runs show of the killed run: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "left               0") {
		t.Fatalf("the killed run claims nothing is left:\n%s", out)
	}

	args := strings.Fields(strings.TrimPrefix(resume, "gcbatch "))
	if code, out, errOut := e.gcbatch(t.Context(), args...); code != 0 {
		t.Fatalf("the resume command: exit %d\n%s%s", code, out, errOut)
	}
	// After a kill, rows confirmed but not yet committed go again (users are matched by
	// e-mail, so each exists once); what matters here is that the command finished the file.
	for i, rec := range e.lookup(valid) {
		if rec.State != checkpoint.StateConfirmed {
			t.Fatalf("line %d: ledger state %v after the resume", valid[i].line, rec.State)
		}
	}
	if n := e.sim.Stats().UsersCreated; n != len(valid) {
		t.Fatalf("%d users in the account, want %d", n, len(valid))
	}
}

// TestOperatorRunsStartingImport: while an import still checks the account (its online check
// is held up here), `runs` says an import is starting, with its command and pid, and lists the
// earlier runs; an export beside it says so too. Released, the import completes.
func TestOperatorRunsStartingImport(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	held := atomic.Bool{}
	srv := httptest.NewServer(http.StripPrefix("/acct", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pl/api/account/fields" {
			held.Store(true)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		e.sim.ServeHTTP(w, r)
	})))
	t.Cleanup(srv.Close)
	e.base = srv.URL + "/acct"

	earlierIn, earlierMap, _ := usersFile(t, e, "earlier", 3)
	if code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", earlierMap, "--no-preflight", "--rate", "1000/s", earlierIn); code != 0 {
		t.Fatalf("the earlier import: exit %d\n%s%s", code, out, errOut)
	}
	earlier := e.lastRun()
	in := e.write("tg.csv", "email,tg\na@example.ru,@a\nb@example.ru,@b\n")
	mp := e.write("tg.yaml", "target: users\nfields:\n  user.email: email\n  user.addfields.Telegram: tg\n")
	p := e.start(append(e.commonArgs(), "import", "--mapping", mp, in)...)
	if !waitFor(t, p, held.Load) || p.exited() {
		t.Fatalf("the import did not reach its online check:\n%s", p.stderr.String())
	}
	code, out, errOut := e.gcbatch(t.Context(), "runs")
	if code != 0 || !strings.Contains(out, "an import is starting: gcbatch ") || !strings.Contains(out, fmt.Sprintf("pid %d", p.cmd.Process.Pid)) ||
		!strings.Contains(out, earlier.ID) {
		t.Fatalf("runs while an import starts: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = e.gcbatch(t.Context(), "groups")
	if code != 2 || !strings.Contains(errOut, "an import is starting on it") {
		t.Errorf("groups beside a starting import: exit %d\n%s", code, errOut)
	}
	open()
	if code := p.code(); code != 0 {
		t.Fatalf("the import: exit %d\n%s%s", code, p.stdout.String(), p.stderr.String())
	}
	if _, err := os.Stat(importer.StatusPath(e.path("state.db"))); !os.IsNotExist(err) {
		t.Errorf("a status is left behind: %v", err)
	}
}
