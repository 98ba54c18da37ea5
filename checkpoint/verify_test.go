package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// damageState writes a state file as an import leaves it: a ledger of rows records (some
// rewritten, some with long errors that need overflow pages), runs, a budget and exports with
// their nested per-account buckets, and a ForgetRuns that leaves free pages behind.
func damageState(t testing.TB, path string, rows int) []RowKey {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]RowKey, rows)
	c := s.NewCommitter(CommitterOptions{MaxRows: 300})
	for i := range rows {
		keys[i] = RowKey{Account: "school", Target: "messages", Hash: testHash(uint64(i))}
		c.Put(keys[i], RowRecord{State: StateSent, RunID: "20261126-172233-3f9a", Line: i + 2})
		r := RowRecord{State: StateConfirmed, RunID: "20261126-172233-3f9a", Line: i + 2}
		if i%97 == 0 {
			r = RowRecord{State: StateRejected, RunID: "20261126-172233-3f9a", Line: i + 2, Error: strings.Repeat("Неверный e-mail ", 300)}
		}
		c.Put(keys[i], r)
	}
	c.Put(RowKey{Account: "school", Target: "users", Hash: testHash(1 << 40)}, RowRecord{State: StateConfirmed, RunID: "forget-me"})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ForgetRuns([]string{"forget-me"}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.PutRun(Run{ID: fmt.Sprintf("20261126-17223%d-3f9a", i), Status: "done", Account: "school", Target: "messages"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutExport(Export{Account: "school", ID: 7, Object: "users"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CachePut("fields/school", []byte(`{"fields":[]}`), testNow); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return keys
}

var testNow = time.Date(2026, 11, 26, 17, 22, 33, 0, time.UTC)

// readAll reads everything gcbatch reads from a store: the ledger records of keys, the runs,
// the exports and the cache.
func readAll(s *Store, keys []RowKey) ([]RowRecord, error) {
	recs, err := s.LookupRows(keys)
	if err != nil {
		return nil, err
	}
	if _, err := s.ListRuns(); err != nil {
		return nil, err
	}
	if _, err := s.ListExports("school"); err != nil {
		return nil, err
	}
	if _, _, _, err := s.CacheGet("fields/school", 1<<40, testNow); err != nil {
		return nil, err
	}
	if _, err := s.HasRows("school", "users"); err != nil {
		return nil, err
	}
	return recs, nil
}

// TestVerifyFindsDamage overwrites 1–64 random bytes past the meta pages of a real state file,
// seed after seed, as a failing disk or a bad copy would. Whatever the damage, Open either
// reports ErrDamaged, or opens a file from which every ledger record reads back exactly as it
// was written: no crash, and no row that silently lost its record (which would be sent
// again). Damage is found by Open itself, before anything could be sent.
func TestVerifyFindsDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	keys := damageState(t, orig, 3000)
	clean, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	want, err := func() ([]RowRecord, error) {
		s, err := Open(orig, Options{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return readAll(s, keys)
	}()
	if err != nil {
		t.Fatal(err)
	}
	seeds := 150
	if testing.Short() {
		seeds = 40
	}
	detected, harmless := 0, 0
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 18))
		b := bytes.Clone(clean)
		n := 1 + rng.IntN(64)
		at := 8192 + rng.IntN(len(b)-8192-n)
		for i := range n {
			b[at+i] = byte(rng.Uint32())
		}
		path := filepath.Join(dir, fmt.Sprintf("seed%d.db", seed))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("seed %d (%d bytes at %d): Open: %v, want ErrDamaged", seed, n, at, err)
			}
			detected++
			os.Remove(path)
			continue
		}
		got, err := readAll(s, keys)
		s.Close()
		if err != nil {
			t.Fatalf("seed %d (%d bytes at %d): Open found nothing but a read failed: %v", seed, n, at, err)
		}
		for i := range got {
			if !got[i].At.Equal(want[i].At) || got[i].RunID != want[i].RunID || got[i].State != want[i].State || got[i].Error != want[i].Error || got[i].Line != want[i].Line {
				t.Fatalf("seed %d (%d bytes at %d): record %d reads %+v, was %+v, and Open found nothing", seed, n, at, i, got[i], want[i])
			}
		}
		harmless++ // the bytes fell where bbolt never reads (free pages, the unused end of a page)
		os.Remove(path)
	}
	t.Logf("%d damaged files: %d found damaged, %d harmless", seeds, detected, harmless)
	// Most of a file that has been written for a while is free pages and the unused ends of
	// pages; a fifth of the seeds landing in used bytes shows the test reaches them.
	if detected < seeds/5 {
		t.Errorf("only %d of %d damaged files were found damaged: the damage landed mostly where nothing is read, so the test proves little", detected, seeds)
	}
}

// TestVerifyFlippedKeyByte changes one byte inside a ledger key, where the record's value is
// intact: without the key in the checksum, the row would simply look unsent.
func TestVerifyFlippedKeyByte(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	keys := damageState(t, path, 600)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k := ledgerKey(nil, keys[123])
	i := bytes.Index(b, k)
	if i < 0 {
		t.Fatal("the key is not in the file")
	}
	b[i+len(k)-6] ^= 0x01 // inside the hash
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Open with a flipped key byte: %v, want ErrDamaged naming the checksum", err)
	}
}

// TestSealOlderLedger: a file written before records had checksums opens, gets its records
// sealed (so damage in it is found from then on), and reads back the same.
func TestSealOlderLedger(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	keys := damageState(t, path, 25_000) // more than one sealChunk
	// Turn it into the older format: plain records, no format mark.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		var ks, vs [][]byte
		b.ForEach(func(k, v []byte) error {
			nv := bytes.Clone(v[:len(v)-4])
			nv[0] = ledgerFormatPlain
			ks, vs = append(ks, bytes.Clone(k)), append(vs, nv)
			return nil
		})
		for i := range ks {
			if err := b.Put(ks[i], vs[i]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(metaLedgerFormat)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTest(t, path)
	recs, err := s.LookupRows(keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.State != StateConfirmed && r.State != StateRejected || r.Line != i+2 {
			t.Fatalf("record %d after sealing: %+v", i, r)
		}
	}
	if err := s.guardedView(func(tx *bolt.Tx) error {
		if f := tx.Bucket(bucketMeta).Get(metaLedgerFormat); !bytes.Equal(f, []byte{ledgerFormatSealed}) {
			return fmt.Errorf("format mark %x", f)
		}
		return tx.Bucket(bucketLedger).ForEach(func(k, v []byte) error {
			if _, sealed, err := recordBody(k, v); !sealed || err != nil {
				return fmt.Errorf("record %x not sealed: %v", k, err)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVerify measures Open's whole-file check on a ledger of 200,000 rows (the resume
// figure's size), beside bbolt's own consistency check (tx.Check) of the same file.
func BenchmarkVerify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.db")
	writeRealState(b, path, 200_000)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	b.Run("verifyFile", func(b *testing.B) {
		b.SetBytes(info.Size())
		for b.Loop() {
			if err := verifyFile(f, info.Size()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bbolt-tx.Check", func(b *testing.B) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		b.SetBytes(info.Size())
		for b.Loop() {
			if err := db.View(func(tx *bolt.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
