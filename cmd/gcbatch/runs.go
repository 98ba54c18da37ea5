package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/importer"
)

func newRunsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs [list | show RUN_ID | settle RUN_ID]",
		Short: "List the imports recorded in the state file, or show one",
		Long: `runs lists the imports recorded in the state file (--state), newest first: when each
started, what it imported, how it ended and its row counts. 'runs show RUN_ID' prints
everything about one run, what is left of it and the command that resumes it.

It works while an import is running on the same state file and never disturbs it: a running
import holds the state file, and publishes its progress beside it (STATE.status.json, every
second: counts, rate, time left, process id, command line) together with the list of the
earlier runs as they were when it started; runs reads that file without taking any lock.
A run whose process died (killed, crashed, the machine stopped) is shown as interrupted,
with the command that resumes it; its rows that were sent but not confirmed are unknown
until that rerun, which skips what GetCourse confirmed and sends the rest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runRunsList(g) },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the recorded imports, newest first",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runRunsList(g) },
	}, &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show one import: counts, what is left, reports and how to resume",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErr(2, errors.New("runs show takes one run id (see 'gcbatch runs list')"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRunsShow(cmd.Context(), g, &runsShowOptions{RunID: args[0]})
		},
	}, newRunsSettleCmd(g))
	return cmd
}

// runsView is what `runs` shows: the runs, newest first, and what is known about each
// beyond its record.
type runsView struct {
	runs []checkpoint.Run
	// live is the status of the import running now; nil when none is. starting is that of an
	// import still checking the account and the file, before its run begins.
	live, starting *importer.LiveStatus
	// snapshot says the earlier runs come from the live status (the state file is held by
	// the running import): they are as they were when it started.
	snapshot      bool
	snapshotTotal int
	// current is 1 when runs starts with the run of the live status, not of the snapshot.
	current int
	// died holds the runs whose process ended without finishing them.
	died map[string]bool
}

// liveOpenTimeout is how long runs waits for the state file when a running import says it
// holds it: just long enough to find out, since the status file has what runs needs.
const liveOpenTimeout = 100 * time.Millisecond

// loadRuns reads the runs: from the state file when no import holds it (read-only, shared
// with other readers), else from the running import's live status. It never takes the
// writer's lock, so it cannot slow or block an import.
func (g *globals) loadRuns() (*runsView, error) {
	status, _ := importer.ReadStatus(g.StatePath) // an unreadable status is no status
	opts := checkpoint.Options{ReadOnly: true}
	if status != nil && !status.ProcessGone() {
		opts.Timeout = liveOpenTimeout
	}
	v := &runsView{died: map[string]bool{}}
	st, err := checkpoint.Open(g.StatePath, opts)
	if err == nil {
		defer st.Close()
		runs, err := st.ListRuns()
		if err != nil {
			return nil, exitErr(2, err)
		}
		for i, r := range runs {
			// This process shares the state file's lock, so no import is running on it: a
			// run still recorded as running lost its process.
			if r.Finished.IsZero() && (r.Status == importer.StatusRunning || r.Status == importer.StatusInterrupted) {
				v.died[r.ID] = true
				r.Status = importer.StatusInterrupted
				if status != nil && status.Run.ID == r.ID && status.Run.Counts.Sent >= r.Counts.Sent {
					// Its last live status is newer than its last progress save.
					r.Counts = status.Run.Counts
				}
				runs[i] = r
			}
		}
		v.runs = runs
		return v, nil
	}
	if !errors.Is(err, checkpoint.ErrLocked) || status == nil {
		if errors.Is(err, checkpoint.ErrLocked) {
			return nil, exitErr(2, fmt.Errorf("%s is in use by another gcbatch command that publishes no progress (an export, groups, or a validate --online); run 'gcbatch runs' again when it ends", g.StatePath))
		}
		return nil, exitErr(2, err)
	}
	if status.Starting() {
		if status.ProcessGone() {
			return nil, exitErr(2, fmt.Errorf("%s is in use by another gcbatch command that publishes no progress (an export, groups, or a validate --online); run 'gcbatch runs' again when it ends", g.StatePath))
		}
		v.starting = status
		v.runs = status.History
		v.snapshot, v.snapshotTotal = true, status.HistoryTotal
		return v, nil
	}
	live := status.Run
	if status.ProcessGone() {
		// The lock is held by another command, but the import of this status died.
		v.died[live.ID] = true
		live.Status = importer.StatusInterrupted
	} else {
		live.Status = importer.StatusRunning
		v.live = status
	}
	v.runs = append([]checkpoint.Run{live}, status.History...)
	v.snapshot, v.snapshotTotal, v.current = true, status.HistoryTotal, 1
	return v, nil
}

func runRunsList(g *globals) error {
	v, err := g.loadRuns()
	if err != nil {
		return err
	}
	if l := v.starting; l != nil {
		fmt.Fprintf(g.Stdout, "an import is starting: %s; pid %d, since %s. It checks the account and the file before its first row; 'gcbatch runs' again shows its progress\n\n",
			l.Run.Command, l.PID, l.Run.Started.Local().Format(time.TimeOnly))
	}
	if len(v.runs) == 0 {
		fmt.Fprintf(g.Stdout, "no imports recorded in %s\n", g.StatePath)
		return nil
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tSTARTED\tTARGET\tINPUT\tSTATUS\tOK\tREJECTED\tFAILED\tIN DOUBT\tSKIPPED\tLEFT")
	for _, r := range v.runs {
		c := r.Counts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Started.Local().Format("2006-01-02 15:04"),
			r.Target, filepath.Base(r.InputPath), r.Status, c.OK, c.Rejected, c.Failed, c.InDoubt, c.Skipped, v.leftText(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	w := g.Stdout
	if l := v.live; l != nil {
		fmt.Fprintf(w, "\n%s is running now: %s ('gcbatch runs show %s' for more)\n", l.Run.ID, liveProgress(l, g.Now()), l.Run.ID)
	}
	for _, r := range v.runs {
		if v.died[r.ID] && r.Command != "" {
			fmt.Fprintf(w, "\n%s: its process ended without finishing; rows sent but not confirmed are unknown until resumed. Resume with:\n  %s\n", r.ID, r.Command)
			break // the newest one; the others were resumed by later runs or are in runs show
		}
	}
	if v.snapshot && v.snapshotTotal > 0 {
		fmt.Fprintf(w, "\nthe earlier runs are as they were when the running import started (%d of %d listed); the state file is in use until it ends\n",
			v.listed(), v.snapshotTotal)
	}
	return nil
}

// listed is how many earlier runs a snapshot lists (the running import's own is not one).
func (v *runsView) listed() int { return len(v.runs) - v.current }

// liveProgress is one line about a running import: rows done, speed, time left, process.
func liveProgress(l *importer.LiveStatus, now time.Time) string {
	c := l.Run.Counts
	done := c.OK + c.Rejected + c.Failed + c.InDoubt + c.Skipped
	s := fmt.Sprintf("%d of %d rows settled, %d sent", done, c.Total, c.Sent)
	if l.SentRate > 0 {
		s += fmt.Sprintf(", %.1f sent/s", l.SentRate)
	}
	if !l.ETA.IsZero() {
		s += fmt.Sprintf(", about %s left", l.ETA.Sub(now).Round(time.Second))
	}
	if l.Limiter != "" {
		s += ", " + l.Limiter
	}
	return s + fmt.Sprintf("; pid %d, started %s", l.PID, l.Run.Started.Local().Format("15:04:05"))
}

// runLeft is how many rows of the run's file it did not settle: zero for a run that went
// through the file, -1 when unknown.
func runLeft(r checkpoint.Run) int {
	switch r.Status {
	case importer.StatusDone, importer.StatusPartial:
		return 0
	}
	c := r.Counts
	if c.Total <= 0 {
		return -1
	}
	return max(0, c.Total-(c.OK+c.Rejected+c.Failed+c.InDoubt+c.Skipped))
}

func (v *runsView) leftText(r checkpoint.Run) string {
	if v.live != nil && v.live.Run.ID == r.ID && v.live.Left >= 0 {
		return fmt.Sprint(v.live.Left)
	}
	n := runLeft(r)
	if n < 0 || v.died[r.ID] {
		return "?"
	}
	return fmt.Sprint(n)
}

// runsShowOptions are the inputs of `gcbatch runs show`.
type runsShowOptions struct {
	RunID string
}

func runRunsShow(_ context.Context, g *globals, o *runsShowOptions) error {
	id := o.RunID
	v, err := g.loadRuns()
	if err != nil {
		return err
	}
	for _, r := range v.runs {
		if r.ID == id {
			v.printRun(g.Stdout, r, g.Now())
			return nil
		}
	}
	if v.snapshot && v.snapshotTotal > v.listed() {
		return exitErr(2, fmt.Errorf("no run %q among the newest %d runs the running import listed; the full list is available when it ends", id, v.listed()))
	}
	return exitErr(2, fmt.Errorf("no run %q in %s (see 'gcbatch runs list')", id, g.StatePath))
}

func (v *runsView) printRun(w io.Writer, r checkpoint.Run, now time.Time) {
	c := r.Counts
	live := v.live != nil && v.live.Run.ID == r.ID
	died := v.died[r.ID]
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("run", "%s", r.ID)
	row("status", "%s", r.Status)
	switch {
	case died && r.Note == "":
		row("note", "the process ended without finishing (killed, crashed or the machine stopped)")
	case r.Note != "":
		row("note", "%s", r.Note)
	}
	if live {
		row("process", "pid %d on %s, status updated %s", v.live.PID, v.live.Host, v.live.Updated.Local().Format(time.TimeOnly))
		row("command", "%s", r.Command)
	}
	row("account", "%s", r.Account)
	row("target", "%s", r.Target)
	row("input", "%s", r.InputPath)
	if r.InputFingerprint != "" {
		row("input fingerprint", "%s", r.InputFingerprint)
	}
	row("mapping", "%s (hash %.12s)", r.MappingPath, r.MappingHash)
	row("started", "%s", r.Started.Local().Format(time.DateTime))
	switch {
	case live:
		row("finished", "- (running for %s)", now.Sub(r.Started).Round(time.Second))
	case r.Finished.IsZero():
		row("finished", "-")
	default:
		row("finished", "%s (%s)", r.Finished.Local().Format(time.DateTime), r.Finished.Sub(r.Started).Round(time.Second))
	}
	row("rows", "%d", c.Total)
	row("ok", "%d", c.OK)
	row("rejected", "%d", c.Rejected)
	row("failed", "%d", c.Failed)
	row("in doubt", "%d", c.InDoubt)
	row("skipped", "%d (confirmed by earlier runs)", c.Skipped)
	if died {
		row("sent", "%d requests; the outcome of those not counted above is unknown until resumed", c.Sent)
	} else {
		row("sent", "%d requests", c.Sent)
	}
	left := runLeft(r)
	switch {
	case live:
		if v.live.Left >= 0 {
			left = v.live.Left
		}
		row("left", "%d", left)
		if v.live.SentRate > 0 {
			row("rate", "%.1f sent/s over the last seconds", v.live.SentRate)
		}
		if !v.live.ETA.IsZero() {
			row("time left", "about %s (at %s)", v.live.ETA.Sub(now).Round(time.Second), v.live.ETA.Local().Format(time.TimeOnly))
		}
		if v.live.Limiter != "" {
			row("limiter", "%s", v.live.Limiter)
		}
	case died:
		row("left", "unknown until resumed (the counts are from the process's last progress save)")
	case left < 0:
		row("left", "unknown")
	default:
		row("left", "%d", left)
	}
	row("reports", "%s", r.ReportsDir)
	tw.Flush()
	needs := left != 0 || c.Failed > 0 || died
	switch {
	case live:
		fmt.Fprintf(w, "\nthis import is running now; looking at it does not disturb it ('gcbatch runs' again for fresh counts)\n")
	case needs && r.Command != "":
		fmt.Fprintf(w, "\nto resume (failed and unsent rows are sent, confirmed ones skipped):\n  %s\n", r.Command)
	}
	if c.InDoubt > 0 {
		fmt.Fprintf(w, "\n%d rows are in doubt: they may already be in GetCourse (see %s). 'gcbatch runs settle %s' looks deals up in GetCourse's deals export; messages cannot be looked up.\n",
			c.InDoubt, filepath.Join(r.ReportsDir, importer.ResultsFile), r.ID)
	}
}
