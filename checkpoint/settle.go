package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DoubtfulRow is a ledger record of a row that may or may not have reached the service: its
// sent mark was committed and no outcome followed (StateSent, the process died), or its
// request failed ambiguously (StateInDoubt).
type DoubtfulRow struct {
	Key    RowKey
	Record RowRecord
}

// RowsInDoubt returns every row of account and target whose record is StateSent or
// StateInDoubt, in key order. It walks the records of that account and target only; the
// importer calls it when an earlier run may have left such rows (see importer's settlement),
// so a rerun that has none to settle pays nothing.
func (s *Store) RowsInDoubt(account, target string) ([]DoubtfulRow, error) {
	prefix := ledgerKey(nil, RowKey{Account: account, Target: target})
	prefix = prefix[:len(prefix)-len(RowKey{}.Hash)-4] // account and target only
	var out []DoubtfulRow
	err := s.guardedView(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var prev string
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rest := k[len(prefix):]
			if len(rest) != len(RowKey{}.Hash)+4 {
				return fmt.Errorf("%s: ledger key of %s/%s: %w: wrong length", s.path, account, target, ErrDamaged)
			}
			// Every record is decoded (its checksum checked) before its state is trusted: a
			// damaged state byte must not hide a row in doubt.
			r, err := decodeRecord(k, v, prev)
			if err != nil {
				return fmt.Errorf("%s: ledger record of %s/%s: %w: %w", s.path, account, target, ErrDamaged, err)
			}
			prev = r.RunID
			if r.State != StateSent && r.State != StateInDoubt {
				continue
			}
			row := DoubtfulRow{Key: RowKey{Account: account, Target: target}, Record: r}
			copy(row.Key.Hash[:], rest)
			row.Key.Occurrence = binary.BigEndian.Uint32(rest[len(row.Key.Hash):])
			out = append(out, row)
		}
		return nil
	})
	return out, err
}

// bucketSettle remembers when a settlement last looked a row up and found it ambiguous:
// ledger key → 8-byte big-endian Unix microseconds. A rerun does not spend export calls on
// such a row again (see SettleChecked); `runs settle` does.
var bucketSettle = []byte("settle")

// SettleChecked returns, for each key, when a settlement last found that row ambiguous (zero
// when never).
func (s *Store) SettleChecked(keys []RowKey) ([]time.Time, error) {
	out := make([]time.Time, len(keys))
	err := s.guardedView(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettle)
		if b == nil {
			return nil
		}
		for i, k := range keys {
			if v := b.Get(ledgerKey(nil, k)); len(v) == 8 {
				out[i] = time.UnixMicro(int64(binary.BigEndian.Uint64(v)))
			}
		}
		return nil
	})
	return out, err
}

// SettleRows writes the outcome of a settlement (importer's check of rows in doubt against
// the account's own records) in one transaction: confirmed rows, rows found missing (failed,
// so that the next run sends them) and rows still in doubt with what the check found, whose
// check time (checked) SettleChecked then reports. It goes around the Committer because it
// runs before an import starts, or on its own (`runs settle`), when no Committer is open.
func (s *Store) SettleRows(rows []DoubtfulRow, checked time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	return s.guardedUpdate(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		sb, err := tx.CreateBucketIfNotExists(bucketSettle)
		if err != nil {
			return err
		}
		for _, r := range rows {
			// bbolt keeps the slices until the commit: each Put gets its own.
			k := ledgerKey(nil, r.Key)
			if err := b.Put(k, encodeRecord(nil, k, r.Record)); err != nil {
				return err
			}
			if r.Record.State == StateInDoubt {
				err = sb.Put(k, binary.BigEndian.AppendUint64(nil, uint64(checked.UnixMicro())))
			} else {
				err = sb.Delete(k)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
