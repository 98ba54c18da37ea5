package importer

import (
	"archive/zip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Workbook reads the rows of one sheet of an .xlsx file, streaming the sheet's XML straight
// from the zip, so that memory does not grow with the number of rows. Every cell reaches the
// mapping as text, the way design.md says:
//
//   - a text cell as it is;
//   - a number as its exact decimal, never an exponent or grouping (79001234567, 9990.5): the
//     stored value is read, not the displayed one, and a fraction with more than the 15
//     significant digits Excel shows (0.30000000000000004 from a formula) is rounded to them;
//   - a date or date-time (a number whose format is a date format: the built-in ids and any
//     custom code with date or time tokens) as YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, whatever its
//     display format; a time-only format as HH:MM:SS;
//   - a boolean as TRUE or FALSE, an error value as shown (#N/A), a formula as its cached result.
//
// Empty rows are skipped; Row.Line is the sheet's row number. The header is the first row that
// holds anything. excelize's own row iterator returns strings only (the raw or the formatted
// value, without the cell's type or style), which cannot tell a date from a number or TRUE from
// 1, so the sheet is read here; excelize converts Excel's day numbers to dates.
//
// Shared strings (the workbook's table of distinct texts, which Excel uses for every text cell)
// are held in memory up to 8 MiB and the rest in a temporary file (see sharedStrings), so
// memory stays bounded whatever the size of the workbook.
type Workbook struct {
	name     string
	sheet    string
	f        *os.File
	rc       io.ReadCloser
	dec      *xml.Decoder
	sst      sharedStrings
	formats  []cellFormat // by style index (cellXfs)
	date1904 bool
	header   []string
	width    int
	lastRow  int // the row number of the last <row>
	done     bool

	// per-row scratch
	text []byte
}

// cellFormat is what a cell style says about its number format.
type cellFormat uint8

const (
	fmtNumber   cellFormat = iota
	fmtDate                // a date, perhaps with a time
	fmtDateTime            // shows a time of day along with a date
	fmtTime                // a time of day alone
)

// WorkbookError is a workbook that cannot be read (a missing sheet, a damaged or foreign file).
// It reads like `contacts.xlsx: the workbook has no sheet "Лиды"; its sheets are "Контакты", "Сделки"`.
type WorkbookError struct {
	File string
	Msg  string
}

func (e *WorkbookError) Error() string { return e.File + ": " + e.Msg }

// OpenWorkbook opens a workbook and reads the header of the sheet named sheet ("" for the first).
func OpenWorkbook(name, sheet string) (*Workbook, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	w, err := newWorkbook(f, name, sheet)
	if err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func newWorkbook(f *os.File, name, sheet string) (*Workbook, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, &WorkbookError{File: name, Msg: fmt.Sprintf("the workbook is damaged and cannot be read (%v); open it in Excel, save it again as .xlsx and retry", err)}
	}
	pkg := newPackage(zr)
	damaged := func(part string, err error) error {
		return &WorkbookError{File: name, Msg: fmt.Sprintf("the workbook is damaged: %s cannot be read (%v); open it in Excel, save it again as .xlsx and retry", part, err)}
	}
	wbPath := pkg.officeDocument()
	if pkg.file(wbPath) == nil {
		if pkg.file("mimetype") != nil || pkg.file("content.xml") != nil {
			return nil, &WorkbookError{File: name, Msg: "this is an OpenDocument spreadsheet (.ods), not an Excel workbook; save it as .xlsx (Excel 2007-365) or CSV and retry"}
		}
		return nil, &WorkbookError{File: name, Msg: "this is a zip archive but not an Excel workbook (it has no workbook part); save the spreadsheet as .xlsx or CSV and retry"}
	}
	var wb xWorkbook
	if err := pkg.decode(wbPath, &wb); err != nil {
		return nil, damaged(wbPath, err)
	}
	rels, err := pkg.rels(wbPath)
	if err != nil {
		return nil, damaged(wbPath+" relationships", err)
	}
	if len(wb.Sheets) == 0 {
		return nil, &WorkbookError{File: name, Msg: "the workbook has no sheets"}
	}
	chosen := -1
	if sheet == "" {
		chosen = 0
	} else {
		for i, s := range wb.Sheets {
			if s.Name == sheet {
				chosen = i
				break
			}
		}
		if chosen < 0 {
			for i, s := range wb.Sheets {
				if strings.EqualFold(strings.TrimSpace(s.Name), strings.TrimSpace(sheet)) {
					chosen = i
					break
				}
			}
		}
		if chosen < 0 {
			names := make([]string, len(wb.Sheets))
			for i, s := range wb.Sheets {
				names[i] = strconv.Quote(s.Name)
			}
			return nil, &WorkbookError{File: name, Msg: fmt.Sprintf("the workbook has no sheet %q (the mapping's xlsx: {sheet: ...}); its sheets are %s", sheet, strings.Join(names, ", "))}
		}
	}
	s := wb.Sheets[chosen]
	target := ""
	for _, r := range rels {
		if r.ID == s.relID() {
			target = resolvePart(wbPath, r.Target)
		}
	}
	if target == "" || pkg.file(target) == nil {
		return nil, &WorkbookError{File: name, Msg: fmt.Sprintf("sheet %q has no data part (is it a chart sheet?); pick a sheet with rows in the mapping's xlsx: {sheet: ...}", s.Name)}
	}

	w := &Workbook{name: name, sheet: s.Name, f: f, date1904: wb.Pr.Date1904 == "1" || wb.Pr.Date1904 == "true"}
	opened := false
	defer func() {
		if !opened {
			w.sst.close() // the string table's temporary files, if it spilled
		}
	}()
	for _, r := range rels {
		p := resolvePart(wbPath, r.Target)
		switch path.Base(r.Type) {
		case "styles":
			if err := w.readStyles(pkg, p); err != nil {
				return nil, damaged(p, err)
			}
		case "sharedStrings":
			if err := w.readSharedStrings(pkg, p); err != nil {
				return nil, damaged(p, err)
			}
		}
	}
	w.rc, err = pkg.file(target).Open()
	if err != nil {
		return nil, damaged(target, err)
	}
	w.dec = xml.NewDecoder(w.rc)
	if err := w.readHeader(); err != nil {
		w.rc.Close()
		return nil, err
	}
	opened = true
	return w, nil
}

// Header returns the column names, trimmed of surrounding spaces.
func (w *Workbook) Header() []string { return w.header }

// Name returns the file's name as given.
func (w *Workbook) Name() string { return w.name }

// Sheet returns the name of the sheet being read.
func (w *Workbook) Sheet() string { return w.sheet }

// Close closes the file.
func (w *Workbook) Close() error {
	if w.f == nil {
		return nil
	}
	err := errors.Join(w.rc.Close(), w.f.Close(), w.sst.close())
	w.f = nil
	return err
}

func (w *Workbook) readHeader() error {
	for {
		_, cells, err := w.nextRow()
		if err == io.EOF {
			return &WorkbookError{File: w.name, Msg: fmt.Sprintf("sheet %q is empty: expected a header row with the column names", w.sheet)}
		}
		if err != nil {
			return err
		}
		n := len(cells)
		for n > 0 && strings.TrimSpace(cells[n-1]) == "" {
			n--
		}
		if n == 0 {
			continue
		}
		// Columns without a name, or sharing one, are a problem only for a mapping that reads
		// them (Compile says so); CRM workbooks often have a blank or repeated title somewhere.
		header := make([]string, n)
		for i, c := range cells[:n] {
			header[i] = strings.TrimSpace(c)
		}
		w.header, w.width = header, n
		return nil
	}
}

// Next returns the next row that holds anything. It returns io.EOF after the last row; any
// other error means the sheet cannot be read on. A row with a value right of the header's last
// column carries a *RowError and all its cells.
func (w *Workbook) Next() (Row, error) {
	for {
		line, cells, err := w.nextRow()
		if err != nil {
			return Row{}, err
		}
		n := len(cells)
		for n > 0 && cells[n-1] == "" {
			n--
		}
		empty := true
		for _, c := range cells[:n] {
			if strings.TrimSpace(c) != "" {
				empty = false
				break
			}
		}
		if empty {
			continue
		}
		row := Row{Line: line}
		if n > w.width {
			row.Cells = cells[:n]
			row.Err = &RowError{File: w.name, Line: line, Msg: fmt.Sprintf("cell %s%d holds a value, but the header ends at column %s; give that column a name or clear the cell", columnLetters(n-1), line, columnLetters(w.width-1))}
			return row, nil
		}
		for len(cells) < w.width {
			cells = append(cells, "")
		}
		row.Cells = cells[:w.width]
		return row, nil
	}
}

// nextRow reads the next <row> element: its number and its cells, placed by their references.
func (w *Workbook) nextRow() (int, []string, error) {
	if w.done {
		return 0, nil, io.EOF
	}
	for {
		tok, err := w.dec.RawToken()
		if err == io.EOF {
			w.done = true
			return 0, nil, io.EOF
		}
		if err != nil {
			return 0, nil, w.readErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "row" {
				line := w.lastRow + 1
				if r := attr(t, "r"); r != "" {
					n, err := strconv.Atoi(r)
					if err != nil || n < 1 {
						return 0, nil, w.readErr(fmt.Errorf("row number %q", r))
					}
					line = n
				}
				w.lastRow = line
				cells, err := w.rowCells(line)
				return line, cells, err
			}
		case xml.EndElement:
			if t.Name.Local == "sheetData" {
				w.done = true
				return 0, nil, io.EOF
			}
		}
	}
}

func (w *Workbook) readErr(err error) error {
	return &WorkbookError{File: w.name, Msg: fmt.Sprintf("sheet %q is damaged (%v); open the workbook in Excel, save it again and retry", w.sheet, err)}
}

// rowCells reads the cells of a row up to its end tag.
func (w *Workbook) rowCells(line int) ([]string, error) {
	var cells []string
	col := -1
	for {
		tok, err := w.dec.RawToken()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, w.readErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "c" {
				if err := skipRaw(w.dec); err != nil {
					return nil, w.readErr(err)
				}
				continue
			}
			col++
			if r := attr(t, "r"); r != "" {
				c, _, err := excelize.CellNameToCoordinates(r)
				if err != nil {
					return nil, w.readErr(fmt.Errorf("cell reference %q", r))
				}
				col = c - 1
			}
			val, err := w.cell(t, line, col)
			if err != nil {
				return nil, err
			}
			if val == "" {
				continue
			}
			for len(cells) < col {
				cells = append(cells, "")
			}
			cells = append(cells, val)
		case xml.EndElement:
			if t.Name.Local == "row" {
				return cells, nil
			}
		}
	}
}

// cell reads one <c> element and returns its value as text.
func (w *Workbook) cell(start xml.StartElement, line, col int) (string, error) {
	typ, style := "n", 0
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "t":
			typ = a.Value
		case "s":
			style, _ = strconv.Atoi(a.Value)
		}
	}
	var v, inline []byte
	hasV := false
	depth := 0
	into := "" // the element whose text is being collected: v, or t inside is
	skipPh := 0
	for {
		tok, err := w.dec.RawToken()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", w.readErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch t.Name.Local {
			case "v":
				into, hasV = "v", true
			case "t":
				if skipPh == 0 {
					into = "t"
				}
			case "rPh":
				skipPh++ // phonetic guides of East Asian text are not part of the value
			}
		case xml.EndElement:
			if depth == 0 {
				return w.value(typ, style, v, inline, hasV, line, col)
			}
			depth--
			switch t.Name.Local {
			case "v", "t":
				into = ""
			case "rPh":
				skipPh--
			}
		case xml.CharData:
			switch into {
			case "v":
				v = append(v, t...)
			case "t":
				inline = append(inline, t...)
			}
		}
	}
}

// value turns a cell's stored value into the text the mapping sees.
func (w *Workbook) value(typ string, style int, v, inline []byte, hasV bool, line, col int) (string, error) {
	switch typ {
	case "s":
		if !hasV {
			return "", nil
		}
		i, err := strconv.Atoi(strings.TrimSpace(string(v)))
		s, ok, gerr := w.sst.get(i)
		if gerr != nil {
			return "", w.readErr(gerr)
		}
		if err != nil || !ok {
			return "", w.readErr(fmt.Errorf("cell %s%d points to shared string %q, which does not exist", columnLetters(col), line, v))
		}
		return s, nil
	case "inlineStr":
		if inline == nil && hasV {
			return unescapeText(string(v)), nil
		}
		return unescapeText(string(inline)), nil
	case "str":
		return unescapeText(string(v)), nil
	case "b":
		switch strings.TrimSpace(string(v)) {
		case "1", "true":
			return "TRUE", nil
		case "0", "false":
			return "FALSE", nil
		}
		return string(v), nil
	case "e":
		return string(v), nil
	case "d":
		return isoDateCell(strings.TrimSpace(string(v))), nil
	}
	raw := strings.TrimSpace(string(v))
	if raw == "" {
		return "", nil
	}
	f := fmtNumber
	if style >= 0 && style < len(w.formats) {
		f = w.formats[style]
	}
	if f != fmtNumber {
		if serial, err := strconv.ParseFloat(raw, 64); err == nil && serial >= 0 {
			if s, ok := w.dateText(serial, f); ok {
				return s, nil
			}
		}
	}
	if d, ok := plainDecimal(raw); ok {
		return d, nil
	}
	return raw, nil
}

// dateText writes a day number as a date, a date-time or a time.
func (w *Workbook) dateText(serial float64, f cellFormat) (string, bool) {
	if serial > 2958465 { // past 9999-12-31: not a date whatever the format says
		return "", false
	}
	t, err := excelize.ExcelDateToTime(serial, w.date1904)
	if err != nil {
		return "", false
	}
	// Excel keeps times as fractions of a day; round to the second the user typed.
	t = t.Add(500 * time.Millisecond).Truncate(time.Second)
	switch {
	case f == fmtTime && serial < 1:
		return t.Format("15:04:05"), true
	case f == fmtDateTime || f == fmtTime || t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0:
		return t.Format("2006-01-02 15:04:05"), true
	}
	return t.Format("2006-01-02"), true
}

// isoDateCell reads the ISO 8601 value of a t="d" cell.
func isoDateCell(v string) string {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(l, v); err == nil {
			if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && len(v) <= 10 {
				return t.Format("2006-01-02")
			}
			return t.Format("2006-01-02 15:04:05")
		}
	}
	return v
}

// plainDecimal writes a stored number ("7.9001234567E10", "9990.5", "-1E-3") as a plain
// decimal without exponent. Integers keep every digit; a fraction with more than 15
// significant digits is rounded to 15, the precision Excel shows.
func plainDecimal(raw string) (string, bool) {
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	neg, digits, exp, ok := splitDecimal(raw)
	if !ok {
		return "", false
	}
	// digits × 10^exp, digits without leading zeros.
	if exp < 0 && len(digits) > 15 {
		// Only fractions are rounded: 0.1+0.2 is stored as 0.30000000000000004.
		neg, digits, exp, _ = splitDecimal(strconv.FormatFloat(f, 'e', 14, 64))
	}
	// Trailing zeros of the fraction go.
	for exp < 0 && len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if len(digits) == 0 {
		return "0", true
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case exp >= 0:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", exp))
	case -exp >= len(digits):
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -exp-len(digits)))
		b.WriteString(digits)
	default:
		b.WriteString(digits[:len(digits)+exp])
		b.WriteByte('.')
		b.WriteString(digits[len(digits)+exp:])
	}
	return b.String(), true
}

// splitDecimal splits a decimal number in any notation into sign, significant digits and a
// power of ten.
func splitDecimal(s string) (neg bool, digits string, exp int, ok bool) {
	if s == "" {
		return false, "", 0, false
	}
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	mant := s
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			return false, "", 0, false
		}
		exp, mant = e, s[:i]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	all := intPart + frac
	for _, c := range all {
		if c < '0' || c > '9' {
			return false, "", 0, false
		}
	}
	exp -= len(frac)
	all = strings.TrimLeft(all, "0")
	if all == "" {
		return false, "", 0, true
	}
	return neg, all, exp, true
}

// unescapeText decodes Excel's _xHHHH_ escapes (characters XML cannot hold, such as a CR).
func unescapeText(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '_' && i+7 <= len(s) && s[i+1] == 'x' && s[i+6] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				b.WriteRune(rune(n))
				i += 7
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// skipRaw skips to the end of the element just started. (Decoder.Skip reads with Token,
// which would object to an end tag whose start RawToken read.)
func skipRaw(d *xml.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := d.RawToken()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// columnLetters names column i (0-based) as Excel does: A, B, ..., Z, AA.
func columnLetters(i int) string {
	name, err := excelize.ColumnNumberToName(i + 1)
	if err != nil {
		return strconv.Itoa(i + 1)
	}
	return name
}

// readStyles reads each cell style's number format and classifies it.
func (w *Workbook) readStyles(pkg *zipPackage, name string) error {
	if pkg.file(name) == nil {
		return nil
	}
	var ss xStyleSheet
	if err := pkg.decode(name, &ss); err != nil {
		return err
	}
	custom := make(map[int]string, len(ss.NumFmts))
	for _, nf := range ss.NumFmts {
		custom[nf.ID] = nf.Code
	}
	w.formats = make([]cellFormat, len(ss.CellXfs))
	for i, xf := range ss.CellXfs {
		if code, ok := custom[xf.NumFmtID]; ok {
			w.formats[i] = classifyFormatCode(code)
		} else {
			w.formats[i] = builtinFormat(xf.NumFmtID)
		}
	}
	return nil
}

// builtinFormat classifies Excel's built-in number formats (ECMA-376 18.8.30), including the
// locale-dependent date ids of East Asian and Thai Excel.
func builtinFormat(id int) cellFormat {
	switch {
	case id == 14 || id == 15 || id == 16 || id == 17:
		return fmtDate
	case id == 18 || id == 19 || id == 20 || id == 21 || id == 45 || id == 47:
		return fmtTime
	case id == 22:
		return fmtDateTime
	case id >= 27 && id <= 36, id >= 50 && id <= 58, id >= 71 && id <= 81:
		return fmtDate
	}
	return fmtNumber // 46 ([h]:mm:ss) is a duration, not a date
}

// classifyFormatCode tells whether a custom format code shows a date or a time: it has date or
// time tokens (y m d h s, AM/PM) outside quoted text, escapes and [brackets]. Elapsed-time
// codes ([h]:mm) are durations and stay numbers.
func classifyFormatCode(code string) cellFormat {
	var date, tm bool
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch c {
		case ';':
			i = len(code) // only the first section (positive numbers) matters
		case '"':
			j := strings.IndexByte(code[i+1:], '"')
			if j < 0 {
				i = len(code)
			} else {
				i += j + 1
			}
		case '\\', '_', '*':
			i++
		case '[':
			j := strings.IndexByte(code[i+1:], ']')
			if j < 0 {
				i = len(code)
				continue
			}
			inner := strings.ToLower(code[i+1 : i+1+j])
			if inner != "" && strings.Trim(inner, "hms") == "" {
				return fmtNumber // elapsed time
			}
			i += j + 1
		case 'y', 'Y', 'd', 'D':
			date = true
		case 'm', 'M':
			date = true // month or minute: a date-ish code either way
		case 'h', 'H', 's', 'S':
			tm = true
		case 'a', 'A':
			if strings.HasPrefix(strings.ToUpper(code[i:]), "AM/PM") || strings.HasPrefix(strings.ToUpper(code[i:]), "A/P") {
				tm = true
			}
		case 'g', 'G':
			if strings.HasPrefix(strings.ToLower(code[i:]), "general") {
				i += len("general") - 1
			}
		}
	}
	switch {
	case tm && hasDatePart(code):
		return fmtDateTime
	case tm:
		return fmtTime
	case date:
		return fmtDate
	}
	return fmtNumber
}

// hasDatePart reports whether a code with time tokens also shows a date (y or d; m alone is
// read as minutes next to h or s).
func hasDatePart(code string) bool {
	lc := strings.ToLower(code)
	return strings.ContainsAny(lc, "yd")
}

// readSharedStrings loads the string table, streaming its XML.
func (w *Workbook) readSharedStrings(pkg *zipPackage, name string) error {
	zf := pkg.file(name)
	if zf == nil {
		return nil
	}
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := xml.NewDecoder(rc)
	inSI, inT, ph := false, false, 0
	var cur []byte
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			return w.sst.finish()
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "si":
				inSI, cur = true, cur[:0]
			case "t":
				inT = inSI && ph == 0
			case "rPh":
				ph++
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				inSI = false
				if err := w.sst.add(unescapeText(string(cur))); err != nil {
					return err
				}
			case "t":
				inT = false
			case "rPh":
				ph--
			}
		case xml.CharData:
			if inT {
				cur = append(cur, t...)
			}
		}
	}
}

// zipPackage finds the parts of an Office package by name, ignoring case as Office does.
type zipPackage struct {
	files map[string]*zip.File
}

func newPackage(zr *zip.Reader) *zipPackage {
	p := &zipPackage{files: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		p.files[strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "/"))] = f
	}
	return p
}

func (p *zipPackage) file(name string) *zip.File {
	return p.files[strings.ToLower(strings.TrimPrefix(name, "/"))]
}

func (p *zipPackage) decode(name string, v any) error {
	zf := p.file(name)
	if zf == nil {
		return fmt.Errorf("%s is missing", name)
	}
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return xml.NewDecoder(rc).Decode(v)
}

// officeDocument is the workbook part the package's relationships name (xl/workbook.xml).
func (p *zipPackage) officeDocument() string {
	var rels xRels
	if p.decode("_rels/.rels", &rels) == nil {
		for _, r := range rels.Rels {
			if path.Base(r.Type) == "officeDocument" {
				return resolvePart("", r.Target)
			}
		}
	}
	return "xl/workbook.xml"
}

// rels reads the relationships of a part (xl/_rels/workbook.xml.rels for xl/workbook.xml).
func (p *zipPackage) rels(part string) ([]xRel, error) {
	name := path.Join(path.Dir(part), "_rels", path.Base(part)+".rels")
	var rels xRels
	if err := p.decode(name, &rels); err != nil {
		return nil, err
	}
	return rels.Rels, nil
}

// resolvePart resolves a relationship target against the part that names it.
func resolvePart(from, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Join(path.Dir(from), target), "/")
}

type xRels struct {
	Rels []xRel `xml:"Relationship"`
}

type xRel struct {
	ID     string `xml:"Id,attr"`
	Type   string `xml:"Type,attr"`
	Target string `xml:"Target,attr"`
}

type xWorkbook struct {
	Pr struct {
		Date1904 string `xml:"date1904,attr"`
	} `xml:"workbookPr"`
	Sheets []xSheet `xml:"sheets>sheet"`
}

type xSheet struct {
	Name  string     `xml:"name,attr"`
	Attrs []xml.Attr `xml:",any,attr"`
}

// relID is the sheet's r:id, whatever prefix the namespace has (strict OOXML uses another).
func (s xSheet) relID() string {
	for _, a := range s.Attrs {
		if a.Name.Local == "id" && a.Name.Space != "" {
			return a.Value
		}
	}
	return ""
}

type xStyleSheet struct {
	NumFmts []struct {
		ID   int    `xml:"numFmtId,attr"`
		Code string `xml:"formatCode,attr"`
	} `xml:"numFmts>numFmt"`
	CellXfs []struct {
		NumFmtID int `xml:"numFmtId,attr"`
	} `xml:"cellXfs>xf"`
}
