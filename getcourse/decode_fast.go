package getcourse

import "encoding/json"

// decodeFast decodes the answers that make up nearly all of an import's traffic — a flat
// object of strings without escapes, numbers and literals, with "result" one more such object —
// without encoding/json's reflection, which cost more than the rest of the client together. It
// hands each member to the same lenient field types as the general path, so both agree on
// every answer it accepts (a differential fuzz test holds it to that). ok is false when the
// answer is not that simple (escapes, arrays, deeper nesting, non-ASCII names, anything
// malformed); the caller then decodes it with encoding/json, which also gives the error.
func decodeFast(body []byte) (env *envelope, ok bool) {
	s := fastScanner{b: body}
	env = new(envelope)
	end, ok := s.object(func(name, raw []byte, nested bool) bool {
		return env.set(name, raw, nested, &s)
	}, true)
	if !ok || end != len(body) {
		return nil, false
	}
	return env, true
}

// set hands one top-level member to its field. A nested object is allowed only for "result".
func (e *envelope) set(name, raw []byte, nested bool, s *fastScanner) bool {
	var err error
	switch {
	case foldEq(name, "result"):
		e.Result.raw = append(e.Result.raw[:0], raw...)
		if !nested {
			return true // not an object: kept raw, as resultField does
		}
		body := new(resultBody)
		inner := fastScanner{b: raw}
		end, ok := inner.object(func(name, raw []byte, nested bool) bool {
			return !nested && body.set(name, raw)
		}, false)
		if !ok || end != len(raw) {
			return false
		}
		e.Result.resultBody = body
		return true
	case nested:
		return false
	case foldEq(name, "success"):
		err = e.Success.UnmarshalJSON(raw)
	case foldEq(name, "action"):
		err = e.Action.UnmarshalJSON(raw)
	case foldEq(name, "error"):
		err = e.Error.UnmarshalJSON(raw)
	case foldEq(name, "error_message"):
		err = e.ErrorMessage.UnmarshalJSON(raw)
	case foldEq(name, "error_code"):
		err = e.ErrorCode.UnmarshalJSON(raw)
	case foldEq(name, "info"):
		e.Info = append(json.RawMessage(nil), raw...)
	}
	return err == nil
}

// set hands one member of the result object to its field.
func (r *resultBody) set(name, raw []byte) bool {
	var err error
	switch {
	case foldEq(name, "success"):
		err = r.Success.UnmarshalJSON(raw)
	case foldEq(name, "error"):
		err = r.Error.UnmarshalJSON(raw)
	case foldEq(name, "error_message"):
		err = r.ErrorMessage.UnmarshalJSON(raw)
	case foldEq(name, "user_id"):
		err = r.UserID.UnmarshalJSON(raw)
	case foldEq(name, "deal_id"):
		err = r.DealID.UnmarshalJSON(raw)
	case foldEq(name, "deal_number"):
		err = r.DealNumber.UnmarshalJSON(raw)
	case foldEq(name, "user_status"):
		err = r.UserStatus.UnmarshalJSON(raw)
	case foldEq(name, "payment_link"):
		err = r.PaymentLink.UnmarshalJSON(raw)
	case foldEq(name, "groups"):
		r.Groups = append(json.RawMessage(nil), raw...)
	}
	return err == nil
}

// foldEq matches a member name the way encoding/json does for these ASCII field names: exactly
// or ignoring ASCII case. (Names with other characters never reach it: the scanner gives up.)
func foldEq(name []byte, field string) bool {
	if len(name) != len(field) {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != field[i] {
			return false
		}
	}
	return true
}

// fastScanner walks the restricted JSON that decodeFast accepts.
type fastScanner struct {
	b []byte
	i int
}

func (s *fastScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object reads an object starting at the first non-space byte and calls member for each
// member with its name and raw value. A value that is an object is handed over as one raw
// value (nested set) when allowNested, and only one level deep; arrays are refused. It returns
// the offset after the closing brace and any trailing space.
func (s *fastScanner) object(member func(name, raw []byte, nested bool) bool, allowNested bool) (int, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return 0, false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.ws()
		return s.i, true
	}
	for {
		s.ws()
		name, ok := s.str()
		if !ok {
			return 0, false
		}
		name = name[1 : len(name)-1]
		for _, c := range name {
			if c >= 0x80 {
				return 0, false // encoding/json folds some non-ASCII letters; leave those to it
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return 0, false
		}
		s.i++
		s.ws()
		if s.i >= len(s.b) {
			return 0, false
		}
		var raw []byte
		nested := false
		switch c := s.b[s.i]; {
		case c == '"':
			raw, ok = s.str()
		case c == '{' && allowNested:
			start := s.i
			inner := fastScanner{b: s.b, i: s.i}
			_, ok = inner.object(func([]byte, []byte, bool) bool { return true }, false)
			// inner.i is past the closing brace and any space after it; the raw value ends at
			// the brace.
			end := inner.i
			for end > start && s.b[end-1] != '}' {
				end--
			}
			raw, s.i, nested = s.b[start:end], inner.i, true
		case c == '-' || '0' <= c && c <= '9':
			raw, ok = s.number()
		case c == 't':
			raw, ok = s.literal("true")
		case c == 'f':
			raw, ok = s.literal("false")
		case c == 'n':
			raw, ok = s.literal("null")
		default:
			return 0, false
		}
		if !ok || !member(name, raw, nested) {
			return 0, false
		}
		s.ws()
		if s.i >= len(s.b) {
			return 0, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			s.ws()
			return s.i, true
		default:
			return 0, false
		}
	}
}

// str reads a string without escapes or control characters, quotes included.
func (s *fastScanner) str() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:s.i], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// number reads a number by JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *fastScanner) number() ([]byte, bool) {
	start, b := s.i, s.b
	i := s.i
	digits := func() bool {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

func (s *fastScanner) literal(word string) ([]byte, bool) {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return nil, false
	}
	start := s.i
	s.i += len(word)
	return s.b[start:s.i], true
}
