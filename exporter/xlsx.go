package exporter

import (
	"bufio"
	"path/filepath"
	"strings"

	"github.com/gcbatch/gcbatch/internal/workbook"
)

// FormatXLSX writes a workbook: the header bold and frozen with a filter, every cell a text cell
// holding exactly the exported value (with Normalize, normalised money becomes a number cell
// and normalised dates date cells). Rows past a sheet's 1,048,575 go on to further sheets.
const FormatXLSX Format = "xlsx"

// xlsxWriter is the rowWriter of FormatXLSX. The zip is written straight into the output's
// buffered writer (see package workbook), so memory stays flat and the output's temporary file
// and rename give the same crash safety as CSV.
type xlsxWriter struct {
	wb        *workbook.Writer
	normalize bool
	pick      []int
	width     int
	cells     [][]byte
	kinds     []workbook.Kind
	scratch   [][]byte // per column, for normalised values
}

func newXLSXWriter(w *bufio.Writer, o *Options, pick []int, maxRows int) *xlsxWriter {
	return &xlsxWriter{
		wb:        workbook.New(w, workbook.Options{SheetName: sheetNameFor(o.Output), MaxRows: maxRows}),
		normalize: o.Normalize,
		pick:      pick,
	}
}

// sheetNameFor names the sheet after the output file ("deals.xlsx" → "deals").
func sheetNameFor(output string) string {
	base := strings.TrimSuffix(filepath.Base(output), filepath.Ext(output))
	if output == "" || output == "-" || base == "" || base == "." {
		return "Export"
	}
	return workbook.SheetName(base)
}

func (xw *xlsxWriter) header(names []string) error {
	xw.width = len(names)
	return xw.wb.Header(names)
}

func (xw *xlsxWriter) row(cells [][]byte) error {
	xw.cells = xw.cells[:0]
	if xw.pick != nil {
		for _, j := range xw.pick {
			var c []byte
			if j < len(cells) {
				c = cells[j]
			}
			xw.cells = append(xw.cells, c)
		}
	} else {
		xw.cells = append(xw.cells, cells...)
	}
	if !xw.normalize {
		return xw.wb.Row(xw.cells, nil)
	}
	xw.kinds = xw.kinds[:0]
	for len(xw.scratch) < len(xw.cells) {
		xw.scratch = append(xw.scratch, nil)
	}
	for i, c := range xw.cells {
		k := workbook.Text
		if out, ok := normalizeCell(xw.scratch[i][:0], c); ok {
			xw.scratch[i] = out
			xw.cells[i] = out
			k = workbook.Number
			if len(out) == 19 && out[10] == 'T' {
				k = workbook.DateTime
			}
		}
		xw.kinds = append(xw.kinds, k)
	}
	return xw.wb.Row(xw.cells, xw.kinds)
}

// finish writes the rest of the workbook; the output is complete only after it.
func (xw *xlsxWriter) finish() error { return xw.wb.Close() }

// finishRows completes a writer that needs it (a workbook's closing parts) before the output
// is committed.
func finishRows(rw rowWriter) error {
	if f, ok := rw.(interface{ finish() error }); ok {
		return f.finish()
	}
	return nil
}
