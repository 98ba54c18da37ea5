package exporter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// decodeAll runs a Decoder to the end and returns the fields and items it saw.
func decodeAll(r io.Reader) (fields []string, items [][]string, err error) {
	d := NewDecoder(r)
	for {
		p, err := d.Next()
		if err == io.EOF {
			return fields, items, nil
		}
		if err != nil {
			return fields, items, err
		}
		switch p {
		case PartFields:
			fields = append([]string{}, d.Fields()...)
		case PartItem:
			row := make([]string, len(d.Cells()))
			for i, c := range d.Cells() {
				row[i] = string(c)
			}
			items = append(items, row)
		}
	}
}

func TestDecoder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		fields []string
		items  [][]string
	}{
		{"plain", `{"success":true,"info":{"fields":["id","Email"],"items":[["1","a@b.ru"],["2","c@d.ru"]]}}`,
			[]string{"id", "Email"}, [][]string{{"1", "a@b.ru"}, {"2", "c@d.ru"}}},
		{"keys reordered and extras", ` { "info" : { "status":"exported", "items" : [ [ "1" ] ] , "fields":["id"], "meta":{"a":[1,{"b":"}"}]} } , "success" : true , "x": null } `,
			[]string{"id"}, [][]string{{"1"}}},
		{"empty items", `{"success":true,"info":{"fields":["id","Email"],"items":[]}}`, []string{"id", "Email"}, nil},
		{"null items", `{"success":true,"info":{"fields":["id"],"items":null}}`, []string{"id"}, nil},
		{"escapes", `{"success":true,"info":{"fields":["a"],"items":[["q\"b\\s\/n\nr\rt\tf\fb\b"],["\u0418\u043c\u044f"],["\ud83d\ude00 ok"],["lone \ud83d x"],["lone \ude00"]]}}`,
			[]string{"a"}, [][]string{{"q\"b\\s/n\nr\rt\tf\fb\b"}, {"Имя"}, {"😀 ok"}, {"lone \uFFFD x"}, {"lone \uFFFD"}}},
		{"non-strings", `{"success":1,"info":{"fields":["n","f","t","z","neg","nested"],"items":[[12,false,true,null,-1.5e3,[1,"a,b",{"k":"v\"w"}]]]}}`,
			[]string{"n", "f", "t", "z", "neg", "nested"}, [][]string{{"12", "false", "true", "", "-1.5e3", `[1,"a,b",{"k":"v\"w"}]`}}},
		{"items as object", `{"success":true,"info":{"fields":{"0":"id","1":"x"},"items":{"5":["1","a"],"9":{"id":"2","x":"b"}}}}`,
			[]string{"id", "x"}, [][]string{{"1", "a"}, {"2", "b"}}},
		{"raw utf8 and bom", "\xef\xbb\xbf{\"success\":true,\"info\":{\"fields\":[\"Имя\"],\"items\":[[\"Ёж; \\\"x\\\"\"]]}}",
			[]string{"Имя"}, [][]string{{"Ёж; \"x\""}}},
		{"no success key", `{"info":{"fields":["id"],"items":[["1"]]}}`, []string{"id"}, [][]string{{"1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One byte at a time as well, so that every buffer boundary is crossed.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				f, items, err := decodeAll(r)
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if !equalStrings(f, tc.fields) || len(items) != len(tc.items) {
					t.Fatalf("got %q %q, want %q %q", f, items, tc.fields, tc.items)
				}
				for i := range items {
					if !equalStrings(items[i], tc.items[i]) {
						t.Errorf("item %d = %q, want %q", i, items[i], tc.items[i])
					}
				}
			}
		})
	}
}

func TestDecoderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want func(error) bool
	}{
		{"success false", `{"success":false,"error_code":909,"error_message":"Файл еще не создан"}`, isAnswer(909)},
		{"error after info", `{"info":{"fields":["a"],"items":[]},"error":true,"error_code":910}`, isAnswer(910)},
		{"truncated in items", `{"success":true,"info":{"fields":["a"],"items":[["1"],["2`, isErr(io.ErrUnexpectedEOF)},
		{"truncated in escape", `{"success":true,"info":{"fields":["a"],"items":[["\u04`, isErr(io.ErrUnexpectedEOF)},
		{"truncated after", `{"success":true,"info":{"fields":["a"],"items":[]}`, isErr(io.ErrUnexpectedEOF)},
		{"empty", ``, isErr(io.ErrUnexpectedEOF)},
		{"html", `<html>busy</html>`, isSyntax},
		{"missing comma", `{"success":true "info":{}}`, isSyntax},
		{"bad escape", `{"success":true,"info":{"fields":["\x"]}}`, isSyntax},
		{"trailing data", `{"success":true,"info":{"fields":["a"],"items":[]}} {}`, isSyntax},
		{"nothing", `{"success":true,"info":{}}`, isSyntax},
		{"scalar item", `{"success":true,"info":{"fields":["a"],"items":["x"]}}`, isSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeAll(strings.NewReader(tc.in))
			if !tc.want(err) {
				t.Errorf("err = %v (%T)", err, err)
			}
		})
	}
	t.Run("reader error", func(t *testing.T) {
		boom := errors.New("connection reset")
		r := io.MultiReader(strings.NewReader(`{"success":true,"info":{"fields":["a"],"items":[["1"],`), iotest.ErrReader(boom))
		_, items, err := decodeAll(r)
		if !errors.Is(err, boom) || len(items) != 1 {
			t.Errorf("err = %v, items = %d", err, len(items))
		}
	})
}

func isAnswer(code int) func(error) bool {
	return func(err error) bool {
		var ae *AnswerError
		return errors.As(err, &ae) && ae.Code == code
	}
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func isSyntax(err error) bool {
	var se *SyntaxError
	return errors.As(err, &se)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzExportStream checks the streaming decoder against encoding/json: for any input that
// encoding/json reads as an export answer with string cells, both must agree on every cell, and
// no input may make the decoder panic or loop.
func FuzzExportStream(f *testing.F) {
	for _, s := range []string{
		`{"success":true,"info":{"fields":["id","Email"],"items":[["1","a@b.ru"]]}}`,
		`{"info":{"items":[["x,y","\"q\"","a\nb",";"]],"fields":["a","b","c","d"]},"success":true}`,
		`{"success":true,"info":{"fields":["a"],"items":[["\ud83d\ude00\u0418"],["\ud800"]]}}`,
		`{"success":true,"info":{"fields":["a"],"items":[]},"status":"ok"}`,
		`{"success":false,"error_code":909,"error_message":"Файл еще не создан"}`,
		`{"success":true,"info":{"fields":["a","b"],"items":[[1,null],[true,[1,{"x":"y"}]]]}}`,
		`{"success":true,"info":{"fields":["a"],"items":{"3":["z"]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fields, items, err := decodeAll(iotest.HalfReader(bytes.NewReader(in)))
		for i := range fields {
			fields[i] = jsonValid(fields[i])
		}
		for _, it := range items {
			for i := range it {
				it[i] = jsonValid(it[i])
			}
		}
		var ref struct {
			Success *bool `json:"success"`
			Info    *struct {
				Fields []string   `json:"fields"`
				Items  [][]string `json:"items"`
			} `json:"info"`
		}
		if json.Unmarshal(in, &ref) != nil || ref.Info == nil || ref.Info.Fields == nil || (ref.Success != nil && !*ref.Success) {
			return // not a comparable answer; decoding it must merely not panic
		}
		if hasDupKeys(in) {
			return // encoding/json keeps the last duplicate key, a stream sees both
		}
		if err != nil {
			t.Fatalf("encoding/json reads it, the decoder fails: %v", err)
		}
		if !equalStrings(fields, ref.Info.Fields) || len(items) != len(ref.Info.Items) {
			t.Fatalf("fields %q items %d; encoding/json: %q %d", fields, len(items), ref.Info.Fields, len(ref.Info.Items))
		}
		for i := range items {
			if !equalStrings(items[i], ref.Info.Items[i]) {
				t.Fatalf("item %d = %q; encoding/json: %q", i, items[i], ref.Info.Items[i])
			}
		}
	})
}

// hasDupKeys reports whether the answer may repeat a key, or spell one in another case (which
// encoding/json matches and a strict reader does not): such inputs are not compared.
func hasDupKeys(in []byte) bool {
	lower := bytes.ToLower(in)
	for _, k := range []string{`"info"`, `"fields"`, `"items"`, `"success"`} {
		n := bytes.Count(in, []byte(k))
		if n > 1 || bytes.Count(lower, []byte(k)) != n {
			return true
		}
	}
	return false
}

// jsonValid is what encoding/json makes of a decoded string: each invalid UTF-8 byte becomes
// U+FFFD.
func jsonValid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}
