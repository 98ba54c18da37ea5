package exporter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
)

// Client is what an export needs of getcourse.Client.
type Client interface {
	Account() string
	StartExport(ctx context.Context, r getcourse.ExportRequest) (int64, error)
	OpenExport(ctx context.Context, id int64) (io.ReadCloser, error)
}

// Defaults of Options.
const (
	DefaultWait        = 30 * time.Minute
	DefaultPollInitial = 5 * time.Second
	DefaultPollMax     = time.Minute
	DefaultBusyInitial = 15 * time.Second
	DefaultReuseWithin = 24 * time.Hour
	DefaultCallGrace   = 10 * time.Second
)

// Options configure one export.
type Options struct {
	// Output is the file to write; "-" writes to Stdout (no atomic rename then).
	Output string
	Stdout io.Writer

	// Format is csv (default), jsonl or xlsx.
	Format Format
	// sheetRows is the data rows per sheet of an xlsx output (0: a sheet's limit); tests lower it.
	sheetRows int
	// Delimiter of CSV output (default ',').
	Delimiter byte
	// BOM starts the file with a UTF-8 byte order mark, which Excel needs to read UTF-8.
	BOM bool
	// CRLF ends lines with CR LF (Excel style) instead of LF.
	CRLF bool
	// EscapeFormulas prefixes cells that Excel would run as formulas (= + - @ TAB CR, but not
	// plain numbers) with an apostrophe: CSV injection. Off by default because it changes data.
	EscapeFormulas bool
	// Columns picks and renames columns; nil keeps all in the service's order.
	Columns []Column
	// Normalize turns Russian money into plain decimals and service dates into ISO 8601.
	Normalize bool

	// Wait bounds the whole wait for the export: starting through 905 and polling (default 30m).
	// Every call before the download is bounded by it too, the start included; the download of
	// a ready export is not (the client's watchdog bounds its silences).
	Wait time.Duration
	// PollInitial is the first wait before polling a new export (default 5s); the wait grows by
	// half each poll up to PollMax (default 1m). Tests shrink both.
	PollInitial, PollMax time.Duration
	// BusyInitial is the first wait after a 905 answer (default 15s, growing up to PollMax).
	BusyInitial time.Duration
	// ReuseWithin is how old a pending export with the same parameters may be to be collected
	// instead of starting a new one (default 24h; older ones can still be fetched by id).
	ReuseWithin time.Duration

	// Store keeps pending exports (required).
	Store *checkpoint.Store
	// Budget, when set, is told about 903 answers and reports what is left.
	Budget *checkpoint.Budget
	// Command is the command line that resumes this export, kept in the state for people.
	Command string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Notify receives one line about each notable event (905, resuming, waiting); may be nil.
	Notify func(msg string)
	// Progress, when set, is updated as the export goes (read it from another goroutine).
	Progress *Progress
	// Log, when set, receives the export's calls and phases (start, id, each poll's answer,
	// download, restarts); nil logs nothing. It never holds the key (errors are redacted).
	Log *slog.Logger

	// CallGrace is the least time a call before the download is given when Wait has nearly
	// run out, so that the last poll at the deadline still gets its answer (default 10s).
	CallGrace time.Duration

	fetching bool // set by Fetch: advice differs
}

// Progress is the live state of an export for a progress display; the exporter writes it and
// another goroutine reads it.
type Progress struct {
	Phase    atomic.Value // string: "starting", "waiting for another export", "waiting", "downloading"
	ExportID atomic.Int64
	Polls    atomic.Int64
	Rows     atomic.Int64
}

func (p *Progress) phase(s string) {
	if p != nil {
		p.Phase.Store(s)
	}
}

// PhaseString returns the current phase ("" before the start).
func (p *Progress) PhaseString() string {
	s, _ := p.Phase.Load().(string)
	return s
}

// Result describes a finished export.
type Result struct {
	ExportID int64
	// Resumed is set when a pending export from an earlier run was collected.
	Resumed bool
	Rows    int64
	Columns int
	Output  string
	Polls   int
	// Ragged counts items with more cells than fields (kept in CSV, keyed "#N" in JSONL).
	Ragged int64
	Took   time.Duration
	// Download is the time from the request that found the export ready to the file being in
	// place: the JSON → CSV part alone, without the wait for the service to build the export.
	Download time.Duration
}

// WaitExpiredError says the export was not ready within --wait. The export stays pending: the
// same command collects it later without starting another.
type WaitExpiredError struct {
	ExportID int64
	Wait     time.Duration
	Busy     bool // still refused with 905 (nothing started)
}

func (e *WaitExpiredError) Error() string {
	if e.Busy {
		return fmt.Sprintf("another export was still running on the account after %s (905); nothing was started: rerun later, or raise --wait", e.Wait)
	}
	return fmt.Sprintf("export %d was not ready after %s; it stays recorded: rerun the same command (or gcbatch export fetch %d) to keep waiting without starting a new one", e.ExportID, e.Wait, e.ExportID)
}

// StartInDoubtError is an export start whose request was written but whose answer never came
// (or was unreadable): GetCourse may have started an export, whose id is lost. gcbatch does not
// start another in this run: a second start would meet 905 while that export builds, or, once it
// is built, start a duplicate that spends budget again.
type StartInDoubtError struct {
	Err  error
	Wait time.Duration // set when --wait ran out during the start
}

func (e *StartInDoubtError) Error() string {
	why := "no usable answer came back"
	if e.Wait > 0 {
		why = fmt.Sprintf("no answer came within --wait %s", e.Wait)
	}
	return fmt.Sprintf("the export start was sent but %s (%v); GetCourse may have started an export whose id gcbatch never heard, so no second export is started now (it would meet 905 while that one builds). Rerun the same command in a few minutes", why, e.Err)
}

func (e *StartInDoubtError) Unwrap() error { return e.Err }

// GoneError says the service no longer has an export (expired, or an id it never knew:
// «Объект не найден»). The export is forgotten in the state file. Run starts afresh once before
// returning it; Fetch returns it at once.
type GoneError struct {
	ExportID int64
	Err      error
	fetch    bool
}

func (e *GoneError) Error() string {
	if e.fetch {
		return fmt.Sprintf("%v: GetCourse no longer has export %d (it expired, or was never this account's); start a new export with gcbatch export users|deals|payments|group-users ... -o FILE", e.Err, e.ExportID)
	}
	return fmt.Sprintf("%v: GetCourse lost export %d as well, right after starting it afresh; gcbatch stops rather than spend more budget. Rerun the same command to start another", e.Err, e.ExportID)
}

func (e *GoneError) Unwrap() error { return e.Err }

// StreamError is a download that broke after it started (connection cut, malformed JSON). The
// temporary file is removed and the export stays pending.
type StreamError struct {
	ExportID int64
	Rows     int64
	Err      error
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("export %d: the download broke after %d rows: %v; no file was written, and the export is still collectable: rerun the same command", e.ExportID, e.Rows, e.Err)
}

func (e *StreamError) Unwrap() error { return e.Err }

// failedError is a 910 answer with advice.
type failedError struct {
	err   error
	id    int64
	fetch bool
}

func (e *failedError) Error() string {
	if e.fetch {
		return fmt.Sprintf("%v: GetCourse could not build export %d, or does not know it (an id of another account, or one it no longer keeps)", e.err, e.id)
	}
	return fmt.Sprintf("%v: GetCourse could not build export %d, or no longer has it; try narrower filters (e.g. a shorter --created-from/--created-to range), which starts a new export", e.err, e.id)
}

func (e *failedError) Unwrap() error { return e.err }

// OutputError is a problem with the output file itself (folder missing, no permission, disk full).
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return "output: " + e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

func (o *Options) defaults() {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.PollInitial <= 0 {
		o.PollInitial = DefaultPollInitial
	}
	if o.PollMax <= 0 {
		o.PollMax = DefaultPollMax
	}
	if o.PollMax < o.PollInitial {
		o.PollMax = o.PollInitial
	}
	if o.BusyInitial <= 0 {
		o.BusyInitial = DefaultBusyInitial
	}
	if o.ReuseWithin <= 0 {
		o.ReuseWithin = DefaultReuseWithin
	}
	if o.CallGrace <= 0 {
		o.CallGrace = DefaultCallGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Format == "" {
		o.Format = FormatCSV
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
}

// CanonicalFilters is the stable form of a filter list used to recognise the same export:
// PHP-style keys sorted, values query-escaped.
func CanonicalFilters(fs []getcourse.Filter) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = url.QueryEscape(f.Key()) + "=" + url.QueryEscape(f.Value)
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

// Run exports req into o.Output: it collects a pending export with the same parameters if the
// state has one, or starts a new one (waiting through 905), records its id before the first
// poll, polls until it is ready within o.Wait, and streams it into the file.
func Run(ctx context.Context, c Client, req getcourse.ExportRequest, o Options) (*Result, error) {
	o.defaults()
	if o.Store == nil {
		return nil, errors.New("exporter: no state store")
	}
	if len(req.Filters) == 0 && getcourse.FilterRequired(req.Object) {
		return nil, &getcourse.APIError{Kind: getcourse.KindBadFilter, Method: "GET", Path: "/pl/api/account/" + string(req.Object),
			Message: "at least one filter is required; nothing was sent"}
	}
	out, err := createOutput(o)
	if err != nil {
		return nil, err
	}
	defer out.discard()

	began := o.Now()
	deadline := began.Add(o.Wait)
	account := c.Account()
	filters := CanonicalFilters(req.Filters)
	res := &Result{}

	pending, found, err := o.Store.FindPendingExport(account, string(req.Object), req.GroupID, filters, began.Add(-o.ReuseWithin))
	if err != nil {
		return nil, err
	}
	// restarted is set once an export was found gone (or failed) and started afresh: that
	// happens once per run, so a service that keeps losing exports cannot drain the budget.
	restarted := false
	if found {
		res.ExportID, res.Resumed = pending.ID, true
		if o.Progress != nil {
			o.Progress.ExportID.Store(pending.ID)
		}
		o.notify(fmt.Sprintf("collecting export %d started at %s by an earlier run (same parameters; no new export is started)",
			pending.ID, pending.Started.Local().Format("2006-01-02 15:04:05")))
		o.log("export resumed", "export_id", pending.ID, "started", pending.Started)
		// An old export may be ready already: poll at once.
		err := collect(ctx, c, pending.ID, &o, out, res, 0, deadline)
		switch getcourse.KindOf(err) {
		case getcourse.KindExportFailed, getcourse.KindExportGone:
			// The service no longer has it (or it failed): collect forgot it; start afresh,
			// which is what the command asks for.
			o.notify(fmt.Sprintf("export %d from the earlier run is not available any more (%v); starting a new one", pending.ID, unwrapAPI(err)))
			res.Resumed, restarted = false, true
		default:
			if err != nil {
				return res, err
			}
			res.Took = o.Now().Sub(began)
			return res, nil
		}
	}
	for {
		id, err := start(ctx, c, req, &o, deadline)
		if err != nil {
			return res, err
		}
		rec := checkpoint.Export{ID: id, Account: account, Object: string(req.Object), GroupID: req.GroupID,
			Filters: filters, Command: o.Command, Status: checkpoint.ExportPending, Started: o.Now()}
		if err := o.Store.PutExport(rec); err != nil {
			return res, fmt.Errorf("export %d was started but could not be recorded (%w); collect it with: gcbatch export fetch %d -o FILE", id, err, id)
		}
		res.ExportID = id
		if o.Progress != nil {
			o.Progress.ExportID.Store(id)
		}
		// A fresh export is never ready at once.
		err = collect(ctx, c, id, &o, out, res, o.PollInitial, deadline)
		if getcourse.KindOf(err) == getcourse.KindExportGone && !restarted {
			o.notify(fmt.Sprintf("GetCourse no longer has export %d (%v); starting it afresh, once", id, unwrapAPI(err)))
			restarted = true
			continue
		}
		if err != nil {
			return res, err
		}
		res.Took = o.Now().Sub(began)
		return res, nil
	}
}

// unwrapAPI returns the service's own error inside one of ours, for a short note.
func unwrapAPI(err error) error {
	var ae *getcourse.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return err
}

// Fetch collects export id, known to the state or not, without starting anything.
func Fetch(ctx context.Context, c Client, id int64, o Options) (*Result, error) {
	o.defaults()
	o.fetching = true
	if o.Store == nil {
		return nil, errors.New("exporter: no state store")
	}
	if id <= 0 {
		return nil, fmt.Errorf("export id must be a positive number, not %d", id)
	}
	out, err := createOutput(o)
	if err != nil {
		return nil, err
	}
	defer out.discard()
	began := o.Now()
	account := c.Account()
	res := &Result{ExportID: id}
	if _, err := o.Store.GetExport(account, id); errors.Is(err, checkpoint.ErrNotFound) {
		// Record it so that the summary and a later `runs`-style look at the state know it.
		rec := checkpoint.Export{ID: id, Account: account, Object: "fetch", Command: o.Command,
			Status: checkpoint.ExportPending, Started: began}
		if err := o.Store.PutExport(rec); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if o.Progress != nil {
		o.Progress.ExportID.Store(id)
	}
	if err := collect(ctx, c, id, &o, out, res, 0, began.Add(o.Wait)); err != nil {
		return res, err
	}
	res.Took = o.Now().Sub(began)
	return res, nil
}

func (o *Options) notify(msg string) {
	if o.Notify != nil {
		o.Notify(msg)
	}
	o.log(msg)
}

// log writes one event to o.Log, if any.
func (o *Options) log(msg string, args ...any) {
	if o.Log != nil {
		o.Log.Info(msg, args...)
	}
}

// errWaitOver is the cause of a call cut by the --wait deadline.
var errWaitOver = errors.New("--wait ran out")

// bounded derives a context that ends at deadline (by o.Now), or CallGrace from now if that is
// later. A call made with it cannot outlast --wait by more than CallGrace, whatever the
// client's own timeouts and retries. Once the call has returned, over disarms the bound and
// reports whether it had already ended the context (then anything read from it is cut too); a
// streamed export read after over is not bounded. Release must be called when the call and
// anything read from it are done.
func (o *Options) bounded(ctx context.Context, deadline time.Time) (bctx context.Context, release func(), over func() bool) {
	bctx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(max(deadline.Sub(o.Now()), o.CallGrace), func() { cancel(errWaitOver) })
	return bctx, func() {
			t.Stop()
			cancel(nil)
		}, func() bool {
			if t.Stop() {
				return false
			}
			<-bctx.Done() // fired: its cancel is running or has run
			return errors.Is(context.Cause(bctx), errWaitOver)
		}
}

// start asks for a new export, waiting through 905 answers until deadline. Each start is
// bounded by the deadline; one whose request was written but not answered is not repeated
// (StartInDoubtError).
func start(ctx context.Context, c Client, req getcourse.ExportRequest, o *Options, deadline time.Time) (int64, error) {
	o.Progress.phase("starting")
	interval := o.BusyInitial
	for {
		o.log("export start", "object", string(req.Object), "group_id", req.GroupID, "filters", CanonicalFilters(req.Filters))
		bctx, release, over := o.bounded(ctx, deadline)
		id, err := c.StartExport(bctx, req)
		cut := over()
		release()
		if err == nil {
			o.log("export started", "export_id", id)
			return id, nil
		}
		o.log("export start failed", "error", err.Error())
		var ae *getcourse.APIError
		if errors.As(err, &ae) && ae.InDoubt {
			e := &StartInDoubtError{Err: err}
			if cut {
				e.Wait = o.Wait
			}
			return 0, e
		}
		if cut {
			return 0, &WaitExpiredError{Wait: o.Wait, Busy: true}
		}
		if err := o.budgetAnswer(err); err != nil {
			return 0, err
		}
		if getcourse.KindOf(err) != getcourse.KindBusy {
			return 0, explain(err, req)
		}
		wait := interval
		if left := deadline.Sub(o.Now()); left < wait {
			wait = left
		}
		if wait <= 0 {
			return 0, &WaitExpiredError{Wait: o.Wait, Busy: true}
		}
		msg := fmt.Sprintf("another export is running on the account (905); nothing was started; trying again in %s", wait.Round(time.Second))
		if others := o.otherPending(c.Account()); others != "" {
			msg += "; " + others
		}
		o.notify(msg)
		o.Progress.phase("waiting for another export")
		if err := sleep(ctx, wait); err != nil {
			return 0, err
		}
		interval = grow(interval, o.PollMax)
	}
}

// otherPending names the uncollected exports of the account: one of ours never collected may be
// what blocks the service.
func (o *Options) otherPending(account string) string {
	all, err := o.Store.ListExports(account)
	if err != nil {
		return ""
	}
	var ids []string
	for _, e := range all {
		if e.Status == checkpoint.ExportPending {
			ids = append(ids, strconv.FormatInt(e.ID, 10))
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return "uncollected exports in the state file: " + strings.Join(ids, ", ") + " (gcbatch export fetch ID -o FILE collects one)"
}

// budgetAnswer records a 903 from the service in the budget and returns err if it is a budget
// refusal of either kind (nil otherwise).
func (o *Options) budgetAnswer(err error) error {
	if getcourse.KindOf(err) != getcourse.KindBudget {
		return nil
	}
	var ae *getcourse.APIError
	if errors.As(err, &ae) && ae.Code == 903 && o.Budget != nil {
		if merr := o.Budget.MarkSpent(); merr != nil {
			return errors.Join(err, merr)
		}
		_, until := o.Budget.Remaining()
		return fmt.Errorf("%w: the account's export budget is spent (every integration of the account shares it); gcbatch will not call again before %s: rerun then, or pass --wait-for-budget", err, until.Local().Format("2006-01-02 15:04:05"))
	}
	return err
}

// explain adds what the user can do to the service's filter errors.
func explain(err error, req getcourse.ExportRequest) error {
	var ae *getcourse.APIError
	if !errors.As(err, &ae) || ae.Kind != getcourse.KindBadFilter {
		return err
	}
	var status string
	for _, f := range req.Filters {
		if f.Name == "status" {
			status = f.Value
		}
	}
	switch {
	case ae.Code == 908:
		return fmt.Errorf("%w: give at least one filter, e.g. --created-from 2024-01-01", err)
	case status != "":
		return fmt.Errorf("%w: the service refused the status filter %q; use one of the values it lists", err, status)
	}
	return err
}

// collect polls export id until it is ready and streams it into out.
func collect(ctx context.Context, c Client, id int64, o *Options, out *output, res *Result, first time.Duration, deadline time.Time) error {
	interval := first
	next := o.PollInitial
	for {
		if interval > 0 {
			wait := interval
			if left := deadline.Sub(o.Now()); left < wait {
				wait = left
			}
			if wait <= 0 {
				return &WaitExpiredError{ExportID: id, Wait: o.Wait}
			}
			o.Progress.phase("waiting")
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
		asked := o.Now()
		bctx, release, over := o.bounded(ctx, deadline)
		body, err := c.OpenExport(bctx, id)
		cut := over() // the download that may follow is not bounded by --wait
		res.Polls++
		if o.Progress != nil {
			o.Progress.Polls.Add(1)
		}
		if err == nil && cut {
			body.Close()
			release()
			return &WaitExpiredError{ExportID: id, Wait: o.Wait}
		}
		if err == nil {
			o.log("export ready", "export_id", id, "polls", res.Polls)
			err := download(ctx, c.Account(), id, body, o, out, res)
			release()
			res.Download = o.Now().Sub(asked)
			if err == nil {
				o.log("export collected", "export_id", id, "rows", res.Rows, "columns", res.Columns, "output", res.Output)
			} else {
				o.log("export download failed", "export_id", id, "rows", res.Rows, "error", err.Error())
			}
			return err
		}
		release()
		o.log("export poll", "export_id", id, "poll", res.Polls, "answer", getcourse.KindOf(err).String(), "error", err.Error())
		if cut {
			return &WaitExpiredError{ExportID: id, Wait: o.Wait}
		}
		if err := o.budgetAnswer(err); err != nil {
			return err
		}
		switch getcourse.KindOf(err) {
		case getcourse.KindNotReady:
			interval, next = next, grow(next, o.PollMax)
			if !deadline.After(o.Now()) {
				return &WaitExpiredError{ExportID: id, Wait: o.Wait}
			}
			continue
		case getcourse.KindExportFailed:
			if merr := o.Store.MarkExportFailed(c.Account(), id, err.Error()); merr != nil {
				return errors.Join(err, merr)
			}
			return &failedError{err: err, id: id, fetch: o.fetching}
		case getcourse.KindExportGone:
			// Polling again cannot bring it back: forget it, so that no later run tries.
			if merr := o.Store.MarkExportFailed(c.Account(), id, "gone from the service: "+err.Error()); merr != nil {
				return errors.Join(err, merr)
			}
			return &GoneError{ExportID: id, Err: err, fetch: o.fetching}
		}
		return err
	}
}

// download streams a ready body into the output and records the export as collected.
func download(ctx context.Context, account string, id int64, body io.ReadCloser, o *Options, out *output, res *Result) error {
	defer body.Close()
	o.Progress.phase("downloading")
	if err := out.open(o.Now()); err != nil {
		return err
	}
	rows, cols, ragged, err := stream(ctx, body, out, o)
	res.Rows, res.Columns, res.Ragged = rows, cols, ragged
	if err != nil {
		var ce *ColumnError
		var oe *OutputError
		if errors.As(err, &ce) {
			// Found only now that the export is built: keep it, so that the corrected command
			// collects it without a new start.
			return fmt.Errorf("%w\nexport %d is built and stays recorded: the same command with --columns corrected collects it without starting a new export (no budget spent on a start)", err, id)
		}
		if errors.As(err, &oe) || ctx.Err() != nil {
			return err
		}
		return &StreamError{ExportID: id, Rows: rows, Err: err}
	}
	if err := out.commit(); err != nil {
		return err
	}
	res.Output = out.name()
	return o.Store.MarkExportCollected(account, id, res.Output, rows, o.Now())
}

// stream decodes body into out. Items that arrive before fields are spooled to a temporary
// file, so that the header still comes first and memory stays flat.
func stream(ctx context.Context, body io.Reader, out *output, o *Options) (rows int64, cols int, ragged int64, err error) {
	dec := NewDecoder(body)
	var rw rowWriter
	var lay *layout
	var spool *spoolFile
	defer func() {
		if spool != nil {
			spool.close()
		}
	}()
	width := 0
	emit := func(cells [][]byte) error {
		if len(cells) > width && lay.pick == nil {
			ragged++
		}
		if err := rw.row(cells); err != nil {
			return &OutputError{Err: err}
		}
		rows++
		if o.Progress != nil && rows&1023 == 0 {
			o.Progress.Rows.Store(rows)
		}
		return nil
	}
	begin := func(fields []string) error {
		var err error
		if lay, err = newLayout(fields, o.Columns); err != nil {
			return err
		}
		width = len(fields)
		cols = len(lay.header)
		rw = newRowWriter(out.w, o, lay.pick)
		if o.BOM && o.Format == FormatCSV {
			out.w.WriteString("\ufeff")
		}
		if err := rw.header(lay.header); err != nil {
			return &OutputError{Err: err}
		}
		if spool != nil {
			if err := spool.replay(emit); err != nil {
				return err
			}
			spool.close()
			spool = nil
		}
		return nil
	}
	for {
		if rows&4095 == 0 && ctx.Err() != nil {
			return rows, cols, ragged, ctx.Err()
		}
		part, err := dec.Next()
		switch {
		case err == io.EOF:
			if rw == nil {
				if !dec.SawFields() && dec.Items() > 0 {
					return rows, cols, ragged, errors.New("the answer holds items but no fields (column titles)")
				}
				if err := begin(nil); err != nil {
					return rows, cols, ragged, err
				}
			}
			if err := finishRows(rw); err != nil {
				return rows, cols, ragged, &OutputError{Err: err}
			}
			if o.Progress != nil {
				o.Progress.Rows.Store(rows)
			}
			return rows, cols, ragged, nil
		case err != nil:
			return rows, cols, ragged, err
		case part == PartFields:
			if rw != nil {
				return rows, cols, ragged, errors.New("the answer holds two fields lists")
			}
			if err := begin(dec.Fields()); err != nil {
				return rows, cols, ragged, err
			}
		case part == PartItem:
			if rw == nil {
				if spool == nil {
					if spool, err = newSpool(out.dir()); err != nil {
						return rows, cols, ragged, &OutputError{Err: err}
					}
				}
				if err := spool.write(dec.Cells()); err != nil {
					return rows, cols, ragged, &OutputError{Err: err}
				}
				continue
			}
			if err := emit(dec.Cells()); err != nil {
				return rows, cols, ragged, err
			}
		}
	}
}

// grow lengthens a poll interval by half, up to max.
func grow(d, max time.Duration) time.Duration {
	d += d / 2
	if d > max {
		d = max
	}
	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// output is the destination: a temporary file beside the target, renamed when complete, or
// standard output. The temporary file is created when the download starts (open), so that a
// ".part" file exists only while rows are being written; one left behind by a killed process
// is removed by the next export to the same target (removeStaleParts).
type output struct {
	target string
	f      *os.File
	w      *bufio.Writer
	stdout bool
	done   bool
}

// staleParts is how long a temporary ".part" file of the target may go unmodified before the
// next export to the same target takes it for the remains of a killed run and removes it,
// whoever wrote it. A part whose name carries the id of a process that no longer runs on this
// machine is removed at once (partPattern).
const staleParts = time.Hour

// partPattern is the name of a temporary file of base: hidden, the writer's process id, a
// random part (os.CreateTemp's *), ".part".
func partPattern(base string) string {
	return "." + base + "." + strconv.Itoa(os.Getpid()) + "-*.part"
}

func createOutput(o Options) (*output, error) {
	if o.Output == "" {
		return nil, &OutputError{Err: errors.New("no output file (-o FILE, or -o - for standard output)")}
	}
	if o.Output == "-" {
		return &output{target: "-", stdout: true, w: bufio.NewWriterSize(o.Stdout, 256<<10)}, nil
	}
	if err := checkTarget(o.Output); err != nil {
		return nil, &OutputError{Err: err}
	}
	dir, base := splitTarget(o.Output)
	removeStaleParts(dir, base, o.Now())
	// A file is made and removed now, before any call, so that a folder that is missing or not
	// writable costs no budget. CreateTemp makes it 0600.
	f, err := os.CreateTemp(dir, partPattern(base))
	if err != nil {
		return nil, &OutputError{Err: err}
	}
	f.Close()
	os.Remove(f.Name())
	return &output{target: o.Output}, nil
}

func splitTarget(target string) (dir, base string) {
	dir, base = filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// checkTarget refuses a target that is not a regular file: the finished export is renamed over
// it, which would replace a device (-o /dev/null as root would replace the system's /dev/null
// with customer data), a FIFO or a socket, and would replace a symbolic link itself rather
// than the file it points to. A missing target is fine.
func checkTarget(target string) error {
	st, err := os.Lstat(target)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case st.IsDir():
		return fmt.Errorf("%s is a folder; give a file name", target)
	case st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: gcbatch writes the export to a temporary file and renames it over the target, which would replace the link itself, so it refuses; give the real file's path, or use -o - and redirect", target)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s): gcbatch writes the export to a temporary file and renames it over the target, which would replace the device or pipe itself, so it refuses; to write into it, use -o - and redirect standard output", target, fileKind(st.Mode()))
	}
	return nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// removeStaleParts removes the temporary files of target left by downloads that were killed:
// those whose writer's process no longer runs, and any untouched for staleParts. Errors are
// ignored (a file that cannot be removed is only clutter).
func removeStaleParts(dir, base string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + "."
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".part") || !e.Type().IsRegular() {
			continue
		}
		stale := false
		if pid, ok := partWriter(strings.TrimPrefix(name, prefix)); ok && pid != os.Getpid() && !processAlive(pid) {
			stale = true
		} else if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleParts {
			stale = true
		}
		if stale {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// partWriter reads the process id out of the end of a temporary file's name, "PID-RANDOM.part".
func partWriter(rest string) (int, bool) {
	pid, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(pid)
	return n, err == nil && n > 0
}

// open creates the temporary file beside the target; standard output needs nothing.
func (out *output) open(now time.Time) error {
	if out.stdout || out.f != nil {
		return nil
	}
	dir, base := splitTarget(out.target)
	removeStaleParts(dir, base, now)
	f, err := os.CreateTemp(dir, partPattern(base))
	if err != nil {
		return &OutputError{Err: err}
	}
	out.f, out.w = f, bufio.NewWriterSize(f, 256<<10)
	return nil
}

func (out *output) dir() string {
	if out.stdout {
		return ""
	}
	return filepath.Dir(out.target)
}

func (out *output) name() string {
	if out.stdout {
		return "standard output"
	}
	return out.target
}

// commit flushes and, for a file, syncs and renames it over the target.
func (out *output) commit() error {
	if err := out.w.Flush(); err != nil {
		return &OutputError{Err: err}
	}
	out.done = true
	if out.stdout {
		return nil
	}
	if err := out.f.Sync(); err != nil {
		return &OutputError{Err: err}
	}
	if err := out.f.Close(); err != nil {
		return &OutputError{Err: err}
	}
	// Checked again: the target may have become a link or a device while the export was built.
	if err := checkTarget(out.target); err != nil {
		os.Remove(out.f.Name())
		return &OutputError{Err: err}
	}
	if err := os.Rename(out.f.Name(), out.target); err != nil {
		os.Remove(out.f.Name())
		return &OutputError{Err: err}
	}
	return nil
}

// discard removes the temporary file unless commit succeeded.
func (out *output) discard() {
	if out.done || out.stdout || out.f == nil {
		return
	}
	out.f.Close()
	os.Remove(out.f.Name())
}
