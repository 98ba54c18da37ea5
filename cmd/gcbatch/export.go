package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/exporter"
	"github.com/gcbatch/gcbatch/getcourse"
)

// exportOptions are the flags of `gcbatch export` and `gcbatch export fetch`.
type exportOptions struct {
	g *globals

	Object  string // users | deals | payments | group-users; "" for fetch
	FetchID int64

	Group       int64
	CreatedFrom string
	CreatedTo   string
	Status      string
	Filters     []string

	Output    string
	Format    string
	Delimiter string
	BOM       bool
	Excel     bool
	Columns   string
	Normalize bool

	Wait          time.Duration
	Budget        string
	WaitForBudget bool
	// Poll intervals and the least time a call gets at the end of --wait: hidden flags, so that
	// tests (and impatient people) can shrink them.
	PollInitial, PollMax, BusyInitial, CallGrace time.Duration

	// Command is the command line that resumes this export (recorded in the state).
	Command string
}

func newExportCmd(g *globals) *cobra.Command {
	o := &exportOptions{g: g}
	cmd := &cobra.Command{
		Use:   "export users|deals|payments|group-users [--group ID] [filters] -o OUT.csv",
		Short: "Export users, deals, payments or a group's members into CSV or a workbook (.xlsx)",
		Long: `export drives GetCourse's two-phase export: it starts an export, polls until the file is
ready and streams it into OUT.csv, with the service's column titles as the header.

Filters (dates are YYYY-MM-DD, whole days, inclusive). Users, deals and payments need at least
one (checked before any call); a group's members may be exported without any.
  users        created_at.from/.to, status, email (comma list);
               idgrouplist=ID,ID adds a column per group (not a filter)
  group-users  created_at.from/.to, status, added_at.from/.to   (needs --group ID)
  deals        created_at, payed_at, finished_at, status_changed_at (.from/.to),
               status, user_id (an id or a comma list), user_in_group
  payments     created_at.from/.to, status, status_changed_at.from/.to
--created-from/--created-to and --status are short for the common ones; --filter takes any,
as name.from=VALUE, name.to=VALUE or name=VALUE, and passes the value as it is.

The account allows 100 export calls per 2 hours, polls included, shared by every integration.
gcbatch records each call in the state file, keeps the last few for collecting an export
already started, and stops (exit 3) saying when the budget frees up — or waits for it with
--wait-for-budget. The export id is recorded before the first poll: if a run is interrupted,
the same command collects that export instead of starting a new one, and
'gcbatch export fetch ID -o OUT.csv' collects any export by id.

--wait bounds the whole wait and every call before the download, the start included. A start
whose request went out but whose answer never came is not repeated: GetCourse may have started
that export, and a second start would meet 905 while it builds.

The file is written to a temporary file beside OUT.csv and renamed when complete, so OUT.csv
never holds half an export; a temporary file left by a killed run is removed by the next
export to the same file. -o refuses a target that is not a regular file (a symbolic link, a
device such as /dev/null, a FIFO), which the rename would replace; -o - writes to standard
output instead (redirect it anywhere; a broken download then leaves partial output and a
non-zero exit).

--excel writes a UTF-8 BOM, ';' and CRLF, and guards against CSV injection: a cell that Excel
would run as a formula (starting with = + - @, a tab or CR, but not a plain number such as
-500) gets a leading apostrophe. Without --excel cells are written exactly as exported.

-o OUT.xlsx (or --format xlsx) writes an Excel workbook instead: a bold, frozen header with a
filter, and every cell a text cell holding exactly the exported value, so phones keep their +,
long ids their digits and nothing runs as a formula, with no apostrophes. Past 1,048,575 rows
it goes on to further sheets. --normalize types normalised money and dates there.`,
		Example: `  gcbatch export users --created-from 2024-01-01 -o users.csv
  gcbatch export deals --status payed --filter payed_at.from=2024-06-01 --excel -o deals.csv
  gcbatch export users --created-from 2024-01-01 -o users.xlsx
  gcbatch export group-users --group 123 --created-from 2020-01-01 --columns "Email,Имя=Name" -o group.csv
  gcbatch export fetch 4567890 -o users.csv`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErr(2, errors.New("say what to export: gcbatch export users|deals|payments|group-users [filters] -o OUT.csv (or gcbatch export fetch ID -o OUT.csv)"))
			}
			o.Object = args[0]
			o.Command = commandLine(cmd, args)
			return runExport(cmd.Context(), o)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&o.Output, "output", "o", "", "file to write (required); - for standard output")
	pf.StringVar(&o.Format, "format", "", "output format: csv | jsonl (one JSON object per item) | xlsx (workbook); default: xlsx for -o *.xlsx, else csv")
	pf.StringVar(&o.Delimiter, "delimiter", ",", `CSV delimiter: "," ";" tab "|"`)
	pf.BoolVar(&o.BOM, "bom", false, "start the file with a UTF-8 BOM (Excel needs it to read UTF-8)")
	pf.BoolVar(&o.Excel, "excel", false, "Excel-ready: BOM, ';', CRLF, and formula-like cells prefixed with '")
	pf.StringVar(&o.Columns, "columns", "", `pick and rename columns: "Email,Имя=First name" (\, for a comma in a title)`)
	pf.BoolVar(&o.Normalize, "normalize", false, `Russian money "12 000,00" → 12000.00, dates "2024-03-01 12:30:00" → 2024-03-01T12:30:00`)
	pf.DurationVar(&o.Wait, "wait", exporter.DefaultWait, "longest wait for the export to be ready (then exit 3; rerun to keep waiting)")
	pf.StringVar(&o.Budget, "budget", "100/2h", "the account's export budget: CALLS/WINDOW")
	pf.BoolVar(&o.WaitForBudget, "wait-for-budget", false, "wait for the budget to free up instead of stopping")
	pf.DurationVar(&o.PollInitial, "poll-initial", exporter.DefaultPollInitial, "first wait before polling")
	pf.DurationVar(&o.PollMax, "poll-max", exporter.DefaultPollMax, "longest wait between polls")
	pf.DurationVar(&o.BusyInitial, "busy-initial", exporter.DefaultBusyInitial, "first wait after 905 (another export running)")
	pf.DurationVar(&o.CallGrace, "call-grace", exporter.DefaultCallGrace, "least time a call gets when --wait has nearly run out")
	for _, h := range []string{"poll-initial", "poll-max", "busy-initial", "call-grace"} {
		pf.MarkHidden(h)
	}
	f := cmd.Flags()
	f.Int64Var(&o.Group, "group", 0, "group id for group-users (see gcbatch groups)")
	f.StringVar(&o.CreatedFrom, "created-from", "", "created on or after YYYY-MM-DD")
	f.StringVar(&o.CreatedTo, "created-to", "", "created on or before YYYY-MM-DD")
	f.StringVar(&o.Status, "status", "", "status filter (the accepted values depend on the object)")
	f.StringArrayVar(&o.Filters, "filter", nil, "any filter: name.from=VALUE, name.to=VALUE or name=VALUE (repeatable)")

	fetch := &cobra.Command{
		Use:   "fetch EXPORT_ID -o OUT.csv",
		Short: "Collect an export by id (starts nothing)",
		Long: `fetch collects an export that was already started — by an interrupted gcbatch run, another
tool, or a person — and writes it like export does. It spends budget only on polls.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(strings.TrimSpace(args[0]), 10, 64)
			if err != nil || id <= 0 {
				return exitErr(2, fmt.Errorf("export id %q: want a positive number", args[0]))
			}
			o.Object, o.FetchID = "", id
			o.Command = commandLine(cmd, args)
			return runExport(cmd.Context(), o)
		},
	}
	cmd.AddCommand(fetch)
	return cmd
}

// exportFilterKind says how a filter's value is checked.
type exportFilterKind int

const (
	filterDate   exportFilterKind = iota // name[from] / name[to] = YYYY-MM-DD
	filterStatus                         // one of the object's statuses
	filterInt                            // a positive id
	filterEmails                         // a comma list of e-mails
	filterRaw                            // passed as it is (idgrouplist: not a filter at all)
)

// exportFilters are the filters the service knows per object (getcourse-api.md), in the order
// help and errors list them.
var exportFilters = map[getcourse.ExportObject][]struct {
	name string
	kind exportFilterKind
}{
	getcourse.ExportUsers:      {{"created_at", filterDate}, {"status", filterStatus}, {"email", filterEmails}, {"idgrouplist", filterRaw}},
	getcourse.ExportGroupUsers: {{"created_at", filterDate}, {"status", filterStatus}, {"added_at", filterDate}},
	getcourse.ExportDeals: {{"created_at", filterDate}, {"payed_at", filterDate}, {"finished_at", filterDate},
		{"status_changed_at", filterDate}, {"status", filterStatus}, {"user_id", filterInt}, {"user_in_group", filterInt}},
	getcourse.ExportPayments: {{"created_at", filterDate}, {"status", filterStatus}, {"status_changed_at", filterDate}},
}

// exportStatuses are the status values the service lists in its 913/914/918 answers. Group
// members have no documented list: their status goes to the service unchecked.
var exportStatuses = map[getcourse.ExportObject][]string{
	getcourse.ExportUsers:    getcourse.UserStatuses,
	getcourse.ExportDeals:    getcourse.DealStatuses,
	getcourse.ExportPayments: getcourse.PaymentStatuses,
}

func filterList(obj getcourse.ExportObject) string {
	var names []string
	for _, f := range exportFilters[obj] {
		switch f.kind {
		case filterDate:
			names = append(names, f.name+".from", f.name+".to")
		default:
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ", ")
}

// exportRequest checks the object, group and filters and builds the request; every problem is
// found here, before any call.
func (o *exportOptions) exportRequest() (getcourse.ExportRequest, error) {
	obj := getcourse.ExportObject(strings.ToLower(strings.TrimSpace(o.Object)))
	if obj == "group_users" || obj == "groups" {
		obj = getcourse.ExportGroupUsers
	}
	known, ok := exportFilters[obj]
	if !ok {
		return getcourse.ExportRequest{}, fmt.Errorf("unknown export %q: want users, deals, payments or group-users (or fetch ID)", o.Object)
	}
	req := getcourse.ExportRequest{Object: obj}
	switch {
	case obj == getcourse.ExportGroupUsers && o.Group <= 0:
		return req, errors.New("group-users needs --group ID (gcbatch groups lists the ids)")
	case obj != getcourse.ExportGroupUsers && o.Group != 0:
		return req, fmt.Errorf("--group only applies to group-users, not %s", obj)
	}
	req.GroupID = o.Group

	var raw []getcourse.Filter
	if o.CreatedFrom != "" {
		raw = append(raw, getcourse.Filter{Name: "created_at", Sub: "from", Value: o.CreatedFrom})
	}
	if o.CreatedTo != "" {
		raw = append(raw, getcourse.Filter{Name: "created_at", Sub: "to", Value: o.CreatedTo})
	}
	if o.Status != "" {
		raw = append(raw, getcourse.Filter{Name: "status", Value: o.Status})
	}
	for _, spec := range o.Filters {
		f, err := parseFilterFlag(spec)
		if err != nil {
			return req, err
		}
		raw = append(raw, f)
	}
	needsFilter := getcourse.FilterRequired(obj)
	if len(raw) == 0 && needsFilter {
		return req, fmt.Errorf("at least one filter is required (the service refuses an export without one), e.g. --created-from 2024-01-01; filters for %s: %s", obj, filterList(obj))
	}
	filtered := false
	seen := map[string]bool{}
	dates := map[string]map[string]time.Time{}
	for _, f := range raw {
		i := slices.IndexFunc(known, func(k struct {
			name string
			kind exportFilterKind
		}) bool {
			return k.name == f.Name
		})
		if i < 0 {
			return req, fmt.Errorf("%s has no filter %q; its filters: %s", obj, f.Name, filterList(obj))
		}
		if seen[f.Key()] {
			return req, fmt.Errorf("filter %s is given twice", displayFilter(f))
		}
		seen[f.Key()] = true
		f.Value = strings.TrimSpace(f.Value)
		switch known[i].kind {
		case filterDate:
			if f.Sub != "from" && f.Sub != "to" {
				return req, fmt.Errorf("filter %s is a date range: use %s.from=YYYY-MM-DD and/or %s.to=YYYY-MM-DD", f.Name, f.Name, f.Name)
			}
			d, err := time.Parse("2006-01-02", f.Value)
			if err != nil {
				return req, fmt.Errorf("filter %s: %q is not a date YYYY-MM-DD", displayFilter(f), f.Value)
			}
			if dates[f.Name] == nil {
				dates[f.Name] = map[string]time.Time{}
			}
			dates[f.Name][f.Sub] = d
		default:
			if f.Sub != "" {
				return req, fmt.Errorf("filter %s takes a single value: %s=VALUE", f.Name, f.Name)
			}
			if f.Value == "" {
				return req, fmt.Errorf("filter %s has no value", f.Name)
			}
		}
		switch known[i].kind {
		case filterStatus:
			if list, ok := exportStatuses[obj]; ok && !slices.Contains(list, f.Value) {
				return req, fmt.Errorf("%s status %q is not one the service accepts: %s", obj, f.Value, strings.Join(list, ", "))
			}
		case filterInt:
			// An id, or a comma list of ids (user_id=1,2,3), passed as written.
			for part := range strings.SplitSeq(f.Value, ",") {
				if n, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64); err != nil || n <= 0 {
					return req, fmt.Errorf("filter %s: %q is not an id (a positive whole number) or a comma list of ids", f.Name, f.Value)
				}
			}
		case filterEmails:
			for e := range strings.SplitSeq(f.Value, ",") {
				if e = strings.TrimSpace(e); !strings.Contains(e, "@") {
					return req, fmt.Errorf("filter email: %q is not an e-mail address (give a comma list of addresses)", e)
				}
			}
		}
		if known[i].kind != filterRaw {
			filtered = true
		}
		req.Filters = append(req.Filters, f)
	}
	if needsFilter && !filtered {
		return req, fmt.Errorf("idgrouplist adds columns but does not filter: give at least one filter as well, e.g. --created-from 2024-01-01; filters for %s: %s", obj, filterList(obj))
	}
	for name, r := range dates {
		if from, to := r["from"], r["to"]; !from.IsZero() && !to.IsZero() && to.Before(from) {
			return req, fmt.Errorf("filter %s: the range ends (%s) before it starts (%s)", name, to.Format("2006-01-02"), from.Format("2006-01-02"))
		}
	}
	return req, nil
}

// parseFilterFlag reads name.from=VALUE, name[from]=VALUE or name=VALUE.
func parseFilterFlag(spec string) (getcourse.Filter, error) {
	k, v, ok := strings.Cut(spec, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return getcourse.Filter{}, fmt.Errorf("--filter %q: want name=VALUE or name.from=VALUE", spec)
	}
	f := getcourse.Filter{Name: k, Value: v}
	if n, sub, ok := strings.Cut(k, "."); ok {
		f.Name, f.Sub = n, sub
	} else if n, sub, ok := strings.Cut(k, "["); ok && strings.HasSuffix(sub, "]") {
		f.Name, f.Sub = n, strings.TrimSuffix(sub, "]")
	}
	f.Name = strings.ToLower(strings.TrimSpace(f.Name))
	f.Sub = strings.ToLower(strings.TrimSpace(f.Sub))
	if f.Sub != "" && f.Sub != "from" && f.Sub != "to" {
		return getcourse.Filter{}, fmt.Errorf("--filter %q: after the name comes .from or .to, not .%s", spec, f.Sub)
	}
	return f, nil
}

func displayFilter(f getcourse.Filter) string {
	if f.Sub == "" {
		return f.Name
	}
	return f.Name + "." + f.Sub
}

// outputOptions turns the output flags into exporter options.
func (o *exportOptions) outputOptions() (exporter.Options, error) {
	var eo exporter.Options
	if o.Output == "" {
		return eo, errors.New("say where to write: -o OUT.csv (or -o - for standard output)")
	}
	eo.Output = o.Output
	format := strings.ToLower(o.Format)
	if format == "" {
		format = "csv"
		if strings.EqualFold(filepath.Ext(o.Output), ".xlsx") {
			format = "xlsx" // the format follows the extension
		}
	}
	switch format {
	case "csv":
		eo.Format = exporter.FormatCSV
	case "jsonl", "ndjson":
		eo.Format = exporter.FormatJSONL
	case "xlsx":
		eo.Format = exporter.FormatXLSX
		if o.Excel || o.BOM {
			return eo, errors.New("--excel and --bom are for CSV output: a workbook (.xlsx) keeps phones, long ids and leading zeros as text without them; drop the flag")
		}
	default:
		return eo, fmt.Errorf("--format must be csv, jsonl or xlsx, not %q", o.Format)
	}
	delim := o.Delimiter
	if o.Excel {
		eo.BOM, eo.CRLF, eo.EscapeFormulas = true, true, true
		delim = ";"
		if d := o.Delimiter; d != "," && d != ";" {
			delim = d // an explicit --delimiter wins over --excel's ';'
		}
	}
	switch strings.ToLower(delim) {
	case ",", ";", "|":
		eo.Delimiter = delim[0]
	case "tab", `\t`, "\t":
		eo.Delimiter = '\t'
	default:
		return eo, fmt.Errorf(`--delimiter must be "," ";" tab or "|", not %q`, o.Delimiter)
	}
	if o.BOM {
		eo.BOM = true
	}
	eo.Normalize = o.Normalize
	cols, err := exporter.ParseColumns(o.Columns)
	if err != nil {
		return eo, err
	}
	eo.Columns = cols
	if o.Wait <= 0 {
		return eo, errors.New("--wait must be positive")
	}
	eo.Wait, eo.PollInitial, eo.PollMax, eo.BusyInitial, eo.CallGrace = o.Wait, o.PollInitial, o.PollMax, o.BusyInitial, o.CallGrace
	return eo, nil
}

// budgetedClient builds the account's client with the export budget of the state file wired
// in: every call to /pl/api/account/* is checked and recorded first. Commands that call the
// export API (export, groups) use it instead of g.client. The client is built twice because the
// budget is per account and the account id is only known to a client (no network is involved).
func (g *globals) budgetedClient(ctx context.Context, st *checkpoint.Store, cfg checkpoint.BudgetConfig, opts ...getcourse.Option) (*getcourse.Client, *checkpoint.Budget, error) {
	probe, err := g.client(ctx, opts...)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Now == nil {
		cfg.Now = g.Now
	}
	b := st.Budget(probe.Account(), cfg)
	c, err := g.client(ctx, append(slices.Clone(opts), getcourse.WithExportBudget(b))...)
	if err != nil {
		return nil, nil, err
	}
	return c, b, nil
}

func runExport(ctx context.Context, o *exportOptions) error {
	g := o.g
	var req getcourse.ExportRequest
	if o.FetchID == 0 {
		var err error
		if req, err = o.exportRequest(); err != nil {
			return exitErr(2, err)
		}
	}
	eo, err := o.outputOptions()
	if err != nil {
		return exitErr(2, err)
	}
	limit, window, err := checkpoint.ParseBudget(o.Budget)
	if err != nil {
		return exitErr(2, fmt.Errorf("--budget: %w", err))
	}
	st, err := g.openState()
	if err != nil {
		return err
	}
	defer st.Close()

	say := newSayer(g.Stderr)
	cfg := checkpoint.BudgetConfig{Limit: limit, Window: window, Wait: o.WaitForBudget,
		OnWait: func(until time.Time) {
			say.line(fmt.Sprintf("the export budget is spent; waiting until %s (--wait-for-budget)", until.Local().Format("15:04:05")))
		}}
	c, budget, err := g.budgetedClient(ctx, st, cfg)
	if err != nil {
		return err
	}
	eo.Store, eo.Budget, eo.Command, eo.Now, eo.Stdout = st, budget, o.Command, g.Now, g.Stdout
	eo.Notify = say.line
	eo.Log = g.Logger.With("command", "export")
	eo.Progress = &exporter.Progress{}
	if g.progressEnabled() {
		stop := startExportProgress(say, eo.Progress, budget)
		defer stop()
	}

	var res *exporter.Result
	if o.FetchID != 0 {
		res, err = exporter.Fetch(ctx, c, o.FetchID, eo)
	} else {
		res, err = exporter.Run(ctx, c, req, eo)
	}
	say.clear()
	if err != nil {
		if ctx.Err() == nil {
			if exp, ok := g.explain(err); ok {
				var bs *checkpoint.BudgetSpent
				if getcourse.KindOf(err) == getcourse.KindBudget && !errors.As(err, &bs) {
					_, until := budget.Remaining() // the 903 was recorded: when calls free up
					exp = budgetExplanation(exp.Service, until, g.Now())
				}
				return exitErr(3, &explainedError{exp: exp, err: err})
			}
		}
		return exportExit(ctx, err, res, o.FetchID != 0)
	}
	left, _ := budget.Remaining()
	how := "started and collected"
	if res.Resumed {
		how = "collected (started by an earlier run)"
	} else if o.FetchID != 0 {
		how = "collected"
	}
	say.line(fmt.Sprintf("wrote %s × %s to %s; export %d %s after %s in %s; export budget: %s used by this run, %d of %d left in the %s window",
		exportCount(res.Rows, "row"), exportCount(int64(res.Columns), "column"), res.Output, res.ExportID, how,
		exportCount(int64(res.Polls), "poll"), res.Took.Round(time.Second), exportCount(int64(budget.Used()), "call"),
		left, limit, shortDuration(window)))
	if res.Download > 0 && res.Rows > 0 {
		say.line(fmt.Sprintf("downloaded in %.2fs (%.0f rows/s)", res.Download.Seconds(), float64(res.Rows)/res.Download.Seconds()))
	}
	if res.Ragged > 0 {
		say.line(fmt.Sprintf("note: %d items had more cells than there are column titles; the extra cells were kept at the end of their lines", res.Ragged))
	}
	return nil
}

func exportCount(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}

// shortDuration prints 2h rather than 2h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// exportExit picks the exit code of a failed export (design.md: 1 finished with failures, 2
// usage or input, 3 stopped early; rerunning resumes).
func exportExit(ctx context.Context, err error, res *exporter.Result, fetch bool) error {
	var ce *exporter.ColumnError
	var oe *exporter.OutputError
	var we *exporter.WaitExpiredError
	var se *exporter.StreamError
	var de *exporter.StartInDoubtError
	var ge *exporter.GoneError
	var ae *getcourse.APIError
	switch {
	case errors.As(err, &de):
		return exitErr(3, err)
	case errors.As(err, &ge):
		if fetch {
			// The export cannot be had: like 910, the service could not give it.
			return exitErr(1, err)
		}
		return exitErr(3, err)
	case errors.As(err, &oe) && res != nil && res.ExportID != 0:
		// The export was started (or found) before the output failed (a full disk): the
		// rerun collects it, so this is "stopped early", not an input error.
		return exitErr(3, fmt.Errorf("%w; export %d stays recorded: fix that and rerun the same command to collect it without starting another", err, res.ExportID))
	case errors.As(err, &ce), errors.As(err, &oe):
		return exitErr(2, err)
	case errors.As(err, &we), errors.As(err, &se):
		return exitErr(3, err)
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		msg := "interrupted"
		if res != nil && res.ExportID != 0 {
			msg = fmt.Sprintf("interrupted; export %d stays recorded: rerun the same command to collect it without starting another", res.ExportID)
		}
		return exitErr(3, errors.New(msg))
	}
	switch getcourse.KindOf(err) {
	case getcourse.KindExportFailed:
		return exitErr(1, err)
	case getcourse.KindBadFilter:
		return exitErr(2, err)
	case getcourse.KindUnknown:
		if errors.As(err, &ae) || (res != nil && res.ExportID != 0) {
			// An answer nobody recognised, or a failure after the export was started: calls
			// were made, so this is "stopped early", and rerunning picks up what was started.
			return exitErr(3, err)
		}
		return exitErr(2, err)
	}
	return exitErr(3, err)
}

// sayer writes whole lines to stderr, clearing a progress spinner first so that they do not mix.
type sayer struct {
	mu  sync.Mutex
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newSayer(w io.Writer) *sayer { return &sayer{w: w} }

func (s *sayer) line(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bar != nil {
		s.bar.Clear()
	}
	fmt.Fprintln(s.w, "gcbatch:", msg)
}

func (s *sayer) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bar != nil {
		s.bar.Clear()
	}
}

// startExportProgress draws a spinner on stderr while the export is built (elapsed, polls, budget
// left), then the rows written. The returned stop ends the drawing goroutine and waits for it.
func startExportProgress(s *sayer, p *exporter.Progress, budget *checkpoint.Budget) (stop func()) {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(s.w),
		progressbar.OptionSpinnerType(14),
		// No spinner goroutine of the library's own (it reads its state without the lock, and
		// outlives an unfinished bar): our ticker below renders.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionSetDescription("starting the export"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	s.mu.Lock()
	s.bar = bar
	s.mu.Unlock()
	done := make(chan struct{})
	finished := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		left, lastBudget := -1, time.Time{}
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			phase := p.PhaseString()
			s.mu.Lock()
			if phase == "downloading" {
				bar.Describe(fmt.Sprintf("export %d: writing", p.ExportID.Load()))
				bar.Set64(p.Rows.Load())
			} else {
				if time.Since(lastBudget) > 2*time.Second {
					left, _ = budget.Remaining()
					lastBudget = time.Now()
				}
				what := phase
				if what == "" {
					what = "starting"
				}
				id := ""
				if n := p.ExportID.Load(); n != 0 {
					id = fmt.Sprintf("export %d: ", n)
				}
				bar.Describe(fmt.Sprintf("%s%s %s, %d polls, budget %d left", id, what,
					time.Since(began).Round(time.Second), p.Polls.Load(), left))
				bar.Add64(0)
			}
			s.mu.Unlock()
		}
	}()
	return func() {
		close(done)
		<-finished
		s.mu.Lock()
		bar.Finish()
		bar.Clear()
		s.bar = nil
		s.mu.Unlock()
	}
}
