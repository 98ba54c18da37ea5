// Package mappings reads the declarative mapping files that say how a CSV row becomes the params
// of one GetCourse import call, and applies them to rows.
//
// It sits between the CSV source and the sender in an import (and is all that validate runs):
//
//	m, err := mappings.Load("contacts.yaml")  // check the file: paths, options, enums
//	c, err := m.Compile(src.Header())         // bind to the header: find every column
//	for each row: mapped, err := c.Apply(row.Cells)  // params JSON, or a RowError
//
// # Checking early
//
// Everything that can be checked without data is checked when the file loads, and every problem
// is reported at once with its file, line and column and a suggestion: unknown target paths
// ("did you mean user.first_name?"), unknown options and transforms, two sources for one field,
// enumeration values the service refuses (deal_status, payment_status) in map targets, defaults
// and constants. The valid paths come from the json tags of getcourse.Params by reflection, so
// the two never drift apart. Compile adds the checks that need the header: columns that are
// missing, or that the mapping reads and the header has twice. A file with problems still loads
// the fields it can, so that Compile adds the column problems to the same list: one run shows
// them all, and a field with a problem of its own (a misspelt option) does not also fail
// require_one_of. Nothing is sent for a file that fails.
//
// Enumerations the sources disagree on (deal_currency, payment_type) are soft: a value outside
// the documented list is sent as written with a warning (Mapping.Warnings at load time,
// Mapped.Warning for a row), and the service decides.
//
// # Rows
//
// Apply turns one row into Mapped: the canonical params JSON (keys sorted, compact, no HTML
// escaping; exactly what is sent and what the ledger hashes), a key that names the row to a
// person, and the groups the row adds. A row that cannot be sent comes back as a RowError that
// names every failing column and value; the row is rejected locally and never reaches the
// service. Apply is written for validate's pace (hundreds of thousands of rows a second): the
// JSON is assembled by hand from pre-sorted fields and scratch space is pooled.
//
// The value of a field, step by step: the source (a column, the first non-blank of a list of
// columns, a template of columns, or a constant); an empty or whitespace-only cell leaves the
// field out, unless default (used as if the cell held it) or required (the row is rejected); map
// translates known cells (ignoring case, spaces and ё/е); transforms run in order; enumeration
// fields then accept only the service's codes, compared case-insensitively and written in the
// service's own spelling. For
// user.group_name, split cuts the cell into names first and each name goes through map and
// transforms; the JSON gets a list even for one name. A field with on_error: skip whose cell
// fails is left out with a warning (Mapped.Warning) instead of rejecting the row; the checks on
// the row as a whole (require_one_of, an e-mail or a phone for users and deals, the offer of a
// new deal) come after.
//
// Constants keep their YAML type where the service takes any type ({value: 1} is sent as 1,
// {value: "1"} as "1"); string fields and custom fields get the constant's text.
//
// # Idempotency
//
// Users are matched by e-mail, so sending a user row twice is harmless; a deal without
// deal_number and every message are not. Mapping.Idempotent says which case a mapping is, and
// Warnings explains the fix. deal.deal_number: {generate: row-hash} numbers each deal
// "gcb-" + the first 16 hex digits of the SHA-256 of the row's other params: stable across runs
// and files, so a rerun edits the same deal; two identical rows get the same number and so become
// one deal, and a row whose mapped values change becomes a new deal.
package mappings
