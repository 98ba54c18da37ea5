package workbook

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestTextRoundTrip writes awkward texts and reads them back with excelize's reader: what XML
// cannot hold travels as _xHHHH_ escapes, and a literal escape-like text stays literal.
func TestTextRoundTrip(t *testing.T) {
	texts := []string{
		"plain", "  both ends  ", "\tlead tab", "trail newline\n", "cr\r\nlf", "bell\x07", "nul\x00byte",
		"_x000D_ literal", "_x005F_x", "a_xZZZZ_b", "<tag> & \"quote\" 'apos'", "=SUM(A1:A2)", "+79001234567",
		"00123", "12345678901234567890", "Zoë 😀 Ёлка", "\uFFFE", "",
	}
	var buf bytes.Buffer
	w := New(&buf, Options{SheetName: "t"})
	if err := w.Header([]string{"text"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		if err := w.RowStrings([]string{s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.RowStrings([]string{"bad utf-8 \xff"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.xlsx")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, want := range append(texts, "bad utf-8 \uFFFD") {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		got, err := f.GetCellValue("t", cell, excelize.Options{RawCellValue: true})
		if err != nil || got != want {
			t.Errorf("%s: %q (%v), want %q", cell, got, err, want)
		}
	}
}

func TestSheetName(t *testing.T) {
	for in, want := range map[string]string{
		"users": "users", "a/b:c?": "a_b_c_", "'quoted'": "quoted", "": "Sheet1",
		strings.Repeat("я", 40): strings.Repeat("я", 25),
	} {
		if got := SheetName(in); got != want {
			t.Errorf("SheetName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExcelSerial(t *testing.T) {
	for in, want := range map[string]float64{
		"1900-03-01": 61, "2024-03-01": 45352, "2024-03-01T12:00:00": 45352.5, "2024-03-01 06:00": 45352.25,
	} {
		if got, ok := excelSerial([]byte(in)); !ok || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"1899-12-31", "2024-13-01", "not a date"} {
		if _, ok := excelSerial([]byte(in)); ok {
			t.Errorf("%s is a date", in)
		}
	}
}
