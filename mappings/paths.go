package mappings

import (
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/gcbatch/gcbatch/getcourse"
)

// Target is what a mapping file makes of each CSV row: which API call it feeds.
type Target string

// The targets a mapping file may name.
const (
	// TargetUsers sends users/add: create a user, or update one with system.refresh_if_exists.
	TargetUsers Target = "users"
	// TargetDeals sends deals/add: create a deal (and its user), or edit the deal with the same
	// deal_number.
	TargetDeals Target = "deals"
	// TargetMessages sends messages/send: one mailing to one address. Never idempotent.
	TargetMessages Target = "messages"
	// TargetGroups sends users/update: REPLACE a user's groups with the listed ones
	// ({"user":{"id":N,"group_name":[...]}}).
	TargetGroups Target = "groups"
)

// Targets lists every target in the order the documentation names them.
var Targets = []Target{TargetUsers, TargetDeals, TargetMessages, TargetGroups}

// valueKind says how a target field's value is written into the params JSON.
type valueKind int

const (
	kindString   valueKind = iota // a JSON string
	kindFlex                      // keeps its type: a constant's YAML type, a number from int
	kindGroups                    // user.group_name: a list of names
	kindMapEntry                  // one entry of addfields / message.params: a string
)

// dateOut is the date format a target field needs.
type dateOut int

const (
	dateISO      dateOut = iota // YYYY-MM-DD HH:MM:SS
	dateBirthday                // DD.MM.YYYY
	dateJoin                    // YYYY-MM-DD HH:MM (group join time)
)

// fieldInfo describes one target path: where it sits in the params JSON and what it accepts.
type fieldInfo struct {
	section string // user, system, session, deal, message
	key     string // email, addfields, ...
	sub     string // the custom field / template variable name under addfields or params
	kind    valueKind
	date    dateOut
	enum    *enumInfo
}

func (f fieldInfo) path() string {
	p := f.section + "." + f.key
	if f.sub != "" {
		p += "." + f.sub
	}
	return p
}

// enumInfo is one of the service's enumerations. Cells are compared case-insensitively and the
// service's own spelling is emitted ("card" → "CARD").
//
// A soft enumeration is one whose list the sources disagree on (getcourse-api.md: 33 currencies
// on the help page, 50 in another client, none refused on a live account; ZPAYMENT or
// zpayment): a value outside the list is sent as written, with a warning, and the service
// decides. Only lists every source agrees on (deal_status, payment_status) reject locally.
type enumInfo struct {
	noun   string // what the value is, for error messages: "status"
	values []string
	byFold map[string]string // lower-case → the service's spelling
	soft   bool
	exact  map[string]bool // other spellings some source uses, sent as written
}

func newEnum(noun string, values []string) *enumInfo {
	e := &enumInfo{noun: noun, values: values, byFold: make(map[string]string, len(values))}
	for _, v := range values {
		e.byFold[strings.ToLower(v)] = v
	}
	return e
}

// softEnum marks an enumeration whose sources disagree; other are spellings that some source
// uses beside the listed one, kept as the cell writes them.
func softEnum(e *enumInfo, other ...string) *enumInfo {
	e.soft = true
	e.exact = map[string]bool{}
	for _, o := range other {
		e.exact[o] = true
	}
	return e
}

// lookup returns the service's spelling of v, if v is one of the values.
func (e *enumInfo) lookup(v string) (string, bool) {
	if e.exact[v] {
		return v, true
	}
	if s, ok := e.byFold[v]; ok {
		return s, true
	}
	s, ok := e.byFold[strings.ToLower(strings.TrimSpace(v))]
	return s, ok
}

// list renders the values for an error message, shortened when the list is long.
func (e *enumInfo) list() string {
	const most = 12
	if len(e.values) <= most {
		return strings.Join(e.values, ", ")
	}
	return strings.Join(e.values[:most], ", ") + ", ..."
}

// schema is the set of valid target paths, derived once from the json tags of getcourse.Params so
// that a field added there becomes mappable without touching this package.
type schema struct {
	fixed    map[string]fieldInfo // "user.email" → info
	maps     map[string]bool      // "user.addfields", "deal.addfields", "message.params"
	sections []string
}

var (
	schemaOnce sync.Once
	theSchema  *schema
)

func getSchema() *schema {
	schemaOnce.Do(func() { theSchema = buildSchema() })
	return theSchema
}

var (
	groupType  = reflect.TypeFor[[]getcourse.Group]()
	stringType = reflect.TypeFor[string]()
)

func buildSchema() *schema {
	s := &schema{fixed: map[string]fieldInfo{}, maps: map[string]bool{}}
	enums := map[string]*enumInfo{
		"deal.deal_status":    newEnum("status", getcourse.DealStatuses),
		"deal.payment_status": newEnum("payment status", getcourse.PaymentStatuses),
		"deal.payment_type":   softEnum(newEnum("payment type", getcourse.PaymentTypes), "zpayment"),
		"deal.deal_currency":  softEnum(newEnum("currency", getcourse.DealCurrencies)),
		"message.transport":   newEnum("transport", getcourse.MessageTransports),
	}
	pt := reflect.TypeFor[getcourse.Params]()
	for i := range pt.NumField() {
		sf := pt.Field(i)
		section := jsonName(sf)
		if section == "" || sf.Type.Kind() != reflect.Pointer || sf.Type.Elem().Kind() != reflect.Struct {
			continue
		}
		s.sections = append(s.sections, section)
		st := sf.Type.Elem()
		for j := range st.NumField() {
			ff := st.Field(j)
			key := jsonName(ff)
			if key == "" {
				continue
			}
			path := section + "." + key
			info := fieldInfo{section: section, key: key}
			switch {
			case ff.Type == groupType:
				info.kind = kindGroups
				info.date = dateJoin
			case ff.Type.Kind() == reflect.Map && ff.Type.Elem() == stringType:
				s.maps[path] = true
				continue
			case ff.Type.Kind() == reflect.Interface:
				info.kind = kindFlex
			case ff.Type == stringType:
				info.kind = kindString
			default:
				continue
			}
			if path == "user.birthday" {
				info.date = dateBirthday
			}
			info.enum = enums[path]
			s.fixed[path] = info
		}
	}
	sort.Strings(s.sections)
	return s
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

// sectionsFor says which params sections a target may fill.
func sectionsFor(t Target) []string {
	switch t {
	case TargetUsers:
		return []string{"user", "system", "session"}
	case TargetDeals:
		return []string{"user", "system", "session", "deal"}
	case TargetMessages:
		return []string{"message"}
	case TargetGroups:
		return []string{"user"}
	}
	return nil
}

// allowed reports whether a target takes the path (already known to be valid for some target).
func allowed(t Target, info fieldInfo) bool {
	if t == TargetGroups {
		return info.section == "user" && info.sub == "" && (info.key == "id" || info.key == "group_name")
	}
	if info.section == "user" && info.key == "id" {
		return false // users/update only
	}
	for _, s := range sectionsFor(t) {
		if s == info.section {
			return true
		}
	}
	return false
}

// lookupPath resolves a target path, custom-field paths included.
func (s *schema) lookupPath(path string) (fieldInfo, bool) {
	if info, ok := s.fixed[path]; ok {
		return info, true
	}
	section, rest, ok := strings.Cut(path, ".")
	if !ok {
		return fieldInfo{}, false
	}
	key, sub, ok := strings.Cut(rest, ".")
	if !ok || sub == "" || !s.maps[section+"."+key] {
		return fieldInfo{}, false
	}
	return fieldInfo{section: section, key: key, sub: sub, kind: kindMapEntry}, true
}

// validPaths lists the paths a target takes, for suggestions ("did you mean ...").
func (s *schema) validPaths(t Target) []string {
	var out []string
	for p, info := range s.fixed {
		if t == "" || allowed(t, info) {
			out = append(out, p)
		}
	}
	if t != TargetGroups {
		for p := range s.maps {
			section, _, _ := strings.Cut(p, ".")
			info := fieldInfo{section: section}
			if t == "" || allowed(t, info) {
				out = append(out, p+".<name>")
			}
		}
	}
	sort.Strings(out)
	return out
}
