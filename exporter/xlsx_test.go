package exporter

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// xlsxBody is an export whose cells are what Excel mangles in CSV: phones with "+", long ids,
// leading zeros, formula-like text, numbers and booleans as JSON values, line breaks, spaces
// at the ends, characters XML cannot hold, and text that looks like Excel's own _x000D_ escape.
const xlsxBody = `{"success":true,"info":{"fields":["id","Email","Телефон","Код","Формула","Комментарий","Сумма","Создан","Флаг"],
"items":[
["12345678901234567890","a@example.ru","+79001234567","00123","=SUM(A1:A2)","said \"hi\" & <left>","12 000,00","2024-03-01 12:30:00",true],
[7,"b@example.ru","+7 (900) 123-45-67","007","=HYPERLINK(\"http://x\")","line one\nline two\r\nthree","-350,5","2024-03-02 00:00:00",false],
["3","c@example.ru","89001234567","0","-500","  spaced  ","9990.5","not a date",null],
["4","d@example.ru","@cmd","1e5","+1","bell\u0007 and _x000D_ literal","1 234 567,89","2024-13-99",12],
["5","e@example.ru","8 (900) 000-00-01","2024-03-05","'quoted","Zoë 😀 Ёлка","0.30000000000000004","2024-03-05 08:05:09",9990.5]
]}}`

// exportJSONL returns the export of body as JSON lines, the reference the workbook is compared with.
func exportJSONL(t *testing.T, body string) (header []string, rows [][]string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ref.jsonl")
	o := fastOptions(openStore(t), out)
	o.Format = FormatJSONL
	if _, err := Run(t.Context(), &bodyClient{body: []byte(body)}, usersFrom, o); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dec map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Keys in header order: decode into an ordered list with json.Decoder tokens.
		d := json.NewDecoder(strings.NewReader(sc.Text()))
		d.Token()
		var keys, vals []string
		for d.More() {
			k, _ := d.Token()
			v, _ := d.Token()
			keys = append(keys, k.(string))
			vals = append(vals, v.(string))
		}
		header = keys
		rows = append(rows, vals)
	}
	_ = dec
	return header, rows
}

// readWorkbook reads every sheet of a workbook with excelize's ordinary reader, checking that
// every cell is text and none is a formula.
func readWorkbook(t *testing.T, path string) (sheets []string, rows map[string][][]string) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows = map[string][][]string{}
	for _, name := range f.GetSheetList() {
		sheets = append(sheets, name)
		rs, err := f.GetRows(name, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		rows[name] = rs
		for r, row := range rs {
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if fo, _ := f.GetCellFormula(name, cell); fo != "" {
					t.Errorf("%s!%s is a formula %q", name, cell, fo)
				}
				if v == "" {
					continue
				}
				if ty, _ := f.GetCellType(name, cell); ty != excelize.CellTypeInlineString {
					t.Errorf("%s!%s %q has type %v, want a text cell", name, cell, v, ty)
				}
			}
		}
	}
	return sheets, rows
}

func TestXLSXExportCells(t *testing.T) {
	wantHeader, want := exportJSONL(t, xlsxBody)
	out := filepath.Join(t.TempDir(), "users.xlsx")
	o := fastOptions(openStore(t), out)
	o.Format = FormatXLSX
	res, err := Run(t.Context(), &bodyClient{body: []byte(xlsxBody)}, usersFrom, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 {
		t.Errorf("rows = %d", res.Rows)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	sheets, rows := readWorkbook(t, out)
	if len(sheets) != 1 || sheets[0] != "users" {
		t.Fatalf("sheets %q", sheets)
	}
	got := rows["users"]
	if strings.Join(got[0], "|") != strings.Join(wantHeader, "|") {
		t.Errorf("header %q, want %q", got[0], wantHeader)
	}
	if len(got)-1 != len(want) {
		t.Fatalf("%d rows, want %d", len(got)-1, len(want))
	}
	for i, w := range want {
		g := got[i+1]
		for len(g) < len(w) {
			g = append(g, "") // excelize drops empty cells at the end of a row
		}
		for j := range w {
			if g[j] != w[j] {
				t.Errorf("row %d column %q: %q, want %q", i+2, wantHeader[j], g[j], w[j])
			}
		}
	}

	f, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Bold header, frozen below it, a filter over the columns, widths fitted to the text.
	sid, _ := f.GetCellStyle("users", "B1")
	if st, _ := f.GetStyle(sid); st == nil || st.Font == nil || !st.Font.Bold {
		t.Errorf("header style %+v is not bold", st)
	}
	if sid, _ := f.GetCellStyle("users", "B2"); sid != 0 {
		if st, _ := f.GetStyle(sid); st != nil && st.Font != nil && st.Font.Bold {
			t.Error("data cells are bold")
		}
	}
	panes, _ := f.GetPanes("users")
	if !panes.Freeze || panes.YSplit != 1 || panes.TopLeftCell != "A2" {
		t.Errorf("panes %+v, want the header row frozen", panes)
	}
	if w, _ := f.GetColWidth("users", "A"); w < 20 {
		t.Errorf("column A (a 20-digit id) is %.1f wide", w)
	}
	if w, _ := f.GetColWidth("users", "I"); w > 12 {
		t.Errorf("column I (short values) is %.1f wide", w)
	}
	names, _ := f.GetDefinedName(), 0
	filter := false
	for _, n := range names {
		if n.Name == "_xlnm._FilterDatabase" && n.RefersTo == "'users'!$A$1:$I$6" {
			filter = true
		}
	}
	if !filter {
		t.Errorf("no filter over A1:I6 in %+v", names)
	}
}

// TestXLSXExportSheets splits the rows over several sheets, each with the header.
func TestXLSXExportSheets(t *testing.T) {
	_, want := exportJSONL(t, xlsxBody)
	out := filepath.Join(t.TempDir(), "deals.xlsx")
	o := fastOptions(openStore(t), out)
	o.Format, o.sheetRows = FormatXLSX, 2
	o.Columns = []Column{{From: "id"}, {From: "Телефон", To: "Phone"}}
	if _, err := Run(t.Context(), &bodyClient{body: []byte(xlsxBody)}, usersFrom, o); err != nil {
		t.Fatal(err)
	}
	sheets, rows := readWorkbook(t, out)
	if strings.Join(sheets, "|") != "deals|deals (2)|deals (3)" {
		t.Fatalf("sheets %q", sheets)
	}
	var all [][]string
	for _, s := range sheets {
		rs := rows[s]
		if strings.Join(rs[0], "|") != "id|Phone" {
			t.Errorf("sheet %s header %q", s, rs[0])
		}
		all = append(all, rs[1:]...)
	}
	if len(all) != len(want) {
		t.Fatalf("%d rows over the sheets, want %d", len(all), len(want))
	}
	for i, w := range want {
		if all[i][0] != w[0] || all[i][1] != w[2] {
			t.Errorf("row %d: %q, want %q %q", i, all[i], w[0], w[2])
		}
	}
}

// TestXLSXExportNormalize types normalised money as numbers and service dates as dates; ids,
// phones and everything else stay text.
func TestXLSXExportNormalize(t *testing.T) {
	out := filepath.Join(t.TempDir(), "n.xlsx")
	o := fastOptions(openStore(t), out)
	o.Format, o.Normalize = FormatXLSX, true
	if _, err := Run(t.Context(), &bodyClient{body: []byte(xlsxBody)}, usersFrom, o); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		cell, value string
		typ         excelize.CellType
	}{
		{"A2", "12345678901234567890", excelize.CellTypeInlineString},
		{"C2", "+79001234567", excelize.CellTypeInlineString},
		{"D2", "00123", excelize.CellTypeInlineString},
		{"G2", "12000.00", excelize.CellTypeUnset},
		{"G3", "-350.5", excelize.CellTypeUnset},
		{"H2", "2024-03-01 12:30:00", excelize.CellTypeUnset},
		{"H4", "not a date", excelize.CellTypeInlineString},
	} {
		ty, _ := f.GetCellType("n", tc.cell)
		if ty != tc.typ {
			t.Errorf("%s: type %v, want %v", tc.cell, ty, tc.typ)
		}
		v, _ := f.GetCellValue("n", tc.cell)
		if tc.cell == "H2" {
			if v != "2024-03-01 12:30:00" {
				t.Errorf("%s shows %q", tc.cell, v)
			}
			continue
		}
		if v != tc.value && !(tc.typ == excelize.CellTypeUnset && strings.TrimRight(strings.TrimRight(tc.value, "0"), ".") == v) {
			t.Errorf("%s = %q, want %q", tc.cell, v, tc.value)
		}
	}
}
