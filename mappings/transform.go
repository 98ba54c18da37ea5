package mappings

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gcbatch/gcbatch/internal/money"
)

// transform is one step of a field's transform list. fn returns the new value, or a non-empty
// message ("is not a valid e-mail") when the value is rejected. Transforms never panic, whatever
// the input: they run on every cell of files nobody has looked at.
type transform struct {
	name   string
	fn     func(string) (string, string)
	number bool // the output is a whole number, written as a JSON number where the field allows
}

// transformNames are the names a mapping may use, for suggestions.
var transformNames = []string{"trim", "lower", "upper", "email", "phone", "money", "int", "bool", "date"}

// simpleTransform returns a transform that takes no argument.
func simpleTransform(name string) (transform, bool) {
	switch name {
	case "trim":
		return transform{name: name, fn: func(s string) (string, string) { return strings.TrimSpace(s), "" }}, true
	case "lower":
		return transform{name: name, fn: func(s string) (string, string) { return strings.ToLower(s), "" }}, true
	case "upper":
		return transform{name: name, fn: func(s string) (string, string) { return strings.ToUpper(s), "" }}, true
	case "email":
		return transform{name: name, fn: normEmail}, true
	case "phone":
		return transform{name: name, fn: normPhone}, true
	case "money":
		return transform{name: name, fn: normMoney}, true
	case "int":
		return transform{name: name, fn: normInt, number: true}, true
	case "bool":
		return transform{name: name, fn: normBool}, true
	}
	return transform{}, false
}

// isSpaceLike reports the spaces that spreadsheets put into numbers: ordinary, no-break (Excel's
// Russian thousands separator), narrow no-break and thin.
func isSpaceLike(r rune) bool {
	return r == ' ' || r == '\t' || r == '\u00a0' || r == '\u202f' || r == '\u2009' || r == '\u2007'
}

const msgEmail = "is not a valid e-mail"

// normEmail checks an address the way a mail form would (one @, a dotted domain with a real-looking
// top-level part) and lower-cases the domain, which is case-insensitive; the local part is kept
// as written. A cell listing several addresses separated by "," or ";" (a CRM's several
// addresses of one kind, as it lists several phones) gives its first valid one.
func normEmail(s string) (string, string) {
	if strings.IndexByte(s, ',') < 0 && strings.IndexByte(s, ';') < 0 {
		return oneEmail(s)
	}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		if out, msg := oneEmail(part); msg == "" {
			return out, ""
		}
	}
	return "", msgEmail
}

// oneEmail checks a cell holding one address.
func oneEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 {
		return "", msgEmail
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", msgEmail
	}
	for _, r := range local {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
		case strings.ContainsRune("!#$%&'*+/=?^_`{|}~.-", r):
		case r >= utf8.RuneSelf && r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r)):
		default:
			return "", msgEmail
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", msgEmail
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", msgEmail
		}
		for _, r := range l {
			if !(r == '-' || r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') ||
				r >= utf8.RuneSelf && r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
				return "", msgEmail
			}
		}
	}
	tld := labels[len(labels)-1]
	if !strings.HasPrefix(strings.ToLower(tld), "xn--") {
		if utf8.RuneCountInString(tld) < 2 {
			return "", msgEmail
		}
		for _, r := range tld {
			if !unicode.IsLetter(r) {
				return "", msgEmail
			}
		}
	}
	if lower := strings.ToLower(domain); lower != domain {
		return local + "@" + lower, ""
	}
	return s, ""
}

const msgPhone = "is not a phone number (Russian numbers as 8 900 123-45-67; other countries need + and the country code)"

// normPhone turns a phone number into E.164. Numbers without a + are read as Russian, the way
// people write them at home: 8 (900) 123-45-67, 7 900 1234567, 9001234567. With a + any country
// is kept if its length is plausible; +7 must have eleven digits.
//
// Cells as CRMs and spreadsheets write them are read too: a cell listing several numbers
// separated by "," or ";" (amoCRM puts all of a contact's numbers in one cell) gives its first
// valid one; an extension ("доб. 123", "ext. 5", "x5", "#5") is dropped, since the service keeps
// one dialable number; Excel's float form of a number ("89001234567.0") reads as its digits.
func normPhone(s string) (string, string) {
	if strings.IndexByte(s, ',') < 0 && strings.IndexByte(s, ';') < 0 {
		return onePhone(s)
	}
	for len(s) > 0 {
		var part string
		i := strings.IndexAny(s, ",;")
		if i < 0 {
			part, s = s, ""
		} else {
			part, s = s[:i], s[i+1:]
		}
		if blank(part) {
			continue
		}
		if out, msg := onePhone(part); msg == "" {
			return out, ""
		}
	}
	return "", msgPhone
}

// extensionMarkers start the extension of a phone number, lower-case, longest first so that
// "добавочный" is not read as "доб" followed by letters.
var extensionMarkers = []string{"добавочный", "доб", "extension", "ext", "вн", "x", "х", "#"}

// cutExtension drops a trailing extension: a marker, an optional "." or ":", spaces, and one to
// six digits ending the cell. Anything else after a marker is left for the caller to refuse.
func cutExtension(s string) string {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c < utf8.RuneSelf && c != '#' && !(c|0x20 >= 'a' && c|0x20 <= 'z')
	}
	if plain {
		return s // digits and punctuation only: the common case
	}
	lower := strings.ToLower(s)
	for _, mk := range extensionMarkers {
		i := strings.LastIndex(lower, mk)
		if i <= 0 {
			continue
		}
		rest := strings.TrimLeft(lower[i+len(mk):], ".: \t\u00a0")
		digits := 0
		for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
			digits++
		}
		if tail := strings.TrimSpace(rest[digits:]); digits == 0 || digits > 6 || tail != "" && tail != ")" {
			continue
		}
		// The number before the marker is digits and punctuation, unchanged by ToLower.
		return lower[:i]
	}
	return s
}

// excelFloat strips the ".0" that a spreadsheet adds when it has stored a number as a float
// ("89001234567.0"; "79001234567,00" in a Russian locale is split off by normPhone before), and
// reads its exponent form when that holds every digit ("7.9001234567E+10").
func excelFloat(s string) string {
	t := strings.TrimSpace(s)
	if e := strings.IndexAny(t, "eE"); e > 0 {
		return exponentForm(s, t[:e], t[e+1:])
	}
	dot := strings.IndexByte(t, '.')
	if dot <= 0 || dot == len(t)-1 {
		return s
	}
	for i := dot + 1; i < len(t); i++ {
		if t[i] != '0' {
			return s
		}
	}
	for i := 0; i < dot; i++ {
		if !(t[i] >= '0' && t[i] <= '9' || i == 0 && t[i] == '+') {
			return s
		}
	}
	return t[:dot]
}

// exponentForm reads mant×10^exp ("7.9001234567", "+10") as a whole number when the mantissa
// holds every digit of it. A shorter mantissa ("7.90012E+10") is a rounded display whose lost
// digits would come back as zeros, a wrong number: s is returned unchanged for the caller to
// refuse.
func exponentForm(s, mant, exp string) string {
	exp = strings.TrimPrefix(exp, "+")
	n, err := strconv.Atoi(exp)
	if err != nil || n < 0 || n > 15 {
		return s
	}
	whole, frac, _ := strings.Cut(mant, ".")
	if len(whole) != 1 || len(frac) != n {
		return s
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return s
			}
		}
	}
	return whole + frac
}

// onePhone reads a cell holding one number.
func onePhone(s string) (string, string) {
	s = excelFloat(cutExtension(s))
	var d [16]byte
	n := 0
	plus := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if n == len(d) {
				return "", msgPhone
			}
			d[n] = byte(r)
			n++
		case r == '+' && n == 0 && !plus:
			plus = true
		case isSpaceLike(r) || r == '(' || r == ')' || r == '-' || r == '.' || r == '–' || r == '\u2011':
		default:
			return "", msgPhone
		}
	}
	digits := d[:n]
	var out [17]byte
	out[0] = '+'
	russian := func(ten []byte) (string, string) { // +7 and the ten digits after the country code
		out[1] = '7'
		return string(out[:2+copy(out[2:], ten)]), ""
	}
	international := func(ds []byte) (string, string) {
		if len(ds) < 8 || len(ds) > 15 || ds[0] == '0' {
			return "", msgPhone
		}
		if ds[0] == '7' && len(ds) != 11 {
			return "", msgPhone
		}
		return string(out[:1+copy(out[1:], ds)]), ""
	}
	russianArea := func(c byte) bool { return c == '3' || c == '4' || c == '8' || c == '9' }
	if !plus && n > 2 && digits[0] == '0' && digits[1] == '0' {
		// 00 is the international prefix, the same as a plus (and read the same way, so that
		// the transform's own output reads back unchanged).
		plus, digits, n = true, digits[2:], n-2
	}
	switch {
	case n == 0:
		return "", msgPhone
	case plus && n == 11 && digits[0] == '8' && digits[1] == '9':
		// "+8 9xx": a Russian 8-prefix written with a plus; no country code starts with 89.
		return russian(digits[1:])
	case plus:
		return international(digits)
	case n == 11 && (digits[0] == '8' || digits[0] == '7') && russianArea(digits[1]):
		return russian(digits[1:])
	case n == 10 && russianArea(digits[0]):
		return russian(digits)
	}
	return "", msgPhone
}

const msgMoney = "is not an amount of money"

// normMoney reads Russian and English amounts ("9 990,00 ₽", "1,500.00", "1 500", "$12.5") and
// writes them as a plain decimal with two places ("9990.00"), the form deal_cost takes. The
// rules are internal/money's, shared with settle's reading of the deals export.
func normMoney(s string) (string, string) {
	k, err := money.Read(s)
	switch {
	case errors.Is(err, money.ErrPrecision):
		return "", msgMoney + " (more than two decimal places)"
	case err != nil:
		return "", msgMoney
	}
	return money.Format(k), ""
}

const msgInt = "is not a whole number"

// normInt reads a whole number; spaces between digit groups and a zero fraction ("2,00" from a
// spreadsheet) are accepted.
func normInt(s string) (string, string) {
	var buf [24]byte
	b := buf[:0]
	neg, seenDigit, inFrac := false, false, false
	for _, r := range strings.TrimFunc(s, unicode.IsSpace) {
		switch {
		case inFrac:
			if r != '0' {
				return "", msgInt
			}
		case r >= '0' && r <= '9':
			if len(b) == cap(b) {
				return "", msgInt
			}
			b = append(b, byte(r))
			seenDigit = true
		case (r == '-' || r == '+') && !seenDigit && !neg:
			neg = r == '-'
		case isSpaceLike(r) && seenDigit:
		case (r == ',' || r == '.') && seenDigit:
			inFrac = true
		default:
			return "", msgInt
		}
	}
	if !seenDigit {
		return "", msgInt
	}
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	if len(b) > 18 {
		return "", msgInt + " (too large)"
	}
	if neg && !(len(b) == 1 && b[0] == '0') {
		return "-" + string(b), ""
	}
	return string(b), ""
}

// normBool reads the yes/no words of Russian and English spreadsheets and writes "1" or "0".
func normBool(s string) (string, string) {
	t := strings.TrimSpace(s)
	if len(t) > 12 {
		return "", "is not yes/no"
	}
	switch strings.ToLower(t) {
	case "да", "д", "yes", "y", "1", "true", "+", "истина", "on":
		return "1", ""
	case "нет", "н", "no", "n", "0", "false", "-", "ложь", "off":
		return "0", ""
	}
	return "", "is not yes/no (да/нет, yes/no, 1/0, true/false, +/-)"
}

// dateToken is one piece of a date layout: a number field or literal text.
type dateToken struct {
	field byte // 'Y' 'M' 'D' 'h' 'm' 's', or 0 for a literal
	lit   string
}

// parseDateLayout reads a layout such as "DD.MM.YYYY HH:mm". It returns a message when the layout
// is unusable.
func parseDateLayout(layout string) ([]dateToken, string) {
	var toks []dateToken
	seen := map[byte]bool{}
	for i := 0; i < len(layout); {
		var f byte
		n := 2
		switch {
		case strings.HasPrefix(layout[i:], "YYYY"):
			f, n = 'Y', 4
		case strings.HasPrefix(layout[i:], "MM"):
			f = 'M'
		case strings.HasPrefix(layout[i:], "DD"):
			f = 'D'
		case strings.HasPrefix(layout[i:], "HH"):
			f = 'h'
		case strings.HasPrefix(layout[i:], "mm"):
			f = 'm'
		case strings.HasPrefix(layout[i:], "ss"):
			f = 's'
		default:
			r, size := utf8.DecodeRuneInString(layout[i:])
			if r < utf8.RuneSelf && unicode.IsLetter(r) {
				return nil, "unknown token in date layout " + strconv.Quote(layout)
			}
			if len(toks) > 0 && toks[len(toks)-1].field == 0 {
				toks[len(toks)-1].lit += layout[i : i+size]
			} else {
				toks = append(toks, dateToken{lit: layout[i : i+size]})
			}
			i += size
			continue
		}
		if seen[f] {
			return nil, "date layout " + strconv.Quote(layout) + " repeats a token"
		}
		if len(toks) > 0 && toks[len(toks)-1].field != 0 {
			return nil, "date layout " + strconv.Quote(layout) + " needs a separator between numbers"
		}
		seen[f] = true
		toks = append(toks, dateToken{field: f})
		i += n
	}
	if !seen['Y'] || !seen['M'] || !seen['D'] {
		return nil, "date layout " + strconv.Quote(layout) + " needs YYYY, MM and DD"
	}
	if seen['m'] && !seen['h'] || seen['s'] && !seen['m'] {
		return nil, "date layout " + strconv.Quote(layout) + " has minutes or seconds without the larger unit"
	}
	return toks, ""
}

// dateTransform builds the {date: LAYOUT} transform for a field whose output format is out.
func dateTransform(layout string, out dateOut) (transform, string) {
	toks, msg := parseDateLayout(layout)
	if msg != "" {
		return transform{}, msg
	}
	bad := "is not a date in the form " + layout
	fn := func(s string) (string, string) {
		var v [6]int // Y M D h m s
		s = strings.TrimSpace(s)
		i := 0
		sawTime := false
		for ti, t := range toks {
			if i == len(s) && ti > 0 && !sawTime && timeOnly(toks[ti:]) {
				break // the whole time of day left out: midnight
			}
			if t.field == 'h' || t.field == 'm' || t.field == 's' {
				sawTime = true
			}
			if t.field == 0 {
				if t.lit == " " || strings.TrimSpace(t.lit) == "" {
					j := i
					for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
						j++
					}
					if j == i {
						return "", bad
					}
					i = j
					continue
				}
				if !strings.HasPrefix(s[i:], t.lit) {
					return "", bad
				}
				i += len(t.lit)
				continue
			}
			most := 2
			if t.field == 'Y' {
				most = 4
			}
			j := i
			for j < len(s) && j-i < most && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j == i || t.field == 'Y' && j-i != 4 {
				return "", bad
			}
			n, _ := strconv.Atoi(s[i:j])
			v[strings.IndexByte("YMDhms", t.field)] = n
			i = j
		}
		if i != len(s) {
			return "", bad
		}
		y, mo, d, h, mi, sec := v[0], v[1], v[2], v[3], v[4], v[5]
		if y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || sec > 59 {
			return "", "is not a real date"
		}
		return formatDate(out, y, mo, d, h, mi, sec), ""
	}
	return transform{name: "date", fn: fn}, ""
}

// timeOnly reports whether the rest of a layout is only a time of day (so it may be left out).
func timeOnly(toks []dateToken) bool {
	for _, t := range toks {
		if t.field == 'Y' || t.field == 'M' || t.field == 'D' {
			return false
		}
	}
	return true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func formatDate(out dateOut, y, mo, d, h, mi, s int) string {
	b := make([]byte, 0, 19)
	two := func(n int) { b = append(b, byte('0'+n/10), byte('0'+n%10)) }
	four := func(n int) { two(n / 100); two(n % 100) }
	switch out {
	case dateBirthday:
		two(d)
		b = append(b, '.')
		two(mo)
		b = append(b, '.')
		four(y)
	default:
		four(y)
		b = append(b, '-')
		two(mo)
		b = append(b, '-')
		two(d)
		b = append(b, ' ')
		two(h)
		b = append(b, ':')
		two(mi)
		if out != dateJoin {
			b = append(b, ':')
			two(s)
		}
	}
	return string(b)
}
