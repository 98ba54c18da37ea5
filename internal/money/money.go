package money

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrNotMoney is Read's answer for a text that is not an amount of money.
var ErrNotMoney = errors.New("not an amount of money")

// ErrPrecision is Read's answer for an amount with a third decimal place that is not zero
// ("12.345,678", "1,5555"): kopecks are the smallest unit, and rounding is not ours to do.
var ErrPrecision = errors.New("more than two decimal places")

// maxWhole is the most whole digits an amount may have: 10^15 roubles in kopecks is 10^17,
// far inside an int64 (about 9.2·10^18), so a cost times a quantity of up to ninety still fits.
const maxWhole = 15

// maxCell is the most digits and marks an amount may have: a longer cell ("0000…", a string of
// ids) is not an amount anyone writes, and refusing it keeps Parse free of allocations.
const maxCell = 48

// Parse reads an amount of money (the rules are in the package documentation) and returns it
// in kopecks (cents: hundredths of the unit); ok is false when s is not an amount.
func Parse(s string) (kopecks int64, ok bool) {
	k, err := Read(s)
	return k, err == nil
}

// Read is Parse that says why it refused: ErrPrecision for a third decimal place, ErrNotMoney
// for anything else.
func Read(s string) (kopecks int64, err error) {
	s = strings.TrimSpace(s)
	neg := false
	takeSign := func() {
		if strings.HasPrefix(s, "-") {
			neg, s = true, strings.TrimSpace(s[1:])
		} else if strings.HasPrefix(s, "−") {
			neg, s = true, strings.TrimSpace(s[len("−"):])
		}
	}
	takeSign() // "-500 ₽", "−$5"
	s = stripCurrency(s)
	if !neg {
		takeSign() // "$-5", "₽ -500"
	}
	// Keep the digits and the marks; spaces and apostrophes only ever group thousands.
	var buf [maxCell]byte
	b := buf[:0]
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r == ',', r == '.':
			if len(b) == cap(b) {
				return 0, ErrNotMoney
			}
			b = append(b, byte(r))
		case isGroupSpace(r) || r == '\'' || r == '’':
		default:
			return 0, ErrNotMoney
		}
	}
	if len(b) == 0 {
		return 0, ErrNotMoney
	}
	commas, dots, last := 0, 0, -1
	for i, c := range b {
		if c == ',' {
			commas++
			last = i
		} else if c == '.' {
			dots++
			last = i
		}
	}
	// whole keeps its thousands marks (checked by grouped, skipped by the sum below); frac
	// never has any: it follows the last mark.
	whole, frac := b, []byte(nil)
	switch {
	case last < 0:
	case commas > 0 && dots > 0:
		// Both: the last one is the decimal mark, the other groups thousands.
		dec := b[last]
		for _, c := range b[:last] {
			if c == dec {
				return 0, ErrNotMoney
			}
		}
		if !grouped(b[:last]) {
			return 0, ErrNotMoney
		}
		whole, frac = b[:last], b[last+1:]
	case commas > 1 || dots > 1:
		if !grouped(b) {
			return 0, ErrNotMoney
		}
	default:
		// One mark once: "1,500" and "1.500" group thousands, "1,5", "10.50" and "0.500" are
		// decimals.
		before, after := last, len(b)-last-1
		if !(after == 3 && before >= 1 && before <= 3 && b[0] != '0') {
			whole, frac = b[:last], b[last+1:]
		}
	}
	for len(frac) > 2 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) > 2 {
		return 0, ErrPrecision
	}
	var k int64
	digits := 0
	for _, c := range whole {
		if c == ',' || c == '.' {
			continue
		}
		if digits > 0 || c != '0' { // leading zeros ("007") do not count towards the limit
			digits++
		}
		k = k*10 + int64(c-'0')
		if digits > maxWhole {
			return 0, ErrNotMoney
		}
	}
	if len(whole) == 0 && len(frac) == 0 {
		return 0, ErrNotMoney // "," or "." alone
	}
	k *= 100
	switch len(frac) {
	case 1:
		k += int64(frac[0]-'0') * 10
	case 2:
		k += int64(frac[0]-'0')*10 + int64(frac[1]-'0')
	}
	if neg {
		k = -k
	}
	return k, nil
}

// Format writes kopecks as deal_cost takes them: a plain decimal with a point and two places,
// "-" for a negative amount, no grouping ("9990.00", "-5.00", "0.50"). Every int64 is written;
// what Parse reads back is every amount Parse can return.
func Format(kopecks int64) string {
	var buf [24]byte // "-92233720368547758.08" is 21 bytes
	u := uint64(kopecks)
	if kopecks < 0 {
		u = -u // two's complement: right for math.MinInt64 too
	}
	i := len(buf)
	for n := 0; n < 3 || u > 0; n++ {
		if n == 2 {
			i--
			buf[i] = '.'
		}
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	if kopecks < 0 {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// isGroupSpace reports the characters that may stand between groups of digits: a tab and
// every Unicode space separator (ordinary, NBSP as Excel's Russian locale writes, narrow NBSP
// as the service's export writes, thin, figure and the others). Line breaks are not among
// them: "1\n500" is two things, not one amount.
func isGroupSpace(r rune) bool {
	// Spelled out rather than unicode.Is(unicode.Zs, r): this runs on every rune of every money
	// cell of an import. TestGroupSpaceIsZs keeps the list equal to the category.
	switch {
	case r < utf8.RuneSelf:
		return r == ' ' || r == '\t'
	case r == '\u00a0', r == '\u1680', r >= '\u2000' && r <= '\u200a', r == '\u202f', r == '\u205f', r == '\u3000':
		return true
	}
	return false
}

// grouped reports whether the marks in b separate groups of three digits after a first group
// of one to three ("1,234,567"); b without marks is grouped.
func grouped(b []byte) bool {
	group := 0
	first := true
	for _, c := range b {
		if c == ',' || c == '.' {
			if group == 0 || group > 3 || !first && group != 3 {
				return false
			}
			first, group = false, 0
			continue
		}
		group++
	}
	return first || group == 3
}

// currencyWords are the currency signs and words stripped from either end of an amount,
// lower-cased.
var currencyWords = map[string]bool{"рублей": true, "рубля": true, "рубль": true, "руб.": true, "руб": true,
	"rub.": true, "rub": true, "rur": true, "usd": true, "eur": true, "us$": true, "р.": true, "р": true,
	"₽": true, "$": true, "€": true}

// stripCurrency removes one currency sign or word from the front and one from the back: the
// run of characters there that are neither digits nor spaces, if it is a known currency.
func stripCurrency(s string) string {
	isNum := func(c byte) bool { return c >= '0' && c <= '9' }
	if s == "" || isNum(s[0]) && isNum(s[len(s)-1]) {
		return s // the common case: a bare number
	}
	word := func(w string) bool {
		if len(w) == 0 || len(w) > len("рублей") {
			return false
		}
		return currencyWords[w] || currencyWords[strings.ToLower(w)]
	}
	stop := func(r rune) bool { return r >= '0' && r <= '9' || isGroupSpace(r) || r == '-' }
	end := 0
	if i := strings.LastIndexFunc(s, stop); i >= 0 {
		_, size := utf8.DecodeRuneInString(s[i:])
		end = i + size
	}
	if end < len(s) && word(s[end:]) {
		s = strings.TrimRightFunc(s[:end], isGroupSpace)
	}
	start := strings.IndexFunc(s, stop)
	if start < 0 {
		start = len(s)
	}
	if start > 0 && word(s[:start]) {
		s = strings.TrimLeftFunc(s[start:], isGroupSpace)
	}
	return s
}
