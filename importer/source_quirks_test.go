package importer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// countAndRead writes in to a file and returns CountRows and the rows Next gives.
func countAndRead(t *testing.T, in string, opts SourceOptions) (int, []got) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := CountRows(path, opts)
	if err != nil {
		t.Fatalf("CountRows: %v", err)
	}
	s, err := OpenSource(path, opts)
	if err != nil {
		t.Fatalf("OpenSource: %v", err)
	}
	defer s.Close()
	return n, readAll(t, s)
}

// TestCountRowsAgreesWithNext: the row counter behind the summary's "rows N" and `runs`'s LEFT
// finds exactly the rows Next returns, also where quotes go wrong (issue 18.7: an unclosed
// quote made it run to the end of the file, "rows 12" for 1,002 rows).
func TestCountRowsAgreesWithNext(t *testing.T) {
	t.Parallel()
	var thousand strings.Builder
	thousand.WriteString("email,name\n")
	for i := range 1002 {
		if i == 10 {
			fmt.Fprintf(&thousand, "u%d@example.com,\"never closed\n", i)
			continue
		}
		fmt.Fprintf(&thousand, "u%d@example.com,Name %d\n", i, i)
	}
	tests := []struct {
		name string
		in   string
		opts SourceOptions
		want int
	}{
		{"an unclosed quote among 1,002 rows", thousand.String(), SourceOptions{}, 1002},
		{"an unclosed quote on the last line", "a,b\n1,2\n3,\"x\n", SourceOptions{}, 2},
		{"a quote opened by mistake, closed lines later", "a,b\n1,\"oops\n2,x\n3,\"y\"z\n4,w\n", SourceOptions{}, 4},
		{"a multi-line row with a cell too many", "Email,Comment\na@b.ru,\"x\ny\",extra\nc@d.ru,plain\n", SourceOptions{}, 2},
		{"sep= line, trailing delimiters, CRLF", "sep=;\r\na;b;\r\n1;2;\r\n;;\r\n3;\"x\r\ny\";\r\n", SourceOptions{}, 2},
		{"quotes inside unquoted cells", "a,b\nDell 27\" 4K,55°45'20\"N\n\"ok\"tail,y\n", SourceOptions{}, 2},
		{"windows-1251 with a quote opened by mistake", cp1251(t, "Имя;Город\r\nПётр;\"Омск\r\nИван;Пермь\r\n"), SourceOptions{}, 2},
		{"the delimiter given: a quote after ; is inside a comma cell", "a,b\n1;\"x,2\n3,4\n", SourceOptions{Delimiter: ","}, 2},
		{"blank lines only after the header", "a,b\n\n,\n", SourceOptions{}, 0},
		{"CR line ends, a quote never closed", "a;b\r1;\"x\ry\"\r2;\"oops\r3;4\r", SourceOptions{}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, rows := countAndRead(t, tt.in, tt.opts)
			if n != tt.want || len(rows) != tt.want {
				t.Fatalf("CountRows = %d, Next gave %d rows, want %d both:\n%v", n, len(rows), tt.want, rows)
			}
		})
	}
}

// koi8 encodes UTF-8 test text as KOI8-R, the way an old Unix or 1C export writes it.
func koi8(t testing.TB, s string) string {
	t.Helper()
	b, err := charmap.KOI8R.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// koi8Samples are CRM-like files: names, all-capitals names, lower-case tags.
var koi8Samples = []string{
	"Имя;Фамилия;Город\r\nИван;Петров;Москва\r\nМария;Сидорова;Санкт-Петербург\r\n",
	"ФИО;Телефон\r\nИВАНОВ ИВАН ИВАНОВИЧ;+79001234567\r\nПЕТРОВА АННА СЕРГЕЕВНА;89001112233\r\n",
	"email;тег\r\na@b.ru;клиент\r\nc@d.ru;вебинар\r\ne@f.ru;покупатель курса\r\n",
	"E-mail,Имя,Отчество,Город\nanna@mail.ru,Анна,Сергеевна,Новосибирск\n",
}

// TestKOI8RIsQuestioned (issue 16): a KOI8-R file is not read as windows-1251 without a word.
// Read that way its Cyrillic is gibberish ("йНС"); the file is refused with both readings and
// the way out, while the same text in windows-1251 reads as before, and a mapping that says
// windows-1251 is obeyed.
func TestKOI8RIsQuestioned(t *testing.T) {
	t.Parallel()
	for i, text := range koi8Samples {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			_, err := NewSource(strings.NewReader(koi8(t, text)), "old.csv", SourceOptions{})
			if err == nil {
				t.Fatal("a KOI8-R file was read as windows-1251 without a word")
			}
			first := strings.SplitN(text, "\n", 2)[0]
			first = strings.TrimSuffix(first, "\r")
			for _, want := range []string{"old.csv: the file looks like KOI8-R, not windows-1251", "«" + first + "» as KOI8-R",
				"Save it as CSV UTF-8", "set csv: {encoding: windows-1251}"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nlacks %q", err, want)
				}
			}

			s, err := NewSource(strings.NewReader(cp1251(t, text)), "new.csv", SourceOptions{})
			if err != nil {
				t.Fatalf("the same text in windows-1251: %v", err)
			}
			if s.Dialect().Encoding != EncodingWindows1251 || strings.Join(s.Header(), ",") != strings.NewReplacer(";", ",").Replace(first) {
				t.Fatalf("windows-1251 read as %+v, header %q", s.Dialect(), s.Header())
			}

			s, err = NewSource(strings.NewReader(koi8(t, text)), "old.csv", SourceOptions{Encoding: "windows-1251"})
			if err != nil {
				t.Fatalf("windows-1251 given: %v", err)
			}
			if len(readAll(t, s)) == 0 {
				t.Fatal("windows-1251 given: no rows")
			}
		})
	}
}

// TestCodePageChecksSpareWindows1251: windows-1251 files as CRMs and Excel write them are never
// taken for KOI8-R or CP866, all-capitals, all lower case and rare letters included, nor is
// Latin text with typographic quotes and dashes (the bytes CP866 has its letters on).
func TestCodePageChecksSpareWindows1251(t *testing.T) {
	t.Parallel()
	texts := append([]string{
		"Номер заказа;E-mail;Товар;Сумма\r\nA-1;a@b.ru;Курс «Английский с нуля» — старт…;9 990,00\r\n",
		"Контакт;Компания;Рабочий телефон\r\nЁжиков Пётр Щукин;ООО «Ромашка»;+7 495 123-45-67\r\n",
		"ФИО\r\nЩЕРБАКОВА ЭЛЬВИРА ЮРЬЕВНА\r\nЦЫГАНКОВ ФЁДОР ЖЕЛЕЗНЯК\r\nШУБИН ЭДУАРД\r\n",
		"a;b\r\n1;Съешь же ещё этих мягких французских булок, да выпей чаю\r\n",
		"тег\r\nпокупатель\r\nвебинар\r\nподписка на рассылку\r\nклиент\r\n",
		strings.Repeat("Name;Note\r\nMary O’Brien;“VIP” — call back… ‘soon’\r\n", 20),
	}, koi8Samples...)
	for i, text := range texts {
		if _, err := NewSource(strings.NewReader(cp1251(t, text)), "t.csv", SourceOptions{}); err != nil {
			t.Errorf("sample %d: %v", i, err)
		}
	}
	// A few letters say too little to question them.
	if _, err := NewSource(strings.NewReader(koi8(t, "a;b\n1;Иван\n")), "t.csv", SourceOptions{}); err != nil {
		t.Errorf("a short sample was questioned: %v", err)
	}
}

// TestCP866IsQuestioned: a CP866 file (Excel's "CSV (MS-DOS)", DOS-era programs) is not read
// as windows-1251 without a word, even when the mapping's columns are Latin and would not
// notice the gibberish; the file in testdata/crm/ was written with iconv. The same texts in
// windows-1251 read as before, and a mapping that says windows-1251 is obeyed.
func TestCP866IsQuestioned(t *testing.T) {
	t.Parallel()
	_, err := OpenSource(filepath.Join("testdata", "crm", "excel-msdos.csv"), SourceOptions{})
	for _, want := range []string{`excel-msdos.csv: the file looks like CP866 (Excel's "CSV (MS-DOS)")`,
		"«ФИО;E-mail;Телефон;Город;Комментарий» as CP866", "Save it as CSV UTF-8", "set csv: {encoding: windows-1251}"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	texts := append([]string{"Email;Name;City\r\nivan@example.com;Иван Петров;Москва\r\npetr@example.com;Пётр Сидоров;Санкт-Петербург\r\n"}, koi8Samples...)
	for i, text := range texts {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			dos, err := charmap.CodePage866.NewEncoder().String(text)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewSource(strings.NewReader(dos), "dos.csv", SourceOptions{}); err == nil || !strings.Contains(err.Error(), "looks like CP866") {
				t.Fatalf("a CP866 file: %v", err)
			}
			if _, err := NewSource(strings.NewReader(cp1251(t, text)), "new.csv", SourceOptions{}); err != nil {
				t.Fatalf("the same text in windows-1251: %v", err)
			}
			s, err := NewSource(strings.NewReader(dos), "dos.csv", SourceOptions{Encoding: "windows-1251"})
			if err != nil {
				t.Fatalf("windows-1251 given: %v", err)
			}
			if len(readAll(t, s)) == 0 {
				t.Fatal("windows-1251 given: no rows")
			}
		})
	}
}

// TestRejectsKeepSepLine: a reject file of a "sep=;" input starts with the same line, in the
// input's encoding, and reads back to the same header and cells.
func TestRejectsKeepSepLine(t *testing.T) {
	t.Parallel()
	in := cp1251(t, "sep=;\r\nИмя;Телефон;\r\nПётр;8 (900) 123-45-69 доб. 123;\r\n")
	s, err := NewSource(strings.NewReader(in), "t.csv", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, s)
	path := filepath.Join(t.TempDir(), "rejected.csv")
	w, err := CreateRejects(path, s.Header(), s.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Row{Line: rows[0].Line, Cells: rows[0].Cells}, "телефон не читается"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := cp1251(t, "sep=;\r\nИмя;Телефон;error\r\nПётр;8 (900) 123-45-69 доб. 123;телефон не читается\r\n")
	if !bytes.Equal(b, []byte(want)) {
		t.Fatalf("reject file\n%q\nwant\n%q", b, want)
	}
	back, err := OpenSource(path, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.Dialect() != s.Dialect() {
		t.Fatalf("reject file read as %+v, the input as %+v", back.Dialect(), s.Dialect())
	}
	if r := readAll(t, back); len(r) != 1 || r[0].Line != 3 || r[0].Cells[1] != "8 (900) 123-45-69 доб. 123" {
		t.Fatalf("read back %v", r)
	}
}

// TestCountRowsErrors: a file CountRows cannot open or whose dialect is wrong is an error, as
// for OpenSource.
func TestCountRowsErrors(t *testing.T) {
	t.Parallel()
	if _, err := CountRows(filepath.Join(t.TempDir(), "missing.csv"), SourceOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, []byte("sep=;\na;b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CountRows(path, SourceOptions{Delimiter: ","}); err == nil || !strings.Contains(err.Error(), "sep=;") {
		t.Errorf("sep= against the given delimiter: %v", err)
	}
}

// TestRejectsCRLineEnds: a reject file of a file whose lines end with CR alone ends its lines,
// and the line breaks inside its cells, with CR too, and reads back with the same cells.
func TestRejectsCRLineEnds(t *testing.T) {
	t.Parallel()
	in := cp1251(t, "Имя;Заметка\rИван;\"две\rстроки\"\r")
	s, err := NewSource(strings.NewReader(in), "mac.csv", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, s)
	path := filepath.Join(t.TempDir(), "rejected.csv")
	w, err := CreateRejects(path, s.Header(), s.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Row{Line: rows[0].Line, Cells: rows[0].Cells}, "нет e-mail"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := cp1251(t, "Имя;Заметка;error\rИван;\"две\rстроки\";нет e-mail\r"); string(b) != want {
		t.Fatalf("reject file %q, want %q", b, want)
	}
	back, err := OpenSource(path, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if d := back.Dialect(); d != s.Dialect() {
		t.Fatalf("reject file read as %+v, the input as %+v", d, s.Dialect())
	}
	if r := readAll(t, back); len(r) != 1 || r[0].Cells[1] != "две\nстроки" {
		t.Fatalf("read back %v", r)
	}
}
