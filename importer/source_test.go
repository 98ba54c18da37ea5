package importer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"

	"github.com/gcbatch/gcbatch/internal/gen"
)

// got is a row as the tests compare it.
type got struct {
	Line  int
	Cells []string
	Err   string // "" or the full error text
}

func (g got) String() string { return fmt.Sprintf("%d %q %s", g.Line, g.Cells, g.Err) }

// readAll reads every row; it fails the test on an I/O error.
func readAll(t testing.TB, s *Source) []got {
	t.Helper()
	var out []got
	for {
		r, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		g := got{Line: r.Line, Cells: r.Cells}
		if r.Err != nil {
			g.Err = r.Err.Error()
		}
		out = append(out, g)
		if len(out) > 1e6 {
			t.Fatal("Next never ends")
		}
	}
}

// cp1251 encodes UTF-8 test text as windows-1251.
func cp1251(t testing.TB, s string) string {
	t.Helper()
	b, err := charmap.Windows1251.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func row(line int, cells ...string) got { return got{Line: line, Cells: cells} }

func bad(line int, err string, cells ...string) got { return got{Line: line, Cells: cells, Err: err} }

func TestSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		opts    SourceOptions
		header  []string
		dialect Dialect
		rows    []got
	}{
		{
			name:    "comma LF",
			in:      "a,b,c\n1,2,3\n4,5,6\n",
			header:  []string{"a", "b", "c"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows:    []got{row(2, "1", "2", "3"), row(3, "4", "5", "6")},
		},
		{
			name:    "semicolon CRLF, last line without newline",
			in:      "a;b\r\n1;2\r\n3;4",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", CRLF: true},
			rows:    []got{row(2, "1", "2"), row(3, "3", "4")},
		},
		{
			name:    "tab",
			in:      "a\tb\n1,5\t2;3\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: '\t', Encoding: "utf-8"},
			rows:    []got{row(2, "1,5", "2;3")},
		},
		{
			name:    "pipe",
			in:      "a|b\nx|y\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: '|', Encoding: "utf-8"},
			rows:    []got{row(2, "x", "y")},
		},
		{
			name:    "UTF-8 with BOM",
			in:      "\xEF\xBB\xBFИмя;Город\r\nИван;Москва\r\n",
			header:  []string{"Имя", "Город"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", BOM: true, CRLF: true},
			rows:    []got{row(2, "Иван", "Москва")},
		},
		{
			name:    "windows-1251 detected",
			in:      cp1251(t, "Имя;Сумма\r\nЁжиков;9 990,00\r\n"),
			header:  []string{"Имя", "Сумма"},
			dialect: Dialect{Delimiter: ';', Encoding: "windows-1251", CRLF: true},
			rows:    []got{row(2, "Ёжиков", "9 990,00")},
		},
		{
			name:    "windows-1251 given",
			in:      cp1251(t, "Имя,Город\nПётр,Пермь\n"),
			opts:    SourceOptions{Encoding: "windows-1251", Delimiter: ","},
			header:  []string{"Имя", "Город"},
			dialect: Dialect{Delimiter: ',', Encoding: "windows-1251"},
			rows:    []got{row(2, "Пётр", "Пермь")},
		},
		{
			name:    "utf-8 given, invalid bytes are a row error",
			in:      "Имя,Город\n" + cp1251(t, "Пётр") + ",Пермь\nИван,Омск\n",
			opts:    SourceOptions{Encoding: "utf-8"},
			header:  []string{"Имя", "Город"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				bad(2, `t.csv:2: column 1 "Имя": not valid UTF-8 (if the file is windows-1251, set csv: {encoding: windows-1251} in the mapping)`, cp1251(t, "Пётр"), "Пермь"),
				row(3, "Иван", "Омск"),
			},
		},
		{
			name:    "quotes: delimiters, escapes, line breaks",
			in:      "a,b,c\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\"\",\"\"\"\",\"crlf\r\ninside\"\n7,8,9\n",
			header:  []string{"a", "b", "c"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				row(2, "x,y", `say "hi"`, "two\nlines"),
				row(4, "", `"`, "crlf\r\ninside"),
				row(6, "7", "8", "9"),
			},
		},
		{
			name:    "blank lines and delimiter-only lines are skipped",
			in:      "\n\na;b\n\n1;2\n \n;;\n\r\n3;4\n;\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8"},
			rows:    []got{row(5, "1", "2"), row(9, "3", "4")},
		},
		{
			name:    "empty cells, trailing delimiter",
			in:      "a,b,c\n,,x\n1,,\n",
			header:  []string{"a", "b", "c"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows:    []got{row(2, "", "", "x"), row(3, "1", "", "")},
		},
		{
			name:    "wrong cell counts continue",
			in:      "a,b,c\n1,2\n1,2,3,4\n5,6,7\n",
			header:  []string{"a", "b", "c"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				bad(2, "t.csv:2: row has 2 cells, the header has 3", "1", "2"),
				bad(3, "t.csv:3: row has 4 cells, the header has 3", "1", "2", "3", "4"),
				row(4, "5", "6", "7"),
			},
		},
		{
			name:    "a quote inside an unquoted cell is a literal character",
			in:      "a,b\n5\" screen,x\nDell 27\" 4K,55°45'20\"N\n\"ok\"tail,y\nfine,z\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				row(2, `5" screen`, "x"),
				row(3, `Dell 27" 4K`, `55°45'20"N`),
				bad(4, `t.csv:4: column 1 "a": text after the closing quote (a " inside a quoted cell must be doubled: "say ""hi""")`, `ok"tail`, "y"),
				row(5, "fine", "z"),
			},
		},
		{
			name:    "unclosed quote costs one line, not the rest of the file",
			in:      "a,b\n1,\"oops\n2,x\n3,y\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				bad(2, `t.csv:2: column 2 "b": quote is never closed`, "1", "oops"),
				row(3, "2", "x"),
				row(4, "3", "y"),
			},
		},
		{
			name:    "a quote opened by mistake and closed lines later",
			in:      "a,b\n1,\"oops\n2,x\n3,\"y\"z\n4,w\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				bad(2, `t.csv:2: column 2 "b": quote is never closed`, "1", "oops"),
				row(3, "2", "x"),
				bad(4, `t.csv:4: column 2 "b": text after the closing quote (a " inside a quoted cell must be doubled: "say ""hi""")`, "3", `y"z`),
				row(5, "4", "w"),
			},
		},
		{
			name:    "a multi-line row with a cell too many is one reject, the next row reads",
			in:      "Email,Comment\na@b.ru,\"x\ny\",extra\nc@d.ru,plain\n",
			header:  []string{"Email", "Comment"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				bad(2, "t.csv:2: row has 3 cells, the header has 2", "a@b.ru", "x\ny", "extra"),
				row(4, "c@d.ru", "plain"),
			},
		},
		{
			name:    "a multi-line row with a cell too few",
			in:      "a;b;c\r\n\"one\r\ntwo\";2\r\n1;2;3\r\n",
			header:  []string{"a", "b", "c"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", CRLF: true},
			rows: []got{
				bad(2, "t.csv:2: row has 2 cells, the header has 3", "one\r\ntwo", "2"),
				row(4, "1", "2", "3"),
			},
		},
		{
			name:    "CR line ends (the old Mac Excel's CSV)",
			in:      "sep=;\rИмя;Заметка\r\rИван;\"две\rстроки\"\rОльга;\r",
			header:  []string{"Имя", "Заметка"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", CR: true, Sep: true},
			rows:    []got{row(4, "Иван", "две\nстроки"), row(6, "Ольга", "")},
		},
		{
			name:    "Excel's sep= line names the delimiter and is line 1",
			in:      "sep=;\r\nИмя;Сумма\r\nИван;9 990,00\r\n",
			header:  []string{"Имя", "Сумма"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", CRLF: true, Sep: true},
			rows:    []got{row(3, "Иван", "9 990,00")},
		},
		{
			name:    "sep= with the same delimiter given, after a BOM",
			in:      "\xEF\xBB\xBFsep=,\na,b\n1,2\n",
			opts:    SourceOptions{Delimiter: ","},
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8", BOM: true, Sep: true},
			rows:    []got{row(3, "1", "2")},
		},
		{
			name:    "sep= names a delimiter detection would not pick",
			in:      "SEP=|\na;b|c\n1;2|3\n",
			header:  []string{"a;b", "c"},
			dialect: Dialect{Delimiter: '|', Encoding: "utf-8", Sep: true},
			rows:    []got{row(3, "1;2", "3")},
		},
		{
			name:    "sep= written back quoted and with trailing delimiters",
			in:      "\"sep=;\";;\na;b\n1;2\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", Sep: true},
			rows:    []got{row(3, "1", "2")},
		},
		{
			name:    "sep=tab",
			in:      "sep=\t\na\tb\n1\t2\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: '\t', Encoding: "utf-8", Sep: true},
			rows:    []got{row(3, "1", "2")},
		},
		{
			name:    "a first line that only starts like sep= is the header",
			in:      "sep=x;y\n1;2\n",
			header:  []string{"sep=x", "y"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8"},
			rows:    []got{row(2, "1", "2")},
		},
		{
			name:    "a delimiter at the end of every line is no column",
			in:      "a;b;c;\r\n1;2;3;\r\n4;;;\r\n7;8;9\r\n",
			header:  []string{"a", "b", "c"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", CRLF: true},
			rows:    []got{row(2, "1", "2", "3"), row(3, "4", "", ""), row(4, "7", "8", "9")},
		},
		{
			name:    "empty unnamed columns at the end, and data in one",
			in:      "a,b,,\n1,2,,\n3,4\n5,6,x,\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				row(2, "1", "2"), row(3, "3", "4"),
				bad(4, "t.csv:4: row has 3 cells, the header has 2", "5", "6", "x"),
			},
		},
		{
			name:    "names used twice and unnamed columns inside are kept",
			in:      "E-mail,Тег,,Тег\na@b.ru,x,,y\n",
			header:  []string{"E-mail", "Тег", "", "Тег"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows:    []got{row(2, "a@b.ru", "x", "", "y")},
		},
		{
			name:    "unclosed quote on the last line",
			in:      "a,b\n1,\"x",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows:    []got{bad(2, `t.csv:2: column 2 "b": quote is never closed`, "1", "x")},
		},
		{
			name:    "NUL byte",
			in:      "a,b\n1,x\x00y\n2,z\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows: []got{
				bad(2, `t.csv:2: column 2 "b": NUL byte in the cell (is this a text CSV file?)`, "1", "x\x00y"),
				row(3, "2", "z"),
			},
		},
		{
			name:    "header only",
			in:      "a;b;c\r\n",
			header:  []string{"a", "b", "c"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8", CRLF: true},
		},
		{
			name:    "header names are trimmed",
			in:      " E-mail ,Имя\nx@y.ru,Иван\n",
			header:  []string{"E-mail", "Имя"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows:    []got{row(2, "x@y.ru", "Иван")},
		},
		{
			name:    "single column",
			in:      "email\na@b.ru\nc@d.ru\n",
			header:  []string{"email"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows:    []got{row(2, "a@b.ru"), row(3, "c@d.ru")},
		},
		{
			name:    "decimal commas in a semicolon file",
			in:      "Товар;Сумма;Город\nКурс;9 990,00;Москва\nКнига;500;Омск\n",
			header:  []string{"Товар", "Сумма", "Город"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8"},
			rows:    []got{row(2, "Курс", "9 990,00", "Москва"), row(3, "Книга", "500", "Омск")},
		},
		{
			name:    "detection ignores delimiters inside quotes",
			in:      "\"a,1\";b\n\"x,y,z\";2\n",
			header:  []string{"a,1", "b"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8"},
			rows:    []got{row(2, "x,y,z", "2")},
		},
		{
			name:    "a few broken lines do not defeat detection",
			in:      "a;b\n" + strings.Repeat("1;2\n", 20) + "1;2;3\n",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: ';', Encoding: "utf-8"},
			rows: append(func() []got {
				var rs []got
				for i := range 20 {
					rs = append(rs, row(i+2, "1", "2"))
				}
				return rs
			}(), bad(22, "t.csv:22: row has 3 cells, the header has 2", "1", "2", "3")),
		},
		{
			name:    "given delimiter wins over detection",
			in:      "a;b,c\n1;2,3\n",
			opts:    SourceOptions{Delimiter: ","},
			header:  []string{"a;b", "c"},
			dialect: Dialect{Delimiter: ',', Encoding: "utf-8"},
			rows:    []got{row(2, "1;2", "3")},
		},
		{
			name:    "tab spelled as in YAML",
			in:      "a\tb\n1\t2\n",
			opts:    SourceOptions{Delimiter: `\t`},
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: '\t', Encoding: "utf-8"},
			rows:    []got{row(2, "1", "2")},
		},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "byte by byte"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				var r io.Reader = strings.NewReader(tt.in)
				if mode == "byte by byte" {
					r = iotest.OneByteReader(r) // records and quotes split across reads
				}
				s, err := NewSource(r, "t.csv", tt.opts)
				if err != nil {
					t.Fatalf("NewSource: %v", err)
				}
				if !reflect.DeepEqual(s.Header(), tt.header) {
					t.Errorf("header %q, want %q", s.Header(), tt.header)
				}
				if s.Dialect() != tt.dialect {
					t.Errorf("dialect %+v, want %+v", s.Dialect(), tt.dialect)
				}
				rows := readAll(t, s)
				if len(rows) != len(tt.rows) {
					t.Fatalf("got %d rows, want %d:\n%v", len(rows), len(tt.rows), rows)
				}
				for i := range rows {
					if !reflect.DeepEqual(rows[i], tt.rows[i]) {
						t.Errorf("row %d:\n got %v\nwant %v", i, rows[i], tt.rows[i])
					}
				}
			})
		}
	}
}

func TestSourceOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		opts SourceOptions
		want string
		is   error
	}{
		{name: "empty", in: "", want: "t.csv: the file is empty", is: ErrEmptyFile},
		{name: "BOM only", in: "\xEF\xBB\xBF", want: "t.csv: the file is empty", is: ErrEmptyFile},
		{name: "blank lines only", in: "\n\r\n  \n", want: "the file is empty", is: ErrEmptyFile},
		{name: "no names", in: "\"\",\" \"\n1,2\n", want: "t.csv:1: header: no column has a name"},
		{name: "sep= and another delimiter given", in: "sep=;\na;b\n", opts: SourceOptions{Delimiter: ","},
			want: `t.csv:1: the file's first line says sep=;, but the mapping says csv: {delimiter: ","}`},
		{name: "sep= with a delimiter gcbatch does not read", in: "sep=:\na:b\n", want: `t.csv:1: the first line "sep=:" names a delimiter gcbatch does not read`},
		{name: "sep= line only", in: "sep=;\r\n", want: "t.csv: the file is empty", is: ErrEmptyFile},
		{name: "broken header", in: "a,\"b\n", want: `t.csv:1: header: column 2: quote is never closed`},
		{name: "ambiguous delimiter", in: "a;b,c\n1;2,3\n", want: `cannot tell the delimiter: it could be "," or ";"; set it in the mapping, e.g. csv: {delimiter: ","}`},
		{name: "no consistent delimiter", in: "a;b\n1,2\n3|4\n", want: `set it in the mapping, e.g. csv: {delimiter: ";"}`},
		{name: "bad delimiter option", in: "a\n", opts: SourceOptions{Delimiter: ":"}, want: `csv delimiter ":" is not supported`},
		{name: "bad encoding option", in: "a\n", opts: SourceOptions{Encoding: "koi8-r"}, want: `csv encoding "koi8-r" is not supported`},
		{name: "UTF-16 but windows-1251 given", in: "\xFF\xFEa\x00\n\x00", opts: SourceOptions{Encoding: "windows-1251"}, want: "the file is UTF-16"},
		{name: "BOM but windows-1251 given", in: "\xEF\xBB\xBFa\n", opts: SourceOptions{Encoding: "windows-1251"}, want: "byte order mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewSource(strings.NewReader(tt.in), "t.csv", tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestSourceIOError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("a,b\n1,2\n3,4\n"), iotest.ErrReader(boom))
	s, err := NewSource(r, "t.csv", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	for {
		_, err := s.Next()
		if err == nil {
			rows++
			continue
		}
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "t.csv: ") {
			t.Fatalf("Next error %v, want the read error naming the file", err)
		}
		break
	}
	if rows != 2 {
		t.Fatalf("read %d rows before the error, want 2", rows)
	}
}

func TestSourceLongRecords(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200<<10)
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{
			name: "an over-long line is skipped",
			in:   "a,b\n1," + long + "\n2,y\n",
			want: []got{bad(2, "t.csv:2: line is longer than 100 KiB; skipped"), row(3, "2", "y")},
		},
		{
			name: "an open quote that runs past the limit costs one line",
			in:   "a,b\n1,\"oops\n" + strings.Repeat("2,y\n", 30000),
			want: append([]got{bad(2, `t.csv:2: column 2 "b": quote is never closed`, "1", "oops")},
				func() []got {
					var rs []got
					for i := range 30000 {
						rs = append(rs, row(i+3, "2", "y"))
					}
					return rs
				}()...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewSource(strings.NewReader(tt.in), "t.csv", SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.maxRecord = 100 << 10 // as if the limit were this small: the bound is what is tested
			rows := readAll(t, s)
			if len(rows) != len(tt.want) {
				t.Fatalf("got %d rows, want %d; first: %v", len(rows), len(tt.want), rows[:min(3, len(rows))])
			}
			for i := range rows {
				if !reflect.DeepEqual(rows[i], tt.want[i]) {
					t.Fatalf("row %d:\n got %v\nwant %v", i, rows[i], tt.want[i])
				}
			}
			if len(s.buf) > s.maxRecord+1 {
				t.Fatalf("buffer grew to %d bytes, past the %d limit", len(s.buf), s.maxRecord)
			}
		})
	}
}

func TestOpenSourceAndCountRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"plain", "a,b\n1,2\n3,4\n", 2},
		{"no final newline", "a,b\n1,2\n3,4", 2},
		{"blank and delimiter-only lines", "a;b\r\n\r\n1;2\r\n;;\r\n3;4\r\n\r\n", 2},
		{"quoted line breaks", "a,b\n\"x\ny\",1\n\"\"\"\",\"p\n\nq\"\n", 2},
		{"header only", "a,b\n", 0},
		{"BOM", "\xEF\xBB\xBFa,b\n1,2\n", 1},
		{"quote inside a cell", "a,b\n5\" screen,x\n2,y\n", 2},
		{"lines longer than the counting buffer", "a,b\n\"" + strings.Repeat("x\n", 300<<10) + "\"," + strings.Repeat("y", 300<<10) + "\n1,2\n", 2},
		{"generated contacts", func() string {
			var b bytes.Buffer
			if err := gen.Contacts(&b, 3000, 5); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}(), 3000},
		{"generated orders", func() string {
			var b bytes.Buffer
			if err := gen.Orders(&b, 3000, 5); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}(), 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "in.csv")
			if err := os.WriteFile(path, []byte(tt.in), 0o600); err != nil {
				t.Fatal(err)
			}
			n, err := CountRows(path, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("CountRows = %d, want %d", n, tt.want)
			}
			s, err := OpenSource(path, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if rows := readAll(t, s); len(rows) != tt.want {
				t.Errorf("Next gave %d rows, want %d", len(rows), tt.want)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	if _, err := OpenSource(filepath.Join(t.TempDir(), "missing.csv"), SourceOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenSource of a missing file: %v", err)
	}
	if _, err := CountRows(filepath.Join(t.TempDir(), "missing.csv"), SourceOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CountRows of a missing file: %v", err)
	}
}

// TestSourceDetectsWindows1251AfterLongASCII documents the limit of detection: only the first
// 64 KiB decide, and what comes later is reported row by row with the way out.
func TestSourceEncodingDecidedByTheSample(t *testing.T) {
	t.Parallel()
	in := "a,b\n" + strings.Repeat("x,y\n", 20000) + cp1251(t, "Пётр,Омск\n")
	s, err := NewSource(strings.NewReader(in), "t.csv", SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Dialect().Encoding != EncodingUTF8 {
		t.Fatalf("encoding %s, want utf-8 from an ASCII sample", s.Dialect().Encoding)
	}
	rows := readAll(t, s)
	last := rows[len(rows)-1]
	if last.Line != 20002 || !strings.Contains(last.Err, "set csv: {encoding: windows-1251}") {
		t.Fatalf("last row %v, want a UTF-8 error on line 20002 that says how to fix it", last)
	}
}

// TestRoundTrip reads a file, writes every row to a reject file and reads that back: the cells
// and the dialect must survive, so a user can fix rejected.csv and feed it back.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	cells := [][]string{
		{"Ёжиков Пётр", "9 990,00", "say \"hi\""},
		{"a;b,c|d\te", "two\nlines", " padded "},
		{"", "x", ""},
		{"«ёлка» — №5", "", "crlf\r\ninside"},
	}
	tests := []struct {
		name    string
		dialect Dialect
	}{
		{"utf-8 comma", Dialect{Delimiter: ',', Encoding: "utf-8"}},
		{"utf-8 BOM semicolon CRLF", Dialect{Delimiter: ';', Encoding: "utf-8", BOM: true, CRLF: true}},
		{"windows-1251 semicolon", Dialect{Delimiter: ';', Encoding: "windows-1251", CRLF: true}},
		{"windows-1251 tab", Dialect{Delimiter: '\t', Encoding: "windows-1251"}},
		{"utf-8 pipe", Dialect{Delimiter: '|', Encoding: "utf-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			// The input is itself written by the reject writer, then its error column dropped
			// by the header: write it with a header that already ends in "error".
			in := filepath.Join(dir, "in.csv")
			w, err := CreateRejects(in, []string{"Имя", "Сумма", "Заметка"}, tt.dialect)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cells {
				if err := w.Write(Row{Line: i + 2, Cells: c}, fmt.Sprintf("reason %d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			first := readBack(t, in, tt.dialect)
			// Now the round trip proper: read → reject writer → read.
			out := filepath.Join(dir, "out", "rejected.csv")
			s, err := OpenSource(in, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rw, err := CreateRejects(out, s.Header(), s.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			for {
				r, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil || r.Err != nil {
					t.Fatalf("Next: %v %v", err, r.Err)
				}
				if err := rw.Write(r, "again"); err != nil {
					t.Fatal(err)
				}
			}
			if err := rw.Close(); err != nil {
				t.Fatal(err)
			}
			second := readBack(t, out, tt.dialect)
			for i := range cells {
				if !reflect.DeepEqual(first[i][:3], cells[i]) || !reflect.DeepEqual(second[i][:3], cells[i]) {
					t.Errorf("row %d: wrote %q, read %q then %q", i, cells[i], first[i], second[i])
				}
				if first[i][3] != fmt.Sprintf("reason %d", i) || second[i][3] != "again" {
					t.Errorf("row %d: reasons %q, %q", i, first[i][3], second[i][3])
				}
			}
			// The second file is the first byte for byte, apart from the reasons.
			a, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for i := range cells {
				a = bytes.ReplaceAll(a, []byte(fmt.Sprintf("reason %d", i)), []byte("again"))
			}
			if !bytes.Equal(a, b) {
				t.Errorf("the rewritten file differs:\n%q\n%q", a, b)
			}
		})
	}
}

// readBack detects the dialect of a written file, checks it, and returns its rows' cells.
func readBack(t *testing.T, path string, want Dialect) [][]string {
	t.Helper()
	s, err := OpenSource(path, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect() != want {
		t.Fatalf("%s: dialect %+v, want %+v", path, s.Dialect(), want)
	}
	if h := s.Header(); !reflect.DeepEqual(h, []string{"Имя", "Сумма", "Заметка", "error"}) {
		t.Fatalf("%s: header %q", path, h)
	}
	var out [][]string
	for _, g := range readAll(t, s) {
		if g.Err != "" {
			t.Fatalf("%s: %s", path, g.Err)
		}
		out = append(out, g.Cells)
	}
	return out
}

func FuzzSource(f *testing.F) {
	seeds := []string{
		"a,b,c\n1,2,3\n",
		"a;b\r\n\"x;\"\"y\";2\r\n",
		"\xEF\xBB\xBFa\tb\n1\t\"two\nlines\"\n",
		"a,b\n1,\"oops\n2,x\n",
		"a|b\n5\" screen|x\n\"q\"z|y\n",
		"a,b\n1,x\x00y\n",
		cp1251(f, "Имя;Город\nПётр;Омск\n"),
		"\n\na,b\n,\n;;\n1,2",
		"a,b\n\"",
		"a,b\n1,\"\"\"",
		"sep=;\r\na;b;\r\n1;\"x\r\ny\";z;\r\n2;3;\r\n",
		"Email,Comment\na@b.ru,\"x\ny\",extra\nc@d.ru,plain\n",
		"a,,b,b,\nDell 27\" 4K,,55°45'20\"N,\"q\"\"\",\n",
		"sep=;\ra;b\r\"x\ry\";2\r;;\r3;\"oops\r4;5\r",
		"\xFF\xFEa\x00\t\x00b\x00\r\x00\n\x001\x00\t\x00\"\x00x\x00\n\x00y\x00\"\x00\r\x00\n\x00", // UTF-16LE
		"\xFE\xFF\x00a\x00;\x00b\x00\n\x041\x00;\xD8\x3D\xDE\x00\x00\n",                           // UTF-16BE, Cyrillic, an emoji
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i%5), uint8(i%3))
	}
	delims := []string{"", ",", ";", "\t", "|"}
	encs := []string{"", "utf-8", "windows-1251"}
	f.Fuzz(func(t *testing.T, in []byte, d, e uint8) {
		opts := SourceOptions{Delimiter: delims[int(d)%len(delims)], Encoding: encs[int(e)%len(encs)]}
		s, err := NewSource(bytes.NewReader(in), "f.csv", opts)
		if err != nil {
			return
		}
		var valid []Row
		prev := 1
		nrows := 0
		for n := 0; ; n++ {
			if n > len(in)+1 {
				t.Fatalf("more rows than bytes: Next does not advance")
			}
			r, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if r.Line < 2 || r.Line <= prev {
				t.Fatalf("row line %d after %d", r.Line, prev)
			}
			prev = r.Line
			nrows++
			if r.Err == nil && len(r.Cells) != len(s.Header()) {
				t.Fatalf("line %d: %d cells without an error, header has %d", r.Line, len(r.Cells), len(s.Header()))
			}
			if r.Err == nil && s.Dialect().Encoding == EncodingUTF8 {
				valid = append(valid, r)
			}
		}
		// The row counter finds the same rows (issue 18.7).
		c, err := newSource(bytes.NewReader(in), "f.csv", opts, true)
		if err != nil {
			t.Fatalf("counting: %v", err)
		}
		counted := 0
		for {
			if _, err := c.Next(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("counting: %v", err)
			}
			counted++
		}
		if counted != nrows {
			t.Fatalf("the counter found %d rows, Next %d", counted, nrows)
		}
		if len(valid) == 0 {
			return
		}
		// Valid rows survive the reject writer unchanged.
		path := filepath.Join(t.TempDir(), "r.csv")
		w, err := CreateRejects(path, s.Header(), s.Dialect())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range valid {
			if err := w.Write(r, "x"); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		d2 := s.Dialect()
		back, err := OpenSource(path, SourceOptions{Delimiter: string(d2.Delimiter), Encoding: d2.Encoding})
		if err != nil {
			t.Fatalf("reading the reject file back: %v", err)
		}
		defer back.Close()
		if back.Dialect() != d2 {
			t.Fatalf("reject file dialect %+v, input %+v", back.Dialect(), d2)
		}
		rows := readAll(t, back)
		if len(rows) != len(valid) {
			t.Fatalf("reject file has %d rows, wrote %d", len(rows), len(valid))
		}
		_, replaced := errorColumn(s.Header())
		for i, r := range rows {
			if r.Err != "" {
				t.Fatalf("reject file row: %s", r.Err)
			}
			want := valid[i].Cells
			if replaced { // the input's own error column holds the new reason now
				want = want[:len(want)-1]
			}
			if cells := r.Cells[:len(r.Cells)-1]; !reflect.DeepEqual(cells, want) {
				t.Fatalf("row %d: wrote %q, read back %q", i, want, cells)
			}
		}
	})
}

func BenchmarkSource(b *testing.B) {
	var buf bytes.Buffer
	const n = 1000000
	if err := gen.Contacts(&buf, n, 1); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		s, err := NewSource(bytes.NewReader(buf.Bytes()), "bench.csv", SourceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			r, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || r.Err != nil {
				b.Fatal(err, r.Err)
			}
			rows++
		}
		if rows != n {
			b.Fatalf("%d rows", rows)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// A UTF-16 file in either byte order, longer than the sample the dialect is guessed from and
// with characters outside the BMP, reads as the same text in UTF-8, and CountRows agrees.
// The file is encoded with the standard library's unicode/utf16, not the decoder's package.
func TestSourceUTF16(t *testing.T) {
	t.Parallel()
	var text strings.Builder
	text.WriteString("email;имя;заметка\r\n")
	var want []got
	for i := range 3000 {
		note := fmt.Sprintf("😀 заметка %d", i)
		if i%7 == 0 {
			note = "\"две\nстроки\""
		}
		fmt.Fprintf(&text, "u%d@example.com;Пётр %d;%s\r\n", i, i, note)
		if i%7 == 0 {
			note = "две\nстроки"
		}
		want = append(want, got{Cells: []string{fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("Пётр %d", i), note}})
	}
	// Line numbers: each quoted two-line cell before a row moves it down by one.
	for i := range want {
		want[i].Line = 2 + i + (i+6)/7
	}
	units := utf16.Encode([]rune(text.String()))
	for _, order := range []struct {
		name string
		bo   binary.AppendByteOrder
		bom  []byte
		enc  string
	}{{"LE", binary.LittleEndian, []byte{0xFF, 0xFE}, EncodingUTF16LE}, {"BE", binary.BigEndian, []byte{0xFE, 0xFF}, EncodingUTF16BE}} {
		t.Run(order.name, func(t *testing.T) {
			t.Parallel()
			raw := slices.Clone(order.bom)
			for _, u := range units {
				raw = order.bo.AppendUint16(raw, u)
			}
			path := filepath.Join(t.TempDir(), "u16.csv")
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenSource(path, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if d := s.Dialect(); d != (Dialect{Delimiter: ';', Encoding: order.enc, BOM: true, CRLF: true}) {
				t.Errorf("dialect %+v", d)
			}
			rows := readAll(t, s)
			if !reflect.DeepEqual(rows, want) {
				for i := range min(len(rows), len(want)) {
					if !reflect.DeepEqual(rows[i], want[i]) {
						t.Fatalf("row %d: got %v, want %v", i, rows[i], want[i])
					}
				}
				t.Fatalf("%d rows, want %d", len(rows), len(want))
			}
			if n, err := CountRows(path, SourceOptions{}); err != nil || n != len(want) {
				t.Errorf("CountRows = %d, %v; want %d", n, err, len(want))
			}
		})
	}
}
