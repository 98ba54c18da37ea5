// Package ruphone holds the one rule by which a phone number identifies a person, the way
// GetCourse matches users by phone: the simulator finds users with it, and settle finds the
// buyer of a deal in an export with it, so the two cannot drift apart.
package ruphone

// Key keeps the digits of a phone, Russian style: 8XXXXXXXXXX and 9XXXXXXXXX become
// 7XXXXXXXXXX, so that "+7 (900) 123-45-67", "8 900 123 45 67" and "9001234567" are the same
// person. A text without digits gives "".
func Key(p string) string {
	var b []byte
	for i := 0; i < len(p); i++ {
		if c := p[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	switch {
	case len(b) == 11 && b[0] == '8':
		b[0] = '7'
	case len(b) == 10 && b[0] == '9':
		b = append([]byte{'7'}, b...)
	}
	return string(b)
}
