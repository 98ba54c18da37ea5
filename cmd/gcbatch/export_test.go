package main

import (
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

var updateExportGolden = flag.Bool("update-export", false, "rewrite cmd/gcbatch/testdata/export goldens")

// fastPolls shrink the export's waits so that tests take milliseconds.
var fastPolls = []string{"--poll-initial", "5ms", "--poll-max", "20ms", "--busy-initial", "10ms"}

func exportArgs(args ...string) []string {
	return append(append([]string{}, args...), fastPolls...)
}

func totalRequests(s gcsim.Stats) int {
	n := 0
	for _, v := range s.Requests {
		n += v
	}
	return n
}

func readCSVFile(t *testing.T, path string, delim rune) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = delim
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func noKey(t *testing.T, key string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, key) {
			t.Fatalf("the key leaked into output: %q", s)
		}
	}
}

func TestExportCommand(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{SeedUsers: 120, SeedDeals: 60, ExportDelay: 30 * time.Millisecond, Seed: 5})
	out := e.path("users.csv")
	code, stdout, stderr := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", out)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	noKey(t, e.key, stdout, stderr)
	recs := readCSVFile(t, out, ',')
	if len(recs) != 121 || recs[0][0] != "id" {
		t.Fatalf("%d lines, header %q", len(recs), recs[0])
	}
	if !strings.Contains(stderr, "wrote 120 rows") || !strings.Contains(stderr, "left in the 2h") {
		t.Errorf("summary: %s", stderr)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}

	t.Run("jsonl to stdout", func(t *testing.T) {
		code, stdout, stderr := e.gcbatch(t.Context(), exportArgs("export", "deals", "--filter", "created_at.from=2000-01-01",
			"--format", "jsonl", "--columns", "Номер=number,Email", "-o", "-")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 60 || !strings.HasPrefix(lines[0], `{"number":"`) || !strings.Contains(lines[0], `,"Email":"`) {
			t.Errorf("%d lines, first %q", len(lines), lines[0])
		}
	})
	t.Run("progress always", func(t *testing.T) {
		code, _, stderr := e.gcbatch(t.Context(), exportArgs("--progress", "always", "export", "users",
			"--created-from", "2000-01-01", "-o", e.path("p.csv"))...)
		if code != 0 || !strings.Contains(stderr, "wrote 120 rows") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("fetch", func(t *testing.T) {
		c, err := getcourse.NewClient(getcourse.WithBaseURL(e.base), getcourse.WithKey(e.key))
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.StartExport(t.Context(), getcourse.ExportRequest{Object: getcourse.ExportPayments,
			Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2000-01-01"}}})
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr := e.gcbatch(t.Context(), exportArgs("export", "fetch", strconv.FormatInt(id, 10), "--excel", "-o", e.path("pay.csv"))...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, _ := os.ReadFile(e.path("pay.csv"))
		if !strings.HasPrefix(string(b), "\ufeff") || !strings.Contains(string(b), ";") || !strings.Contains(string(b), "\r\n") {
			t.Errorf("not Excel-style: %.200q", b)
		}
	})
	t.Run("an unknown export is gone", func(t *testing.T) {
		code, stdout, stderr := e.gcbatch(t.Context(), exportArgs("export", "fetch", "987654", "-o", e.path("none.csv"))...)
		if code != 1 || !strings.Contains(stderr, "Объект не найден") || !strings.Contains(stderr, "no longer has export 987654") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		noKey(t, e.key, stdout, stderr)
		if _, err := os.Stat(e.path("none.csv")); !os.IsNotExist(err) {
			t.Error("a file was written")
		}
	})
}

func TestExportUsageErrors(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{SeedUsers: 5})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no filter", []string{"users", "-o", "x.csv"}, "at least one filter"},
		{"unknown object", []string{"orders", "--created-from", "2024-01-01", "-o", "x.csv"}, "unknown export"},
		{"no object", []string{"-o", "x.csv"}, "say what to export"},
		{"unknown filter", []string{"users", "--filter", "payed_at.from=2024-01-01", "-o", "x.csv"}, "created_at.from, created_at.to, status, email"},
		{"bad date", []string{"deals", "--created-from", "2024-02-30", "-o", "x.csv"}, "not a date"},
		{"date without range", []string{"deals", "--filter", "payed_at=2024-01-01", "-o", "x.csv"}, "payed_at.from"},
		{"reversed range", []string{"deals", "--created-from", "2024-02-01", "--created-to", "2024-01-01", "-o", "x.csv"}, "before it starts"},
		{"bad deal status", []string{"deals", "--status", "paid", "-o", "x.csv"}, "payed"},
		{"bad payment status", []string{"payments", "--status", "ok", "-o", "x.csv"}, "accepted"},
		{"bad user id", []string{"deals", "--filter", "user_id=abc", "-o", "x.csv"}, "not an id"},
		{"bad email", []string{"users", "--filter", "email=a@b.ru,nobody", "-o", "x.csv"}, "not an e-mail"},
		{"twice", []string{"users", "--created-from", "2024-01-01", "--filter", "created_at[from]=2024-01-02", "-o", "x.csv"}, "twice"},
		{"group missing", []string{"group-users", "--created-from", "2024-01-01", "-o", "x.csv"}, "--group"},
		{"group for users", []string{"users", "--group", "5", "--created-from", "2024-01-01", "-o", "x.csv"}, "only applies"},
		{"no output", []string{"users", "--created-from", "2024-01-01"}, "-o OUT.csv"},
		{"output is a folder", []string{"users", "--created-from", "2024-01-01", "-o", "."}, "folder"},
		{"output folder missing", []string{"users", "--created-from", "2024-01-01", "-o", "nope/x.csv"}, "output"},
		{"bad delimiter", []string{"users", "--created-from", "2024-01-01", "--delimiter", "::", "-o", "x.csv"}, "--delimiter"},
		{"bad format", []string{"users", "--created-from", "2024-01-01", "--format", "xls", "-o", "x.csv"}, "--format"},
		{"bad columns", []string{"users", "--created-from", "2024-01-01", "--columns", "a,,b", "-o", "x.csv"}, "--columns"},
		{"bad budget", []string{"users", "--created-from", "2024-01-01", "--budget", "100", "-o", "x.csv"}, "--budget"},
		{"bad fetch id", []string{"fetch", "abc", "-o", "x.csv"}, "positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"export"}, tc.args...)
			// Relative paths land in the test's folder.
			for i, a := range args {
				if i > 0 && args[i-1] == "-o" && a != "-" {
					args[i] = e.path(a)
				}
			}
			code, stdout, stderr := e.gcbatch(t.Context(), args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			noKey(t, e.key, stdout, stderr)
		})
	}
	if n := totalRequests(e.sim.Stats()); n != 0 {
		t.Errorf("usage errors made %d calls", n)
	}
}

func TestExportServiceErrors(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{SeedUsers: 5, ExportDelay: -1})
	c, err := getcourse.NewClient(getcourse.WithBaseURL(e.base), getcourse.WithKey(e.key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Import(t.Context(), getcourse.CallUsersAdd, []byte(`{"user":{"email":"m@example.ru","group_name":["Клуб"]}}`),
		getcourse.CallOptions{Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	gid := ""
	for _, g := range e.sim.Groups() {
		if g.Name == "Клуб" {
			gid = strconv.FormatInt(g.ID, 10)
		}
	}
	if gid == "" {
		t.Fatalf("the group was not created: %+v", e.sim.Groups())
	}
	t.Run("group members", func(t *testing.T) {
		code, _, stderr := e.gcbatch(t.Context(), exportArgs("export", "group-users", "--group", gid,
			"--created-from", "2000-01-01", "-o", e.path("g.csv"))...)
		recs := readCSVFile(t, e.path("g.csv"), ',')
		if code != 0 || len(recs) != 2 {
			t.Fatalf("exit %d, %d lines: %s", code, len(recs), stderr)
		}
	})
	t.Run("status the service refuses", func(t *testing.T) {
		// Group members have no documented status list, so the service is the judge (914).
		code, stdout, stderr := e.gcbatch(t.Context(), exportArgs("export", "group-users", "--group", gid,
			"--status", "gone", "-o", e.path("g2.csv"))...)
		if code != 2 || !strings.Contains(stderr, "914") || !strings.Contains(stderr, "active") || !strings.Contains(stderr, `"gone"`) {
			t.Errorf("exit %d: %s", code, stderr)
		}
		noKey(t, e.key, stdout, stderr)
	})
	t.Run("bad key", func(t *testing.T) {
		saved := e.key
		e.key = "wrong-key-1234567"
		defer func() { e.key = saved }()
		code, stdout, stderr := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("k.csv"))...)
		if code != 3 || !strings.Contains(stderr, "901") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		noKey(t, "wrong-key-1234567", stdout, stderr)
	})
}

func TestExportBudget(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{SeedUsers: 5, ExportDelay: -1})
	budget := []string{"--budget", "7/1h"}
	var code int
	var stderr string
	runs := 0
	for ; runs < 10; runs++ {
		code, _, stderr = e.gcbatch(t.Context(), exportArgs(append([]string{"export", "users", "--created-from", "2000-01-01",
			"-o", e.path("u.csv")}, budget...)...)...)
		if code != 0 {
			break
		}
	}
	// 7 calls with a reserve of 5 for collecting: one export (start + poll) fits.
	if runs != 1 || code != 3 || !strings.Contains(stderr, "frees up at") || !strings.Contains(stderr, "--wait-for-budget") {
		t.Fatalf("after %d runs: exit %d: %s", runs, code, stderr)
	}
	before := e.sim.Stats()
	code, _, stderr = e.gcbatch(t.Context(), exportArgs(append([]string{"export", "users", "--created-from", "2000-01-01",
		"-o", e.path("u.csv")}, budget...)...)...)
	after := e.sim.Stats()
	if code != 3 || totalRequests(after) != totalRequests(before) {
		t.Errorf("a refused run: exit %d, calls %d → %d: %s", code, totalRequests(before), totalRequests(after), stderr)
	}
	st, err := checkpoint.Open(e.path("state.db"), checkpoint.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	calls, err := st.BudgetCalls(e.account(), time.Hour, time.Now())
	if err != nil || len(calls) != after.ExportCalls || after.ExportCalls != 2 {
		t.Errorf("state file holds %d calls, the service saw %d (%v)", len(calls), after.ExportCalls, err)
	}
}

// TestExportGolden pins the CSV, Excel and JSONL forms of a seeded export (cells with commas,
// quotes, newlines and semicolons). go test -run TestExportGolden -update-export rewrites them.
func TestExportGolden(t *testing.T) {
	now := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	e := newImportEnv(t, gcsim.Config{SeedUsers: 40, ExportDelay: -1, Seed: 11, Now: func() time.Time { return now }})
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"users.csv", nil},
		{"users.excel.csv", []string{"--excel"}},
		{"users.jsonl", []string{"--format", "jsonl"}},
		{"users.normalized.csv", []string{"--normalize", "--columns", "id,Email,Имя=Name,Создан=Created"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out := e.path(tc.golden)
			args := append([]string{"export", "users", "--created-from", "2000-01-01", "-o", out}, tc.args...)
			if code, _, stderr := e.gcbatch(t.Context(), exportArgs(args...)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "export", tc.golden)
			if *updateExportGolden {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestExportGolden -update-export creates it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs from the golden file", tc.golden)
			}
		})
	}
	// The seeded data must actually hold the awkward cells the goldens are about.
	found := map[string]bool{}
	for _, rec := range readCSVFile(t, filepath.Join("testdata", "export", "users.csv"), ',') {
		for _, c := range rec {
			for _, s := range []string{",", `"`, "\n", ";"} {
				found[s] = found[s] || strings.Contains(c, s)
			}
		}
	}
	if len(found) != 4 || !found[","] || !found[`"`] || !found["\n"] || !found[";"] {
		t.Errorf("the golden data lacks awkward cells: %v", found)
	}
}

// TestExportKillDuringPolling kills gcbatch with SIGKILL while it polls a slow export, then
// reruns the same command: the service saw one export start, and the file is complete.
func TestExportKillDuringPolling(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{SeedUsers: 200, ExportDelay: 1500 * time.Millisecond})
	args := append(e.commonArgs(), "export", "users", "--created-from", "2000-01-01", "-o", e.path("users.csv"),
		"--poll-initial", "40ms", "--poll-max", "40ms")
	p := e.start(args...)
	polled := waitFor(t, p, func() bool { return e.sim.Stats().Requests["/pl/api/account/exports/{id}"] >= 2 })
	if !polled || p.exited() {
		t.Fatalf("the export was not polling (exit %d): %s", p.code(), p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if c := p.code(); c != -1 {
		t.Fatalf("exit %d after SIGKILL", c)
	}
	if _, err := os.Stat(e.path("users.csv")); !os.IsNotExist(err) {
		t.Fatal("a file exists after the kill")
	}
	p2 := e.start(args...)
	if c := p2.code(); c != 0 {
		t.Fatalf("rerun: exit %d: %s", c, p2.stderr.String())
	}
	if !strings.Contains(p2.stderr.String(), "earlier run") {
		t.Errorf("rerun did not say it resumed: %s", p2.stderr.String())
	}
	if s := e.sim.Stats(); s.ExportStarts != 1 {
		t.Errorf("%d export starts, want 1", s.ExportStarts)
	}
	if recs := readCSVFile(t, e.path("users.csv"), ','); len(recs) != 201 {
		t.Errorf("%d lines, want 201", len(recs))
	}
	noKey(t, e.key, p.stdout.String(), p.stderr.String(), p2.stdout.String(), p2.stderr.String())
	// The temporary file exists only while rows are written (not while polling), and one a
	// killed download leaves is removed by the next run.
	if left, _ := filepath.Glob(e.path(".users.csv.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
