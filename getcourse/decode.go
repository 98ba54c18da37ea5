package getcourse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is the one place that reads the service's JSON. The service and its documentation
// disagree on types (the seed shows "true" and "123", captured answers show true and 123), so
// every flag, id and text goes through a lenient type here and nowhere else.

// jsonString decodes a JSON string literal, skipping the general decoder when it holds no
// escapes (nearly always: this runs for every member of every answer).
func jsonString(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b[1:len(b)-1], '\\') < 0 &&
		bytes.IndexByte(b[1:len(b)-1], '"') < 0 {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// flag is a boolean sent as true, "true", 1, "1" (or their false forms).
type flag struct {
	set, val bool
}

func (f *flag) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty flag")
	}
	switch b[0] {
	case 'n': // null: not given
		*f = flag{}
		return nil
	case 't':
		*f = flag{true, true}
		return nil
	case 'f':
		*f = flag{true, false}
		return nil
	case '"':
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		v, ok := parseFlagText(s)
		if !ok {
			return fmt.Errorf("not a flag: %.20q", s)
		}
		*f = flag{true, v}
		return nil
	case '{', '[':
		return errors.New("not a flag: object or array")
	}
	n, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("not a flag: %.20s", b)
	}
	*f = flag{true, n != 0}
	return nil
}

func parseFlagText(s string) (val, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "ok", "y":
		return true, true
	case "false", "0", "no", "n", "":
		return false, true
	}
	return false, false
}

// errField is the "error" member, which is a boolean (or a flag string) in the export envelope
// and in result objects, but a message string in call-level failures of the import API.
type errField struct {
	set  bool
	flag bool   // an error is signalled
	text string // the message, when "error" carried one
}

func (e *errField) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty error member")
	}
	switch b[0] {
	case 'n':
		*e = errField{}
		return nil
	case '"':
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		if v, ok := parseFlagText(s); ok {
			*e = errField{set: true, flag: v}
		} else {
			*e = errField{set: true, flag: true, text: s}
		}
		return nil
	case '{', '[':
		// Not a shape we have seen; an object here still says "something went wrong".
		*e = errField{set: true, flag: len(b) > 2}
		return nil
	}
	var f flag
	if err := f.UnmarshalJSON(b); err != nil {
		return err
	}
	*e = errField{set: true, flag: f.val}
	return nil
}

// flexText is a text that may come as a string, a number, a boolean or null.
type flexText string

func (t *flexText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty text")
	}
	switch b[0] {
	case 'n':
		*t = ""
	case '"':
		s, err := jsonString(b)
		if err != nil {
			return err
		}
		*t = flexText(s)
	default:
		// Numbers, booleans, and (oddly) objects keep their JSON text.
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*t = flexText(buf.String())
	}
	return nil
}

// flexInt is an id or code that may come as a number or a numeric string.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty number")
	}
	s := string(b)
	switch b[0] {
	case 'n':
		*n = 0
		return nil
	case '"':
		var err error
		if s, err = jsonString(b); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*n = 0
			return nil
		}
	case 't', 'f', '{', '[':
		return fmt.Errorf("not a number: %.20s", b)
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = flexInt(v)
		return nil
	}
	// 123.0 and 1.23e5 happen when a PHP float leaks through.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return fmt.Errorf("not an integer: %.20q", s)
	}
	*n = flexInt(f)
	return nil
}

// envelope is every answer of the API: the import answer, the call-level failure, the export
// envelope, and the group list in both its documented and real forms.
type envelope struct {
	Success      flag            `json:"success"`
	Action       flexText        `json:"action"`
	Error        errField        `json:"error"`
	ErrorMessage flexText        `json:"error_message"`
	ErrorCode    flexInt         `json:"error_code"`
	Result       resultField     `json:"result"`
	Info         json.RawMessage `json:"info"`
}

// resultField is the "result" member: decoded when it is an object (the import answer, the
// seed's group list), kept raw whatever it is.
type resultField struct {
	*resultBody
	raw json.RawMessage
}

func (r *resultField) UnmarshalJSON(b []byte) error {
	r.raw = append(r.raw[:0], b...)
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		r.resultBody = new(resultBody)
		return json.Unmarshal(t, r.resultBody)
	}
	return nil
}

// resultBody is the inner object of an import answer (two-level success) or the seed's
// result.groups.
type resultBody struct {
	Success      flag            `json:"success"`
	Error        errField        `json:"error"`
	ErrorMessage flexText        `json:"error_message"`
	UserID       flexInt         `json:"user_id"`
	DealID       flexInt         `json:"deal_id"`
	DealNumber   flexText        `json:"deal_number"`
	UserStatus   flexText        `json:"user_status"`
	PaymentLink  flexText        `json:"payment_link"`
	Groups       json.RawMessage `json:"groups"`
}

// decodeResponse parses an answer body. It never panics, whatever the bytes (fuzzed), and
// reports undecodable input as an error for the classifier to turn into KindProtocol.
func decodeResponse(body []byte) (*envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	if env, ok := decodeFast(body); ok {
		return env, nil
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	return &env, nil
}

// failed reports whether the call as a whole failed, and with which code and message.
func (e *envelope) failed() (bool, int, string) {
	msg := strings.TrimSpace(e.Error.text)
	if msg == "" {
		msg = strings.TrimSpace(string(e.ErrorMessage))
	}
	bad := (e.Success.set && !e.Success.val) || e.Error.flag || e.ErrorCode != 0
	return bad, int(e.ErrorCode), msg
}

// failed reports whether the object inside a successful call was refused, and why.
func (r *resultBody) failed() (bool, string) {
	msg := strings.TrimSpace(r.Error.text)
	if msg == "" {
		msg = strings.TrimSpace(string(r.ErrorMessage))
	}
	return (r.Success.set && !r.Success.val) || r.Error.flag, msg
}

// groupWire is one group in either shape: real {id, name, last_added_at} or the seed's
// {id, title, users_count, description}.
type groupWire struct {
	ID          flexInt  `json:"id"`
	Name        flexText `json:"name"`
	Title       flexText `json:"title"`
	LastAddedAt flexText `json:"last_added_at"`
	UsersCount  flexInt  `json:"users_count"`
}

// fieldWire is one custom field of the account.
type fieldWire struct {
	ID     flexInt  `json:"id"`
	Name   flexText `json:"name"`
	Title  flexText `json:"title"`
	Type   flexText `json:"type"`
	Object flexText `json:"object"`
	// ContextType is the real answer's word for the field's object (users or deals).
	ContextType flexText `json:"context_type"`
	Entity      flexText `json:"entity"`
	ObjectType  flexText `json:"object_type"`
}

// exportStart is info of an export start.
type exportStart struct {
	ExportID flexInt `json:"export_id"`
	ID       flexInt `json:"id"`
}

// exportInfo is info of a ready export.
type exportInfo struct {
	Fields []flexText   `json:"fields"`
	Items  [][]flexText `json:"items"`
	Status flexText     `json:"status"`
}

func firstText(vals ...flexText) string {
	for _, v := range vals {
		if s := strings.TrimSpace(string(v)); s != "" {
			return s
		}
	}
	return ""
}
