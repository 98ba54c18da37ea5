package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RowKey names one row in the ledger: which account and target it went to, what it said
// (Hash, the SHA-256 of the row's canonical params JSON) and which copy of that content it is
// within its file (Occurrence: how many earlier rows of the same file had the same Hash), so
// that identical rows in one file stay distinct while the same row in tomorrow's file is
// recognised as already sent.
type RowKey struct {
	Account, Target string
	Hash            [32]byte
	Occurrence      uint32
}

// RowState is where a row stands in the ledger.
type RowState uint8

const (
	// StateNone means the ledger has no record of the row.
	StateNone RowState = iota
	// StateSent marks a non-idempotent row whose request is about to leave; it is committed
	// before the request is written, so a crash leaves the row in doubt instead of unsent.
	StateSent
	// StateConfirmed means the service accepted the row; later runs skip it.
	StateConfirmed
	// StateRejected means the service (or local validation) refused the row's values.
	StateRejected
	// StateFailed means the row could not be delivered after all retries.
	StateFailed
	// StateInDoubt means the row may or may not have reached the service; it is not sent
	// again unless the user asks for it.
	StateInDoubt
)

// String returns the word reports use for the state.
func (s RowState) String() string {
	switch s {
	case StateNone:
		return "none"
	case StateSent:
		return "sent"
	case StateConfirmed:
		return "ok"
	case StateRejected:
		return "rejected"
	case StateFailed:
		return "failed"
	case StateInDoubt:
		return "in-doubt"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// RowRecord is what the ledger remembers about a row.
type RowRecord struct {
	State          RowState
	RunID          string
	Line           int
	UserID, DealID int64
	Error          string
	At             time.Time
}

// The first byte of every ledger value says how the rest is laid out, so a later version can
// change the encoding and still read old files. ledgerFormatPlain records (gcbatch before
// state files were sealed) end with the error text; ledgerFormatSealed records add a CRC-32C
// of the record's key and value, so that a changed byte in either is found (see verifyFile:
// a changed key would otherwise turn a confirmed row into a row the ledger does not know,
// and that row would be sent again). Files whose meta bucket records ledgerFormatSealed hold
// only sealed records; older files are sealed when a writer opens them (sealLedger).
const (
	ledgerFormatPlain  = 1
	ledgerFormatSealed = 2
)

// crcTable is CRC-32C (Castagnoli), which the CPU computes in hardware on amd64 and arm64.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ledgerKey appends the key of k to dst. Account and target are length-prefixed rather than
// separated, so no name can run into the next field; all keys of one account and target still
// sit together, and within them keys sort by hash and then occurrence.
func ledgerKey(dst []byte, k RowKey) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(k.Account)))
	dst = append(dst, k.Account...)
	dst = binary.AppendUvarint(dst, uint64(len(k.Target)))
	dst = append(dst, k.Target...)
	dst = append(dst, k.Hash[:]...)
	return binary.BigEndian.AppendUint32(dst, k.Occurrence)
}

// encodeRecord appends the sealed binary form of r, the record of key, to dst: format, state,
// run id, then varints, the error text and the checksum. RunID comes first so that ForgetRuns
// can match it without decoding the rest.
func encodeRecord(dst, key []byte, r RowRecord) []byte {
	start := len(dst)
	dst = append(dst, ledgerFormatSealed, byte(r.State))
	dst = binary.AppendUvarint(dst, uint64(len(r.RunID)))
	dst = append(dst, r.RunID...)
	dst = binary.AppendVarint(dst, int64(r.Line))
	dst = binary.AppendVarint(dst, r.UserID)
	dst = binary.AppendVarint(dst, r.DealID)
	var at int64
	if !r.At.IsZero() {
		at = r.At.UnixMicro()
	}
	dst = binary.AppendVarint(dst, at)
	dst = binary.AppendUvarint(dst, uint64(len(r.Error)))
	dst = append(dst, r.Error...)
	return seal(dst, start, key)
}

// seal appends the checksum of key and dst[start:] to dst.
func seal(dst []byte, start int, key []byte) []byte {
	sum := crc32.Update(crc32.Checksum(key, crcTable), crcTable, dst[start:])
	return binary.BigEndian.AppendUint32(dst, sum)
}

var errBadRecord = errors.New("malformed ledger record")

var errChecksum = errors.New("ledger record does not match its checksum")

// recordBody checks the record v of key and returns it without its checksum (a plain record
// as it is); sealed reports which it was.
func recordBody(key, v []byte) (body []byte, sealed bool, err error) {
	if len(v) < 2 {
		return nil, false, errBadRecord
	}
	switch v[0] {
	case ledgerFormatPlain:
		return v, false, nil
	case ledgerFormatSealed:
		if len(v) < 6 {
			return nil, true, errBadRecord
		}
		body = v[:len(v)-4]
		if crc32.Update(crc32.Checksum(key, crcTable), crcTable, body) != binary.BigEndian.Uint32(v[len(body):]) {
			return nil, true, errChecksum
		}
		return body, true, nil
	}
	return nil, false, errBadRecord
}

// checkRecord verifies the record v of key as decodeRecord would read it.
func checkRecord(key, v []byte) (sealed bool, err error) {
	body, sealed, err := recordBody(key, v)
	if err != nil {
		return sealed, err
	}
	_, err = decodeBody(body, "")
	return sealed, err
}

// recordRunID returns the run id bytes of a record body without copying.
func recordRunID(v []byte) ([]byte, error) {
	if len(v) < 2 {
		return nil, errBadRecord
	}
	n, w := binary.Uvarint(v[2:])
	if w <= 0 || uint64(len(v)-2-w) < n {
		return nil, errBadRecord
	}
	return v[2+w : 2+w+int(n)], nil
}

// decodeRecord checks the record v of key and copies it out (bbolt owns v only until the
// transaction ends). prevRunID is reused when it matches, since a batch of rows mostly comes
// from one run and that saves an allocation per row on the resume path.
func decodeRecord(key, v []byte, prevRunID string) (RowRecord, error) {
	body, _, err := recordBody(key, v)
	if err != nil {
		return RowRecord{}, err
	}
	return decodeBody(body, prevRunID)
}

func decodeBody(v []byte, prevRunID string) (RowRecord, error) {
	var r RowRecord
	id, err := recordRunID(v)
	if err != nil {
		return r, err
	}
	r.State = RowState(v[1])
	if r.State > StateInDoubt {
		return r, errBadRecord
	}
	if string(id) == prevRunID {
		r.RunID = prevRunID
	} else {
		r.RunID = string(id)
	}
	p := v[2+len(id)+uvarintLen(uint64(len(id))):]
	var nums [4]int64
	for i := range nums {
		x, w := binary.Varint(p)
		if w <= 0 {
			return r, errBadRecord
		}
		nums[i], p = x, p[w:]
	}
	r.Line, r.UserID, r.DealID = int(nums[0]), nums[1], nums[2]
	if nums[3] != 0 {
		r.At = time.UnixMicro(nums[3])
	}
	n, w := binary.Uvarint(p)
	if w <= 0 || uint64(len(p)-w) != n {
		return r, errBadRecord
	}
	if n > 0 {
		r.Error = string(p[w:])
	}
	return r, nil
}

func uvarintLen(x uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], x)
}

// LookupRows reads the records of many rows in one read transaction. out[i] belongs to
// keys[i]; a State of StateNone means the ledger has no record of that row. Callers pass
// batches (a few hundred keys) rather than a whole file: a read transaction held for long
// keeps bbolt from reusing freed pages and can stall the writer when the file grows.
func (s *Store) LookupRows(keys []RowKey) ([]RowRecord, error) {
	out := make([]RowRecord, len(keys))
	err := s.guardedView(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		if b == nil {
			return nil // read-only open of a file no import has written to yet
		}
		// Pages are read with pread (see pageReader), in key order: neighbouring keys share
		// leaves and branch pages, which the reader keeps while they serve.
		buf := make([]byte, 0, len(keys)*64)
		ends := make([]int, len(keys))
		order := make([]int, len(keys))
		for i, k := range keys {
			buf = ledgerKey(buf, k)
			ends[i], order[i] = len(buf), i
		}
		enc := func(i int) []byte {
			if i == 0 {
				return buf[:ends[0]]
			}
			return buf[ends[i-1]:ends[i]]
		}
		slices.SortFunc(order, func(a, b int) int { return bytes.Compare(enc(a), enc(b)) })
		get, getErr := b.Get, error(nil)
		if root := uint64(b.Root()); root != 0 { // 0: an inline bucket, read from its parent
			s.ledger.begin(tx)
			defer s.ledger.end()
			get = func(key []byte) []byte {
				v, err := s.ledger.get(tx, root, key)
				getErr = err
				return v
			}
		}
		var prev string
		for _, i := range order {
			v := get(enc(i))
			if getErr != nil {
				return damaged(s.path, fmt.Errorf("reading the ledger: %w", getErr))
			}
			if v == nil {
				continue
			}
			r, err := decodeRecord(enc(i), v, prev)
			if err != nil {
				return damaged(s.path, fmt.Errorf("ledger record of %s/%s %x: %w", keys[i].Account, keys[i].Target, keys[i].Hash[:6], err))
			}
			out[i], prev = r, r.RunID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HasRows reports whether the ledger holds any record for the account and target. An import
// into an account and target the ledger has never seen has nothing to look up: rows of one
// file differ in content or occurrence, so none can match a record the same import wrote.
func (s *Store) HasRows(account, target string) (bool, error) {
	prefix := ledgerKey(nil, RowKey{Account: account, Target: target})
	prefix = prefix[:len(prefix)-len(RowKey{}.Hash)-4] // account and target only
	var found bool
	err := s.guardedView(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		if b == nil {
			return nil
		}
		k, _ := b.Cursor().Seek(prefix)
		found = k != nil && bytes.HasPrefix(k, prefix)
		return nil
	})
	return found, err
}

// forgetChunk bounds how many deletions one ForgetRuns transaction carries, so that forgetting
// a million-row run neither builds a huge transaction in memory nor holds the lock for long.
const forgetChunk = 10_000

// ForgetRuns deletes the ledger records written by the given runs (for `import --restart`)
// and returns how many it deleted. Records written by other runs are kept. It walks the whole
// ledger, because records are ordered by content rather than by run; restarts are rare.
func (s *Store) ForgetRuns(runIDs []string) (int, error) {
	if len(runIDs) == 0 {
		return 0, nil
	}
	ids := make(map[string]bool, len(runIDs))
	for _, id := range runIDs {
		ids[id] = true
	}
	total := 0
	var after []byte // last key looked at by the previous chunk
	for {
		n, last, err := s.forgetChunk(ids, after)
		total += n
		if err != nil {
			return total, err
		}
		if last == nil {
			return total, nil
		}
		after = last
	}
}

// forgetChunk deletes up to forgetChunk matching records after the key `after` (from the
// start when nil). It returns the last key examined, or nil when the walk reached the end.
func (s *Store) forgetChunk(ids map[string]bool, after []byte) (deleted int, last []byte, err error) {
	err = s.guardedUpdate(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		c := b.Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		// Collect first and delete afterwards: deleting under a live cursor makes it skip keys.
		var doomed [][]byte
		for ; k != nil; k, v = c.Next() {
			body, _, err := recordBody(k, v)
			var id []byte
			if err == nil {
				id, err = recordRunID(body)
			}
			if err != nil {
				return damaged(s.path, fmt.Errorf("ledger: %w", err))
			}
			if ids[string(id)] {
				doomed = append(doomed, bytes.Clone(k))
				if len(doomed) == forgetChunk {
					last = doomed[len(doomed)-1]
					break
				}
			}
		}
		for _, d := range doomed {
			if err := b.Delete(d); err != nil {
				return err
			}
		}
		deleted = len(doomed)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return deleted, last, nil
}
