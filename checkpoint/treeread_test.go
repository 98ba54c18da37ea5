package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bboltLookup is what bbolt itself finds for each key: the reference the pread reader must
// agree with.
func bboltLookup(t *testing.T, s *Store, keys []RowKey) []RowRecord {
	t.Helper()
	out := make([]RowRecord, len(keys))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		for i, k := range keys {
			key := ledgerKey(nil, k)
			if v := b.Get(key); v != nil {
				r, err := decodeRecord(key, v, "")
				if err != nil {
					return err
				}
				out[i] = r
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRecords(t *testing.T, what string, got, want []RowRecord) {
	t.Helper()
	for i := range want {
		if got[i].State != want[i].State || got[i].RunID != want[i].RunID || got[i].Line != want[i].Line ||
			got[i].UserID != want[i].UserID || got[i].Error != want[i].Error || !got[i].At.Equal(want[i].At) {
			t.Fatalf("%s, key %d: the pread reader found %+v, bbolt %+v", what, i, got[i], want[i])
		}
	}
}

// TestPageReaderAgreesWithBbolt looks up every key of a ledger deep enough to have branch
// pages, with records large enough to need overflow pages, and keys that are not there
// (before the first, between, after the last, other accounts), and compares with bbolt's own
// Get; then rewrites half the records and looks again, so that branch pages kept from the
// first lookups must be dropped.
func TestPageReaderAgreesWithBbolt(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	const n = 30_000
	keys := make([]RowKey, 0, n+400)
	put := func(runID string, every int) {
		c := s.NewCommitter(CommitterOptions{MaxRows: 4096, MaxDelay: time.Hour})
		for i := 0; i < n; i += every {
			r := RowRecord{State: StateConfirmed, RunID: runID, Line: i + 2, UserID: int64(i), At: at}
			switch i % 997 {
			case 0: // a value longer than a page: its leaf has overflow pages
				r.State, r.Error = StateFailed, strings.Repeat("ошибка ", 1200)
			case 1:
				r.State, r.Error = StateRejected, "Пользователь не найден"
			}
			c.Put(RowKey{Account: "school", Target: "users", Hash: testHash(uint64(i))}, r)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	put("20261206-030000-aaaa", 1)
	for i := range n {
		keys = append(keys, RowKey{Account: "school", Target: "users", Hash: testHash(uint64(i))})
	}
	for i := range 100 { // absent: other content, other targets, other accounts
		keys = append(keys,
			RowKey{Account: "school", Target: "users", Hash: testHash(uint64(n + i))},
			RowKey{Account: "school", Target: "users", Hash: testHash(uint64(i)), Occurrence: 1},
			RowKey{Account: "school", Target: "deals", Hash: testHash(uint64(i))},
			RowKey{Account: "a", Target: "users", Hash: testHash(uint64(i))},
			RowKey{Account: "zzz", Target: "users", Hash: testHash(uint64(i))})
	}
	var root uint64
	if err := s.db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(bucketLedger).Root()); return nil }); err != nil {
		t.Fatal(err)
	}
	if root == 0 {
		t.Fatal("the ledger is an inline bucket: the test does not reach the pread reader")
	}
	check := func(what string) {
		want := bboltLookup(t, s, keys)
		for start := 0; start < len(keys); start += 1024 {
			end := min(start+1024, len(keys))
			got, err := s.LookupRows(keys[start:end])
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, what, got, want[start:end])
		}
		if len(s.ledger.branches) == 0 {
			t.Errorf("%s: no branch page was kept between lookups", what)
		}
	}
	check("first")
	put("20261206-031500-bbbb", 2)
	check("after a rewrite")
}

// TestPageReaderDamageAfterOpen damages a leaf of the ledger after the file was opened and
// checked: the lookup must say the file is damaged, not crash and not miss the row.
func TestPageReaderDamageAfterOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openTest(t, path)
	c := s.NewCommitter(CommitterOptions{MaxRows: 4096})
	keys := make([]RowKey, 5000)
	for i := range keys {
		keys[i] = RowKey{Account: "school", Target: "messages", Hash: testHash(uint64(i))}
		c.Put(keys[i], RowRecord{State: StateConfirmed, RunID: "r", Line: i + 2})
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The leaf that holds keys[0] is the one the reader read last when it looked it up.
	if got, err := s.LookupRows(keys[:1]); err != nil || got[0].State != StateConfirmed {
		t.Fatalf("LookupRows = %+v, %v", got, err)
	}
	leaf, pageSize := s.ledger.leafID, s.ledger.pageSize
	if leaf == 0 {
		t.Fatal("the lookup read no leaf with pread")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// An element count far past the page: every element would lie outside it.
	if _, err := f.WriteAt([]byte{0xff, 0x7f}, int64(leaf)*pageSize+10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = s.LookupRows(keys[:1])
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("LookupRows over a damaged leaf = %v, want ErrDamaged", err)
	}
}
