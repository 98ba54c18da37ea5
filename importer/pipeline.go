package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/mappings"
)

// Defaults of Options.
const (
	// DefaultConcurrency is the number of requests in flight at once. Four hides a round trip of
	// up to 800 ms at the default 5 requests/s; raise it for slow links or high rates.
	DefaultConcurrency = 4
	// DefaultDrainTimeout bounds how long requests already on the wire may take to finish after
	// the run is told to stop (Ctrl-C, a fatal answer).
	DefaultDrainTimeout = 20 * time.Second
	// DefaultReportsDir is where run reports go when Options.ReportsDir is empty.
	DefaultReportsDir = "gcbatch-reports"
)

// Run statuses, as stored in checkpoint.Run.Status and written to summary.json.
const (
	StatusRunning     = "running"
	StatusDone        = "done"        // every row ok or skipped
	StatusPartial     = "partial"     // finished, some rows rejected, failed or in doubt
	StatusStopped     = "stopped"     // a fatal answer, --max-rows, or a local failure stopped it
	StatusInterrupted = "interrupted" // Ctrl-C, or the process died (found by a later run)
)

// Row statuses in results.csv.
const (
	RowOK       = "ok"
	RowRejected = "rejected"
	RowFailed   = "failed"
	RowInDoubt  = "in-doubt"
	RowSkipped  = "skipped"
)

// Options configure Run. InputPath, Mapping, Store and NewClient are required.
type Options struct {
	// InputPath is the CSV file to import.
	InputPath string
	// Mapping is the loaded mapping file; MappingPath is recorded in the run (default Mapping.File).
	Mapping     *mappings.Mapping
	MappingPath string
	// Store is the open state file (ledger and runs).
	Store *checkpoint.Store
	// NewClient builds the API client. Run passes the options it needs (its shared limiter and
	// the notify hook that slows it down); the caller adds the account and the key.
	NewClient func(opts ...getcourse.Option) (*getcourse.Client, error)

	// Rate is the most requests per second to send (--rate); zero means DefaultRate.
	Rate rate.Limit
	// Concurrency is the number of requests in flight; zero means DefaultConcurrency.
	Concurrency int
	// MaxRows stops the run cleanly after this many rows were sent; zero means no limit.
	MaxRows int

	// Resend sends rows the ledger has confirmed; RetryRejected sends rows the service
	// rejected before; ResendInDoubt sends non-idempotent rows that may have gone out already;
	// Restart forgets the ledger records of earlier runs of the same file, account and target.
	Resend, RetryRejected, ResendInDoubt, Restart bool

	// ReportsDir is the parent of the run's report folder; empty means DefaultReportsDir.
	ReportsDir string
	// Command is the command line that resumes this import, shown in summaries and runs.
	Command string
	// Progress receives the progress bar; nil means no bar.
	Progress io.Writer
	// Logger gets one line per row outcome (line, status, row key, error; never params);
	// nil discards.
	Logger *slog.Logger
	// Now is the clock for run ids and records; nil means time.Now.
	Now func() time.Time
	// DrainTimeout bounds requests in flight after a stop; zero means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Commit tunes the ledger's group commit (zero fields: the checkpoint defaults).
	Commit checkpoint.CommitterOptions
	// Settle looks up rows that earlier runs left in doubt before anything is sent (settle.go);
	// a nil Settle.Client looks nothing up.
	Settle SettleOptions
}

// Summary is the outcome of a run: what summary.json holds and what the command prints.
type Summary struct {
	RunID   string
	Status  string // StatusDone, StatusPartial, StatusStopped or StatusInterrupted
	Account string
	Target  string
	Input   string // absolute path of the CSV file
	Mapping string

	// Counts are this run's row outcomes; Counts.Total is the rows in the file (or the rows
	// read, when the file could not be counted).
	Counts checkpoint.Counts
	// Left is how many rows of the file this run did not settle (stopped early); -1 unknown.
	Left int
	// RejectedEarlier is how many of Counts.Rejected the service rejected in an earlier run
	// (not sent again without --retry-rejected).
	RejectedEarlier int

	Started, Finished time.Time
	Duration          time.Duration
	// SendTime is how long rows were being sent: from the first request to the last answer.
	SendTime time.Duration
	// Rate is the achieved rate, requests per second between the first and the last answer
	// (comparable with --rate); zero when too few rows were sent to say (under two answers or
	// a second). CheckRate is rows settled per second (sent, skipped, rejected) while the
	// rows flowed; zero when that took under a second.
	Rate, CheckRate float64
	// MaxRate is the --rate asked for; FinalRate where the adaptive limiter ended.
	MaxRate, FinalRate rate.Limit
	// RateLimited counts rate-limited answers; Retried every retried attempt.
	RateLimited, Retried int

	ReportsDir string // REPORTS/RUN_ID
	Command    string // how to resume
	// Reason says why the run stopped early; nil when it went through the whole file.
	Reason error
	// Warnings are the mapping's warnings (non-idempotent rows, group replacement).
	Warnings []string
	// Settle is what the lookup of rows in doubt found before the run sent anything; nil when
	// there was nothing to look up.
	Settle *SettleReport
}

// ExitCode maps the summary to the process exit code of design.md: 3 stopped early, 1 some
// rows rejected, failed or in doubt, 0 all done.
func (s *Summary) ExitCode() int {
	switch {
	case s.Reason != nil:
		return 3
	case s.Counts.Rejected+s.Counts.Failed+s.Counts.InDoubt > 0:
		return 1
	}
	return 0
}

// ErrMaxRows is the Reason of a run that stopped because --max-rows rows were sent.
var ErrMaxRows = errors.New("--max-rows reached")

// ErrInterrupted is the Reason of a run stopped by its context (Ctrl-C).
var ErrInterrupted = errors.New("interrupted")

// FatalError is the Reason of a run stopped by an answer no row can get past: a bad key, a
// forbidden action, a plan without API, a spent allowance, params the service cannot read.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// CallFor returns the API call a mapping target feeds.
func CallFor(t mappings.Target) (getcourse.Call, error) {
	switch t {
	case mappings.TargetUsers:
		return getcourse.CallUsersAdd, nil
	case mappings.TargetDeals:
		return getcourse.CallDealsAdd, nil
	case mappings.TargetMessages:
		return getcourse.CallMessagesSend, nil
	case mappings.TargetGroups:
		return getcourse.CallUsersUpdate, nil
	}
	return getcourse.Call{}, fmt.Errorf("unknown target %q", t)
}

// job is one row on its way through the pipeline, and then its outcome.
type job struct {
	row Row
	key string // the row's key (email, deal number) for reports; never the API key
	// gateKey is key as keyGate orders rows by it (set by keyGate.enter).
	gateKey string
	params  []byte
	rk      checkpoint.RowKey
	keyed   bool // rk is valid (the row mapped)
	prev    checkpoint.RowRecord

	// Outcome. status "" means the row is left for a later run (nothing reported).
	status         string
	errText        string
	warning        string // the mapping's warning for the row (a field left out), for results.csv
	userID, dealID int64
	put            bool // write rec to the ledger
	rec            checkpoint.RowRecord
	sent           bool // a request was made for it
	earlier        bool // the outcome comes from the ledger (an earlier run)
}

// pipeline is the state of one Run shared by its stages.
type pipeline struct {
	o          Options
	runID      string
	account    string
	target     string
	call       getcourse.Call
	idempotent bool
	// ledgerHasRows is whether the ledger held records for the account and target when the
	// run started; without any, the reader does not look rows up.
	ledgerHasRows bool
	client        *getcourse.Client
	lim           *AdaptiveLimiter
	store         *checkpoint.Store
	committer     *checkpoint.Committer
	occ           *checkpoint.Occurrences
	order         *fileOrder // nil when the run cannot overtake a confirmed row (order.go)
	src           Input
	compiled      *mappings.Compiled
	now           func() time.Time
	log           *slog.Logger

	stopCtx context.Context
	stop    context.CancelCauseFunc

	stats *stats
	gate  *keyGate       // rows of one key go out one after another
	run   checkpoint.Run // the run record, saved at start, every progressSave and at the end

	input    string        // absolute path of the input file
	fileRows int           // the rows in the file; -1 when it could not be counted
	settled  *SettleReport // what the lookup of rows in doubt found (setup); nil if nothing
	rep      *reports      // results.csv, rejected.csv and summary.json of the run
}

// Run imports one CSV file: it reads, maps and checks every row against the ledger, sends the
// rows that need sending through a rate-limited worker pool, records every outcome and writes
// the reports. A non-nil error means the run could not start (bad input, mapping, state or
// configuration) and nothing was sent; once rows flow, problems are in the Summary (Reason,
// Status) instead, together with everything that was done.
func Run(ctx context.Context, o Options) (*Summary, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := setup(ctx, o)
	if err != nil {
		return nil, err
	}
	defer p.close()

	// stopCtx ends when the run must take no new rows: Ctrl-C (ctx), a fatal answer, --max-rows,
	// a state file that cannot be written. Requests already on the wire get their own contexts.
	p.stopCtx, p.stop = context.WithCancelCause(ctx)
	defer p.stop(nil)
	// `gcbatch runs` reads the live status beside the state file, whose lock this run holds.
	stopStatus := p.startStatus(p.lim)
	defer stopStatus()

	out := p.runFlow(ctx)
	s := summarize(p.summaryHead(), out)
	if out.occErr != nil && s.Reason == nil {
		// The run is complete; only the scratch data of duplicate detection was not removed.
		o.Logger.Warn("could not drop the run's duplicate-detection data", "error", out.occErr)
	}
	p.finish(s)
	return s, nil
}

// flow runs the stages: one reader (read, map, hash, ledger check), Concurrency workers
// (send), and the collector on this goroutine (ledger, reports, counts). It returns whether
// the reader got to the end of the file and any error that made reading impossible.
func (p *pipeline) flow(rep *reports) (reachedEOF bool, readErr error) {
	jobs := make(chan *job, p.o.Concurrency)
	done := make(chan *job, 2*p.batchSize())

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		reachedEOF, readErr = p.read(jobs, done)
	}()
	for range p.o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(jobs, done)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	p.collect(done, rep)
	return reachedEOF, readErr
}
