package checkpoint

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testHash gives a deterministic, well-spread hash for i, like a SHA-256 would be.
func testHash(i uint64) [32]byte {
	r := rand.New(rand.NewPCG(i, 0x9e3779b97f4a7c15))
	var h [32]byte
	for j := 0; j < 32; j += 8 {
		v := r.Uint64()
		for k := range 8 {
			h[j+k] = byte(v >> (8 * k))
		}
	}
	return h
}

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeRealState creates a state file with rows, runs and enough pages to be worth damaging.
func writeRealState(t testing.TB, path string, rows int) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.NewCommitter(CommitterOptions{MaxRows: 500})
	for i := range rows {
		c.Put(RowKey{Account: "school", Target: "users", Hash: testHash(uint64(i))},
			RowRecord{State: StateConfirmed, RunID: "20261126-172233-3f9a", Line: i + 2, UserID: int64(i)})
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRun(Run{ID: "20261126-172233-3f9a", Status: "done"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// useStore exercises every read path.
func useStore(s *Store) error {
	if _, err := s.LookupRows([]RowKey{{Account: "school", Target: "users", Hash: testHash(1)}}); err != nil {
		return err
	}
	if _, err := s.ListRuns(); err != nil {
		return err
	}
	_, err := s.ForgetRuns([]string{"nope"})
	return err
}

func TestOpenDamaged(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.db")
	writeRealState(t, real, 20000)
	data, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	noise := func(n int) []byte {
		b := make([]byte, n)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	tests := []struct {
		name    string
		content []byte
	}{
		{"random bytes", noise(64 << 10)},
		{"a few random bytes", noise(100)},
		{"text file", []byte("line,email\n2,a@example.com\n")},
		{"truncated to half", data[:len(data)/2]},
		{"truncated to a tenth", data[:len(data)/10]},
		{"truncated inside the meta pages", data[:5000]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a damaged file")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("err = %v, want ErrDamaged", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "mv ") {
				t.Errorf("error does not name the file and the way out: %v", err)
			}
			// A failed Open must not leave the file locked.
			os.Remove(path)
			openTest(t, path)
		})
	}
}

// TestDamagedPagesDoNotCrash zeroes the ledger's root page in a real file: the meta pages and
// the freelist are intact, so bbolt would open it, and the damage would only show when a
// transaction reaches the ledger. Open's check finds it first; and should a page go bad after
// Open, every read and write of the store still reports damage instead of crashing.
func TestDamagedPagesDoNotCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writeRealState(t, path, 20000)
	s := openTest(t, path)
	var root uint64
	var pageSize int
	if err := s.db.View(func(tx *bolt.Tx) error {
		root, pageSize = uint64(tx.Bucket(bucketLedger).Root()), tx.DB().Info().PageSize
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, pageSize), int64(root)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if s, err := Open(path, Options{}); !errors.Is(err, ErrDamaged) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a file whose ledger root is zeroed: %v, want ErrDamaged", err)
	}
	// Damage after Open: the same bytes, zeroed under an open store.
	os.Remove(path)
	writeRealState(t, path, 20000)
	s = openTest(t, path)
	f, err = os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, pageSize), int64(root)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	defer s.Close()
	if _, err := s.ListRuns(); err != nil {
		t.Errorf("runs are intact, but ListRuns: %v", err)
	}
	_, err = s.LookupRows([]RowKey{{Account: "school", Target: "users", Hash: testHash(1)}})
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("LookupRows on a damaged ledger: %v, want ErrDamaged", err)
	}
	if _, err := s.ForgetRuns([]string{"x"}); !errors.Is(err, ErrDamaged) {
		t.Errorf("ForgetRuns on a damaged ledger: %v, want ErrDamaged", err)
	}
	c := s.NewCommitter(CommitterOptions{})
	err = c.PutSync(t.Context(), RowKey{Account: "school", Target: "users", Hash: testHash(1)}, RowRecord{State: StateConfirmed})
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("PutSync into a damaged ledger: %v, want ErrDamaged", err)
	}
	if err := c.Close(); !errors.Is(err, ErrDamaged) {
		t.Errorf("Close after a failed commit: %v, want ErrDamaged", err)
	}
}

// TestOpenEmptyFileIsDamage: gcbatch never leaves an empty state file (a new one is made
// under a temporary name), so an empty one was emptied or cut, and taking it as new would
// send every row again.
func TestOpenEmptyFileIsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		s, err := Open(path, Options{ReadOnly: ro})
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "empty") {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open(read-only %v) of an empty file: %v, want ErrDamaged", ro, err)
		}
	}
	if info, err := os.Stat(path); err != nil || info.Size() != 0 {
		t.Fatalf("the empty file was changed: %v %v", info, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("Open left files behind: %v", ents)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openTest(t, path)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %v, want 0600", perm)
	}
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openTest(t, path)
	s, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
}
