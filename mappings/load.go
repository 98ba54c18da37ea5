package mappings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// CSVOptions are the csv: section of a mapping file: how to read the file the mapping is for.
type CSVOptions struct {
	// Delimiter is "auto" (the default: guessed from the header line), ",", ";", "\t" or "|".
	Delimiter string
	// Encoding is "auto" (the default: UTF-8 unless the bytes say windows-1251), "utf-8" or
	// "windows-1251".
	Encoding string
}

// XLSXOptions are the xlsx: section of a mapping file: how to read a workbook (.xlsx).
type XLSXOptions struct {
	// Sheet is the name of the sheet to read; "" reads the first sheet.
	Sheet string
}

// Mapping is a loaded and checked mapping file. It is bound to a particular CSV header by
// Compile; until then it knows which columns it needs but not where they are.
type Mapping struct {
	// File is the path the mapping was loaded from, used in every error message.
	File   string
	Target Target
	CSV    CSVOptions
	// XLSX is the xlsx: section: which sheet of a workbook to read.
	XLSX XLSXOptions

	fields       []*spec  // in file order
	requireOneOf []string // require_one_of paths
	requirePos   pos
	warnings     []string
	hash         string

	// A mapping that failed to load keeps what Compile needs to report the column problems of
	// the same file in the same run: the errors found so far, and the fields whose options were
	// wrong (their columns are still checked). Compile of such a mapping never succeeds.
	loadErrs LoadErrors
	broken   []*spec
}

type pos struct{ line, col int }

func posOf(n *yaml.Node) pos { return pos{n.Line, n.Column} }

type source int

const (
	srcNone source = iota
	srcColumn
	srcValue
	srcTemplate
	srcGenerate
)

func (s source) String() string {
	return [...]string{"", "column", "value", "template", "generate"}[s]
}

// tmplPart is a piece of a template: literal text, or a column to read (col != "").
type tmplPart struct {
	lit, col string
}

// spec is one field of a mapping, as checked at load time.
type spec struct {
	path   string
	info   fieldInfo
	keyPos pos

	src     source
	srcPos  pos      // where the column name, template or constant is written
	columns []string // the column, or the columns of which the first non-empty cell is used
	tmpl    []tmplPart

	// A constant, ready to write: raw JSON for a value that keeps its YAML type, or text.
	constRaw   []byte
	constText  string
	constList  []string
	constIsNum bool

	def      *string
	defPos   pos
	required bool
	// skipOnError is on_error: skip: a cell that fails leaves the field out with a warning
	// instead of rejecting the row.
	skipOnError bool

	transforms []transform
	mapping    map[string]string // normalised cell → replacement
	mapExact   map[string]string // the keys as written → replacement (a fast path)
	split      string
	joined     *spec // user.group_name joined_at companion

	canon map[string]any // canonical form, for Hash
}

// number reports whether the field's output is a JSON number: the last transform is int and the
// field accepts numbers.
func (s *spec) number() bool {
	return s.info.kind == kindFlex && len(s.transforms) > 0 && s.transforms[len(s.transforms)-1].number
}

// afterMap runs the transforms and the enumeration check on a value. warn is set when the value
// is sent although the service's documented list lacks it (an enumeration the sources disagree
// on: the service decides).
func (s *spec) afterMap(v string) (out, msg, warn string) {
	for i := range s.transforms {
		if v, msg = s.transforms[i].fn(v); msg != "" {
			return "", msg, ""
		}
	}
	if e := s.info.enum; e != nil {
		code, ok := e.lookup(v)
		switch {
		case ok:
			v = code
		case e.soft:
			v = strings.TrimSpace(v)
			if v == "" {
				return "", "is empty", ""
			}
			return v, "", "is not in the service's documented " + e.noun + " list (" + e.list() +
				"); sent as written, GetCourse decides"
		case s.mapping != nil:
			return "", "is not a known " + e.noun + " (map it, or use one of " + e.list() + ")", ""
		default:
			return "", "is not a known " + e.noun + " (add a map:, or use one of " + e.list() + ")", ""
		}
	}
	return v, "", ""
}

// pipe turns one non-empty cell (or one split item) into the value sent. empty reports that map
// turned it into nothing; warn, that the value is sent although the service may refuse it.
func (s *spec) pipe(v string) (out, msg, warn string, empty bool) {
	if s.mapping != nil {
		r, ok := s.mapExact[v] // most cells are spelt as the file spells the key
		if !ok {
			r, ok = s.mapping[normKey(v)]
		}
		if ok {
			if r == "" {
				return "", "", "", true
			}
			v = r
		}
	}
	out, msg, warn = s.afterMap(v)
	return out, msg, warn, false
}

// normKey is how map: keys and cells are compared: case, surrounding and repeated spaces, and ё/е
// do not matter.
func normKey(s string) string {
	clean := len(s) > 0 && s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; clean && i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c >= 'A' && c <= 'Z' || c < ' ' || c == ' ' && s[i+1] == ' ' {
			clean = false
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		r = unicode.ToLower(r)
		if r == 'ё' {
			r = 'е'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Load reads and checks a mapping file. Every problem found is returned at once, as LoadErrors.
//
// When the file is valid YAML but has problems, Load returns them together with the part of the
// mapping that loaded: compiling that against the CSV header adds the column problems (a column
// the header lacks) to the same list, so that one run reports everything. Such a mapping is good
// for nothing else; its Compile always fails.
func Load(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, LoadErrors{{File: path, Msg: "cannot read the mapping file: " + err.Error()}}
	}
	return Parse(path, data)
}

// loader collects problems while a file is walked.
type loader struct {
	file  string
	errs  LoadErrors
	warns []string
}

func (l *loader) at(p pos, msg, hint string) {
	l.errs = append(l.errs, &LoadError{File: l.file, Line: p.line, Column: p.col, Msg: msg, Hint: hint})
}

// warn notes something that loads but that the user should see before sending.
func (l *loader) warn(n *yaml.Node, msg string) {
	l.warns = append(l.warns, (&LoadError{File: l.file, Line: n.Line, Column: n.Column, Msg: msg}).Error())
}

func (l *loader) node(n *yaml.Node, msg, hint string) { l.at(posOf(n), msg, hint) }

// deref follows YAML aliases (bounded, so a malicious file cannot loop).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// pairs walks a mapping node's key/value pairs, reporting keys that repeat.
func (l *loader) pairs(n *yaml.Node, what string, fn func(k, v *yaml.Node)) {
	seen := map[string]pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.node(k, what+" keys must be plain names", "")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.node(k, fmt.Sprintf("%s %q is given twice (first at line %d)", what, k.Value, first.line), "")
			continue
		}
		seen[k.Value] = posOf(k)
		fn(k, v)
	}
}

var topKeys = []string{"target", "csv", "xlsx", "fields", "require_one_of"}

// Parse checks a mapping file's contents; file names it in error messages. Like Load, it returns
// the part that loaded together with the problems when the YAML itself could be read.
func Parse(file string, data []byte) (*Mapping, error) {
	l := &loader{file: file}
	doc, err := parseYAML(data)
	if err != nil {
		return nil, LoadErrors{yamlError(file, data, err)}
	}
	root := deref(doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = deref(root.Content[0])
	}
	if root == nil || root.Kind != yaml.MappingNode {
		line := 0
		if root != nil && root.Line > 0 {
			line = root.Line
		}
		return nil, LoadErrors{{File: file, Line: line, Column: min(line, 1),
			Msg: "a mapping file is a YAML mapping with target:, csv: and fields:", Hint: "run gcbatch mapping init to get a starter file"}}
	}
	m := &Mapping{File: file, CSV: CSVOptions{Delimiter: "auto", Encoding: "auto"}}
	var fieldsNode, requireNode *yaml.Node
	targetOK := false
	named := map[string]bool{} // every field path given, also those whose options are wrong
	l.pairs(root, "key", func(k, v *yaml.Node) {
		switch k.Value {
		case "target":
			if v.Kind != yaml.ScalarNode {
				l.node(v, "target must be one of users, deals, messages, groups", "")
				return
			}
			t := Target(strings.ToLower(strings.TrimSpace(v.Value)))
			if !slices.Contains(Targets, t) {
				l.node(v, fmt.Sprintf("unknown target %q (users, deals, messages or groups)", v.Value),
					didYouMean(v.Value, []string{"users", "deals", "messages", "groups"}))
				return
			}
			m.Target, targetOK = t, true
		case "csv":
			l.csvOptions(v, &m.CSV)
		case "xlsx":
			l.xlsxOptions(v, &m.XLSX)
		case "fields":
			fieldsNode = v
		case "require_one_of":
			requireNode = v
		default:
			l.node(k, fmt.Sprintf("unknown key %q (the keys are target, csv, xlsx, fields, require_one_of)", k.Value),
				didYouMean(k.Value, topKeys))
		}
	})
	if !targetOK && !hasKey(root, "target") {
		l.at(posOf(root), "target is missing: add target: users (or deals, messages, groups)", "")
	}
	switch {
	case fieldsNode == nil:
		l.at(posOf(root), "fields is missing: add fields: with one target path per line", "")
	case fieldsNode.Kind == yaml.ScalarNode && fieldsNode.ShortTag() == "!!null":
		l.node(fieldsNode, "fields is empty: map at least one column", "e.g. user.email: E-mail")
	case fieldsNode.Kind != yaml.MappingNode:
		l.node(fieldsNode, "fields must be a mapping of target paths to columns, such as user.email: E-mail", "")
	default:
		l.pairs(fieldsNode, "field", func(k, v *yaml.Node) {
			sp, pathOK, bodyOK := l.field(m.Target, targetOK, k, v)
			named[sp.path] = pathOK // a wrong path is kept too: it may be a typo of one that require_one_of names
			switch {
			case pathOK && bodyOK:
				m.fields = append(m.fields, sp)
			case sp.src == srcColumn || sp.src == srcTemplate:
				m.broken = append(m.broken, sp)
			}
		})
	}
	if requireNode != nil {
		l.requireOneOf(m, requireNode, named)
	}
	// What the target needs as a whole is only judged on an otherwise sound file: with a
	// misspelt user.email it would only add noise.
	if targetOK && len(l.errs) == 0 && fieldsNode != nil && fieldsNode.Kind == yaml.MappingNode {
		l.targetRules(m, posOf(fieldsNode))
	}
	if len(l.errs) > 0 {
		sortErrors(l.errs)
		m.loadErrs = l.errs
		return m, l.errs
	}
	m.warnings = append(l.warns, m.computeWarnings()...)
	m.hash = m.computeHash()
	return m, nil
}

// sortErrors puts problems in file order.
func sortErrors(es LoadErrors) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
}

// parseYAML reads the document tree. A mapping file is user input, so a panic inside the YAML
// parser on some malformed text is turned into an ordinary error rather than a crash.
func parseYAML(data []byte) (doc *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("yaml: %v", r)
		}
	}()
	doc = new(yaml.Node)
	if err := yaml.Unmarshal(data, doc); err != nil {
		return nil, err
	}
	return doc, nil
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// yamlParserErrors are the YAML parser's (as against its scanner's) messages. The YAML library
// numbers their lines from 0 (it adds 1 only for scanner errors), so they name the line before
// the construct at fault: a "[" left open on line 3 comes back as "line 2".
var yamlParserErrors = []string{"did not find expected key", "did not find expected ',' or ']'",
	"did not find expected ',' or '}'", "did not find expected node content", "did not find expected '-' indicator",
	"did not find expected <document start>"}

// yamlError turns a YAML syntax error into a LoadError at the line it is about. A problem found
// at the end of the file (something left open) is put on the last line that has text.
func yamlError(file string, data []byte, err error) *LoadError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &LoadError{File: file, Msg: "not valid YAML: " + msg}
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(rest[:j]); err == nil {
			text := strings.TrimPrefix(strings.TrimPrefix(rest[j:], ":"), " ")
			for _, p := range yamlParserErrors {
				if strings.HasPrefix(text, p) {
					n++
					break
				}
			}
			if last := lastTextLine(data); n > last && last > 0 {
				n = last
			}
			e.Line, e.Column = n, 1
			e.Msg = "not valid YAML: " + text
			switch {
			case strings.HasPrefix(text, "did not find expected ',' or ']'"):
				e.Hint = "a [ opened on this line is not closed"
			case strings.HasPrefix(text, "did not find expected ',' or '}'"):
				e.Hint = "a { opened on this line is not closed"
			case strings.HasPrefix(text, "found character that cannot start any token"):
				e.Hint = "YAML indents with spaces, not tabs; quote values that start with @, ` or %"
			case strings.HasPrefix(text, "mapping values are not allowed"):
				e.Hint = "quote a value that holds \": \""
			}
		}
	}
	return e
}

// lastTextLine is the number of the last line of data that is not blank.
func lastTextLine(data []byte) int {
	last := 0
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) != "" {
			last = i + 1
		}
	}
	return last
}

func (l *loader) csvOptions(n *yaml.Node, o *CSVOptions) {
	if n.Kind != yaml.MappingNode {
		l.node(n, "csv must be a mapping with delimiter and encoding", "")
		return
	}
	l.pairs(n, "csv option", func(k, v *yaml.Node) {
		if v.Kind != yaml.ScalarNode {
			l.node(v, "csv."+k.Value+" must be a single value", "")
			return
		}
		switch k.Value {
		case "delimiter":
			d := v.Value
			switch d {
			case `\t`, "tab", "TAB":
				d = "\t"
			case "AUTO", "Auto":
				d = "auto"
			}
			switch d {
			case "auto", ",", ";", "\t", "|":
				o.Delimiter = d
			default:
				l.node(v, fmt.Sprintf("unknown delimiter %q (auto, \",\", \";\", \"\\t\" or \"|\")", v.Value), "")
			}
		case "encoding":
			e := strings.ToLower(strings.TrimSpace(v.Value))
			switch e {
			case "utf8":
				e = "utf-8"
			case "cp1251", "windows1251", "win1251":
				e = "windows-1251"
			}
			switch e {
			case "auto", "utf-8", "windows-1251":
				o.Encoding = e
			default:
				l.node(v, fmt.Sprintf("unknown encoding %q (auto, utf-8 or windows-1251)", v.Value), "")
			}
		default:
			l.node(k, fmt.Sprintf("unknown csv option %q (delimiter, encoding)", k.Value),
				didYouMean(k.Value, []string{"delimiter", "encoding"}))
		}
	})
}

// xlsxOptions reads the xlsx: section, {sheet: NAME}.
func (l *loader) xlsxOptions(n *yaml.Node, o *XLSXOptions) {
	if n.Kind != yaml.MappingNode {
		l.node(n, "xlsx must be a mapping such as {sheet: Contacts}", "")
		return
	}
	l.pairs(n, "xlsx option", func(k, v *yaml.Node) {
		if k.Value != "sheet" {
			l.node(k, fmt.Sprintf("unknown xlsx option %q (sheet)", k.Value), didYouMean(k.Value, []string{"sheet"}))
			return
		}
		if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
			l.node(v, "xlsx.sheet must be the name of a sheet", "")
			return
		}
		o.Sheet = v.Value
	})
}

// checkPath resolves a target path for the target, with a suggestion when it is wrong.
func (l *loader) checkPath(t Target, targetOK bool, k *yaml.Node) (fieldInfo, bool) {
	s := getSchema()
	path := strings.TrimSpace(k.Value)
	info, ok := s.lookupPath(path)
	if !ok {
		cands := s.validPaths(t)
		if !targetOK {
			cands = s.validPaths("")
		}
		hint := didYouMean(path, cands)
		msg := fmt.Sprintf("unknown target path %q", path)
		if hint == "" {
			if section, _, _ := strings.Cut(path, "."); slices.Contains(s.sections, section) {
				hint = "see the fields of " + section + " in getcourse/params.go"
			} else {
				hint = "paths start with user., system., session., deal. or message."
			}
		}
		if base := strings.TrimSuffix(path, "."); s.maps[base] {
			msg = fmt.Sprintf("%q needs the custom field's name after it", path)
			hint = "e.g. " + base + ".Telegram"
		}
		l.node(k, msg, hint)
		return info, false
	}
	if targetOK && !allowed(t, info) {
		var hint string
		switch {
		case t == TargetGroups:
			hint = "target groups takes only user.id and user.group_name"
		case info.section == "user" && info.key == "id":
			hint = "user.id is only for target groups (users/update)"
		default:
			for _, other := range Targets {
				if allowed(other, info) {
					hint = "use target: " + string(other)
					break
				}
			}
		}
		l.node(k, fmt.Sprintf("target %s does not send %s", t, path), hint)
		return info, false
	}
	return info, true
}

var fieldOptions = []string{"column", "value", "template", "generate", "default", "required", "transform", "map", "split",
	"joined_at", "on_error"}

// field checks one entry of fields:. pathOK says the target path is right (so require_one_of may
// name it), bodyOK that its options are.
func (l *loader) field(t Target, targetOK bool, k, v *yaml.Node) (sp *spec, pathOK, bodyOK bool) {
	info, ok := l.checkPath(t, targetOK, k)
	sp = &spec{path: strings.TrimSpace(k.Value), info: info, keyPos: posOf(k), canon: map[string]any{}}
	sp.canon["path"] = sp.path
	before := len(l.errs)
	l.fieldBody(sp, v, fieldOptions)
	return sp, ok, ok && len(l.errs) == before
}

// fieldBody reads a field's value (shorthand or options) into sp. allowedOpts limits the options
// (joined_at takes fewer).
func (l *loader) fieldBody(sp *spec, v *yaml.Node, allowedOpts []string) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.ShortTag() == "!!null" || strings.TrimSpace(v.Value) == "" {
			l.node(v, sp.path+" has no source", "give a column name, or {column: X}, {value: X} or {template: \"...\"}")
			return
		}
		sp.src, sp.srcPos, sp.columns = srcColumn, posOf(v), []string{v.Value}
		sp.canon["column"] = v.Value
		l.finishField(sp, nil, nil)
		return
	case yaml.MappingNode:
	default:
		l.node(v, sp.path+" must be a column name or a mapping of options", "options: "+strings.Join(allowedOpts, ", "))
		return
	}
	var valueNode, defNode, mapNode, transformNode, onErrorNode *yaml.Node
	var sources []string
	unknown := false
	l.pairs(v, "option", func(k, ov *yaml.Node) {
		name := k.Value
		if !slices.Contains(allowedOpts, name) {
			l.node(k, fmt.Sprintf("unknown option %q for %s", name, sp.path), didYouMean(name, allowedOpts))
			unknown = true
			return
		}
		switch name {
		case "column", "value", "template", "generate":
			sources = append(sources, name)
		}
		switch name {
		case "column":
			if ov.Kind == yaml.SequenceNode {
				cols := l.columnList(ov, sp.path)
				if len(cols) > 0 {
					sp.src, sp.srcPos, sp.columns = srcColumn, posOf(ov), cols
					sp.canon["column"] = cols
				}
			} else if s, ok := l.scalarText(ov, sp.path+".column"); ok {
				sp.src, sp.srcPos, sp.columns = srcColumn, posOf(ov), []string{s}
				sp.canon["column"] = s
			}
		case "template":
			if s, ok := l.scalarText(ov, sp.path+".template"); ok {
				sp.src, sp.srcPos = srcTemplate, posOf(ov)
				sp.tmpl = l.template(ov, s)
				sp.canon["template"] = s
			}
		case "value":
			sp.src, sp.srcPos = srcValue, posOf(ov)
			valueNode = ov
		case "generate":
			sp.src, sp.srcPos = srcGenerate, posOf(ov)
			if ov.Kind != yaml.ScalarNode || ov.Value != "row-hash" {
				l.node(ov, "generate knows only row-hash", "generate: row-hash")
			} else if sp.path != "deal.deal_number" {
				l.node(ov, "generate: row-hash is only for deal.deal_number", "")
			}
			sp.canon["generate"] = "row-hash"
		case "default":
			if s, ok := l.scalarText(ov, sp.path+".default"); ok {
				sp.def, sp.defPos = &s, posOf(ov)
				defNode = ov
				sp.canon["default"] = s
			}
		case "required":
			var b bool
			if ov.Kind != yaml.ScalarNode || ov.Decode(&b) != nil {
				l.node(ov, "required must be true or false", "")
				return
			}
			sp.required = b
			sp.canon["required"] = b
		case "on_error":
			switch strings.ToLower(strings.TrimSpace(ov.Value)) {
			case "skip":
				if ov.Kind == yaml.ScalarNode {
					sp.skipOnError = true
					sp.canon["on_error"] = "skip"
					onErrorNode = ov
					return
				}
			case "reject":
				if ov.Kind == yaml.ScalarNode {
					return // the default; left out of the hash so that saying it changes nothing
				}
			}
			l.node(ov, fmt.Sprintf("on_error must be skip or reject, not %q", ov.Value), didYouMean(ov.Value, []string{"skip", "reject"}))
		case "transform":
			transformNode = ov
		case "map":
			mapNode = ov
		case "split":
			s, ok := l.scalarText(ov, sp.path+".split")
			if !ok {
				return
			}
			if sp.info.kind != kindGroups {
				l.node(k, "split makes a list; only user.group_name takes a list", "")
				return
			}
			sp.split = s
			sp.canon["split"] = s
		case "joined_at":
			if sp.info.kind != kindGroups {
				l.node(k, "joined_at belongs to user.group_name", "")
				return
			}
			sp.joined = &spec{path: "user.group_name.joined_at", keyPos: posOf(k), canon: map[string]any{},
				info: fieldInfo{section: "user", key: "group_name", kind: kindString, date: dateJoin}}
			l.fieldBody(sp.joined, ov, []string{"column", "value", "template", "default", "transform"})
			sp.canon["joined_at"] = sp.joined.canon
		}
	})
	// Transforms and map are checked even when the source is wrong, so that one run shows every
	// problem of the file.
	l.finishField(sp, transformNode, mapNode)
	switch {
	case len(sources) == 0:
		if !unknown { // a misspelt source option has been reported already
			l.node(v, sp.path+" has no source", "give one of column, value or template")
		}
		return
	case len(sources) > 1:
		l.node(v, fmt.Sprintf("%s has %d sources (%s)", sp.path, len(sources), strings.Join(sources, ", ")), "give exactly one of column, value, template")
		return
	}
	if sp.src == srcGenerate && (transformNode != nil || mapNode != nil || defNode != nil || sp.required) {
		l.node(v, "generate: row-hash takes no other options", "")
		return
	}
	if sp.src == srcValue && (defNode != nil || sp.required) {
		l.node(v, "a constant (value) needs no default or required", "")
		return
	}
	if onErrorNode != nil {
		switch {
		case sp.src == srcValue || sp.src == srcGenerate:
			l.node(onErrorNode, "on_error is about cells that fail; a "+sp.src.String()+" has no cell", "")
			return
		case sp.required:
			l.node(onErrorNode, "on_error: skip leaves the field out, but required: true says it must be there", "keep one of them")
			return
		}
	}
	if valueNode != nil {
		l.constant(sp, valueNode)
	}
	if defNode != nil {
		l.checkCell(sp, defNode, *sp.def, "default")
	}
}

// scalarText reads a non-empty scalar option.
func (l *loader) scalarText(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.node(n, what+" must be a single value", "")
		return "", false
	}
	if n.Value == "" {
		l.node(n, what+" is empty", "")
		return "", false
	}
	return n.Value, true
}

// columnList reads column: [A, B]: the first non-empty cell of these columns is used.
func (l *loader) columnList(n *yaml.Node, path string) []string {
	var cols []string
	seen := map[string]bool{}
	for _, it := range n.Content {
		it = deref(it)
		if it.Kind != yaml.ScalarNode || it.ShortTag() == "!!null" || it.Value == "" {
			l.node(it, path+".column lists column names; this item is not one", "")
			continue
		}
		if seen[it.Value] {
			l.node(it, fmt.Sprintf("%s.column names %q twice", path, it.Value), "")
			continue
		}
		seen[it.Value] = true
		cols = append(cols, it.Value)
	}
	if len(n.Content) == 0 {
		l.node(n, path+".column is an empty list", "give one or more column names: [Рабочий email, Личный email]")
	}
	return cols
}

// finishField reads the transform list and the map, which need the field's type.
func (l *loader) finishField(sp *spec, transformNode, mapNode *yaml.Node) {
	if transformNode != nil {
		l.transforms(sp, transformNode)
	}
	if mapNode != nil {
		l.mapOption(sp, mapNode)
	}
}

func (l *loader) transforms(sp *spec, n *yaml.Node) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var canon []any
	for _, it := range items {
		it = deref(it)
		switch it.Kind {
		case yaml.ScalarNode:
			name := strings.TrimSpace(it.Value)
			if name == "date" {
				l.node(it, "date needs a layout", "transform: [{date: DD.MM.YYYY}]")
				continue
			}
			t, ok := simpleTransform(name)
			if !ok {
				l.node(it, fmt.Sprintf("unknown transform %q", name), transformHint(name))
				continue
			}
			sp.transforms = append(sp.transforms, t)
			canon = append(canon, name)
		case yaml.MappingNode:
			if len(it.Content) != 2 {
				l.node(it, "a transform with an argument is written {date: LAYOUT}", "")
				continue
			}
			k, v := deref(it.Content[0]), deref(it.Content[1])
			if k.Value != "date" {
				l.node(k, fmt.Sprintf("unknown transform %q", k.Value), transformHint(k.Value))
				continue
			}
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				l.node(v, "date needs a layout such as DD.MM.YYYY or DD.MM.YYYY HH:mm", "")
				continue
			}
			t, msg := dateTransform(v.Value, sp.info.date)
			if msg != "" {
				l.node(v, msg, "tokens are YYYY MM DD HH mm ss, e.g. DD.MM.YYYY HH:mm")
				continue
			}
			sp.transforms = append(sp.transforms, t)
			canon = append(canon, map[string]string{"date": v.Value})
		default:
			l.node(it, "transform must be a list such as [trim, lower, email]", "")
		}
	}
	sp.canon["transform"] = canon
}

func transformHint(name string) string {
	if h := didYouMean(name, transformNames); h != "" {
		return h
	}
	return "transforms: " + strings.Join(transformNames, ", ")
}

func (l *loader) mapOption(sp *spec, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		l.node(n, "map must be a mapping of cell values to what to send, such as {Оплачен: payed}", "")
		return
	}
	sp.mapping = map[string]string{}
	sp.mapExact = map[string]string{}
	canon := map[string]string{}
	keyAt := map[string]string{}
	l.pairs(n, "map key", func(k, v *yaml.Node) {
		if v.Kind != yaml.ScalarNode {
			l.node(v, "a map value must be a single value", "")
			return
		}
		key := normKey(k.Value)
		if prev, dup := keyAt[key]; dup {
			l.node(k, fmt.Sprintf("map key %q matches the same cells as %q", k.Value, prev), "keys are compared ignoring case, spaces and ё/е")
			return
		}
		keyAt[key] = k.Value
		val := v.Value
		if v.ShortTag() == "!!null" {
			val = ""
		}
		canon[k.Value] = val
		if val != "" {
			out, msg, warn := sp.afterMap(val)
			if warn != "" {
				l.warn(v, fmt.Sprintf("%s: map: %q → %q %s", sp.path, k.Value, val, warn))
			}
			if msg != "" {
				hint := ""
				if e := sp.info.enum; e != nil {
					hint = didYouMean(val, e.values)
				}
				l.node(v, fmt.Sprintf("map: %q → %q %s", k.Value, val, msg), hint)
				return
			}
			val = out
		}
		sp.mapping[key] = val
		sp.mapExact[k.Value] = val
	})
	sp.canon["map"] = canon
}

// checkCell runs a text that stands for a cell (a default) through the field's pipeline, so that
// a default the field would reject is caught when the file loads.
func (l *loader) checkCell(sp *spec, n *yaml.Node, text, what string) {
	items := []string{text}
	if sp.info.kind == kindGroups && sp.split != "" {
		items = strings.Split(text, sp.split)
	}
	for _, it := range items {
		if strings.TrimSpace(it) == "" {
			continue
		}
		_, msg, warn, _ := sp.pipe(it)
		if warn != "" {
			l.warn(n, fmt.Sprintf("%s: %s %q %s", sp.path, what, it, warn))
		}
		if msg != "" {
			hint := ""
			if e := sp.info.enum; e != nil {
				hint = didYouMean(it, e.values)
			}
			l.node(n, fmt.Sprintf("%s %q %s", what, it, msg), hint)
		}
	}
}

// constant reads {value: X}. A constant keeps its YAML type where the field takes any type
// (flags, ids); string fields and custom fields get its text. Transforms and map run now.
func (l *loader) constant(sp *spec, n *yaml.Node) {
	switch n.Kind {
	case yaml.SequenceNode:
		if sp.info.kind != kindGroups {
			l.node(n, "a list is only for user.group_name", "")
			return
		}
		var canon []string
		for _, it := range n.Content {
			it = deref(it)
			if it.Kind != yaml.ScalarNode || strings.TrimSpace(it.Value) == "" {
				l.node(it, "a group name must be a non-empty single value", "")
				continue
			}
			l.constItem(sp, it)
			canon = append(canon, it.Value)
		}
		sp.canon["value"] = canon
		if len(sp.constList) == 0 && len(canon) == 0 {
			l.node(n, "the list of groups is empty", "")
		}
		return
	case yaml.ScalarNode:
	default:
		l.node(n, "value must be a single value (or a list, for user.group_name)", "")
		return
	}
	tag := n.ShortTag()
	if tag == "!!null" || n.Value == "" {
		l.node(n, "value is empty; leave the field out instead", "")
		return
	}
	sp.canon["value"] = map[string]string{"tag": tag, "text": n.Value}
	if sp.info.kind == kindGroups {
		l.constItem(sp, n)
		return
	}
	if sp.info.kind == kindFlex && len(sp.transforms) == 0 && sp.mapping == nil && tag != "!!str" {
		var v any
		if err := n.Decode(&v); err != nil {
			l.node(n, "cannot read the value: "+err.Error(), "")
			return
		}
		raw, err := marshalCompact(v)
		if err != nil {
			l.node(n, fmt.Sprintf("value %q cannot be sent as JSON", n.Value), "quote it to send it as text")
			return
		}
		sp.constRaw = raw
		return
	}
	out, msg, warn, empty := sp.pipe(n.Value)
	if warn != "" {
		l.warn(n, fmt.Sprintf("%s: value %q %s", sp.path, n.Value, warn))
	}
	if msg != "" || empty {
		if empty {
			msg = "is mapped to nothing"
		}
		hint := ""
		if e := sp.info.enum; e != nil {
			hint = didYouMean(n.Value, e.values)
		}
		l.node(n, fmt.Sprintf("value %q %s", n.Value, msg), hint)
		return
	}
	sp.constText, sp.constIsNum = out, sp.number()
}

func (l *loader) constItem(sp *spec, n *yaml.Node) {
	out, msg, _, empty := sp.pipe(n.Value)
	switch {
	case msg != "":
		l.node(n, fmt.Sprintf("value %q %s", n.Value, msg), "")
	case !empty && out != "":
		sp.constList = append(sp.constList, out)
	}
}

// marshalCompact writes JSON without HTML escaping.
func marshalCompact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// template splits "{Фамилия} {Отчество}" into literal text and columns; "{{" and "}}" are
// literal braces.
func (l *loader) template(n *yaml.Node, s string) []tmplPart {
	var parts []tmplPart
	var lit strings.Builder
	cols := 0
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			lit.WriteByte('{')
			i += 2
		case strings.HasPrefix(s[i:], "}}"):
			lit.WriteByte('}')
			i += 2
		case s[i] == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				l.node(n, fmt.Sprintf("template %q has a { without its }", s), "write {{ for a literal brace")
				return nil
			}
			col := strings.TrimSpace(s[i+1 : i+1+end])
			if strings.Contains(col, "{") {
				l.node(n, fmt.Sprintf("template %q has a { without its }", s), "write {{ for a literal brace")
				return nil
			}
			if col == "" {
				l.node(n, fmt.Sprintf("template %q has an empty {}", s), "put a column name inside the braces")
				return nil
			}
			if lit.Len() > 0 {
				parts = append(parts, tmplPart{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, tmplPart{col: col})
			cols++
			i += end + 2
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, tmplPart{lit: lit.String()})
	}
	if cols == 0 {
		l.node(n, fmt.Sprintf("template %q names no column", s), "use value: for a constant, or put column names in braces: \"{Фамилия} {Имя}\"")
		return nil
	}
	return parts
}

// requireOneOf reads require_one_of. named holds every path fields: gives, also those whose
// options are wrong: those are reported where they are, not again here.
func (l *loader) requireOneOf(m *Mapping, n *yaml.Node, named map[string]bool) {
	m.requirePos = posOf(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	if len(items) == 0 {
		l.node(n, "require_one_of is empty", "")
		return
	}
	for _, it := range items {
		it = deref(it)
		if it.Kind != yaml.ScalarNode {
			l.node(it, "require_one_of is a list of target paths", "")
			continue
		}
		path := strings.TrimSpace(it.Value)
		found := false
		var mapped []string
		for _, f := range m.fields {
			mapped = append(mapped, f.path)
			if f.path == path {
				found = true
			}
		}
		if !found && named[path] {
			continue // the field is there, with a problem of its own
		}
		if !found && misspelt(path, named) {
			continue // "user.emial" was reported with "did you mean user.email?"
		}
		if !found {
			if _, ok := getSchema().lookupPath(path); ok {
				l.node(it, fmt.Sprintf("require_one_of names %s, which fields: does not map", path), "")
			} else {
				l.node(it, fmt.Sprintf("require_one_of names unknown path %q", path), didYouMean(path, mapped))
			}
			continue
		}
		m.requireOneOf = append(m.requireOneOf, path)
	}
}

// misspelt reports whether a field path that was refused is a near miss of path.
func misspelt(path string, named map[string]bool) bool {
	var wrong []string
	for p, ok := range named {
		if !ok {
			wrong = append(wrong, p)
		}
	}
	for _, w := range wrong {
		if c, ok := nearest(w, []string{path}); ok && c == path {
			return true
		}
	}
	return false
}

// targetRules checks what each target needs as a whole.
func (l *loader) targetRules(m *Mapping, at pos) {
	has := func(p string) bool { return m.field(p) != nil }
	switch m.Target {
	case TargetUsers, TargetDeals:
		if !has("user.email") && !has("user.phone") {
			l.at(at, "neither user.email nor user.phone is mapped: the service needs one of them to find the user", "")
		}
	case TargetMessages:
		if !has("message.email") {
			l.at(at, "message.email is not mapped: a message needs an address", "")
		}
	case TargetGroups:
		if !has("user.id") {
			l.at(at, "target groups needs user.id (users/update finds the user by id)", "")
		}
		if !has("user.group_name") {
			l.at(at, "target groups needs user.group_name (the groups the user keeps)", "")
		}
	}
	if f := m.field("deal.deal_number"); f != nil && f.src == srcGenerate && m.Target != TargetDeals {
		l.at(f.keyPos, "generate: row-hash is for target deals", "")
	}
}

func (m *Mapping) field(path string) *spec {
	for _, f := range m.fields {
		if f.path == path {
			return f
		}
	}
	return nil
}
