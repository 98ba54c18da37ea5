package importer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/gcbatch/gcbatch/internal/workbook"
)

// RejectedWorkbookFile is the reject file of an import or validate run over a workbook.
const RejectedWorkbookFile = "rejected.xlsx"

// WorkbookRejects writes rejected.xlsx: the original header and cells of every rejected row plus
// an error column, all as text cells, so that the user fixes the rows in Excel and feeds the
// file back with the same mapping (which ignores the extra column; a fed-back file's own error
// column is replaced, as in RejectWriter).
//
// The workbook is written to a temporary file beside the target and renamed when Close
// completes it: a workbook cut short cannot be opened at all, so an interrupted run leaves no
// rejected.xlsx rather than a damaged one (results.csv lists every row either way).
//
// A WorkbookRejects is safe for concurrent use; rows appear in the order Write is called.
type WorkbookRejects struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	bw      *bufio.Writer
	wb      *workbook.Writer
	replace bool
	rows    int
	err     error
}

// CreateWorkbookRejects starts the reject workbook at path (mode 0600, missing folders 0700).
func CreateWorkbookRejects(path string, header []string) (*WorkbookRejects, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("reject file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return nil, fmt.Errorf("reject file: %w", err)
	}
	w := &WorkbookRejects{path: path, f: f, bw: bufio.NewWriterSize(f, 64<<10)}
	w.wb = workbook.New(w.bw, workbook.Options{SheetName: "rejected"})
	cols, replace := rejectHeader(header)
	w.replace = replace
	if err := w.wb.Header(cols); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return w, nil
}

// Path returns the file's path.
func (w *WorkbookRejects) Path() string { return w.path }

// Rows returns how many rows have been written.
func (w *WorkbookRejects) Rows() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows
}

// Write appends a rejected row: its original cells and the reason.
func (w *WorkbookRejects) Write(r Row, reason string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.f == nil {
		return errors.New("reject file: write after close")
	}
	if err := w.wb.RowStrings(rejectRecord(r.Cells, reason, w.replace)); err != nil {
		w.err = fmt.Errorf("reject file: %w", err)
		return w.err
	}
	w.rows++
	return nil
}

// Close completes the workbook and renames it into place.
func (w *WorkbookRejects) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	f := w.f
	w.f = nil
	err := w.err
	if err == nil {
		err = w.wb.Close()
	}
	if err == nil {
		err = w.bw.Flush()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), w.path)
	}
	if err != nil {
		os.Remove(f.Name())
		if w.err == nil {
			w.err = fmt.Errorf("reject file: %w", err)
		}
		return w.err
	}
	return nil
}
