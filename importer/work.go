package importer

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
)

// Request states for drain handling (see worker).
const (
	reqIdle      int32 = iota // between requests
	reqWaiting                // waiting for the limiter; nothing written
	reqOnWire                 // a connection was taken: bytes may be on the wire
	reqCancelled              // cancelled by a stop before any connection was taken
)

// worker is what one worker goroutine keeps across its rows: the context its requests run on
// and the state of the request in flight. A stop cancels that context at once while the
// request only waits for the limiter, and after DrainTimeout once it is on the wire, so that
// its outcome is known and committed. Everything is set up once per worker, not per row: a
// context, a trace and a stop hook per request cost more than the rest of the pipeline.
type worker struct {
	ctx     context.Context
	cancel  context.CancelFunc
	state   atomic.Int32
	gotConn atomic.Bool // the request in flight took a connection

	mu    sync.Mutex
	drain *time.Timer // armed by a stop that found a request on the wire
}

func (p *pipeline) newWorker() (w *worker, stop func()) {
	w = &worker{}
	ctx, cancel := context.WithCancel(context.WithoutCancel(p.stopCtx))
	w.cancel = cancel
	w.ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			w.gotConn.Store(true)
			w.state.CompareAndSwap(reqWaiting, reqOnWire)
		},
	})
	stopWatch := context.AfterFunc(p.stopCtx, func() {
		if w.state.CompareAndSwap(reqWaiting, reqCancelled) {
			cancel()
			return
		}
		// On the wire, or between rows (the worker then takes no new row): let the request
		// finish within DrainTimeout.
		w.mu.Lock()
		w.drain = time.AfterFunc(p.o.DrainTimeout, cancel)
		w.mu.Unlock()
	})
	return w, func() {
		stopWatch()
		w.mu.Lock()
		if w.drain != nil {
			w.drain.Stop()
		}
		w.mu.Unlock()
		cancel()
	}
}

// work is one worker: take a row, send it, hand the outcome to the collector.
func (p *pipeline) work(jobs <-chan *job, done chan<- *job) {
	w, stop := p.newWorker()
	defer stop()
	for {
		var j *job
		var ok bool
		select {
		case <-p.stopCtx.Done():
			return
		case j, ok = <-jobs:
			if !ok {
				return
			}
		}
		if p.stopCtx.Err() != nil {
			return // the row stays unsent; the next run takes it
		}
		// Then the rows of the same key that were parked behind this one (keyGate), in order.
		for j != nil {
			p.send(w, j)
			next := p.gate.leave(j)
			done <- j
			if next != nil && p.stopCtx.Err() != nil {
				return // parked rows stay unsent too
			}
			j = next
		}
	}
}

// send makes the row's request and sets its outcome. For a non-idempotent row the outcome is
// also committed here, before the worker takes its next row: its sent mark is already on
// disk, and an outcome left waiting for the next group commit would turn into "in doubt" if
// the process died now, so the rows in doubt after a crash are only the ones truly in flight.
func (p *pipeline) send(w *worker, j *job) {
	p.sendRow(w, j)
	if !p.idempotent && j.put {
		if err := p.committer.PutSync(context.WithoutCancel(p.stopCtx), j.rk, j.rec); err != nil {
			p.stop(fmt.Errorf("the state file could not be written: %w", err))
		}
		j.put = false
	}
}

func (p *pipeline) sendRow(w *worker, j *job) {
	rec := checkpoint.RowRecord{RunID: p.runID, Line: j.row.Line}
	if !p.idempotent {
		// The sent mark is durable before the request can leave: after a crash the row is in
		// doubt, never silently sent twice.
		rec.State, rec.At = checkpoint.StateSent, p.now()
		if err := p.committer.PutSync(context.WithoutCancel(p.stopCtx), j.rk, rec); err != nil {
			p.stop(fmt.Errorf("the state file could not be written: %w", err))
			return
		}
	}
	// Waiting first, then the stop check: a stop that comes after this line finds the request
	// waiting and cancels it; one that came before is seen here.
	w.gotConn.Store(false)
	w.state.Store(reqWaiting)
	defer w.state.Store(reqIdle)
	if p.stopCtx.Err() != nil {
		p.unmark(j)
		return
	}
	j.sent = true
	p.stats.addSent()
	res, err := p.client.Import(w.ctx, p.call, j.params, getcourse.CallOptions{Idempotent: p.idempotent})

	if err == nil {
		j.status = RowOK
		j.userID, j.dealID = res.UserID, res.DealID
		rec.State, rec.UserID, rec.DealID = checkpoint.StateConfirmed, res.UserID, res.DealID
		j.put, j.rec = true, p.stamp(rec)
		return
	}
	if w.state.Load() == reqCancelled && !w.gotConn.Load() {
		// Stopped before anything was written: the row was never sent.
		j.sent = false
		p.stats.unSent()
		p.unmark(j)
		return
	}
	var ae *getcourse.APIError
	errors.As(err, &ae)
	kind := getcourse.KindOf(err)
	switch {
	case kind.Fatal():
		// The service refused the call as a whole (bad key, no allowance...): nothing happened
		// to this row. Stop the run; the row stays unrecorded, so the next run sends it.
		p.stop(&FatalError{Err: err})
		p.unmark(j)
	case kind == getcourse.KindValidation:
		j.status, j.errText = RowRejected, err.Error()
		rec.State, rec.Error = checkpoint.StateRejected, err.Error()
		j.put, j.rec = true, p.stamp(rec)
	case ae != nil && ae.InDoubt:
		j.status, j.errText = RowInDoubt, err.Error()
		rec.State, rec.Error = checkpoint.StateInDoubt, err.Error()
		j.put, j.rec = true, p.stamp(rec)
	case w.ctx.Err() != nil:
		// Cut by the stop (after DrainTimeout): an idempotent row is simply sent again by the
		// next run; a non-idempotent one is only cut here when no attempt may have reached
		// the service (the client marks that InDoubt otherwise).
		p.unmark(j)
	default:
		j.status, j.errText = RowFailed, err.Error()
		rec.State, rec.Error = checkpoint.StateFailed, err.Error()
		j.put, j.rec = true, p.stamp(rec)
	}
}

func (p *pipeline) stamp(r checkpoint.RowRecord) checkpoint.RowRecord {
	r.At = p.now()
	return r
}

// unmark takes back the sent mark of a non-idempotent row that did not leave, so the next run
// sends it instead of holding it in doubt. Idempotent rows carry no mark.
func (p *pipeline) unmark(j *job) {
	if p.idempotent {
		return
	}
	j.put, j.rec = true, checkpoint.RowRecord{State: checkpoint.StateNone, RunID: p.runID, Line: j.row.Line, At: p.now()}
}
