package checkpoint

import (
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"
)

// TestRowsInDoubt: the walk finds the sent and in-doubt records of one account and target
// (not of another target or account, nor confirmed ones), with their keys, and SettleRows
// replaces them.
func TestRowsInDoubt(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	key := func(account, target string, n int, occ uint32) RowKey {
		return RowKey{Account: account, Target: target, Hash: sha256.Sum256([]byte{byte(n)}), Occurrence: occ}
	}
	c := st.NewCommitter(CommitterOptions{})
	c.Put(key("a", "deals", 1, 0), RowRecord{State: StateSent, RunID: "r1", Line: 2, At: at})
	c.Put(key("a", "deals", 1, 1), RowRecord{State: StateInDoubt, RunID: "r1", Line: 3, Error: "reset", At: at})
	c.Put(key("a", "deals", 2, 0), RowRecord{State: StateConfirmed, RunID: "r1", Line: 4, DealID: 9})
	c.Put(key("a", "messages", 3, 0), RowRecord{State: StateSent, RunID: "r2", Line: 2})
	c.Put(key("ab", "deals", 4, 0), RowRecord{State: StateSent, RunID: "r3", Line: 2})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := st.RowsInDoubt("a", "deals")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != key("a", "deals", 1, 0) || got[1].Key != key("a", "deals", 1, 1) ||
		got[0].Record.State != StateSent || got[1].Record.Error != "reset" || !got[1].Record.At.Equal(at) {
		t.Fatalf("rows in doubt: %+v", got)
	}
	if err := st.SettleRows([]DoubtfulRow{
		{Key: got[0].Key, Record: RowRecord{State: StateConfirmed, RunID: "r1", Line: 2, DealID: 77}},
		{Key: got[1].Key, Record: RowRecord{State: StateInDoubt, RunID: "r1", Line: 3, Error: "2 candidates", At: at}},
	}, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	recs, err := st.LookupRows([]RowKey{got[0].Key, got[1].Key})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].State != StateConfirmed || recs[0].DealID != 77 || recs[1].State != StateInDoubt || recs[1].Error != "2 candidates" {
		t.Fatalf("after SettleRows: %+v", recs)
	}
	if left, err := st.RowsInDoubt("a", "deals"); err != nil || len(left) != 1 || left[0].Key != got[1].Key {
		t.Fatalf("still in doubt: %+v %v", left, err)
	}
	checked, err := st.SettleChecked([]RowKey{got[0].Key, got[1].Key})
	if err != nil || !checked[0].IsZero() || !checked[1].Equal(at.Add(time.Hour)) {
		t.Fatalf("check times %v %v", checked, err)
	}
}
