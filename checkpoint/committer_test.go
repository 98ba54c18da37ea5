package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

func rowKey(i int) RowKey {
	return RowKey{Account: "school", Target: "users", Hash: testHash(uint64(i)), Occurrence: uint32(i % 3)}
}

// lookupStates returns the state of each of rows [0, n).
func lookupStates(t *testing.T, s *Store, n int) []RowState {
	t.Helper()
	keys := make([]RowKey, n)
	for i := range keys {
		keys[i] = rowKey(i)
	}
	recs, err := s.LookupRows(keys)
	if err != nil {
		t.Fatal(err)
	}
	states := make([]RowState, n)
	for i, r := range recs {
		states[i] = r.State
	}
	return states
}

func TestCommitterConcurrentPutAndPutSync(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	c := s.NewCommitter(CommitterOptions{MaxRows: 50, MaxDelay: 5 * time.Millisecond})
	const workers, perWorker = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for j := range perWorker {
				i := w*perWorker + j
				if j%10 == 0 {
					// A sent mark must be on disk when PutSync returns: check it right away.
					if err := c.PutSync(t.Context(), rowKey(i), RowRecord{State: StateSent, RunID: "r", Line: i}); err != nil {
						errs <- err
						return
					}
					recs, err := s.LookupRows([]RowKey{rowKey(i)})
					if err != nil {
						errs <- err
						return
					}
					if recs[0].State != StateSent {
						errs <- fmt.Errorf("row %d: PutSync returned before its record was committed", i)
						return
					}
				}
				c.Put(rowKey(i), RowRecord{State: StateConfirmed, RunID: "r", Line: i})
			}
			if w%2 == 0 {
				if err := c.Flush(t.Context()); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i, st := range lookupStates(t, s, workers*perWorker) {
		if st != StateConfirmed {
			t.Fatalf("row %d: state %v after Close, want ok (a later Put must win over an earlier PutSync)", i, st)
		}
	}
}

func TestCommitterCommitsByRowsAndByDelay(t *testing.T) {
	tests := []struct {
		name string
		opts CommitterOptions
		rows int
	}{
		// MaxDelay is far away: only reaching MaxRows can commit these.
		{"MaxRows", CommitterOptions{MaxRows: 10, MaxDelay: time.Hour}, 10},
		// MaxRows is far away: only the delay can commit this.
		{"MaxDelay", CommitterOptions{MaxRows: 1 << 20, MaxDelay: 10 * time.Millisecond}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
			c := s.NewCommitter(tt.opts)
			defer c.Close()
			for i := range tt.rows {
				c.Put(rowKey(i), RowRecord{State: StateConfirmed})
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				if lookupStates(t, s, tt.rows)[tt.rows-1] == StateConfirmed {
					return
				}
				select {
				case <-ctx.Done():
					t.Fatalf("records not committed without Flush or Close")
				case <-tick.C:
				}
			}
		})
	}
}

func TestCommitterHoldsRecordsUntilCommit(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	c := s.NewCommitter(CommitterOptions{MaxRows: 1000, MaxDelay: time.Hour})
	for i := range 10 {
		c.Put(rowKey(i), RowRecord{State: StateConfirmed})
	}
	// The writer may still be taking the records in; either way none can be committed yet.
	for i, st := range lookupStates(t, s, 10) {
		if st != StateNone {
			t.Fatalf("row %d committed before MaxRows, MaxDelay, Flush or Close", i)
		}
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, st := range lookupStates(t, s, 10) {
		if st != StateConfirmed {
			t.Fatalf("row %d not committed by Flush", i)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCommitterErrorIsSticky(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	c := s.NewCommitter(CommitterOptions{MaxRows: 100, MaxDelay: time.Hour})
	if err := c.PutSync(t.Context(), rowKey(0), RowRecord{State: StateSent}); err != nil {
		t.Fatal(err)
	}
	// Closing the file under the writer makes the next Update fail, as a dead disk would.
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	c.Put(rowKey(1), RowRecord{State: StateConfirmed})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = c.PutSync(t.Context(), rowKey(2+i), RowRecord{State: StateSent}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("waiter %d released without error after a failed commit", i)
		}
	}
	first := c.Err()
	if first == nil {
		t.Fatal("Err() = nil after a failed commit")
	}
	if err := c.Flush(t.Context()); err == nil || err.Error() != first.Error() {
		t.Errorf("Flush after failure = %v, want %v", err, first)
	}
	if err := c.Close(); err == nil || err.Error() != first.Error() {
		t.Errorf("Close = %v, want the first error %v", err, first)
	}
	if err := c.Close(); err == nil || err.Error() != first.Error() {
		t.Errorf("second Close = %v, want the first error %v", err, first)
	}
	if err := c.Err(); err.Error() != first.Error() {
		t.Errorf("Err changed to %v", err)
	}
}

func TestCommitterClose(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	c := s.NewCommitter(CommitterOptions{MaxDelay: time.Hour})
	for i := range 5 {
		c.Put(rowKey(i), RowRecord{State: StateConfirmed})
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	select {
	case <-c.done:
	default:
		t.Fatal("writer goroutine still running after Close")
	}
	for i, st := range lookupStates(t, s, 5) {
		if st != StateConfirmed {
			t.Errorf("row %d not committed by Close", i)
		}
	}
	if err := c.PutSync(t.Context(), rowKey(9), RowRecord{}); !errors.Is(err, ErrCommitterClosed) {
		t.Errorf("PutSync after Close = %v, want ErrCommitterClosed", err)
	}
	if err := c.Flush(t.Context()); !errors.Is(err, ErrCommitterClosed) {
		t.Errorf("Flush after Close = %v, want ErrCommitterClosed", err)
	}
	c.Put(rowKey(9), RowRecord{})
	if !errors.Is(c.Err(), ErrCommitterClosed) {
		t.Errorf("Err after a Put after Close = %v, want ErrCommitterClosed", c.Err())
	}
}

func TestCommitterWaitsHonourContext(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	c := s.NewCommitter(CommitterOptions{})
	// An open write transaction holds bbolt's writer lock, so the commit cannot finish.
	tx, err := s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, wait := range []func(context.Context) error{
		func(ctx context.Context) error { return c.PutSync(ctx, rowKey(0), RowRecord{State: StateSent}) },
		c.Flush,
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		if err := wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("wait on a stuck commit = %v, want context.DeadlineExceeded", err)
		}
		cancel()
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The record of the abandoned PutSync was still committed: a caller that gave up waiting
	// must treat it as possibly written (the importer then reports the row in doubt).
	if st := lookupStates(t, s, 1)[0]; st != StateSent {
		t.Errorf("row 0: %v, want sent", st)
	}
}

// The crash test runs its writer in a child process (this test binary, re-executed) and kills
// it with SIGKILL once it reports that PutSync returned.
const crashEnv = "GCBATCH_CHECKPOINT_CRASH_STATE"

const (
	crashBefore = 500 // Put before the PutSyncs: carried by their commit
	crashSynced = 20  // PutSync'ed
	crashAfter  = 500 // Put after the last PutSync, never committed: MaxDelay is an hour
)

func TestCommitterCrashKeepsPutSync(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCommitterCrashKeepsPutSync$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdin, err := cmd.StdinPipe() // held open: the child waits on it until killed
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if sc.Text() == "SYNCED" {
			ready = true
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred function runs
		t.Fatal(err)
	}
	cmd.Wait()
	if !ready {
		t.Fatal("child exited without reporting its PutSyncs")
	}

	s := openTest(t, path)
	states := lookupStates(t, s, crashBefore+crashSynced+crashAfter)
	lost := 0
	for i, st := range states {
		switch {
		case i < crashBefore && st != StateConfirmed:
			t.Fatalf("row %d, Put before a PutSync that returned, lost (%v)", i, st)
		case i >= crashBefore && i < crashBefore+crashSynced && st != StateSent:
			t.Fatalf("row %d, PutSync'ed, lost in the crash (%v)", i, st)
		case i >= crashBefore+crashSynced && st == StateNone:
			lost++
		}
	}
	// With an hour's MaxDelay the records Put last cannot have been committed; if they were,
	// the child was not killed where this test thinks.
	if lost != crashAfter {
		t.Errorf("%d of the %d uncommitted records survived SIGKILL", crashAfter-lost, crashAfter)
	}
}

func crashChild(t *testing.T, path string) {
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.NewCommitter(CommitterOptions{MaxRows: 100_000, MaxDelay: time.Hour})
	for i := range crashBefore {
		c.Put(rowKey(i), RowRecord{State: StateConfirmed, RunID: "child"})
	}
	for i := crashBefore; i < crashBefore+crashSynced; i++ {
		if err := c.PutSync(t.Context(), rowKey(i), RowRecord{State: StateSent, RunID: "child", Line: i}); err != nil {
			t.Fatal(err)
		}
	}
	for i := crashBefore + crashSynced; i < crashBefore+crashSynced+crashAfter; i++ {
		c.Put(rowKey(i), RowRecord{State: StateConfirmed, RunID: "child"})
	}
	fmt.Println("SYNCED")
	os.Stdin.Read(make([]byte, 1)) // blocks until the parent kills this process
	t.Fatal("child was not killed: " + strconv.Itoa(os.Getpid()))
}

// BenchmarkCommitter measures rows per second through Put with the default group commit,
// from 8 goroutines as the importer's workers would.
func BenchmarkCommitter(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "state.db"))
	c := s.NewCommitter(CommitterOptions{})
	rec := RowRecord{State: StateConfirmed, RunID: "20261126-172233-3f9a", Line: 12345, UserID: 987654, At: time.Now()}
	b.ResetTimer()
	var next sync.Mutex
	i := 0
	b.SetParallelism(4) // 8 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			i++
			k := rowKey(i)
			next.Unlock()
			c.Put(k, rec)
		}
	})
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkFirstImportLedger is the ledger side of a first import of 100,000 rows: a fresh
// state file, one Put per row from one goroutine (the importer's collector), then Close.
func BenchmarkFirstImportLedger(b *testing.B) {
	const rows = 100_000
	rec := RowRecord{State: StateConfirmed, RunID: "20261126-172233-3f9a", Line: 12345, UserID: 987654, At: time.Now()}
	for b.Loop() {
		b.StopTimer()
		s := openTest(b, filepath.Join(b.TempDir(), "state.db"))
		b.StartTimer()
		c := s.NewCommitter(CommitterOptions{})
		for i := range rows {
			rec.Line = i + 2
			c.Put(rowKey(i), rec)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
