package importer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/mappings"
)

// withDefaults checks the required options and fills in the defaults of the others.
func (o Options) withDefaults() (Options, error) {
	if o.Mapping == nil || o.Store == nil || o.NewClient == nil || o.InputPath == "" {
		return o, errors.New("importer: InputPath, Mapping, Store and NewClient are required")
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.ReportsDir == "" {
		o.ReportsDir = DefaultReportsDir
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MappingPath == "" {
		o.MappingPath = o.Mapping.File
	}
	return o, nil
}

// setup is the first stage of Run: it opens the input and compiles the mapping against its
// header, builds the client, settles what earlier runs left, creates the report folder and the
// run record, and returns the pipeline ready to flow. On an error nothing was sent and
// everything it opened is closed again.
func setup(ctx context.Context, o Options) (_ *pipeline, err error) {
	m := o.Mapping
	call, err := CallFor(m.Target)
	if err != nil {
		return nil, err
	}
	input, err := filepath.Abs(o.InputPath)
	if err != nil {
		return nil, err
	}

	src, err := OpenInput(input, InputOptionsFor(m))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			src.Close()
		}
	}()
	compiled, err := m.Compile(src.Header())
	if err != nil {
		return nil, err
	}
	fileRows, err := countInputRows(input, src, SourceOptions{Delimiter: m.CSV.Delimiter, Encoding: m.CSV.Encoding})
	if err != nil {
		fileRows = -1
	}

	lim := NewAdaptiveLimiter(o.Rate)
	client, err := o.NewClient(getcourse.WithLimiter(lim.Limiter()), getcourse.WithNotify(lim.Notify))
	if err != nil {
		return nil, err
	}

	p := &pipeline{
		o: o, account: client.Account(), target: string(m.Target), call: call,
		idempotent: m.Idempotent(), client: client, lim: lim, store: o.Store,
		src: src, compiled: compiled, now: o.Now, log: o.Logger,
		input: input, fileRows: fileRows,
	}
	if err := p.settleEarlierRuns(input); err != nil {
		return nil, err
	}
	if p.settled, err = p.settle(ctx, input); err != nil {
		return nil, err
	}
	// A first import into this account and target has nothing to look up (see HasRows), and
	// skipping the lookups spares the reader a seek per row.
	if p.ledgerHasRows, err = o.Store.HasRows(p.account, p.target); err != nil {
		return nil, err
	}

	if err := p.openRun(); err != nil {
		return nil, err
	}
	return p, nil
}

// openRun is the end of setup: the run's report folder and its record in the state file, and
// what the flow writes through (duplicate counts, the file order, the committer, the stats).
func (p *pipeline) openRun() (err error) {
	o, m := p.o, p.o.Mapping
	started := o.Now()
	p.runID = checkpoint.NewRunID(started)
	dir := filepath.Join(o.ReportsDir, p.runID)
	if err := os.MkdirAll(o.ReportsDir, 0o700); err != nil {
		return fmt.Errorf("cannot create the reports folder: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the reports folder: %w", err)
	}
	rep, err := openReports(dir, p.src)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			rep.abort()
		}
	}()
	rep.dealNumberKey = m.Target == mappings.TargetDeals && m.Idempotent()
	p.rep = rep

	run := checkpoint.Run{
		ID: p.runID, Account: p.account, Target: p.target, InputPath: p.input,
		InputFingerprint: fingerprint(p.input), MappingPath: o.MappingPath, MappingHash: m.Hash(),
		Command: o.Command, Status: StatusRunning, Started: started, ReportsDir: dir,
		Counts: checkpoint.Counts{Total: max(p.fileRows, 0)},
	}
	if err := o.Store.PutRun(run); err != nil {
		return err
	}
	p.run = run
	// Every row's content hash is numbered, and with a fileOrder every row's key too.
	expect := max(p.fileRows, 0)
	if p.keepsFileOrder() {
		expect *= 2
	}
	occ, err := o.Store.NewOccurrences(p.runID, expect)
	if err != nil {
		return err
	}
	p.occ = occ
	if p.order, err = newFileOrder(p); err != nil {
		occ.Close()
		return err
	}
	p.committer = o.Store.NewCommitter(o.Commit)
	p.stats = newStats(p.fileRows)
	p.gate = newKeyGate()
	return nil
}

// close releases what setup opened: the reports (a no-op once finish wrote them) and the input.
func (p *pipeline) close() {
	p.rep.abort()
	p.src.Close()
}

// settleEarlierRuns marks runs left "running" by a process that died as interrupted (this
// process holds the state file's lock, so no other gcbatch can be running them), and with
// --restart forgets the ledger records of the earlier runs of this file.
func (p *pipeline) settleEarlierRuns(input string) error {
	runs, err := p.store.ListRuns()
	if err != nil {
		return err
	}
	var forget []string
	for _, r := range runs {
		if r.Status == StatusRunning {
			r.Status = StatusInterrupted
			if r.Note == "" {
				r.Note = "the process ended without finishing (killed, crashed or the machine stopped); rerun to resume"
			}
			if err := p.store.PutRun(r); err != nil {
				return err
			}
		}
		if p.o.Restart && r.Account == p.account && r.Target == p.target && r.InputPath == input {
			forget = append(forget, r.ID)
		}
	}
	if len(forget) > 0 {
		n, err := p.store.ForgetRuns(forget)
		if err != nil {
			return err
		}
		p.log.Info("restart: forgot the progress of earlier runs", "runs", len(forget), "rows", n)
	}
	return nil
}

// fingerprint identifies the input file's content cheaply: its size and a hash of its first
// 64 KiB. It tells `runs show` whether the file changed since a run, without reading it all.
func fingerprint(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, 64<<10); err != nil && err != io.EOF {
		return ""
	}
	return fmt.Sprintf("size=%d head-sha256=%x", fi.Size(), h.Sum(nil)[:12])
}
