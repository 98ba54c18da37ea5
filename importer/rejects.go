package importer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gcbatch/gcbatch/internal/csvcell"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// ErrorColumn is the name of the column a reject file adds for the reason a row was rejected.
const ErrorColumn = "error"

// RejectWriter writes rejected.csv: the original header and cells of every rejected row plus an
// `error` column, in the input's dialect (delimiter, encoding, byte order mark, line ends), so
// that the user can fix the rows in the same spreadsheet program and feed the file back with the
// same mapping (the mapping ignores the extra column).
//
// Layout decisions:
//   - A row whose cell count was wrong is written as it was (not padded or cut) with the reason
//     after its last cell: padding would make a row with a missing middle cell look valid with
//     its values shifted, and cutting would lose data. Read back unfixed, it is rejected again.
//   - When the input is itself a reject file (its last column is `error`), each row's last cell,
//     the old reason, is replaced instead of adding a second `error` column, so fix-and-retry
//     rounds stay tidy.
//   - Cells are written, not the raw line, so a row rejected for a stray quote comes back
//     correctly quoted (`Мария "Маша"` → "Мария ""Маша""") and reads cleanly once fed back;
//     writing the raw line of an unclosed quote would swallow the lines after it.
//     An input with an `error` column of its own elsewhere gets `gcbatch_error` instead.
//   - In windows-1251, characters the code page lacks (₽, emoji) become "?".
//   - A "sep=;" first line in the input is written first here too.
//   - In a file whose lines end with CR alone, line breaks inside cells are written as CR.
//
// A RejectWriter is safe for concurrent use; rows appear in the order Write is called.
type RejectWriter struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	bw      *bufio.Writer
	delim   byte
	eol     string
	cp1251  bool
	utf16   *encoding.Encoder // set when written as UTF-16LE, as a UTF-16 input was (Excel's "Unicode Text")
	wide    []byte            // a record in UTF-16, reused
	columns int               // the header's width, the error column included
	replace bool              // the header already ended with an error column
	line    []byte
	rows    int
	err     error // the first write error; later writes return it
}

// CreateRejects creates (or truncates) the reject file at path, with mode 0600 and any missing
// folders 0700 (rows hold personal data), and writes its header.
func CreateRejects(path string, header []string, d Dialect) (*RejectWriter, error) {
	if d.Delimiter == 0 {
		d.Delimiter = ','
	}
	if d.Delimiter >= utf8.RuneSelf {
		return nil, fmt.Errorf("reject file: unsupported delimiter %q", d.Delimiter)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("reject file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("reject file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // an older file keeps its mode through O_TRUNC
		f.Close()
		return nil, fmt.Errorf("reject file: %w", err)
	}
	w := &RejectWriter{
		path:   path,
		f:      f,
		bw:     bufio.NewWriterSize(f, 64<<10),
		delim:  byte(d.Delimiter),
		eol:    "\n",
		cp1251: d.Encoding == EncodingWindows1251,
	}
	if d.Encoding == EncodingUTF16LE || d.Encoding == EncodingUTF16BE {
		// Little-endian whatever the input's order: it is what Windows programs expect.
		w.utf16 = xunicode.UTF16(xunicode.LittleEndian, xunicode.IgnoreBOM).NewEncoder()
	}
	switch {
	case d.CRLF:
		w.eol = "\r\n"
	case d.CR:
		w.eol = "\r"
	}
	switch {
	case w.utf16 != nil:
		w.bw.Write(utf16LEBOM)
	case d.BOM && !w.cp1251:
		w.bw.Write(utf8BOM)
	}
	if d.Sep {
		// The input named its delimiter for Excel; so does its reject file, so that it opens
		// the same way in any locale and reads back with the same line numbers.
		w.write([]byte("sep=" + string(w.delim) + w.eol))
	}
	var cols []string
	cols, w.replace = rejectHeader(header)
	w.columns = len(cols)
	w.writeRecord(cols)
	if w.err != nil {
		f.Close()
		return nil, w.err
	}
	return w, nil
}

// rejectHeader returns the header of a reject file (CSV or workbook) for an input's header: the
// input's columns and the reason column, or, when the input is a reject file being fed back
// (replace), its own header, whose last column is the reason.
func rejectHeader(header []string) (cols []string, replace bool) {
	cols = append([]string(nil), header...)
	name, replace := errorColumn(header)
	if !replace {
		cols = append(cols, name)
	}
	return cols, replace
}

// rejectRecord returns the record a reject file writes for a rejected row: its cells and the
// reason. With replace the row's last cell is the old reason and gives way to the new one (also
// in rows whose count is wrong, since the reason was appended after their last cell).
func rejectRecord(cells []string, reason string, replace bool) []string {
	if replace && len(cells) > 0 {
		cells = cells[:len(cells)-1]
	}
	rec := make([]string, 0, len(cells)+1)
	return append(append(rec, cells...), reason)
}

// errorColumn picks the name of the reason column: "error", unless the input already has a
// column of that name elsewhere (then "gcbatch_error", "gcbatch_error_2", ...), so the header
// stays unique and the file reads back. replace is true when the input's last column is such a
// reason column already: the input is a reject file being fed back.
func errorColumn(header []string) (name string, replace bool) {
	n := len(header)
	if n == 0 {
		return ErrorColumn, false
	}
	earlier := make(map[string]bool, n)
	for _, h := range header[:n-1] {
		earlier[h] = true
	}
	last := header[n-1]
	if (last == ErrorColumn || last == "gcbatch_error" || strings.HasPrefix(last, "gcbatch_error_")) && !earlier[last] {
		return last, true
	}
	for i := 1; ; i++ {
		name = ErrorColumn
		switch {
		case i == 2:
			name = "gcbatch_error"
		case i > 2:
			name = "gcbatch_error_" + strconv.Itoa(i-1)
		}
		if !earlier[name] && name != last {
			return name, false
		}
	}
}

// Path returns the file's path.
func (w *RejectWriter) Path() string { return w.path }

// Rows returns how many rows have been written.
func (w *RejectWriter) Rows() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows
}

// Write appends a rejected row: its original cells and the reason.
func (w *RejectWriter) Write(r Row, reason string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("reject file: write after close")
	}
	w.writeRecord(rejectRecord(r.Cells, reason, w.replace))
	if w.err == nil {
		w.rows++
	}
	return w.err
}

// Close flushes and closes the file.
func (w *RejectWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("reject file: %w", err)
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("reject file: %w", err)
	}
	w.f = nil
	return w.err
}

// writeRecord encodes and writes one record; the caller holds mu (or owns w).
func (w *RejectWriter) writeRecord(cells []string) {
	if w.err != nil {
		return
	}
	b := w.line[:0]
	for i, c := range cells {
		if i > 0 {
			b = append(b, w.delim)
		}
		if w.eol == "\r" && strings.ContainsAny(c, "\r\n") {
			// In a file whose lines end with CR alone, a line break inside a cell is a CR
			// too: an LF would make the file read back as one with LF line ends.
			c = strings.ReplaceAll(strings.ReplaceAll(c, "\r\n", "\r"), "\n", "\r")
		}
		if csvcell.NeedsQuotes(c, w.delim) {
			b = append(b, '"')
			for {
				k := strings.IndexByte(c, '"')
				if k < 0 {
					break
				}
				b = w.appendText(b, c[:k+1])
				b = append(b, '"')
				c = c[k+1:]
			}
			b = w.appendText(b, c)
			b = append(b, '"')
		} else {
			b = w.appendText(b, c)
		}
	}
	b = append(b, w.eol...)
	w.line = b
	w.write(b)
}

// write writes text already in the file's encoding, or, for a UTF-16 file, its UTF-8 text
// turned into UTF-16LE (a UTF-16 input decodes to valid UTF-8, so nothing is lost).
func (w *RejectWriter) write(b []byte) {
	if w.err != nil {
		return
	}
	if w.utf16 != nil {
		wide, _, err := transform.Append(w.utf16, w.wide[:0], b)
		if err != nil {
			w.err = fmt.Errorf("reject file: %w", err)
			return
		}
		w.wide, b = wide, wide
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("reject file: %w", err)
	}
}

// appendText appends s in the file's encoding. UTF-8 text goes out byte for byte, invalid bytes
// included, so a row rejected for invalid UTF-8 keeps exactly what the user had.
func (w *RejectWriter) appendText(b []byte, s string) []byte {
	if !w.cp1251 {
		return append(b, s...)
	}
	for _, r := range s {
		if r < utf8.RuneSelf {
			b = append(b, byte(r))
			continue
		}
		if c, ok := charmap.Windows1251.EncodeRune(r); ok {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return b
}
