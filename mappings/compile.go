package mappings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/gcbatch/gcbatch/getcourse"
)

// Compiled is a mapping bound to one CSV header: every column it reads has its index. It is safe
// for concurrent use by several goroutines.
type Compiled struct {
	m      *Mapping
	fields []cfield // file order: errors are reported in the order the user wrote the fields
	order  []int    // JSON order: indexes into fields sorted by section, key, custom-field name

	require  []int // require_one_of
	anyOf    []int // users/deals without require_one_of: one of user.email, user.phone
	contact  []int // user.email, user.phone when require_one_of names other paths: the service still needs one
	mustHave []int // fields the target cannot do without (groups: user.id, user.group_name)
	// newDeal: offer_id, then offer_code, product_title, deal_cost, deal_number (-1 when not
	// mapped); nil unless target deals.
	newDeal  []int
	genIdx   int   // deal.deal_number: {generate: row-hash}, or -1
	keyIdx   []int // what names a row to a person, best first
	groupIdx int   // user.group_name, or -1

	pool sync.Pool // *applyState
}

// cfield is a spec with its columns resolved.
type cfield struct {
	sp      *spec
	cols    []int    // a column field's columns (-1 where missing), first non-empty cell wins
	names   []string // their names, for errors
	colName string   // the column(s) named in errors
	tmpl    []ctmpl
	joined  *cfield

	keyJSON []byte // `"email":` or, for custom fields, `"Telegram":`
}

type ctmpl struct {
	lit string
	col int // -1 for literal text
}

// value is one field's result for one row.
type value struct {
	kind    uint8
	skipped bool // the cell failed and was left out (on_error: skip)
	s       string
	raw     []byte
	list    []string
	joined  string
}

const (
	vAbsent uint8 = iota
	vString
	vNumber
	vRaw
	vList
	vGenerate
	vFailed // the field was rejected: the row is, too; counts as present for row checks
)

// applyState is per-call scratch space, pooled so that Apply allocates little.
type applyState struct {
	vals  []value
	buf   []byte
	warns []FieldError // fields left out (on_error: skip) and values the service may refuse
}

// Mapped is one row turned into API params.
type Mapped struct {
	// JSON is the canonical params JSON: keys sorted, compact, no HTML escaping. It is exactly what
	// is sent, and what the ledger hashes.
	JSON []byte
	// Key identifies the row to a person in results.csv: the e-mail, else the phone, else the deal
	// number, else the user id.
	Key string
	// Groups are the group names this row adds (for the online preflight).
	Groups []string
	// Warning says what of the row is not sent as the file has it, "" for most rows: a field
	// left out because its cell failed (on_error: skip), or a value outside the service's
	// documented list that is sent for the service to decide. It goes into results.csv and
	// validate's output.
	Warning string
}

// Params decodes JSON into the typed params; numbers stay json.Number.
func (m *Mapped) Params() (getcourse.Params, error) {
	var p getcourse.Params
	dec := json.NewDecoder(bytes.NewReader(m.JSON))
	dec.UseNumber()
	err := dec.Decode(&p)
	return p, err
}

// Compile binds the mapping to a CSV header. A column the header lacks is a *LoadError at the
// YAML position of the field that names it, with the nearest header name as a hint; so is a
// column the mapping reads that the header has more than once (names the mapping does not
// read may repeat). All problems come back at once as LoadErrors, after those of a mapping
// that failed to load (see Load).
func (m *Mapping) Compile(header []string) (*Compiled, error) {
	c := &Compiled{m: m, genIdx: -1, groupIdx: -1}
	errs := append(LoadErrors(nil), m.loadErrs...)
	index := headerIndex(header)
	resolve := func(name string, at pos) int {
		i, msg, hint := index.find(name, header)
		if msg != "" {
			errs = append(errs, &LoadError{File: m.File, Line: at.line, Column: at.col, Msg: msg, Hint: hint})
		}
		return i
	}
	var build func(sp *spec) *cfield
	build = func(sp *spec) *cfield {
		cf := &cfield{sp: sp, keyJSON: appendKey(nil, sp.info)}
		switch sp.src {
		case srcColumn:
			for _, name := range sp.columns {
				cf.cols = append(cf.cols, resolve(name, sp.srcPos))
			}
			cf.names = sp.columns
			cf.colName = strings.Join(sp.columns, "/")
		case srcTemplate:
			var names []string
			for _, p := range sp.tmpl {
				if p.col == "" {
					cf.tmpl = append(cf.tmpl, ctmpl{lit: p.lit, col: -1})
					continue
				}
				cf.tmpl = append(cf.tmpl, ctmpl{col: resolve(p.col, sp.srcPos)})
				names = append(names, p.col)
			}
			cf.colName = strings.Join(names, "+")
		}
		if sp.joined != nil {
			cf.joined = build(sp.joined)
		}
		return cf
	}
	for i, sp := range m.fields {
		c.fields = append(c.fields, *build(sp))
		switch {
		case sp.src == srcGenerate:
			c.genIdx = i
		case sp.info.kind == kindGroups:
			c.groupIdx = i
		}
	}
	for _, sp := range m.broken {
		build(sp) // only for the column problems
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errs
	}
	idx := func(path string) int {
		for i := range c.fields {
			if c.fields[i].sp.path == path {
				return i
			}
		}
		return -1
	}
	c.order = make([]int, len(c.fields))
	for i := range c.order {
		c.order[i] = i
	}
	sort.SliceStable(c.order, func(a, b int) bool {
		x, y := c.fields[c.order[a]].sp.info, c.fields[c.order[b]].sp.info
		if x.section != y.section {
			return x.section < y.section
		}
		if x.key != y.key {
			return x.key < y.key
		}
		return x.sub < y.sub
	})
	for _, p := range m.requireOneOf {
		c.require = append(c.require, idx(p))
	}
	switch m.Target {
	case TargetUsers, TargetDeals:
		if len(m.requireOneOf) == 0 {
			for _, p := range []string{"user.email", "user.phone"} {
				if i := idx(p); i >= 0 {
					c.anyOf = append(c.anyOf, i)
				}
			}
		}
	case TargetGroups:
		c.mustHave = []int{idx("user.id"), idx("user.group_name")}
	case TargetMessages:
		c.mustHave = []int{idx("message.email")}
	}
	if (m.Target == TargetUsers || m.Target == TargetDeals) && len(m.requireOneOf) > 0 {
		onlyContacts := true
		for _, p := range m.requireOneOf {
			onlyContacts = onlyContacts && (p == "user.email" || p == "user.phone")
		}
		if !onlyContacts {
			for _, p := range []string{"user.email", "user.phone"} {
				if i := idx(p); i >= 0 {
					c.contact = append(c.contact, i)
				}
			}
		}
	}
	if m.Target == TargetDeals {
		c.newDeal = []int{idx("deal.offer_id"), idx("deal.offer_code"), idx("deal.product_title"), idx("deal.deal_cost"), -1}
		if i := idx("deal.deal_number"); i >= 0 && c.fields[i].sp.src != srcGenerate {
			c.newDeal[4] = i
		}
	}
	for _, p := range []string{"message.email", "user.email", "user.phone", "deal.deal_number", "user.id"} {
		if i := idx(p); i >= 0 {
			c.keyIdx = append(c.keyIdx, i)
		}
	}
	n := len(c.fields)
	c.pool.New = func() any { return &applyState{vals: make([]value, n), buf: make([]byte, 0, 512)} }
	return c, nil
}

// Mapping returns the mapping this was compiled from.
func (c *Compiled) Mapping() *Mapping { return c.m }

// headerIndex finds columns by exact name, then by name ignoring case, surrounding spaces and a
// byte-order mark, as long as that is unambiguous.
type hindex struct {
	exact map[string][]int
	loose map[string][]int
}

func looseName(s string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, "\ufeff")))
}

func headerIndex(header []string) hindex {
	h := hindex{exact: map[string][]int{}, loose: map[string][]int{}}
	for i, name := range header {
		h.exact[name] = append(h.exact[name], i)
		h.loose[looseName(name)] = append(h.loose[looseName(name)], i)
	}
	return h
}

func (h hindex) find(name string, header []string) (int, string, string) {
	at := h.exact[name]
	if len(at) == 0 {
		at = h.loose[looseName(name)]
	}
	switch len(at) {
	case 1:
		return at[0], "", ""
	case 0:
		hint := ""
		if c, ok := nearest(name, header); ok {
			hint = fmt.Sprintf("did you mean %q?", c)
		} else if len(header) > 0 {
			shown := header
			if len(shown) > 12 {
				shown = shown[:12]
			}
			hint = "the header has: " + strings.Join(shown, ", ")
			if len(header) > 12 {
				hint += ", ..."
			}
		}
		return -1, fmt.Sprintf("column %q is not in the CSV header", name), hint
	}
	pos := make([]string, len(at))
	for i, a := range at {
		pos[i] = fmt.Sprint(a + 1)
	}
	return -1, fmt.Sprintf("column %q appears %d times in the CSV header (columns %s)", name, len(at), strings.Join(pos, ", ")),
		"rename the copies so that each name is unique"
}

func appendKey(b []byte, info fieldInfo) []byte {
	k := info.key
	if info.sub != "" {
		k = info.sub
	}
	b = appendJSONString(b, k)
	return append(b, ':')
}

// Apply maps one CSV row (cells in header order). A row that cannot be sent comes back as a
// RowError naming every failing field, its column and its value. Apply never panics.
func (c *Compiled) Apply(cells []string) (*Mapped, error) {
	st := c.pool.Get().(*applyState)
	defer c.pool.Put(st)
	if err := c.evaluate(cells, st); err != nil {
		return nil, err
	}
	vals := st.vals
	if c.genIdx >= 0 && vals[c.genIdx].kind == vGenerate {
		st.buf = c.appendJSON(st.buf[:0], vals, c.genIdx)
		sum := sha256.Sum256(st.buf)
		vals[c.genIdx] = value{kind: vString, s: "gcb-" + hex.EncodeToString(sum[:8])}
	}
	st.buf = c.appendJSON(st.buf[:0], vals, -1)
	out := &Mapped{JSON: bytes.Clone(st.buf)}
	if len(st.warns) > 0 {
		out.Warning = RowError(st.warns).Error()
	}
	for _, i := range c.keyIdx {
		if v := vals[i]; v.kind == vString || v.kind == vNumber {
			out.Key = v.s
			break
		} else if v.kind == vRaw {
			out.Key = string(v.raw)
			break
		}
	}
	if c.groupIdx >= 0 && vals[c.groupIdx].kind == vList {
		out.Groups = vals[c.groupIdx].list // fresh for this row, except a constant's list:
		if c.fields[c.groupIdx].sp.src == srcValue {
			out.Groups = append([]string(nil), out.Groups...)
		}
	}
	return out, nil
}

// Groups checks a row as Apply does and returns only its group names (user.group_name),
// appended to dst; the error is Apply's for a row Apply would reject. It builds no JSON,
// which is most of Apply's cost: the import's online check reads a whole file for the
// group names of its valid rows before anything is sent, and that time is the user's wait.
func (c *Compiled) Groups(cells []string, dst []string) ([]string, error) {
	st := c.pool.Get().(*applyState)
	defer c.pool.Put(st)
	if err := c.evaluate(cells, st); err != nil {
		return dst, err
	}
	if c.groupIdx >= 0 && st.vals[c.groupIdx].kind == vList {
		dst = append(dst, st.vals[c.groupIdx].list...)
	}
	return dst, nil
}

// evaluate runs every field over the row into st.vals, then the checks on the row as a
// whole; the error (a RowError) lists every problem of a row Apply rejects.
func (c *Compiled) evaluate(cells []string, st *applyState) error {
	vals := st.vals
	for i := range vals {
		vals[i] = value{}
	}
	st.warns = st.warns[:0]
	var rerr RowError
	for i := range c.fields {
		n := len(rerr)
		c.fields[i].eval(cells, &vals[i], &rerr, &st.warns)
		if len(rerr) > n {
			vals[i].kind = vFailed
		}
	}
	n := len(rerr)
	c.rowChecks(vals, &rerr)
	if len(rerr) > n {
		// The row is rejected for what it lacks: the fields left out are part of why, and are
		// said before it.
		checks := append(RowError(nil), rerr[n:]...)
		rerr = rerr[:n]
		for _, w := range st.warns {
			if w.skipped {
				rerr = append(rerr, w)
			}
		}
		rerr = append(rerr, checks...)
	}
	if len(rerr) > 0 {
		return rerr
	}
	return nil
}

// rowChecks applies the checks that look at the row as a whole.
func (c *Compiled) rowChecks(vals []value, rerr *RowError) {
	set := func(i int) bool { return i >= 0 && vals[i].kind != vAbsent }
	if len(c.require) > 0 {
		ok := false
		for _, i := range c.require {
			ok = ok || set(i)
		}
		if !ok {
			*rerr = append(*rerr, FieldError{Msg: c.columnsOf(c.require) +
				emptyWord(vals, c.require) + ", but require_one_of needs one of " + strings.Join(c.m.requireOneOf, ", ")})
		}
	}
	if len(c.anyOf) > 0 {
		ok := false
		for _, i := range c.anyOf {
			ok = ok || set(i)
		}
		if !ok {
			*rerr = append(*rerr, FieldError{Msg: c.columnsOf(c.anyOf) + emptyWord(vals, c.anyOf) + ": the service needs an e-mail or a phone"})
		}
	}
	if len(c.contact) > 0 {
		// require_one_of names other paths: the service still finds the user only by e-mail or
		// phone.
		ok := false
		for _, i := range c.contact {
			ok = ok || set(i)
		}
		if !ok {
			*rerr = append(*rerr, FieldError{Msg: c.columnsOf(c.contact) + emptyWord(vals, c.contact) + ": the service needs an e-mail or a phone"})
		}
	}
	if nd := c.newDeal; nd != nil && !set(nd[4]) {
		// A new deal needs an offer: offer_id, or offer_code or product_title with deal_cost. A
		// row with a deal number from the file is let through: it may edit a deal that exists,
		// which the service allows without them (README, "Mapping files").
		if !set(nd[0]) && !((set(nd[1]) || set(nd[2])) && set(nd[3])) {
			msg := "a new deal needs deal.offer_id, or deal.offer_code or deal.product_title together with deal.deal_cost"
			if (set(nd[1]) || set(nd[2])) && !set(nd[3]) {
				msg = "deal.deal_cost is empty: a new deal given by offer_code or product_title needs its cost (or give deal.offer_id)"
			}
			*rerr = append(*rerr, FieldError{Msg: msg})
		}
	}
	for _, i := range c.mustHave {
		if i >= 0 && !set(i) {
			f := &c.fields[i]
			msg := "is empty: target " + string(c.m.Target) + " needs " + f.sp.path
			if f.sp.info.kind == kindGroups {
				msg = "is empty: target groups would remove every group of the user; list at least one group"
			}
			*rerr = append(*rerr, FieldError{Path: f.sp.path, Column: f.colName, Msg: msg})
		}
	}
}

// emptyWord says how fields a row lacks are missing: empty, or (when on_error: skip left one
// out) unreadable.
func emptyWord(vals []value, idx []int) string {
	for _, i := range idx {
		if i >= 0 && vals[i].skipped {
			return "empty or unreadable"
		}
	}
	return "empty"
}

// columnsOf names the columns of some fields for a row-level message: "E-mail and Телефон are ".
func (c *Compiled) columnsOf(idx []int) string {
	var cols []string
	for _, i := range idx {
		if i >= 0 && c.fields[i].colName != "" {
			cols = append(cols, c.fields[i].colName)
		}
	}
	switch len(cols) {
	case 0:
		return "all fields are "
	case 1:
		return cols[0] + " is "
	}
	return strings.Join(cols[:len(cols)-1], ", ") + " and " + cols[len(cols)-1] + " are "
}

// blank reports an empty or whitespace-only cell. It runs on every cell, so it decides on the
// first character in the common case instead of trimming.
func blank(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != ' ' && (c < '\t' || c > '\r') {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			return false
		}
		i += size
	}
	return true
}

// cell reads the source text of a column or template field for a row, and names the column it
// came from (for a list of columns, the first whose cell is not blank).
func (f *cfield) cell(cells []string) (string, string) {
	switch f.sp.src {
	case srcColumn:
		for k, i := range f.cols {
			if i >= 0 && i < len(cells) && (len(f.cols) == 1 || !blank(cells[i])) {
				return cells[i], f.names[k]
			}
		}
		return "", f.colName
	case srcTemplate:
		allBlank := true
		n := 0
		for _, p := range f.tmpl {
			if p.col < 0 {
				n += len(p.lit)
			} else if p.col < len(cells) {
				n += len(cells[p.col])
				if !blank(cells[p.col]) {
					allBlank = false
				}
			}
		}
		if allBlank {
			return "", f.colName
		}
		var b strings.Builder
		b.Grow(n)
		for _, p := range f.tmpl {
			if p.col < 0 {
				b.WriteString(p.lit)
			} else if p.col < len(cells) {
				b.WriteString(strings.TrimSpace(cells[p.col]))
			}
		}
		return strings.Join(strings.Fields(b.String()), " "), f.colName
	}
	return "", f.colName
}

// eval computes one field of one row into v, adding to rerr what fails (to warns instead, for a
// field with on_error: skip) and to warns what is sent with a warning.
func (f *cfield) eval(cells []string, v *value, rerr *RowError, warns *[]FieldError) {
	sp := f.sp
	switch sp.src {
	case srcGenerate:
		v.kind = vGenerate
		return
	case srcValue:
		switch {
		case sp.constRaw != nil:
			v.kind, v.raw = vRaw, sp.constRaw
		case sp.info.kind == kindGroups:
			v.kind, v.list = vList, sp.constList
		case sp.constIsNum:
			v.kind, v.s = vNumber, sp.constText
		default:
			v.kind, v.s = vString, sp.constText
		}
		f.evalJoined(cells, v, rerr, warns)
		return
	}
	raw, col := f.cell(cells)
	text := raw
	if blank(text) {
		if sp.def == nil {
			if sp.required {
				*rerr = append(*rerr, FieldError{Path: sp.path, Column: col, Msg: "is empty, but required"})
			}
			return
		}
		text = *sp.def
	}
	if sp.info.kind == kindGroups {
		f.evalGroups(text, col, v, rerr, warns)
		if v.kind == vList {
			f.evalJoined(cells, v, rerr, warns)
		} else if sp.required {
			*rerr = append(*rerr, FieldError{Path: sp.path, Column: col, Value: raw, Msg: "has no group names, but is required"})
		}
		return
	}
	out, msg, warn, empty := sp.pipe(text)
	if warn != "" {
		*warns = append(*warns, FieldError{Path: sp.path, Column: col, Value: text, Msg: warn})
	}
	switch {
	case msg != "" && sp.skipOnError:
		*warns = append(*warns, FieldError{Path: sp.path, Column: col, Value: text, Msg: msg + "; left out (on_error: skip)", skipped: true})
		v.skipped = true
	case msg != "":
		*rerr = append(*rerr, FieldError{Path: sp.path, Column: col, Value: text, Msg: msg})
	case empty:
		if sp.required {
			*rerr = append(*rerr, FieldError{Path: sp.path, Column: col, Value: text, Msg: "is mapped to nothing, but required"})
		}
	case sp.number():
		v.kind, v.s = vNumber, out
	default:
		v.kind, v.s = vString, out
	}
}

// evalGroups splits a cell into group names. With on_error: skip, a name that fails is left
// out and the others are kept.
func (f *cfield) evalGroups(text, col string, v *value, rerr *RowError, warns *[]FieldError) {
	sp := f.sp
	add := func(item string) {
		item = strings.TrimSpace(item)
		if item == "" {
			return
		}
		out, msg, _, empty := sp.pipe(item)
		switch {
		case msg != "" && sp.skipOnError:
			*warns = append(*warns, FieldError{Path: sp.path, Column: col, Value: item, Msg: msg + "; left out (on_error: skip)", skipped: true})
		case msg != "":
			*rerr = append(*rerr, FieldError{Path: sp.path, Column: col, Value: item, Msg: msg})
		case !empty && out != "":
			v.list = append(v.list, out)
		}
	}
	if sp.split == "" {
		add(text)
	} else {
		v.list = make([]string, 0, strings.Count(text, sp.split)+1)
		for len(text) > 0 {
			item, rest, _ := strings.Cut(text, sp.split)
			add(item)
			text = rest
		}
	}
	if len(v.list) > 0 {
		v.kind = vList
	}
}

// evalJoined fills the join time shared by a row's groups.
func (f *cfield) evalJoined(cells []string, v *value, rerr *RowError, warns *[]FieldError) {
	if f.joined == nil || v.kind != vList {
		return
	}
	var jv value
	f.joined.eval(cells, &jv, rerr, warns)
	if jv.kind == vString || jv.kind == vNumber {
		v.joined = jv.s
	}
}

// appendJSON writes the row's params as canonical JSON, leaving out the field at skip (for the
// row hash).
func (c *Compiled) appendJSON(b []byte, vals []value, skip int) []byte {
	b = append(b, '{')
	section, key := "", ""
	inSection, inSub := false, false
	first := true // first entry at the current innermost level
	for _, i := range c.order {
		v := &vals[i]
		if i == skip || v.kind == vAbsent || v.kind == vGenerate {
			continue
		}
		f := &c.fields[i]
		info := f.sp.info
		if !inSection || info.section != section {
			if inSub {
				b = append(b, '}')
				inSub = false
			}
			if inSection {
				b = append(b, "},"...)
			}
			b = appendJSONString(b, info.section)
			b = append(b, ":{"...)
			section, inSection, first = info.section, true, true
		}
		if info.sub != "" {
			if !inSub || info.key != key {
				if inSub {
					b = append(b, '}')
				}
				if !first {
					b = append(b, ',')
				}
				b = appendJSONString(b, info.key)
				b = append(b, ":{"...)
				key, inSub, first = info.key, true, true
			}
		} else if inSub {
			b = append(b, '}')
			inSub, first = false, false
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.keyJSON...)
		b = appendValue(b, v)
	}
	if inSub {
		b = append(b, '}')
	}
	if inSection {
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendValue(b []byte, v *value) []byte {
	switch v.kind {
	case vString:
		return appendJSONString(b, v.s)
	case vNumber:
		return append(b, v.s...)
	case vRaw:
		return append(b, v.raw...)
	case vList:
		b = append(b, '[')
		for i, s := range v.list {
			if i > 0 {
				b = append(b, ',')
			}
			if v.joined != "" {
				b = append(b, '[')
				b = appendJSONString(b, s)
				b = append(b, ',')
				b = appendJSONString(b, v.joined)
				b = append(b, ']')
			} else {
				b = appendJSONString(b, s)
			}
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}
