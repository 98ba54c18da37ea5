package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Export states.
const (
	ExportPending   = "pending"   // started (or known), not yet collected
	ExportCollected = "collected" // the file was written completely
	ExportFailed    = "failed"    // the service said 910: this export will never be ready
)

// Export is an export the service has started for us. It is committed before the first poll,
// because the service has no call that lists exports: an export id that is not saved is lost,
// and the budget spent on starting it with it.
type Export struct {
	ID      int64  `json:"id"`
	Account string `json:"account"`
	// Object is users, group-users, deals or payments; GroupID is set for group-users.
	Object  string `json:"object"`
	GroupID int64  `json:"group_id,omitempty"`
	// Filters is the canonical query ("created_at[from]=2024-01-01&status=payed"): two
	// commands with the same object, group and Filters ask for the same data.
	Filters string `json:"filters"`
	// Command is the command line that collects it, for people reading the state.
	Command   string    `json:"command,omitempty"`
	Status    string    `json:"status"`
	Started   time.Time `json:"started"`
	Collected time.Time `json:"collected,omitzero"`
	Output    string    `json:"output,omitempty"`
	Rows      int64     `json:"rows,omitempty"`
	Error     string    `json:"error,omitempty"`
}

func exportKey(id int64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(id))
	return k
}

// PutExport inserts or replaces an export record (one Update: it must be durable before the
// caller polls).
func (s *Store) PutExport(e Export) error {
	if e.Account == "" || e.ID == 0 {
		return fmt.Errorf("export record needs an account and an id")
	}
	if e.Status == "" {
		e.Status = ExportPending
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketExports).CreateBucketIfNotExists([]byte(e.Account))
		if err != nil {
			return err
		}
		return b.Put(exportKey(e.ID), v)
	})
	if err != nil {
		return fmt.Errorf("cannot record export %d in the state file: %w", e.ID, err)
	}
	return nil
}

// GetExport returns the record of export id of account; an unknown id is an error wrapping
// ErrNotFound.
func (s *Store) GetExport(account string, id int64) (Export, error) {
	var e Export
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketExports).Bucket([]byte(account))
		if b == nil {
			return nil
		}
		v := b.Get(exportKey(id))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return Export{}, fmt.Errorf("export %d: %w", id, err)
	}
	if !found {
		return Export{}, fmt.Errorf("export %d of %s: %w", id, account, ErrNotFound)
	}
	return e, nil
}

// ListExports returns the exports recorded for account, newest first.
func (s *Store) ListExports(account string) ([]Export, error) {
	var out []Export
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketExports).Bucket([]byte(account))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e Export
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, err
}

// FindPendingExport returns the newest pending export of account for the same object, group
// and filters started after notBefore (zero: any age), if there is one.
func (s *Store) FindPendingExport(account, object string, groupID int64, filters string, notBefore time.Time) (Export, bool, error) {
	all, err := s.ListExports(account)
	if err != nil {
		return Export{}, false, err
	}
	for _, e := range all {
		if e.Status == ExportPending && e.Object == object && e.GroupID == groupID && e.Filters == filters &&
			(notBefore.IsZero() || e.Started.After(notBefore)) {
			return e, true, nil
		}
	}
	return Export{}, false, nil
}

// MarkExportCollected records that export id was written completely to output.
func (s *Store) MarkExportCollected(account string, id int64, output string, rows int64, at time.Time) error {
	return s.updateExport(account, id, func(e *Export) {
		e.Status, e.Output, e.Rows, e.Collected, e.Error = ExportCollected, output, rows, at, ""
	})
}

// MarkExportFailed records that the service will never deliver export id (910), so that a
// rerun starts a new one instead of collecting it.
func (s *Store) MarkExportFailed(account string, id int64, reason string) error {
	return s.updateExport(account, id, func(e *Export) {
		e.Status, e.Error = ExportFailed, reason
	})
}

func (s *Store) updateExport(account string, id int64, f func(*Export)) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketExports).Bucket([]byte(account))
		var v []byte
		if b != nil {
			v = b.Get(exportKey(id))
		}
		if v == nil {
			return fmt.Errorf("export %d of %s: %w", id, account, ErrNotFound)
		}
		var e Export
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		f(&e)
		nv, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(exportKey(id), nv)
	})
	if err != nil {
		return fmt.Errorf("cannot update export %d in the state file: %w", id, err)
	}
	return nil
}
