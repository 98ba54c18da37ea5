package exporter

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gcbatch/gcbatch/internal/jsonstr"
)

// Part is what Decoder.Next found.
type Part int

// The parts of an export answer, in the order the service usually sends them (though the
// decoder takes any key order).
const (
	// PartFields: Fields holds the column titles.
	PartFields Part = iota + 1
	// PartItem: Cells holds one item's cells.
	PartItem
)

// AnswerError is an error answer found inside an export body (success false), which the client
// normally catches before the body is handed over; the decoder still refuses to read one as data.
type AnswerError struct {
	Code    int
	Message string
}

func (e *AnswerError) Error() string {
	if e.Message == "" {
		e.Message = "the export answer says success: false"
	}
	if e.Code != 0 {
		return fmt.Sprintf("%s (код %d)", e.Message, e.Code)
	}
	return e.Message
}

// SyntaxError is a malformed export body; Offset is the byte where the decoder gave up.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("the export's JSON is malformed at byte %d: %s", e.Offset, e.Msg)
}

// Decoder reads a ready export answer,
//
//	{"success":true,"info":{"fields":[...],"items":[[...],...]}}
//
// as a stream, one item at a time, from its own reusable buffer: nothing grows with the size of
// the export. Keys may come in any order and unknown keys (info.status, ...) are skipped. Cells
// are normally strings; numbers and bools are kept as their JSON text, null is an empty cell, and
// a nested array or object is kept as its raw JSON. items (and fields) may also be JSON objects,
// as PHP writes arrays whose keys are not 0..n-1; their values are taken in order.
//
// encoding/json is not used on purpose: decoding items one by one through it is the bottleneck
// of an export (about 70,000 rows/s for 25 columns), while this byte scanner keeps up with
// the network.
type Decoder struct {
	r    io.Reader
	buf  []byte
	pos  int
	end  int
	base int64 // stream offset of buf[0]
	rerr error // the reader's error, once seen

	state                           int
	topFirst, infoFirst, itemsFirst bool
	itemsObject                     bool

	sawSuccess, success bool
	errCode             int
	errMsg              string
	sawFields, sawItems bool

	fields []string
	slab   []byte
	ends   []int
	cells  [][]byte
	key    []byte
	items  int64
}

const (
	stStart = iota
	stTop
	stInfo
	stItems
	stEnd
	stDone
)

// NewDecoder returns a decoder reading r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, buf: make([]byte, 64<<10), slab: make([]byte, 0, 4096)}
}

// Fields returns the column titles once PartFields was returned (nil before).
func (d *Decoder) Fields() []string { return d.fields }

// Cells returns the cells of the item PartItem announced. They are valid until the next call of
// Next.
func (d *Decoder) Cells() [][]byte { return d.cells }

// Items returns how many items were read so far.
func (d *Decoder) Items() int64 { return d.items }

// SawFields reports whether the answer held a fields list (an answer without one is not an
// export result).
func (d *Decoder) SawFields() bool { return d.sawFields }

// Next reads up to the next part. At the end of a well-formed successful answer it returns
// io.EOF; an answer saying success: false gives an *AnswerError; malformed JSON a *SyntaxError;
// a body that ends early io.ErrUnexpectedEOF or the reader's own error.
func (d *Decoder) Next() (Part, error) {
	for {
		switch d.state {
		case stStart:
			if err := d.skipWS(); err != nil {
				return 0, d.eofIsUnexpected(err)
			}
			// A UTF-8 byte order mark, which some proxies and PHP files add.
			if d.buf[d.pos] == 0xEF {
				if err := d.expectLit("\xEF\xBB\xBF"); err != nil {
					return 0, err
				}
				if err := d.skipWS(); err != nil {
					return 0, d.eofIsUnexpected(err)
				}
			}
			if err := d.expect('{'); err != nil {
				return 0, err
			}
			d.state, d.topFirst = stTop, true
		case stTop:
			more, err := d.nextKey(&d.topFirst, '}')
			if err != nil {
				return 0, err
			}
			if !more {
				d.state = stEnd
				continue
			}
			if err := d.topValue(); err != nil {
				return 0, err
			}
		case stInfo:
			more, err := d.nextKey(&d.infoFirst, '}')
			if err != nil {
				return 0, err
			}
			if !more {
				d.state = stTop
				continue
			}
			p, err := d.infoValue()
			if err != nil || p != 0 {
				return p, err
			}
		case stItems:
			closer := byte(']')
			if d.itemsObject {
				closer = '}'
			}
			if err := d.skipWS(); err != nil {
				return 0, d.eofIsUnexpected(err)
			}
			if d.buf[d.pos] == closer {
				d.pos++
				d.state = stInfo
				continue
			}
			if !d.itemsFirst {
				if err := d.expect(','); err != nil {
					return 0, err
				}
			}
			d.itemsFirst = false
			if d.itemsObject {
				if err := d.skipKey(); err != nil {
					return 0, err
				}
			}
			if err := d.readItem(); err != nil {
				return 0, err
			}
			d.items++
			return PartItem, nil
		case stEnd:
			err := d.skipWS()
			if err == nil {
				return 0, d.syntax("data after the end of the answer")
			}
			if err != io.EOF {
				return 0, err
			}
			d.state = stDone
		case stDone:
			if (d.sawSuccess && !d.success) || d.errCode != 0 {
				return 0, d.answerError()
			}
			if !d.sawFields && !d.sawItems {
				return 0, &SyntaxError{Offset: d.offset(), Msg: "the answer holds neither fields nor items"}
			}
			return 0, io.EOF
		}
	}
}

func (d *Decoder) answerError() error {
	return &AnswerError{Code: d.errCode, Message: d.errMsg}
}

// topValue reads the value of a top-level key (the key is in d.key).
func (d *Decoder) topValue() error {
	switch string(d.key) {
	case "success":
		v, err := d.scalar()
		if err != nil {
			return err
		}
		d.sawSuccess = true
		s := string(v)
		d.success = s == "true" || s == "1"
	case "error_code":
		v, err := d.scalar()
		if err != nil {
			return err
		}
		d.errCode, _ = strconv.Atoi(string(v))
	case "error_message":
		v, err := d.scalar()
		if err != nil {
			return err
		}
		d.errMsg = string(v)
	case "info":
		if err := d.skipWS(); err != nil {
			return d.eofIsUnexpected(err)
		}
		// An error answer is not read as data even if it carries an info object.
		if d.buf[d.pos] == '{' && !(d.sawSuccess && !d.success) {
			d.pos++
			d.state, d.infoFirst = stInfo, true
			return nil
		}
		return d.skipValue(nil)
	default:
		return d.skipValue(nil)
	}
	return nil
}

// infoValue reads the value of a key inside info; it returns PartFields after reading fields.
func (d *Decoder) infoValue() (Part, error) {
	switch string(d.key) {
	case "fields":
		if err := d.readItem(); err != nil {
			return 0, err
		}
		d.fields = make([]string, len(d.cells))
		for i, c := range d.cells {
			d.fields[i] = string(c)
		}
		d.sawFields = true
		return PartFields, nil
	case "items":
		if err := d.skipWS(); err != nil {
			return 0, d.eofIsUnexpected(err)
		}
		switch d.buf[d.pos] {
		case '[', '{':
			d.itemsObject = d.buf[d.pos] == '{'
			d.pos++
			d.state, d.itemsFirst, d.sawItems = stItems, true, true
		default:
			// null or false for "nothing": treat as an empty list.
			d.sawItems = true
			return 0, d.skipValue(nil)
		}
	default:
		return 0, d.skipValue(nil)
	}
	return 0, nil
}

// nextKey moves to the next key of an object (reading it into d.key) or past its end; more is
// false at the end.
func (d *Decoder) nextKey(first *bool, closer byte) (more bool, err error) {
	if err := d.skipWS(); err != nil {
		return false, d.eofIsUnexpected(err)
	}
	if d.buf[d.pos] == closer {
		d.pos++
		return false, nil
	}
	if !*first {
		if err := d.expect(','); err != nil {
			return false, err
		}
		if err := d.skipWS(); err != nil {
			return false, d.eofIsUnexpected(err)
		}
	}
	*first = false
	if err := d.expect('"'); err != nil {
		return false, err
	}
	d.key, err = d.readString(d.key[:0])
	if err != nil {
		return false, err
	}
	if err := d.skipWS(); err != nil {
		return false, d.eofIsUnexpected(err)
	}
	return true, d.expect(':')
}

// skipKey reads `"key":` of an object used as a list.
func (d *Decoder) skipKey() error {
	if err := d.skipWS(); err != nil {
		return d.eofIsUnexpected(err)
	}
	if err := d.expect('"'); err != nil {
		return err
	}
	var err error
	if d.key, err = d.readString(d.key[:0]); err != nil {
		return err
	}
	if err := d.skipWS(); err != nil {
		return d.eofIsUnexpected(err)
	}
	return d.expect(':')
}

// readItem reads one array (or object) of cells into d.cells.
func (d *Decoder) readItem() error {
	d.slab = d.slab[:0]
	d.ends = d.ends[:0]
	if err := d.skipWS(); err != nil {
		return d.eofIsUnexpected(err)
	}
	var closer byte
	switch d.buf[d.pos] {
	case '[':
		closer = ']'
	case '{':
		closer = '}'
	case 'n':
		// null item or fields: no cells.
		if err := d.expectLit("null"); err != nil {
			return err
		}
		d.cells = d.cells[:0]
		return nil
	default:
		return d.syntax("an item must be a list of cells")
	}
	d.pos++
	first := true
	for {
		if err := d.skipWS(); err != nil {
			return d.eofIsUnexpected(err)
		}
		if d.buf[d.pos] == closer {
			d.pos++
			break
		}
		if !first {
			if err := d.expect(','); err != nil {
				return err
			}
		}
		first = false
		if closer == '}' {
			if err := d.skipKey(); err != nil {
				return err
			}
		}
		if err := d.readCell(); err != nil {
			return err
		}
		d.ends = append(d.ends, len(d.slab))
	}
	// Slices are cut only now: appending may have moved the slab.
	d.cells = d.cells[:0]
	start := 0
	for _, e := range d.ends {
		d.cells = append(d.cells, d.slab[start:e:e])
		start = e
	}
	return nil
}

// readCell appends one cell's text to the slab.
func (d *Decoder) readCell() error {
	if err := d.skipWS(); err != nil {
		return d.eofIsUnexpected(err)
	}
	var err error
	switch c := d.buf[d.pos]; {
	case c == '"':
		d.pos++
		d.slab, err = d.readString(d.slab)
	case c == 'n':
		err = d.expectLit("null")
	case c == 't':
		if err = d.expectLit("true"); err == nil {
			d.slab = append(d.slab, "true"...)
		}
	case c == 'f':
		if err = d.expectLit("false"); err == nil {
			d.slab = append(d.slab, "false"...)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		d.slab, err = d.readNumber(d.slab)
	case c == '[' || c == '{':
		err = d.skipValue(&d.slab)
	default:
		err = d.syntax(fmt.Sprintf("unexpected %q in a cell", c))
	}
	return err
}

// scalar reads a string, number or literal (for top-level flags) and returns its text; the
// result is only valid until the next read.
func (d *Decoder) scalar() ([]byte, error) {
	d.slab = d.slab[:0]
	if err := d.skipWS(); err != nil {
		return nil, d.eofIsUnexpected(err)
	}
	if c := d.buf[d.pos]; c == '[' || c == '{' {
		return nil, d.skipValue(nil)
	}
	if err := d.readCell(); err != nil {
		return nil, err
	}
	return d.slab, nil
}

func (d *Decoder) readNumber(dst []byte) ([]byte, error) {
	for {
		if d.pos >= d.end {
			if err := d.fill(); err != nil {
				if err == io.EOF {
					return dst, nil // the caller finds the missing closer
				}
				return dst, err
			}
		}
		c := d.buf[d.pos]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			dst = append(dst, c)
			d.pos++
			continue
		}
		return dst, nil
	}
}

// stringStop marks the bytes that end a run of plain string bytes.
var stringStop = [256]bool{'"': true, '\\': true}

// readString appends the decoded text of a JSON string whose opening quote was consumed.
func (d *Decoder) readString(dst []byte) ([]byte, error) {
	for {
		i := d.pos
		buf := d.buf[:d.end]
		for i < len(buf) && !stringStop[buf[i]] {
			i++
		}
		dst = append(dst, buf[d.pos:i]...)
		d.pos = i
		if i == len(buf) {
			if err := d.fill(); err != nil {
				return dst, d.eofIsUnexpected(err)
			}
			continue
		}
		d.pos++
		if buf[i] == '"' {
			return dst, nil
		}
		e, err := d.readByte()
		if err != nil {
			return dst, err
		}
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, err := d.hex4()
			if err != nil {
				return dst, err
			}
			if utf16.IsSurrogate(r) {
				r = d.lowSurrogate(r)
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, d.syntax(fmt.Sprintf("unknown escape \\%c", e))
		}
	}
}

// lowSurrogate completes a surrogate pair whose high half is r; a lone half becomes U+FFFD
// (as encoding/json does), and whatever followed it is left for the string reader.
func (d *Decoder) lowSurrogate(r rune) rune {
	if r >= 0xDC00 { // a low half first
		return utf8.RuneError
	}
	if !d.ensure(6) {
		return utf8.RuneError // the next read reports the short input
	}
	if d.end-d.pos >= 6 && d.buf[d.pos] == '\\' && d.buf[d.pos+1] == 'u' {
		if lo, ok := parseHex4(d.buf[d.pos+2 : d.pos+6]); ok && lo >= 0xDC00 && lo < 0xE000 {
			d.pos += 6
			return utf16.DecodeRune(r, lo)
		}
	}
	return utf8.RuneError
}

func (d *Decoder) hex4() (rune, error) {
	if !d.ensure(4) {
		if d.rerr != nil && d.rerr != io.EOF {
			return 0, d.rerr
		}
		return 0, io.ErrUnexpectedEOF
	}
	r, ok := parseHex4(d.buf[d.pos : d.pos+4])
	if !ok {
		return 0, d.syntax("bad \\u escape")
	}
	d.pos += 4
	return r, nil
}

func parseHex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipValue skips (or, with capture, copies out) one JSON value of any kind.
func (d *Decoder) skipValue(capture *[]byte) error {
	if err := d.skipWS(); err != nil {
		return d.eofIsUnexpected(err)
	}
	depth := 0
	for {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		if capture != nil {
			*capture = append(*capture, c)
		}
		switch {
		case c == '"':
			start := len(d.key)
			// Strings are read (to honour escaped quotes) and re-escaped minimally when captured.
			s, err := d.readString(d.key)
			d.key = s[:start]
			if err != nil {
				return err
			}
			if capture != nil {
				*capture = jsonstr.Append((*capture)[:len(*capture)-1], s[start:])
			}
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth < 0 {
				return d.syntax(fmt.Sprintf("unexpected %q", c))
			}
		case c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if depth == 0 {
				return d.syntax(fmt.Sprintf("unexpected %q", c))
			}
		case c == '-' || c == '.' || c == '+' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			// Part of a number or a literal. A scalar at depth 0 ends at the next delimiter.
			if depth == 0 {
				for d.pos < d.end || d.fill() == nil {
					n := d.buf[d.pos]
					if !(n == '-' || n == '.' || n == '+' || (n >= '0' && n <= '9') || (n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z')) {
						break
					}
					if capture != nil {
						*capture = append(*capture, n)
					}
					d.pos++
				}
				return nil
			}
		default:
			return d.syntax(fmt.Sprintf("unexpected %q", c))
		}
		if depth == 0 {
			return nil
		}
	}
}

func (d *Decoder) skipWS() error {
	for {
		for d.pos < d.end {
			switch d.buf[d.pos] {
			case ' ', '\t', '\n', '\r':
				d.pos++
			default:
				return nil
			}
		}
		if err := d.fill(); err != nil {
			return err
		}
	}
}

func (d *Decoder) expect(c byte) error {
	if d.pos >= d.end {
		if err := d.fill(); err != nil {
			return d.eofIsUnexpected(err)
		}
	}
	if d.buf[d.pos] != c {
		return d.syntax(fmt.Sprintf("want %q, found %q", c, d.buf[d.pos]))
	}
	d.pos++
	return nil
}

func (d *Decoder) expectLit(lit string) error {
	for i := 0; i < len(lit); i++ {
		if err := d.expect(lit[i]); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) readByte() (byte, error) {
	if d.pos >= d.end {
		if err := d.fill(); err != nil {
			return 0, d.eofIsUnexpected(err)
		}
	}
	c := d.buf[d.pos]
	d.pos++
	return c, nil
}

// fill reads more input, keeping the unread bytes. It returns io.EOF at the clean end of input.
func (d *Decoder) fill() error {
	if d.rerr != nil {
		return d.rerr
	}
	if d.pos > 0 {
		n := copy(d.buf, d.buf[d.pos:d.end])
		d.base += int64(d.pos)
		d.pos, d.end = 0, n
	}
	if d.end == len(d.buf) {
		// Only lowSurrogate and hex4 ask for more while holding unread bytes, and they need 6.
		return nil
	}
	for tries := 0; tries < 100; tries++ {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if err != nil {
			d.rerr = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	d.rerr = io.ErrNoProgress
	return d.rerr
}

// ensure makes n unread bytes available if the input has them.
func (d *Decoder) ensure(n int) bool {
	for d.end-d.pos < n {
		if d.fill() != nil {
			return false
		}
	}
	return true
}

func (d *Decoder) eofIsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *Decoder) offset() int64 { return d.base + int64(d.pos) }

func (d *Decoder) syntax(msg string) error {
	return &SyntaxError{Offset: d.offset(), Msg: msg}
}
