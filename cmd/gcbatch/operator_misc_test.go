package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
)

// summaryOf reads the summary.json of the newest run.
func summaryOf(t *testing.T, e *importEnv) importer.SummaryReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.lastRun().ReportsDir, importer.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s importer.SummaryReport
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOperatorSummaryRates: the summary's speeds are labelled and measured over what they
// measure: one row sent gives no rate at all (not "1,000 rows/s"), many rows give sent/s
// beside --rate, and a rerun that skips every row says 0 sent and claims no sending rate.
func TestOperatorSummaryRates(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	one, mp, _ := usersFile(t, e, "one", 1)
	code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "5/s", one)
	if code != 0 || !strings.Contains(out, "1 sent in ") || !strings.Contains(out, "too few to measure a rate") ||
		strings.Contains(out, "/s (--rate") || strings.Contains(out, "rows/s") {
		t.Fatalf("one row: exit %d\n%s%s", code, out, errOut)
	}
	if s := summaryOf(t, e); s.AchievedRate != 0 || s.Counts.Sent != 1 {
		t.Fatalf("one row: summary.json says %v sent/s over %d sent", s.AchievedRate, s.Counts.Sent)
	}

	many, mp, _ := usersFile(t, e, "many", 40)
	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "400/s", many)
	if code != 0 || !regexp.MustCompile(`40 sent in [0-9.]+m?s, [0-9.]+ sent/s \(--rate 400/s\)`).MatchString(out) {
		t.Fatalf("40 rows: exit %d\n%s%s", code, out, errOut)
	}
	if s := summaryOf(t, e); s.AchievedRate <= 0 || s.Counts.Sent != 40 {
		t.Fatalf("40 rows: summary.json says %v sent/s over %d sent", s.AchievedRate, s.Counts.Sent)
	}

	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "400/s", many)
	if code != 0 || !strings.Contains(out, ", 0 sent") || strings.Contains(out, "sent/s") {
		t.Fatalf("a rerun that skips every row: exit %d\n%s%s", code, out, errOut)
	}
	if s := summaryOf(t, e); s.AchievedRate != 0 || s.Counts.Sent != 0 || s.Counts.Skipped != 40 {
		t.Fatalf("rerun: summary.json says %v sent/s, %d sent, %d skipped", s.AchievedRate, s.Counts.Sent, s.Counts.Skipped)
	}
}

// TestOperatorValidateFolders: every validate makes a report folder, and only the newest
// KeepValidateReports stay; a folder holding something else than validate's output is kept,
// and the summary says what was removed.
func TestOperatorValidateFolders(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	in, mp, _ := usersFile(t, e, "v", 3)
	foreign := filepath.Join(e.path("reports"), "validate-20000101-000000")
	if err := os.MkdirAll(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	e.write(filepath.Join("reports", "validate-20000101-000000", "notes.txt"), "mine")
	var last string
	for i := range importer.KeepValidateReports + 3 {
		code, out, errOut := e.gcbatch(t.Context(), "validate", "--mapping", mp, in)
		if code != 0 {
			t.Fatalf("validate %d: exit %d\n%s%s", i, code, out, errOut)
		}
		if i == importer.KeepValidateReports+2 && !strings.Contains(out, "older validate report folder") {
			t.Errorf("the summary does not say folders were removed:\n%s", out)
		}
		m := regexp.MustCompile(`\((\S+rejected\.csv) has the header only\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no report path in:\n%s", out)
		}
		last = filepath.Dir(m[1])
	}
	entries, err := os.ReadDir(e.path("reports"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, d := range entries {
		if strings.HasPrefix(d.Name(), "validate-") && d.Name() != filepath.Base(foreign) {
			kept = append(kept, d.Name())
		}
	}
	if len(kept) != importer.KeepValidateReports {
		t.Fatalf("%d validate folders kept, want %d: %v", len(kept), importer.KeepValidateReports, kept)
	}
	if _, err := os.Stat(last); err != nil {
		t.Errorf("the newest folder was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "notes.txt")); err != nil {
		t.Errorf("a folder with a person's file in it was removed: %v", err)
	}
}

// TestOperatorSimSignal: `gcbatch sim` stopped by SIGTERM says it stops the simulator, not
// the import's "saving progress", and exits 0.
func TestOperatorSimSignal(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := e.start("sim", "--listen", addr)
	up := waitFor(t, p, func() bool {
		resp, err := http.Get("http://" + addr + "/pl/api/account/groups")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	if !up {
		t.Fatalf("the simulator did not start:\n%s", p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the simulator did not stop on SIGTERM")
	}
	msg := p.stderr.String()
	if code := p.code(); code != 0 || !strings.Contains(msg, "stopping the simulator") || strings.Contains(msg, "saving progress") {
		t.Fatalf("sim on SIGTERM: exit %d, stderr:\n%s", code, msg)
	}
}
