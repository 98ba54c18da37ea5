package importer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
)

// TestSummarize drives the summary of a run from what its flow left behind, without a state
// file, a service or a file: why the run stopped, its status and exit code, the rows left and
// the file's total, and the rates.
func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	fatal := &FatalError{Err: errors.New("POST /pl/api/users: Неавторизованное API-обращение")}
	stateErr := errors.New("disk full")
	readErr := errors.New("reading contacts.csv: line 7: bare quote")
	counts := func(ok, rejected, failed, inDoubt, skipped int) checkpoint.Counts {
		return checkpoint.Counts{OK: ok, Rejected: rejected, Failed: failed, InDoubt: inDoubt, Skipped: skipped}
	}
	cases := []struct {
		name       string
		out        outcome
		wantStatus string
		wantReason error // matched with errors.Is; nil means no reason
		wantLeft   int
		wantTotal  int
		wantExit   int
	}{
		{
			name:       "every row ok",
			out:        outcome{fileRows: 3, reachedEOF: true, stats: statsSnapshot{read: 3, counts: counts(3, 0, 0, 0, 0)}},
			wantStatus: StatusDone, wantTotal: 3, wantExit: 0,
		},
		{
			name:       "ok and skipped from an earlier run",
			out:        outcome{fileRows: 4, reachedEOF: true, stats: statsSnapshot{read: 4, counts: counts(1, 0, 0, 0, 3)}},
			wantStatus: StatusDone, wantTotal: 4, wantExit: 0,
		},
		{
			name:       "some rejected",
			out:        outcome{fileRows: 3, reachedEOF: true, stats: statsSnapshot{read: 3, counts: counts(2, 1, 0, 0, 0)}},
			wantStatus: StatusPartial, wantTotal: 3, wantExit: 1,
		},
		{
			name:       "one in doubt",
			out:        outcome{fileRows: 2, reachedEOF: true, stats: statsSnapshot{read: 2, counts: counts(1, 0, 0, 1, 0)}},
			wantStatus: StatusPartial, wantTotal: 2, wantExit: 1,
		},
		{
			name:       "max rows",
			out:        outcome{fileRows: 10, stats: statsSnapshot{read: 6, counts: counts(4, 0, 0, 0, 0)}},
			wantStatus: StatusStopped, wantReason: ErrMaxRows, wantLeft: 6, wantTotal: 10, wantExit: 3,
		},
		{
			name: "interrupted: the stop's cause is the parent's",
			out: outcome{fileRows: 10, interrupted: true, stopCause: context.Canceled, parentCause: context.Canceled,
				stats: statsSnapshot{read: 5, left: 2, counts: counts(3, 0, 0, 0, 0)}},
			wantStatus: StatusInterrupted, wantReason: ErrInterrupted, wantLeft: 7, wantTotal: 10, wantExit: 3,
		},
		{
			name: "fatal answer, even with the parent ended too",
			out: outcome{fileRows: 10, interrupted: true, stopCause: fatal, parentCause: context.Canceled,
				stats: statsSnapshot{read: 5, counts: counts(1, 0, 0, 0, 0)}},
			wantStatus: StatusStopped, wantReason: fatal, wantLeft: 9, wantTotal: 10, wantExit: 3,
		},
		{
			name: "rows left in the pipeline count more than the file's remainder",
			out: outcome{fileRows: 5, stopCause: fatal,
				stats: statsSnapshot{read: 5, left: 4, counts: counts(3, 0, 0, 0, 0)}},
			wantStatus: StatusStopped, wantReason: fatal, wantLeft: 4, wantTotal: 5, wantExit: 3,
		},
		{
			name: "the state file failed: before the stop's cause",
			out: outcome{fileRows: 10, reachedEOF: true, commitErr: stateErr, stopCause: fatal,
				stats: statsSnapshot{read: 10, counts: counts(10, 0, 0, 0, 0)}},
			wantStatus: StatusStopped, wantReason: stateErr, wantLeft: 0, wantTotal: 10, wantExit: 3,
		},
		{
			name: "unreadable file, rows not counted",
			out: outcome{fileRows: -1, readErr: readErr, commitErr: stateErr,
				stats: statsSnapshot{read: 6, counts: counts(5, 0, 0, 0, 0)}},
			wantStatus: StatusStopped, wantReason: readErr, wantLeft: -1, wantTotal: 6, wantExit: 3,
		},
		{
			name:       "rows not counted, run complete",
			out:        outcome{fileRows: -1, reachedEOF: true, stats: statsSnapshot{read: 6, counts: counts(6, 0, 0, 0, 0)}},
			wantStatus: StatusDone, wantLeft: 0, wantTotal: 6, wantExit: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.out.started, tc.out.finished = t0, t0.Add(90*time.Second)
			s := summarize(Summary{RunID: "run-1", Command: "gcbatch import contacts.csv"}, tc.out)
			if s.Status != tc.wantStatus {
				t.Errorf("Status = %q, want %q", s.Status, tc.wantStatus)
			}
			switch {
			case tc.wantReason == nil && s.Reason != nil:
				t.Errorf("Reason = %v, want none", s.Reason)
			case tc.wantReason != nil && !errors.Is(s.Reason, tc.wantReason):
				t.Errorf("Reason = %v, want %v", s.Reason, tc.wantReason)
			}
			if s.Left != tc.wantLeft {
				t.Errorf("Left = %d, want %d", s.Left, tc.wantLeft)
			}
			if s.Counts.Total != tc.wantTotal {
				t.Errorf("Counts.Total = %d, want %d", s.Counts.Total, tc.wantTotal)
			}
			if got := s.ExitCode(); got != tc.wantExit {
				t.Errorf("ExitCode() = %d, want %d", got, tc.wantExit)
			}
			if s.RunID != "run-1" || s.Command != "gcbatch import contacts.csv" {
				t.Errorf("the head was not kept: %+v", s)
			}
			if s.Duration != 90*time.Second || !s.Started.Equal(t0) {
				t.Errorf("Started %v, Duration %v", s.Started, s.Duration)
			}
		})
	}
}

// TestSummarizeRates checks the figures a summary gives for the sending: the rate between the
// first and the last answer (comparable with --rate), the rows checked per second of flow, and
// the limiter's end state.
func TestSummarizeRates(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	out := outcome{
		fileRows: 30, reachedEOF: true, flowTime: 10 * time.Second,
		started: t0, finished: t0.Add(12 * time.Second),
		stats: statsSnapshot{
			read: 30, rejectedEarlier: 2, counts: checkpoint.Counts{OK: 11, Rejected: 2, Skipped: 17},
			// 11 answers, evenly spaced over 2 s: 5 requests/s.
			firstSend: t0.Add(time.Second), firstAnswer: t0.Add(1500 * time.Millisecond),
			lastAnswer: t0.Add(3500 * time.Millisecond), answered: 11,
		},
		limiter: LimiterState{Current: 3, Max: 5, Limited: 4, Retried: 6},
	}
	s := summarize(Summary{MaxRate: 5}, out)
	if s.SendTime != 2500*time.Millisecond {
		t.Errorf("SendTime = %v, want 2.5s", s.SendTime)
	}
	if s.Rate != 5 {
		t.Errorf("Rate = %v, want 5", s.Rate)
	}
	if s.CheckRate != 3 {
		t.Errorf("CheckRate = %v, want 3 (30 rows in 10 s)", s.CheckRate)
	}
	if s.FinalRate != 3 || s.MaxRate != 5 || s.RateLimited != 4 || s.Retried != 6 {
		t.Errorf("limiter figures: final %v max %v limited %d retried %d", s.FinalRate, s.MaxRate, s.RateLimited, s.Retried)
	}
	if s.RejectedEarlier != 2 || s.Status != StatusPartial {
		t.Errorf("RejectedEarlier %d, Status %q", s.RejectedEarlier, s.Status)
	}
}
