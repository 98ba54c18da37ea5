package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CommitterOptions tune the group commit.
type CommitterOptions struct {
	// MaxRows is how many queued records force a commit. Zero means DefaultCommitRows.
	//
	// A commit costs an fsync and rewrites every leaf page it touches. Ledger keys are
	// content hashes, so the rows of one commit land all over the ledger: in a ledger of
	// 100,000 rows a commit of 1,024 rows rewrote ~700 leaves (16 µs per row, a quarter of
	// the importer's CPU), one of 8,192 nearly all of them once (4–6 µs per row). How much of
	// the file one transaction maps is bounded separately (mapBudget): in a large ledger a
	// batch is written by several transactions.
	MaxRows int
	// MaxDelay is the longest a queued record waits before it is committed. Zero means
	// DefaultCommitDelay. With MaxRows it is the "last commit interval" of the crash
	// guarantee: a kill -9 can lose at most the confirmations of one interval, and those rows
	// are sent again (idempotently) on rerun. Rows that must not be sent twice never wait
	// for it: PutSync commits at once.
	MaxDelay time.Duration
}

// The default commit interval: whichever comes first. At the service's real rates (a few
// rows per second) the delay decides and a crash resends a row or two; at full speed on
// loopback the row count does, and a commit carries enough rows to share leaf pages.
const (
	DefaultCommitRows  = 8192
	DefaultCommitDelay = 500 * time.Millisecond
)

// commitQueue is how many records may wait for the writer before Put blocks: enough to ride
// out a slow fsync without stalling the workers, few enough to keep memory flat (a record
// is about 100 bytes).
const commitQueue = 4096

// ErrCommitterClosed is returned by PutSync and Flush (and reported by Err after a Put) when
// the Committer was already closed: the record was not written.
var ErrCommitterClosed = errors.New("checkpoint: ledger writer already closed")

// Committer is the one writer of the ledger. Every bbolt Update ends in an fsync, so writing
// each row on its own would cost a disk flush per row; the Committer gathers the records of
// many rows and writes them in one Update. Its methods are safe for concurrent use.
type Committer struct {
	st       *Store
	maxRows  int
	maxDelay time.Duration

	// mu guards closed against sends on in: senders hold it shared while sending, Close takes
	// it exclusively to close the channel, so no send can race the close.
	mu     sync.RWMutex
	closed bool
	in     chan commitReq
	done   chan struct{} // closed when the writer goroutine has returned

	errMu sync.Mutex
	err   error

	// Owned by the writer goroutine.
	batch   []commitReq
	waiters []chan error
}

// commitReq is a record to write (key != nil), a waiter to release (done != nil), or both.
type commitReq struct {
	key, val []byte
	done     chan error
}

// NewCommitter starts the writer goroutine. Close stops it; until then the Store must stay open.
func (s *Store) NewCommitter(o CommitterOptions) *Committer {
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultCommitRows
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultCommitDelay
	}
	c := &Committer{
		st:       s,
		maxRows:  o.MaxRows,
		maxDelay: o.MaxDelay,
		in:       make(chan commitReq, min(2*o.MaxRows, commitQueue)),
		done:     make(chan struct{}),
		batch:    make([]commitReq, 0, o.MaxRows),
	}
	go c.run()
	return c
}

// Put queues the record of a row. It returns at once unless the queue is full (the disk is
// behind), in which case it waits, so memory stays flat. The record is durable after the next
// commit: within MaxDelay, or at Flush or Close.
func (c *Committer) Put(k RowKey, r RowRecord) {
	key := ledgerKey(nil, k)
	req := commitReq{key: key, val: encodeRecord(nil, key, r)}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		c.setErr(ErrCommitterClosed)
		return
	}
	c.in <- req
}

// PutSync queues the record and returns once it is committed to disk. It joins the next group
// commit rather than forcing one of its own: the writer commits as soon as it has taken in
// everything already queued, so callers arriving while a commit is on disk share the next one.
// An error means the record may not be durable; a canceled ctx returns early with ctx.Err()
// (the record may still be written).
func (c *Committer) PutSync(ctx context.Context, k RowKey, r RowRecord) error {
	key := ledgerKey(nil, k)
	return c.send(ctx, commitReq{key: key, val: encodeRecord(nil, key, r), done: make(chan error, 1)})
}

// Flush commits everything queued before it and waits for that commit.
func (c *Committer) Flush(ctx context.Context) error {
	return c.send(ctx, commitReq{done: make(chan error, 1)})
}

func (c *Committer) send(ctx context.Context, req commitReq) error {
	if err := c.enqueue(ctx, req); err != nil {
		return err
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Committer) enqueue(ctx context.Context, req commitReq) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		if err := c.Err(); err != nil {
			return err
		}
		return ErrCommitterClosed
	}
	select {
	case c.in <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close commits what is queued, stops the writer goroutine and returns the first commit error.
// It is safe to call more than once and from several goroutines.
func (c *Committer) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.in)
	}
	c.mu.Unlock()
	<-c.done
	return c.Err()
}

// Err returns the first commit error so far (a full disk, a failing file). Once a commit has
// failed the Committer writes nothing more, and this error stays, so the importer can stop
// the run on it: the rows whose confirmations were lost are sent again by the next run, and
// a non-idempotent row whose sent mark was lost was never sent (PutSync returned the error).
func (c *Committer) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

func (c *Committer) setErr(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

// run is the writer goroutine. It commits when MaxRows records are gathered, when the oldest
// gathered record has waited MaxDelay, or, when someone is waiting (PutSync, Flush), as soon
// as nothing more is already queued.
func (c *Committer) run() {
	defer close(c.done)
	timer := time.NewTimer(c.maxDelay)
	timer.Stop()
	defer timer.Stop()
	armed := false
	for {
		select {
		case <-timer.C:
			armed = false
			c.commit()
			continue
		case req, ok := <-c.in:
			if !ok {
				c.commit()
				return
			}
			c.take(req)
		}
		// Take in whatever is already queued so that one commit carries it all.
	drain:
		for len(c.batch) < c.maxRows {
			select {
			case req, ok := <-c.in:
				if !ok {
					c.commit()
					return
				}
				c.take(req)
			default:
				break drain
			}
		}
		switch {
		case len(c.batch) >= c.maxRows || len(c.waiters) > 0:
			if armed {
				timer.Stop()
				armed = false
			}
			c.commit()
		case len(c.batch) > 0 && !armed:
			timer.Reset(c.maxDelay)
			armed = true
		}
	}
}

func (c *Committer) take(req commitReq) {
	if req.key != nil {
		c.batch = append(c.batch, req)
	}
	if req.done != nil {
		c.waiters = append(c.waiters, req.done)
	}
}

// commit writes the gathered records and then releases the waiters, so that no PutSync
// returns before its record is on disk. The records go in one Update unless they reach more
// than commitNodeBudget pages of the file; then they are split over several, so that the
// pages one transaction maps stay bounded whatever the size of the ledger.
func (c *Committer) commit() {
	err := c.Err()
	// In key order, bbolt walks the tree front to back and finds the next leaf in the
	// pages it just read (~12% less CPU per commit). Stable, because a key may be queued
	// twice in one batch (a sent mark, then the outcome), and the later record must win.
	slices.SortStableFunc(c.batch, func(a, b commitReq) int { return bytes.Compare(a.key, b.key) })
	for rest := c.batch; err == nil && len(rest) > 0; {
		n, size := 0, int64(0)
		err = c.st.guardedUpdate(func(tx *bolt.Tx) error {
			size = tx.Size()
			b := tx.Bucket(bucketLedger)
			for _, r := range rest {
				if n > 0 && size > mapBudget {
					if st := tx.Stats(); st.GetNodeCount()*faultWindow >= mapBudget {
						break
					}
				}
				if n > 0 && n%32 == 0 && nodeCount(tx) >= commitNodeBudget {
					break
				}
				if err := b.Put(r.key, r.val); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			c.setErr(fmt.Errorf("%s: committing %d ledger records: %w", c.st.path, len(rest), err))
			err = c.Err()
		}
		// The commit touched leaf pages all over the file; keep them out of our RSS. A file
		// within the budget cannot map more than itself: releasing it would only cost the
		// faults that bring it back.
		if size > mapBudget {
			c.st.releaseResident()
		}
		rest = rest[n:]
	}
	for _, w := range c.waiters {
		w <- err
	}
	clear(c.batch) // drop the references so the encoded records can be collected
	c.batch = c.batch[:0]
	clear(c.waiters)
	c.waiters = c.waiters[:0]
}

// mapBudget bounds how much of the state file one transaction maps. Each page of the ledger a
// commit modifies (a bbolt node: a leaf, or a branch above one) is mapped while the
// transaction runs, with the kernel's fault-around window, and read again at its commit; in a
// ledger of a million rows each row reaches a leaf and a branch of its own, so 256 rows mapped
// 32 MiB. Past the budget the rest of the batch goes into the next transaction: a commit then
// carries about 128 rows. (8 MiB, 64 rows, cost a tenth of the import's throughput in fsyncs
// for 8 MiB less peak RSS; 16 MiB keeps a million-row import well under 64 MiB.) A file smaller than the budget cannot map more than itself, so it is
// neither split nor released: in such a small ledger rows share leaves, a commit carries the
// whole batch, and releasing would only cost the faults that bring the pages back.
const mapBudget = 16 << 20

// commitNodeBudget bounds the pages one transaction rewrites, whatever the size of the file:
// bbolt holds each one in memory twice until the commit (as a node, and as the page buffer it
// is written from), about 8 KiB a page. 8,192 rows in a 100,000-row ledger rewrote ~2,500
// pages and added 8 MiB to the peak RSS; past the budget the batch goes on in another
// transaction. Because a batch is written in key order, each transaction covers its own
// stretch of leaves, so the split costs an fsync, not more rewritten pages (no slower in
// the import's measurements).
const commitNodeBudget = 512

// faultWindow is what one page fault on the state file maps: Linux's default fault-around
// (64 KiB) of pages already in the page cache.
const faultWindow = 64 << 10

// nodeCount is how many nodes (leaf and branch pages) the transaction has materialised so far.
func nodeCount(tx *bolt.Tx) int64 {
	st := tx.Stats()
	return st.GetNodeCount()
}
