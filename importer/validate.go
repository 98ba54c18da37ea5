package importer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gcbatch/gcbatch/mappings"
)

// ValidateOptions configure Validate.
type ValidateOptions struct {
	// MappingPath is the mapping file; its csv: options override detection.
	MappingPath string
	// InputPath is the CSV file to check.
	InputPath string
	// ReportsDir is where the report folder is made (default "gcbatch-reports").
	ReportsDir string
	// Show prints the params of the first Show valid rows to Stdout as JSON lines; 0 prints none.
	Show int
	// Stdout and Stderr receive the output (nil discards). The summary goes to Stdout, or to
	// Stderr when Show > 0 so that Stdout holds nothing but JSON lines.
	Stdout, Stderr io.Writer
	// MaxErrorsShown is how many row errors the summary lists (default 10; negative lists none).
	// Every rejected row is in rejected.csv regardless.
	MaxErrorsShown int
	// Now names the report folder (default time.Now).
	Now func() time.Time
}

// ValidateReport is what Validate found.
type ValidateReport struct {
	Rows, Valid, Rejected int
	// Warned counts the valid rows sent with a warning: a field left out (on_error: skip) or a
	// value outside the service's documented list.
	Warned int
	// RejectsPath is the rejected.csv written (header only when every row is valid).
	RejectsPath string
	// Warnings are the mapping's warnings, such as deals that are not idempotent.
	Warnings []string
	// Dialect is how the file was read.
	Dialect Dialect
}

// defaultReportsDir is the --reports default.
const defaultReportsDir = "gcbatch-reports"

// Validate checks every row of a CSV file against a mapping without any network: each row is
// read, mapped to params and either counted valid or written to rejected.csv with the reason.
//
// The report folder is REPORTS/validate-YYYYMMDD-HHMMSS/ (local time; "-2", "-3"... when that
// second's folder exists), apart from import runs' folders, which are named by run id.
//
// Errors: a mapping that does not load or does not fit the header comes back as
// mappings.LoadErrors (print each one); a file that cannot be opened or whose dialect or header
// is wrong as a plain error; ctx's error when cancelled, with the report so far. Rejected rows
// are not an error: see ValidateReport.Rejected.
func Validate(ctx context.Context, o ValidateOptions) (*ValidateReport, error) {
	o = o.withDefaults()
	v, err := openValidation(o)
	if err != nil {
		return nil, err
	}
	defer v.src.Close()
	defer v.rej.Close()
	runErr := v.check(ctx)
	return v.rep, v.finish(runErr)
}

// withDefaults fills in the defaults of the options left zero.
func (o ValidateOptions) withDefaults() ValidateOptions {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.MaxErrorsShown == 0 {
		o.MaxErrorsShown = 10
	}
	if o.ReportsDir == "" {
		o.ReportsDir = defaultReportsDir
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// validation is one Validate between its stages: what it reads, where it writes, and what it
// found so far.
type validation struct {
	o      ValidateOptions
	src    Input
	c      *mappings.Compiled
	rej    rejectSink
	rep    *ValidateReport
	pruned int           // older report folders removed
	sum    *bufio.Writer // the summary (Stdout, or Stderr when showing params)
	show   *bufio.Writer // the params shown (Stdout)

	shown  int
	line   []byte
	warned []string // the first few rows sent with a warning, said after the rejected ones
}

// openValidation is Validate's setup: it loads the mapping, opens the input, compiles the
// mapping against its header, makes the report folder with its rejected file, and writes the
// summary's opening lines.
func openValidation(o ValidateOptions) (_ *validation, err error) {
	summary := o.Stdout
	if o.Show > 0 {
		summary = o.Stderr
	}

	// A mapping with problems still comes back with what loaded, so that Compile adds the
	// column problems to the same list: one run shows every problem of the file.
	m, loadErr := mappings.Load(o.MappingPath)
	if m == nil {
		return nil, loadErr
	}
	src, err := OpenInput(o.InputPath, InputOptionsFor(m))
	if err != nil {
		if loadErr != nil {
			return nil, loadErr
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read the input file: %w", err)
		}
		return nil, err
	}
	defer func() {
		if err != nil {
			src.Close()
		}
	}()
	c, err := m.Compile(src.Header())
	if err != nil {
		return nil, err
	}
	dir, err := reportFolder(o.ReportsDir, "validate", o.Now())
	if err != nil {
		return nil, err
	}
	pruned := pruneValidateFolders(o.ReportsDir, KeepValidateReports)
	rej, err := createRejectsFor(dir, src)
	if err != nil {
		return nil, err
	}

	rep := &ValidateReport{RejectsPath: rej.Path(), Warnings: m.Warnings()}
	if ds, ok := src.(interface{ Dialect() Dialect }); ok {
		rep.Dialect = ds.Dialect()
	}
	v := &validation{
		o: o, src: src, c: c, rej: rej, rep: rep, pruned: pruned,
		sum: bufio.NewWriter(summary), show: bufio.NewWriter(o.Stdout),
	}
	fmt.Fprintf(v.sum, "%s: read as %s\n", src.Name(), describeInput(src))
	for _, w := range rep.Warnings {
		fmt.Fprintf(v.sum, "warning: %s\n", w)
	}
	return v, nil
}

// check is Validate's loop: it reads and maps every row, counts it, shows the params of the
// first valid ones and writes the rejected ones with their reason. Mapping is most of the
// work, so it runs on every core (checkRows) while this goroutine reports the rows in file
// order: 1,000,000 rows took 2.7 s on one goroutine of a 2-core machine.
func (v *validation) check(ctx context.Context) error {
	o, src, rep, sum := v.o, v.src, v.rep, v.sum
	for b, err := range v.checkRows(ctx) {
		if err != nil {
			return err
		}
		for _, r := range b {
			rep.Rows++
			if r.reason == "" {
				v.valid(r)
				continue
			}
			rep.Rejected++
			if rep.Rejected <= o.MaxErrorsShown {
				if rep.Rejected == 1 {
					fmt.Fprintln(sum, "rejected rows:")
				}
				fmt.Fprintf(sum, "  %s:%d: %s\n", src.Name(), r.row.Line, r.reason)
			}
			if err := v.rej.Write(r.row, r.reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// valid counts a valid row, keeps its warning and shows its params while Show asks for more.
func (v *validation) valid(r checkedRow) {
	rep := v.rep
	rep.Valid++
	if r.mapped.Warning != "" {
		rep.Warned++
		if len(v.warned) < v.o.MaxErrorsShown {
			v.warned = append(v.warned, fmt.Sprintf("  %s:%d: %s", v.src.Name(), r.row.Line, r.mapped.Warning))
		}
	}
	if v.shown < v.o.Show {
		v.shown++
		line := append(v.line[:0], `{"line": `...)
		line = strconv.AppendInt(line, int64(r.row.Line), 10)
		line = append(line, `, "params": `...)
		line = append(line, r.mapped.JSON...)
		line = append(line, "}\n"...)
		v.show.Write(line)
		v.line = line
	}
}

// checkedRow is a row with its verdict: mapped params, or the reason it is rejected.
type checkedRow struct {
	row    Row
	mapped *mappings.Mapped
	reason string
}

// checkBatch is how many rows travel together between check's goroutines: enough that handing
// them over costs nothing per row, few enough that the rows in flight (a few batches per
// core) stay well under a MiB.
const checkBatch = 256

// checkRows reads the file on one goroutine, maps its rows on one per core, and yields them in
// batches in file order. It yields a final error and stops after a read error (not io.EOF) or
// when ctx ends. Every goroutine it starts has ended when the loop over it ends, however it
// ends, so the input may be closed then.
func (v *validation) checkRows(ctx context.Context) iter.Seq2[[]checkedRow, error] {
	type batch struct {
		rows []checkedRow
		err  error         // the read error after these rows
		done chan struct{} // closed once every row has its verdict
	}
	return func(yield func([]checkedRow, error) bool) {
		var wg sync.WaitGroup
		defer wg.Wait()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // before the Wait: it stops the reader, and the reader the mappers
		workers := runtime.GOMAXPROCS(0)
		work := make(chan *batch, workers)
		ordered := make(chan *batch, 2*workers) // in file order, mapped or not yet
		wg.Go(func() {
			defer close(ordered)
			defer close(work)
			for eof := false; !eof; {
				b := &batch{rows: make([]checkedRow, 0, checkBatch), done: make(chan struct{})}
				for len(b.rows) < checkBatch {
					row, err := v.src.Next()
					if err != nil {
						if !errors.Is(err, io.EOF) {
							b.err = err
						}
						eof = true
						break
					}
					b.rows = append(b.rows, checkedRow{row: row})
				}
				for _, ch := range []chan *batch{ordered, work} {
					select {
					case ch <- b:
					case <-ctx.Done():
						return
					}
				}
			}
		})
		for range workers {
			wg.Go(func() {
				for b := range work {
					for i := range b.rows {
						r := &b.rows[i]
						if r.row.Err != nil {
							r.reason = rowReason(r.row.Err)
						} else if m, err := v.c.Apply(r.row.Cells); err != nil {
							r.reason = err.Error()
						} else {
							r.mapped = m
						}
					}
					close(b.done)
				}
			})
		}
		for b := range ordered {
			select {
			case <-b.done:
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
			if !yield(b.rows, nil) {
				return
			}
			if b.err != nil {
				yield(nil, b.err)
				return
			}
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
		}
		// The reader stops early only when ctx ends.
		if err := ctx.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// finish is Validate's report: it closes the outputs and ends the summary with the counts and
// where the rejected rows are. It returns runErr (check's error), or else the first error of
// writing.
func (v *validation) finish(runErr error) error {
	o, rep, sum := v.o, v.rep, v.sum
	if err := v.show.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	if err := v.rej.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if more := rep.Rejected - max(o.MaxErrorsShown, 0); more > 0 && o.MaxErrorsShown > 0 {
		fmt.Fprintf(sum, "  ... and %d more (every rejected row is in %s)\n", more, filepath.Base(rep.RejectsPath))
	}
	if len(v.warned) > 0 {
		fmt.Fprintln(sum, "valid rows with a warning (sent without the field named, or with a value GetCourse may refuse):")
		for _, w := range v.warned {
			fmt.Fprintln(sum, w)
		}
		if more := rep.Warned - len(v.warned); more > 0 {
			fmt.Fprintf(sum, "  ... and %d more\n", more)
		}
	}
	status := ""
	if runErr != nil {
		status = " (stopped early)"
	}
	fmt.Fprintf(sum, "%d rows: %d valid, %d rejected%s\n", rep.Rows, rep.Valid, rep.Rejected, status)
	if rep.Warned > 0 {
		if rep.Warned == 1 {
			fmt.Fprintln(sum, "1 valid row has a warning")
		} else {
			fmt.Fprintf(sum, "%d valid rows have a warning\n", rep.Warned)
		}
	}
	if rep.Rejected > 0 {
		fmt.Fprintf(sum, "rejected rows with the reason in an error column: %s\n", rep.RejectsPath)
		fmt.Fprintln(sum, "fix them there and validate or import that file with the same mapping")
	} else {
		fmt.Fprintf(sum, "no rejected rows (%s has the header only)\n", rep.RejectsPath)
	}
	if v.pruned > 0 {
		fmt.Fprintf(sum, "removed %d older validate report %s (the newest %d are kept)\n", v.pruned, plural(v.pruned, "folder", "folders"), KeepValidateReports)
	}
	if err := sum.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// KeepValidateReports is how many validate-* report folders are kept: every validate makes
// one, and a person fixing a file runs it many times in a row.
const KeepValidateReports = 10

// pruneValidateFolders removes the oldest validate-* folders under reports beyond the newest
// keep, and returns how many it removed. Only folders that hold nothing but what validate
// writes (rejected.*) are removed, so a folder a person put other files in stays.
func pruneValidateFolders(reports string, keep int) int {
	entries, err := os.ReadDir(reports)
	if err != nil {
		return 0
	}
	type folder struct {
		name  string
		stamp string // YYYYMMDD-HHMMSS
		n     int    // the -2, -3 suffix; 1 for none
	}
	var found []folder
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "validate-")
		if !e.IsDir() || !ok || len(rest) < 15 {
			continue
		}
		if _, err := time.Parse("20060102-150405", rest[:15]); err != nil {
			continue
		}
		f := folder{name: e.Name(), stamp: rest[:15], n: 1}
		if suffix := rest[15:]; suffix != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(suffix, "-"))
			if err != nil || !strings.HasPrefix(suffix, "-") {
				continue
			}
			f.n = n
		}
		found = append(found, f)
	}
	if len(found) <= keep {
		return 0
	}
	slices.SortFunc(found, func(a, b folder) int { // newest first
		if c := strings.Compare(b.stamp, a.stamp); c != 0 {
			return c
		}
		return b.n - a.n
	})
	removed := 0
	for _, f := range found[keep:] {
		dir := filepath.Join(reports, f.name)
		files, err := os.ReadDir(dir)
		if err != nil || slices.ContainsFunc(files, func(e os.DirEntry) bool {
			return e.IsDir() || !strings.HasPrefix(e.Name(), "rejected")
		}) {
			continue
		}
		if os.RemoveAll(dir) == nil {
			removed++
		}
	}
	return removed
}

// MappingProblems completes the problems of a mapping that failed to load (m and loadErr as
// mappings.Load returned them) with those its columns have against the input's header, so that
// import, like validate, reports every problem of the file in one run. It returns loadErr as it
// is when the input cannot be opened.
func MappingProblems(m *mappings.Mapping, loadErr error, input string) error {
	if m == nil || loadErr == nil {
		return loadErr
	}
	src, err := OpenSource(input, SourceOptions{Delimiter: m.CSV.Delimiter, Encoding: m.CSV.Encoding})
	if err != nil {
		return loadErr
	}
	defer src.Close()
	if _, err := m.Compile(src.Header()); err != nil {
		return err // the load problems and the column problems, in file order
	}
	return loadErr
}

// rowReason is the text of a row's reading problem without the file:line prefix, which the
// reject file does not need (the row is right there).
func rowReason(err error) string {
	var re *RowError
	if errors.As(err, &re) {
		return re.Msg
	}
	return err.Error()
}

// describeDialect says how a file was read, for the summary.
func describeDialect(d Dialect) string {
	s := "delimiter " + showDelimiter(byte(d.Delimiter)) + ", " + d.Encoding
	if d.BOM {
		s += " with a byte order mark"
	}
	if d.CRLF {
		s += ", CRLF line ends"
	}
	return s
}

// reportFolder makes a fresh folder REPORTS/PREFIX-YYYYMMDD-HHMMSS (mode 0700), adding -2, -3...
// when one already exists, so that two runs in the same second never share a folder.
func reportFolder(reports, prefix string, now time.Time) (string, error) {
	if err := os.MkdirAll(reports, 0o700); err != nil {
		return "", fmt.Errorf("reports folder: %w", err)
	}
	base := filepath.Join(reports, prefix+"-"+now.Format("20060102-150405"))
	dir := base
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return "", fmt.Errorf("reports folder: %w", err)
		}
		dir = base + "-" + strconv.Itoa(i)
	}
}
