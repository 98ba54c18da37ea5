package exporter

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"
)

// BenchmarkStreamXLSX measures the decoder and the workbook writer alone on an in-memory
// 25-column answer (the same shape as BenchmarkStream's).
func BenchmarkStreamXLSX(b *testing.B) {
	const items, cols = 20_000, 25
	var body bytes.Buffer
	body.WriteString(`{"success":true,"info":{"fields":[`)
	for j := range cols {
		if j > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `"Колонка %d"`, j)
	}
	body.WriteString(`],"items":[`)
	for i := range items {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteByte('[')
		for j := range cols {
			if j > 0 {
				body.WriteByte(',')
			}
			switch j % 5 {
			case 0:
				fmt.Fprintf(&body, `"%d"`, 1000000+i)
			case 1:
				fmt.Fprintf(&body, `"user%d@example.ru"`, i)
			case 2:
				body.WriteString(`"Иван \"Ваня\", Петров"`)
			case 3:
				body.WriteString(`"12 000,00"`)
			default:
				body.WriteString(`"2024-03-01 12:30:00"`)
			}
		}
		body.WriteByte(']')
	}
	body.WriteString("]}}")
	b.SetBytes(int64(body.Len()))
	o := Options{Format: FormatXLSX}
	for b.Loop() {
		w := bufio.NewWriterSize(io.Discard, 256<<10)
		out := &output{target: "-", stdout: true, w: w}
		rows, _, _, err := stream(b.Context(), bytes.NewReader(body.Bytes()), out, &o)
		if err != nil || rows != items {
			b.Fatal(rows, err)
		}
	}
	b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "rows/s")
}
