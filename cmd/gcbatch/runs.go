package main

import (
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

The state file is opened read-only, so this is safe to run beside nothing else; while an
import is running on the same state file it waits briefly and then says so.`,
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
		RunE: func(cmd *cobra.Command, args []string) error { return runRunsShow(g, args[0]) },
	}, newRunsSettleCmd(g))
	return cmd
}

// openStateReadOnly opens the state file for reading only: listing runs must not create a
// state file where there is none, nor take the writer's lock.
func (g *globals) openStateReadOnly() (*checkpoint.Store, error) {
	st, err := checkpoint.Open(g.StatePath, checkpoint.Options{ReadOnly: true})
	if err != nil {
		return nil, exitErr(2, err)
	}
	return st, nil
}

func runRunsList(g *globals) error {
	st, err := g.openStateReadOnly()
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.ListRuns()
	if err != nil {
		return exitErr(2, err)
	}
	if len(runs) == 0 {
		fmt.Fprintf(g.Stdout, "no imports recorded in %s\n", g.StatePath)
		return nil
	}
	tw := tabwriter.NewWriter(g.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tSTARTED\tTARGET\tINPUT\tSTATUS\tOK\tREJECTED\tFAILED\tIN DOUBT\tSKIPPED\tLEFT")
	for _, r := range runs {
		c := r.Counts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Started.Local().Format("2006-01-02 15:04"),
			r.Target, filepath.Base(r.InputPath), r.Status, c.OK, c.Rejected, c.Failed, c.InDoubt, c.Skipped, leftText(r))
	}
	return tw.Flush()
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

func leftText(r checkpoint.Run) string {
	n := runLeft(r)
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

func runRunsShow(g *globals, id string) error {
	st, err := g.openStateReadOnly()
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := st.GetRun(id)
	if err != nil {
		if errors.Is(err, checkpoint.ErrNotFound) {
			return exitErr(2, fmt.Errorf("no run %q in %s (see 'gcbatch runs list')", id, g.StatePath))
		}
		return exitErr(2, err)
	}
	printRun(g.Stdout, r)
	return nil
}

func printRun(w io.Writer, r checkpoint.Run) {
	c := r.Counts
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("run", "%s", r.ID)
	row("status", "%s", r.Status)
	if r.Note != "" {
		row("note", "%s", r.Note)
	}
	row("account", "%s", r.Account)
	row("target", "%s", r.Target)
	row("input", "%s", r.InputPath)
	if r.InputFingerprint != "" {
		row("input fingerprint", "%s", r.InputFingerprint)
	}
	row("mapping", "%s (hash %.12s)", r.MappingPath, r.MappingHash)
	row("started", "%s", r.Started.Local().Format(time.DateTime))
	if r.Finished.IsZero() {
		row("finished", "-")
	} else {
		row("finished", "%s (%s)", r.Finished.Local().Format(time.DateTime), r.Finished.Sub(r.Started).Round(time.Second))
	}
	row("rows", "%d", c.Total)
	row("ok", "%d", c.OK)
	row("rejected", "%d", c.Rejected)
	row("failed", "%d", c.Failed)
	row("in doubt", "%d", c.InDoubt)
	row("skipped", "%d (confirmed by earlier runs)", c.Skipped)
	row("sent", "%d requests", c.Sent)
	left := runLeft(r)
	switch {
	case left < 0:
		row("left", "unknown")
	case r.Status == importer.StatusInterrupted && r.Finished.IsZero():
		row("left", "about %d (the process died; counts are from its last progress save)", left)
	default:
		row("left", "%d", left)
	}
	row("reports", "%s", r.ReportsDir)
	tw.Flush()
	needs := left != 0 || c.Failed > 0
	switch {
	case needs && r.Command != "":
		fmt.Fprintf(w, "\nto resume (failed and unsent rows are sent, confirmed ones skipped):\n  %s\n", r.Command)
	case r.Status == importer.StatusRunning:
		fmt.Fprintf(w, "\nthis run is still going (or its process died without a trace; the next import on this state file will mark it interrupted)\n")
	}
	if c.InDoubt > 0 {
		fmt.Fprintf(w, "\n%d rows are in doubt: they may already be in GetCourse (see %s). 'gcbatch runs settle %s' looks deals up in GetCourse's deals export; messages cannot be looked up.\n",
			c.InDoubt, filepath.Join(r.ReportsDir, importer.ResultsFile), r.ID)
	}
}
