package exporter

// normalizeCell implements --normalize for cells that match a pattern exactly, appending the
// result to dst:
//
//   - Russian money, "12 000,00", "1 500", "-350,5" (spaces, NBSP or narrow NBSP between groups
//     of three digits, a decimal comma) → "12000.00", "1500", "-350.5";
//   - a service date-time "2024-03-01 12:30:00" → ISO 8601 "2024-03-01T12:30:00".
//
// Anything else (ids, phones, "1,2,3", text) is left alone: ok is false. A bare integer is
// never touched: ids and phone numbers look the same.
func normalizeCell(dst, c []byte) (out []byte, ok bool) {
	if len(c) == 0 {
		return dst, false
	}
	if len(c) == 19 && isDateTime(c) {
		dst = append(dst, c...)
		dst[10] = 'T'
		return dst, true
	}
	return normalizeMoney(dst, c)
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isDateTime(c []byte) bool {
	for i, b := range c {
		switch i {
		case 4, 7:
			if b != '-' {
				return false
			}
		case 10:
			if b != ' ' {
				return false
			}
		case 13, 16:
			if b != ':' {
				return false
			}
		default:
			if !isDigit(b) {
				return false
			}
		}
	}
	return true
}

// groupSep returns the length of a thousands separator at c[i:] (space, NBSP, narrow NBSP),
// or 0.
func groupSep(c []byte, i int) int {
	switch {
	case c[i] == ' ':
		return 1
	case c[i] == 0xC2 && i+1 < len(c) && c[i+1] == 0xA0: // U+00A0
		return 2
	case c[i] == 0xE2 && i+2 < len(c) && c[i+1] == 0x80 && c[i+2] == 0xAF: // U+202F
		return 3
	}
	return 0
}

// normalizeMoney recognises money in the service's own export shape, "12 000,00": an optional
// "-", digits grouped by threes with a space, NBSP or narrow NBSP (or not grouped at all), an
// optional decimal comma with one or two digits, and at least a grouping or a comma; it appends
// the amount with the grouping removed and a decimal point, keeping the digits as written.
//
// It is deliberately not internal/money, the lenient reader the mappings' money transform and
// settle share. The question here is not "what amount does this cell mean" but "is this cell
// money at all", asked of every text cell of an export: ids, phones ("8 900 123 45 67"),
// counts, "1,2,3" and dates must stay as they are, so the exact shape is the point and a
// lenient reader would take them for amounts. It also runs on the export's hot path (hundreds
// of thousands of rows a second, every cell) and appends in the same pass that checks, with no
// allocation; parsing to kopecks and formatting again would cost a second pass and would write
// "1500.00" for "1 500" and "-350.50" for "-350,5", which is not what --normalize promises.
func normalizeMoney(dst, c []byte) ([]byte, bool) {
	i := 0
	start := len(dst)
	if c[0] == '-' {
		dst = append(dst, '-')
		i++
	}
	// Leading group: 1 to 3 digits when grouped, any number when not.
	n := 0
	for i < len(c) && isDigit(c[i]) {
		dst = append(dst, c[i])
		i++
		n++
	}
	if n == 0 {
		return dst[:start], false
	}
	groups := 0
	for i < len(c) {
		s := groupSep(c, i)
		if s == 0 {
			break
		}
		if n > 3 || i+s+3 > len(c) || !isDigit(c[i+s]) || !isDigit(c[i+s+1]) || !isDigit(c[i+s+2]) {
			return dst[:start], false
		}
		if i+s+3 < len(c) && isDigit(c[i+s+3]) {
			return dst[:start], false
		}
		dst = append(dst, c[i+s:i+s+3]...)
		i += s + 3
		groups++
	}
	decimals := false
	if i < len(c) && c[i] == ',' {
		i++
		d := 0
		dst = append(dst, '.')
		for i < len(c) && isDigit(c[i]) {
			dst = append(dst, c[i])
			i++
			d++
		}
		if d == 0 || d > 2 {
			return dst[:start], false
		}
		decimals = true
	}
	if i != len(c) || (groups == 0 && !decimals) {
		return dst[:start], false
	}
	return dst, true
}
