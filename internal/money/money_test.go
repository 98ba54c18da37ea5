package money

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

type parseCase struct {
	in   string
	want int64 // kopecks
	ok   bool
}

func checkParse(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		got, ok := Parse(tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParseRealCells reads money cells the way CRMs and spreadsheets export them.
func TestParseRealCells(t *testing.T) {
	t.Parallel()
	checkParse(t, []parseCase{
		// amoCRM's "Бюджет" column: whole roubles, grouped or with the currency.
		{"15 000", 1500000, true}, {"15000 руб.", 1500000, true}, {"15\u00a0000 ₽", 1500000, true},
		// Bitrix24's "Сумма" of a money field is "amount|currency": not a cell a reader can
		// guess at (the mapping's map or a template has to take the currency off), refused
		// as the money transform always has.
		{"15000.00|RUB", 0, false}, {"15000|USD", 0, false},
		// Excel in a Russian locale: NBSP groups, a decimal comma, the rouble sign or "р.".
		{"1 234,56 ₽", 123456, true}, {"1\u00a0234,56\u00a0₽", 123456, true}, {"1 234,56 р.", 123456, true},
		{"1 234,56 руб.", 123456, true}, {"2490 рублей", 249000, true},
		// English and Swiss spellings.
		{"$1,234.56", 123456, true}, {"1,234.56 USD", 123456, true}, {"€ 100", 10000, true}, {"1'234.50", 123450, true},
		// The service's own deals export (narrow NBSP in newer exports) and what the import sends.
		{"12\u202f000,00", 1200000, true}, {"12000.00", 1200000, true}, {"12000", 1200000, true},
		{"12000,5", 1200050, true}, {"1\u2009500,00", 150000, true},
		// Negative amounts: a refund row, with a hyphen or the minus sign, before or after a
		// leading currency sign.
		{"-500,00", -50000, true}, {"−500", -50000, true}, {"-$5", -500, true}, {"$-5", -500, true}, {"- 1 500 ₽", -150000, true},
		// Refusals: nothing to read, two decimal marks, wrong grouping, words.
		{"12.345.678,9,1", 0, false}, {"abc", 0, false}, {"", 0, false}, {"1,2,3", 0, false},
		{"   ", 0, false}, {"₽", 0, false}, {"-", 0, false}, {",", 0, false}, {"--5", 0, false},
		{"5 apples", 0, false}, {"1e5", 0, false}, {"12,345,67", 0, false}, {"1 2\n500", 0, false},
		{"около 500", 0, false}, {"500 руб. 50 коп.", 0, false},
	})
}

// TestParseTransformCases holds every input of the mappings money transform's own table
// (mappings/transform_test.go TestMoney): Parse is what that transform now runs, and these
// were its outputs before it did.
func TestParseTransformCases(t *testing.T) {
	t.Parallel()
	checkParse(t, []parseCase{
		{"9 990,00 ₽", 999000, true}, {"9\u00a0990,00\u00a0₽", 999000, true}, {"9\u202f990,00 руб.", 999000, true},
		{"1,500.00", 150000, true}, {"1 500", 150000, true}, {"1500", 150000, true}, {"1,5", 150, true},
		{"10.5", 1050, true}, {"10.50", 1050, true}, {"1,500", 150000, true}, {"1.500", 150000, true},
		{"1.234.567,89", 123456789, true}, {"1,234,567.89", 123456789, true}, {"0.500", 50, true},
		{"0,99", 99, true}, {",50", 50, true}, {"$12.5", 1250, true}, {"12.5 $", 1250, true},
		{"€ 100", 10000, true}, {"100 EUR", 10000, true}, {"100 RUB", 10000, true}, {"2 490 р.", 249000, true},
		{"2 490 р", 249000, true}, {"2490 руб", 249000, true}, {"2490 рублей", 249000, true},
		{"-500,00", -50000, true}, {"−500", -50000, true}, {"-$5", -500, true}, {"007", 700, true},
		{"1'500.00", 150000, true}, {"12.3400", 1234, true}, {"12.345", 1234500, true}, {"10,555", 1055500, true},
		{"", 0, false}, {"₽", 0, false}, {"abc", 0, false}, {"12,345,67", 0, false}, {"1.2.3", 0, false},
		{"1,2.3", 0, false}, {"12.3456", 0, false}, {"1,5555", 0, false}, {"--5", 0, false},
		{"5 apples", 0, false}, {"1e5", 0, false}, {"9999999999999999", 0, false},
	})
}

// TestParseSettleCases holds every input of settle's former parseKopecks table
// (importer/settle_test.go): the reader that replaced it accepts all it accepted, with the
// same kopecks. "12 руб", which it refused, is now read (the transform always read it).
func TestParseSettleCases(t *testing.T) {
	t.Parallel()
	checkParse(t, []parseCase{
		{"12 000,00", 1200000, true}, {"12\u00a0000,50", 1200050, true}, {"9990.00", 999000, true},
		{"9990", 999000, true}, {"1,500.00", 150000, true}, {"0,5", 50, true}, {"-500,00", -50000, true},
		{"", 0, false}, {"1 000.5", 100050, true}, {"-", 0, false},
		{"12 руб", 1200, true},
		// The costs of settle's matching test, as the export shows them and as rows send them.
		{"2 990,00", 299000, true}, {"2990", 299000, true}, {"2990.00", 299000, true}, {"100,00", 10000, true},
		{"100.00", 10000, true}, {"500.00", 50000, true}, {"500,00", 50000, true},
	})
}

// TestReadLimits: amounts too precise or too large are refused with the reason, never
// rounded or wrapped.
func TestReadLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"999 999 999 999 999,99", 99999999999999999, nil},
		{"-999999999999999.99", -99999999999999999, nil},
		{"0000000000000000000001", 100, nil}, // leading zeros are not digits of the amount
		{"1 000 000 000 000 000", 0, ErrNotMoney},
		{"9223372036854775807", 0, ErrNotMoney},
		{"99999999999999999999999999999999999999", 0, ErrNotMoney},
		{strings.Repeat("1", 49), 0, ErrNotMoney},
		{"1,555", 155500, nil},           // thousands, not a third decimal
		{"0,555", 0, ErrPrecision},       // a leading zero: a decimal
		{"12.345,678", 0, ErrPrecision},  // both marks: the last is decimal
		{"12 000,5000", 1200050, nil},    // zeros after the second place are no precision
		{"12 000,5001", 0, ErrPrecision}, // a fourth place is
	} {
		got, err := Read(tc.in)
		if !errors.Is(err, tc.err) || err == nil && got != tc.want {
			t.Errorf("Read(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for k, want := range map[int64]string{
		0: "0.00", 5: "0.05", 50: "0.50", 100: "1.00", 999000: "9990.00", 123456789: "1234567.89",
		-5: "-0.05", -500: "-5.00", -123456: "-1234.56",
		math.MaxInt64: "92233720368547758.07", math.MinInt64: "-92233720368547758.08",
	} {
		if got := Format(k); got != want {
			t.Errorf("Format(%d) = %q, want %q", k, got, want)
		}
	}
}

// TestGroupSpaceIsZs: the spaces that may group digits are a tab and exactly Unicode's space
// separators.
func TestGroupSpaceIsZs(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if want := r == '\t' || unicode.Is(unicode.Zs, r); isGroupSpace(r) != want {
			t.Errorf("isGroupSpace(%U) = %v, want %v", r, !want, want)
		}
	}
}

var (
	reFormat = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})\.[0-9]{2}$`)
	rePlain  = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]{1,2}))?$`)
)

// FuzzParse: any text either is refused or reads to kopecks whose Format is deal_cost's shape
// and reads back to the same kopecks; a plain "digits[.dd]" amount reads as arithmetic says.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"9 990,00 ₽", "1,500.00", "12\u202f000,00", "$-12.5", "−1'500,5 руб.", "12.3400",
		"0.500", "1.234.567,89", "15000.00|RUB", "999999999999999.99", "1000000000000000", "", "\xff", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Read(s)
		if err != nil {
			if k != 0 || !errors.Is(err, ErrNotMoney) && !errors.Is(err, ErrPrecision) {
				t.Fatalf("Read(%q) = %d, %v", s, k, err)
			}
		} else {
			out := Format(k)
			again, ok := Parse(out)
			if !reFormat.MatchString(out) || !ok || again != k {
				t.Fatalf("Parse(%q) = %d, Format %q, read back as %d, %v", s, k, out, again, ok)
			}
		}
		m := rePlain.FindStringSubmatch(s)
		if m == nil || len(s) > maxCell {
			return // not plain, or longer than any amount anyone writes: refusing is right too
		}
		whole := strings.TrimLeft(m[1], "0")
		if len(whole) > 15 {
			if err == nil {
				t.Fatalf("Parse(%q) = %d: more than fifteen whole digits", s, k)
			}
			return
		}
		w, _ := strconv.ParseInt("0"+whole, 10, 64)
		frac, _ := strconv.ParseInt((m[2] + "00")[:2], 10, 64)
		want := w*100 + frac
		if err != nil || k != want {
			t.Fatalf("Parse(%q) = %d, %v; want %d", s, k, err, want)
		}
	})
}
