package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
)

// win1251 encodes test text as windows-1251, as Bitrix24 and Excel in a Russian locale write it.
func win1251(t *testing.T, s string) string {
	t.Helper()
	b, err := charmap.Windows1251.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bitrixQuirks is a Bitrix24-style export: Excel's "sep=;" first line, a ";" at the end of every
// line, CRLF, two columns both named "Тег" that the mapping does not read, cells with quotes
// inside them written as they are (1C and hand edits), a multi-line comment, and one row (line
// 7: the sep= line is line 1) whose multi-line cell is followed by a cell too many.
const bitrixQuirks = "sep=;\r\n" +
	`"Имя";"Фамилия";"Рабочий E-mail";"Тег";"Тег";"Комментарий";` + "\r\n" +
	`"Анна";"Смирнова";"anna@romashka.ru";"VIP";"Вебинар";"";` + "\r\n" +
	`Игорь;Петров;igor@vector.ru;;;Монитор Dell 27" 4K;` + "\r\n" +
	`Ольга;"Кузнецова";olga@mail.ru;;;"Перезвонить;` + "\n" + `просила счёт";` + "\r\n" +
	`"Павел";"Орлов";"pavel@bk.ru";"";"";"Комментарий` + "\n" + `на две строки";"лишняя ячейка";` + "\r\n" +
	`Денис;Волков;denis@inbox.ru;;;55°45'20"N 37°37'03"E;` + "\r\n" +
	`"Мария";"Иванова ""Маша""";maria@list.ru;;;;` + "\r\n" +
	";;;;;;\r\n"

const bitrixMapping = `target: users
fields:
  user.email: {column: Рабочий E-mail, transform: [trim, lower, email]}
  user.first_name: Имя
  user.last_name: Фамилия
`

// TestCSVQuirksImport (issue 12): such a file is validated and imported through the CLI against
// gcsim: every good row reaches GetCourse with its Cyrillic intact, the bad row alone is
// rejected with its own line number and reason, and rejected.csv gives back its original cells
// in the input's dialect (sep= line, ";", windows-1251, CRLF).
func TestCSVQuirksImport(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	in := e.write("bitrix.csv", win1251(t, bitrixQuirks))
	m := e.write("m.yaml", bitrixMapping)
	ctx := t.Context()

	code, out, errOut := e.gcbatch(ctx, "validate", "--mapping", m, in)
	if code != 1 {
		t.Fatalf("validate: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{`read as delimiter ";", windows-1251, CRLF line ends`, "bitrix.csv:7: row has 7 cells, the header has 6",
		"6 rows: 5 valid, 1 rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = e.gcbatch(ctx, "import", "--mapping", m, "--rate", "1000/s", in)
	if code != 1 {
		t.Fatalf("import: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out+errOut, "rows      6 in") {
		t.Errorf("import summary does not count 6 rows:\n%s%s", out, errOut)
	}
	var got []string
	for _, u := range e.sim.Users() {
		got = append(got, u.Email+" "+u.FirstName+" "+u.LastName)
	}
	sort.Strings(got)
	want := []string{"anna@romashka.ru Анна Смирнова", "denis@inbox.ru Денис Волков", "igor@vector.ru Игорь Петров",
		`maria@list.ru Мария Иванова "Маша"`, "olga@mail.ru Ольга Кузнецова"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GetCourse has\n %q\nwant\n %q", got, want)
	}

	run := e.lastRun()
	_, byLine := results(t, run)
	wantLines := map[string]string{"3": "ok", "4": "ok", "5": "ok", "7": "rejected", "9": "ok", "10": "ok"}
	if fmt.Sprint(byLine) != fmt.Sprint(wantLines) {
		t.Errorf("results.csv by line: %v, want %v", byLine, wantLines)
	}
	rejected, err := os.ReadFile(filepath.Join(run.ReportsDir, importer.RejectedFile))
	if err != nil {
		t.Fatal(err)
	}
	// The reason's text is the pipeline's (it names the file and line); the rest is exact.
	wantStart := win1251(t, "sep=;\r\n"+
		"Имя;Фамилия;Рабочий E-mail;Тег;Тег;Комментарий;error\r\n"+
		"Павел;Орлов;pavel@bk.ru;;;\"Комментарий\nна две строки\";лишняя ячейка;")
	rest, ok := bytes.CutPrefix(rejected, []byte(wantStart))
	if !ok || !bytes.HasSuffix(rest, []byte("7: row has 7 cells, the header has 6\r\n")) || bytes.Count(rest, []byte("\n")) != 1 {
		t.Errorf("rejected.csv\n%q\nwant it to start\n%q\nthen the reason alone", rejected, wantStart)
	}
	assertNoKey(t, e.dir, e.key, out, errOut)
}

// TestCSVQuirksRowCount (issue 18.7): a quote never closed on line 12 of a 1,002-row file costs
// that row alone, and the import's row count (summary, run record) is the file's 1,002 rows,
// not the 12 a counter that ran to the end of the file saw.
func TestCSVQuirksRowCount(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := range 1002 {
		if i == 10 {
			fmt.Fprintf(&b, "u%d@example.com,\"never closed\n", i)
			continue
		}
		fmt.Fprintf(&b, "u%d@example.com,Name %d\n", i, i)
	}
	in := e.write("in.csv", b.String())
	m := e.write("m.yaml", hardeningUsers)
	code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", m, "--rate", "100000/s", "--concurrency", "16", in)
	if code != 1 {
		t.Fatalf("import: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out+errOut, "rows      1002 in") {
		t.Errorf("summary does not say 1002 rows:\n%s%s", out, errOut)
	}
	if run := e.lastRun(); run.Counts.Total != 1002 || run.Counts.OK != 1001 || run.Counts.Rejected != 1 {
		t.Errorf("run record counts %+v, want 1002 rows, 1001 ok, 1 rejected", run.Counts)
	}
	if n := len(e.sim.Users()); n != 1001 {
		t.Errorf("GetCourse has %d users, want 1001", n)
	}
}

// TestCSVQuirksKOI8R (issue 16): a KOI8-R file is not read as windows-1251 without a word:
// validate and import stop before anything is sent (exit 2) and say how to go on; a mapping
// that says windows-1251 is obeyed.
func TestCSVQuirksKOI8R(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	text := "E-mail;Имя;Фамилия;Город\r\nanna@mail.ru;Анна;Смирнова;Новосибирск\r\nigor@bk.ru;Игорь;Петров;Екатеринбург\r\n"
	koi, err := charmap.KOI8R.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	in := e.write("old.csv", koi)
	m := e.write("m.yaml", "target: users\nfields:\n  user.email: E-mail\n  user.first_name: Имя\n")
	for _, cmd := range []string{"validate", "import"} {
		code, out, errOut := e.gcbatch(t.Context(), cmd, "--mapping", m, in)
		if code != 2 {
			t.Fatalf("%s: exit %d, want 2\n%s%s", cmd, code, out, errOut)
		}
		for _, want := range []string{"old.csv: the file looks like KOI8-R", "«E-mail;Имя;Фамилия;Город» as KOI8-R", "Save it as CSV UTF-8", "encoding: windows-1251"} {
			if !strings.Contains(out+errOut, want) {
				t.Errorf("%s output lacks %q:\n%s%s", cmd, want, out, errOut)
			}
		}
	}
	if n := len(e.sim.Users()); n != 0 {
		t.Fatalf("%d users reached GetCourse", n)
	}
	// Said explicitly, windows-1251 is obeyed (the Cyrillic names then read as "йНС", so this
	// mapping reads the e-mail alone).
	forced := e.write("forced.yaml", "target: users\ncsv: {encoding: windows-1251}\nfields:\n  user.email: E-mail\n")
	code, out, errOut := e.gcbatch(t.Context(), "validate", "--mapping", forced, in)
	if code != 0 || !strings.Contains(out, "2 rows: 2 valid") {
		t.Fatalf("validate with windows-1251 given: exit %d\n%s%s", code, out, errOut)
	}
}
