package importer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/exporter"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/mappings"
)

// Settling rows in doubt (package doc, "Non-idempotent rows"): a deal without deal_number whose
// request may or may not have reached GetCourse is looked up in the account's own deals export
// before anything else is sent, and matched by the buyer (e-mail or phone), the product title
// and the cost. See Settle.

// DefaultSettleWait bounds how long a settlement waits for its deals export; the export stays
// recorded, so the next run collects it instead of starting another.
const DefaultSettleWait = 10 * time.Minute

// settleSlack widens the window a settlement looks at: the export shows times in the account's
// time zone, which gcbatch does not know (Moscow by default, but an account may be anywhere
// from UTC-11), so a deal made at the run's start may read up to 14 hours earlier. A wider
// window can only add candidates, which leaves rows in doubt rather than sending them twice.
const settleSlack = 14 * time.Hour

// SettleOptions configure the settlement of rows in doubt. With a nil Client nothing is looked
// up; rows in doubt are only counted (for --resend-in-doubt's message).
type SettleOptions struct {
	// Client makes the export calls; it must carry the state file's export budget
	// (getcourse.WithExportBudget(Budget)).
	Client exporter.Client
	// Budget is that budget: read to skip the settlement when it cannot afford an export.
	Budget *checkpoint.Budget
	// Notify receives the lines a person should read: what is looked up, what it costs, what
	// was found. Nil discards them.
	Notify func(string)
	// Wait bounds the wait for the export (default DefaultSettleWait); PollInitial and PollMax
	// are the exporter's poll intervals (zero: its defaults).
	Wait, PollInitial, PollMax time.Duration
	// Command is recorded with the export in the state file.
	Command string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SettleRequest says which rows a settlement looks at: the rows of InputPath (mapped with
// Mapping) whose ledger records for Account and Target are in doubt, only those of run RunID
// when it is set.
type SettleRequest struct {
	Store           *checkpoint.Store
	Account, Target string
	InputPath       string
	Mapping         *mappings.Mapping
	RunID           string
	SettleOptions
}

// SettleReport is what a settlement found.
type SettleReport struct {
	// InDoubt is how many rows of the file were in doubt before the settlement.
	InDoubt int
	// Confirmed rows were found in the export (their deal ids are in the ledger now); Missing
	// rows were not, and are sent (by this import, or the next run of it); Ambiguous rows
	// matched more deals than could be theirs and stay in doubt.
	Confirmed, Missing, Ambiguous int
	// Unchecked rows stay in doubt because they could not be looked up; Why says why
	// (messages, a spent export budget, a failed export).
	Unchecked int
	Why       string
	// FreesAt is when the export budget frees up, when that is why nothing was looked up.
	FreesAt time.Time
	// Messages is set for a messages import: GetCourse keeps no list of sent messages.
	Messages bool
	// ExportID and Calls are the export used and the export-API calls it cost.
	ExportID int64
	Calls    int
	// Rows are the rows looked at, in file order.
	Rows []SettledRow
}

// StillInDoubt is how many rows remain in doubt after the settlement.
func (r *SettleReport) StillInDoubt() int {
	if r == nil {
		return 0
	}
	return r.Ambiguous + r.Unchecked
}

// SettledRow is one row a settlement looked at.
type SettledRow struct {
	Line    int    // the row's line in the file
	Outcome string // confirmed, missing, ambiguous or unchecked
	DealID  int64  // the deal found (confirmed)
	// Candidates are the deals that could be the row (ambiguous).
	Candidates []int64
	// Rows is how many rows in doubt share the row's buyer, title and cost.
	Rows int
	// RunID is the run that left the row in doubt.
	RunID string
}

// Outcomes of SettledRow.
const (
	SettleConfirmed = "confirmed"
	SettleMissing   = "missing"
	SettleAmbiguous = "ambiguous"
	SettleUnchecked = "unchecked"
)

// doubtRow is a row of the file whose ledger record is in doubt.
type doubtRow struct {
	line   int
	key    checkpoint.RowKey
	rec    checkpoint.RowRecord
	params []byte
	sig    dealSig
	group  *dealGroup
}

// Settle looks the file's rows in doubt up in the account's deals export and records what it
// finds (SettleReport). A row matched by exactly one deal of its own is confirmed with that
// deal's id; a row no deal matches is marked failed, so that it is sent; a row with more
// candidate deals than rows like it stays in doubt, with the candidates in its record. Rows
// of identical content are counted, not merged: n such rows and m ≤ n candidate deals confirm
// m rows and send n-m (at most m of them can have arrived). Deals already confirmed for rows
// like them are not candidates. Messages cannot be looked up and stay in doubt.
//
// An error means the state file or the input could not be read or written (or ctx ended);
// an export that cannot be made (budget, service) is not an error: the rows stay in doubt
// and Why says why.
func Settle(ctx context.Context, req SettleRequest) (*SettleReport, error) {
	o := &req.SettleOptions
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wait <= 0 {
		o.Wait = DefaultSettleWait
	}
	say := func(format string, a ...any) {
		if o.Notify != nil {
			o.Notify(fmt.Sprintf(format, a...))
		}
	}
	rep := &SettleReport{Messages: req.Mapping.Target == mappings.TargetMessages}
	all, err := req.Store.RowsInDoubt(req.Account, req.Target)
	if err != nil {
		return nil, err
	}
	if req.RunID != "" {
		all = slices.DeleteFunc(all, func(d checkpoint.DoubtfulRow) bool { return d.Record.RunID != req.RunID })
	}
	if len(all) == 0 {
		return rep, nil
	}
	rows, err := findDoubtRows(ctx, req, all)
	if err != nil {
		return nil, err
	}
	rep.InDoubt = len(rows)
	if len(rows) == 0 {
		return rep, nil
	}
	unchecked := func(why string) (*SettleReport, error) {
		rep.Why, rep.Unchecked = why, len(rows)
		for _, r := range rows {
			rep.Rows = append(rep.Rows, SettledRow{Line: r.line, Outcome: SettleUnchecked, RunID: r.rec.RunID})
		}
		return rep, nil
	}
	if rep.Messages {
		return unchecked("GetCourse keeps no list of the messages it sent that gcbatch could read, so messages in doubt cannot be looked up")
	}
	if o.Client == nil {
		return unchecked("not looked up")
	}
	if req.RunID == "" {
		// Rows an earlier lookup found ambiguous stay so without another export: the deals
		// that made them so are still there unless someone removed them, and `runs settle`
		// is the way to look again after that. A rerun must not spend budget on them nightly.
		keys := make([]checkpoint.RowKey, len(rows))
		for i, r := range rows {
			keys[i] = r.key
		}
		checked, err := req.Store.SettleChecked(keys)
		if err != nil {
			return nil, err
		}
		var fresh []*doubtRow
		again := map[string]bool{}
		for i, r := range rows {
			if checked[i].IsZero() || checked[i].Before(r.rec.At) {
				fresh = append(fresh, r)
				continue
			}
			rep.Ambiguous++
			rep.Rows = append(rep.Rows, SettledRow{Line: r.line, Outcome: SettleAmbiguous, RunID: r.rec.RunID})
			again[r.rec.RunID] = true
		}
		for id := range again {
			say("rows of run %s that an earlier lookup found ambiguous stay in doubt (results.csv lists their candidate deals); 'gcbatch runs settle %s' looks again", id, id)
		}
		if rows = fresh; len(rows) == 0 {
			return rep, nil
		}
	}

	runs := map[string]time.Time{}
	if list, err := req.Store.ListRuns(); err == nil {
		for _, r := range list {
			runs[r.ID] = r.Started
		}
	}
	now := o.Now()
	since := now
	firstRun := ""
	for _, r := range rows {
		t, ok := runs[r.rec.RunID]
		if !ok || t.IsZero() {
			t = r.rec.At
		}
		if !t.IsZero() && t.Before(since) {
			since, firstRun = t, r.rec.RunID
		}
	}
	from := since.Add(-settleSlack).In(moscow)
	to := now.Add(settleSlack).In(moscow)
	fromDay, toDay := from.Format(time.DateOnly), to.Format(time.DateOnly)
	for _, r := range rows {
		// A row that sets its deal's date: that date too, a day either side for the zone.
		if own, err := time.ParseInLocation(time.DateTime, r.sig.created, moscow); err == nil {
			fromDay = min(fromDay, own.AddDate(0, 0, -1).Format(time.DateOnly))
			toDay = max(toDay, own.AddDate(0, 0, 1).Format(time.DateOnly))
		}
	}

	if o.Budget != nil {
		left, freesAt := o.Budget.Remaining()
		cfg := o.Budget.Config()
		if left <= cfg.Reserve+1 {
			rep.FreesAt = freesAt
			why := fmt.Sprintf("the export budget of %s has %d of %d calls left and keeps the last %d for collecting exports; looking the deals up needs a few (a start and its polls)",
				req.Account, left, cfg.Limit, cfg.Reserve)
			if !freesAt.IsZero() {
				why += fmt.Sprintf("; calls free up from %s", freesAt.Local().Format("15:04:05"))
			}
			return unchecked(why)
		}
		say("%s in doubt since run %s: looking them up in one deals export (created %s to %s); export budget: %d of %d calls left",
			nWord(len(rows), "deal", "deals"), firstRun, fromDay, toDay, left, cfg.Limit)
	} else {
		say("%s in doubt since run %s: looking them up in one deals export (created %s to %s)",
			nWord(len(rows), "deal", "deals"), firstRun, fromDay, toDay)
	}

	// A request cut by the crash may still be landing at the service; look no sooner than
	// the export's first poll interval after the newest one left.
	grace := o.PollInitial
	if grace <= 0 {
		grace = exporter.DefaultPollInitial
	}
	var latest time.Time
	for _, r := range rows {
		if r.rec.At.After(latest) {
			latest = r.rec.At
		}
	}
	if wait := latest.Add(grace).Sub(o.Now()); wait > 0 {
		if wait > grace {
			wait = grace // a clock that moved back must not hold the import up
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	usedBefore := 0
	if o.Budget != nil {
		usedBefore = o.Budget.Used()
	}
	cands, exportID, err := exportDeals(ctx, req, fromDay, toDay, rows)
	if o.Budget != nil {
		rep.Calls = o.Budget.Used() - usedBefore
	}
	rep.ExportID = exportID
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if spent, until := checkpoint.IsBudgetSpent(err); spent {
			rep.FreesAt = until
		}
		return unchecked(fmt.Sprintf("the deals export could not be made: %v", err))
	}

	known, err := confirmedLike(ctx, req, rows)
	if err != nil {
		return nil, err
	}
	updates := matchDoubtRows(rows, cands, known, since.Add(-settleSlack), rep, now)
	if err := req.Store.SettleRows(updates, now); err != nil {
		return nil, err
	}
	say("looked up %s in export %d (%s): %d found in GetCourse and confirmed, %d not there (the import sends them), %d still in doubt",
		nWord(len(rows), "deal", "deals"), exportID, nWord(rep.Calls, "export call", "export calls"), rep.Confirmed, rep.Missing, rep.Ambiguous)
	for _, r := range rep.Rows {
		if r.Outcome == SettleAmbiguous && len(r.Candidates) > 0 {
			say("line %d: %s could be it (%s) for %s like it; left in doubt",
				r.Line, nWord(len(r.Candidates), "deal", "deals"), joinIDs(r.Candidates), nWord(r.Rows, "row", "rows"))
		}
	}
	return rep, nil
}

var moscow = time.FixedZone("MSK", 3*3600)

// findDoubtRows reads the file for its rows in doubt: their content's hash and occurrence
// name the ledger records. Memory holds only those rows (and a count per hash in doubt).
func findDoubtRows(ctx context.Context, req SettleRequest, all []checkpoint.DoubtfulRow) ([]*doubtRow, error) {
	type occKey struct {
		hash [32]byte
		occ  uint32
	}
	want := make(map[occKey]checkpoint.RowRecord, len(all))
	hashes := map[[32]byte]uint32{} // hash → rows seen so far (occurrence of the next)
	for _, d := range all {
		want[occKey{d.Key.Hash, d.Key.Occurrence}] = d.Record
		hashes[d.Key.Hash] = 0
	}
	var rows []*doubtRow
	err := eachMappedRow(ctx, req, func(line int, params []byte) error {
		h := sha256.Sum256(params)
		n, ok := hashes[h]
		if !ok {
			return nil
		}
		hashes[h] = n + 1
		rec, ok := want[occKey{h, n}]
		if !ok {
			return nil
		}
		r := &doubtRow{line: line, rec: rec, params: params,
			key: checkpoint.RowKey{Account: req.Account, Target: req.Target, Hash: h, Occurrence: n}}
		if req.Mapping.Target == mappings.TargetDeals {
			r.sig = signatureOf(params)
		}
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

// eachMappedRow maps every row of the input as the import does and calls fn with the rows
// that map.
func eachMappedRow(ctx context.Context, req SettleRequest, fn func(line int, params []byte) error) error {
	m := req.Mapping
	src, err := OpenSource(req.InputPath, SourceOptions{Delimiter: m.CSV.Delimiter, Encoding: m.CSV.Encoding})
	if err != nil {
		return err
	}
	defer src.Close()
	compiled, err := m.Compile(src.Header())
	if err != nil {
		return err
	}
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", src.Name(), err)
		}
		if row.Err != nil {
			continue
		}
		mapped, err := compiled.Apply(row.Cells)
		if err != nil {
			continue
		}
		if err := fn(row.Line, mapped.JSON); err != nil {
			return err
		}
	}
}

// confirmedLike reads the file a second time and returns the deal ids the ledger has confirmed
// for rows that share a buyer, title and cost with a row in doubt (rows of identical content
// included): those deals are accounted for and are nobody else's candidates.
func confirmedLike(ctx context.Context, req SettleRequest, rows []*doubtRow) (map[int64]bool, error) {
	sigs := map[string]bool{}
	for _, r := range rows {
		sigs[r.sig.key()] = true
	}
	occ := map[[32]byte]uint32{}
	var keys []checkpoint.RowKey
	err := eachMappedRow(ctx, req, func(line int, params []byte) error {
		if !sigs[signatureOf(params).key()] {
			return nil
		}
		h := sha256.Sum256(params)
		n := occ[h]
		occ[h] = n + 1
		keys = append(keys, checkpoint.RowKey{Account: req.Account, Target: req.Target, Hash: h, Occurrence: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	known := map[int64]bool{}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), lookupBatch)]
		keys = keys[len(batch):]
		recs, err := req.Store.LookupRows(batch)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if rec.State == checkpoint.StateConfirmed && rec.DealID != 0 {
				known[rec.DealID] = true
			}
		}
	}
	return known, nil
}

// exportDeals makes one deals export of the days given into a temporary file beside the state
// file and reads from it the deals whose buyer is one of the rows' buyers.
func exportDeals(ctx context.Context, req SettleRequest, fromDay, toDay string, rows []*doubtRow) ([]candidate, int64, error) {
	o := &req.SettleOptions
	dir, err := os.MkdirTemp(filepath.Dir(req.Store.Path()), ".gcbatch-settle-*")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "deals.csv")
	// A pending export of the same days may be collected instead of starting one, but only if
	// it was started after every row's request: the service builds an export from the deals
	// it has when it starts, and an older one could miss a deal of a row and send it twice.
	var latest time.Time
	for _, r := range rows {
		if r.rec.At.After(latest) {
			latest = r.rec.At
		}
	}
	eo := exporter.Options{
		Output: out, Store: req.Store, Budget: o.Budget, Command: o.Command, Now: o.Now,
		Wait: o.Wait, PollInitial: o.PollInitial, PollMax: o.PollMax, BusyInitial: o.PollInitial,
		Notify: o.Notify, ReuseWithin: max(o.Now().Sub(latest), time.Nanosecond),
	}
	res, err := exporter.Run(ctx, o.Client, getcourse.ExportRequest{Object: getcourse.ExportDeals, Filters: []getcourse.Filter{
		{Name: "created_at", Sub: "from", Value: fromDay}, {Name: "created_at", Sub: "to", Value: toDay},
	}}, eo)
	var id int64
	if res != nil {
		id = res.ExportID
	}
	if err != nil {
		return nil, id, err
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, id, err
	}
	defer f.Close()
	cands, err := readCandidates(f, rows)
	return cands, id, err
}

// errNoColumns is a deals export without the columns a settlement needs.
var errNoColumns = errors.New("the deals export lacks columns the lookup needs")

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ", ")
}

// nWord writes n and the word in the right number ("1 deal", "3 deals").
func nWord(n int, one, many string) string {
	return strconv.Itoa(n) + " " + plural(n, one, many)
}

// settle is the import's hook: before anything is sent, rows that earlier runs left in doubt
// are looked up (Settle), so that the rows found are skipped and the rows missing are sent by
// this run. It costs nothing unless the mapping is not idempotent and an earlier run of the
// account and target did not end cleanly. With --resend-in-doubt it says how many rows it will
// send again.
func (p *pipeline) settle(ctx context.Context, input string) (*SettleReport, error) {
	so := p.o.Settle
	lookUp := so.Client != nil && p.o.Mapping.Target == mappings.TargetDeals
	if p.idempotent || !lookUp && !p.o.ResendInDoubt {
		return nil, nil
	}
	runs, err := p.store.ListRuns()
	if err != nil {
		return nil, err
	}
	earlier := false
	for _, r := range runs {
		if r.Account == p.account && r.Target == p.target && (r.Status != StatusDone || r.Counts.InDoubt > 0) {
			earlier = true
			break
		}
	}
	if !earlier {
		return nil, nil
	}
	if so.Now == nil {
		so.Now = p.now
	}
	if !lookUp {
		so.Client = nil
	}
	rep, err := Settle(ctx, SettleRequest{Store: p.store, Account: p.account, Target: p.target,
		InputPath: input, Mapping: p.o.Mapping, SettleOptions: so})
	if err != nil {
		return nil, err
	}
	for _, r := range rep.Rows {
		attrs := []any{"line", r.Line, "outcome", r.Outcome, "run", r.RunID}
		if r.DealID != 0 {
			attrs = append(attrs, "deal_id", r.DealID)
		}
		if len(r.Candidates) > 0 {
			attrs = append(attrs, "candidates", joinIDs(r.Candidates))
		}
		p.log.Info("settle", attrs...)
	}
	if n := rep.StillInDoubt(); n > 0 && so.Notify != nil {
		what := "those already in GetCourse will be duplicated (a second order for the same buyer)"
		if rep.Messages {
			what = "people who already got their message will get it twice"
		}
		if p.o.ResendInDoubt {
			so.Notify(fmt.Sprintf("--resend-in-doubt: sending %s again that may already have reached GetCourse; %s",
				nWord(n, "row", "rows"), what))
		} else if rep.Why != "" {
			so.Notify(fmt.Sprintf("%s stay in doubt: %s", nWord(n, "row", "rows"), rep.Why))
		}
	}
	return rep, nil
}
