package checkpoint

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRunsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTest(t, path)
	base := time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC)
	runs := []Run{
		{ID: "20261126-170000-aaaa", Account: "school", Target: "users", InputPath: "contacts.csv",
			InputFingerprint: "sha256:1", MappingPath: "users.yaml", MappingHash: "sha256:2",
			Command: "gcbatch import --mapping users.yaml contacts.csv", Status: "done",
			Started: base, Finished: base.Add(time.Minute), ReportsDir: "reports/20261126-170000-aaaa",
			Counts: Counts{Total: 10, OK: 7, Rejected: 1, Failed: 1, InDoubt: 1, Skipped: 0, Sent: 1}},
		{ID: "20261126-180000-bbbb", Status: "running", Started: base.Add(time.Hour)},
		// Same second as the first: the start time, not the id, decides the order.
		{ID: "20261126-170000-0000", Status: "interrupted", Started: base.Add(time.Millisecond), Note: "Ctrl-C"},
	}
	for _, r := range runs {
		if err := s.PutRun(r); err != nil {
			t.Fatal(err)
		}
	}
	// Replacing a run keeps one record.
	runs[1].Status, runs[1].Finished = "partial", base.Add(2*time.Hour)
	if err := s.PutRun(runs[1]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	for _, want := range runs {
		got, err := s.GetRun(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRun(got, want) {
			t.Errorf("GetRun(%s) = %+v, want %+v", want.ID, got, want)
		}
	}
	list, err := s.ListRuns()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, " "), "20261126-180000-bbbb 20261126-170000-0000 20261126-170000-aaaa"; got != want {
		t.Errorf("ListRuns order = %s, want %s", got, want)
	}
}

func sameRun(a, b Run) bool {
	if !a.Started.Equal(b.Started) || !a.Finished.Equal(b.Finished) {
		return false
	}
	a.Started, a.Finished, b.Started, b.Finished = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func TestGetRunUnknown(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	_, err := s.GetRun("20990101-000000-ffff")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "20990101-000000-ffff") {
		t.Errorf("error does not name the run: %v", err)
	}
	if err := s.PutRun(Run{}); err == nil {
		t.Error("PutRun accepted a run without an id")
	}
	if list, err := s.ListRuns(); err != nil || len(list) != 0 {
		t.Errorf("ListRuns on a fresh file = %v, %v", list, err)
	}
}

func TestNewRunID(t *testing.T) {
	now := time.Date(2026, 11, 26, 20, 22, 33, 0, time.FixedZone("MSK", 3*3600))
	pattern := regexp.MustCompile(`^20261126-172233-[0-9a-f]{4}$`)
	seen := map[string]bool{}
	for range 50 {
		id := NewRunID(now)
		if !pattern.MatchString(id) {
			t.Fatalf("NewRunID = %q, want the UTC time and 4 hex digits", id)
		}
		seen[id] = true
	}
	if len(seen) < 40 { // 50 draws from 65,536: a few collisions at most
		t.Errorf("only %d distinct ids in 50 calls in one second", len(seen))
	}
	if a, b := NewRunID(now), NewRunID(now.Add(time.Second)); a >= b {
		t.Errorf("%s does not sort before %s", a, b)
	}
}
