package importer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"

	"github.com/gcbatch/gcbatch/checkpoint"
)

// lookupBatch is how many rows are checked against the ledger in one read transaction. A batch
// is looked up in key order, so the larger it is, the more of its keys share the leaves and
// branch pages a lookup reads (when lookups still read through bbolt's mapping, a rerun over
// 200,000 confirmed rows took 1.9 s with 256, 1.5 s with 512 and 1.2 s with 1,024 or 2,048;
// 4,096 was slower again, and held 8 MiB more). Small enough that the first request leaves
// within milliseconds and memory stays flat.
const lookupBatch = 1024

// sendBatch is the reader's batch when there is nothing to look up (a first import into the
// account and target): rows then only pass through on their way to the workers, and larger
// batches would only hold more rows in memory for the garbage collector to trace.
const sendBatch = 256

// batchSize is how many rows the reader hands on at a time.
func (p *pipeline) batchSize() int {
	if p.ledgerHasRows {
		return lookupBatch
	}
	return sendBatch
}

// read is the reader stage. It runs in three goroutines, so that reading and mapping the
// file, the ledger lookups and the decisions overlap (rerunning a large file is mostly
// lookups; with lookups and decisions on separate goroutines a rerun over 200,000 confirmed
// rows averaged 1.85 s in 7 runs, against 2.03 s in 6 alternating runs with one goroutine for
// both): this one reads, maps and numbers the rows in batches (batchSize), lookup reads each
// batch's records from the ledger, and dispatch decides each row and sends it on: those that
// need no request (rejected locally, skipped, in doubt) straight to done, the rest to the
// workers.
func (p *pipeline) read(jobs, done chan<- *job) (reachedEOF bool, err error) {
	batches := make(chan []*job, 1) // read, to be looked up
	looked := make(chan []*job, 1)  // looked up, to be dispatched
	quit := make(chan struct{})     // closed when dispatch takes no more batches
	more := true                    // dispatch went through every batch it was given
	var lookupErr, dispatchErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(looked)
		var keys []checkpoint.RowKey
		for batch := range batches {
			if keys, lookupErr = p.lookup(batch, keys); lookupErr != nil {
				p.stop(lookupErr)
				return
			}
			select {
			case looked <- batch:
			case <-quit:
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer close(quit)
		d := dispatcher{p: p, jobs: jobs, done: done}
		for batch := range looked {
			ok, err := d.dispatch(batch)
			if err != nil {
				p.stop(err)
				dispatchErr = err
			}
			if !ok || err != nil {
				more = false
				return
			}
		}
	}()
	finish := func(eof bool, err error) (bool, error) {
		close(batches)
		wg.Wait()
		if err == nil {
			err = cmp.Or(lookupErr, dispatchErr)
		}
		return eof && more && err == nil, err
	}

	size := p.batchSize()
	batch := make([]*job, 0, size)
	send := func() bool {
		select {
		case batches <- batch:
			batch = make([]*job, 0, size)
			return true
		case <-quit:
			return false
		}
	}
	for {
		if p.stopCtx.Err() != nil {
			return finish(false, nil)
		}
		row, rerr := p.src.Next()
		if rerr == io.EOF {
			if len(batch) > 0 && !send() {
				return finish(false, nil)
			}
			return finish(true, nil)
		}
		if rerr != nil {
			err := fmt.Errorf("reading %s: %w", p.src.Name(), rerr)
			p.stop(err)
			return finish(false, err)
		}
		p.stats.addRead()
		j := &job{row: row}
		if err := p.prepare(j); err != nil {
			p.stop(err)
			return finish(false, err)
		}
		batch = append(batch, j)
		if len(batch) == cap(batch) && !send() {
			return finish(false, nil)
		}
	}
}

// lookup gives each keyed row of a batch what the ledger holds of it (job.prev). keys is a
// buffer to reuse; it is returned for the next batch.
func (p *pipeline) lookup(batch []*job, keys []checkpoint.RowKey) ([]checkpoint.RowKey, error) {
	if !p.ledgerHasRows {
		return keys, nil
	}
	keys = keys[:0]
	for _, j := range batch {
		if j.keyed {
			keys = append(keys, j.rk)
		}
	}
	if len(keys) == 0 {
		return keys, nil
	}
	recs, err := p.store.LookupRows(keys)
	if err != nil {
		return keys, fmt.Errorf("reading the ledger: %w", err)
	}
	ri := 0
	for _, j := range batch {
		if j.keyed {
			j.prev = recs[ri]
			ri++
		}
	}
	return keys, nil
}

// dispatcher is the last part of the reader stage (see read).
type dispatcher struct {
	p          *pipeline
	jobs, done chan<- *job
	dispatched int
}

// dispatch decides each row of a looked-up batch and sends it on. more is false when the run
// takes no more rows (stopped, or --max-rows reached).
func (d *dispatcher) dispatch(batch []*job) (more bool, err error) {
	p := d.p
	for _, j := range batch {
		if j.keyed {
			p.decide(j)
			if p.order != nil {
				if err := p.order.admit(p, j); err != nil {
					return false, err
				}
			}
		}
		if j.status != "" {
			if !sendJob(p.stopCtx, d.done, j) {
				return false, nil
			}
			continue
		}
		if p.o.MaxRows > 0 && d.dispatched >= p.o.MaxRows {
			return false, nil
		}
		goNow, ok := p.gate.enter(p.stopCtx, j)
		if !ok {
			return false, nil
		}
		d.dispatched++ // a parked row is sent later by the worker ahead of it
		if goNow && !sendJob(p.stopCtx, d.jobs, j) {
			return false, nil
		}
	}
	return true, nil
}

func sendJob(ctx context.Context, ch chan<- *job, j *job) bool {
	select {
	case ch <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

// prepare maps a row and gives it its ledger key. A row that cannot be read or mapped is
// rejected here; the returned error is a failure of the state file, which stops the run.
func (p *pipeline) prepare(j *job) error {
	if j.row.Err != nil {
		j.status, j.errText = RowRejected, j.row.Err.Error()
		return nil
	}
	mapped, err := p.compiled.Apply(j.row.Cells)
	if err != nil {
		j.status, j.errText = RowRejected, err.Error()
		return nil
	}
	j.key, j.params, j.warning = mapped.Key, mapped.JSON, mapped.Warning
	hash := sha256.Sum256(mapped.JSON)
	n, err := p.occ.Next(hash)
	if err != nil {
		return fmt.Errorf("counting duplicate rows: %w", err)
	}
	j.rk = checkpoint.RowKey{Account: p.account, Target: p.target, Hash: hash, Occurrence: n}
	j.keyed = true
	// Cells are kept only for rejected.csv; a row that maps needs them only if it fails later,
	// and the reader's memory stays flat either way (one batch at a time).
	return nil
}

// decide applies the ledger's record of an earlier run to a mapped row (package doc, "Resuming").
func (p *pipeline) decide(j *job) {
	prev := j.prev
	switch prev.State {
	case checkpoint.StateConfirmed:
		if !p.o.Resend {
			j.status, j.earlier = RowSkipped, true
			j.userID, j.dealID = prev.UserID, prev.DealID
		}
	case checkpoint.StateRejected:
		if !p.o.RetryRejected {
			j.status, j.earlier = RowRejected, true
			j.errText = fmt.Sprintf("rejected by run %s (not sent again; --retry-rejected sends it): %s", prev.RunID, prev.Error)
		}
	case checkpoint.StateSent, checkpoint.StateInDoubt:
		if !p.o.ResendInDoubt {
			j.status, j.earlier = RowInDoubt, true
			why := prev.Error
			if prev.State == checkpoint.StateSent {
				why = "the run ended while the request was in flight"
			}
			j.errText = fmt.Sprintf("in doubt since run %s: %s; it may have reached GetCourse, so it is not sent again (--resend-in-doubt sends it)", prev.RunID, why)
		}
	}
	// StateFailed and StateNone: send.
}
