package mappings

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// LoadError is one problem with a mapping file, found when it loads or when it is compiled
// against a CSV header. Line and Column are 1-based positions in the YAML file (0 when the problem
// has no place, such as an unreadable file). Hint is a suggestion such as "did you mean
// user.first_name?".
type LoadError struct {
	File         string
	Line, Column int
	Msg, Hint    string
}

// Error reads like `samples/contacts.yaml:7:3: unknown target path "user.frist_name" (did you
// mean user.first_name?)`.
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// LoadErrors is every problem found in one pass, in file order, so that a user fixes them all at
// once instead of one per run. errors.As finds each *LoadError in it.
type LoadErrors []*LoadError

// Error lists the problems one per line.
func (es LoadErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (es LoadErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// RowError says why one CSV row was rejected: every field that failed, not only the first.
type RowError []FieldError

// Error reads like `E-mail: "ivan@" is not a valid e-mail; Статус: "Оплочен" is not a known
// status (map it, or use one of new, payed, ...)`.
func (r RowError) Error() string {
	parts := make([]string, len(r))
	for i, f := range r {
		parts[i] = f.Error()
	}
	return strings.Join(parts, "; ")
}

// FieldError is one field of a row that failed. Path is the target path; Column names the CSV
// column(s) the value came from (empty for constants and row-level checks); Value is the cell as
// read.
type FieldError struct {
	Path, Column, Value, Msg string

	skipped bool // left out by on_error: skip (a warning unless the row is rejected)
}

// maxShownValue bounds how much of a bad cell an error repeats: errors go into results.csv.
const maxShownValue = 60

// Error reads like `E-mail: "ivan@" is not a valid e-mail`.
func (f FieldError) Error() string {
	name := f.Column
	if name == "" {
		name = f.Path
	}
	var b strings.Builder
	if name != "" {
		b.WriteString(name)
		b.WriteString(": ")
	}
	if f.Value != "" {
		b.WriteString(quoteShort(f.Value))
		b.WriteString(" ")
	}
	b.WriteString(f.Msg)
	return b.String()
}

// quoteShort quotes a value for a message, cut to maxShownValue runes.
func quoteShort(v string) string {
	if utf8.RuneCountInString(v) > maxShownValue {
		r := []rune(v)
		v = string(r[:maxShownValue]) + "…"
	}
	return fmt.Sprintf("%q", v)
}

// EditDistance is the Levenshtein distance over runes, case-insensitive: how suggestions ("did
// you mean ...?") find the nearest valid name, here and in the online preflight.
func EditDistance(a, b string) int {
	ra := []rune(strings.ToLower(a))
	rb := []rune(strings.ToLower(b))
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// nearest returns the candidate closest to s, if it is close enough to be a plausible typo.
func nearest(s string, candidates []string) (string, bool) {
	best, bestD := "", -1
	for _, c := range candidates {
		d := EditDistance(s, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 {
		return "", false
	}
	limit := max(2, utf8.RuneCountInString(s)/3)
	return best, bestD <= limit
}

// didYouMean formats a suggestion, or "" when nothing is close.
func didYouMean(s string, candidates []string) string {
	if c, ok := nearest(s, candidates); ok {
		return "did you mean " + c + "?"
	}
	return ""
}
