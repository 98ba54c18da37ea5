package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
)

// The live status (design.md "Commands": `gcbatch runs` works while an import runs on the
// same state file). A running import holds the state file's lock for its whole run, so
// `runs` cannot read the run records then; instead the import publishes its progress in a
// small JSON file beside the state file, replaced atomically (written to a temporary file,
// then renamed) every StatusInterval, and removed when the run ends. `runs` reads it without
// any lock, so looking never slows or blocks the import.

// StatusInterval is how often a running import rewrites its live status.
const StatusInterval = time.Second

// statusHistory is how many earlier runs the live status carries, newest first, so that
// `runs` can list the history while the import holds the state file.
const statusHistory = 50

// statusFormat is the live status file's format version.
const statusFormat = 1

// LiveStatus is what a running import publishes beside the state file (StatusPath).
type LiveStatus struct {
	Format int `json:"format"`
	// Run is the run's record as the state file has it, with live counts and status running.
	// Before the run begins (the import checks the account and the file first) it has no id,
	// only the command line and the start time: see Starting.
	Run checkpoint.Run `json:"run"`
	// PID and Host identify the process, so that a reader can tell a run whose process died.
	PID  int    `json:"pid"`
	Host string `json:"host"`
	// Updated is when this status was written.
	Updated time.Time `json:"updated"`
	// Left is the rows not settled yet (-1 unknown).
	Left int `json:"left"`
	// SentRate is answers per second over the last ten seconds; ETA the estimated end (zero
	// when unknown).
	SentRate float64   `json:"sent_per_second"`
	ETA      time.Time `json:"eta,omitzero"`
	// Limiter says why the run is slower than --rate, when it is.
	Limiter string `json:"limiter,omitempty"`
	// History is the earlier runs of the state file when this run started, newest first (at
	// most 50); HistoryTotal how many there were.
	History      []checkpoint.Run `json:"history"`
	HistoryTotal int              `json:"history_total"`
}

// StatusPath is where the import running on the state file statePath publishes its status.
func StatusPath(statePath string) string { return statePath + ".status.json" }

// ReadStatus reads the live status beside the state file; it returns nil, nil when there is
// none (no import is running, or the last one ended).
func ReadStatus(statePath string) (*LiveStatus, error) {
	b, err := os.ReadFile(StatusPath(statePath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st LiveStatus
	if err := json.Unmarshal(b, &st); err != nil || st.Format != statusFormat {
		return nil, fmt.Errorf("%s: not a gcbatch status file", StatusPath(statePath))
	}
	return &st, nil
}

// Starting reports whether the import has not begun its run yet (it is checking the account
// and the file).
func (l *LiveStatus) Starting() bool { return l.Run.ID == "" }

// ProcessGone reports whether the status's process is known to have ended: it ran on this
// machine and no process has its id any more. A process on another machine (a state file on
// a shared folder) is never known to be gone.
func (l *LiveStatus) ProcessGone() bool {
	host, _ := os.Hostname()
	if l.PID <= 0 || host == "" || l.Host != host {
		return false
	}
	return !processAlive(l.PID)
}

// writeStatus replaces the status file atomically: a reader sees the old or the new status,
// never half of one.
func writeStatus(path string, st *LiveStatus) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		// On Windows a reader holding the file open makes the rename fail; the next tick
		// tries again.
		os.Remove(tmp)
		return err
	}
	return nil
}

// startStatus publishes the run's live status every StatusInterval until the returned stop
// is called, which removes it (the state file then holds the final record). A status that
// cannot be written is logged and does not stop the import.
func (p *pipeline) startStatus(lim *AdaptiveLimiter) (stop func()) {
	path := StatusPath(p.store.Path())
	base := newStatus(p.store, p.run.ID)
	type sample struct {
		at             time.Time
		done, answered int
	}
	var samples []sample // the last few seconds, oldest first
	warned := false
	publish := func() {
		s := p.stats.snapshot()
		now := time.Now()
		samples = append(samples, sample{now, s.done(), s.answered})
		if len(samples) > 10 {
			samples = samples[1:]
		}
		st := base
		st.Updated = now
		st.Run = p.run
		st.Run.Counts = s.counts
		st.Run.Counts.Total = p.run.Counts.Total
		st.Left = -1
		if s.fileRows >= 0 {
			st.Left = max(s.fileRows-s.done(), 0)
		}
		if first := samples[0]; len(samples) > 1 {
			secs := now.Sub(first.at).Seconds()
			// Answers, not requests made: a request counts as sent while it still waits for the
			// limiter, so the first seconds would read up to --concurrency too many.
			st.SentRate = float64(s.answered-first.answered) / secs
			if doneRate := float64(s.done()-first.done) / secs; doneRate > 0 && st.Left > 0 {
				st.ETA = now.Add(time.Duration(float64(st.Left) / doneRate * float64(time.Second)))
			}
		}
		if ls := lim.State(); ls.Current < ls.Max {
			st.Limiter = "slowed to " + FormatRate(ls.Current) + " (the service said too many requests)"
		}
		if err := writeStatus(path, &st); err != nil && !warned {
			warned = true
			p.log.Warn("could not publish the live status for 'gcbatch runs'", "path", path, "error", err)
		}
	}
	publish()
	stopTicks := every(StatusInterval, publish)
	return func() {
		stopTicks()
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn("could not remove the live status", "path", path, "error", err)
		}
		os.Remove(path + ".tmp")
	}
}

// newStatus is a status of this process with the state file's runs but skip as its history.
func newStatus(st *checkpoint.Store, skip string) LiveStatus {
	host, _ := os.Hostname()
	l := LiveStatus{Format: statusFormat, PID: os.Getpid(), Host: host}
	if runs, err := st.ListRuns(); err == nil {
		for _, r := range runs {
			if r.ID == skip {
				continue
			}
			l.HistoryTotal++
			if len(l.History) < statusHistory {
				l.History = append(l.History, r)
			}
		}
	}
	return l
}

// PublishStarting says, for `gcbatch runs`, that an import is starting on the state file st
// (it holds the lock while it checks the account and the file, before Run begins and
// publishes its own status). The returned stop removes the status; once Run has ended and
// removed its own, there is nothing left to remove.
func PublishStarting(st *checkpoint.Store, command string, now time.Time) (stop func()) {
	path := StatusPath(st.Path())
	l := newStatus(st, "")
	l.Run = checkpoint.Run{Command: command, Status: StatusRunning, Started: now}
	l.Updated, l.Left = now, -1
	if writeStatus(path, &l) != nil {
		return func() {}
	}
	return func() {
		if cur, err := ReadStatus(st.Path()); err == nil && cur != nil && cur.Starting() && cur.PID == l.PID {
			os.Remove(path)
		}
	}
}
