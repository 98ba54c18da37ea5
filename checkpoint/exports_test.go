package checkpoint

import (
	"errors"
	"testing"
	"time"
)

func TestExports(t *testing.T) {
	s, _ := openTemp(t)
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	recs := []Export{
		{ID: 11, Account: "a", Object: "users", Filters: "created_at%5Bfrom%5D=2024-01-01", Started: t0},
		{ID: 12, Account: "a", Object: "deals", Filters: "status=payed", Started: t0.Add(time.Minute)},
		{ID: 13, Account: "a", Object: "users", Filters: "created_at%5Bfrom%5D=2024-01-01", Started: t0.Add(2 * time.Minute)},
		{ID: 14, Account: "b", Object: "users", Filters: "created_at%5Bfrom%5D=2024-01-01", Started: t0.Add(3 * time.Minute)},
	}
	for _, r := range recs {
		if err := s.PutExport(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutExport(Export{Account: "a"}); err == nil {
		t.Error("an export without an id was accepted")
	}
	for _, tc := range []struct {
		name      string
		account   string
		object    string
		group     int64
		filters   string
		notBefore time.Time
		want      int64
	}{
		{"newest of two", "a", "users", 0, "created_at%5Bfrom%5D=2024-01-01", time.Time{}, 13},
		{"other filters", "a", "users", 0, "created_at%5Bfrom%5D=2024-01-02", time.Time{}, 0},
		{"other group", "a", "users", 5, "created_at%5Bfrom%5D=2024-01-01", time.Time{}, 0},
		{"other account", "b", "users", 0, "created_at%5Bfrom%5D=2024-01-01", time.Time{}, 14},
		{"too old", "a", "users", 0, "created_at%5Bfrom%5D=2024-01-01", t0.Add(5 * time.Minute), 0},
		{"deals", "a", "deals", 0, "status=payed", time.Time{}, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok, err := s.FindPendingExport(tc.account, tc.object, tc.group, tc.filters, tc.notBefore)
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]int64{true: e.ID, false: 0}[ok]; got != tc.want {
				t.Errorf("found %d, want %d", got, tc.want)
			}
		})
	}
	if err := s.MarkExportCollected("a", 13, "out.csv", 42, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkExportFailed("a", 12, "910"); err != nil {
		t.Fatal(err)
	}
	// 13 is collected, so the same command now finds 11; 12 failed, so nothing for deals.
	if e, ok, _ := s.FindPendingExport("a", "users", 0, "created_at%5Bfrom%5D=2024-01-01", time.Time{}); !ok || e.ID != 11 {
		t.Errorf("after collecting 13: %v %v", e.ID, ok)
	}
	if _, ok, _ := s.FindPendingExport("a", "deals", 0, "status=payed", time.Time{}); ok {
		t.Error("a failed export is still pending")
	}
	got, err := s.GetExport("a", 13)
	if err != nil || got.Status != ExportCollected || got.Rows != 42 || got.Output != "out.csv" {
		t.Errorf("GetExport = %+v, %v", got, err)
	}
	if _, err := s.GetExport("a", 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if err := s.MarkExportCollected("a", 99, "", 0, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("marking an unknown id: %v", err)
	}
	list, err := s.ListExports("a")
	if err != nil || len(list) != 3 || list[0].ID != 13 || list[2].ID != 11 {
		t.Errorf("ListExports = %+v, %v", list, err)
	}
}
