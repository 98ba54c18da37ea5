// Package jsonstr writes JSON strings by hand: the one escaper behind the mapping's canonical
// params, the export's JSON Lines and the simulator's answers.
//
// The escapes are encoding/json's with HTML escaping off (since Go 1.22): `"` and `\` escaped,
// \n \r \t \b \f by letter, other control bytes as \u00XX, U+2028 and U+2029 as \u2028 and
// \u2029 (they end lines in JavaScript). Two things differ on purpose:
//
//   - Invalid UTF-8 becomes the character U+FFFD itself, where encoding/json writes the escape
//     \ufffd. Decoding and re-encoding then gives the same bytes, which the import ledger relies
//     on (it hashes the params), and every JSON Lines line stays valid JSON.
//   - [AppendASCII] writes every non-ASCII rune as \uXXXX (a surrogate pair above U+FFFF), as
//     PHP's json_encode does by default, for the simulator's answers.
//
// Why not encoding/json: it reaches a string through reflection and an encoder state, and has
// no []byte-as-text entry point, so each cell of a million-row export would pay a conversion.
// BenchmarkAppend in this package compares the two on the same five cells per operation (ns
// per operation; a shared 2-core machine, go1.26): no allocations here, one per cell there.
//
//	cells      Append(string)  Append([]byte)  encoding/json Encoder
//	ascii            76              84              510
//	cyrillic         77              68              648
//	escapes         163             217              621
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes written as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Append appends s to dst as a quoted JSON string, non-ASCII text as UTF-8.
func Append[S ~string | ~[]byte](dst []byte, s S) []byte {
	return appendString(dst, s, false)
}

// AppendASCII appends s to dst as a quoted JSON string of ASCII only: every other rune is a
// \uXXXX escape, as PHP's json_encode writes by default.
func AppendASCII[S ~string | ~[]byte](dst []byte, s S) []byte {
	return appendString(dst, s, true)
}

func appendString[S ~string | ~[]byte](dst []byte, s S, ascii bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		// A valid two-byte sequence (Cyrillic, Latin accents) needs nothing unless in ASCII
		// mode: checked inline, since Russian text is most of what passes here.
		if !ascii && c >= 0xC2 && c <= 0xDF && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			i += 2
			continue
		}
		// Copy at most one rune's bytes into a string: for a []byte this stays on the stack.
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			if ascii {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, "\ufffd"...)
			}
		case ascii || r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			if r >= 0x10000 {
				r -= 0x10000
				dst = appendU4(dst, 0xD800+(r>>10))
				dst = appendU4(dst, 0xDC00+(r&0x3FF))
			} else {
				dst = appendU4(dst, r)
			}
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}
