package gcsim

import (
	"fmt"
	"strings"
)

// Guess is one answer the simulator gives without knowing that the real service gives it so:
// a text, a shape or a rule that getcourse-api.md marks [?] or has from a single third-party
// client. They are what to verify first on a real account.
type Guess struct {
	// What is the situation; Sim is what the simulator answers; Source says where the guess
	// comes from.
	What, Sim, Source string
}

// Guesses lists every answer of the simulator that is a guess, most consequential first.
// `gcbatch sim --help` prints it; keep it in step with the [?] marks of getcourse-api.md and
// of the texts in importapi.go and exportapi.go.
var Guesses = []Guess{
	{"plan without the import API", "imports: HTTP 200, empty text/html, nothing written; exports, groups, fields work (--plan trial)", "observed by one client; the seed says 403 Access denied"},
	{"plan without any API", "imports as above; export API 917 «" + txtNoFeature + "» (--plan no-api)", "seed/[?]"},
	{"export the service no longer has", "«" + txtGone + "» without error_code (--export-lifetime D, unknown ids)", "one client; another reads any «не найден» so"},
	{"how long a built export stays collectable", "forever unless --export-lifetime", "unknown"},
	{"not-ready poll as a success", `{"success":true,"info":{"status":"processing"|"exported"|"finished"}} (--status-polls N)`, "three clients' types"},
	{"numbers in export items", "ids as JSON numbers, money as 12000.50 (--numeric-items)", "one SDK types cells (string | number)"},
	{"custom field's object", `context_type "user" / "deal"`, "field names from client types; the values are a guess"},
	{"unknown action, read-only key", "«" + txtForbidden + "» (--read-only-key KEY)", "clients"},
	{"monthly allowance spent", "«" + txtQuota + "»", "only «Достигнут лимит…» is known"},
	{"unknown offer", "«" + txtBadOffer + "»", "seed: «Offer not found»"},
	{"deal without offer or cost", "«" + txtNoOffer + "»", "wording ours"},
	{"bad e-mail, cost, date; unknown user on users/update", "«" + txtBadEmail + "», «" + txtBadCost + "», «" + txtBadDate + "…», «" + txtNoUser + "»", "wording ours"},
	{"refused enum values", "«" + txtBadPayStatus + "…», «" + txtBadPayType + "…», «" + txtBadCurrency + "…»", "form copied from the observed deal_status text"},
	{"message without e-mail or mailing", "«" + txtNoMsgEmail + "», «" + txtNoMailing + "»", "wording ours"},
	{"export of an unknown group", "910 «" + txtNoGroup + "»", "sources disagree on 910"},
	{"malformed filter value", "908 «" + txtBadFilterVal + "NAME»", "wording ours"},
	{"an export built and never collected", "does not block the next start once built", "[?] in getcourse-api.md"},
	{"group list and field list calls", "count against the export budget", "probably, per getcourse-api.md"},
}

// GuessTable formats Guesses for a terminal: the situation, then what the simulator answers
// and where that comes from, indented.
func GuessTable() string {
	var b strings.Builder
	for _, g := range Guesses {
		fmt.Fprintf(&b, "  %s\n      sim: %s\n      from: %s\n", g.What, g.Sim, g.Source)
	}
	return b.String()
}
