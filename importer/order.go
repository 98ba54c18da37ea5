package importer

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/gcbatch/gcbatch/checkpoint"
)

// fileOrder keeps GetCourse as if the file's rows had been applied in file order across runs
// (package doc, "File order across reruns"). keyGate keeps the rows of one key in order within
// a run; across runs the ledger alone would not: when an earlier row of a person failed and a
// later one was confirmed, the next run sends the earlier one and skips the later one, and the
// person ends with the older values.
//
// The rule: a row the ledger has confirmed is skipped only if no earlier row of its key (in
// this file) was applied by a newer run, this one included; otherwise it is sent again, after
// that row (keyGate). Runs are ranked by their start, and within one run the rows of a key
// are applied in file order, so comparing the run that last applied each row is enough; the
// ledger already records it (RowRecord.RunID), and nothing new is written. A rerun that stops
// between the two rows is covered too: the earlier row's record now names the newer run.
//
// Only idempotent targets take part: a message or a deal without a number is never sent
// twice, whatever the order. Rows rejected by the service were not applied and do not count.
type fileOrder struct {
	ranks map[string]uint32 // run id → rank, 1 for the oldest run; unknown ids rank 0
	now   uint32            // this run's rank: newer than every recorded run
	keys  *checkpoint.KeyRanks
	// Resent counts confirmed rows sent again to restore the file's order.
	resent int
}

// keepsFileOrder says whether the run needs a fileOrder: only rows that refresh what they
// name can be overtaken, and only a ledger with rows holds rows that could overtake them.
func (p *pipeline) keepsFileOrder() bool { return p.idempotent && p.ledgerHasRows }

// newFileOrder returns nil when the run cannot meet the problem: a target that is not
// idempotent, or a ledger without rows for the account and target (nothing is skipped).
func newFileOrder(p *pipeline) (*fileOrder, error) {
	if !p.keepsFileOrder() {
		return nil, nil
	}
	runs, err := p.store.ListRuns() // newest first
	if err != nil {
		return nil, err
	}
	o := &fileOrder{ranks: make(map[string]uint32, len(runs)), now: uint32(len(runs)) + 1}
	for i, r := range runs {
		o.ranks[r.ID] = uint32(len(runs) - i)
	}
	// This run is in the list already (saved at its start): it ranks newest either way.
	o.keys = p.occ.Ranks()
	return o, nil
}

// admit is called by the dispatcher, in file order, for every mapped row once the ledger has
// decided it (decide). A confirmed row that an earlier row of its key overtook is turned back
// into a row to send.
func (o *fileOrder) admit(p *pipeline, j *job) error {
	if j.key == "" || j.status != "" && j.status != RowSkipped {
		return nil // names no one, or not applied (rejected, in doubt)
	}
	h := keyHash(j.key)
	latest, err := o.keys.Get(h)
	if err != nil {
		return fmt.Errorf("keeping the file's order: %w", err)
	}
	applied := o.now // sent by this run
	if j.status == RowSkipped {
		applied = o.ranks[j.prev.RunID]
		if latest > applied {
			// An earlier row of this key went out after this one was confirmed: this one
			// must be applied again, after it.
			j.status, j.earlier, j.userID, j.dealID = "", false, 0, 0
			applied = o.now
			o.resent++
			p.log.Info("sending a confirmed row again: an earlier row of the same key was sent after it", "line", j.row.Line, "key", j.key)
		}
	}
	if applied <= latest {
		return nil
	}
	return o.keys.Set(h, applied)
}

// keyHash is the hash KeyRanks files a key under: a prefix no params JSON starts with keeps it
// apart from the params hashes the same Occurrences numbers.
func keyHash(key string) [32]byte {
	var buf [128]byte
	b := append(buf[:0], "key\x00"...)
	return sha256.Sum256(append(b, strings.ToLower(key)...))
}
