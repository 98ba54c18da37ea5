package importer

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/gcbatch/gcbatch/internal/gen"
)

// BenchmarkReaders measures the Source against encoding/csv set up as it would have to be to
// stand in for it (LazyQuotes for literal quotes, FieldsPerRecord -1 so that a row with the
// wrong cell count is one row, FieldPos for line numbers) doing the same checks per row
// (UTF-8 validity). It is the figure behind keeping our own reader: see Source.
func BenchmarkReaders(b *testing.B) {
	var buf bytes.Buffer
	const n = 200_000
	if err := gen.Contacts(&buf, n, 1); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("source", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			s, err := NewSource(bytes.NewReader(data), "bench.csv", SourceOptions{})
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
	})
	b.Run("encoding-csv", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r := csv.NewReader(bytes.NewReader(data))
			r.LazyQuotes, r.FieldsPerRecord = true, -1
			rows := 0
			for {
				rec, err := r.Read()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if line, _ := r.FieldPos(0); line < 1 {
					b.Fatal("no line")
				}
				for _, c := range rec {
					if !utf8.ValidString(c) {
						b.Fatal("invalid UTF-8")
					}
				}
				rows++
			}
			if rows != n+1 {
				b.Fatalf("%d rows", rows)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// BenchmarkCountRows is the row counter's speed (it reads the whole file before an import).
func BenchmarkCountRows(b *testing.B) {
	path := b.TempDir() + "/contacts.csv"
	var buf bytes.Buffer
	const n = 200_000
	if err := gen.Contacts(&buf, n, 1); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		got, err := CountRows(path, SourceOptions{})
		if err != nil || got != n {
			b.Fatal(got, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}
