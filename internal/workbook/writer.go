// Package workbook writes .xlsx workbooks as a stream: the zip and its few XML parts are written
// straight to the destination, row by row, so memory stays flat whatever the number of rows.
//
// excelize's StreamWriter spills rows to a temporary file, but its SaveAs and WriteTo assemble
// the whole zip in a bytes.Buffer (about 0.5 KiB per 29-column row); a workbook of text cells
// needs only [Content_Types].xml, two relationship parts, workbook.xml, styles.xml and one XML
// part per sheet, which are simple enough to write directly.
//
// Every cell is a text cell (an inline string) unless the caller types it as a number or a
// date, so phones keep their "+", long ids their digits, and a value such as "=SUM(A1)" stays
// text: nothing is ever written as a formula. The header row is bold and frozen and carries an
// autofilter; column widths come from the header and the first rows. Past MaxRows data rows a
// new sheet starts, with the header repeated.
package workbook

import (
	"archive/zip"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxRows is how many data rows fit on one sheet below the header: Excel's limit of
// 1,048,576 rows less one.
const MaxRows = 1<<20 - 1

// Kind is how a cell is written.
type Kind uint8

// Cell kinds.
const (
	// Text is an inline string: shown and read back exactly as given.
	Text Kind = iota
	// Number is a numeric cell; the value must be a plain decimal such as -12.50.
	Number
	// Date is a date cell shown as yyyy-mm-dd; the value is YYYY-MM-DD.
	Date
	// DateTime is a date-time cell shown as yyyy-mm-dd hh:mm:ss; the value is
	// YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS.
	DateTime
)

// Style indexes in styles.xml (cellXfs).
const (
	styleNormal   = 0
	styleBold     = 1
	styleDate     = 2
	styleDateTime = 3
)

// widthRows is how many data rows (besides the header) the column widths are measured on.
const widthRows = 100

// Options configure a Writer.
type Options struct {
	// SheetName names the first sheet (default "Sheet1"); further sheets add " (2)", " (3)"...
	SheetName string
	// MaxRows is the number of data rows per sheet (default and at most MaxRows); tests lower it.
	MaxRows int
}

// Writer writes one workbook. It is not safe for concurrent use.
type Writer struct {
	zw     *zip.Writer
	opts   Options
	header []string
	colRef [][]byte // "A", "B", ... per column
	sheets []sheetInfo
	part   io.Writer // the open sheet part (the zip entry), nil between sheets
	// The sheet's XML is built in buf and handed, a chunk at a time, to a goroutine that
	// compresses it while the next chunk is built: deflate is about half the cost. spare is
	// the chunk being compressed (reused once it is done), inflight its result.
	spare    []byte
	inflight chan error
	rowNum   int          // the sheet row last written (1 = header)
	pending  []pendingRow // the first rows of the first sheet, held to measure widths
	widths   []float64
	started  bool // the first sheet's head is written
	buf      []byte
	err      error
}

// chunkSize is how much sheet XML is compressed at a time.
const chunkSize = 256 << 10

type sheetInfo struct {
	name    string
	lastRow int
}

type pendingRow struct {
	cells [][]byte
	kinds []Kind
}

// New starts a workbook on w. The caller writes the header, the rows, then calls Close, which
// writes the remaining parts and the zip's directory; it does not close w.
func New(w io.Writer, o Options) *Writer {
	if o.SheetName == "" {
		o.SheetName = "Sheet1"
	}
	if o.MaxRows <= 0 || o.MaxRows > MaxRows {
		o.MaxRows = MaxRows
	}
	zw := zip.NewWriter(w)
	// Deflate at its fastest level: sheet XML is highly repetitive, so the size gained by a
	// higher level is small and the time several times larger.
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	return &Writer{zw: zw, opts: o}
}

// Header sets the column names, written bold as the first row of every sheet. It must be called
// once, before any row.
func (w *Writer) Header(names []string) error {
	if w.header != nil || w.started {
		return errors.New("workbook: header written twice")
	}
	w.header = append([]string{}, names...)
	if w.header == nil {
		w.header = []string{}
	}
	w.widths = make([]float64, len(names))
	for i, n := range names {
		w.measure(i, []byte(n), Text)
	}
	return nil
}

// Row writes one data row. kinds may be nil (every cell text) or give each cell's kind. Cells
// are copied when they must be kept, so the caller may reuse them after Row returns.
func (w *Writer) Row(cells [][]byte, kinds []Kind) error {
	if w.err != nil {
		return w.err
	}
	if !w.started {
		if len(w.pending) < widthRows {
			p := pendingRow{cells: make([][]byte, len(cells))}
			for i, c := range cells {
				p.cells[i] = append([]byte(nil), c...)
				k := Text
				if i < len(kinds) {
					k = kinds[i]
				}
				w.measure(i, c, k)
			}
			if kinds != nil {
				p.kinds = append([]Kind(nil), kinds...)
			}
			w.pending = append(w.pending, p)
			return nil
		}
		if err := w.start(); err != nil {
			return err
		}
	}
	return w.row(cells, kinds)
}

// RowStrings is Row for string cells, all text.
func (w *Writer) RowStrings(cells []string) error {
	b := make([][]byte, len(cells))
	for i, c := range cells {
		b[i] = []byte(c)
	}
	return w.Row(b, nil)
}

// Close ends the last sheet and writes the workbook's other parts and the zip directory. The
// workbook is complete only when Close returns nil.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if !w.started {
		if err := w.start(); err != nil {
			return err
		}
	}
	if err := w.endSheet(); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		body string
	}{
		{"[Content_Types].xml", w.contentTypes()},
		{"_rels/.rels", rootRels},
		{"xl/workbook.xml", w.workbookXML()},
		{"xl/_rels/workbook.xml.rels", w.workbookRels()},
		{"xl/styles.xml", stylesXML},
	} {
		if err := w.writePart(p.name, p.body); err != nil {
			return err
		}
	}
	if err := w.zw.Close(); err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("workbook: %w", err)
	}
	return w.err
}

func (w *Writer) writePart(name, body string) error {
	pw, err := w.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: partTime})
	if err != nil {
		return w.fail(err)
	}
	if _, err := io.WriteString(pw, body); err != nil {
		return w.fail(err)
	}
	return nil
}

// partTime is the modification time of every part: fixed, so that the same rows give the same
// bytes.
var partTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// start writes the first sheet's head and the rows held for measuring.
func (w *Writer) start() error {
	w.started = true
	if w.header == nil {
		w.header = []string{}
	}
	if err := w.newSheet(); err != nil {
		return err
	}
	pending := w.pending
	w.pending = nil
	for _, p := range pending {
		if err := w.row(p.cells, p.kinds); err != nil {
			return err
		}
	}
	return nil
}

// measure widens column i to fit c.
func (w *Writer) measure(i int, c []byte, k Kind) {
	for len(w.widths) <= i {
		w.widths = append(w.widths, 0)
	}
	n := 0.0
	switch k {
	case Date:
		n = 10
	case DateTime:
		n = 19
	default:
		// The longest line of the cell, in characters.
		line := 0
		for _, r := range string(c) {
			if r == '\n' {
				line = 0
				continue
			}
			line++
			n = math.Max(n, float64(line))
		}
	}
	w.widths[i] = math.Max(w.widths[i], n)
}

func (w *Writer) newSheet() error {
	name := w.opts.SheetName
	if n := len(w.sheets); n > 0 {
		name = fmt.Sprintf("%s (%d)", w.opts.SheetName, n+1)
	}
	w.sheets = append(w.sheets, sheetInfo{name: name})
	fw, err := w.zw.CreateHeader(&zip.FileHeader{
		Name: fmt.Sprintf("xl/worksheets/sheet%d.xml", len(w.sheets)), Method: zip.Deflate, Modified: partTime})
	if err != nil {
		return w.fail(err)
	}
	w.part = fw
	b := append(w.buf[:0], xmlDecl...)
	b = append(b, `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`...)
	b = append(b, `<sheetViews><sheetView workbookViewId="0"`...)
	if len(w.sheets) == 1 {
		b = append(b, ` tabSelected="1"`...)
	}
	b = append(b, `><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>`...)
	b = append(b, `<sheetFormatPr defaultRowHeight="15"/>`...)
	if len(w.widths) > 0 {
		b = append(b, "<cols>"...)
		for i, n := range w.widths {
			// Excel's width unit is about one digit; a little room for the filter button.
			width := math.Min(math.Max(n+2, 8), 60)
			b = fmt.Appendf(b, `<col min="%d" max="%d" width="%.1f" customWidth="1"/>`, i+1, i+1, width)
		}
		b = append(b, "</cols>"...)
	}
	b = append(b, "<sheetData>"...)
	w.buf = b
	w.rowNum = 0
	hdr := make([][]byte, len(w.header))
	for i, h := range w.header {
		hdr[i] = []byte(h)
	}
	return w.writeRow(hdr, nil, styleBold)
}

func (w *Writer) endSheet() error {
	if w.part == nil {
		return nil
	}
	s := &w.sheets[len(w.sheets)-1]
	s.lastRow = w.rowNum
	b := append(w.buf, "</sheetData>"...)
	if cols := w.columns(); cols > 0 {
		b = append(b, `<autoFilter ref="A1:`...)
		b = append(b, w.ref(cols-1)...)
		b = strconv.AppendInt(b, int64(max(w.rowNum, 1)), 10)
		b = append(b, `"/>`...)
	}
	b = append(b, "</worksheet>"...)
	w.buf = b
	if err := w.compress(); err != nil {
		return err
	}
	if err := w.wait(); err != nil {
		return err
	}
	w.part = nil
	return nil
}

// compress hands the XML built so far to a goroutine that writes it into the zip entry, after
// the previous chunk is done (the zip entry takes one writer at a time, in order). Each
// goroutine ends by itself after its one write, so a Writer abandoned without Close leaks none.
func (w *Writer) compress() error {
	if err := w.wait(); err != nil {
		return err
	}
	data, part := w.buf, w.part
	w.buf, w.spare = w.spare[:0], data
	done := make(chan error, 1)
	w.inflight = done
	go func() {
		_, err := part.Write(data)
		done <- err
	}()
	return nil
}

// wait waits for the chunk being compressed.
func (w *Writer) wait() error {
	if w.inflight == nil {
		return nil
	}
	err := <-w.inflight
	w.inflight = nil
	if err != nil {
		return w.fail(err)
	}
	return nil
}

// columns is the filter's width: the header's.
func (w *Writer) columns() int { return len(w.header) }

func (w *Writer) row(cells [][]byte, kinds []Kind) error {
	if w.rowNum-1 >= w.opts.MaxRows {
		if err := w.endSheet(); err != nil {
			return err
		}
		if err := w.newSheet(); err != nil {
			return err
		}
	}
	return w.writeRow(cells, kinds, styleNormal)
}

// ref returns the column letters of column i (0-based).
func (w *Writer) ref(i int) []byte {
	for len(w.colRef) <= i {
		w.colRef = append(w.colRef, []byte(columnName(len(w.colRef))))
	}
	return w.colRef[i]
}

func columnName(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('A' + (i-1)%26)}, b...)
	}
	return string(b)
}

func (w *Writer) writeRow(cells [][]byte, kinds []Kind, style int) error {
	w.rowNum++
	num := strconv.AppendInt(make([]byte, 0, 8), int64(w.rowNum), 10)
	b := append(w.buf, `<row r="`...)
	b = append(b, num...)
	b = append(b, `">`...)
	for i, c := range cells {
		if len(c) == 0 {
			continue
		}
		k := Text
		if i < len(kinds) {
			k = kinds[i]
		}
		b = append(b, `<c r="`...)
		b = append(b, w.ref(i)...)
		b = append(b, num...)
		b = append(b, '"')
		switch k {
		case Number:
			b = append(b, `><v>`...)
			b = append(b, c...)
			b = append(b, `</v></c>`...)
			continue
		case Date, DateTime:
			if serial, ok := excelSerial(c); ok {
				s := styleDate
				if k == DateTime {
					s = styleDateTime
				}
				b = append(b, ` s="`...)
				b = strconv.AppendInt(b, int64(s), 10)
				b = append(b, `"><v>`...)
				b = strconv.AppendFloat(b, serial, 'f', -1, 64)
				b = append(b, `</v></c>`...)
				continue
			}
		}
		if style != styleNormal {
			b = append(b, ` s="`...)
			b = strconv.AppendInt(b, int64(style), 10)
			b = append(b, '"')
		}
		b = append(b, ` t="inlineStr"><is><t`...)
		if needsPreserve(c) {
			b = append(b, ` xml:space="preserve"`...)
		}
		b = append(b, '>')
		b = AppendText(b, c)
		b = append(b, `</t></is></c>`...)
	}
	b = append(b, `</row>`...)
	w.buf = b
	if len(b) >= chunkSize {
		return w.compress()
	}
	return nil
}

// needsPreserve reports whether a text has spaces at either end or line breaks, which XML
// readers would otherwise be free to drop.
func needsPreserve(c []byte) bool {
	if len(c) == 0 {
		return false
	}
	first, last := c[0], c[len(c)-1]
	if first == ' ' || first == '\t' || first == '\n' || last == ' ' || last == '\t' || last == '\n' || last == '\r' {
		return true
	}
	return false
}

// AppendText appends c as the text of an XML element in the form spreadsheet programs read
// back exactly: &, < and > escaped; characters XML 1.0 cannot hold (control characters, and a
// CR, which XML readers turn into LF) written as Excel's _xHHHH_ escapes; a literal "_x0041_"
// in the data protected by escaping its underscore (_x005F_); invalid UTF-8 as U+FFFD.
func AppendText(b, c []byte) []byte {
	start := 0
	for i := 0; i < len(c); {
		x := c[i]
		if x < utf8.RuneSelf {
			var esc string
			switch {
			case x == '&':
				esc = "&amp;"
			case x == '<':
				esc = "&lt;"
			case x == '>':
				esc = "&gt;"
			case x < 0x20 && x != '\t' && x != '\n':
				b = append(b, c[start:i]...)
				b = appendEscape(b, rune(x))
				i++
				start = i
				continue
			case x == '_' && looksEscaped(c[i:]):
				esc = "_x005F_"
			default:
				i++
				continue
			}
			b = append(b, c[start:i]...)
			b = append(b, esc...)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(c[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, c[start:i]...)
			b = append(b, "\uFFFD"...)
		case r == 0xFFFE || r == 0xFFFF:
			b = append(b, c[start:i]...)
			b = appendEscape(b, r)
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, c[start:]...)
}

func appendEscape(b []byte, r rune) []byte {
	const hex = "0123456789ABCDEF"
	return append(b, '_', 'x', hex[r>>12&0xF], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF], '_')
}

// looksEscaped reports whether c starts with _xHHHH_, which a reader would decode.
func looksEscaped(c []byte) bool {
	if len(c) < 7 || c[1] != 'x' || c[6] != '_' {
		return false
	}
	for _, h := range c[2:6] {
		if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
			return false
		}
	}
	return true
}

// excelSerial turns YYYY-MM-DD, optionally followed by a space or T and HH:MM[:SS], into
// Excel's day number (days since 1899-12-30, the fraction being the time of day).
func excelSerial(c []byte) (float64, bool) {
	s := string(c)
	layouts := []string{"2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"}
	for _, l := range layouts {
		if len(l) != len(s) {
			continue
		}
		t, err := time.Parse(l, s)
		if err != nil {
			continue
		}
		if t.Year() < 1900 {
			return 0, false // before Excel's calendar: keep it as text
		}
		d := t.Sub(excelEpoch)
		days := math.Floor(d.Hours() / 24)
		secs := d.Seconds() - days*86400
		return days + secs/86400, true
	}
	return 0, false
}

var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)

const xmlDecl = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

const rootRels = xmlDecl + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
	`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>` +
	`</Relationships>`

const stylesXML = xmlDecl + `<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
	`<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd"/><numFmt numFmtId="165" formatCode="yyyy\-mm\-dd\ hh:mm:ss"/></numFmts>` +
	`<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font><font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>` +
	`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
	`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
	`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
	`<cellXfs count="4">` +
	`<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
	`<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>` +
	`<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
	`<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
	`</cellXfs>` +
	`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>` +
	`</styleSheet>`

func (w *Writer) contentTypes() string {
	var b strings.Builder
	b.WriteString(xmlDecl)
	b.WriteString(`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`)
	b.WriteString(`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>`)
	b.WriteString(`<Default Extension="xml" ContentType="application/xml"/>`)
	b.WriteString(`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>`)
	b.WriteString(`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>`)
	for i := range w.sheets {
		fmt.Fprintf(&b, `<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i+1)
	}
	b.WriteString(`</Types>`)
	return b.String()
}

func (w *Writer) workbookXML() string {
	var b strings.Builder
	b.WriteString(xmlDecl)
	b.WriteString(`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`)
	b.WriteString(`<bookViews><workbookView activeTab="0"/></bookViews><sheets>`)
	for i, s := range w.sheets {
		fmt.Fprintf(&b, `<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, string(AppendAttr(nil, s.name)), i+1, i+1)
	}
	b.WriteString(`</sheets>`)
	if cols := w.columns(); cols > 0 {
		// Excel keeps each sheet's filter range in a hidden defined name.
		b.WriteString(`<definedNames>`)
		last := string(w.ref(cols - 1))
		for i, s := range w.sheets {
			quoted := "'" + strings.ReplaceAll(s.name, "'", "''") + "'"
			ref := fmt.Sprintf("%s!$A$1:$%s$%d", quoted, last, max(s.lastRow, 1))
			fmt.Fprintf(&b, `<definedName name="_xlnm._FilterDatabase" localSheetId="%d" hidden="1">%s</definedName>`, i, string(AppendText(nil, []byte(ref))))
		}
		b.WriteString(`</definedNames>`)
	}
	b.WriteString(`</workbook>`)
	return b.String()
}

func (w *Writer) workbookRels() string {
	var b strings.Builder
	b.WriteString(xmlDecl)
	b.WriteString(`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	for i := range w.sheets {
		fmt.Fprintf(&b, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, i+1, i+1)
	}
	fmt.Fprintf(&b, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>`, len(w.sheets)+1)
	b.WriteString(`</Relationships>`)
	return b.String()
}

// AppendAttr appends s escaped for an XML attribute value in double quotes.
func AppendAttr(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			return AppendText(b, []byte(s))
		}
		b = append(AppendText(b, []byte(s[:i])), "&quot;"...)
		s = s[i+1:]
	}
}

// SheetName makes s usable as a sheet name: at most 31 characters, none of : \ / ? * [ ],
// not empty, not starting or ending with an apostrophe.
func SheetName(s string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) {
			return '_'
		}
		return r
	}, s)
	s = strings.Trim(s, "'")
	if r := []rune(s); len(r) > 25 { // room for " (NN)" on later sheets
		s = string(r[:25])
	}
	if strings.TrimSpace(s) == "" {
		return "Sheet1"
	}
	return s
}
