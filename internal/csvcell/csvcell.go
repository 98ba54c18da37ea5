// Package csvcell holds the one rule for when a CSV cell is quoted, shared by the export's
// writer and the import's reject file, so that both kinds of file read back the same way in
// Excel, LibreOffice and gcbatch itself.
package csvcell

// NeedsQuotes reports whether cell c must be quoted to read back as the same cell in a file
// delimited by delim: it holds the delimiter, a quote, CR or LF (RFC 4180); it starts or ends
// with a space or a tab, which some programs trim from unquoted cells; or it starts with U+FEFF,
// which at the start of a file would read back as a byte order mark. The empty cell needs none.
func NeedsQuotes[S ~string | ~[]byte](c S, delim byte) bool {
	n := len(c)
	if n == 0 {
		return false
	}
	if c[0] == ' ' || c[0] == '\t' || c[n-1] == ' ' || c[n-1] == '\t' ||
		n >= 3 && c[0] == 0xEF && c[1] == 0xBB && c[2] == 0xBF {
		return true
	}
	for i := 0; i < n; i++ {
		// '"', '\n' and '\r' are all at most '"': one comparison passes most bytes (letters,
		// digits, the bytes of Cyrillic), which matters on a million-row export.
		if b := c[i]; b == delim || b <= '"' && (b == '"' || b == '\n' || b == '\r') {
			return true
		}
	}
	return false
}
