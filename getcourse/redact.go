package getcourse

import (
	"errors"
	"net/url"
	"strings"
)

// redacted replaces the key wherever Redact finds it.
const redacted = "[key]"

// Redact removes the API key from s: the raw key and the forms it takes inside URLs and form
// bodies (query-escaped, path-escaped, with upper- or lower-case hex). Every error, log and
// report text about a request goes through it; an empty key leaves s as is.
func Redact(s, key string) string {
	if key == "" || s == "" {
		return s
	}
	for _, form := range keyForms(key) {
		s = strings.ReplaceAll(s, form, redacted)
	}
	return s
}

func keyForms(key string) []string {
	forms := []string{key}
	add := func(f string) {
		for _, have := range forms {
			if have == f {
				return
			}
		}
		forms = append(forms, f)
	}
	for _, esc := range []string{url.QueryEscape(key), url.PathEscape(key)} {
		add(esc)
		add(lowerHex(esc))
	}
	return forms
}

// lowerHex turns %2F into %2f: other tools escape with lower-case hex digits.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = lowerASCII(b[i+1])
			b[i+2] = lowerASCII(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// redactedError carries a transport error whose text has been scrubbed. It still unwraps to the
// original chain (with the URL's query string removed from any *url.Error), so errors.Is and
// errors.As on context and net errors keep working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr scrubs err for the key. Go's *url.Error prints the whole request URL, query string
// (and so ?key=) included: its URL is replaced by one without the query before anything can
// print it.
func redactErr(err error, key string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		clean := &url.Error{Op: ue.Op, URL: stripQuery(ue.URL), Err: ue.Err}
		if ue == err {
			err = clean
		} else {
			// A wrapped *url.Error (not something net/http does): keep only the scrubbed text.
			err = errors.New(Redact(err.Error(), key))
		}
	}
	return &redactedError{msg: Redact(err.Error(), key), err: err}
}

func stripQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}
