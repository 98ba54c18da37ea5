package jsonstr

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"
)

// encodingJSON is what encoding/json writes for s with HTML escaping off, without the newline.
func encodingJSON(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// check holds Append and AppendASCII to encoding/json for one input: the same bytes for valid
// UTF-8 (Append), the same decoded text always, ASCII only from AppendASCII, and the string and
// []byte forms alike.
func check(t *testing.T, s string) {
	t.Helper()
	std := encodingJSON(t, s)
	var want string
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatalf("%q: encoding/json's own output does not decode: %v", s, err)
	}
	got := Append(nil, s)
	if b := Append(nil, []byte(s)); !bytes.Equal(b, got) {
		t.Fatalf("%q: string form %s, []byte form %s", s, got, b)
	}
	if utf8.ValidString(s) && !bytes.Equal(got, std) {
		t.Fatalf("%q: wrote %s, encoding/json %s", s, got, std)
	}
	ascii := AppendASCII(nil, s)
	if b := AppendASCII(nil, []byte(s)); !bytes.Equal(b, ascii) {
		t.Fatalf("%q: ASCII string form %s, []byte form %s", s, ascii, b)
	}
	if i := slices.IndexFunc(ascii, func(c byte) bool { return c >= utf8.RuneSelf }); i >= 0 {
		t.Fatalf("%q: AppendASCII wrote a non-ASCII byte at %d: %s", s, i, ascii)
	}
	for _, out := range [][]byte{got, ascii} {
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q: wrote %s, which does not decode: %v", s, out, err)
		}
		if back != want {
			t.Fatalf("%q: wrote %s, which decodes to %q, encoding/json's to %q", s, out, back, want)
		}
	}
	// Invalid UTF-8 becomes U+FFFD itself, so that the output is a fixed point of decoding and
	// re-encoding (the import ledger hashes params written this way).
	if again := Append(nil, want); !bytes.Equal(again, got) {
		t.Fatalf("%q: wrote %s, re-encoded after decoding %s", s, got, again)
	}
}

var cases = []string{
	"", "plain", "кириллица", "Иван, Петрович", "Ёлка", "Zoë 😀", "<>&", `"\/`, "\x00\x1f\x7f",
	"\r\n\t\b\f", "\u2028\u2029", "a\u2028b", "\ufffd", "\u00a0\u202f", "said \"hi\"; left",
	"\xff", "\xff\xfe", "a\xc3", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
	"я\xd1", "\xd1я", "line one\nline two", "\U0010FFFF", "\uFFFF",
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range cases {
		check(t, s)
	}
}

func TestAppendEscapes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want, ascii string }{
		{"a\"b\\c", `"a\"b\\c"`, `"a\"b\\c"`},
		{"\b\f\x01", `"\b\f\u0001"`, `"\b\f\u0001"`},
		{"Ёж", `"Ёж"`, `"\u0401\u0436"`},
		{"😀", `"😀"`, `"\ud83d\ude00"`},
		{"\u2028", `"\u2028"`, `"\u2028"`},
		{"x\xffy", "\"x\ufffdy\"", `"x\ufffdy"`},
		{"12\u00a0000,00", "\"12\u00a0000,00\"", `"12\u00a0000,00"`},
	} {
		if got := string(Append(nil, c.in)); got != c.want {
			t.Errorf("Append(%q) = %s, want %s", c.in, got, c.want)
		}
		if got := string(AppendASCII(nil, c.in)); got != c.ascii {
			t.Errorf("AppendASCII(%q) = %s, want %s", c.in, got, c.ascii)
		}
	}
	// dst is appended to, not replaced.
	if got := string(Append([]byte("k:"), "v")); got != `k:"v"` {
		t.Errorf("Append to a prefix: %s", got)
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range cases {
		f.Add(s)
	}
	f.Fuzz(check)
}

// benchCells are export cells as the service writes them: ids, e-mails and dates, Russian names
// and sums with NBSP, and comments with quotes and line breaks.
var benchCells = map[string][]string{
	"ascii":    {"1234567", "ivan.petrov@example.ru", "2024-03-01 12:30:00", "+79001234567", "active"},
	"cyrillic": {"Иван Петрович", "Москва", "Курс «Основы»", "12\u00a0000,00", "Оплачен"},
	"escapes":  {"said \"hi\"; left", "line one\nline two", `C:\Users\Иван`, "tab\there", "cr\r\nlf"},
}

func BenchmarkAppend(b *testing.B) {
	for _, name := range []string{"ascii", "cyrillic", "escapes"} {
		cells := benchCells[name]
		size := 0
		for _, c := range cells {
			size += len(c)
		}
		b.Run(name+"/jsonstr", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				for _, c := range cells {
					buf = Append(buf[:0], c)
				}
			}
		})
		b.Run(name+"/jsonstr-bytes", func(b *testing.B) {
			bcells := make([][]byte, len(cells))
			for i, c := range cells {
				bcells[i] = []byte(c)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				for _, c := range bcells {
					buf = Append(buf[:0], c)
				}
			}
		})
		b.Run(name+"/encoding-json", func(b *testing.B) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, c := range cells {
					buf.Reset()
					if err := enc.Encode(c); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestBenchCellsAgree keeps the benchmark honest: both sides write the same bytes.
func TestBenchCellsAgree(t *testing.T) {
	t.Parallel()
	for _, cells := range benchCells {
		for _, c := range cells {
			if got, want := Append(nil, c), encodingJSON(t, c); !bytes.Equal(got, want) {
				t.Errorf("%q: %s, encoding/json %s", c, got, want)
			}
		}
	}
}
