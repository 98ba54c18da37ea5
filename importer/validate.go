package importer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
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
	summary := o.Stdout
	if o.Show > 0 {
		summary = o.Stderr
	}

	m, err := mappings.Load(o.MappingPath)
	if err != nil {
		return nil, err
	}
	src, err := OpenInput(o.InputPath, InputOptionsFor(m))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read the input file: %w", err)
		}
		return nil, err
	}
	defer src.Close()
	c, err := m.Compile(src.Header())
	if err != nil {
		return nil, err
	}
	dir, err := reportFolder(o.ReportsDir, "validate", o.Now())
	if err != nil {
		return nil, err
	}
	rej, err := createRejectsFor(dir, src)
	if err != nil {
		return nil, err
	}
	defer rej.Close()

	rep := &ValidateReport{RejectsPath: rej.Path(), Warnings: m.Warnings()}
	if ds, ok := src.(interface{ Dialect() Dialect }); ok {
		rep.Dialect = ds.Dialect()
	}
	sum := bufio.NewWriter(summary)
	show := bufio.NewWriter(o.Stdout)
	fmt.Fprintf(sum, "%s: read as %s\n", src.Name(), describeInput(src))
	for _, w := range rep.Warnings {
		fmt.Fprintf(sum, "warning: %s\n", w)
	}

	shown := 0
	var line []byte
	runErr := func() error {
		for {
			if rep.Rows%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			row, err := src.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			rep.Rows++
			var reason string
			var mapped *mappings.Mapped
			if row.Err != nil {
				reason = rowReason(row.Err)
			} else if mapped, err = c.Apply(row.Cells); err != nil {
				reason = err.Error()
			}
			if reason == "" {
				rep.Valid++
				if shown < o.Show {
					shown++
					line = append(line[:0], `{"line": `...)
					line = strconv.AppendInt(line, int64(row.Line), 10)
					line = append(line, `, "params": `...)
					line = append(line, mapped.JSON...)
					line = append(line, "}\n"...)
					show.Write(line)
				}
				continue
			}
			rep.Rejected++
			if rep.Rejected <= o.MaxErrorsShown {
				if rep.Rejected == 1 {
					fmt.Fprintln(sum, "rejected rows:")
				}
				fmt.Fprintf(sum, "  %s:%d: %s\n", src.Name(), row.Line, reason)
			}
			if err := rej.Write(row, reason); err != nil {
				return err
			}
		}
	}()
	if err := show.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	if err := rej.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if more := rep.Rejected - max(o.MaxErrorsShown, 0); more > 0 && o.MaxErrorsShown > 0 {
		fmt.Fprintf(sum, "  ... and %d more (every rejected row is in %s)\n", more, filepath.Base(rep.RejectsPath))
	}
	status := ""
	if runErr != nil {
		status = " (stopped early)"
	}
	fmt.Fprintf(sum, "%d rows: %d valid, %d rejected%s\n", rep.Rows, rep.Valid, rep.Rejected, status)
	if rep.Rejected > 0 {
		fmt.Fprintf(sum, "rejected rows with the reason in an error column: %s\n", rep.RejectsPath)
		fmt.Fprintln(sum, "fix them there and validate or import that file with the same mapping")
	} else {
		fmt.Fprintf(sum, "no rejected rows (%s has the header only)\n", rep.RejectsPath)
	}
	if err := sum.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	return rep, runErr
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
