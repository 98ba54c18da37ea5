package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings a Source reads and a RejectWriter writes.
const (
	EncodingUTF8        = "utf-8"
	EncodingWindows1251 = "windows-1251"
	// A file that starts with a UTF-16 byte order mark is read as UTF-16 (Dialect.Encoding
	// only: a mapping cannot choose it, and one that says windows-1251 is refused).
	EncodingUTF16LE = "utf-16le"
	EncodingUTF16BE = "utf-16be"
)

const (
	// sampleSize is how much of the file the encoding and delimiter guesses look at.
	sampleSize = 64 << 10
	// maxSniffRecords bounds the lines the delimiter guess compares.
	maxSniffRecords = 100
	// defaultMaxRecord bounds one record (a line, or several when a quoted cell holds line
	// breaks). A stray opening quote would otherwise swallow the rest of the file into one
	// record and the buffer would grow with the file.
	defaultMaxRecord = 4 << 20
	// initialBuffer is the reading buffer's starting size; it grows only for longer records.
	initialBuffer = 64 << 10
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// The UTF-16 byte order marks, little-endian (what Windows and Excel write) and big-endian.
var (
	utf16LEBOM = []byte{0xFF, 0xFE}
	utf16BEBOM = []byte{0xFE, 0xFF}
)

// ErrEmptyFile is returned by OpenSource and NewSource for a file with no header line (empty,
// blank lines only, or a byte order mark alone).
var ErrEmptyFile = errors.New("the file is empty: expected a header line with the column names")

// SourceOptions says how to read a CSV file. The mapping file's csv section fills it.
type SourceOptions struct {
	// Delimiter is "," ";" "\t" (also "tab") or "|"; "" or "auto" takes it from Excel's "sep=;"
	// first line when there is one, else guesses it from the first lines.
	Delimiter string
	// Encoding is "utf-8" or "windows-1251"; "" or "auto" guesses it from the first 64 KiB:
	// a UTF-8 byte order mark or valid UTF-8 means UTF-8, anything else windows-1251, unless
	// its Cyrillic reads as KOI8-R or CP866 and not as windows-1251: then opening the file
	// fails with the way out (see checkNotKOI8R, checkNotCP866).
	Encoding string
}

// Dialect is how a CSV file is written: what a Source found, and what a RejectWriter reproduces
// so that rejected rows can be fixed and fed back with the same mapping.
type Dialect struct {
	Delimiter rune
	Encoding  string // EncodingUTF8, EncodingWindows1251, or EncodingUTF16LE/BE (a UTF-16 byte order mark)
	BOM       bool   // the file starts with a UTF-8 byte order mark (Excel writes one)
	CRLF      bool   // the header line ends with CR LF
	CR        bool   // lines end with CR alone (the old Mac Excel's "CSV (Macintosh)")
	// Sep is set when the file's first line is Excel's "sep=;" line, which names the
	// delimiter and is not the header.
	Sep bool
}

// Row is one record of the file.
//
// Cells are fresh for every row (they are never reused by later Next calls), so a Row may be
// handed to another goroutine. The cells of a row share one string: holding one cell keeps the
// record's text alive, which is fine for the short life of a row in the pipeline.
type Row struct {
	// Line is the line of the file where the record starts, counting every line of the file:
	// the header is line 1 (2 after a "sep=" line, later when blank lines precede it), and a
	// record with line breaks in its quoted cells has the line where it starts.
	Line int
	// Cells are the record's cells as read: unquoted, "" turned into ", decoded to UTF-8, with
	// line breaks inside quoted cells kept as they were, and empty cells past the last named
	// column (a delimiter at the end of every line) left out. When Err is set they are still
	// the record's cells as written (a row with the wrong number of cells keeps all of them),
	// so that a reject file gives the user's data back unchanged; they are nil only for a line
	// longer than the 4 MiB limit, which is skipped.
	Cells []string
	// Err is a problem with this row alone (wrong number of cells, a quote that is never
	// closed, text after a closing quote, a NUL byte, invalid UTF-8). The Source goes on with
	// the next row after it. It is a *RowError.
	Err error
}

// RowError is a problem with one line of a CSV file. It reads like
// `contacts.csv:17: row has 5 cells, the header has 4`.
type RowError struct {
	File string
	Line int
	Msg  string
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Source reads a CSV file row by row in constant memory. It is not safe for concurrent use: one
// goroutine reads and hands rows on.
//
// It reads as Excel and Python's csv module do (a quote opens a quoted cell only at the start of
// a cell; elsewhere it is a character), with these rules for files as people have them: Excel's
// "sep=;" first line names the delimiter; empty cells past the last named column (a delimiter
// at the end of every line) are dropped; names used twice and unnamed columns are kept (the
// mapping refuses to read such a name); a row with the wrong number of cells is rejected alone
// with all its cells, multi-line cells included; a quote opened by mistake, which would
// swallow the lines after it, costs its own line only; line numbers are the file's own lines.
//
// Why not encoding/csv (LazyQuotes, FieldsPerRecord -1, FieldPos) with these rules around it:
// measured on 500,000 generated contacts doing the same work per row (line numbers, UTF-8
// check), both read about 1.1–1.4 million rows per CPU-second (BenchmarkReaders), so it buys no
// speed; and it cannot bound a record or step back after a quote opened by mistake. With one
// unclosed quote on line 12 of a 1,000,000-row file it returned 12 records, the last holding a
// 24 MB cell (146 MB allocated), where Source returns 1,000,000 rows with one rejected and never
// holds more than 4 MiB of one record.
type Source struct {
	name    string
	closer  io.Closer // the file OpenSource opened; nil for NewSource
	rd      io.Reader // the decoded stream (UTF-8)
	dialect Dialect
	delim   byte
	header  []string
	// checkUTF8 is set when the stream is not decoded from windows-1251 and so may hold invalid
	// UTF-8 that must be reported rather than passed on.
	checkUTF8 bool
	// countOnly is set for CountRows: records are found but not split into cells.
	countOnly bool

	buf       []byte
	pos, end  int // unread bytes are buf[pos:end]
	eof       bool
	rerr      error
	line      int // the line number of buf[pos]
	maxRecord int
	skipping  bool // discarding the rest of an over-long line
}

// OpenSource opens a CSV file, works out its dialect (options first, then detection) and reads
// its header.
func OpenSource(path string, opts SourceOptions) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := NewSource(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closer = f
	return s, nil
}

// NewSource reads CSV from r; name is used in error messages. The caller keeps ownership of r:
// Close does not close it.
func NewSource(r io.Reader, name string, opts SourceOptions) (*Source, error) {
	return newSource(r, name, opts, false)
}

// newSource is NewSource; countOnly makes a Source for CountRows, which finds the records
// exactly as Next does (from the same decoded text, so that even the length limit falls in
// the same place) but does not split or check them.
func newSource(r io.Reader, name string, opts SourceOptions, countOnly bool) (*Source, error) {
	delim, err := parseDelimiter(opts.Delimiter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	enc, err := parseEncoding(opts.Encoding)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &Source{name: name, maxRecord: defaultMaxRecord, line: 1, countOnly: countOnly}

	br := bufio.NewReaderSize(r, sampleSize)
	sample, atEOF, err := peekSample(br, name)
	if err != nil {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(sample, utf8BOM):
		s.dialect.BOM = true
		sample = sample[len(utf8BOM):]
		if _, err := br.Discard(len(utf8BOM)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if enc == EncodingWindows1251 {
			return nil, fmt.Errorf("%s: the file starts with a UTF-8 byte order mark, but the mapping says csv: {encoding: windows-1251}; remove that setting", name)
		}
		enc = EncodingUTF8
	case bytes.HasPrefix(sample, utf16LEBOM) || bytes.HasPrefix(sample, utf16BEBOM):
		// Excel's "Unicode Text" (tab-separated) and some CRMs' exports: decoded to UTF-8 as
		// it is read, and from here on read like any UTF-8 file. Its byte order mark says
		// which byte comes first.
		if enc == EncodingWindows1251 {
			return nil, fmt.Errorf("%s: the file is UTF-16 (it starts with a UTF-16 byte order mark), but the mapping says csv: {encoding: windows-1251}; remove that setting", name)
		}
		s.dialect.BOM = true
		s.dialect.Encoding = EncodingUTF16LE
		if bytes.HasPrefix(sample, utf16BEBOM) {
			s.dialect.Encoding = EncodingUTF16BE
		}
		dec := xunicode.UTF16(xunicode.LittleEndian, xunicode.ExpectBOM).NewDecoder()
		br = bufio.NewReaderSize(transform.NewReader(br, dec), sampleSize)
		if sample, atEOF, err = peekSample(br, name); err != nil {
			return nil, err
		}
		enc = EncodingUTF8
	}
	var in io.Reader = br
	if bytes.IndexByte(sample, '\n') < 0 && bytes.IndexByte(sample, '\r') >= 0 {
		// Lines end with CR alone, as the old Mac Excel's "CSV (Macintosh)" writes them: read
		// every CR as a line break (quoted line breaks come back as LF).
		s.dialect.CR = true
		sample = bytes.ReplaceAll(sample, []byte{'\r'}, []byte{'\n'})
		in = crReader{br}
	}
	sepDelim, sepLen, err := sepLine(sample, atEOF)
	if err != nil {
		return nil, fmt.Errorf("%s:1: %w", name, err)
	}
	if sepLen > 0 {
		if delim != 0 && delim != sepDelim {
			return nil, fmt.Errorf("%s:1: the file's first line says sep=%s, but the mapping says csv: {delimiter: %s}; remove that setting or make them agree",
				name, sepName(sepDelim), showDelimiter(delim))
		}
		delim = sepDelim
		s.dialect.Sep = true
		sample = sample[sepLen:]
		if _, err := br.Discard(sepLen); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.line = 2
	}
	if enc == "" {
		enc = EncodingWindows1251
		if validUTF8Prefix(sample, atEOF) {
			enc = EncodingUTF8
		} else if err := checkNotCP866(sample); err != nil {
			// First: KOI8-R's letter-for-letter comparison is meaningless on CP866 text,
			// whose letters are mostly not letters in either of the other two.
			return nil, fmt.Errorf("%s: %w", name, err)
		} else if err := checkNotKOI8R(sample); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if s.dialect.Encoding == "" {
		s.dialect.Encoding = enc
	}
	if delim == 0 {
		delim, err = sniffDelimiter(sample, atEOF)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	s.delim = delim
	s.dialect.Delimiter = rune(delim)

	if enc == EncodingWindows1251 {
		s.rd = transform.NewReader(in, charmap.Windows1251.NewDecoder())
	} else {
		s.rd = in
		s.checkUTF8 = !countOnly
	}
	s.buf = make([]byte, initialBuffer)
	if err := s.readHeader(); err != nil {
		return nil, err
	}
	return s, nil
}

// peekSample returns the start of the file, which decides its dialect, and whether it is the
// whole file.
func peekSample(br *bufio.Reader, name string) (sample []byte, atEOF bool, err error) {
	sample, perr := br.Peek(sampleSize)
	switch {
	case perr == nil:
	case errors.Is(perr, io.EOF):
		atEOF = true
	case len(sample) == 0:
		return nil, false, fmt.Errorf("%s: %w", name, perr)
	default:
		// Read what came before the error; Next returns the error after those rows.
	}
	return sample, atEOF, nil
}

// crReader turns every CR into LF, for files whose lines end with CR alone. CR is the same
// byte in every encoding read here, so it works on the bytes before decoding.
type crReader struct{ r io.Reader }

func (c crReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := 0; i < n; {
		k := bytes.IndexByte(p[i:n], '\r')
		if k < 0 {
			break
		}
		p[i+k] = '\n'
		i += k + 1
	}
	return n, err
}

// sepLine recognises Excel's first line "sep=;" (also quoted, "sep=;", and followed by
// delimiters, as a program that took it for a row writes it back). It returns the delimiter
// it names and the line's length with its line break; n is 0 when the first line is not one.
func sepLine(sample []byte, atEOF bool) (delim byte, n int, err error) {
	line := sample
	if nl := bytes.IndexByte(sample, '\n'); nl >= 0 {
		line, n = sample[:nl], nl+1
	} else if atEOF {
		n = len(sample)
	} else {
		return 0, 0, nil // a first line longer than the sample is no sep= line
	}
	line = bytes.TrimRight(line, "\r")
	quoted := len(line) > 0 && line[0] == '"'
	if quoted {
		line = line[1:]
	}
	if len(line) < 5 || !strings.EqualFold(string(line[:4]), "sep=") {
		return 0, 0, nil
	}
	d := line[4]
	rest := line[5:]
	if quoted {
		if len(rest) == 0 || rest[0] != '"' {
			return 0, 0, nil
		}
		rest = rest[1:]
	}
	if len(bytes.Trim(rest, " "+string(d))) > 0 {
		return 0, 0, nil // "sep=;x": some other text that starts like it
	}
	switch d {
	case ',', ';', '\t', '|':
		return d, n, nil
	}
	return 0, 0, fmt.Errorf(`the first line "sep=%c" names a delimiter gcbatch does not read; use ",", ";", tab or "|" (and change sep= to match)`, d)
}

// sepName spells a delimiter as a sep= line holds it, for messages.
func sepName(d byte) string {
	if d == '\t' {
		return "<tab>"
	}
	return string(d)
}

// Header returns the column names, trimmed of surrounding spaces. A name may appear more than
// once, and a column may have none ("") unless it is at the end: unnamed columns at the end
// (a delimiter at the end of the line) are left out, as are their cells from every row.
func (s *Source) Header() []string { return s.header }

// Dialect returns the file's dialect as given or detected.
func (s *Source) Dialect() Dialect { return s.dialect }

// Name returns the name used in error messages (the path for OpenSource).
func (s *Source) Name() string { return s.name }

// Close closes the file that OpenSource opened.
func (s *Source) Close() error {
	if s.closer == nil {
		return nil
	}
	c := s.closer
	s.closer = nil
	return c.Close()
}

func (s *Source) readHeader() error {
	rec, err := s.nextRecord()
	if err == io.EOF {
		return fmt.Errorf("%s: %w", s.name, ErrEmptyFile)
	}
	if err != nil {
		return err
	}
	if re, ok := rec.Err.(*RowError); ok {
		return &RowError{File: re.File, Line: re.Line, Msg: "header: " + re.Msg}
	}
	header := make([]string, len(rec.Cells))
	for i, c := range rec.Cells {
		header[i] = strings.TrimSpace(c)
	}
	// A delimiter at the end of every line (Bitrix24 and Excel write them) makes unnamed,
	// empty columns at the end: they are not columns of the file. Unnamed columns elsewhere
	// and names used twice are kept as they are: no mapping can name the former, and the
	// mapping rejects reading a name the header has twice (mappings.Mapping.Compile), so a
	// file is refused only for a column the mapping actually reads.
	for len(header) > 0 && header[len(header)-1] == "" {
		header = header[:len(header)-1]
	}
	if len(header) == 0 {
		return &RowError{File: s.name, Line: rec.Line, Msg: "header: no column has a name; the first line must hold the column names"}
	}
	s.header = header
	return nil
}

// Next returns the next row. It returns io.EOF after the last row; any other error means the
// file cannot be read on (an I/O error). Problems with a single row come in Row.Err instead.
func (s *Source) Next() (Row, error) {
	return s.nextRecord()
}

// nextRecord finds, splits and checks the next non-blank record.
func (s *Source) nextRecord() (Row, error) {
	for {
		if s.skipping {
			if err := s.skipLine(); err != nil {
				return Row{}, err
			}
		}
		ext, err := s.extent()
		if err != nil {
			return Row{}, err
		}
		if ext.tooLong {
			if nl := bytes.IndexByte(s.buf[s.pos:s.end], '\n'); nl >= 0 {
				// Lines joined by an open quote outgrew the limit: a quote opened by mistake.
				return s.firstLineOnly(s.buf[s.pos:s.end], nl), nil
			}
			limit := fmt.Sprintf("%d KiB", s.maxRecord>>10)
			if s.maxRecord >= 1<<20 {
				limit = fmt.Sprintf("%d MiB", s.maxRecord>>20)
			}
			row := Row{Line: s.line, Err: s.rowErr(s.line, "line is longer than "+limit+"; skipped")}
			s.skipping = true
			return row, nil
		}
		rec := s.buf[s.pos:ext.contentEnd]
		if s.header == nil && ext.crlf {
			s.dialect.CRLF = true
		}
		if isBlank(rec, s.delim) {
			s.advance(ext)
			continue
		}
		if ext.breaks > 0 {
			if _, prob := splitQuoted(string(rec), s.delim); prob.kind != probNone {
				// A record that spans lines and whose quotes do not work out is a quote
				// opened by mistake that swallowed the lines after it. Report the first line
				// alone and read on from the next one, so one bad quote costs one row, not
				// the rest of the file. (A multi-line record whose quotes are right stays one
				// row, whatever its number of cells.)
				return s.firstLineOnly(rec, bytes.IndexByte(rec, '\n')), nil
			}
		}
		var row Row
		if s.countOnly && s.header != nil {
			row.Line = s.line
		} else {
			row = s.parse(s.line, rec)
		}
		s.advance(ext)
		return row, nil
	}
}

// firstLineOnly returns the first line of b (at buf[pos], its line break at b[nl]) as a row
// of its own and moves on to the next line. The line holds a quote that is not closed on it,
// so the row always carries an error.
func (s *Source) firstLineOnly(b []byte, nl int) Row {
	first := b[:nl]
	if n := len(first); n > 0 && first[n-1] == '\r' {
		first = first[:n-1]
	}
	row := Row{Line: s.line}
	if !s.countOnly || s.header == nil {
		row = s.parse(s.line, first)
	}
	s.pos += nl + 1
	s.line++
	return row
}

// advance moves past a record.
func (s *Source) advance(ext extent) {
	s.pos = ext.next
	s.line += ext.breaks + 1
}

// extent is where the record at buf[pos] ends.
type extent struct {
	contentEnd int  // end of the record's text, line break excluded
	next       int  // start of the next record
	breaks     int  // line breaks inside the record (in quoted cells)
	crlf       bool // the record ended with CR LF
	tooLong    bool // the record does not fit in maxRecord
}

// extent finds the end of the record at buf[pos], reading more as needed. It returns io.EOF
// when no bytes are left. Quotes are understood as the parser understands them: a quote opens
// a quoted cell only at the start of a cell, so that `5" screen` does not swallow the next line.
func (s *Source) extent() (extent, error) {
	for {
		if s.pos == s.end {
			if s.eof {
				return extent{}, io.EOF
			}
			if s.rerr != nil {
				return extent{}, fmt.Errorf("%s: %w", s.name, s.rerr)
			}
		}
		if e, ok := s.scan(); ok {
			return e, nil
		}
		if s.end-s.pos >= s.maxRecord {
			return extent{tooLong: true}, nil
		}
		if err := s.fill(); err != nil {
			return extent{}, err
		}
	}
}

// scan looks for the end of the record in the bytes at hand. ok is false when it needs more.
func (s *Source) scan() (extent, bool) {
	b := s.buf[s.pos:s.end]
	nl := bytes.IndexByte(b, '\n')
	if nl >= 0 && bytes.IndexByte(b[:nl], '"') < 0 {
		return s.lineEnd(nl), true
	}
	if nl < 0 && !s.eof {
		return extent{}, false
	}
	if nl < 0 && bytes.IndexByte(b, '"') < 0 {
		return extent{contentEnd: s.end, next: s.end}, true
	}
	// Slow path: the line has a quote. Jump from quote to quote; only a quote at the start of
	// a cell opens a quoted cell, whose line breaks belong to the record.
	breaks, i := 0, 0
	for {
		q := bytes.IndexByte(b[i:], '"')
		nl := bytes.IndexByte(b[i:], '\n')
		if nl >= 0 && (q < 0 || nl < q) {
			e := s.lineEnd(i + nl)
			e.breaks = breaks
			return e, true
		}
		if q < 0 {
			if !s.eof {
				return extent{}, false
			}
			return extent{contentEnd: s.end, next: s.end, breaks: breaks}, true
		}
		q += i
		i = q + 1
		if q > 0 && b[q-1] != s.delim && b[q-1] != '\n' {
			continue // a stray quote inside a cell; the parser reports it
		}
		// Inside a quoted cell: find the closing quote, counting line breaks.
		for {
			k := bytes.IndexByte(b[i:], '"')
			if k < 0 {
				if !s.eof {
					return extent{}, false
				}
				// Never closed: the parser reports it.
				breaks += bytes.Count(b[i:], []byte{'\n'})
				return extent{contentEnd: s.end, next: s.end, breaks: breaks}, true
			}
			breaks += bytes.Count(b[i:i+k], []byte{'\n'})
			i += k + 1
			if i == len(b) && !s.eof {
				return extent{}, false // is it "" or the end? need the next byte
			}
			if i < len(b) && b[i] == '"' {
				i++
				continue
			}
			break
		}
	}
}

// lineEnd makes the extent of a record ending at the line break at buf[pos+nl].
func (s *Source) lineEnd(nl int) extent {
	e := extent{contentEnd: s.pos + nl, next: s.pos + nl + 1}
	if nl > 0 && s.buf[s.pos+nl-1] == '\r' {
		e.contentEnd--
		e.crlf = true
	}
	return e
}

// fill reads more bytes, moving the unread ones to the front and growing the buffer (up to
// maxRecord) when a record does not fit.
func (s *Source) fill() error {
	if s.eof {
		return nil
	}
	if s.rerr != nil {
		return fmt.Errorf("%s: %w", s.name, s.rerr)
	}
	if s.pos > 0 {
		copy(s.buf, s.buf[s.pos:s.end])
		s.end -= s.pos
		s.pos = 0
	}
	if s.end == len(s.buf) {
		nb := make([]byte, min(2*len(s.buf), s.maxRecord+1))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for range 100 {
		n, err := s.rd.Read(s.buf[s.end:])
		s.end += n
		if errors.Is(err, io.EOF) {
			s.eof = true
			return nil
		}
		if err != nil {
			s.rerr = err
			if n > 0 {
				return nil // hand out what was read first
			}
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if n > 0 {
			return nil
		}
	}
	s.rerr = io.ErrNoProgress
	return fmt.Errorf("%s: %w", s.name, io.ErrNoProgress)
}

// skipLine discards bytes up to and including the next line break.
func (s *Source) skipLine() error {
	for {
		if i := bytes.IndexByte(s.buf[s.pos:s.end], '\n'); i >= 0 {
			s.pos += i + 1
			s.line++
			s.skipping = false
			return nil
		}
		s.pos = s.end
		if s.eof {
			s.skipping = false
			return nil
		}
		if err := s.fill(); err != nil {
			return err
		}
	}
}

// isBlank reports whether a line holds nothing but spaces and delimiters: blank lines and the
// ";;;;" lines spreadsheets leave below the data are not rows.
func isBlank(b []byte, delim byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != delim {
			return false
		}
	}
	return true
}

func (s *Source) rowErr(line int, msg string) error {
	return &RowError{File: s.name, Line: line, Msg: msg}
}

// column names a column in a message: `column 3 "Имя"`.
func (s *Source) column(i int) string {
	if i < len(s.header) {
		return fmt.Sprintf("column %d %q", i+1, s.header[i])
	}
	return fmt.Sprintf("column %d", i+1)
}

// parse splits one record into cells and checks it.
func (s *Source) parse(line int, rec []byte) Row {
	raw := string(rec)
	row := Row{Line: line}
	var prob problem
	if strings.IndexByte(raw, '"') < 0 {
		row.Cells = splitPlain(raw, s.delim)
	} else {
		row.Cells, prob = splitQuoted(raw, s.delim)
	}
	switch {
	case prob.kind != 0:
		row.Err = s.rowErr(line, s.column(prob.col)+": "+prob.kind.String())
	case strings.IndexByte(raw, 0) >= 0:
		for i, c := range row.Cells {
			if strings.IndexByte(c, 0) >= 0 {
				row.Err = s.rowErr(line, s.column(i)+": NUL byte in the cell (is this a text CSV file?)")
				break
			}
		}
	case s.checkUTF8 && !utf8.ValidString(raw):
		for i, c := range row.Cells {
			if !utf8.ValidString(c) {
				row.Err = s.rowErr(line, s.column(i)+": not valid UTF-8 (if the file is windows-1251, set csv: {encoding: windows-1251} in the mapping)")
				break
			}
		}
	}
	if s.header == nil {
		return row
	}
	// Empty cells past the last named column are the ones a delimiter at the end of the line
	// makes (Bitrix24 and Excel write one on every line), or unnamed columns that hold
	// nothing: they are no part of the row, and a row with a cell too many is reported (and
	// written to the rejects) with the cells it really has.
	for n := len(s.header); len(row.Cells) > n && blankCell(row.Cells[len(row.Cells)-1]); {
		row.Cells = row.Cells[:len(row.Cells)-1]
	}
	if row.Err == nil && len(row.Cells) != len(s.header) {
		row.Err = s.rowErr(line, fmt.Sprintf("row has %d cells, the header has %d", len(row.Cells), len(s.header)))
	}
	return row
}

// blankCell reports whether a cell holds nothing but spaces.
func blankCell(c string) bool { return strings.Trim(c, " \t") == "" }

type problemKind uint8

const (
	probNone problemKind = iota
	probAfterQuote
	probUnclosed
)

func (k problemKind) String() string {
	switch k {
	case probAfterQuote:
		return `text after the closing quote (a " inside a quoted cell must be doubled: "say ""hi""")`
	case probUnclosed:
		return "quote is never closed"
	}
	return ""
}

type problem struct {
	kind problemKind
	col  int
}

// splitPlain splits a record without quotes.
func splitPlain(raw string, delim byte) []string {
	cells := make([]string, 0, strings.Count(raw, string(delim))+1)
	for {
		i := strings.IndexByte(raw, delim)
		if i < 0 {
			return append(cells, raw)
		}
		cells = append(cells, raw[:i])
		raw = raw[i+1:]
	}
}

// splitQuoted splits a record with quotes, the way Excel and Python's csv module do: a quote
// opens a quoted cell only at the very start of a cell, so a quote inside an unquoted cell
// (`Dell 27" 4K`, `55°45'20"N`) is a literal character. Two problems are reported, and the
// first one found is returned; the cells are still the best reading of the record, so a
// reject file keeps the user's data: text after a closing quote (kept after a literal quote:
// `"ok"tail` gives ok"tail), and a quoted cell never closed (it runs to the end of the record).
func splitQuoted(raw string, delim byte) ([]string, problem) {
	var prob problem
	note := func(k problemKind, col int) {
		if prob.kind == probNone {
			prob = problem{kind: k, col: col}
		}
	}
	// Every cell ends at a delimiter or the end, so this bounds the count (quoted delimiters
	// make it an overestimate) and the slice never grows.
	cells := make([]string, 0, strings.Count(raw, string(delim))+1)
	i := 0
	for {
		col := len(cells)
		if i < len(raw) && raw[i] == '"' {
			var sb []byte // only used when the cell has "" escapes
			seg := i + 1
			j := seg
			var cell string
			for {
				k := strings.IndexByte(raw[j:], '"')
				if k < 0 {
					note(probUnclosed, col)
					cell = raw[seg:]
					if sb != nil {
						cell = string(append(sb, cell...))
					}
					return append(cells, cell), prob
				}
				q := j + k
				if q+1 < len(raw) && raw[q+1] == '"' {
					sb = append(sb, raw[seg:q+1]...)
					j = q + 2
					seg = j
					continue
				}
				cell = raw[seg:q]
				if sb != nil {
					cell = string(append(sb, cell...))
				}
				i = q + 1
				break
			}
			if i < len(raw) && raw[i] != delim {
				// Text after the closing quote: keep it, with the quote, in the cell.
				note(probAfterQuote, col)
				k := strings.IndexByte(raw[i:], delim)
				end := len(raw)
				if k >= 0 {
					end = i + k
				}
				cell = cell + `"` + raw[i:end]
				i = end
			}
			cells = append(cells, cell)
		} else {
			k := strings.IndexByte(raw[i:], delim)
			end := len(raw)
			if k >= 0 {
				end = i + k
			}
			cells = append(cells, raw[i:end])
			i = end
		}
		if i >= len(raw) {
			return cells, prob
		}
		i++ // the delimiter
		if i == len(raw) {
			return append(cells, ""), prob
		}
	}
}

// parseDelimiter turns the option into a byte; 0 means detect.
func parseDelimiter(d string) (byte, error) {
	switch strings.ToLower(d) {
	case "", "auto":
		return 0, nil
	case ",", ";", "|":
		return d[0], nil
	case "\t", `\t`, "tab":
		return '\t', nil
	}
	return 0, fmt.Errorf(`csv delimiter %q is not supported: use auto, ",", ";", "\t" or "|"`, d)
}

// parseEncoding normalises the option; "" means detect.
func parseEncoding(e string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(e)) {
	case "", "auto":
		return "", nil
	case "utf-8", "utf8":
		return EncodingUTF8, nil
	case "windows-1251", "cp1251", "windows1251":
		return EncodingWindows1251, nil
	}
	return "", fmt.Errorf("csv encoding %q is not supported: use auto, utf-8 or windows-1251", e)
}

// validUTF8Prefix reports whether sample is valid UTF-8, forgiving a character cut in two at
// the end of a sample that is not the whole file.
func validUTF8Prefix(sample []byte, atEOF bool) bool {
	if !atEOF {
		for i := len(sample) - 1; i >= 0 && i >= len(sample)-utf8.UTFMax; i-- {
			if utf8.RuneStart(sample[i]) {
				if !utf8.FullRune(sample[i:]) {
					sample = sample[:i]
				}
				break
			}
		}
	}
	return utf8.Valid(sample)
}

// delimiterCandidates are the delimiters detection chooses from, in the order ties are listed.
var delimiterCandidates = []byte{',', ';', '\t', '|'}

// showDelimiter writes a delimiter the way the mapping file spells it.
func showDelimiter(d byte) string {
	if d == '\t' {
		return `"\t"`
	}
	return `"` + string(d) + `"`
}

// sniffDelimiter guesses the delimiter from the first records: the winner appears in the header
// and every sampled line has as many of it (outside quotes) as the header. Ambiguity is refused
// rather than guessed, because a wrong guess rejects every row.
func sniffDelimiter(sample []byte, atEOF bool) (byte, error) {
	type counts [4]int
	var recs []counts
	var cur counts
	inQ, content := false, false
	var prev byte = '\n'
	flush := func() {
		if content {
			recs = append(recs, cur)
		}
		cur, content = counts{}, false
	}
	for _, c := range sample {
		if len(recs) >= maxSniffRecords {
			break
		}
		p := prev
		prev = c
		if inQ {
			inQ = c != '"'
			continue
		}
		switch c {
		case '"':
			// As in the parser, a quote opens a quoted cell only where a cell can start.
			switch p {
			case '\n', ',', ';', '\t', '|', '"':
				inQ = true
			}
			content = true
			continue
		case '\n':
			flush()
			continue
		case '\r', ' ':
			continue
		}
		isDelim := false
		for k, d := range delimiterCandidates {
			if c == d {
				cur[k]++
				isDelim = true
			}
		}
		// A line of delimiters alone (";;;" below the data) is blank: it says nothing.
		content = content || !isDelim
	}
	if atEOF && !inQ && len(recs) < maxSniffRecords {
		flush() // the last line had no line break
	}
	if len(recs) == 0 {
		if len(sample) == 0 || isBlank(sample, ',') {
			return ',', nil // empty: reading the header reports it
		}
		// One long first line cut by the sample: judge by what there is.
		recs = append(recs, cur)
	}
	head, data := recs[0], recs[1:]
	var inHeader []byte
	for k, d := range delimiterCandidates {
		if head[k] > 0 {
			inHeader = append(inHeader, d)
		}
	}
	switch len(inHeader) {
	case 0:
		for _, r := range recs {
			for k := range delimiterCandidates {
				if r[k] > 0 {
					return 0, errors.New(`cannot tell the delimiter: the header line has none of , ; tab |; set it in the mapping, e.g. csv: {delimiter: ";"}`)
				}
			}
		}
		return ',', nil // a single column: any delimiter reads it the same
	case 1:
		// The only candidate in the header. Rows that disagree become row errors, but it must
		// appear below the header too, or the guess is baseless.
		d := inHeader[0]
		k := bytes.IndexByte(delimiterCandidates, d)
		found := len(data) == 0
		for _, r := range data {
			found = found || r[k] > 0
		}
		if found {
			return d, nil
		}
		return 0, fmt.Errorf("cannot tell the delimiter: the header has %s but the lines below it do not; set it in the mapping, e.g. csv: {delimiter: %s}",
			showDelimiter(d), showDelimiter(d))
	}
	// Several candidates in the header: the one that every line (or nearly every line) has as
	// often as the header wins.
	var fit, near []byte
	for k, d := range delimiterCandidates {
		if head[k] == 0 || len(data) == 0 {
			continue
		}
		match := 0
		for _, r := range data {
			if r[k] == head[k] {
				match++
			}
		}
		if match == len(data) {
			fit = append(fit, d)
		} else if match*10 >= len(data)*9 {
			near = append(near, d)
		}
	}
	if len(fit) == 1 {
		return fit[0], nil
	}
	if len(fit) == 0 && len(near) == 1 {
		return near[0], nil // a few broken lines; they are reported as row errors
	}
	if len(fit) > 1 {
		inHeader = fit
	}
	names := make([]string, len(inHeader))
	for i, d := range inHeader {
		names[i] = showDelimiter(d)
	}
	return 0, fmt.Errorf("cannot tell the delimiter: it could be %s; set it in the mapping, e.g. csv: {delimiter: %s}", strings.Join(names, " or "), names[0])
}

// CountRows counts the rows of a CSV file for progress bars and run records: exactly the rows
// (rejected ones included) that a Source opened with the same options returns from Next, as
// it finds them the same way, but faster: it does not split or check them. A quote that is
// never closed costs one row here as it does in Next, not the rest of the file.
func CountRows(path string, opts SourceOptions) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s, err := newSource(f, path, opts, true)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := s.nextRecord()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		n++
	}
}

// ruLetterFreq is how often each letter а…я (then ё) appears in Russian text, in percent
// (the usual corpus figures); it tells real Russian from text read in the wrong code page.
var ruLetterFreq = [33]float64{
	8.01, 1.59, 4.54, 1.70, 2.98, 8.45, 0.94, 1.65, 7.35, 1.21, 3.49, 4.40, 3.21, 6.70, 10.97, 2.81, // а…п
	4.73, 5.47, 6.26, 2.62, 0.26, 0.97, 0.48, 1.44, 0.73, 0.36, 0.04, 1.90, 1.74, 0.32, 0.64, 2.01, // р…я
	0.04, // ё
}

// ruLogFreq is ruLetterFreq as natural logarithms, the score of one letter.
var ruLogFreq = func() (t [33]float64) {
	for i, f := range ruLetterFreq {
		t[i] = math.Log(f / 100)
	}
	return t
}()

const (
	// minKOI8Letters is how many Cyrillic letters the sample needs before its code page is
	// questioned: a few letters say too little.
	minKOI8Letters = 12
	// koi8Margin is by how much (natural log per letter) the KOI8-R reading must be likelier
	// than the windows-1251 one. Real windows-1251 text scores far better as windows-1251,
	// KOI8-R text read as windows-1251 far worse (about 1.5 per letter on names and cities).
	koi8Margin = 0.5
	// invertedCasePenalty is the score a word loses for a lower-case letter followed by an
	// upper-case one ("иВАН"): what KOI8-R looks like read as windows-1251, where its two
	// cases swap.
	invertedCasePenalty = 3.0
)

// russianScore says how much text decoded with cm looks like Russian: the sum of its
// letters' log frequencies, less a penalty for words whose case is inverted. letters is the
// number of Cyrillic letters seen.
func russianScore(sample []byte, cm *charmap.Charmap) (score float64, letters int) {
	prevLower := false
	for _, b := range sample {
		if b < utf8.RuneSelf {
			prevLower = false
			continue
		}
		r := cm.DecodeByte(b)
		lr := unicode.ToLower(r)
		var i int
		switch {
		case lr >= 'а' && lr <= 'я':
			i = int(lr - 'а')
		case lr == 'ё':
			i = 32
		default:
			prevLower = false
			continue
		}
		letters++
		score += ruLogFreq[i]
		upper := lr != r
		if upper && prevLower {
			score -= invertedCasePenalty
		}
		prevLower = !upper
	}
	return score, letters
}

// checkNotKOI8R questions a sample about to be read as windows-1251 because it is not
// UTF-8: KOI8-R text read as windows-1251 gives Cyrillic that looks fine to the program and
// is gibberish to people ("иВАН пЕТРОВ"), which would go to GetCourse as such. Read as KOI8-R,
// such a sample scores far better as Russian; then it is refused with the way out.
func checkNotKOI8R(sample []byte) error {
	cp, n := russianScore(sample, charmap.Windows1251)
	koi, _ := russianScore(sample, charmap.KOI8R)
	if n < minKOI8Letters || (koi-cp)/float64(n) < koi8Margin {
		return nil
	}
	return fmt.Errorf("the file looks like KOI8-R, not windows-1251: its text reads %s as windows-1251 and %s as KOI8-R. "+
		"Save it as CSV UTF-8 (or windows-1251) and try again; if the first reading is right, set csv: {encoding: windows-1251} in the mapping",
		quoteExample(sample, charmap.Windows1251), quoteExample(sample, charmap.KOI8R))
}

// checkNotCP866 questions a sample about to be read as windows-1251 because it is not UTF-8:
// Excel's "CSV (MS-DOS)" and DOS-era programs write Cyrillic in CP866, which read as
// windows-1251 is mostly punctuation and Serbian letters ("€ў ­ ЏҐва®ў" for "Иван Петров") and
// would go to GetCourse as such. KOI8-R's test does not see it: the two code pages put their
// letters on different bytes, so most of the text is not letters at all in the wrong one. So
// the readings are compared by how many letters stand in words (wordLetters): CP866 text read
// as windows-1251 keeps only р..я as letters, scattered between punctuation; windows-1251 text
// read as CP866 keeps only а..п. A reading that has at least twice the other's letters in
// words, and is as Russian letter for letter, is taken for the file's.
func checkNotCP866(sample []byte) error {
	n, m := wordLetters(sample, charmap.Windows1251), wordLetters(sample, charmap.CodePage866)
	if m < minKOI8Letters || m < 2*n {
		return nil
	}
	if n > 0 {
		cp, cpLetters := russianScore(sample, charmap.Windows1251)
		dos, dosLetters := russianScore(sample, charmap.CodePage866)
		if dos/float64(dosLetters) < cp/float64(cpLetters) {
			return nil
		}
	}
	return fmt.Errorf("the file looks like CP866 (Excel's \"CSV (MS-DOS)\"), not windows-1251: its text reads %s as windows-1251 and %s as CP866. "+
		"Save it as CSV UTF-8 (or plain CSV) and try again; if the first reading is right, set csv: {encoding: windows-1251} in the mapping",
		quoteExample(sample, charmap.Windows1251), quoteExample(sample, charmap.CodePage866))
}

// wordLetters counts the Cyrillic letters of sample, decoded with cm, that stand in runs of
// three or more: words, not the odd byte that a wrong code page happens to make a letter (a
// typographic quote or dash in a Latin text).
func wordLetters(sample []byte, cm *charmap.Charmap) int {
	total, run := 0, 0
	for _, b := range sample {
		r := unicode.ToLower(cm.DecodeByte(b))
		if b >= utf8.RuneSelf && (r >= 'а' && r <= 'я' || r == 'ё') {
			run++
			continue
		}
		if run >= 3 {
			total += run
		}
		run = 0
	}
	if run >= 3 {
		total += run
	}
	return total
}

// quoteExample decodes the first line of the sample that has a non-ASCII byte, up to 40
// characters, for a message: «…».
func quoteExample(sample []byte, cm *charmap.Charmap) string {
	start := bytes.IndexFunc(sample, func(r rune) bool { return r >= utf8.RuneSelf })
	if start < 0 {
		return "«»"
	}
	start = bytes.LastIndexByte(sample[:start], '\n') + 1
	var b strings.Builder
	for i := start; i < len(sample) && i < start+40; i++ {
		c := sample[i]
		if c == '\n' || c == '\r' {
			break
		}
		b.WriteRune(cm.DecodeByte(c))
	}
	return "«" + b.String() + "»"
}
