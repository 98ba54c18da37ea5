package importer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/richardlehane/mscfb"

	"github.com/gcbatch/gcbatch/mappings"
)

// Input is a file of rows being read: a CSV Source or a Workbook. One goroutine reads it.
type Input interface {
	// Header returns the column names.
	Header() []string
	// Next returns the next row, io.EOF after the last; any other error ends the reading.
	Next() (Row, error)
	// Name returns the file's name for messages.
	Name() string
	// Close releases the file.
	Close() error
}

// InputOptions say how to read an input file; a mapping's csv: and xlsx: sections fill them.
type InputOptions struct {
	CSV SourceOptions
	// Sheet is the workbook's sheet to read; "" reads the first.
	Sheet string
}

// InputOptionsFor returns the reading options a mapping gives.
func InputOptionsFor(m *mappings.Mapping) InputOptions {
	return InputOptions{CSV: SourceOptions{Delimiter: m.CSV.Delimiter, Encoding: m.CSV.Encoding}, Sheet: m.XLSX.Sheet}
}

// Kinds of file by their first bytes.
var (
	zipMagic = []byte("PK\x03\x04")
	cfbMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
)

// OpenInput opens a CSV file or a workbook (.xlsx), told apart by the file's first bytes as well
// as its extension: a workbook is a zip whatever its name, and a file named .xlsx that is not
// one is explained rather than read as garbage (an old .xls, a password-protected workbook, a
// CSV or an HTML page renamed) — each a *WorkbookError naming the file.
func OpenInput(path string, o InputOptions) (Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	head = head[:n]
	ext := strings.ToLower(filepath.Ext(path))
	workbookExt := ext == ".xlsx" || ext == ".xlsm" || ext == ".xls"
	switch {
	case bytes.HasPrefix(head, zipMagic) || (workbookExt && bytes.HasPrefix(head, []byte("PK"))):
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		w, err := newWorkbook(f, path, o.Sheet)
		if err != nil {
			f.Close()
			return nil, err
		}
		return w, nil
	case bytes.HasPrefix(head, cfbMagic):
		msg := compoundFileMessage(f)
		f.Close()
		return nil, &WorkbookError{File: path, Msg: msg}
	case workbookExt:
		f.Close()
		return nil, &WorkbookError{File: path, Msg: notWorkbookMessage(head, ext)}
	}
	f.Close()
	return OpenSource(path, o.CSV)
}

// compoundFileMessage explains an OLE compound file: a workbook encrypted with a password
// (Excel wraps those in one), or the old binary .xls format.
func compoundFileMessage(f *os.File) string {
	if _, err := f.Seek(0, io.SeekStart); err == nil {
		if doc, err := mscfb.New(f); err == nil {
			for e, err := doc.Next(); err == nil; e, err = doc.Next() {
				switch e.Name {
				case "EncryptionInfo", "EncryptedPackage":
					return "the workbook is protected with a password; open it in Excel, remove the password (File > Info > Protect Workbook > Encrypt with Password, clear it), save and retry"
				case "Workbook", "Book":
					return "this is an old Excel 97-2003 workbook (.xls); open it in Excel and save it as .xlsx (Excel Workbook) or CSV UTF-8, then retry"
				}
			}
		}
	}
	return "this is an OLE compound file (an old Office format), not an .xlsx workbook; open it in Excel and save it as .xlsx or CSV UTF-8, then retry"
}

// notWorkbookMessage explains a file named like a workbook that is neither a zip nor an OLE file.
func notWorkbookMessage(head []byte, ext string) string {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n")
	lower := bytes.ToLower(trimmed)
	switch {
	case len(head) == 0:
		return "the file is empty, not a workbook"
	case bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.HasPrefix(lower, []byte("<html")) || bytes.HasPrefix(lower, []byte("<table")):
		return "this is an HTML page named " + ext + " (some CRMs export those as Excel files), not a workbook; open it in Excel and save it as .xlsx or CSV UTF-8, then retry"
	case bytes.HasPrefix(lower, []byte("<?xml")):
		return "this is an XML file (perhaps an Excel 2003 XML spreadsheet), not an .xlsx workbook; open it in Excel and save it as .xlsx or CSV UTF-8, then retry"
	case looksLikeText(head):
		return "this is a CSV (text) file, not a workbook: it was renamed to " + ext + "; rename it back to .csv and retry"
	}
	return "this is not an .xlsx workbook (an .xlsx file is a zip archive); open it in Excel and save it as .xlsx or CSV UTF-8, then retry"
}

// looksLikeText reports whether a file's first bytes are text: no NUL bytes, and UTF-8 or a
// single-byte code page (windows-1251 CSV files are not valid UTF-8).
func looksLikeText(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	control := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' {
			control++
		}
	}
	return control == 0 || (utf8.Valid(b) && control*20 < len(b))
}

// rejectSink is where rejected rows go: rejected.csv for a CSV file (RejectWriter), or
// rejected.xlsx for a workbook (WorkbookRejects).
type rejectSink interface {
	Write(r Row, reason string) error
	Close() error
	Path() string
}

// createRejectsFor creates the reject file of an input in dir: rejected.csv in the CSV file's
// own dialect, or rejected.xlsx for a workbook.
func createRejectsFor(dir string, in Input) (rejectSink, error) {
	if _, ok := in.(*Workbook); ok {
		return CreateWorkbookRejects(filepath.Join(dir, RejectedWorkbookFile), in.Header())
	}
	var d Dialect
	if ds, ok := in.(interface{ Dialect() Dialect }); ok {
		d = ds.Dialect()
	}
	return CreateRejects(filepath.Join(dir, RejectedFile), in.Header(), d)
}

// countInputRows counts a CSV file's rows for the progress bar; -1 (unknown) for a workbook,
// whose rows are only known once read.
func countInputRows(path string, in Input, opts SourceOptions) (int, error) {
	if _, ok := in.(*Workbook); ok {
		return -1, nil
	}
	return CountRows(path, opts)
}

// describeInput says how a file was read, for validate's summary.
func describeInput(in Input) string {
	if w, ok := in.(*Workbook); ok {
		return fmt.Sprintf("sheet %q of a workbook", w.Sheet())
	}
	if ds, ok := in.(interface{ Dialect() Dialect }); ok {
		return describeDialect(ds.Dialect())
	}
	return "CSV"
}
