package gcsim

import (
	"bufio"
	"strconv"

	"github.com/gcbatch/gcbatch/internal/jsonstr"
)

// Answers are built by hand rather than with encoding/json: the import answers are on the hot
// path of every benchmark, and the export answer must stream a million rows without building
// them in memory.

// appendJSONString appends s as a JSON string. With ascii set every non-ASCII rune is written as
// a \uXXXX escape (surrogate pairs above U+FFFF), the way PHP's json_encode does by default.
func appendJSONString(b []byte, s string, ascii bool) []byte {
	if ascii {
		return jsonstr.AppendASCII(b, s)
	}
	return jsonstr.Append(b, s)
}

// rowWriter writes export items: arrays of string cells, straight into a buffered writer.
type rowWriter struct {
	w       *bufio.Writer
	ascii   bool
	numbers bool // Config.NumericItems: ids and money as JSON numbers
	rows    int
	cells   int
	scratch []byte
	esc     []byte
}

func (rw *rowWriter) begin() {
	if rw.rows > 0 {
		rw.w.WriteByte(',')
	}
	rw.w.WriteByte('[')
	rw.rows++
	rw.cells = 0
}

func (rw *rowWriter) end() { rw.w.WriteByte(']') }

func (rw *rowWriter) sep() {
	if rw.cells > 0 {
		rw.w.WriteByte(',')
	}
	rw.cells++
}

// str writes one text cell.
func (rw *rowWriter) str(s string) {
	rw.sep()
	rw.scratch = appendJSONString(rw.scratch[:0], s, rw.ascii)
	rw.w.Write(rw.scratch)
}

// raw writes a cell whose bytes need no escaping (digits, dates, ASCII codes), quoted.
func (rw *rowWriter) rawBytes(b []byte) {
	rw.sep()
	rw.w.WriteByte('"')
	rw.w.Write(b)
	rw.w.WriteByte('"')
}

func (rw *rowWriter) int(n int64) {
	if rw.numbers {
		rw.sep()
		rw.w.Write(strconv.AppendInt(rw.scratch[:0], n, 10))
		return
	}
	rw.rawBytes(strconv.AppendInt(rw.scratch[:0], n, 10))
}

// time writes a "YYYY-MM-DD HH:MM:SS" cell, empty for 0.
func (rw *rowWriter) time(unix int64) {
	if unix == 0 {
		rw.str("")
		return
	}
	rw.rawBytes(appendDateTime(rw.scratch[:0], unix))
}

// money writes a Russian money cell ("12 000,00").
func (rw *rowWriter) money(k int64, nbsp bool) {
	if rw.numbers {
		// A plain decimal with two places, as a JSON number: 12000.50.
		rw.sep()
		b := rw.scratch[:0]
		if k < 0 {
			b, k = append(b, '-'), -k
		}
		b = append2(append(strconv.AppendInt(b, k/100, 10), '.'), int(k%100))
		rw.w.Write(b)
		return
	}
	rw.scratch = appendMoney(rw.scratch[:0], k, nbsp)
	if nbsp && rw.ascii {
		rw.sep()
		rw.esc = jsonstr.AppendASCII(rw.esc[:0], rw.scratch)
		rw.w.Write(rw.esc)
		return
	}
	rw.rawBytes(rw.scratch)
}
