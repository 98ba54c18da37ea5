package importer

import (
	"archive/zip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// readAll opens an input and returns its header and rows.
func readInput(t *testing.T, path string, o InputOptions) ([]string, []Row) {
	t.Helper()
	in, err := OpenInput(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var rows []Row
	for {
		r, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return in.Header(), rows
}

// TestWorkbookOpenpyxlFixture reads a workbook written by openpyxl (see testdata/xlsx/README):
// numbers, dates and times in several display formats, booleans, text that looks like numbers.
func TestWorkbookOpenpyxlFixture(t *testing.T) {
	header, rows := readInput(t, filepath.Join("testdata", "xlsx", "openpyxl-contacts.xlsx"), InputOptions{})
	if got := strings.Join(header, "|"); got != "Имя|Фамилия|Email|Телефон|Дата рождения|Создан|Сумма|ИНН|Активен|Код клиента|Комментарий|Время" {
		t.Fatalf("header %s", got)
	}
	want := []struct {
		line  int
		cells []string
	}{
		{2, []string{"Иван", "Петров", "ivan@example.ru", "79001234567", "1990-05-17", "2024-03-01 12:30:00", "9990.5", "7707083893", "TRUE", "00123", "две\nстроки", "09:15:00"}},
		{4, []string{"Мария", "Иванова", "maria@example.ru", "+7 (921) 555-66-77", "1985-12-31", "2024-01-02 00:00:00", "0.3", "123456789012", "FALSE", "000", "  пробелы  ", ""}},
		{5, []string{"Ольга", "", "olga@example.ru", "89211234567", "2000-02-29", "2023-12-31 23:59:59", "-1234567.25", "+79001234567", "", "007", "\r как текст", ""}},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.Err != nil || r.Line != w.line {
			t.Errorf("row %d: line %d, err %v", i, r.Line, r.Err)
		}
		if len(r.Cells) != len(w.cells) {
			t.Errorf("line %d: %d cells %q", r.Line, len(r.Cells), r.Cells)
			continue
		}
		for j := range w.cells {
			if r.Cells[j] != w.cells[j] {
				t.Errorf("line %d %s: %q, want %q", r.Line, header[j], r.Cells[j], w.cells[j])
			}
		}
	}

	_, deals := readInput(t, filepath.Join("testdata", "xlsx", "openpyxl-contacts.xlsx"), InputOptions{Sheet: "сделки"})
	if len(deals) != 1 || strings.Join(deals[0].Cells, "|") != "A-1|100" {
		t.Errorf("sheet Сделки: %+v", deals)
	}
}

// TestWorkbookExcelizeCells reads a workbook written by excelize's ordinary API (shared strings,
// cell types and styles as excelize writes them), including a formula's cached result and a
// value wider than the header.
func TestWorkbookExcelizeCells(t *testing.T) {
	path := filepath.Join(t.TempDir(), "book.xlsx")
	f := excelize.NewFile()
	set := func(cell string, v any) {
		if err := f.SetCellValue("Sheet1", cell, v); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range []string{"A", "B", "C", " D "} {
		cell, _ := excelize.CoordinatesToCellName(i+1, 3)
		set(cell, h)
	}
	set("A4", int64(12345678901234567))
	set("B4", 1e-7)
	set("C4", "=SUM(A1:A2)") // text that looks like a formula is text
	if err := f.SetCellFormula("Sheet1", "D4", "A4*2"); err != nil {
		t.Fatal(err)
	}
	set("D4", 24691357802469134) // the cached result
	f.SetCellDefault("Sheet1", "A5", "7.9001234567E10")
	f.SetCellDefault("Sheet1", "B5", "-1.5E-3")
	set("C5", "x")
	set("E5", "beyond the header")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f.Close()
	header, rows := readInput(t, path, InputOptions{})
	if strings.Join(header, "|") != "A|B|C|D" {
		t.Errorf("header %q (the first non-empty row, trimmed)", header)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	if got := strings.Join(rows[0].Cells, "|"); got != "12345678901234567|0.0000001|=SUM(A1:A2)|24691357802469134" || rows[0].Line != 4 {
		t.Errorf("line %d: %s", rows[0].Line, got)
	}
	var re *RowError
	if !errors.As(rows[1].Err, &re) || re.Line != 5 || !strings.Contains(re.Msg, "E5") || len(rows[1].Cells) != 5 || rows[1].Cells[0] != "79001234567" || rows[1].Cells[1] != "-0.0015" {
		t.Errorf("line 5: %+v", rows[1])
	}
}

func TestPlainDecimal(t *testing.T) {
	for raw, want := range map[string]string{
		"79001234567": "79001234567", "7.9001234567E10": "79001234567", "9990.5": "9990.5",
		"9990.50": "9990.5", "-0": "0", "0": "0", "1E-3": "0.001", "-1.25E+2": "-125",
		"0.30000000000000004": "0.3", "12345678901234567890": "12345678901234567890",
		"1.2345678901234567E+19": "12345678901234567000", "100": "100", "0.1": "0.1",
		"3.3333333333333335": "3.33333333333333", "45352.52083333334": "45352.5208333333",
	} {
		if got, ok := plainDecimal(raw); !ok || got != want {
			t.Errorf("plainDecimal(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	if _, ok := plainDecimal("abc"); ok {
		t.Error("abc is a number")
	}
}

func TestClassifyFormatCode(t *testing.T) {
	for code, want := range map[string]cellFormat{
		"General": fmtNumber, "0.00": fmtNumber, "#,##0.00 \"₽\"": fmtNumber, "0.00E+00": fmtNumber,
		"#,##0.00;[Red]-#,##0.00": fmtNumber, "[h]:mm:ss": fmtNumber, `"day "0`: fmtNumber, "@": fmtNumber,
		"DD.MM.YYYY": fmtDate, "d mmmm yyyy": fmtDate, "[$-F800]dddd, mmmm dd, yyyy": fmtDate, "mmm-yy": fmtDate,
		"dd/mm/yyyy hh:mm": fmtDateTime, "yyyy-mm-dd h:mm:ss AM/PM": fmtDateTime, "[$-409]m/d/yy h:mm AM/PM;@": fmtDateTime,
		"h:mm": fmtTime, "hh:mm:ss": fmtTime, "mm:ss": fmtTime,
	} {
		if got := classifyFormatCode(code); got != want {
			t.Errorf("%q: %v, want %v", code, got, want)
		}
	}
}

// TestOpenInputRefuses explains files that are not workbooks although named so, and a missing
// sheet, each naming the file.
func TestOpenInputRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	encrypted := filepath.Join(dir, "locked.xlsx")
	f := excelize.NewFile()
	f.SetCellValue("Sheet1", "A1", "Email")
	if err := f.SaveAs(encrypted, excelize.Options{Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	good, _ := os.ReadFile(filepath.Join("testdata", "xlsx", "openpyxl-contacts.xlsx"))
	xls, _ := os.ReadFile(filepath.Join("testdata", "xlsx", "old-binary.xls"))
	for _, tc := range []struct {
		path, sheet, want string
	}{
		{encrypted, "", "protected with a password"},
		{write("old.xls", xls), "", "old Excel 97-2003 workbook (.xls)"},
		{write("renamed.xls", xls), "", "save it as .xlsx"},
		{write("old-as-new.xlsx", xls), "", "Excel 97-2003"},
		{write("contacts.xlsx", []byte("Email;Имя\na@example.ru;Иван\n")), "", "CSV (text) file"},
		{write("cp1251.xlsx", []byte("Email;\xc8\xec\xff\n")), "", "CSV (text) file"},
		{write("cut.xlsx", good[:len(good)/2]), "", "damaged"},
		{write("bitrix.xls", []byte("<html><body><table><tr><td>Email</td></tr></table></body></html>")), "", "HTML page"},
		{write("empty.xlsx", nil), "", "empty"},
		{filepath.Join("testdata", "xlsx", "openpyxl-contacts.xlsx"), "Лиды", `no sheet "Лиды" (the mapping's xlsx: {sheet: ...}); its sheets are "Контакты", "Сделки"`},
	} {
		_, err := OpenInput(tc.path, InputOptions{Sheet: tc.sheet})
		var we *WorkbookError
		if !errors.As(err, &we) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), tc.path+": ") {
			t.Errorf("%s: %v, want a WorkbookError naming the file and saying %q", filepath.Base(tc.path), err, tc.want)
		}
	}
	// A CSV file stays a CSV file.
	if in, err := OpenInput(write("plain.csv", []byte("Email\na@example.ru\n")), InputOptions{}); err != nil {
		t.Error(err)
	} else if _, ok := in.(*Source); !ok {
		t.Errorf("plain.csv read as %T", in)
	} else {
		in.Close()
	}
}

// TestWorkbookRejects writes rejected.xlsx and reads it back with excelize; fed back, its error
// column is replaced, not doubled.
func TestWorkbookRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r", RejectedWorkbookFile)
	w, err := CreateWorkbookRejects(path, []string{"Email", "Телефон"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Row{Line: 2, Cells: []string{"bad", "+79001234567"}}, "bad e-mail"); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Row{Line: 3, Cells: []string{"=1+1", "00123"}}, "x"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", st, err)
	}
	header, rows := readInput(t, path, InputOptions{})
	if strings.Join(header, "|") != "Email|Телефон|error" || len(rows) != 2 ||
		strings.Join(rows[0].Cells, "|") != "bad|+79001234567|bad e-mail" || strings.Join(rows[1].Cells, "|") != "=1+1|00123|x" {
		t.Errorf("read back %q %+v", header, rows)
	}
	again := filepath.Join(t.TempDir(), RejectedWorkbookFile)
	w2, err := CreateWorkbookRejects(again, header)
	if err != nil {
		t.Fatal(err)
	}
	w2.Write(rows[0], "still bad")
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	header, rows = readInput(t, again, InputOptions{})
	if strings.Join(header, "|") != "Email|Телефон|error" || strings.Join(rows[0].Cells, "|") != "bad|+79001234567|still bad" {
		t.Errorf("fed back: %q %+v", header, rows)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(again), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestWorkbookStringsSpill reads a big string table through its temporary files: the same
// values, in order and out of order, and the files gone after Close.
func TestWorkbookStringsSpill(t *testing.T) {
	defer func(m int) { sstMemory = m }(sstMemory)
	sstMemory = 2 << 10
	path := filepath.Join(t.TempDir(), "many.xlsx")
	f := excelize.NewFile()
	f.SetCellValue("Sheet1", "A1", "Email")
	f.SetCellValue("Sheet1", "B1", "Город")
	const n = 3000
	for i := 2; i <= n+1; i++ {
		f.SetCellValue("Sheet1", "A"+strconv.Itoa(i), "user"+strconv.Itoa(i)+"@example.ru")
		// Early strings again: lookups going back in the table.
		f.SetCellValue("Sheet1", "B"+strconv.Itoa(i), "user"+strconv.Itoa(2+(i*7919)%(i-1))+"@example.ru")
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	in, err := OpenInput(path, InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := in.(*Workbook)
	if w.sst.spilled == 0 {
		t.Fatal("the table did not spill")
	}
	for i := 2; i <= n+1; i++ {
		r, err := in.Next()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"user" + strconv.Itoa(i) + "@example.ru", "user" + strconv.Itoa(2+(i*7919)%(i-1)) + "@example.ru"}
		if r.Line != i || r.Cells[0] != want[0] || r.Cells[1] != want[1] {
			t.Fatalf("line %d: %q, want %q", r.Line, r.Cells, want)
		}
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestWorkbookHandWritten reads a workbook whose XML is written the way other producers write
// it (the Open XML SDK's x: prefixes, rows and cells without references, rich text with
// phonetic runs, ISO date cells, error values, the 1904 date system, a formula without a
// cached value, extension elements inside a row).
func TestWorkbookHandWritten(t *testing.T) {
	const ns = `xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	parts := map[string]string{
		"[Content_Types].xml": `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"></Types>`,
		"_rels/.rels":         `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="R1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/xl/book.xml"/></Relationships>`,
		"xl/book.xml": `<x:workbook ` + ns + `><x:workbookPr date1904="1"/><x:sheets>` +
			`<x:sheet name="Данные" sheetId="7" r:id="rS"/></x:sheets></x:workbook>`,
		"xl/_rels/book.xml.rels": `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="sheets/data.xml"/>` +
			`<Relationship Id="rT" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="strings.xml"/>` +
			`<Relationship Id="rY" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`,
		"xl/strings.xml": `<x:sst ` + ns + `><x:si><x:t>Email</x:t></x:si><x:si><x:r><x:t>Дата</x:t></x:r><x:r><x:rPr><x:b/></x:rPr><x:t xml:space="preserve"> создания</x:t></x:r><x:rPh sb="0" eb="1"><x:t>ignored</x:t></x:rPh></x:si>` +
			`<x:si><x:t>line_x000D_break</x:t></x:si></x:sst>`,
		"xl/styles.xml": `<x:styleSheet ` + ns + `><x:numFmts count="1"><x:numFmt numFmtId="200" formatCode="dd\.mm\.yyyy"/></x:numFmts>` +
			`<x:cellXfs count="2"><x:xf numFmtId="0"/><x:xf numFmtId="200"/></x:cellXfs></x:styleSheet>`,
		"xl/sheets/data.xml": `<x:worksheet ` + ns + `><x:sheetData>` +
			`<x:row><x:c t="s"><x:v>0</x:v></x:c><x:c t="s"><x:v>1</x:v></x:c><x:c t="inlineStr"><x:is><x:t>Ошибка</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>Сумма</x:t></x:is></x:c></x:row>` +
			`<x:row><x:c t="s"><x:v>2</x:v></x:c><x:c s="1"><x:v>0</x:v></x:c><x:c t="e"><x:f>1/0</x:f><x:v>#DIV/0!</x:v></x:c><x:c s="9"><x:f>A1*2</x:f></x:c></x:row>` +
			`<x:row r="5"><x:extLst><x:ext uri="x"><y/></x:ext></x:extLst><x:c r="A5" t="inlineStr"><x:is><x:t>a@example.ru</x:t></x:is></x:c><x:c r="B5" t="d"><x:v>2024-03-01T12:30:00</x:v></x:c><x:c r="D5"><x:v>-2.5E-1</x:v></x:c></x:row>` +
			`</x:sheetData></x:worksheet>`,
	}
	path := filepath.Join(t.TempDir(), "sdk.xlsx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range parts {
		w, _ := zw.Create(name)
		io.WriteString(w, body)
	}
	if err := errors.Join(zw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	header, rows := readInput(t, path, InputOptions{Sheet: "Данные"})
	if strings.Join(header, "|") != "Email|Дата создания|Ошибка|Сумма" {
		t.Errorf("header %q", header)
	}
	want := [][]string{
		{"line\rbreak", "1904-01-01", "#DIV/0!", ""},
		{"a@example.ru", "2024-03-01 12:30:00", "", "-0.25"},
	}
	if len(rows) != 2 || rows[0].Line != 2 || rows[1].Line != 5 {
		t.Fatalf("rows %+v", rows)
	}
	for i, w := range want {
		if strings.Join(rows[i].Cells, "|") != strings.Join(w, "|") {
			t.Errorf("line %d: %q, want %q", rows[i].Line, rows[i].Cells, w)
		}
	}
}
