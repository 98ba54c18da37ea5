package exporter

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/gcbatch/gcbatch/internal/csvcell"
	"github.com/gcbatch/gcbatch/internal/jsonstr"
)

// Format is the output file format.
type Format string

// The output formats.
const (
	// FormatCSV writes a header line from fields and one line per item.
	FormatCSV Format = "csv"
	// FormatJSONL writes one JSON object per item keyed by the (renamed) header.
	FormatJSONL Format = "jsonl"
)

// Column picks one export column by its title and names it in the output (To "" keeps From).
type Column struct {
	From, To string
}

// ParseColumns reads --columns: "Email,Имя=First name" picks Email and Имя, the latter renamed.
// A backslash escapes a comma or '=' that is part of a title ("Сумма\, руб").
func ParseColumns(s string) ([]Column, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Column
	var cur strings.Builder
	var parts []string
	escaped := false
	flush := func() {
		parts = append(parts, cur.String())
		cur.Reset()
	}
	var items [][]string
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '=' && len(parts) == 0:
			flush()
		case r == ',':
			flush()
			items = append(items, parts)
			parts = nil
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	items = append(items, parts)
	for _, it := range items {
		c := Column{From: strings.TrimSpace(it[0])}
		if len(it) > 1 {
			c.To = strings.TrimSpace(it[1])
			if c.To == "" {
				return nil, fmt.Errorf("--columns: %q has an empty new name after '='", c.From)
			}
		}
		if c.From == "" {
			return nil, fmt.Errorf("--columns %q: an empty column name (two commas in a row?)", s)
		}
		out = append(out, c)
	}
	return out, nil
}

// ColumnError is a --columns entry the export does not have.
type ColumnError struct {
	Unknown   []string
	Available []string
}

func (e *ColumnError) Error() string {
	q := make([]string, len(e.Available))
	for i, a := range e.Available {
		q[i] = strconv.Quote(a)
	}
	return fmt.Sprintf("--columns: this export has no column %s; its columns are: %s",
		strings.Join(quoteAll(e.Unknown), ", "), strings.Join(q, ", "))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// layout maps export columns to output columns.
type layout struct {
	header []string
	pick   []int // nil: all columns in order
}

func newLayout(fields []string, cols []Column) (*layout, error) {
	if len(cols) == 0 {
		return &layout{header: fields}, nil
	}
	idx := make(map[string]int, len(fields))
	for i := len(fields) - 1; i >= 0; i-- {
		idx[fields[i]] = i // the first of duplicate titles wins
	}
	l := &layout{}
	var unknown []string
	for _, c := range cols {
		i, ok := idx[c.From]
		if !ok {
			// Titles differ in case and spacing between accounts; accept an unambiguous match.
			i, ok = foldMatch(fields, c.From)
		}
		if !ok {
			unknown = append(unknown, c.From)
			continue
		}
		name := c.To
		if name == "" {
			name = fields[i]
		}
		l.header = append(l.header, name)
		l.pick = append(l.pick, i)
	}
	if len(unknown) > 0 {
		return nil, &ColumnError{Unknown: unknown, Available: fields}
	}
	return l, nil
}

func foldMatch(fields []string, name string) (int, bool) {
	want := strings.Join(strings.Fields(name), " ")
	found := -1
	for i, f := range fields {
		if strings.EqualFold(strings.Join(strings.Fields(f), " "), want) {
			if found >= 0 {
				return 0, false
			}
			found = i
		}
	}
	return found, found >= 0
}

// rowWriter writes the header and rows of one output.
type rowWriter interface {
	header(names []string) error
	row(cells [][]byte) error
}

// cellPrep turns a cell into what is written: --normalize and the formula guard.
type cellPrep struct {
	normalize bool
	scratch   []byte // reused: a cell is written before the next one is prepared
}

func (p *cellPrep) cell(c []byte) []byte {
	if p.normalize {
		if out, ok := normalizeCell(p.scratch[:0], c); ok {
			p.scratch = out[:0]
			return out
		}
	}
	return c
}

// csvWriter is a minimal RFC 4180 writer: quotes only cells that need it (csvcell.NeedsQuotes,
// the reject file's rule too), doubling quotes. encoding/csv would do, but works on strings and
// so costs a conversion per cell; this one writes the decoder's bytes straight to the buffer.
type csvWriter struct {
	w              *bufio.Writer
	delim          byte
	crlf           bool
	escapeFormulas bool
	prep           cellPrep
	pick           []int
	width          int
}

func (cw *csvWriter) header(names []string) error {
	cw.width = len(names)
	for i, n := range names {
		if i > 0 {
			cw.w.WriteByte(cw.delim)
		}
		cw.field([]byte(n), false)
	}
	return cw.eol()
}

func (cw *csvWriter) row(cells [][]byte) error {
	if cw.pick != nil {
		for i, j := range cw.pick {
			if i > 0 {
				cw.w.WriteByte(cw.delim)
			}
			if j < len(cells) {
				cw.field(cw.prep.cell(cells[j]), cw.escapeFormulas)
			}
		}
		return cw.eol()
	}
	for i, c := range cells {
		if i > 0 {
			cw.w.WriteByte(cw.delim)
		}
		cw.field(cw.prep.cell(c), cw.escapeFormulas)
	}
	// Short items are padded so that every line has the header's width.
	for i := len(cells); i < cw.width; i++ {
		if i > 0 {
			cw.w.WriteByte(cw.delim)
		}
	}
	return cw.eol()
}

func (cw *csvWriter) eol() error {
	if cw.crlf {
		cw.w.WriteByte('\r')
	}
	return cw.w.WriteByte('\n')
}

func (cw *csvWriter) field(c []byte, guard bool) {
	prefix := guard && formulaLike(c)
	if !csvcell.NeedsQuotes(c, cw.delim) {
		if prefix {
			cw.w.WriteByte('\'')
		}
		cw.w.Write(c)
		return
	}
	cw.w.WriteByte('"')
	if prefix {
		cw.w.WriteByte('\'')
	}
	for {
		i := bytes.IndexByte(c, '"')
		if i < 0 {
			cw.w.Write(c)
			break
		}
		cw.w.Write(c[:i+1])
		cw.w.WriteByte('"')
		c = c[i+1:]
	}
	cw.w.WriteByte('"')
}

// formulaLike reports whether Excel (or LibreOffice) would run the cell as a formula: it starts
// with = + - @, a tab or a CR. Plain numbers ("-500", "+79001234567", "-12,50") are data, not
// formulas, and are left alone so that negative sums stay numbers.
func formulaLike(c []byte) bool {
	if len(c) == 0 {
		return false
	}
	switch c[0] {
	case '=', '@', '\t', '\r':
		return true
	case '+', '-':
		return !isPlainNumber(c[1:])
	}
	return false
}

func isPlainNumber(c []byte) bool {
	if len(c) == 0 {
		return false
	}
	seps := 0
	for i, b := range c {
		switch {
		case b >= '0' && b <= '9':
		case (b == '.' || b == ',') && i > 0 && i < len(c)-1:
			seps++
		default:
			return false
		}
	}
	return seps <= 1
}

// jsonlWriter writes one JSON object per item. Keys are pre-encoded once; duplicate titles get
// " (2)", " (3)"... so that no value is lost to a repeated key.
type jsonlWriter struct {
	w    *bufio.Writer
	keys [][]byte
	prep cellPrep
	pick []int
	buf  []byte
}

func (jw *jsonlWriter) header(names []string) error {
	seen := map[string]int{}
	jw.keys = make([][]byte, len(names))
	for i, n := range names {
		k := n
		if c := seen[n]; c > 0 {
			k = fmt.Sprintf("%s (%d)", n, c+1)
		}
		seen[n]++
		jw.keys[i] = append(jsonstr.Append(nil, k), ':')
	}
	return nil
}

func (jw *jsonlWriter) row(cells [][]byte) error {
	b := append(jw.buf[:0], '{')
	n := 0
	put := func(key []byte, c []byte) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, key...)
		b = jsonstr.Append(b, jw.prep.cell(c))
	}
	if jw.pick != nil {
		for i, j := range jw.pick {
			var c []byte
			if j < len(cells) {
				c = cells[j]
			}
			put(jw.keys[i], c)
		}
	} else {
		for i, c := range cells {
			if i < len(jw.keys) {
				put(jw.keys[i], c)
			} else {
				// An item wider than fields: keep the extra cells under their position.
				put(append(jsonstr.Append(nil, "#"+strconv.Itoa(i+1)), ':'), c)
			}
		}
		for i := len(cells); i < len(jw.keys); i++ {
			put(jw.keys[i], nil)
		}
	}
	b = append(b, '}', '\n')
	jw.buf = b
	_, err := jw.w.Write(b)
	return err
}

// newRowWriter builds the writer for the options.
func newRowWriter(w *bufio.Writer, o *Options, pick []int) rowWriter {
	prep := cellPrep{normalize: o.Normalize}
	if o.Format == FormatXLSX {
		return newXLSXWriter(w, o, pick, o.sheetRows)
	}
	if o.Format == FormatJSONL {
		return &jsonlWriter{w: w, prep: prep, pick: pick}
	}
	delim := o.Delimiter
	if delim == 0 {
		delim = ','
	}
	return &csvWriter{w: w, delim: delim, crlf: o.CRLF, escapeFormulas: o.EscapeFormulas, prep: prep, pick: pick}
}
