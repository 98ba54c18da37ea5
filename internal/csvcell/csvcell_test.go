package csvcell

import (
	"encoding/csv"
	"strings"
	"testing"
)

func TestNeedsQuotes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cell  string
		delim byte
		want  bool
	}{
		{"", ',', false},
		{"plain", ',', false},
		{"Иван Петрович", ',', false},
		{"12 000,00", ',', true},
		{"12 000,00", ';', false},
		{"semi;colon", ';', true},
		{"tab\there", '\t', true},
		{"tab\there", ',', false},
		{`Dell 27" 4K`, ',', true},
		{"line\nbreak", ',', true},
		{"cr\ronly", ',', true},
		{" leading", ',', true},
		{"trailing ", ',', true},
		{"\tleading tab", ',', true},
		{"trailing tab\t", ',', true},
		{"\ufeffid", ',', true},
		{"id\ufeff", ',', false},
		{"=SUM(A1:A2)", ',', false},
	} {
		if got := NeedsQuotes(c.cell, c.delim); got != c.want {
			t.Errorf("NeedsQuotes(%q, %q) = %v, want %v", c.cell, c.delim, got, c.want)
		}
		if got := NeedsQuotes([]byte(c.cell), c.delim); got != c.want {
			t.Errorf("NeedsQuotes([]byte(%q), %q) = %v, want %v", c.cell, c.delim, got, c.want)
		}
	}
}

// TestUnquotedReadsBack proves the rule from the reading side: a cell the rule leaves bare is
// read back by encoding/csv (which trims nothing) as the same single cell.
func TestUnquotedReadsBack(t *testing.T) {
	t.Parallel()
	for _, cell := range []string{"plain", "Zoë 😀", "a b", "1 234 567,89", "x'y", "@cmd"} {
		for _, delim := range []byte{',', ';', '\t'} {
			if NeedsQuotes(cell, delim) {
				continue
			}
			r := csv.NewReader(strings.NewReader(cell + string(delim) + "next\n"))
			r.Comma = rune(delim)
			rec, err := r.Read()
			if err != nil || len(rec) != 2 || rec[0] != cell || rec[1] != "next" {
				t.Errorf("%q with %q read back as %q, %v", cell, delim, rec, err)
			}
		}
	}
}
