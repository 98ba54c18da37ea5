package exporter

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// bodyClient answers every export with a fixed body: for output tests that need exact cells.
type bodyClient struct {
	body   []byte
	starts int
	opens  int
}

func (c *bodyClient) Account() string { return "fixture" }
func (c *bodyClient) StartExport(context.Context, getcourse.ExportRequest) (int64, error) {
	c.starts++
	return 7, nil
}
func (c *bodyClient) OpenExport(context.Context, int64) (io.ReadCloser, error) {
	c.opens++
	return io.NopCloser(bytes.NewReader(c.body)), nil
}

func openStore(t *testing.T) *checkpoint.Store {
	t.Helper()
	st, err := checkpoint.Open(filepath.Join(t.TempDir(), "state.db"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var usersFrom = getcourse.ExportRequest{Object: getcourse.ExportUsers,
	Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2024-01-01"}}}

func fastOptions(st *checkpoint.Store, out string) Options {
	return Options{Output: out, Store: st, PollInitial: time.Millisecond, PollMax: 5 * time.Millisecond,
		BusyInitial: time.Millisecond, Wait: 10 * time.Second}
}

func TestGolden(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "tricky.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden string
		set    func(o *Options)
	}{
		{"tricky.csv", func(o *Options) {}},
		{"tricky.excel.csv", func(o *Options) { o.Delimiter, o.BOM, o.CRLF, o.EscapeFormulas = ';', true, true, true }},
		{"tricky.jsonl", func(o *Options) { o.Format = FormatJSONL }},
		{"tricky.tsv", func(o *Options) { o.Delimiter = '\t' }},
		{"tricky.columns-normalize.csv", func(o *Options) {
			o.Normalize = true
			o.Columns = []Column{{From: "Email"}, {From: "сумма", To: "Amount"}, {From: "Создан", To: "Created"}, {From: "Формула"}}
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			o := fastOptions(openStore(t), out)
			tc.set(&o)
			res, err := Run(t.Context(), &bodyClient{body: body}, usersFrom, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != 5 {
				t.Errorf("rows = %d", res.Rows)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
				t.Errorf("mode = %v, want 0600", st.Mode().Perm())
			}
			compareGolden(t, filepath.Join("testdata", tc.golden), got)
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got: %q\nwant: %q", path, got, want)
	}
}

func TestItemsBeforeFields(t *testing.T) {
	body := `{"info":{"items":[["1","a,b"],["2","c"]],"fields":["id","x"]},"success":true}`
	out := filepath.Join(t.TempDir(), "out.csv")
	res, err := Run(t.Context(), &bodyClient{body: []byte(body)}, usersFrom, fastOptions(openStore(t), out))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != "id,x\n1,\"a,b\"\n2,c\n" || res.Rows != 2 || res.Columns != 2 {
		t.Errorf("got %q (%+v)", got, res)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestUnknownColumn(t *testing.T) {
	body := `{"success":true,"info":{"fields":["id","Email"],"items":[["1","a"]]}}`
	st := openStore(t)
	out := filepath.Join(t.TempDir(), "out.csv")
	o := fastOptions(st, out)
	o.Columns = []Column{{From: "Emial"}}
	c := &bodyClient{body: []byte(body)}
	_, err := Run(t.Context(), c, usersFrom, o)
	var ce *ColumnError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `"Emial"`) || !strings.Contains(err.Error(), `"Email"`) ||
		!strings.Contains(err.Error(), "export 7 is built and stays recorded") || !strings.Contains(err.Error(), "without starting a new export") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a file was written")
	}
	// The export stays pending: fixing --columns collects it without a new start.
	o.Columns = []Column{{From: "Email", To: "E-mail"}}
	if _, err := Run(t.Context(), c, usersFrom, o); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != "E-mail\na\n" || c.starts != 1 {
		t.Errorf("got %q after %d starts", got, c.starts)
	}
}

func TestNormalizeCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"12 000,00", "12000.00"},
		{"12\u00a0000,00", "12000.00"},
		{"1\u202f234\u202f567,8", "1234567.8"},
		{"-350,5", "-350.5"},
		{"1 500", "1500"},
		{"2024-03-01 12:30:00", "2024-03-01T12:30:00"},
		{"9990", "9990"},               // bare integers: ids, phones
		{"89001234567", "89001234567"}, // a phone
		{"8 900 123 45 67", "8 900 123 45 67"},
		{"1 23", "1 23"},
		{"1234 567", "1234 567"},
		{"12 000,000", "12 000,000"},
		{"1,2,3", "1,2,3"},
		{"12 000,", "12 000,"},
		{"-", "-"},
		{"2024-03-01", "2024-03-01"},
		{"2024-03-01 12:30", "2024-03-01 12:30"},
		{"abc", "abc"},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p := cellPrep{normalize: true}
			if got := string(p.cell([]byte(tc.in))); got != tc.want {
				t.Errorf("normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseColumns(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Column
		ok   bool
	}{
		{"Email,Имя=First name", []Column{{From: "Email"}, {From: "Имя", To: "First name"}}, true},
		{" Email , id ", []Column{{From: "Email"}, {From: "id"}}, true},
		{`Сумма\, руб=Sum,a\=b`, []Column{{From: "Сумма, руб", To: "Sum"}, {From: "a=b"}}, true},
		{"", nil, true},
		{"a,,b", nil, false},
		{"a=", nil, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseColumns(tc.in)
			if (err == nil) != tc.ok || len(got) != len(tc.want) {
				t.Fatalf("ParseColumns(%q) = %v, %v", tc.in, got, err)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("column %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestFormulaLike(t *testing.T) {
	for in, want := range map[string]bool{
		"=1+1": true, "@SUM(A1)": true, "+cmd|' /C calc'!A0": true, "-2+3": true, "\tx": true,
		"-500": false, "+79001234567": false, "-12,50": false, "-1.5": false, "a=b": false, "": false, "-": true,
	} {
		if got := formulaLike([]byte(in)); got != want {
			t.Errorf("formulaLike(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCanonicalFilters(t *testing.T) {
	a := CanonicalFilters([]getcourse.Filter{{Name: "status", Value: "payed"}, {Name: "created_at", Sub: "from", Value: "2024-01-01"}})
	b := CanonicalFilters([]getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2024-01-01"}, {Name: "status", Value: "payed"}})
	if a != b || a != "created_at%5Bfrom%5D=2024-01-01&status=payed" {
		t.Errorf("%q vs %q", a, b)
	}
}

// TestCellsReadBackAlike: the CSV output quotes what a spreadsheet program would otherwise trim
// or take for a byte order mark (the reject file's rule, csvcell), and JSON Lines escapes
// control characters as encoding/json does.
func TestCellsReadBackAlike(t *testing.T) {
	body := `{"success":true,"info":{"fields":["\ufeffid","x"],"items":[["1","trailing "],["2","tab\t"],["3","bs\b ff\f"]]}}`
	for _, c := range []struct {
		format Format
		want   string
	}{
		{FormatCSV, "\"\ufeffid\",x\n1,\"trailing \"\n2,\"tab\t\"\n3,bs\b ff\f\n"},
		{FormatJSONL, "{\"\ufeffid\":\"1\",\"x\":\"trailing \"}\n{\"\ufeffid\":\"2\",\"x\":\"tab\\t\"}\n" +
			"{\"\ufeffid\":\"3\",\"x\":\"bs\\b ff\\f\"}\n"},
	} {
		out := filepath.Join(t.TempDir(), "out."+string(c.format))
		o := fastOptions(openStore(t), out)
		o.Format = c.format
		if _, err := Run(t.Context(), &bodyClient{body: []byte(body)}, usersFrom, o); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); string(got) != c.want {
			t.Errorf("%s: got %q, want %q", c.format, got, c.want)
		}
	}
}
