package exporter

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// goneOnce answers the first poll of any export with «Объект не найден», as the service does
// for an export it no longer has, and passes everything else to the simulator.
func goneOnce(n *atomic.Int32) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/exports/") && n.Add(1) == 1 {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"success":false,"error":true,"error_message":"Объект не найден"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestRunStartsAfreshOnceWhenGone(t *testing.T) {
	var polls atomic.Int32
	e := newSimEnv(t, gcsim.Config{SeedUsers: 7, ExportDelay: -1}, checkpoint.BudgetConfig{}, goneOnce(&polls))
	var notes []string
	o := e.options("u.csv")
	o.Notify = func(s string) { notes = append(notes, s) }
	res, err := Run(t.Context(), e.client, usersAll, o)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.sim.Stats(); s.ExportStarts != 2 || res.Rows != 7 {
		t.Errorf("%d starts, %d rows; want 2 and 7", s.ExportStarts, res.Rows)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "afresh") {
		t.Errorf("notes %q", notes)
	}
	all, _ := e.st.ListExports(e.client.Account())
	var failed, collected int
	for _, x := range all {
		switch x.Status {
		case checkpoint.ExportFailed:
			failed++
		case checkpoint.ExportCollected:
			collected++
		}
	}
	if failed != 1 || collected != 1 {
		t.Errorf("state: %d forgotten, %d collected; want 1 and 1", failed, collected)
	}
}

func TestRunGivesUpWhenGoneTwice(t *testing.T) {
	// Every export expires a moment after it is ready: the fresh one is gone too.
	e := newSimEnv(t, gcsim.Config{SeedUsers: 3, ExportDelay: -1, ExportLifetime: time.Nanosecond}, checkpoint.BudgetConfig{}, nil)
	_, err := Run(t.Context(), e.client, usersAll, e.options("u.csv"))
	var gone *GoneError
	if !errors.As(err, &gone) || !errors.Is(err, getcourse.ErrExportGone) {
		t.Fatalf("err = %v, want gone", err)
	}
	if s := e.sim.Stats(); s.ExportStarts != 2 {
		t.Errorf("%d starts, want 2 (one afresh, no more)", s.ExportStarts)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "u.csv")); !os.IsNotExist(err) {
		t.Error("a file was written")
	}
}

func TestRunPollsThroughStatusAnswers(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 4, ExportDelay: -1, StatusPolls: 3}, checkpoint.BudgetConfig{}, nil)
	res, err := Run(t.Context(), e.client, usersAll, e.options("u.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if s := e.sim.Stats(); s.ExportStarts != 1 || res.Polls != 4 || res.Rows != 4 {
		t.Errorf("%d starts, %d polls, %d rows", s.ExportStarts, res.Polls, res.Rows)
	}
}

func TestStartBoundedByWait(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 4, ExportDelay: -1, StartDelay: time.Hour}, checkpoint.BudgetConfig{}, nil)
	o := e.options("u.csv")
	o.Wait, o.CallGrace = 20*time.Millisecond, 20*time.Millisecond
	_, err := Run(t.Context(), e.client, usersAll, o)
	var doubt *StartInDoubtError
	if !errors.As(err, &doubt) || doubt.Wait != o.Wait || !strings.Contains(err.Error(), "no second export") {
		t.Fatalf("err = %v, want a start in doubt", err)
	}
	if s := e.sim.Stats(); s.ExportStarts != 1 || s.Requests["/pl/api/account/users"] != 1 {
		t.Errorf("%d starts in %d requests, want 1", s.ExportStarts, s.Requests["/pl/api/account/users"])
	}
}

func TestGroupMembersUnfiltered(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 30, ExportDelay: -1}, checkpoint.BudgetConfig{}, nil)
	res, err := Run(t.Context(), e.client, getcourse.ExportRequest{Object: getcourse.ExportGroupUsers, GroupID: 1}, e.options("g.csv"))
	if err != nil || res.Columns == 0 {
		t.Fatalf("result %+v, err %v", res, err)
	}
	_, err = Run(t.Context(), e.client, getcourse.ExportRequest{Object: getcourse.ExportPayments}, e.options("p.csv"))
	if getcourse.KindOf(err) != getcourse.KindBadFilter {
		t.Errorf("payments without a filter: %v", err)
	}
}

// deadPID returns the id of a process that has just ended: this test binary run to do nothing.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestStalePartsRemoved(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "users.csv")
	now := time.Now()
	stale := filepath.Join(dir, ".users.csv.123.part")
	fresh := filepath.Join(dir, ".users.csv.456.part")
	other := filepath.Join(dir, ".deals.csv.789.part")
	killed := filepath.Join(dir, fmt.Sprintf(".users.csv.%d-42.part", deadPID(t)))
	live := filepath.Join(dir, fmt.Sprintf(".users.csv.%d-43.part", os.Getpid()))
	for _, p := range []string{stale, fresh, other, killed, live} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := now.Add(-2 * staleParts)
	os.Chtimes(stale, old, old)
	os.Chtimes(other, old, old)
	out, err := createOutput(Options{Output: target, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	out.discard()
	for _, p := range []string{stale, killed} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s was kept", filepath.Base(p))
		}
	}
	for _, p := range []string{fresh, other, live} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".users.csv.*.part"))
	if len(left) != 2 {
		t.Errorf("parts left: %v (createOutput must not leave its own)", left)
	}
}

func TestNumbersInItemsWrittenExactly(t *testing.T) {
	body := `{"success":true,"info":{"fields":["id","Сумма","Доля","Big"],"items":[` +
		`[18446744073709551617,12000.50,0.10,-0],[123,1e21,1.0E+25,"9990,00"]]}}`
	path := filepath.Join(t.TempDir(), "n.csv")
	if _, err := Run(t.Context(), &bodyClient{body: []byte(body)}, usersFrom, fastOptions(openStore(t), path)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	out := string(b)
	want := "id,Сумма,Доля,Big\n18446744073709551617,12000.50,0.10,-0\n123,1e21,1.0E+25,\"9990,00\"\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// slowTail writes the first 128 KiB of an answer at once and the rest in small pieces with
// pauses, like a large export arriving over a slow link.
type slowTail struct {
	http.ResponseWriter
	n int
}

func (w *slowTail) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		k := len(p)
		if w.n >= 128<<10 {
			k = min(k, 8<<10)
			w.ResponseWriter.(http.Flusher).Flush()
			time.Sleep(10 * time.Millisecond)
		}
		m, err := w.ResponseWriter.Write(p[:k])
		w.n += m
		done += m
		if err != nil {
			return done, err
		}
		p = p[k:]
	}
	return done, nil
}

func (w *slowTail) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// TestDownloadNotBoundedByWait: --wait bounds the calls before the download, not the download
// of a ready export, which may take longer than what is left of the wait.
func TestDownloadNotBoundedByWait(t *testing.T) {
	slow := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/exports/") {
				w = &slowTail{ResponseWriter: w}
			}
			h.ServeHTTP(w, r)
		})
	}
	e := newSimEnv(t, gcsim.Config{SeedUsers: 3000, ExportDelay: -1}, checkpoint.BudgetConfig{}, slow)
	o := e.options("u.csv")
	o.PollInitial, o.Wait, o.CallGrace = time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	res, err := Run(t.Context(), e.client, usersAll, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3000 || res.Download < o.Wait {
		t.Errorf("%d rows in %v; want all 3000, downloaded for longer than --wait", res.Rows, res.Download)
	}
}
