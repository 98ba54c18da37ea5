package exporter

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// BenchmarkExport moves a 100,000-item users export (25 standard columns plus the account's
// custom fields) from an in-process gcsim over loopback HTTP through the decoder into a CSV
// file, and reports rows/s end to end (design.md's bar: ≥ 100,000 rows/s).
func BenchmarkExport(b *testing.B) {
	const items = 100_000
	sim := gcsim.New(gcsim.Config{Key: simKey, SeedUsers: items, ExportDelay: -1, ExportBudget: -1, Seed: 1})
	srv := httptest.NewServer(http.StripPrefix("/acct", sim))
	defer srv.Close()
	c, err := getcourse.NewClient(getcourse.WithBaseURL(srv.URL+"/acct"), getcourse.WithKey(simKey),
		getcourse.WithLimiter(rate.NewLimiter(rate.Inf, 1)))
	if err != nil {
		b.Fatal(err)
	}
	st, err := checkpoint.Open(filepath.Join(b.TempDir(), "state.db"), checkpoint.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	out := filepath.Join(b.TempDir(), "users.csv")
	var rows int64
	var cols int
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		res, err := Run(b.Context(), c, usersAll, Options{Output: out, Store: st, PollInitial: time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Rows
		cols = res.Columns
	}
	elapsed := time.Since(start)
	if rows != int64(b.N)*items {
		b.Fatalf("%d rows for %d runs", rows, b.N)
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(cols), "columns")
}

// BenchmarkStream measures the decoder and CSV writer alone on an in-memory 25-column answer,
// to separate our cost from the simulator's and the network's.
func BenchmarkStream(b *testing.B) {
	const items, cols = 20_000, 25
	var body []byte
	body = append(body, `{"success":true,"info":{"fields":[`...)
	for j := range cols {
		if j > 0 {
			body = append(body, ',')
		}
		body = append(body, fmt.Sprintf("%q", fmt.Sprintf("Колонка %d", j))...)
	}
	body = append(body, `],"items":[`...)
	for i := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, '[')
		for j := range cols {
			if j > 0 {
				body = append(body, ',')
			}
			switch j % 5 {
			case 0:
				body = append(body, fmt.Sprintf(`"%d"`, 1000000+i)...)
			case 1:
				body = append(body, fmt.Sprintf(`"user%d@example.ru"`, i)...)
			case 2:
				body = append(body, `"Иван \"Ваня\", Петров"`...)
			case 3:
				body = append(body, `"12 000,00"`...)
			default:
				body = append(body, `"2024-03-01 12:30:00"`...)
			}
		}
		body = append(body, ']')
	}
	body = append(body, "]}}"...)
	b.SetBytes(int64(len(body)))
	o := Options{Format: FormatCSV}
	b.ResetTimer()
	for b.Loop() {
		w := bufio.NewWriterSize(io.Discard, 256<<10)
		out := &output{target: "-", stdout: true, w: w}
		rows, _, _, err := stream(b.Context(), bytes.NewReader(body), out, &o)
		if err != nil || rows != items {
			b.Fatal(rows, err)
		}
	}
	b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "rows/s")
}
