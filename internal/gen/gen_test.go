package gen

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"
	"testing"
)

func TestGenerators(t *testing.T) {
	t.Parallel()
	type genFunc func(io.Writer, int, int64, ...Option) error
	tests := []struct {
		name   string
		gen    genFunc
		header []string
		comma  rune
		unique int // the column whose values must be unique
	}{
		{"contacts", Contacts, ContactsHeader, ',', 0},
		{"orders", Orders, OrdersHeader, ';', 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const n = 5000
			var a, b bytes.Buffer
			if err := tt.gen(&a, n, 7); err != nil {
				t.Fatal(err)
			}
			if err := tt.gen(&b, n, 7); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("the same seed gave different files")
			}
			r := csv.NewReader(&a)
			r.Comma = tt.comma
			recs, err := r.ReadAll() // also checks every row has the header's cell count
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != n+1 {
				t.Fatalf("got %d records, want %d", len(recs), n+1)
			}
			if strings.Join(recs[0], "|") != strings.Join(tt.header, "|") {
				t.Fatalf("header %q, want %q", recs[0], tt.header)
			}
			seen := map[string]bool{}
			for _, rec := range recs[1:] {
				k := strings.ToLower(strings.TrimSpace(rec[tt.unique]))
				if k == "" {
					if tt.name == "contacts" && rec[1] == "" {
						t.Fatalf("row with neither e-mail nor phone: %q", rec)
					}
					continue
				}
				if seen[k] {
					t.Fatalf("duplicate key %q", k)
				}
				seen[k] = true
			}
		})
	}
}

func TestInvalidRows(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := Contacts(&buf, 10000, 1, Invalid(0.05)); err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(&buf)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, rec := range recs[1:] {
		if len(rec) != len(ContactsHeader) || strings.HasSuffix(strings.TrimSpace(rec[0]), "@") || rec[6] == "31.02.1990" {
			bad++
		}
	}
	if bad < 350 || bad > 650 {
		t.Fatalf("%d invalid rows of 10000 with Invalid(0.05), want about 500", bad)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := Orders(&buf, 3, 1, Delimiter('\t'), CRLF()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\r\n")
	if len(lines) != 5 || lines[4] != "" {
		t.Fatalf("want 4 CRLF lines, got %q", buf.String())
	}
	if !strings.HasPrefix(lines[0], "Номер заказа\tE-mail\t") {
		t.Fatalf("header %q is not tab-delimited", lines[0])
	}
}

func BenchmarkContacts(b *testing.B) {
	for b.Loop() {
		if err := Contacts(io.Discard, 100000, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
