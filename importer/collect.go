package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// progressSave is how often the collector saves the run's counts, so that the record of a run
// whose process is killed still says roughly how far it got.
const progressSave = 2 * time.Second

// collect is the single consumer of outcomes: it alone writes the ledger (through the
// committer), the reports and the counts, so none of them needs more than one writer.
func (p *pipeline) collect(done <-chan *job, rep *reports) {
	failedState := false
	lastSave := p.now()
	for j := range done {
		if now := p.now(); now.Sub(lastSave) >= progressSave {
			lastSave = now
			r := p.run
			r.Counts = p.stats.snapshot().counts
			r.Counts.Total = p.run.Counts.Total
			if err := p.store.PutRun(r); err != nil {
				p.log.Warn("could not save the run's progress", "error", err)
			}
		}
		if j.put {
			p.committer.Put(j.rk, j.rec)
		}
		if !failedState {
			if err := p.committer.Err(); err != nil {
				failedState = true
				p.stop(fmt.Errorf("the state file could not be written: %w", err))
			}
		}
		if j.status == "" {
			p.stats.addLeft()
			continue
		}
		if err := rep.add(j); err != nil && !failedState {
			failedState = true
			p.stop(fmt.Errorf("the reports could not be written: %w", err))
		}
		p.stats.add(j)
		p.logRow(j)
	}
}

func (p *pipeline) logRow(j *job) {
	level := slog.LevelInfo
	if j.status == RowSkipped {
		level = slog.LevelDebug
	}
	if !p.log.Enabled(context.Background(), level) {
		return // most runs log no rows: spare building the line
	}
	attrs := []slog.Attr{slog.Int("line", j.row.Line), slog.String("status", j.status)}
	if j.key != "" {
		attrs = append(attrs, slog.String("key", j.key))
	}
	if j.userID != 0 {
		attrs = append(attrs, slog.Int64("user_id", j.userID))
	}
	if j.dealID != 0 {
		attrs = append(attrs, slog.Int64("deal_id", j.dealID))
	}
	if j.errText != "" {
		attrs = append(attrs, slog.String("error", j.errText))
	}
	p.log.LogAttrs(context.Background(), level, "row", attrs...)
}

// outcome is what a run's flow left behind, the input of summarize.
type outcome struct {
	fileRows int // the rows in the file; -1 when it could not be counted
	stats    statsSnapshot
	limiter  LimiterState
	// flowTime is how long the rows flowed (reading to the last outcome), without the state
	// file's setup and final commits.
	flowTime          time.Duration
	started, finished time.Time
	// reachedEOF: the reader got to the end of the file; readErr made reading impossible;
	// commitErr is the committer's final error; occErr that of dropping the duplicate data.
	reachedEOF                 bool
	readErr, commitErr, occErr error
	// stopCause is the stop context's cause and parentCause that of the caller's context;
	// interrupted says the caller's context ended (Ctrl-C).
	stopCause, parentCause error
	interrupted            bool
}

// runFlow is the second stage of Run: it starts the limiter and the progress bar, lets the rows
// flow through reader, workers and collector, and settles the state file once they are done.
func (p *pipeline) runFlow(ctx context.Context) outcome {
	limCtx, limStop := context.WithCancel(context.Background())
	p.lim.Start(limCtx)
	var stopBar func()
	if p.o.Progress != nil {
		stopBar = startProgress(p.o.Progress, p.stats, p.lim)
	}

	flowStart := p.o.Now()
	reachedEOF, readErr := p.flow(p.rep)
	flowTime := p.o.Now().Sub(flowStart)
	limStop()
	if stopBar != nil {
		stopBar()
	}

	// Settle the state: everything queued is committed before the run is called finished.
	commitErr := p.committer.Close()
	occErr := p.occ.Close()
	finished := p.o.Now()
	return outcome{
		fileRows: p.fileRows, stats: p.stats.snapshot(), limiter: p.lim.State(),
		flowTime: flowTime, started: p.run.Started, finished: finished,
		reachedEOF: reachedEOF, readErr: readErr, commitErr: commitErr, occErr: occErr,
		stopCause: context.Cause(p.stopCtx), parentCause: context.Cause(ctx), interrupted: ctx.Err() != nil,
	}
}

// summaryHead is the part of the Summary that setup already knows: what was imported where.
func (p *pipeline) summaryHead() Summary {
	return Summary{
		RunID: p.runID, Account: p.account, Target: p.target, Input: p.input, Mapping: p.o.MappingPath,
		MaxRate: p.lim.Max(), ReportsDir: p.run.ReportsDir, Command: p.o.Command,
		Warnings: p.o.Mapping.Warnings(), Settle: p.settled,
	}
}

// summarize completes head with what the flow left behind: counts, rates, why the run stopped
// and its status. It does no I/O.
func summarize(head Summary, out outcome) *Summary {
	s := &head
	s.Started, s.Finished, s.Duration = out.started, out.finished, out.finished.Sub(out.started)
	st := out.stats
	s.Counts = st.counts
	s.RejectedEarlier = st.rejectedEarlier
	ls := out.limiter
	s.FinalRate, s.RateLimited, s.Retried = ls.Current, ls.Limited, ls.Retried
	// The achieved rate is over the sending itself, not the state file's setup and final
	// commits, so that it compares with --rate.
	s.SendTime, s.Rate, s.CheckRate = st.rates(out.flowTime)

	// The stop context's cause is ours (fatal answer, state file) unless it is the parent's.
	switch {
	case out.readErr != nil:
		s.Reason = out.readErr
	case out.commitErr != nil:
		s.Reason = fmt.Errorf("the state file could not be written: %w", out.commitErr)
	case out.stopCause != nil && out.stopCause != out.parentCause:
		s.Reason = out.stopCause
	case out.interrupted:
		s.Reason = ErrInterrupted
	case !out.reachedEOF:
		s.Reason = ErrMaxRows
	}
	fileRows := out.fileRows
	processed := s.Counts.OK + s.Counts.Rejected + s.Counts.Failed + s.Counts.InDoubt + s.Counts.Skipped
	switch {
	case s.Reason == nil:
		s.Left = 0
	case fileRows >= 0:
		s.Left = max(fileRows-processed, st.left)
	default:
		s.Left = -1
	}
	if fileRows >= 0 {
		s.Counts.Total = fileRows
	} else {
		s.Counts.Total = st.read
	}
	switch {
	case s.Reason == nil && s.ExitCode() == 0:
		s.Status = StatusDone
	case s.Reason == nil:
		s.Status = StatusPartial
	case errors.Is(s.Reason, ErrInterrupted):
		s.Status = StatusInterrupted
	default:
		s.Status = StatusStopped
	}
	return s
}

// finish is the last stage of Run: it saves the run record and writes the reports. A failure
// of either becomes the run's Reason when it had none.
func (p *pipeline) finish(s *Summary) {
	run := p.run
	run.Status, run.Finished, run.Counts = s.Status, s.Finished, s.Counts
	if s.Reason != nil {
		run.Note = s.Reason.Error()
	}
	if err := p.store.PutRun(run); err != nil && s.Reason == nil {
		s.Reason = fmt.Errorf("the run record could not be saved: %w", err)
		s.Status = StatusStopped
	}
	if err := p.rep.finish(s); err != nil && s.Reason == nil {
		s.Reason = fmt.Errorf("the reports could not be written: %w", err)
		s.Status = StatusStopped
	}
}
