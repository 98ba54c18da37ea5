package checkpoint

import (
	"path/filepath"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTest(t, path)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.CachePut("fields/school", []byte(`["Telegram"]`), t0); err != nil {
		t.Fatal(err)
	}
	if err := s.CachePut("empty", nil, t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    string
		maxAge time.Duration
		now    time.Time
		want   string
		ok     bool
	}{
		{"fresh", "fields/school", 10 * time.Minute, t0.Add(9 * time.Minute), `["Telegram"]`, true},
		{"exactly at the age", "fields/school", 10 * time.Minute, t0.Add(10 * time.Minute), `["Telegram"]`, true},
		{"too old", "fields/school", 10 * time.Minute, t0.Add(11 * time.Minute), "", false},
		{"any age", "fields/school", 0, t0.Add(48 * time.Hour), `["Telegram"]`, true},
		{"from the future", "fields/school", time.Hour, t0.Add(-time.Minute), "", false},
		{"missing", "groups/school", time.Hour, t0, "", false},
		{"empty value", "empty", time.Hour, t0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, at, ok, err := s.CacheGet(tt.key, tt.maxAge, tt.now)
			if err != nil || ok != tt.ok || string(v) != tt.want {
				t.Fatalf("CacheGet = %q, %v, %v; want %q, %v", v, ok, err, tt.want, tt.ok)
			}
			if ok != !at.IsZero() || ok && !at.Equal(t0) {
				t.Errorf("stored at %v, want %v", at, t0)
			}
		})
	}

	// A newer put replaces the value; old entries are pruned by any put; delete forgets.
	if err := s.CachePut("fields/school", []byte("v2"), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v, _, ok, _ := s.CacheGet("fields/school", time.Minute, t0.Add(time.Hour)); !ok || string(v) != "v2" {
		t.Errorf("after replace: %q, %v", v, ok)
	}
	if err := s.CachePut("other", []byte("x"), t0.Add(CacheKeep+2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fields/school", "empty"} {
		if _, _, ok, _ := s.CacheGet(k, 0, t0.Add(CacheKeep+2*time.Hour)); ok {
			t.Errorf("%s survived past CacheKeep", k)
		}
	}
	if err := s.CacheDelete("other"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := s.CacheGet("other", 0, t0.Add(CacheKeep+2*time.Hour)); ok {
		t.Error("deleted entry still there")
	}
	if err := s.CacheDelete("never-there"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}

	// Entries survive reopening the file.
	if err := s.CachePut("kept", []byte("y"), t0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openTest(t, path)
	if v, _, ok, err := s2.CacheGet("kept", time.Minute, t0); !ok || string(v) != "y" || err != nil {
		t.Errorf("after reopen: %q, %v, %v", v, ok, err)
	}
}
