package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
	"github.com/gcbatch/gcbatch/internal/ledgertest"
	"github.com/gcbatch/gcbatch/mappings"
)

// importTestKey is the simulated account's key; tests check it never leaks into any output.
const importTestKey = "imp-test-key-7f3a9c2e5b1d"

// importEnv is a simulated account over real HTTP (under a base path) and a work folder.
type importEnv struct {
	t    *testing.T
	sim  *gcsim.Sim
	base string
	key  string
	dir  string
}

func newImportEnv(t *testing.T, cfg gcsim.Config) *importEnv {
	t.Helper()
	if cfg.Key == "" {
		cfg.Key = importTestKey
	}
	sim := gcsim.New(cfg)
	srv := httptest.NewServer(http.StripPrefix("/acct", sim))
	t.Cleanup(srv.Close)
	return &importEnv{t: t, sim: sim, base: srv.URL + "/acct", key: cfg.Key, dir: t.TempDir()}
}

func (e *importEnv) path(parts ...string) string {
	return filepath.Join(append([]string{e.dir}, parts...)...)
}

func (e *importEnv) write(name, content string) string {
	e.t.Helper()
	p := e.path(name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// commonArgs are the global flags every test command line starts with.
func (e *importEnv) commonArgs() []string {
	return []string{"--state", e.path("state.db"), "--reports", e.path("reports"), "--progress", "never"}
}

// gcbatch runs one command line in-process, the key in the (fake) environment.
func (e *importEnv) gcbatch(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	g := newGlobals()
	var out, errb bytes.Buffer
	g.Stdout, g.Stderr = &out, &errb
	g.Getenv = func(name string) string {
		switch name {
		case "GETCOURSE_API_KEY":
			return e.key
		case "GETCOURSE_BASE_URL":
			return e.base
		}
		return ""
	}
	g.WorkDir = e.dir
	defer g.close()
	code = execute(ctx, g, append(e.commonArgs(), args...))
	return code, out.String(), errb.String()
}

// mappedRows maps every row of a CSV file as the importer does, returning the valid rows'
// params and ledger keys (account "" when the ledger is not consulted).
type mappedRow struct {
	line   int
	key    string
	json   []byte
	rowKey checkpoint.RowKey
}

func mappedRows(t *testing.T, mappingPath, csvPath, account string) (m *mappings.Mapping, valid []mappedRow, invalid int) {
	t.Helper()
	m, err := mappings.Load(mappingPath)
	if err != nil {
		t.Fatal(err)
	}
	src, err := importer.OpenInput(csvPath, importer.InputOptionsFor(m))
	if err != nil {
		t.Fatal(err)
	}
	rows, bad := ledgertest.Expect(t, m, account, src, func(r importer.Row) (int, []string, error) { return r.Line, r.Cells, r.Err })
	for _, r := range rows {
		valid = append(valid, mappedRow{line: r.Line, key: r.Key, json: r.Params, rowKey: r.Ledger})
	}
	return m, valid, len(bad)
}

func (e *importEnv) account() string {
	c, err := getcourse.NewClient(getcourse.WithBaseURL(e.base), getcourse.WithKey(e.key))
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Account()
}

// lookup opens the state file (no gcbatch may be running on it) and reads rows' records.
func (e *importEnv) lookup(rows []mappedRow) []checkpoint.RowRecord {
	e.t.Helper()
	st, err := checkpoint.Open(e.path("state.db"), checkpoint.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	keys := make([]checkpoint.RowKey, len(rows))
	for i, r := range rows {
		keys[i] = r.rowKey
	}
	recs, err := st.LookupRows(keys)
	if err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// allRuns returns the runs recorded in the state file, newest first.
func (e *importEnv) allRuns() []checkpoint.Run {
	e.t.Helper()
	st, err := checkpoint.Open(e.path("state.db"), checkpoint.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.ListRuns()
	if err != nil {
		e.t.Fatal(err)
	}
	return runs
}

// lastRun returns the newest run recorded in the state file.
func (e *importEnv) lastRun() checkpoint.Run {
	e.t.Helper()
	runs := e.allRuns()
	if len(runs) == 0 {
		e.t.Fatal("no run is recorded")
	}
	return runs[0]
}

// results reads a run's results.csv as status counts and, per line, the status.
func results(t *testing.T, run checkpoint.Run) (counts map[string]int, byLine map[string]string) {
	t.Helper()
	f, err := os.Open(filepath.Join(run.ReportsDir, importer.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	counts, byLine = map[string]int{}, map[string]string{}
	for _, r := range recs[1:] {
		counts[r[1]]++
		byLine[r[0]] = r[1]
	}
	return counts, byLine
}

// assertNoKey fails if the key, raw or escaped, appears in any file under the work folder or in
// outputs (grepKey does the looking).
func assertNoKey(t *testing.T, dir, key string, outputs ...string) {
	t.Helper()
	named := make(map[string]string, len(outputs))
	for i, o := range outputs {
		named[fmt.Sprintf("output %d", i)] = o
	}
	if files := grepKey(t, dir, key, named); files == 0 {
		t.Fatal("no files were written to check")
	}
}
