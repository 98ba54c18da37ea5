package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
)

// Hash is the hex SHA-256 of a canonical form of the mapping: the target, each field's path and
// options (in path order), and require_one_of. Comments, whitespace, key order and the csv:
// section (which changes how the file is read, not what is sent) do not change it.
func (m *Mapping) Hash() string { return m.hash }

func (m *Mapping) computeHash() string {
	fields := make([]map[string]any, 0, len(m.fields))
	for _, f := range m.fields {
		fields = append(fields, f.canon)
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i]["path"].(string) < fields[j]["path"].(string) })
	req := append([]string(nil), m.requireOneOf...)
	sort.Strings(req)
	canon := map[string]any{"target": string(m.Target), "fields": fields, "require_one_of": req}
	// Maps marshal with sorted keys, so this is deterministic; canon holds only strings, bools,
	// slices and maps of those, which always marshal.
	b, _ := json.Marshal(canon)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Idempotent reports whether sending a row twice is harmless. Deals without deal.deal_number
// create a new deal on every call, and every message is a new e-mail, so those are not.
func (m *Mapping) Idempotent() bool {
	switch m.Target {
	case TargetMessages:
		return false
	case TargetDeals:
		return m.field("deal.deal_number") != nil
	}
	return true
}

// Warnings are things the user should know before sending that do not stop the run.
func (m *Mapping) Warnings() []string { return append([]string(nil), m.warnings...) }

func (m *Mapping) computeWarnings() []string {
	var w []string
	switch m.Target {
	case TargetDeals:
		f := m.field("deal.deal_number")
		switch {
		case f == nil:
			w = append(w, "deal.deal_number is not mapped: every row creates a new deal, so a row sent twice "+
				"(a retry after a timeout) makes a duplicate order; rows in doubt are not resent. "+
				"Map the order number, or add `deal.deal_number: {generate: row-hash}` to give each row a stable number")
		case f.src == srcGenerate:
			w = append(w, "deal.deal_number is generated from each row's other values: identical rows get the same "+
				"number (one deal), and changing any mapped value makes a new deal")
		}
	case TargetMessages:
		w = append(w, "messages are not idempotent: a message sent twice reaches the person twice, so a row in doubt "+
			"after a crash or timeout is not resent unless you say --resend-in-doubt")
		if m.field("message.mailing_id") == nil {
			w = append(w, "message.mailing_id is not mapped: the service needs it to know which mailing to send")
		}
	case TargetGroups:
		w = append(w, "target groups REPLACES each user's groups: groups not listed in the row are removed")
	}
	return w
}

// Columns lists the CSV columns the mapping reads, in the order the file names them, each once.
func (m *Mapping) Columns() []string {
	var out []string
	seen := map[string]bool{}
	add := func(c string) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	var walk func(f *spec)
	walk = func(f *spec) {
		switch f.src {
		case srcColumn:
			for _, c := range f.columns {
				add(c)
			}
		case srcTemplate:
			for _, p := range f.tmpl {
				if p.col != "" {
					add(p.col)
				}
			}
		}
		if f.joined != nil {
			walk(f.joined)
		}
	}
	for _, f := range m.fields {
		walk(f)
	}
	return out
}

// AddfieldNames lists the custom-field names the mapping fills, for users and for deals, so that
// an online preflight can check that the account has them (the service drops unknown names
// without a word).
func (m *Mapping) AddfieldNames() (user, deal []string) {
	for _, f := range m.fields {
		if f.info.kind != kindMapEntry || f.info.key != "addfields" {
			continue
		}
		switch f.info.section {
		case "user":
			user = append(user, f.info.sub)
		case "deal":
			deal = append(deal, f.info.sub)
		}
	}
	return user, deal
}

// GroupConstants lists the group names the mapping gives as constants ({value: [...]}).
func (m *Mapping) GroupConstants() []string {
	var out []string
	for _, f := range m.fields {
		if f.info.kind == kindGroups {
			out = append(out, f.constList...)
		}
	}
	return out
}

// Paths lists the target paths the mapping fills, in file order.
func (m *Mapping) Paths() []string {
	out := make([]string, len(m.fields))
	for i, f := range m.fields {
		out[i] = f.path
	}
	return out
}

// String describes the mapping in one line, for logs.
func (m *Mapping) String() string {
	return string(m.Target) + " mapping " + m.File + " (" + strings.Join(m.Paths(), ", ") + ")"
}
