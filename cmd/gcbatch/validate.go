package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gcbatch/gcbatch/importer"
	"github.com/gcbatch/gcbatch/mappings"
)

// validateOptions are the validate command's flags and argument.
type validateOptions struct {
	Mapping string
	Show    int
	// Online also checks the mapping's custom fields and the file's groups against the account.
	Online bool
	Input  string
}

func newValidateCmd(g *globals) *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate --mapping M.yaml [--show N] [--online] FILE.csv",
		Short: "Check every row of a CSV file against a mapping, without sending anything",
		Long: `validate reads FILE.csv the way import would (encoding and delimiter from the mapping's
csv: section, else detected), maps every row to API params and reports what would be rejected.
Nothing goes over the network and no API key is needed.

It prints how the file was read, the mapping's warnings (such as deals without deal_number,
which are not safe to send twice), the first rejected rows with their line numbers and
columns, and the counts. Every rejected row, with the reason in an added "error" column, is
written to REPORTS/validate-YYYYMMDD-HHMMSS/rejected.csv (--reports, default
gcbatch-reports), in the input's own delimiter and encoding: fix the rows there and validate
or import that file with the same mapping. The file is written even when every row is valid
(header only), so scripts always find it. The newest 10 validate-* folders are kept; older
ones are removed (only when they hold nothing but what validate wrote).

--show N prints the params of the first N valid rows to stdout as JSON lines,
{"line": L, "params": {...}}, L being the CSV line where the row starts (the header is
line 1): exactly what import would send. The summary then goes to stderr.

--online also checks the mapping against the account (import does the same check before it
sends anything; see 'gcbatch import --help'). It needs the account and the key like import,
and costs at most two export-API calls (account/fields, account/groups), counted in the
export budget of the state file and reused from it for 10 minutes. Every
user.addfields.<name> and deal.addfields.<name> must exist in the account for that object:
GetCourse silently drops a value whose field name is misspelled, so an unknown name is an
error with the nearest existing name (exit 2). Every group the file would add (the mapping's
constants and each distinct value of the group column over the valid rows) is looked up
among the account's groups: unknown ones are listed with their row counts and nearest
matches as a warning that does not change the exit code here, but stops an import until
--allow-new-groups is given. When the budget cannot afford the calls the check is skipped
with a note.

Exit codes: 0 every row is valid; 1 some rows are rejected; 2 the mapping, the file or a flag
is wrong (each mapping problem is listed as file:line:column: message) and nothing was checked,
or --online found a custom field the account does not have; 3 interrupted, or --online could
not reach the account (a bad key, a plan without the API, the network).`,
		Example: `  gcbatch validate --mapping samples/contacts.yaml samples/contacts.csv
  gcbatch validate --mapping orders.yaml --show 3 orders.csv | jq .params.deal
  gcbatch validate --account school --online --mapping contacts.yaml contacts.csv`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErr(2, fmt.Errorf("validate takes one CSV file, got %d arguments\nsee 'gcbatch validate --help'", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Input = args[0]
			return runValidate(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Mapping, "mapping", "m", "", "mapping file (YAML) that turns rows into API params (required)")
	f.IntVar(&o.Show, "show", 0, "print the params of the first N valid rows to stdout as JSON lines")
	f.BoolVar(&o.Online, "online", false, "also check custom fields and groups against the account (two export-API calls, cached 10 minutes)")
	return cmd
}

// runValidate checks the file and turns the outcome into the exit code.
func runValidate(ctx context.Context, g *globals, o *validateOptions) error {
	if o.Mapping == "" {
		return exitErr(2, errors.New("--mapping is required: the mapping file says how CSV columns become API params (start one with 'gcbatch mapping init')"))
	}
	if o.Show < 0 {
		return exitErr(2, fmt.Errorf("--show must not be negative, got %d", o.Show))
	}
	defer collectLess(streamGCPercent)()
	if o.Online {
		// Say at once when the account or the key is missing, not after reading the whole file.
		if _, err := g.client(ctx); err != nil {
			return err
		}
	}
	rep, err := importer.Validate(ctx, importer.ValidateOptions{
		MappingPath: o.Mapping,
		InputPath:   o.Input,
		ReportsDir:  g.ReportsDir,
		Show:        o.Show,
		Stdout:      g.Stdout,
		Stderr:      g.Stderr,
		Now:         g.Now,
	})
	if err != nil {
		if n := printLoadErrors(g, err); n > 0 {
			return exitErr(2, fmt.Errorf("%s: %d %s; no row was checked", o.Mapping, n, plural(n, "problem", "problems")))
		}
		if ctx.Err() != nil {
			return exitErr(3, fmt.Errorf("interrupted: %w", err))
		}
		return exitErr(2, err)
	}
	code := 0
	if rep.Rejected > 0 {
		code = 1
	}
	if o.Online {
		return validateOnline(ctx, g, o, code)
	}
	if code != 0 {
		return exitErr(code, nil)
	}
	return nil
}

// validateOnline is --online: the preflight import runs, after the offline check (which has
// already reported the mapping's own problems). code is the offline verdict.
func validateOnline(ctx context.Context, g *globals, o *validateOptions, code int) error {
	m, err := mappings.Load(o.Mapping)
	if err != nil {
		return exitErr(2, err)
	}
	st, err := g.openState()
	if err != nil {
		return err
	}
	defer st.Close()
	out := g.Stdout
	if o.Show > 0 {
		out = g.Stderr // stdout holds nothing but the JSON lines
	}
	rep, err := g.preflight(ctx, st, m, o.Input, false, true, out)
	if err != nil {
		return err
	}
	switch {
	case rep.Failed():
		fmt.Fprintf(out, "fix the custom field names in %s: GetCourse would drop their values without a word\n", o.Mapping)
		return exitErr(2, nil)
	case preflightFatal(rep):
		if _, ok := g.explain(rep.SkipErr); ok {
			return g.explained(rep.SkipErr)
		}
		return exitErr(3, fmt.Errorf("the online check could not be done: %w", rep.SkipErr))
	}
	if !rep.Checked() && len(rep.Skipped) == 0 {
		fmt.Fprintln(out, "online check: nothing to compare (the mapping fills no custom field and no group)")
	}
	if len(rep.NewGroups) > 0 {
		fmt.Fprintln(out, "an import of this file stops before sending anything until you add --allow-new-groups (if the new groups are meant to be created)")
	}
	if code != 0 {
		return exitErr(code, nil)
	}
	return nil
}

// printLoadErrors prints each mapping problem on its own line (file:line:col: msg (hint)) and
// returns how many there were; 0 when err is not about the mapping.
func printLoadErrors(g *globals, err error) int {
	var list mappings.LoadErrors
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(g.Stderr, e.Error())
		}
		return len(list)
	}
	var one *mappings.LoadError
	if errors.As(err, &one) {
		fmt.Fprintln(g.Stderr, one.Error())
		return 1
	}
	return 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
