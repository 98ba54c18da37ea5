package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// contactsWorkbook writes a workbook the way a CRM export or a person in Excel would, with
// excelize's ordinary API (shared strings, typed cells, built-in and custom date formats, a
// formula with its cached result), on a sheet that is not the first.
func contactsWorkbook(t *testing.T, path string) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	const sh = "Контакты"
	if _, err := f.NewSheet(sh); err != nil {
		t.Fatal(err)
	}
	f.SetCellValue("Sheet1", "A1", "notes, not contacts")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	style := func(s *excelize.Style) int {
		id, err := f.NewStyle(s)
		must(err)
		return id
	}
	dmy := "dd.mm.yyyy"
	dmyhm := "dd.mm.yyyy hh:mm"
	long := "d mmmm yyyy"
	money := `#,##0.00 "₽"`
	hm := "h:mm"
	sDMY, sDMYHM, sLong, sMoney, sHM := style(&excelize.Style{CustomNumFmt: &dmy}), style(&excelize.Style{CustomNumFmt: &dmyhm}),
		style(&excelize.Style{CustomNumFmt: &long}), style(&excelize.Style{CustomNumFmt: &money}), style(&excelize.Style{CustomNumFmt: &hm})
	sBuiltinDate := style(&excelize.Style{NumFmt: 14})
	header := []any{"E-mail", "Телефон", "Имя", "Код", "ID", "Сумма", "Итого", "Активен", "ДР", "Создан", "Время", "Заметка"}
	must(f.SetSheetRow(sh, "A1", &header))
	set := func(cell string, v any, styleID int) {
		t.Helper()
		must(f.SetCellValue(sh, cell, v))
		if styleID != 0 {
			must(f.SetCellStyle(sh, cell, cell, styleID))
		}
	}
	// Line 2: numbers as Excel holds them.
	set("A2", "Ivan@Example.ru", 0)
	set("B2", 79001234567, 0)
	set("C2", "Иван", 0)
	set("D2", "00123", 0)
	set("E2", int64(12345678901234567), 0)
	set("F2", 9990.5, sMoney)
	must(f.SetCellFormula(sh, "G2", "F2*2"))
	set("G2", 19981, 0) // the formula's cached result
	set("H2", true, 0)
	set("I2", time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC), sDMY)
	set("J2", time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC), sDMYHM)
	set("K2", 0.5, sHM)
	set("L2", "=SUM(A1:A2)", 0)
	// Line 3 is empty; line 4: text phones, a fraction with float noise, a formula giving text.
	set("A4", "petr@example.ru", 0)
	set("B4", "+79001234567", 0)
	set("C4", "Пётр", 0)
	set("D4", 0.1+0.2, 0)
	set("E4", 1e20, 0)
	set("F4", -1234567.25, sMoney)
	must(f.SetCellFormula(sh, "G4", `A4&"!"`))
	must(f.SetCellStr(sh, "G4", "petr@example.ru!"))
	set("H4", false, 0)
	set("I4", time.Date(1985, 12, 31, 0, 0, 0, 0, time.UTC), sLong)
	set("J4", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), 0) // excelize's own style: a date for midnight
	set("L4", "+7 (900) 000-00-01", 0)
	// Line 5: a number written in exponent form (as some writers store it), a built-in date format.
	set("A5", "olga@example.ru", 0)
	must(f.SetCellDefault(sh, "B5", "8.9211234567E10"))
	set("I5", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), sBuiltinDate)
	// Line 6: a bad e-mail, rejected with its cells.
	set("A6", "not-an-email", 0)
	set("B6", "+79005556677", 0)
	set("D6", "007", 0)
	must(f.SaveAs(path))
}

const contactsMapping = `target: users
xlsx: {sheet: Контакты}
fields:
  user.email: {column: E-mail, transform: [trim, lower, email]}
  user.phone: {column: Телефон, transform: [phone]}
  user.first_name: Имя
  user.addfields.Код: Код
  user.addfields.ID: ID
  user.addfields.Сумма: Сумма
  user.addfields.Итого: Итого
  user.addfields.Активен: Активен
  user.addfields.ДР: ДР
  user.addfields.Создан: Создан
  user.addfields.Время: Время
  user.addfields.Заметка: Заметка
`

// TestXLSXValidateShow checks the exact params of every row of a workbook written by excelize.
func TestXLSXValidateShow(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	book := e.path("contacts.xlsx")
	contactsWorkbook(t, book)
	m := e.write("m.yaml", contactsMapping)
	code, stdout, stderr := e.gcbatch(t.Context(), "validate", "--mapping", m, "--show", "10", book)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	want := map[int]string{
		2: `{"addfields":{"ID":"12345678901234567","Активен":"TRUE","Время":"12:00:00","ДР":"1990-05-17","Заметка":"=SUM(A1:A2)","Итого":"19981","Код":"00123","Создан":"2024-03-01 12:30:00","Сумма":"9990.5"},"email":"ivan@example.ru","first_name":"Иван","phone":"+79001234567"}`,
		4: `{"addfields":{"ID":"100000000000000000000","Активен":"FALSE","ДР":"1985-12-31","Заметка":"+7 (900) 000-00-01","Итого":"petr@example.ru!","Код":"0.3","Создан":"2024-01-02","Сумма":"-1234567.25"},"email":"petr@example.ru","first_name":"Пётр","phone":"+79001234567"}`,
		5: `{"addfields":{"ДР":"2000-02-29"},"email":"olga@example.ru","phone":"+79211234567"}`,
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s\n%s", len(lines), stdout, stderr)
	}
	for _, l := range lines {
		var got struct {
			Line   int `json:"line"`
			Params struct {
				User json.RawMessage `json:"user"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		var norm any
		json.Unmarshal(got.Params.User, &norm)
		b, _ := json.Marshal(norm)
		if string(b) != want[got.Line] {
			t.Errorf("line %d:\n got %s\nwant %s", got.Line, b, want[got.Line])
		}
	}
	if !strings.Contains(stderr, `read as sheet "Контакты" of a workbook`) || !strings.Contains(stderr, "contacts.xlsx:6:") || !strings.Contains(stderr, "rejected.xlsx") {
		t.Errorf("summary:\n%s", stderr)
	}
	rejects, _ := filepath.Glob(e.path("reports", "validate-*", "rejected.xlsx"))
	if len(rejects) != 1 {
		t.Fatalf("reject workbooks %v", rejects)
	}
	rows := sheetRowsOf(t, rejects[0])
	if len(rows) != 2 || rows[0][len(rows[0])-1] != "error" || strings.Join(rows[1][:4], "|") != "not-an-email|+79005556677||007" || !strings.Contains(rows[1][12], "e-mail") {
		t.Errorf("rejected.xlsx: %q", rows)
	}
}

// sheetRowsOf reads the first sheet with excelize's ordinary reader, raw values.
func sheetRowsOf(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0), excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestXLSXImport imports a workbook into the simulator: the values the service holds are exact,
// results.csv names the sheet's rows, and the rejected row goes to rejected.xlsx.
func TestXLSXImport(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	book := e.path("contacts.xlsx")
	contactsWorkbook(t, book)
	m := e.write("m.yaml", `target: users
xlsx: {sheet: Контакты}
fields:
  user.email: {column: E-mail, transform: [trim, lower, email]}
  user.phone: {column: Телефон, transform: [phone]}
  user.first_name: Имя
  user.birthday: {column: ДР, transform: [{date: YYYY-MM-DD}]}
`)
	code, stdout, stderr := e.gcbatch(t.Context(), "import", "--mapping", m, "--rate", "1000/s", book)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	got := map[string]string{}
	for _, u := range e.sim.Users() {
		got[u.Email] = u.Phone + " " + u.FirstName + " " + u.Birthday
	}
	want := map[string]string{
		"ivan@example.ru": "+79001234567 Иван 17.05.1990",
		"petr@example.ru": "+79001234567 Пётр 31.12.1985",
		"olga@example.ru": "+79211234567  29.02.2000",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	run := e.lastRun()
	counts, byLine := results(t, run)
	if counts["ok"] != 3 || counts["rejected"] != 1 || byLine["6"] != "rejected" || byLine["2"] != "ok" || byLine["5"] != "ok" {
		t.Errorf("results %v %v", counts, byLine)
	}
	rows := sheetRowsOf(t, filepath.Join(run.ReportsDir, "rejected.xlsx"))
	if len(rows) != 2 || rows[1][0] != "not-an-email" || rows[1][3] != "007" {
		t.Errorf("rejected.xlsx %q", rows)
	}
	if _, err := os.Stat(filepath.Join(run.ReportsDir, "rejected.csv")); !os.IsNotExist(err) {
		t.Errorf("rejected.csv beside rejected.xlsx: %v", err)
	}
	assertNoKey(t, e.dir, e.key, stdout, stderr)
}

// TestXLSXInputErrors: a workbook that cannot be read is an input error naming the file, exit
// 2, nothing sent, for import, validate and mapping init alike.
func TestXLSXInputErrors(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	book := e.path("contacts.xlsx")
	contactsWorkbook(t, book)
	good, _ := os.ReadFile(book)
	xls, _ := os.ReadFile(filepath.Join("..", "..", "importer", "testdata", "xlsx", "old-binary.xls"))
	locked := e.path("locked.xlsx")
	f := excelize.NewFile()
	f.SetCellValue("Sheet1", "A1", "E-mail")
	if err := f.SaveAs(locked, excelize.Options{Password: "pass"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mapping := func(sheet string) string {
		return e.write("m-"+sheet+".yaml", "target: users\nxlsx: {sheet: "+sheet+"}\nfields:\n  user.email: E-mail\n")
	}
	for _, tc := range []struct {
		file, sheet, want string
	}{
		{book, "Лиды", `no sheet "Лиды" (the mapping's xlsx: {sheet: ...}); its sheets are "Sheet1", "Контакты"`},
		{locked, "Sheet1", "protected with a password"},
		{e.write("old.xls", string(xls)), "Sheet1", "save it as .xlsx"},
		{e.write("renamed.xlsx", "E-mail;Имя\na@example.ru;Иван\n"), "Sheet1", "CSV (text) file"},
		{e.write("cut.xlsx", string(good[:len(good)-200])), "Sheet1", "damaged"},
	} {
		for _, cmd := range [][]string{
			{"import", "--mapping", mapping(tc.sheet), tc.file},
			{"validate", "--mapping", mapping(tc.sheet), tc.file},
			{"mapping", "init", "--target", "users", "-o", e.path("init.yaml"), tc.file},
		} {
			if cmd[0] == "mapping" && tc.sheet == "Лиды" {
				continue // mapping init reads the first sheet
			}
			code, stdout, stderr := e.gcbatch(t.Context(), cmd...)
			if code != 2 || !strings.Contains(stderr, tc.file) || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s %s: exit %d, want 2 and %q naming the file\n%s%s", cmd[0], filepath.Base(tc.file), code, tc.want, stdout, stderr)
			}
		}
	}
	if n := len(e.sim.Stats().Requests); n != 0 {
		t.Errorf("requests were made: %v", e.sim.Stats().Requests)
	}
}

// TestXLSXMappingInit guesses a mapping from a workbook's first sheet.
func TestXLSXMappingInit(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	book := e.path("first.xlsx")
	f := excelize.NewFile()
	rows := [][]any{{"Email", "Телефон", "Имя"}, {"a@example.ru", 79001234567, "Анна"}, {"b@example.ru", "+7 921 000-00-00", "Борис"}}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		f.SetSheetRow("Sheet1", cell, &r)
	}
	if err := f.SaveAs(book); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := e.path("guess.yaml")
	code, _, stderr := e.gcbatch(t.Context(), "mapping", "init", "--target", "users", "-o", out, book)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "user.email") || !strings.Contains(string(b), "user.phone") {
		t.Errorf("guess:\n%s", b)
	}
	code, stdout, stderr := e.gcbatch(t.Context(), "validate", "--mapping", out, "--show", "5", book)
	if code != 0 || strings.Count(stdout, `"line"`) != 2 || !strings.Contains(stdout, `"+79001234567"`) {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestXLSXExport exports users into a workbook and compares every cell with the JSON lines of
// the same export: exact values, all text, no formulas.
func TestXLSXExport(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{SeedUsers: 60, ExportDelay: -1, Seed: 7})
	// Users whose cells Excel would mangle in CSV.
	in := e.write("tricky.csv", "Email,Телефон,Имя,Фамилия\n"+
		"zero@example.ru,+79001234567,00123,=SUM(A1:A2)\n"+
		"plus@example.ru,89215550000,+1,-500\n")
	m := e.write("tricky.yaml", "target: users\nfields:\n  user.email: Email\n  user.phone: {column: Телефон, transform: [phone]}\n  user.first_name: Имя\n  user.last_name: Фамилия\n")
	if code, _, stderr := e.gcbatch(t.Context(), "import", "--mapping", m, "--rate", "1000/s", in); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	out := e.path("users.xlsx")
	code, stdout, stderr := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", out)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, ref, stderr2 := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "--format", "jsonl", "-o", "-")...)
	if code != 0 {
		t.Fatalf("jsonl: exit %d: %s", code, stderr2)
	}
	noKey(t, e.key, stdout, stderr)
	f, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheet := f.GetSheetName(0)
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	header := rows[0]
	sc := bufio.NewScanner(strings.NewReader(ref))
	sc.Buffer(nil, 1<<20)
	n := 0
	found := map[string]bool{}
	for sc.Scan() {
		n++
		var item map[string]string
		if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
			t.Fatal(err)
		}
		row := rows[n]
		for j, h := range header {
			cell, _ := excelize.CoordinatesToCellName(j+1, n+1)
			got := ""
			if j < len(row) {
				got = row[j]
			}
			if got != item[h] {
				t.Errorf("%s (%s): %q, want %q", cell, h, got, item[h])
			}
			if got != "" {
				if ty, _ := f.GetCellType(sheet, cell); ty != excelize.CellTypeInlineString {
					t.Errorf("%s %q is not a text cell: %v", cell, got, ty)
				}
			}
			if fo, _ := f.GetCellFormula(sheet, cell); fo != "" {
				t.Errorf("%s is a formula: %q", cell, fo)
			}
			found[got] = true
		}
	}
	if n != len(rows)-1 || n < 62 {
		t.Errorf("%d items, %d workbook rows", n, len(rows)-1)
	}
	for _, v := range []string{"+79001234567", "00123", "=SUM(A1:A2)", "+1", "-500"} {
		if !found[v] {
			t.Errorf("the export lacks %q", v)
		}
	}

	t.Run("usage", func(t *testing.T) {
		code, _, stderr := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "--excel", "-o", e.path("x.xlsx"))...)
		if code != 2 || !strings.Contains(stderr, "--excel and --bom are for CSV") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		csvOut := e.path("as.csv")
		code, _, stderr = e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "--format", "xlsx", "-o", csvOut)...)
		if code != 0 || len(sheetRowsOf(t, csvOut)) != len(rows) {
			t.Errorf("--format xlsx: exit %d: %s", code, stderr)
		}
		// --format csv still wins over the extension.
		code, _, _ = e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "--format", "csv", "-o", e.path("c.xlsx"))...)
		b, _ := os.ReadFile(e.path("c.xlsx"))
		if code != 0 || !strings.HasPrefix(string(b), "id,") {
			t.Errorf("--format csv -o c.xlsx: exit %d, %.20q", code, b)
		}
		if _, err := csv.NewReader(strings.NewReader(string(b))).ReadAll(); err != nil {
			t.Error(err)
		}
	})
}

// TestXLSXSampleShow: the sample workbook, written by openpyxl, gives exactly these params.
func TestXLSXSampleShow(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	samples := filepath.Join("..", "..", "samples")
	code, stdout, stderr := e.gcbatch(t.Context(), "validate", "--mapping", filepath.Join(samples, "crm-contacts.yaml"),
		"--show", "4", filepath.Join(samples, "crm-contacts.xlsx"))
	if code != 1 || !strings.Contains(stderr, "crm-contacts.xlsx:6: Рабочий email") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	want := []string{
		`{"line": 2, "params": {"system":{"refresh_if_exists":1},"user":{"addfields":{"Telegram":"@anna_smirnova","Источник":"CRM"},"birthday":"14.03.1991","city":"Москва","email":"anna.smirnova@mail.ru","first_name":"Анна","group_name":["Клиенты","Рассылка"],"last_name":"Смирнова","phone":"+79161234567"}}}`,
		`{"line": 3, "params": {"system":{"refresh_if_exists":1},"user":{"addfields":{"Источник":"CRM"},"birthday":"02.11.1985","city":"Санкт-Петербург","email":"i.petrov@yandex.ru","first_name":"Иван","group_name":["Клиенты"],"last_name":"Петров","phone":"+79035551234"}}}`,
		`{"line": 4, "params": {"system":{"refresh_if_exists":1},"user":{"addfields":{"Telegram":"@olga_kuz","Источник":"CRM"},"city":"Казань","email":"olga.kuznetsova@gmail.com","first_name":"Ольга","group_name":["Тренинг SMM"],"last_name":"Кузнецова","phone":"+79261234501"}}}`,
		`{"line": 5, "params": {"system":{"refresh_if_exists":1},"user":{"addfields":{"Источник":"CRM"},"birthday":"29.02.1988","city":"Екатеринбург","email":"sergey.volkov@bk.ru","first_name":"Сергей","group_name":["Рассылка"],"last_name":"Волков","phone":"+79257001122"}}}`,
	}
	got := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d lines:\n%s", len(got), stdout)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("\n got %s\nwant %s", got[i], want[i])
		}
	}
}
