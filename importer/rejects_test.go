package importer

import (
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

func TestRejectWriter(t *testing.T) {
	t.Parallel()
	utf8Comma := Dialect{Delimiter: ',', Encoding: EncodingUTF8}
	tests := []struct {
		name    string
		header  []string
		dialect Dialect
		rows    []Row
		reasons []string
		want    string
	}{
		{
			name:    "error column added, quoting only where needed",
			header:  []string{"E-mail", "Имя"},
			dialect: utf8Comma,
			rows: []Row{
				{Line: 2, Cells: []string{"ivan@", "Иван"}},
				{Line: 3, Cells: []string{"a,b", "say \"hi\""}},
				{Line: 4, Cells: []string{" lead", "two\nlines"}},
			},
			reasons: []string{`E-mail: "ivan@" is not a valid e-mail`, "x", "y"},
			want: "E-mail,Имя,error\n" +
				"ivan@,Иван,\"E-mail: \"\"ivan@\"\" is not a valid e-mail\"\n" +
				"\"a,b\",\"say \"\"hi\"\"\",x\n" +
				"\" lead\",\"two\nlines\",y\n",
		},
		{
			name:    "wrong cell counts are kept as they were",
			header:  []string{"a", "b", "c"},
			dialect: utf8Comma,
			rows:    []Row{{Cells: []string{"1", "2"}}, {Cells: []string{"1", "2", "3", "4"}}},
			reasons: []string{"row has 2 cells, the header has 3", "row has 4 cells, the header has 3"},
			want: "a,b,c,error\n" +
				"1,2,\"row has 2 cells, the header has 3\"\n" +
				"1,2,3,4,\"row has 4 cells, the header has 3\"\n",
		},
		{
			name:    "a reject file fed back gets its reasons replaced",
			header:  []string{"a", "b", "error"},
			dialect: utf8Comma,
			rows:    []Row{{Cells: []string{"1", "2", "old reason"}}, {Cells: []string{"1", "old reason"}}},
			reasons: []string{"new reason", "short"},
			want:    "a,b,error\n1,2,new reason\n1,short\n",
		},
		{
			name:    "an error column of the user's own is kept",
			header:  []string{"error", "b"},
			dialect: utf8Comma,
			rows:    []Row{{Cells: []string{"E1", "2"}}},
			reasons: []string{"bad"},
			want:    "error,b,gcbatch_error\nE1,2,bad\n",
		},
		{
			name:    "BOM, semicolon, CRLF",
			header:  []string{"Имя", "Сумма"},
			dialect: Dialect{Delimiter: ';', Encoding: EncodingUTF8, BOM: true, CRLF: true},
			rows:    []Row{{Cells: []string{"Иван", "9 990,00 ₽"}}},
			reasons: []string{"Сумма: нет"},
			want:    "\xEF\xBB\xBFИмя;Сумма;error\r\nИван;9 990,00 ₽;Сумма: нет\r\n",
		},
		{
			name:    "windows-1251, characters it lacks become ?",
			header:  []string{"Имя", "Сумма"},
			dialect: Dialect{Delimiter: ';', Encoding: EncodingWindows1251},
			rows:    []Row{{Cells: []string{"Ёжиков «Пётр» №1", "9 990,00 ₽"}}},
			reasons: []string{"не сумма 🙈"},
			want:    cp1251(t, "Имя;Сумма;error\nЁжиков «Пётр» №1;9 990,00 ?;не сумма ?\n"),
		},
		{
			name:    "tab",
			header:  []string{"a", "b"},
			dialect: Dialect{Delimiter: '\t', Encoding: EncodingUTF8},
			rows:    []Row{{Cells: []string{"x\ty", "z"}}},
			reasons: []string{"r"},
			want:    "a\tb\terror\n\"x\ty\"\tz\tr\n",
		},
		{
			name:    "invalid UTF-8 goes back byte for byte",
			header:  []string{"a"},
			dialect: utf8Comma,
			rows:    []Row{{Cells: []string{"\xcf\xb8\xf2\xf0"}}},
			reasons: []string{"not valid UTF-8"},
			want:    "a,error\n\xcf\xb8\xf2\xf0,not valid UTF-8\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "run", "rejected.csv")
			w, err := CreateRejects(path, tt.header, tt.dialect)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range tt.rows {
				if err := w.Write(r, tt.reasons[i]); err != nil {
					t.Fatal(err)
				}
			}
			if w.Rows() != len(tt.rows) {
				t.Errorf("Rows() = %d, want %d", w.Rows(), len(tt.rows))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("file:\n%q\nwant:\n%q", b, tt.want)
			}
		})
	}
}

func TestRejectWriterModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "reports", "run-1")
	path := filepath.Join(dir, "rejected.csv")
	// A file left by an earlier run with a loose mode is truncated and tightened.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old content that must go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := CreateRejects(path, []string{"a"}, Dialect{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Row{Cells: []string{"1"}}, "late"); err == nil {
		t.Error("Write after Close succeeded")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if string(b) != "a,error\n" {
		t.Errorf("file %q, want the header alone", b)
	}

	fresh := filepath.Join(t.TempDir(), "new", "deeper", "rejected.csv")
	w, err = CreateRejects(fresh, []string{"a"}, Dialect{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, d := range []string{filepath.Dir(fresh), filepath.Dir(filepath.Dir(fresh))} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("folder %s mode %v, want 0700", d, st.Mode().Perm())
		}
	}
}

func TestRejectWriterConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rejected.csv")
	w, err := CreateRejects(path, []string{"n"}, Dialect{Delimiter: ';', Encoding: EncodingUTF8})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				if err := w.Write(Row{Cells: []string{fmt.Sprint(g*each + i)}}, "r"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSource(path, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[string]bool{}
	for _, r := range readAll(t, s) {
		if r.Err != "" || len(r.Cells) != 2 || r.Cells[1] != "r" {
			t.Fatalf("interleaved row %v", r)
		}
		seen[r.Cells[0]] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct rows, want %d", len(seen), workers*each)
	}
}

func TestErrorColumn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header  string
		name    string
		replace bool
	}{
		{"a,b", "error", false},
		{"a,error", "error", true},
		{"error,b", "gcbatch_error", false},
		{"error,gcbatch_error", "gcbatch_error", true},
		{"error,gcbatch_error,b", "gcbatch_error_2", false},
		{"error,error", "gcbatch_error", false},
		{"", "error", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			var h []string
			if tt.header != "" {
				h = strings.Split(tt.header, ",")
			}
			name, replace := errorColumn(h)
			if name != tt.name || replace != tt.replace {
				t.Errorf("errorColumn(%q) = %q, %v; want %q, %v", h, name, replace, tt.name, tt.replace)
			}
		})
	}
}

// TestRejectWriterWindows1251EveryCharacter: every character of windows-1251 is written as its
// own byte (through charmap.Windows1251, the same table the Source decodes with), so a reject
// file gives back exactly the bytes the user had; what the code page lacks becomes "?".
func TestRejectWriterWindows1251EveryCharacter(t *testing.T) {
	t.Parallel()
	var text []rune
	var want []byte
	for b := 0x80; b <= 0xFF; b++ {
		r := charmap.Windows1251.DecodeByte(byte(b))
		if r == utf8.RuneError || r == '"' || r == ';' {
			continue
		}
		text = append(text, r)
		want = append(want, byte(b))
	}
	text = append(text, '₽', '😀')
	want = append(want, '?', '?')
	path := filepath.Join(t.TempDir(), "r.csv")
	w, err := CreateRejects(path, []string{"a"}, Dialect{Delimiter: ';', Encoding: EncodingWindows1251})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Row{Cells: []string{string(text)}}, "x"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wantFile := "a;error\n" + string(want) + ";x\n"
	if string(got) != wantFile {
		t.Fatalf("wrote\n%q\nwant\n%q", got, wantFile)
	}
}

// A UTF-16 input (Excel's "Unicode Text") gets its rejects back in UTF-16LE with a byte order
// mark and its own delimiter, which Excel opens in any locale. The file is checked with the
// standard library's UTF-16 and CSV readers, then read back by gcbatch itself.
func TestRejectWriterUTF16(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{EncodingUTF16LE, EncodingUTF16BE} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "rejected.csv")
			d := Dialect{Delimiter: '\t', Encoding: enc, BOM: true, CRLF: true}
			w, err := CreateRejects(path, []string{"E-mail", "Имя"}, d)
			if err != nil {
				t.Fatal(err)
			}
			rows := [][]string{{"bad@", "Пётр 😀"}, {"x", "строка\nс переносом и \"кавычками\"\tи табом"}}
			for i, cells := range rows {
				if err := w.Write(Row{Line: i + 2, Cells: cells}, "Email: not an e-mail"); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) < 2 || raw[0] != 0xFF || raw[1] != 0xFE || len(raw)%2 != 0 {
				t.Fatalf("not UTF-16LE with a byte order mark: % x", raw[:min(len(raw), 8)])
			}
			units := make([]uint16, 0, len(raw)/2-1)
			for i := 2; i < len(raw); i += 2 {
				units = append(units, binary.LittleEndian.Uint16(raw[i:]))
			}
			cr := csv.NewReader(strings.NewReader(string(utf16.Decode(units))))
			cr.Comma = '\t'
			recs, err := cr.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			want := [][]string{{"E-mail", "Имя", "error"}}
			for _, cells := range rows {
				want = append(want, append(slices.Clone(cells), "Email: not an e-mail"))
			}
			if !reflect.DeepEqual(recs, want) {
				t.Fatalf("read back as\n%q\nwant\n%q", recs, want)
			}
			s, err := OpenSource(path, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Dialect(); got.Encoding != EncodingUTF16LE || got.Delimiter != '\t' {
				t.Errorf("gcbatch reads it back as %+v", got)
			}
			for i, r := range readAll(t, s) {
				if !reflect.DeepEqual(r.Cells, want[i+1]) || r.Err != "" {
					t.Errorf("row %d read back by gcbatch as %q (%s), want %q", i+2, r.Cells, r.Err, want[i+1])
				}
			}
		})
	}
}
