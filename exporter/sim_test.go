package exporter

import (
	"encoding/csv"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"golang.org/x/time/rate"
)

const simKey = "exp-test-key-5d1c9a7e"

// usersAll asks for every seeded user (they are created 2022-2024).
var usersAll = getcourse.ExportRequest{Object: getcourse.ExportUsers,
	Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2000-01-01"}}}

// simEnv is a simulated account served over real HTTP under a base path, a state file and a
// client whose export calls go through the state's budget.
type simEnv struct {
	t      *testing.T
	sim    *gcsim.Sim
	srv    *httptest.Server
	st     *checkpoint.Store
	client *getcourse.Client
	budget *checkpoint.Budget
	dir    string
}

func newSimEnv(t *testing.T, cfg gcsim.Config, budget checkpoint.BudgetConfig, wrap func(http.Handler) http.Handler) *simEnv {
	t.Helper()
	cfg.Key = simKey
	sim := gcsim.New(cfg)
	var h http.Handler = http.StripPrefix("/acct", sim)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &simEnv{t: t, sim: sim, srv: srv, st: openStore(t), dir: t.TempDir()}
	e.client, e.budget = e.newClient(budget)
	return e
}

func (e *simEnv) newClient(bc checkpoint.BudgetConfig) (*getcourse.Client, *checkpoint.Budget) {
	e.t.Helper()
	probe, err := getcourse.NewClient(getcourse.WithBaseURL(e.srv.URL+"/acct"), getcourse.WithKey(simKey))
	if err != nil {
		e.t.Fatal(err)
	}
	b := e.st.Budget(probe.Account(), bc)
	c, err := getcourse.NewClient(getcourse.WithBaseURL(e.srv.URL+"/acct"), getcourse.WithKey(simKey),
		getcourse.WithExportBudget(b), getcourse.WithLimiter(rate.NewLimiter(rate.Inf, 1)),
		getcourse.WithRetry(getcourse.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}))
	if err != nil {
		e.t.Fatal(err)
	}
	return c, b
}

func (e *simEnv) options(name string) Options {
	o := fastOptions(e.st, filepath.Join(e.dir, name))
	o.Budget = e.budget
	return o
}

// readCSV reads an output file whole.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkNoKey fails if the key shows in any text.
func checkNoKey(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, simKey) {
			t.Fatalf("the key leaked: %q", s)
		}
	}
}

func TestRunSimNormal(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 300, ExportDelay: 20 * time.Millisecond, Seed: 3}, checkpoint.BudgetConfig{}, nil)
	res, err := Run(t.Context(), e.client, usersFrom, e.options("users.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, filepath.Join(e.dir, "users.csv"))
	// The same export read whole by encoding/json must hold exactly the same cells.
	want, err := e.client.ExportResult(t.Context(), res.ExportID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.Items)+1 || res.Rows != int64(len(want.Items)) || res.Columns != len(want.Fields) {
		t.Fatalf("%d lines, %d rows; the export has %d items", len(got), res.Rows, len(want.Items))
	}
	if !equalStrings(got[0], want.Fields) {
		t.Errorf("header %q, want %q", got[0], want.Fields)
	}
	for i, it := range want.Items {
		if !equalStrings(got[i+1], it) {
			t.Fatalf("row %d = %q, want %q", i, got[i+1], it)
		}
	}
	rec, err := e.st.GetExport(e.client.Account(), res.ExportID)
	if err != nil || rec.Status != checkpoint.ExportCollected || rec.Rows != res.Rows {
		t.Errorf("state record %+v, %v", rec, err)
	}
	if s := e.sim.Stats(); s.ExportStarts != 1 {
		t.Errorf("%d export starts", s.ExportStarts)
	}
}

func TestRunSimBusy(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 20, SeedDeals: 20, ExportDelay: 150 * time.Millisecond}, checkpoint.BudgetConfig{}, nil)
	// Another integration's export is being built.
	if _, err := e.client.StartExport(t.Context(), getcourse.ExportRequest{Object: getcourse.ExportDeals,
		Filters: []getcourse.Filter{{Name: "status", Value: "new"}}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notes []string
	o := e.options("users.csv")
	o.BusyInitial = 20 * time.Millisecond
	o.Notify = func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }
	res, err := Run(t.Context(), e.client, usersFrom, o)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notes) == 0 || !strings.Contains(notes[0], "905") {
		t.Errorf("no 905 notice: %q", notes)
	}
	if s := e.sim.Stats(); s.ExportStarts != 2 || res.Rows == 0 {
		t.Errorf("starts %d, rows %d", s.ExportStarts, res.Rows)
	}
}

func TestRunSimSlowAndResume(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 50, ExportDelay: 400 * time.Millisecond}, checkpoint.BudgetConfig{}, nil)
	o := e.options("users.csv")
	o.Wait = 60 * time.Millisecond
	_, err := Run(t.Context(), e.client, usersAll, o)
	var we *WaitExpiredError
	if !errors.As(err, &we) || we.ExportID == 0 {
		t.Fatalf("want a wait expiry, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "users.csv")); !os.IsNotExist(err) {
		t.Error("a file was written")
	}
	// The same command collects the same export, however long it takes.
	o.Wait = 10 * time.Second
	res, err := Run(t.Context(), e.client, usersAll, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.ExportID != we.ExportID || res.Rows != 50 {
		t.Errorf("result %+v", res)
	}
	s := e.sim.Stats()
	if s.ExportStarts != 1 {
		t.Errorf("%d export starts, want 1", s.ExportStarts)
	}
	polls := s.Requests["/pl/api/account/exports/{id}"]
	if polls < 3 {
		t.Errorf("only %d polls of a slow export", polls)
	}
	calls, _ := e.st.BudgetCalls(e.client.Account(), 0, time.Now())
	if len(calls) != s.ExportCalls {
		t.Errorf("the state recorded %d calls, the service saw %d", len(calls), s.ExportCalls)
	}
}

func TestRunSimEmpty(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 50, ExportDelay: -1}, checkpoint.BudgetConfig{}, nil)
	req := getcourse.ExportRequest{Object: getcourse.ExportUsers,
		Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2031-01-01"}}}
	res, err := Run(t.Context(), e.client, req, e.options("empty.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, filepath.Join(e.dir, "empty.csv"))
	if res.Rows != 0 || len(got) != 1 || len(got[0]) < 20 || got[0][0] != "id" {
		t.Errorf("rows %d, file %q", res.Rows, got)
	}
}

func TestRunSimFailed(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 10, ExportDelay: -1}, checkpoint.BudgetConfig{}, nil)
	req := getcourse.ExportRequest{Object: getcourse.ExportUsers, Filters: []getcourse.Filter{{Name: gcsim.SimFailFilter, Value: "1"}}}
	o := e.options("f.csv")
	res, err := Run(t.Context(), e.client, req, o)
	if getcourse.KindOf(err) != getcourse.KindExportFailed || !strings.Contains(err.Error(), "narrower filters") {
		t.Fatalf("err = %v", err)
	}
	rec, _ := e.st.GetExport(e.client.Account(), res.ExportID)
	if rec.Status != checkpoint.ExportFailed {
		t.Errorf("state %q", rec.Status)
	}
	// A failed export is not collected again: the rerun starts a new one.
	Run(t.Context(), e.client, req, o)
	if s := e.sim.Stats(); s.ExportStarts != 2 {
		t.Errorf("%d starts", s.ExportStarts)
	}
	checkNoKey(t, err.Error())
}

func TestRunSimBadStatus(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedDeals: 10, ExportDelay: -1}, checkpoint.BudgetConfig{}, nil)
	req := getcourse.ExportRequest{Object: getcourse.ExportDeals, Filters: []getcourse.Filter{{Name: "status", Value: "paid"}}}
	_, err := Run(t.Context(), e.client, req, e.options("d.csv"))
	var ae *getcourse.APIError
	if !errors.As(err, &ae) || ae.Kind != getcourse.KindBadFilter || ae.Code != 913 ||
		!strings.Contains(err.Error(), "payed") || !strings.Contains(err.Error(), `"paid"`) {
		t.Fatalf("err = %v", err)
	}
	checkNoKey(t, err.Error())
}

func TestRunSimBudget(t *testing.T) {
	// Our budget: 6 calls per hour, 2 of them kept for collecting.
	bc := checkpoint.BudgetConfig{Limit: 6, Window: time.Hour, Reserve: 2}
	e := newSimEnv(t, gcsim.Config{SeedUsers: 10, ExportDelay: -1}, bc, nil)
	runs := 0
	var err error
	for runs = 0; runs < 10; runs++ {
		o := e.options("u.csv")
		if _, err = Run(t.Context(), e.client, usersFrom, o); err != nil {
			break
		}
	}
	// Each run costs a start and a poll: two runs fit in the four unreserved calls.
	var bs *checkpoint.BudgetSpent
	if runs != 2 || !errors.As(err, &bs) || getcourse.KindOf(err) != getcourse.KindBudget || bs.Until.IsZero() {
		t.Fatalf("after %d runs: %v", runs, err)
	}
	if !strings.Contains(err.Error(), "frees up at") {
		t.Errorf("the refusal does not say when: %v", err)
	}
	before := e.sim.Stats()
	// Another process: a fresh client on the same state file refuses without calling.
	c2, _ := e.newClient(bc)
	if _, err := Run(t.Context(), c2, usersFrom, e.options("u2.csv")); getcourse.KindOf(err) != getcourse.KindBudget {
		t.Fatalf("second process: %v", err)
	}
	after := e.sim.Stats()
	if after.ExportCalls != before.ExportCalls || after.ExportCalls != 4 {
		t.Errorf("service saw %d then %d export calls", before.ExportCalls, after.ExportCalls)
	}
	calls, _ := e.st.BudgetCalls(e.client.Account(), time.Hour, time.Now())
	if len(calls) != after.ExportCalls {
		t.Errorf("state file has %d calls, service saw %d", len(calls), after.ExportCalls)
	}
}

func TestRunSim903(t *testing.T) {
	// The service's window is smaller than ours (other integrations spend it too): its 903 is
	// recorded, and the next run does not call at all.
	e := newSimEnv(t, gcsim.Config{SeedUsers: 10, ExportDelay: -1, ExportBudget: 3}, checkpoint.BudgetConfig{}, nil)
	var err error
	for range 3 {
		if _, err = Run(t.Context(), e.client, usersFrom, e.options("u.csv")); err != nil {
			break
		}
	}
	var ae *getcourse.APIError
	if !errors.As(err, &ae) || ae.Code != 903 {
		t.Fatalf("want 903, got %v", err)
	}
	if left, until := e.budget.Remaining(); left != 0 || until.Before(time.Now().Add(time.Hour)) {
		t.Errorf("after 903: %d left until %v", left, until)
	}
	before := e.sim.Stats().Requests
	_, err = Run(t.Context(), e.client, usersFrom, e.options("u.csv"))
	if ok, _ := checkpoint.IsBudgetSpent(err); !ok {
		t.Fatalf("after 903: %v", err)
	}
	after := e.sim.Stats().Requests
	if sum(after) != sum(before) {
		t.Errorf("a call went out after 903: %v → %v", before, after)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// cutter cuts the first ready export body after a few KB, like a dropped connection.
type cutter struct {
	h    http.Handler
	cuts atomic.Int32
}

type cutWriter struct {
	http.ResponseWriter
	n, limit int
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.n+len(b) > w.limit {
		k := w.limit - w.n
		w.ResponseWriter.Write(b[:k])
		w.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the server drops the connection mid-body
	}
	w.n += len(b)
	return w.ResponseWriter.Write(b)
}

func (w *cutWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/exports/") && c.cuts.Load() == 0 {
		rec := &probeWriter{ResponseWriter: w}
		cw := &cutWriter{ResponseWriter: rec, limit: 200 << 10}
		rec.onBig = func() { c.cuts.Add(1) }
		c.h.ServeHTTP(cw, r)
		return
	}
	c.h.ServeHTTP(w, r)
}

// probeWriter notes when a body grows past the 909 answer's size, i.e. a real export streams.
type probeWriter struct {
	http.ResponseWriter
	n     int
	onBig func()
}

func (p *probeWriter) Write(b []byte) (int, error) {
	p.n += len(b)
	if p.n > 4<<10 && p.onBig != nil {
		p.onBig()
		p.onBig = nil
	}
	return p.ResponseWriter.Write(b)
}

func (p *probeWriter) Flush() { p.ResponseWriter.(http.Flusher).Flush() }

func TestRunSimConnectionDrop(t *testing.T) {
	var cut *cutter
	e := newSimEnv(t, gcsim.Config{SeedUsers: 3000, ExportDelay: -1}, checkpoint.BudgetConfig{},
		func(h http.Handler) http.Handler { cut = &cutter{h: h}; return cut })
	o := e.options("users.csv")
	_, err := Run(t.Context(), e.client, usersAll, o)
	var se *StreamError
	if !errors.As(err, &se) || cut.cuts.Load() != 1 {
		t.Fatalf("want a broken download, got %v (cuts %d)", err, cut.cuts.Load())
	}
	checkNoKey(t, err.Error())
	if ents, _ := os.ReadDir(e.dir); len(ents) != 0 {
		t.Fatalf("files left after the cut: %v", ents)
	}
	res, err := Run(t.Context(), e.client, usersAll, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.ExportID != se.ExportID || res.Rows != 3000 || se.Rows == 0 {
		t.Errorf("rerun %+v", res)
	}
	if got := readCSV(t, filepath.Join(e.dir, "users.csv")); len(got) != 3001 {
		t.Errorf("%d lines", len(got))
	}
	if s := e.sim.Stats(); s.ExportStarts != 1 {
		t.Errorf("%d starts", s.ExportStarts)
	}
}

func TestFetchSim(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedDeals: 40, ExportDelay: 30 * time.Millisecond}, checkpoint.BudgetConfig{}, nil)
	id, err := e.client.StartExport(t.Context(), getcourse.ExportRequest{Object: getcourse.ExportDeals,
		Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2000-01-01"}}})
	if err != nil {
		t.Fatal(err)
	}
	o := e.options("deals.jsonl")
	o.Format = FormatJSONL
	res, err := Fetch(t.Context(), e.client, id, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "deals.jsonl"))
	if n := strings.Count(string(b), "\n"); int64(n) != res.Rows || res.Rows != 40 {
		t.Errorf("%d lines, %d rows", n, res.Rows)
	}
	// An id the service does not know.
	_, err = Fetch(t.Context(), e.client, 999999, e.options("x.csv"))
	var gone *GoneError
	if getcourse.KindOf(err) != getcourse.KindExportGone || !errors.As(err, &gone) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestRunSimStalePending(t *testing.T) {
	e := newSimEnv(t, gcsim.Config{SeedUsers: 10, ExportDelay: -1}, checkpoint.BudgetConfig{}, nil)
	// An earlier run recorded an export the service no longer knows.
	if err := e.st.PutExport(checkpoint.Export{ID: 424242, Account: e.client.Account(), Object: "users",
		Filters: CanonicalFilters(usersAll.Filters), Started: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var notes []string
	o := e.options("u.csv")
	o.Notify = func(s string) { notes = append(notes, s) }
	res, err := Run(t.Context(), e.client, usersAll, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || res.ExportID == 424242 || res.Rows != 10 || len(notes) != 2 || !strings.Contains(notes[1], "not available") {
		t.Errorf("result %+v, notes %q", res, notes)
	}
	if rec, _ := e.st.GetExport(e.client.Account(), 424242); rec.Status != checkpoint.ExportFailed {
		t.Errorf("stale export is %q", rec.Status)
	}
	if s := e.sim.Stats(); s.ExportStarts != 1 {
		t.Errorf("%d starts", s.ExportStarts)
	}
}
