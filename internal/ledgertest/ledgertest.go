// Package ledgertest works out, for tests, which ledger key the importer files each row of a
// file under, so that tests in every package look rows up in the state file the same way. Only
// tests import it.
package ledgertest

import (
	"crypto/sha256"
	"io"
	"testing"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/mappings"
)

// Row is a valid row of a file, mapped as the importer maps it.
type Row struct {
	Line   int               // the file line the record starts on
	Key    string            // the mapping's key of the row (e-mail, deal number...)
	Params []byte            // the params JSON the importer sends
	Ledger checkpoint.RowKey // the row's key in the ledger
}

// Source is a file as a test reads it: importer.Input, or the importer's own *Source.
type Source[R any] interface {
	Header() []string
	Next() (R, error)
	Close() error
}

// Expect reads every record of src (closing it), maps it with m the way the importer does, and
// keys the valid rows as its ledger does: the account, the mapping's target, the hash of the
// params and how many rows with the same params came before in the file. fields tells a
// record's line, cells and the problem with that record alone. It returns the valid rows and
// the lines of the invalid ones (a bad record, or one the mapping refuses).
func Expect[R any](t testing.TB, m *mappings.Mapping, account string, src Source[R], fields func(R) (line int, cells []string, rowErr error)) (valid []Row, invalid []int) {
	t.Helper()
	defer src.Close()
	c, err := m.Compile(src.Header())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[32]byte]uint32{}
	for {
		rec, err := src.Next()
		if err == io.EOF {
			return valid, invalid
		}
		if err != nil {
			t.Fatal(err)
		}
		line, cells, rowErr := fields(rec)
		if rowErr != nil {
			invalid = append(invalid, line)
			continue
		}
		mp, err := c.Apply(cells)
		if err != nil {
			invalid = append(invalid, line)
			continue
		}
		h := sha256.Sum256(mp.JSON)
		valid = append(valid, Row{Line: line, Key: mp.Key, Params: mp.JSON,
			Ledger: checkpoint.RowKey{Account: account, Target: string(m.Target), Hash: h, Occurrence: seen[h]}})
		seen[h]++
	}
}
