package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// usersFile writes n distinct contacts and the users mapping; it returns the paths and the
// rows as the importer maps them.
func usersFile(t *testing.T, e *importEnv, prefix string, n int) (in, mp string, valid []mappedRow) {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := range n {
		fmt.Fprintf(&b, "%s%d@example.com,Имя %d\n", prefix, i, i)
	}
	in = e.write(prefix+".csv", b.String())
	mp = e.write(prefix+".yaml", hardeningUsers)
	_, valid, _ = mappedRows(t, mp, in, e.account())
	if len(valid) != n {
		t.Fatalf("%d valid rows, want %d", len(valid), n)
	}
	return in, mp, valid
}

// checkAllOnce checks that every row is confirmed in the ledger and reached the simulator
// exactly once.
func checkAllOnce(t *testing.T, e *importEnv, valid []mappedRow) {
	t.Helper()
	st := e.sim.Stats()
	for i, rec := range e.lookup(valid) {
		if rec.State != checkpoint.StateConfirmed {
			t.Fatalf("line %d: ledger state %v", valid[i].line, rec.State)
		}
		if n := st.AddsByEmail[emailIn(valid[i].json)]; n != 1 {
			t.Fatalf("line %d reached the simulator %d times, want once", valid[i].line, n)
		}
	}
}

// TestHardeningTwoProcessesOneState starts a second gcbatch on the state file a running import
// holds: it is refused at once with an error naming the file, sends nothing, and the first
// run is unharmed.
func TestHardeningTwoProcessesOneState(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Latency: 2 * time.Millisecond})
	in, mp, valid := usersFile(t, e, "two", 400)
	args := append(e.commonArgs(), "import", "--mapping", mp, "--rate", "50/s", in)
	first := e.start(args...)
	if !waitFor(t, first, func() bool { return e.sim.Stats().Requests["/pl/api/users"] >= 5 }) {
		t.Fatalf("the first import ended early: %s", first.stderr.String())
	}
	for _, cmd := range [][]string{args, append(e.commonArgs(), "export", "users", "--created-from", "2024-01-01", "-o", e.path("u.csv"))} {
		second := e.start(cmd...)
		if code := second.code(); code != 2 {
			t.Errorf("%s beside a running import: exit %d, want 2\n%s", cmd[len(e.commonArgs())], code, second.stderr.String())
		}
		msg := second.stderr.String()
		if !strings.Contains(msg, e.path("state.db")) || !strings.Contains(msg, "in use by another gcbatch process") {
			t.Errorf("the refusal does not name the file and the reason: %s", msg)
		}
	}
	if first.exited() {
		t.Fatal("the first import ended before the second was refused; the test proved nothing")
	}
	first.cmd.Process.Signal(os.Interrupt)
	if code := first.code(); code != 3 {
		t.Fatalf("the first import: exit %d after Ctrl-C\n%s", code, first.stderr.String())
	}
	if code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "2000/s", in); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errOut)
	}
	checkAllOnce(t, e, valid)
	if st := e.sim.Stats(); st.ExportStarts != 0 || st.Requests["/pl/api/account/users"] != 0 {
		t.Errorf("the refused export reached the service: %+v", st.Requests)
	}
}

// TestHardeningRateLimitedMidRun makes the service turn rate-limited for a while in the middle
// of an import: the run slows down, waits, and completes with every row sent once.
func TestHardeningRateLimitedMidRun(t *testing.T) {
	t.Parallel()
	const limitedFor = 2 * time.Second
	e := newImportEnv(t, gcsim.Config{Latency: 2 * time.Millisecond})
	in, mp, valid := usersFile(t, e, "limited", 500)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var window atomic.Int64 // requests made while the limit was on
	throttled := make(chan struct{})
	go func() {
		defer close(throttled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for e.sim.Stats().Requests["/pl/api/users"] < 100 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		before := e.sim.Stats().Requests["/pl/api/users"]
		e.sim.SetRate(10)
		timer := time.NewTimer(limitedFor)
		defer timer.Stop()
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		e.sim.SetRate(0)
		window.Store(int64(e.sim.Stats().Requests["/pl/api/users"] - before))
	}()
	started := time.Now()
	code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "200/s", "--concurrency", "4", in)
	took := time.Since(started)
	cancel()
	<-throttled
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	checkAllOnce(t, e, valid)
	st := e.sim.Stats()
	if st.RateLimited == 0 {
		t.Fatal("the limit never bit: the import finished before it came on")
	}
	// The summary counts the same rate-limited answers the service gave.
	m := regexp.MustCompile(`(\d+) rate-limited answers, ended at`).FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(st.RateLimited) {
		t.Errorf("the service refused %d requests; the summary says:\n%s", st.RateLimited, out)
	}
	// Slowing down means most requests made under the limit got through, rather than a
	// stream of refusals; at 10/s with a burst of 10 about 30 fit in the window.
	if w := int(window.Load()); st.RateLimited*2 > w {
		t.Errorf("%d of the %d requests under the limit were refused: the run did not slow down", st.RateLimited, w)
	}
	t.Logf("took %v; %d requests under the limit, %d refused", took.Round(time.Millisecond), window.Load(), st.RateLimited)
}

// dropOnce cuts the first export download that really streams items, like a dropped
// connection.
type dropOnce struct {
	h     http.Handler
	drops atomic.Int32
}

type dropWriter struct {
	http.ResponseWriter
	n     int
	after int
	drop  func()
}

func (w *dropWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	if w.n > w.after {
		w.drop()
		w.ResponseWriter.Write(b[:len(b)-(w.n-w.after)])
		w.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	return w.ResponseWriter.Write(b)
}

func (w *dropWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (d *dropOnce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/exports/") && d.drops.Load() == 0 {
		d.h.ServeHTTP(&dropWriter{ResponseWriter: w, after: 100 << 10, drop: func() { d.drops.Add(1) }}, r)
		return
	}
	d.h.ServeHTTP(w, r)
}

// TestHardeningExportConnectionDrop drops the connection while an export's items stream in:
// no output file appears, and the rerun collects the same export without starting another.
func TestHardeningExportConnectionDrop(t *testing.T) {
	t.Parallel()
	sim := gcsim.New(gcsim.Config{Key: importTestKey, SeedUsers: 3000, ExportDelay: -1, Seed: 9})
	drop := &dropOnce{h: http.StripPrefix("/acct", sim)}
	srv := httptest.NewServer(drop)
	t.Cleanup(srv.Close)
	e := &importEnv{t: t, sim: sim, base: srv.URL + "/acct", key: importTestKey, dir: t.TempDir()}
	out := e.path("users.csv")
	args := exportArgs("--log", e.path("export.log"), "export", "users", "--created-from", "2000-01-01", "-o", out)
	code, stdout, stderr := e.gcbatch(t.Context(), args...)
	if code != 3 || drop.drops.Load() != 1 {
		t.Fatalf("a dropped download: exit %d (drops %d), want 3\n%s", code, drop.drops.Load(), stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("an output file exists after the drop: %v", err)
	}
	if left, _ := filepath.Glob(e.path(".users.csv*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	code2, stdout2, stderr2 := e.gcbatch(t.Context(), args...)
	if code2 != 0 || !strings.Contains(stderr2, "earlier run") {
		t.Fatalf("rerun: exit %d\n%s", code2, stderr2)
	}
	if st := sim.Stats(); st.ExportStarts != 1 {
		t.Errorf("%d exports started, want 1", st.ExportStarts)
	}
	if recs := readCSVFile(t, out, ','); len(recs) != 3001 {
		t.Errorf("%d lines, want 3001", len(recs))
	}
	assertNoKey(t, e.dir, e.key, stdout, stderr, stdout2, stderr2)
}
