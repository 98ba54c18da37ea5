package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/importer"
	"github.com/gcbatch/gcbatch/mappings"
)

// settleFlags are the import flags of the lookup of deals in doubt (importer.Settle).
type settleFlags struct {
	Wait time.Duration
	// Poll is the first wait before polling the export: hidden, so that tests can shrink it.
	Poll time.Duration
}

func addSettleFlags(f *pflag.FlagSet, s *settleFlags) {
	f.DurationVar(&s.Wait, "settle-wait", importer.DefaultSettleWait, "longest wait for the deals export that settles deals left in doubt by an earlier run")
	f.DurationVar(&s.Poll, "settle-poll", 0, "first wait before polling that export")
	f.MarkHidden("settle-poll")
}

// settleOptions wires the lookup of deals in doubt: the account's client with the state
// file's export budget, and its lines on stderr.
func (g *globals) settleOptions(ctx context.Context, st *checkpoint.Store, f settleFlags, command string) (importer.SettleOptions, error) {
	c, b, err := g.budgetedClient(ctx, st, checkpoint.BudgetConfig{})
	if err != nil {
		return importer.SettleOptions{}, err
	}
	return importer.SettleOptions{Client: c, Budget: b, Wait: f.Wait, PollInitial: f.Poll, Command: command, Now: g.Now,
		Notify: func(msg string) { fmt.Fprintln(g.Stderr, "settle:", msg) }}, nil
}

func newRunsSettleCmd(g *globals) *cobra.Command {
	var o runsSettleOptions
	cmd := &cobra.Command{
		Use:   "settle RUN_ID",
		Short: "Look the deals a run left in doubt up in GetCourse's deals export",
		Long: `settle checks the deals that run RUN_ID left in doubt (a deal without deal_number whose
request may or may not have reached GetCourse) against the account's deals export, as a rerun
of the import does before it sends anything: one export of the days since the run began,
within the export budget. Each deal is matched by the buyer's e-mail or phone, the product
title and the cost. A deal found is confirmed with its deal id; a deal not found is marked
failed, so that the next run of the import sends it; a deal with more candidate deals than
rows like it stays in doubt, and the candidates are listed. The run's input file and mapping
must still be where the run read them.

Messages cannot be looked up (GetCourse keeps no list of sent messages gcbatch could read):
they stay in doubt.`,
		Example: `  gcbatch runs settle 20261126-172233-3f9a`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErr(2, errors.New("runs settle takes one run id (see 'gcbatch runs list')"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.RunID = args[0]
			return runRunsSettle(cmd.Context(), g, &o)
		},
	}
	addSettleFlags(cmd.Flags(), &o.Settle)
	return cmd
}

// runsSettleOptions are the inputs of `gcbatch runs settle`.
type runsSettleOptions struct {
	RunID  string
	Settle settleFlags
}

func runRunsSettle(ctx context.Context, g *globals, o *runsSettleOptions) error {
	id, f := o.RunID, o.Settle
	st, err := g.openState()
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
	if r.Status == importer.StatusRunning {
		return exitErr(2, fmt.Errorf("run %s is recorded as running; if its process died, the next import on this state file marks it interrupted; settle it then", id))
	}
	m, err := mappings.Load(r.MappingPath)
	if err != nil {
		return exitErr(2, fmt.Errorf("run %s: its mapping cannot be read, so its rows cannot be found: %w", id, err))
	}
	if m.Hash() != r.MappingHash {
		fmt.Fprintf(g.Stderr, "settle: warning: %s changed since run %s; rows whose params changed with it are not found\n", r.MappingPath, id)
	}
	if _, err := os.Stat(r.InputPath); err != nil {
		return exitErr(2, fmt.Errorf("run %s: its input file cannot be read, so its rows cannot be found: %w", id, err))
	}
	var so importer.SettleOptions
	if m.Target == mappings.TargetDeals {
		if so, err = g.settleOptions(ctx, st, f, ""); err != nil {
			return err
		}
		if so.Budget.Account() != r.Account {
			return exitErr(2, fmt.Errorf("run %s imported into %s, but this command is set up for %s: pass that run's --account or --base-url", id, r.Account, so.Budget.Account()))
		}
	} else {
		so.Notify = func(msg string) { fmt.Fprintln(g.Stderr, "settle:", msg) }
	}
	rep, err := importer.Settle(ctx, importer.SettleRequest{Store: st, Account: r.Account, Target: r.Target,
		InputPath: r.InputPath, Mapping: m, RunID: id, SettleOptions: so})
	if err != nil {
		if ctx.Err() != nil {
			return exitErr(3, fmt.Errorf("interrupted: %w", err))
		}
		return exitErr(2, err)
	}
	printSettleReport(g.Stdout, r, rep)
	switch {
	case rep.StillInDoubt() > 0:
		return exitErr(1, nil)
	case rep.Missing > 0:
		return exitErr(1, nil)
	}
	return nil
}

// printSettleReport is the outcome of `runs settle`.
func printSettleReport(w io.Writer, r checkpoint.Run, rep *importer.SettleReport) {
	if rep.InDoubt == 0 {
		fmt.Fprintf(w, "run %s: no row of %s is in doubt; nothing to settle\n", r.ID, r.InputPath)
		return
	}
	fmt.Fprintf(w, "run %s: %d rows in doubt\n", r.ID, rep.InDoubt)
	for _, row := range rep.Rows {
		switch row.Outcome {
		case importer.SettleConfirmed:
			fmt.Fprintf(w, "  line %d: in GetCourse, deal %d (confirmed)\n", row.Line, row.DealID)
		case importer.SettleMissing:
			fmt.Fprintf(w, "  line %d: not in GetCourse (the next run of the import sends it)\n", row.Line)
		case importer.SettleAmbiguous:
			fmt.Fprintf(w, "  line %d: still in doubt: %d deals could be it (%s) for %d rows like it; check them in GetCourse\n",
				row.Line, len(row.Candidates), idList(row.Candidates), row.Rows)
		default:
			fmt.Fprintf(w, "  line %d: still in doubt (not looked up)\n", row.Line)
		}
	}
	if rep.Why != "" {
		fmt.Fprintf(w, "not looked up: %s\n", rep.Why)
	}
	if rep.Messages {
		fmt.Fprintf(w, "messages in doubt stay in doubt: if they must go out, rerun the import with --resend-in-doubt (people who already got them get them twice)\n")
	}
	if rep.Missing > 0 && r.Command != "" {
		fmt.Fprintf(w, "to send the %d rows not in GetCourse:\n  %s\n", rep.Missing, r.Command)
	}
}

func idList(ids []int64) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(id)
	}
	return s
}

// inDoubtAdvice is the summary's line about rows left in doubt: why they are, and what will
// settle them.
func inDoubtAdvice(s *importer.Summary) string {
	n := s.Counts.InDoubt
	rows := fmt.Sprintf("%d %s", n, plural(n, "row", "rows"))
	rep := s.Settle
	switch {
	case s.Target == string(mappings.TargetMessages):
		return fmt.Sprintf("%s (messages) may already have been sent; GetCourse keeps no list of sent messages gcbatch could check, so they stay in doubt. --resend-in-doubt sends them again: people who already got one get it twice", rows)
	case rep != nil && rep.Why != "" && !rep.FreesAt.IsZero():
		return fmt.Sprintf("%s may already be in GetCourse and could not be looked up (%s); rerun the same command after %s and they are settled from the deals export",
			rows, rep.Why, rep.FreesAt.Local().Format("15:04"))
	case rep != nil && rep.Why != "":
		return fmt.Sprintf("%s may already be in GetCourse and could not be looked up (%s); rerunning the same command tries again", rows, rep.Why)
	case rep != nil && rep.Ambiguous > 0:
		var runs []string
		for _, r := range rep.Rows {
			if r.Outcome == importer.SettleAmbiguous && !slices.Contains(runs, r.RunID) {
				runs = append(runs, r.RunID)
			}
		}
		again := "'gcbatch runs settle " + strings.Join(runs, "' or 'gcbatch runs settle ") + "'"
		return fmt.Sprintf("%s match more deals in GetCourse than could be theirs (results.csv lists the candidate deal ids); check those deals in GetCourse, then %s looks again, or --resend-in-doubt sends the rows (any already there are duplicated)", rows, again)
	}
	return fmt.Sprintf("%s may already be in GetCourse (see results.csv); rerunning the same command looks them up in the deals export and sends the ones missing (--resend-in-doubt would send them all without looking)", rows)
}
