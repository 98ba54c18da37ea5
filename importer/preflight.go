package importer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/mappings"
)

// Defaults of PreflightOptions.
const (
	// DefaultPreflightTTL is how long the account's field and group lists are reused from the
	// state file: long enough that a resume or a second file in the same session costs no
	// export calls, short enough that a field added in GetCourse a moment ago is soon seen.
	DefaultPreflightTTL = 10 * time.Minute
	// DefaultMaxGroupNames caps the distinct group names collected from a file. A real file
	// adds a handful; thousands mean the wrong column is mapped, and the first ones already
	// say so, while the set must stay small because it is held in memory and cached.
	DefaultMaxGroupNames = 10000
	// preflightScanKeep is how long the group names of an unchanged file stay cached: the
	// file's size and modification time are part of the key, so only pruning needs an age.
	preflightScanKeep = checkpoint.CacheKeep
	// maxNewGroupsListed is how many unknown groups get a suggestion and a line each.
	maxNewGroupsListed = 20
	// maxFieldsListed is how many of the account's field names an error lists when none is close.
	maxFieldsListed = 10
)

// PreflightOptions configure Preflight. Mapping, InputPath, Store and Client are required.
type PreflightOptions struct {
	// Mapping is the loaded mapping; InputPath the CSV file it will be applied to.
	Mapping   *mappings.Mapping
	InputPath string
	// Store is the open state file, which holds the cache (and the budget).
	Store *checkpoint.Store
	// Client is the account's client, built with the export budget wired in
	// (getcourse.WithExportBudget(Budget)), so both calls are counted like every account/* call.
	Client *getcourse.Client
	// Budget is the same budget, read to skip the check when it cannot afford the calls.
	// Nil means no such check (the client's own budget, if any, still refuses).
	Budget *checkpoint.Budget
	// AllowNewGroups says the caller will go on although the file adds groups the account does
	// not have (import --allow-new-groups); the cached group list is then dropped, because the
	// import is about to create them.
	AllowNewGroups bool
	// TTL is how long cached account answers are used; zero means DefaultPreflightTTL.
	TTL time.Duration
	// MaxGroupNames caps the distinct group names collected; zero means DefaultMaxGroupNames.
	MaxGroupNames int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// UnknownField is a custom field the mapping fills that the account does not have.
type UnknownField struct {
	Object     string // "user" or "deal"
	Name       string
	Suggestion string // the closest existing field of that object; "" when none is close
	// Existing are the object's field names, for a message when nothing is close.
	Existing []string
}

// Path is the field's target path in the mapping, e.g. user.addfields.Telegramm.
func (u UnknownField) Path() string { return u.Object + ".addfields." + u.Name }

// NewGroup is a group name the file adds that the account does not have (the service would
// create it).
type NewGroup struct {
	Name string
	// Rows is how many valid rows add it; 0 for a constant of the mapping when no row is valid.
	Rows int
	// Suggestion is the closest existing group; "" when none is close. Only the first
	// maxNewGroupsListed (20) groups, most rows first, get one.
	Suggestion string
}

// AccountInfo is what the preflight compares a mapping with. HaveFields and HaveGroups say
// which lists are known (fetched or cached); an unknown list is not checked.
type AccountInfo struct {
	Fields     []getcourse.Field
	HaveFields bool
	Groups     []string
	HaveGroups bool
}

// PreflightReport is what Preflight found.
type PreflightReport struct {
	// Skipped holds one note per part of the check that could not be done (the budget is too
	// low, the service refused the call); the rest of the check still ran.
	Skipped []string
	// SkipErr is the API error that made a part be skipped, if any (nil for a low budget).
	SkipErr error
	// Calls is the number of export-API calls made; 0 when everything came from the cache.
	Calls int
	// CachedAt is when the oldest cached answer used was fetched; zero when none was cached.
	CachedAt time.Time
	// FieldsChecked and GroupsChecked count the names compared with the account.
	FieldsChecked, GroupsChecked int
	// Rows is the number of valid rows whose groups were collected; ScanCached says the
	// collection came from the cache (the file and the mapping are unchanged since).
	Rows       int
	ScanCached bool
	// GroupsCapped says the file names more than MaxGroupNames distinct groups; only the
	// first MaxGroupNames were checked.
	GroupsCapped  bool
	MaxGroupNames int

	// UnknownFields are errors: the service would drop those values without a word.
	UnknownFields []UnknownField
	// NewGroups are warnings: the service would create those groups. Most rows first.
	NewGroups []NewGroup
}

// Failed reports whether the mapping names a custom field the account does not have.
func (r *PreflightReport) Failed() bool { return len(r.UnknownFields) > 0 }

// Checked reports whether anything was compared with the account.
func (r *PreflightReport) Checked() bool { return r.FieldsChecked+r.GroupsChecked > 0 }

// accountCacheVersion is part of every cache key, so that a change of the cached shape never
// reads an old entry. v2: a field's object is read from the real answer's context_type, which
// v1 entries lack (their fields were compared with users and deals alike).
const accountCacheVersion = "v2"

func fieldsCacheKey(account string) string {
	return "preflight/" + accountCacheVersion + "/fields/" + account
}
func groupsCacheKey(account string) string {
	return "preflight/" + accountCacheVersion + "/groups/" + account
}

// cachedField is the cached form of getcourse.Field (only what the check needs).
type cachedField struct {
	Name   string `json:"name"`
	Object string `json:"object,omitempty"`
}

// Preflight checks a mapping and its input file against the account before anything is sent:
// every custom field the mapping fills (user.addfields.*, deal.addfields.*) must exist for its
// object, and every group the file would add (the mapping's constants and each distinct value
// of the group column over the valid rows) is looked up among the account's groups.
//
// It costs at most two export-API calls (account/fields and account/groups), made only for
// what the mapping uses and reused from the state file for TTL. When the budget cannot afford
// them (fewer than the collect reserve plus the calls needed are left), or the service refuses
// a call, that part is skipped with a note in the report, not failed. The group names are
// collected by reading the file once (streaming, only the distinct names are kept), and that
// collection is cached too, keyed by the file's path, size and modification time and the
// mapping, so a rerun of the same import does not read the file twice.
//
// The error is for what stops the check itself: the context, the state file, an input file
// or mapping that cannot be read (the same problems the import would report).
func Preflight(ctx context.Context, o PreflightOptions) (*PreflightReport, error) {
	if o.Mapping == nil || o.Store == nil || o.Client == nil {
		return nil, errors.New("preflight: Mapping, Store and Client are required")
	}
	if o.TTL <= 0 {
		o.TTL = DefaultPreflightTTL
	}
	if o.MaxGroupNames <= 0 {
		o.MaxGroupNames = DefaultMaxGroupNames
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rep := &PreflightReport{MaxGroupNames: o.MaxGroupNames}
	user, deal := o.Mapping.AddfieldNames()
	needFields := len(user)+len(deal) > 0
	needGroups := slices.Contains(o.Mapping.Paths(), "user.group_name")

	acct, err := fetchAccount(ctx, o, rep, needFields, needGroups)
	if err != nil {
		return rep, err
	}
	var groups map[string]int
	if acct.HaveGroups {
		var scan groupScan
		scan, rep.ScanCached, err = collectGroups(ctx, o)
		if err != nil {
			return rep, err
		}
		groups, rep.Rows, rep.GroupsCapped = scan.Groups, scan.Rows, scan.Capped
	}
	if acct.HaveFields {
		rep.FieldsChecked = len(user) + len(deal)
	}
	rep.GroupsChecked = len(groups)
	rep.UnknownFields, rep.NewGroups = CompareAccount(acct, user, deal, groups)
	if o.AllowNewGroups && len(rep.NewGroups) > 0 {
		if err := o.Store.CacheDelete(groupsCacheKey(o.Client.Account())); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// fetchAccount gets the lists the check needs, from the cache or the service.
func fetchAccount(ctx context.Context, o PreflightOptions, rep *PreflightReport, needFields, needGroups bool) (AccountInfo, error) {
	now := o.Now()
	acct, err := cachedAccount(o, rep, needFields, needGroups, now)
	if err != nil {
		return acct, err
	}
	missing := 0
	if needFields && !acct.HaveFields {
		missing++
	}
	if needGroups && !acct.HaveGroups {
		missing++
	}
	if missing == 0 || !budgetAffords(o, rep, missing) {
		return acct, nil
	}
	if needFields && !acct.HaveFields {
		if err := fetchFields(ctx, o, rep, &acct, now); err != nil {
			return acct, err
		}
	}
	if needGroups && !acct.HaveGroups {
		if err := fetchGroups(ctx, o, rep, &acct, now); err != nil {
			return acct, err
		}
	}
	return acct, nil
}

// cachedAccount is what the state file still holds of the lists the check needs (younger
// than TTL); rep.CachedAt is the oldest entry used.
func cachedAccount(o PreflightOptions, rep *PreflightReport, needFields, needGroups bool, now time.Time) (AccountInfo, error) {
	var acct AccountInfo
	account := o.Client.Account()
	useCached := func(key string, into any) (bool, error) {
		v, at, ok, err := o.Store.CacheGet(key, o.TTL, now)
		if err != nil || !ok {
			return false, err
		}
		if json.Unmarshal(v, into) != nil {
			return false, nil // unreadable: fetch again
		}
		if rep.CachedAt.IsZero() || at.Before(rep.CachedAt) {
			rep.CachedAt = at
		}
		return true, nil
	}
	var cf []cachedField
	if needFields {
		ok, err := useCached(fieldsCacheKey(account), &cf)
		if err != nil {
			return acct, err
		}
		if ok {
			acct.Fields, acct.HaveFields = fromCachedFields(cf), true
		}
	}
	if needGroups {
		ok, err := useCached(groupsCacheKey(account), &acct.Groups)
		if err != nil {
			return acct, err
		}
		acct.HaveGroups = ok
	}
	return acct, nil
}

// budgetAffords says whether the export budget leaves the calls the check needs beside the
// collect reserve; when it does not, the check is skipped with a note in rep.
func budgetAffords(o PreflightOptions, rep *PreflightReport, calls int) bool {
	if o.Budget == nil {
		return true
	}
	left, freesAt := o.Budget.Remaining()
	reserve := o.Budget.Config().Reserve
	if left >= reserve+calls {
		return true
	}
	note := fmt.Sprintf("the export budget of %s has %d of %d calls left and keeps the last %d for collecting exports; the check needs %d",
		o.Client.Account(), left, o.Budget.Config().Limit, reserve, calls)
	if !freesAt.IsZero() {
		note += "; calls free up from " + freesAt.Local().Format("15:04:05")
	}
	rep.Skipped = append(rep.Skipped, note)
	return false
}

// fetchFields asks the service for the account's custom fields and caches them. A refused
// call skips that part of the check (skipFetch).
func fetchFields(ctx context.Context, o PreflightOptions, rep *PreflightReport, acct *AccountInfo, now time.Time) error {
	rep.Calls++
	fields, err := o.Client.AccountFields(ctx)
	if err != nil {
		return skipFetch(ctx, o, rep, "account's custom fields", err)
	}
	acct.Fields, acct.HaveFields = fields, true
	cf := make([]cachedField, len(fields))
	for i, f := range fields {
		cf[i] = cachedField{Name: f.Name, Object: f.Object}
	}
	return putJSON(o.Store, fieldsCacheKey(o.Client.Account()), cf, now)
}

// fetchGroups asks the service for the account's groups and caches their names. A refused
// call skips that part of the check (skipFetch).
func fetchGroups(ctx context.Context, o PreflightOptions, rep *PreflightReport, acct *AccountInfo, now time.Time) error {
	rep.Calls++
	list, err := o.Client.Groups(ctx)
	if err != nil {
		return skipFetch(ctx, o, rep, "account's groups", err)
	}
	acct.Groups, acct.HaveGroups = make([]string, len(list)), true
	for i, g := range list {
		acct.Groups[i] = g.Name
	}
	return putJSON(o.Store, groupsCacheKey(o.Client.Account()), acct.Groups, now)
}

// skipFetch notes in rep that what could not be fetched, so that part of the check is skipped
// rather than failed. Its error is for what stops the check: the context, or a state file
// that cannot record a spent budget.
func skipFetch(ctx context.Context, o PreflightOptions, rep *PreflightReport, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ae *getcourse.APIError
	if errors.As(err, &ae) && ae.Code == 903 && o.Budget != nil {
		// The service says the budget is spent (other integrations share it): remember it,
		// as every other account/* caller does.
		if merr := o.Budget.MarkSpent(); merr != nil {
			return merr
		}
	}
	rep.Skipped = append(rep.Skipped, fmt.Sprintf("the %s could not be fetched: %v", what, err))
	if rep.SkipErr == nil {
		rep.SkipErr = err
	}
	return nil
}

func fromCachedFields(cf []cachedField) []getcourse.Field {
	out := make([]getcourse.Field, len(cf))
	for i, f := range cf {
		out[i] = getcourse.Field{Name: f.Name, Object: f.Object}
	}
	return out
}

func putJSON(st *checkpoint.Store, key string, v any, now time.Time) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return st.CachePut(key, b, now)
}

// groupScan is the distinct group names a file adds, with the rows adding each.
type groupScan struct {
	Rows   int            `json:"rows"`
	Capped bool           `json:"capped,omitempty"`
	Groups map[string]int `json:"groups"`
}

// collectGroups reads the file once and counts the group names of its valid rows (constants
// included), or returns the cached count for the same unchanged file and mapping.
func collectGroups(ctx context.Context, o PreflightOptions) (groupScan, bool, error) {
	m := o.Mapping
	var scan groupScan
	key, err := scanCacheKey(o)
	if err != nil {
		return scan, false, fmt.Errorf("cannot read the input file: %w", err)
	}
	if v, _, ok, err := o.Store.CacheGet(key, preflightScanKeep, o.Now()); err != nil {
		return scan, false, err
	} else if ok && json.Unmarshal(v, &scan) == nil && scan.Groups != nil {
		return scan, true, nil
	}

	scan = groupScan{Groups: map[string]int{}}
	for _, g := range m.GroupConstants() {
		if g = strings.TrimSpace(g); g != "" {
			scan.Groups[g] += 0
		}
	}
	src, err := OpenInput(o.InputPath, InputOptionsFor(m))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return scan, false, fmt.Errorf("cannot read the input file: %w", err)
		}
		return scan, false, err
	}
	defer src.Close()
	c, err := m.Compile(src.Header())
	if err != nil {
		return scan, false, err
	}
	valid, err := scanGroupNames(ctx, src, c, func(names []string) {
		for _, g := range names {
			if _, ok := scan.Groups[g]; ok || len(scan.Groups) < o.MaxGroupNames {
				scan.Groups[g]++
			} else {
				scan.Capped = true
			}
		}
	})
	if err != nil {
		return scan, false, err
	}
	scan.Rows = valid
	if err := putJSON(o.Store, key, scan, o.Now()); err != nil {
		return scan, false, err
	}
	return scan, false, nil
}

// scanBatchRows is how many rows the group scan hands a worker at a time.
const scanBatchRows = 512

// scanBatch is a stretch of rows for the group scan, and then what a worker found in it: the
// group names of its valid rows, in row order.
type scanBatch struct {
	rows  [][]string
	names []string
	valid int
	done  chan struct{} // closed by the worker
}

// scanGroupNames reads src to the end and calls add with the group names of each stretch of
// valid rows, in file order (so that the cap on distinct names keeps the same names as a
// one-by-one scan), returning the number of valid rows. The scan is the user's wait before
// anything is sent and is mostly checking rows, so the rows are checked on every core while
// this goroutine reads; it owns the workers and returns only after they ended.
func scanGroupNames(ctx context.Context, src Input, c *mappings.Compiled, add func(names []string)) (valid int, err error) {
	workers := min(runtime.GOMAXPROCS(0), 4)
	todo := make(chan *scanBatch, workers)
	inOrder := make(chan *scanBatch, 2*workers) // bounds the batches read ahead of add
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range todo {
				b.check(c)
			}
		})
	}
	// The reader: batches go to the merge below and to the workers, in the same order. The
	// merge drains inOrder to its end whatever happens, so the reader never blocks for good.
	readErr := make(chan error, 1)
	go func() {
		defer close(inOrder)
		defer close(todo)
		readErr <- readScanBatches(ctx, src, todo, inOrder)
	}()
	for b := range inOrder {
		<-b.done
		valid += b.valid
		add(b.names)
	}
	wg.Wait()
	return valid, <-readErr
}

// check is a worker's part of the group scan: it keeps the group names of the batch's valid
// rows and counts them, then tells the merge the batch is done.
func (b *scanBatch) check(c *mappings.Compiled) {
	for _, cells := range b.rows {
		var gerr error
		before := len(b.names)
		if b.names, gerr = c.Groups(cells, b.names); gerr != nil {
			b.names = b.names[:before]
			continue // rejected rows are never sent, so their groups are never created
		}
		b.valid++
	}
	b.rows = nil
	close(b.done)
}

// readScanBatches is the group scan's reader: it reads src to the end (or until ctx ends) in
// batches of scanBatchRows rows that read without a problem, and hands each batch to the merge
// (inOrder) and to the workers (todo), in the same order.
func readScanBatches(ctx context.Context, src Input, todo, inOrder chan<- *scanBatch) error {
	b := &scanBatch{done: make(chan struct{})}
	flush := func() {
		inOrder <- b
		todo <- b // the workers take batches until todo is closed
		b = &scanBatch{done: make(chan struct{})}
	}
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		row, err := src.Next()
		if errors.Is(err, io.EOF) {
			if len(b.rows) > 0 {
				flush()
			}
			return nil
		}
		if err != nil {
			return err
		}
		if row.Err != nil {
			continue
		}
		b.rows = append(b.rows, row.Cells)
		if len(b.rows) == scanBatchRows {
			flush()
		}
	}
}

// scanCacheKey names a file's group collection: the file (absolute path, size, modification
// time), how it is read (the csv: options) and what is applied (the mapping's hash), and the
// cap. Any change to these makes a new key; a file rewritten with the same size within the
// same modification time would not, which at worst hides a warning, never sends anything.
func scanCacheKey(o PreflightOptions) (string, error) {
	abs, err := filepath.Abs(o.InputPath)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	parts := []string{abs, strconv.FormatInt(fi.Size(), 10), strconv.FormatInt(fi.ModTime().UnixNano(), 10),
		o.Mapping.Hash(), o.Mapping.CSV.Delimiter, o.Mapping.CSV.Encoding, strconv.Itoa(o.MaxGroupNames)}
	if o.Mapping.XLSX.Sheet != "" {
		parts = append(parts, "sheet:"+o.Mapping.XLSX.Sheet) // another sheet holds other groups
	}
	for _, part := range parts {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "preflight/" + accountCacheVersion + "/scan/" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// CompareAccount is the comparison itself, without any I/O: the custom-field names the mapping
// fills for users and deals against the account's fields of that object (a field whose object
// the service does not give counts for both), and the group names with their row counts
// against the account's groups. Names are compared exactly, as the service does for fields;
// a name that differs only in case is reported, with the existing spelling as the suggestion.
// A list the account info does not have is not checked. NewGroups come most rows first.
func CompareAccount(acct AccountInfo, user, deal []string, groups map[string]int) ([]UnknownField, []NewGroup) {
	var unknown []UnknownField
	if acct.HaveFields {
		for _, side := range []struct {
			object string
			names  []string
		}{{"user", user}, {"deal", deal}} {
			var existing []string
			for _, f := range acct.Fields {
				if f.Object == "" || f.Object == side.object {
					existing = append(existing, f.Name)
				}
			}
			for _, name := range side.names {
				if slices.Contains(existing, name) {
					continue
				}
				s, _ := Nearest(name, existing)
				unknown = append(unknown, UnknownField{Object: side.object, Name: name, Suggestion: s, Existing: existing})
			}
		}
	}
	var fresh []NewGroup
	if acct.HaveGroups {
		have := make(map[string]bool, len(acct.Groups))
		for _, g := range acct.Groups {
			have[g] = true
		}
		for name, n := range groups {
			if !have[name] {
				fresh = append(fresh, NewGroup{Name: name, Rows: n})
			}
		}
		slices.SortFunc(fresh, func(a, b NewGroup) int {
			return cmp.Or(cmp.Compare(b.Rows, a.Rows), strings.Compare(a.Name, b.Name))
		})
		for i := range fresh[:min(len(fresh), maxNewGroupsListed)] {
			fresh[i].Suggestion, _ = Nearest(fresh[i].Name, acct.Groups)
		}
	}
	return unknown, fresh
}

// Nearest returns the candidate closest to name by edit distance (ignoring case), and whether
// it is close enough to be a plausible typo: at most a third of name's letters, and at least 2,
// away. An empty candidate list gives "", false.
func Nearest(name string, candidates []string) (string, bool) {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := mappings.EditDistance(name, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, utf8.RuneCountInString(name)/3) {
		return "", false
	}
	return best, true
}

// objectRU names an object's people in Russian for the error line.
var objectRU = map[string]string{"user": "у пользователей", "deal": "у сделок"}

// Write prints the findings for a person: each unknown field as an error line in Russian and
// an English line below it, the new groups as a warning with counts and suggestions, the
// skipped parts as notes, and one line when all is well. The verdict (exit code, what to do
// next) is the command's to print.
func (r *PreflightReport) Write(w io.Writer) {
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "note: online check skipped in part: %s\n", s)
	}
	for _, u := range r.UnknownFields {
		ru, en := fmt.Sprintf("нет поля %q %s", u.Name, objectRU[u.Object]), fmt.Sprintf("no %s custom field %q in the account", u.Object, u.Name)
		switch {
		case u.Suggestion != "":
			ru += fmt.Sprintf("; может быть %q?", u.Suggestion)
			en += fmt.Sprintf("; did you mean %q?", u.Suggestion)
		case len(u.Existing) == 0:
			ru += " (в аккаунте нет ни одного такого поля)"
			en += fmt.Sprintf(" (the account has no %s custom fields)", u.Object)
		default:
			list := quoteList(u.Existing, maxFieldsListed)
			ru += " (есть: " + list + ")"
			en += " (it has: " + list + ")"
		}
		fmt.Fprintf(w, "error: %s: %s\n       %s\n", u.Path(), ru, en)
	}
	if n := len(r.NewGroups); n > 0 {
		fmt.Fprintf(w, "warning: %d %s the file adds %s not in the account; GetCourse would create %s (групп нет в аккаунте: %d):\n",
			n, plural(n, "group", "groups"), plural(n, "is", "are"), plural(n, "it", "them"), n)
		for i, g := range r.NewGroups {
			if i == maxNewGroupsListed {
				fmt.Fprintf(w, "  ... and %d more\n", n-i)
				break
			}
			rows := fmt.Sprintf("%d %s", g.Rows, plural(g.Rows, "row", "rows"))
			if g.Rows == 0 {
				rows = "a constant of the mapping"
			}
			line := fmt.Sprintf("  %q (%s)", g.Name, rows)
			if g.Suggestion != "" {
				line += fmt.Sprintf(": может быть %q? / did you mean %q?", g.Suggestion, g.Suggestion)
			}
			fmt.Fprintln(w, line)
		}
	}
	if r.GroupsCapped {
		fmt.Fprintf(w, "note: the file names more than %d distinct groups; only the first %d were checked (is the right column mapped to user.group_name?)\n",
			r.MaxGroupNames, r.MaxGroupNames)
	}
	if r.Checked() && !r.Failed() && len(r.NewGroups) == 0 {
		var parts []string
		if r.FieldsChecked > 0 {
			parts = append(parts, fmt.Sprintf("%d custom %s", r.FieldsChecked, plural(r.FieldsChecked, "field", "fields")))
		}
		if r.GroupsChecked > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", r.GroupsChecked, plural(r.GroupsChecked, "group", "groups")))
		}
		src := "checked just now"
		if r.Calls == 0 && !r.CachedAt.IsZero() {
			src = "against the account's lists cached at " + r.CachedAt.Local().Format("15:04:05")
		}
		fmt.Fprintf(w, "online check: the account has the %s this file uses (%s)\n", strings.Join(parts, " and "), src)
	}
}

// quoteList quotes up to n names, adding how many more there are.
func quoteList(names []string, n int) string {
	q := make([]string, 0, min(len(names), n))
	for _, s := range names[:min(len(names), n)] {
		q = append(q, strconv.Quote(s))
	}
	out := strings.Join(q, ", ")
	if len(names) > n {
		out += fmt.Sprintf(" and %d more", len(names)-n)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
