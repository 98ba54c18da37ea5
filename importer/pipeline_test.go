package importer

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/internal/gen"
	"github.com/gcbatch/gcbatch/internal/ledgertest"
	"github.com/gcbatch/gcbatch/mappings"
)

// testEnv is a simulated account served over real HTTP under a non-empty base path, a state
// file and a folder for inputs and reports.
type testEnv struct {
	t     testing.TB
	sim   *gcsim.Sim
	base  string
	key   string
	dir   string
	store *checkpoint.Store
}

const testKey = "test-secret-key-0123456789"

func newEnv(t testing.TB, cfg gcsim.Config) *testEnv {
	t.Helper()
	cfg.Key = testKey
	sim := gcsim.New(cfg)
	srv := httptest.NewServer(http.StripPrefix("/acct", sim))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	st, err := checkpoint.Open(filepath.Join(dir, "state.db"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &testEnv{t: t, sim: sim, base: srv.URL + "/acct", key: testKey, dir: dir, store: st}
}

// file writes an input file.
func (e *testEnv) file(name string, write func(w io.Writer) error) string {
	e.t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		e.t.Fatal(err)
	}
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *testEnv) mapping(name, yaml string) *mappings.Mapping {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		e.t.Fatal(err)
	}
	m, err := mappings.Load(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// fastRetry keeps faulty runs short: the real defaults wait seconds between attempts.
var fastRetry = getcourse.RetryPolicy{MaxRetries: 10, InitialInterval: 2 * time.Millisecond, MaxInterval: 20 * time.Millisecond, MaxElapsed: 20 * time.Second}

func (e *testEnv) options(input string, m *mappings.Mapping, extra ...getcourse.Option) Options {
	return Options{
		InputPath: input, Mapping: m, Store: e.store,
		NewClient: func(opts ...getcourse.Option) (*getcourse.Client, error) {
			all := append([]getcourse.Option{getcourse.WithBaseURL(e.base), getcourse.WithKey(e.key),
				getcourse.WithRetry(fastRetry)}, extra...)
			return getcourse.NewClient(append(all, opts...)...)
		},
		Rate: 2000, Concurrency: 4, ReportsDir: filepath.Join(e.dir, "reports"),
		Command: "gcbatch import --mapping m.yaml " + filepath.Base(input),
	}
}

func (e *testEnv) run(ctx context.Context, o Options) *Summary {
	e.t.Helper()
	s, err := Run(ctx, o)
	if err != nil {
		e.t.Fatalf("Run: %v", err)
	}
	return s
}

// expected maps every row of a file the way the importer does and returns the ledger keys of
// the valid rows and the lines of the invalid ones.
type expectedRow struct {
	line   int
	key    string
	rk     checkpoint.RowKey
	params []byte
}

func expectRows(t testing.TB, path string, m *mappings.Mapping, account string) (valid []expectedRow, invalid []int) {
	t.Helper()
	src, err := OpenSource(path, SourceOptions{Delimiter: m.CSV.Delimiter, Encoding: m.CSV.Encoding})
	if err != nil {
		t.Fatal(err)
	}
	rows, invalid := ledgertest.Expect(t, m, account, src, func(r Row) (int, []string, error) { return r.Line, r.Cells, r.Err })
	for _, r := range rows {
		valid = append(valid, expectedRow{line: r.Line, key: r.Key, params: r.Params, rk: r.Ledger})
	}
	return valid, invalid
}

func (e *testEnv) account() string {
	c, err := getcourse.NewClient(getcourse.WithBaseURL(e.base), getcourse.WithKey(e.key))
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Account()
}

// ledger returns the ledger records of rows.
func (e *testEnv) ledger(rows []expectedRow) []checkpoint.RowRecord {
	e.t.Helper()
	keys := make([]checkpoint.RowKey, len(rows))
	for i, r := range rows {
		keys[i] = r.rk
	}
	recs, err := e.store.LookupRows(keys)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

func readResults(t *testing.T, s *Summary) []ResultRow {
	t.Helper()
	f, err := os.Open(filepath.Join(s.ReportsDir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "line,status,key,user_id,deal_id,error" {
		t.Fatalf("results.csv header = %v", recs)
	}
	var out []ResultRow
	for _, rec := range recs[1:] {
		var line int
		fmt.Sscan(rec[0], &line)
		var u, d ID
		u.UnmarshalCSV(rec[3])
		d.UnmarshalCSV(rec[4])
		out = append(out, ResultRow{Line: line, Status: rec[1], Key: rec[2], UserID: u, DealID: d, Error: rec[5]})
	}
	return out
}

func statusCounts(rows []ResultRow) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[r.Status]++
	}
	return m
}

func contactsFile(e *testEnv, name string, n int, seed int64, opts ...gen.Option) string {
	return e.file(name, func(w io.Writer) error { return gen.Contacts(w, n, seed, opts...) })
}

func emailOf(params []byte) string {
	var p struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	json.Unmarshal(params, &p)
	return p.User.Email
}

func TestImportContacts(t *testing.T) {
	e := newEnv(t, gcsim.Config{Latency: time.Millisecond})
	m := e.mapping("contacts.yaml", gen.ContactsMapping())
	in := contactsFile(e, "contacts.csv", 300, 1, gen.Invalid(0.05))
	valid, invalid := expectRows(t, in, m, e.account())
	if len(invalid) == 0 || len(valid) == 0 {
		t.Fatalf("generator gave %d valid and %d invalid rows; want both", len(valid), len(invalid))
	}

	s := e.run(t.Context(), e.options(in, m))
	if s.Reason != nil || s.Status != StatusPartial || s.ExitCode() != 1 {
		t.Fatalf("status %s, reason %v, exit %d; want partial, nil, 1", s.Status, s.Reason, s.ExitCode())
	}
	c := s.Counts
	if c.OK != len(valid) || c.Rejected != len(invalid) || c.Failed+c.InDoubt+c.Skipped != 0 || c.Sent != len(valid) || c.Total != 300 {
		t.Fatalf("counts %+v; want ok %d rejected %d", c, len(valid), len(invalid))
	}
	st := e.sim.Stats()
	for _, r := range valid {
		if em := emailOf(r.params); em != "" && st.AddsByEmail[em] != 1 {
			t.Errorf("line %d (%s) added %d times", r.line, em, st.AddsByEmail[em])
		}
	}
	if st.UsersCreated != len(valid) {
		t.Errorf("gcsim created %d users, want %d", st.UsersCreated, len(valid))
	}
	for i, rec := range e.ledger(valid) {
		if rec.State != checkpoint.StateConfirmed || rec.RunID != s.RunID || rec.Line != valid[i].line || rec.UserID == 0 {
			t.Fatalf("ledger for line %d: %+v", valid[i].line, rec)
		}
	}
	res := readResults(t, s)
	if got := statusCounts(res); got[RowOK] != len(valid) || got[RowRejected] != len(invalid) || len(res) != 300 {
		t.Fatalf("results.csv statuses %v", got)
	}
	for _, r := range res {
		if r.Status == RowOK && r.UserID == 0 {
			t.Fatalf("results.csv line %d has no user id", r.Line)
		}
		if r.Status == RowRejected && r.Error == "" {
			t.Fatalf("results.csv line %d rejected without a reason", r.Line)
		}
	}
	rej, err := os.ReadFile(filepath.Join(s.ReportsDir, RejectedFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(rej), "\n"); lines < len(invalid)+1 {
		t.Fatalf("rejected.csv has %d lines, want at least %d", lines, len(invalid)+1)
	}
	var sum SummaryReport
	b, err := os.ReadFile(filepath.Join(s.ReportsDir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.RunID != s.RunID || sum.Counts.OK != len(valid) || sum.Status != StatusPartial || sum.AchievedRate <= 0 {
		t.Fatalf("summary.json = %+v", sum)
	}
	for _, f := range []string{ResultsFile, RejectedFile, SummaryFile} {
		fi, err := os.Stat(filepath.Join(s.ReportsDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}
	if fi, err := os.Stat(s.ReportsDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("reports folder mode %v; want 0700", fi.Mode().Perm())
	}
	run, err := e.store.GetRun(s.RunID)
	if err != nil || run.Status != StatusPartial || run.Counts != s.Counts {
		t.Fatalf("run record %+v, %v", run, err)
	}
}

// TestNightly: the same file again sends nothing; a grown and edited file sends only the new
// and changed rows; identical rows in one file are distinct rows.
func TestNightly(t *testing.T) {
	e := newEnv(t, gcsim.Config{})
	m := e.mapping("contacts.yaml", gen.ContactsMapping())
	var base bytes.Buffer
	if err := gen.Contacts(&base, 200, 7); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(base.String(), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last line break
	// Row 5 twice: two identical rows are two rows.
	in := e.file("orders.csv", func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Join(lines, "")+lines[5])
		return err
	})
	s1 := e.run(t.Context(), e.options(in, m))
	if s1.ExitCode() != 0 || s1.Counts.OK != 201 || s1.Counts.Sent != 201 {
		t.Fatalf("first night: %+v exit %d", s1.Counts, s1.ExitCode())
	}
	dupEmail := emailOf(mustApply(t, m, in, 6))
	if n := e.sim.Stats().AddsByEmail[dupEmail]; n != 2 {
		t.Fatalf("the duplicated row was added %d times, want 2", n)
	}

	s2 := e.run(t.Context(), e.options(in, m))
	if s2.ExitCode() != 0 || s2.Counts.Sent != 0 || s2.Counts.Skipped != 201 || s2.Status != StatusDone {
		t.Fatalf("same file again: %+v status %s", s2.Counts, s2.Status)
	}
	if st := statusCounts(readResults(t, s2)); st[RowSkipped] != 201 {
		t.Fatalf("results of the second night: %v", st)
	}

	// Night 3: 30 rows appended, 5 rows edited (a different first name).
	var more bytes.Buffer
	if err := gen.Contacts(&more, 230, 7); err != nil {
		t.Fatal(err)
	}
	moreLines := strings.SplitAfter(more.String(), "\n")
	grown := append([]string(nil), moreLines[:231]...)
	for _, i := range []int{10, 20, 30, 40, 50} {
		grown[i] = strings.Replace(grown[i], ",", ",", 1)
		cells := strings.Split(strings.TrimSuffix(grown[i], "\n"), ",")
		cells[2] = "Изменённое" + fmt.Sprint(i)
		grown[i] = strings.Join(cells, ",") + "\n"
	}
	before := e.sim.Stats().Requests["/pl/api/users"]
	in3 := e.file("orders.csv", func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Join(grown, ""))
		return err
	})
	s3 := e.run(t.Context(), e.options(in3, m))
	if s3.ExitCode() != 0 || s3.Counts.Sent != 35 || s3.Counts.OK != 35 || s3.Counts.Skipped != 195 {
		t.Fatalf("grown file: %+v", s3.Counts)
	}
	if n := e.sim.Stats().Requests["/pl/api/users"] - before; n != 35 {
		t.Fatalf("gcsim got %d requests for the grown file, want 35", n)
	}
}

// mustApply maps the row at 1-based data row index i of a file.
func mustApply(t *testing.T, m *mappings.Mapping, path string, line int) []byte {
	t.Helper()
	valid, _ := expectRows(t, path, m, "")
	for _, r := range valid {
		if r.line == line {
			return r.params
		}
	}
	t.Fatalf("no valid row at line %d", line)
	return nil
}

func TestFaultsEveryValidRowEndsOK(t *testing.T) {
	e := newEnv(t, gcsim.Config{
		Faults:    gcsim.Faults{Err500: 0.03, HTML: 0.02, Empty: 0.02, Reset: 0.02, Slow: 0.01},
		SlowDelay: 2 * time.Second, Seed: 3,
	})
	m := e.mapping("contacts.yaml", gen.ContactsMapping())
	in := contactsFile(e, "contacts.csv", 2000, 11)
	valid, invalid := expectRows(t, in, m, e.account())
	o := e.options(in, m, getcourse.WithTimeout(300*time.Millisecond))
	o.Concurrency = 8
	s := e.run(t.Context(), o)
	if s.ExitCode() != 0 || s.Counts.OK != len(valid) || s.Counts.Rejected != len(invalid) || s.Counts.Failed != 0 {
		t.Fatalf("with faults: %+v reason %v", s.Counts, s.Reason)
	}
	st := e.sim.Stats()
	if st.FaultsInjected["500"] == 0 || st.FaultsInjected["reset"] == 0 || st.FaultsInjected["slow"] == 0 {
		t.Fatalf("faults injected: %v", st.FaultsInjected)
	}
	if s.Retried == 0 {
		t.Fatal("no retries counted")
	}
	for _, r := range valid {
		if em := emailOf(r.params); em != "" && st.AddsByEmail[em] == 0 {
			t.Fatalf("line %d never reached gcsim", r.line)
		}
	}
}

func TestFatalAnswersStopTheRun(t *testing.T) {
	t.Run("bad key", func(t *testing.T) {
		e := newEnv(t, gcsim.Config{Latency: 5 * time.Millisecond})
		m := e.mapping("contacts.yaml", gen.ContactsMapping())
		in := contactsFile(e, "contacts.csv", 100, 2)
		e.key = "wrong-key-xyz"
		o := e.options(in, m)
		o.Concurrency = 4
		s := e.run(t.Context(), o)
		var fe *FatalError
		if !errors.As(s.Reason, &fe) || !errors.Is(s.Reason, getcourse.ErrAuth) || s.ExitCode() != 3 || s.Status != StatusStopped {
			t.Fatalf("reason %v, exit %d, status %s", s.Reason, s.ExitCode(), s.Status)
		}
		if n := e.sim.Stats().Requests["/pl/api/users"]; n < 1 || n > o.Concurrency {
			t.Fatalf("%d requests with a bad key, want 1..%d", n, o.Concurrency)
		}
		if s.Counts.Failed != 0 || s.Counts.OK != 0 || s.Left != 100 {
			t.Fatalf("counts %+v left %d", s.Counts, s.Left)
		}
		if strings.Contains(s.Reason.Error(), "wrong-key-xyz") {
			t.Fatal("the key is in the error")
		}
	})
	t.Run("allowance spent, then the month rolls over", func(t *testing.T) {
		e := newEnv(t, gcsim.Config{MonthlyAllowance: 60, Latency: time.Millisecond})
		m := e.mapping("contacts.yaml", gen.ContactsMapping())
		in := contactsFile(e, "contacts.csv", 100, 4)
		valid, _ := expectRows(t, in, m, e.account())
		s := e.run(t.Context(), e.options(in, m))
		if !errors.Is(s.Reason, getcourse.ErrQuota) || s.ExitCode() != 3 || s.Counts.Failed != 0 {
			t.Fatalf("reason %v exit %d counts %+v", s.Reason, s.ExitCode(), s.Counts)
		}
		if s.Counts.OK != 60 {
			t.Fatalf("ok %d, want the allowance of 60", s.Counts.OK)
		}
		for _, rec := range e.ledger(valid) {
			if rec.State == checkpoint.StateFailed || rec.State == checkpoint.StateRejected {
				t.Fatalf("a row was marked %v because of the allowance", rec.State)
			}
		}
		e.sim.RollMonth()
		s2 := e.run(t.Context(), e.options(in, m))
		if s2.ExitCode() != 0 || s2.Counts.OK != len(valid)-60 || s2.Counts.Skipped != 60 {
			t.Fatalf("after the month rolled over: %+v reason %v", s2.Counts, s2.Reason)
		}
		for _, rec := range e.ledger(valid) {
			if rec.State != checkpoint.StateConfirmed {
				t.Fatalf("row not confirmed: %+v", rec)
			}
		}
	})
}

func TestMaxRowsAndInterrupt(t *testing.T) {
	t.Run("max rows", func(t *testing.T) {
		e := newEnv(t, gcsim.Config{})
		m := e.mapping("contacts.yaml", gen.ContactsMapping())
		in := contactsFile(e, "contacts.csv", 100, 5)
		o := e.options(in, m)
		o.MaxRows = 30
		s := e.run(t.Context(), o)
		if !errors.Is(s.Reason, ErrMaxRows) || s.Counts.Sent != 30 || s.Counts.OK != 30 || s.Left != 70 || s.ExitCode() != 3 {
			t.Fatalf("max rows: %+v left %d reason %v", s.Counts, s.Left, s.Reason)
		}
		s2 := e.run(t.Context(), e.options(in, m))
		if s2.ExitCode() != 0 || s2.Counts.Sent != 70 || s2.Counts.Skipped != 30 {
			t.Fatalf("rest: %+v", s2.Counts)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		e := newEnv(t, gcsim.Config{Latency: 20 * time.Millisecond})
		m := e.mapping("contacts.yaml", gen.ContactsMapping())
		in := contactsFile(e, "contacts.csv", 300, 6)
		valid, _ := expectRows(t, in, m, e.account())
		ctx, cancel := context.WithCancel(t.Context())
		o := e.options(in, m)
		o.Rate = 200
		var logs bytes.Buffer
		o.Progress = &logs
		go func() {
			// Interrupt once some rows are through.
			for e.sim.Stats().UsersCreated < 40 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			cancel()
		}()
		s := e.run(ctx, o)
		if !errors.Is(s.Reason, ErrInterrupted) || s.Status != StatusInterrupted || s.ExitCode() != 3 {
			t.Fatalf("interrupted: status %s reason %v", s.Status, s.Reason)
		}
		if s.Counts.OK == 0 || s.Counts.OK == len(valid) {
			t.Fatalf("ok %d: the interrupt should land mid-run", s.Counts.OK)
		}
		// Every request that left was finished and recorded: gcsim's count matches the ok rows.
		if got := e.sim.Stats().UsersCreated; got != s.Counts.OK {
			t.Fatalf("gcsim created %d users, the run recorded %d ok", got, s.Counts.OK)
		}
		if !strings.Contains(logs.String(), "ok ") {
			t.Fatalf("no progress drawn: %q", logs.String())
		}
		s2 := e.run(t.Context(), e.options(in, m))
		if s2.ExitCode() != 0 || s2.Counts.OK+s2.Counts.Skipped != len(valid) || s2.Counts.Skipped != s.Counts.OK {
			t.Fatalf("resume: %+v", s2.Counts)
		}
		for _, r := range valid {
			if em := emailOf(r.params); em != "" && e.sim.Stats().AddsByEmail[em] != 1 {
				t.Fatalf("line %d added %d times", r.line, e.sim.Stats().AddsByEmail[em])
			}
		}
	})
}
