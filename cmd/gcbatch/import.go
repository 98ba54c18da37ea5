package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/importer"
	"github.com/gcbatch/gcbatch/mappings"
)

// importOptions are the import command's flags.
type importOptions struct {
	Mapping       string
	Rate          string
	Concurrency   int
	DryRun        bool
	Restart       bool
	Resend        bool
	RetryRejected bool
	ResendInDoubt bool
	MaxRows       int
	Yes           bool
	// NoPreflight skips the online check of custom fields and groups; AllowNewGroups lets the
	// import go on although the file adds groups the account does not have.
	NoPreflight    bool
	AllowNewGroups bool
	Input          string
	// Resume is the command line that continues this import (built from the flags given).
	Resume string
	// Settle tunes the lookup of deals left in doubt (settle.go).
	Settle settleFlags
}

func newImportCmd(g *globals) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import --mapping M.yaml [flags] FILE.csv",
		Short: "Send the rows of a CSV file to GetCourse through a mapping",
		Long: `import reads FILE.csv, turns each row into API params with the mapping file and sends
the rows through a rate-limited pool of workers. Every outcome is checkpointed in the state
file, so rerunning the same command resumes an interrupted import, and a file imported again
(a nightly upload that grew) sends only its new and changed rows.

Reports go to REPORTS/RUN_ID/: results.csv (every row's outcome), rejected.csv (rejected and
failed rows with the reason, ready to fix and import again) and summary.json.

The default --rate of 5/s is the pace public GetCourse clients keep; the service documents no
limit. When the service answers "too many requests" the rate is halved and then raised again
gradually, so a --rate set too high settles on the account's real limit.

Before the first row goes out, import checks the mapping against the account (the check of
'gcbatch validate --online'): every user.addfields.<name> and deal.addfields.<name> must be
a custom field the account has (GetCourse silently drops values of a misspelled field), and
every group the file would add must already exist (GetCourse silently creates a group whose
name has a typo). An unknown field stops the import with the nearest existing name; new
groups are listed with their row counts and nearest matches and stop the import until you
pass --allow-new-groups, since creating groups is sometimes intended. Both stops exit 2 with
nothing sent. The check costs at most two export-API calls (account/fields, account/groups),
counted in the export budget and reused from the state file for 10 minutes; when the budget
cannot afford them it is skipped with a note. --no-preflight skips it.

Rows the service might already have (a deal without deal_number or a message, when a crash or
a timeout hit it in flight) are "in doubt": reported, and not sent again. Rerunning the same
command looks deals in doubt up in the account's deals export before it sends anything (a few
export calls, said on screen): a deal found is confirmed, a deal missing is sent, a deal with
more candidates than rows like it stays in doubt with the candidates listed. Messages cannot
be looked up. --resend-in-doubt sends what stays in doubt (any already there is duplicated).`,
		Example: `  gcbatch import --account school --mapping contacts.yaml contacts.csv
  gcbatch import --mapping orders.yaml --rate 2/s --max-rows 1000 orders.csv
  gcbatch import --mapping contacts.yaml --dry-run contacts.csv
  gcbatch import --mapping contacts.yaml --allow-new-groups contacts.csv`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErr(2, fmt.Errorf("import takes one CSV file, got %d arguments\nsee 'gcbatch import --help'", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Input = args[0]
			o.Resume = resumeCommand(cmd, args)
			return runImport(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Mapping, "mapping", "m", "", "mapping file (YAML) that turns rows into API params (required)")
	f.StringVar(&o.Rate, "rate", "5/s", "most requests per second (N/s), minute (N/m) or hour (N/h); slowed down automatically when the service pushes back")
	f.IntVar(&o.Concurrency, "concurrency", importer.DefaultConcurrency, "requests in flight at once")
	f.BoolVar(&o.DryRun, "dry-run", false, "check every row and write the reports, send nothing (same as validate)")
	f.BoolVar(&o.Restart, "restart", false, "forget this file's progress and send every row again")
	f.BoolVar(&o.Resend, "resend", false, "send even rows an earlier run has confirmed")
	f.BoolVar(&o.RetryRejected, "retry-rejected", false, "send again rows the service rejected in an earlier run")
	f.BoolVar(&o.ResendInDoubt, "resend-in-doubt", false, "send again rows that may already have reached GetCourse (check them there first)")
	f.IntVar(&o.MaxRows, "max-rows", 0, "stop cleanly after sending this many rows (0: no limit); rerun to send the next ones")
	f.BoolVar(&o.Yes, "yes", false, "confirm a target that replaces data (target: groups replaces users' groups)")
	f.BoolVar(&o.AllowNewGroups, "allow-new-groups", false, "go on although the file adds groups the account does not have (GetCourse creates them)")
	f.BoolVar(&o.NoPreflight, "no-preflight", false, "skip the online check of custom fields and groups before sending")
	addSettleFlags(f, &o.Settle)
	return cmd
}

// resumeCommand rebuilds the command line that continues this import: the global flags and
// import flags the user gave, minus the ones that must not repeat on a resume (--restart
// would forget the progress again, --resend/--retry-rejected/--resend-in-doubt would resend
// what this very run sent). The key is never on a gcbatch command line.
func resumeCommand(cmd *cobra.Command, args []string) string {
	return commandLine(cmd, args, "restart", "resend", "retry-rejected", "resend-in-doubt", "dry-run",
		"progress", "log", "log-format")
}

func runImport(ctx context.Context, g *globals, o *importOptions) error {
	if o.Mapping == "" {
		return exitErr(2, errors.New("--mapping is required: the mapping file says how CSV columns become API params (start one with 'gcbatch mapping init')"))
	}
	maxRate, err := importer.ParseRate(o.Rate)
	if err != nil {
		return exitErr(2, fmt.Errorf("--rate: %w", err))
	}
	if o.Concurrency < 1 || o.Concurrency > 256 {
		return exitErr(2, fmt.Errorf("--concurrency must be from 1 to 256, not %d", o.Concurrency))
	}
	if o.MaxRows < 0 {
		return exitErr(2, fmt.Errorf("--max-rows must not be negative"))
	}
	if _, err := os.Stat(o.Input); err != nil {
		return exitErr(2, fmt.Errorf("cannot read the input file: %w", err))
	}
	defer collectLess(streamGCPercent)()
	if o.DryRun {
		return runImportDryRun(ctx, g, o)
	}
	m, err := mappings.Load(o.Mapping)
	if err != nil {
		return exitErr(2, importer.MappingProblems(m, err, o.Input))
	}
	if m.Target == mappings.TargetGroups && !o.Yes {
		return exitErr(2, errors.New("target groups REPLACES each user's groups (users/update): groups not listed in the file are removed from the user. "+
			"Check the file with 'gcbatch validate', then rerun with --yes to go ahead"))
	}
	for _, w := range m.Warnings() {
		fmt.Fprintln(g.Stderr, "warning:", w)
	}
	st, err := g.openState()
	if err != nil {
		return err
	}
	defer st.Close()
	// `gcbatch runs` can say an import is starting while the online check runs.
	defer importer.PublishStarting(st, o.Resume, g.Now())()

	if !o.NoPreflight {
		// The check's two account calls go at the import's --rate when that is faster than
		// the client's default pace (a user who raised it should not wait 200 ms between
		// them), never slower: they are few, and the export budget, not --rate, governs them.
		rep, err := g.preflight(ctx, st, m, o.Input, o.AllowNewGroups, false, g.Stderr,
			getcourse.WithLimiter(rate.NewLimiter(max(maxRate, getcourse.DefaultRate), 1)))
		if err != nil {
			var ex *explainedError
			if errors.As(err, &ex) {
				ex.resume = o.Resume
			}
			return err
		}
		if why := preflightBlocked(rep, o.Mapping, o.AllowNewGroups); why != "" {
			return exitErr(2, fmt.Errorf("import stopped by the online check: %s", why))
		}
	}

	settle, err := g.settleOptions(ctx, st, o.Settle, o.Resume)
	if err != nil {
		return err
	}
	var progress io.Writer
	if g.progressEnabled() {
		progress = g.Stderr
	}
	s, err := importer.Run(ctx, importer.Options{
		InputPath: o.Input, Mapping: m, MappingPath: o.Mapping, Store: st,
		NewClient: func(opts ...getcourse.Option) (*getcourse.Client, error) {
			return g.client(ctx, opts...)
		},
		Rate: maxRate, Concurrency: o.Concurrency, MaxRows: o.MaxRows,
		Resend: o.Resend, RetryRejected: o.RetryRejected, ResendInDoubt: o.ResendInDoubt, Restart: o.Restart,
		ReportsDir: g.ReportsDir, Command: o.Resume, Progress: progress, Logger: g.Logger, Now: g.Now,
		Settle: settle,
	})
	if err != nil {
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			return err
		case ctx.Err() != nil:
			return exitErr(3, fmt.Errorf("interrupted before anything was sent: %w", err))
		}
		return exitErr(2, err)
	}
	printImportSummary(g.Stdout, s, g.explain)
	if code := s.ExitCode(); code != 0 {
		return exitErr(code, nil)
	}
	return nil
}

// runImportDryRun is --dry-run: the validate command's check, no network, no state.
func runImportDryRun(ctx context.Context, g *globals, o *importOptions) error {
	rep, err := importer.Validate(ctx, importer.ValidateOptions{
		MappingPath: o.Mapping, InputPath: o.Input, ReportsDir: g.ReportsDir,
		Stdout: g.Stdout, Stderr: g.Stderr, Now: g.Now,
	})
	if err != nil {
		if ctx.Err() != nil {
			return exitErr(3, err)
		}
		return exitErr(2, err)
	}
	if rep.Rejected > 0 {
		return exitErr(1, nil)
	}
	return nil
}

// rejectsName is the run's reject file: rejected.xlsx for a workbook, else rejected.csv.
func rejectsName(reportsDir string) string {
	if _, err := os.Stat(filepath.Join(reportsDir, importer.RejectedWorkbookFile)); err == nil {
		return importer.RejectedWorkbookFile
	}
	return importer.RejectedFile
}

// printImportSummary is what a person (or a cron mail) reads after an import. explain words
// a fatal answer (explain.go).
func printImportSummary(w io.Writer, s *importer.Summary, explain func(error) (explanation, bool)) {
	c := s.Counts
	exp, fatal := explanation{}, false
	var fe *importer.FatalError
	if errors.As(s.Reason, &fe) {
		exp, fatal = explain(fe.Err)
	}
	switch s.Status {
	case importer.StatusDone:
		if c.Total == 0 {
			fmt.Fprintf(w, "import done: the file has no data rows, nothing to send\n")
			break
		}
		fmt.Fprintf(w, "import done: every row is in GetCourse\n")
	case importer.StatusPartial:
		// rejected.csv only when it has rows: rows in doubt are in results.csv.
		if c.Rejected+c.Failed > 0 {
			fmt.Fprintf(w, "import finished, with rows that need a look (%s)\n", rejectsName(s.ReportsDir))
		} else {
			fmt.Fprintf(w, "import finished; %d %s in doubt and %s a look (see below)\n", c.InDoubt, plural(c.InDoubt, "row is", "rows are"), plural(c.InDoubt, "needs", "need"))
		}
	case importer.StatusInterrupted:
		fmt.Fprintf(w, "import interrupted: requests in flight were finished and progress saved\n")
	default:
		if fatal {
			fmt.Fprintf(w, "import stopped: %s\n", exp.Headline)
			break
		}
		fmt.Fprintf(w, "import stopped: %v\n", s.Reason)
	}
	fmt.Fprintf(w, "  rows      %d in %s\n", c.Total, s.Input)
	fmt.Fprintf(w, "  ok        %d", c.OK)
	fmt.Fprintf(w, " · rejected %d", c.Rejected)
	if s.RejectedEarlier > 0 {
		fmt.Fprintf(w, " (%d by an earlier run)", s.RejectedEarlier)
	}
	fmt.Fprintf(w, " · failed %d · in doubt %d · skipped %d (already sent)", c.Failed, c.InDoubt, c.Skipped)
	if s.Left != 0 {
		if s.Left < 0 {
			fmt.Fprintf(w, " · left: some")
		} else {
			fmt.Fprintf(w, " · left %d", s.Left)
		}
	}
	fmt.Fprintln(w)
	printRates(w, s)
	fmt.Fprintf(w, "  reports   %s\n", s.ReportsDir)
	if st := s.Settle; st != nil && st.Confirmed+st.Missing > 0 {
		fmt.Fprintf(w, "  settled   %d deals left in doubt by earlier runs: %d found in GetCourse (confirmed), %d not there (sent by this run)\n",
			st.Confirmed+st.Missing, st.Confirmed, st.Missing)
	}
	if c.InDoubt > 0 {
		fmt.Fprintf(w, "  in doubt  %s\n", inDoubtAdvice(s))
	}
	if c.Rejected > 0 {
		fmt.Fprintf(w, "  rejected  fix the rows in %s and import it with the same mapping\n", rejectsName(s.ReportsDir))
	}
	switch {
	case fatal:
		exp.Write(w, s.Command)
	case s.NeedsRerun():
		fmt.Fprintf(w, "  resume    %s\n", s.Command)
	}
}

// printRates is the summary's time line: the whole run, and the speeds over what they
// measure (sent/s between the first and last answer, checked/s over the rows' flow), each
// only when there was enough to measure.
func printRates(w io.Writer, s *importer.Summary) {
	c := s.Counts
	fmt.Fprintf(w, "  time      %s", s.Duration.Round(10*time.Millisecond))
	switch {
	case c.Sent == 0:
		fmt.Fprintf(w, ", 0 sent")
	case s.Rate > 0:
		fmt.Fprintf(w, "; %d sent in %s, %.1f sent/s (--rate %s", c.Sent, s.SendTime.Round(10*time.Millisecond), s.Rate, importer.FormatRate(s.MaxRate))
		if s.RateLimited > 0 {
			fmt.Fprintf(w, "; %d rate-limited answers, ended at %s", s.RateLimited, importer.FormatRate(s.FinalRate))
		}
		fmt.Fprint(w, ")")
	case s.SendTime > 0:
		fmt.Fprintf(w, "; %d sent in %s (too few to measure a rate)", c.Sent, s.SendTime.Round(10*time.Millisecond))
	default:
		fmt.Fprintf(w, "; %d sent, no answer", c.Sent)
	}
	if s.CheckRate > 0 && c.Skipped > 0 {
		fmt.Fprintf(w, "; %d checked, %.0f checked/s", c.OK+c.Rejected+c.Failed+c.InDoubt+c.Skipped, s.CheckRate)
	}
	fmt.Fprintln(w)
}
