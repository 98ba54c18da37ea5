package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
)

// settleFast are the import flags that make a settlement's export quick against gcsim.
var settleFast = []string{"--settle-poll", "10ms"}

// ordersMapping is a shop's orders without order numbers: not idempotent.
const ordersMapping = `target: deals
fields:
  user.email: {column: E-mail, transform: [trim, lower, email]}
  user.phone: {column: Телефон, transform: [phone]}
  deal.product_title: Товар
  deal.deal_cost: {column: Сумма, transform: [money]}
`

// ordersCSV writes n orders of distinct buyers (as a shop's export has them: ';', Russian
// money) and then `same` identical orders of one buyer.
func ordersCSV(n, same int) string {
	var b strings.Builder
	b.WriteString("E-mail;Телефон;Товар;Сумма\n")
	for i := range n {
		fmt.Fprintf(&b, "buyer%d@example.com;8 (900) 100-%02d-%02d;Курс «SMM» %d;%d 990,00 ₽\n", i, i/100, i%100, i%3, 1+i%12)
	}
	for range same {
		b.WriteString("twin@example.com;+7 900 555-00-00;Марафон, 21 день;2 990,00\n")
	}
	return b.String()
}

// dealsPerRow compares gcsim's deals with the rows of the file: for every distinct content
// (buyer, title, cost), the number of deals must equal the number of rows. It returns the
// duplicates and the missing.
func dealsPerRow(t *testing.T, e *importEnv, mp, in string) (dups, missing int) {
	t.Helper()
	_, valid, _ := mappedRows(t, mp, in, "")
	want := map[string]int{}
	for _, r := range valid {
		want[signatureKey(t, r.json)]++
	}
	got := map[string]int{}
	for _, d := range e.sim.Deals() {
		got[d.UserEmail+"|"+d.ProductTitle+"|"+d.Cost]++
	}
	for k, n := range want {
		switch g := got[k]; {
		case g > n:
			dups += g - n
		case g < n:
			missing += n - g
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			dups += g
		}
	}
	return dups, missing
}

// signatureKey is "email|title|cost" of a deals row's params, as gcsim stores a deal.
func signatureKey(t *testing.T, params []byte) string {
	t.Helper()
	m := regexp.MustCompile(`"deal_cost":"([^"]*)".*"product_title":"([^"]*)".*"email":"([^"]*)"`).FindSubmatch(params)
	if m == nil {
		t.Fatalf("unexpected params %s", params)
	}
	return string(m[3]) + "|" + string(m[2]) + "|" + string(m[1])
}

// TestSettleAfterAmbiguousFailures: every deal call of the first run is cut by a reset, half
// before and half after gcsim applied it, so every row is in doubt. The plain rerun looks them
// up in the deals export, confirms those gcsim has, sends the others, and gcsim ends with each
// row's deal exactly once; identical rows are counted, not merged. What the lookup spends is
// said on screen.
func TestSettleAfterAmbiguousFailures(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Faults: gcsim.Faults{Reset: 1}, ExportDelay: -1, Seed: 3})
	in := e.write("orders.csv", ordersCSV(40, 3))
	mp := e.write("orders.yaml", ordersMapping)
	args := append([]string{"import", "--mapping", mp, "--rate", "200/s"}, settleFast...)
	code, out, _ := e.gcbatch(t.Context(), append(args, in)...)
	first := e.lastRun()
	if code != 1 || first.Counts.InDoubt != 43 {
		t.Fatalf("first run: exit %d, %+v\n%s", code, first.Counts, out)
	}
	if !strings.Contains(out, "43 rows are in doubt") || strings.Contains(out, "rejected.csv") {
		t.Fatalf("the headline must point at the rows in doubt, not at an empty rejected.csv:\n%s", out)
	}
	st := e.sim.Stats()
	applied := st.FaultsInjected["reset_after"]
	if applied == 0 || st.FaultsInjected["reset_before"] == 0 {
		t.Fatalf("want some calls applied and some not: %v", st.FaultsInjected)
	}

	e.sim.SetFaults(gcsim.Faults{})
	code, out, errOut := e.gcbatch(t.Context(), append(args, in)...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "43 deals in doubt since run "+first.ID) || !strings.Contains(errOut, "export budget:") ||
		!regexp.MustCompile(`looked up 43 deals in export \d+ \(\d+ export calls\): \d+ found`).MatchString(errOut) {
		t.Fatalf("the lookup must say what it does and spends:\n%s", errOut)
	}
	if dups, missing := dealsPerRow(t, e, mp, in); dups != 0 || missing != 0 {
		t.Fatalf("gcsim holds %d duplicate and %d missing deals after the rerun", dups, missing)
	}
	if got := e.sim.Stats().DealsCreated; got != 43 {
		t.Fatalf("gcsim created %d deals, want 43", got)
	}
	counts, _ := results(t, e.lastRun())
	if counts["in-doubt"] != 0 || counts["ok"]+counts["skipped"] != 43 || counts["ok"] != 43-applied {
		t.Fatalf("rerun results %v; %d were applied by the first run", counts, applied)
	}
	var sum importer.SummaryReport
	if b, err := os.ReadFile(filepath.Join(e.lastRun().ReportsDir, importer.SummaryFile)); err != nil || json.Unmarshal(b, &sum) != nil ||
		sum.Settled == nil || sum.Settled.InDoubt != 43 || sum.Settled.Confirmed != applied || sum.Settled.Missing != 43-applied || sum.Settled.ExportCalls < 2 {
		t.Fatalf("summary.json: %+v (%v)", sum.Settled, err)
	}
	_, valid, _ := mappedRows(t, mp, in, e.account())
	for i, rec := range e.lookup(valid) {
		if rec.State != checkpoint.StateConfirmed || rec.DealID == 0 {
			t.Fatalf("line %d: %v deal %d", valid[i].line, rec.State, rec.DealID)
		}
	}
	assertNoKey(t, e.dir, e.key, out, errOut)
}

// TestSettleAmbiguousStaysInDoubt: deals made outside gcbatch (by hand in the admin) that look
// exactly like a row in doubt leave it in doubt, with the candidates listed, and it is not sent.
func TestSettleAmbiguousStaysInDoubt(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Faults: gcsim.Faults{Reset: 1}, ExportDelay: -1, Seed: 5})
	in := e.write("orders.csv", ordersCSV(6, 0))
	mp := e.write("orders.yaml", ordersMapping)
	args := append([]string{"import", "--mapping", mp, "--rate", "200/s"}, settleFast...)
	if code, out, _ := e.gcbatch(t.Context(), append(args, in)...); code != 1 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	e.sim.SetFaults(gcsim.Faults{})
	// Two identical orders of buyer0 made by hand, like the row on line 2.
	h1 := e.sim.AddDeal(gcsim.Deal{UserEmail: "buyer0@example.com", ProductTitle: "Курс «SMM» 0", Cost: "1 990,00"})
	h2 := e.sim.AddDeal(gcsim.Deal{UserEmail: "buyer0@example.com", ProductTitle: "Курс «SMM» 0", Cost: "1990"})
	before := e.sim.Stats().AddsByEmail["buyer0@example.com"]

	code, out, errOut := e.gcbatch(t.Context(), append(args, in)...)
	if code != 1 {
		t.Fatalf("rerun: exit %d, want 1 (a row stays in doubt)\n%s\n%s", code, out, errOut)
	}
	if got := e.sim.Stats().AddsByEmail["buyer0@example.com"]; got != before {
		t.Fatalf("the ambiguous row was sent: %d calls for buyer0, %d before", got, before)
	}
	counts, byLine := results(t, e.lastRun())
	if counts["in-doubt"] != 1 || byLine["2"] != "in-doubt" {
		t.Fatalf("rerun results %v (line 2: %q)", counts, byLine["2"])
	}
	resultsText, err := os.ReadFile(filepath.Join(e.lastRun().ReportsDir, importer.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{h1.ID, h2.ID} {
		if !strings.Contains(string(resultsText), fmt.Sprint(id)) || !strings.Contains(errOut, fmt.Sprint(id)) {
			t.Fatalf("candidate deal %d is not listed:\n%s\n%s", id, resultsText, errOut)
		}
	}
	if !strings.Contains(out, "match more deals in GetCourse than could be theirs") || strings.Contains(out, "rejected.csv") {
		t.Fatalf("the summary must say what settles the row in doubt:\n%s", out)
	}
	if dups, missing := dealsPerRow(t, e, mp, in); missing != 0 {
		t.Fatalf("%d rows missing after the rerun (dups %d, two of them made by hand)", missing, dups)
	}
	first := e.allRuns()[1]
	if !strings.Contains(out, "gcbatch runs settle "+first.ID) {
		t.Fatalf("the summary must name the command that looks again:\n%s", out)
	}

	// A further rerun spends no export on the row found ambiguous; runs settle looks again
	// (and finds the same candidates).
	calls := e.sim.Stats().ExportCalls
	code, out, errOut = e.gcbatch(t.Context(), append(args, in)...)
	if code != 1 || e.sim.Stats().ExportCalls != calls || !strings.Contains(errOut, "an earlier lookup found ambiguous") {
		t.Fatalf("second rerun: exit %d, %d export calls (%d before)\n%s\n%s", code, e.sim.Stats().ExportCalls, calls, out, errOut)
	}
	if c, _ := results(t, e.lastRun()); c["in-doubt"] != 1 {
		t.Fatalf("second rerun: %v", c)
	}
	code, out, errOut = e.gcbatch(t.Context(), append([]string{"runs", "settle", first.ID}, settleFast...)...)
	if code != 1 || e.sim.Stats().ExportCalls == calls || !strings.Contains(out, "still in doubt: ") {
		t.Fatalf("runs settle: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestRunsSettleOlderRun: `runs settle RUN_ID` settles the deals an older run left in doubt;
// the rows not in GetCourse are sent by the next run of the import, and nothing twice.
// Messages in doubt stay in doubt, said plainly.
func TestRunsSettleOlderRun(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Faults: gcsim.Faults{Reset: 1}, ExportDelay: -1, Seed: 11})
	in := e.write("orders.csv", ordersCSV(20, 2))
	mp := e.write("orders.yaml", ordersMapping)
	if code, out, _ := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "200/s", in); code != 1 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	old := e.lastRun()
	e.sim.SetFaults(gcsim.Faults{})
	code, out, errOut := e.gcbatch(t.Context(), append([]string{"runs", "settle", old.ID}, settleFast...)...)
	applied := e.sim.Stats().FaultsInjected["reset_after"]
	notThere := 22 - applied
	if code != 1 || !strings.Contains(out, fmt.Sprintf("run %s: 22 rows in doubt", old.ID)) ||
		strings.Count(out, "(confirmed)") != applied || strings.Count(out, "(the next run of the import sends it)") != notThere ||
		!strings.Contains(out, old.Command) {
		t.Fatalf("runs settle: exit %d (%d applied)\n%s\n%s", code, applied, out, errOut)
	}
	if got := e.sim.Stats().DealsCreated; got != applied {
		t.Fatalf("runs settle sent something: %d deals, %d applied before", got, applied)
	}
	code, out, _ = e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "200/s", in)
	if code != 0 {
		t.Fatalf("the import after runs settle: exit %d\n%s", code, out)
	}
	if dups, missing := dealsPerRow(t, e, mp, in); dups != 0 || missing != 0 {
		t.Fatalf("%d duplicate and %d missing deals", dups, missing)
	}
	if c, _ := results(t, e.lastRun()); c["ok"] != notThere || c["skipped"] != applied {
		t.Fatalf("the import after runs settle: %v", c)
	}

	// Messages: no export to look them up in.
	e.sim.SetFaults(gcsim.Faults{Reset: 1})
	msgs := e.write("mailing.csv", "email\nanna@example.com\nboris@example.com\n")
	mm := e.write("mailing.yaml", "target: messages\nfields:\n  message.email: email\n  message.mailing_id: {value: \"42\"}\n")
	code, out, _ = e.gcbatch(t.Context(), "import", "--mapping", mm, msgs)
	if code != 1 || !strings.Contains(out, "GetCourse keeps no list of sent messages") {
		t.Fatalf("messages in doubt: exit %d\n%s", code, out)
	}
	mrun := e.lastRun()
	e.sim.SetFaults(gcsim.Faults{})
	sent := e.sim.Stats().MessagesSent
	code, out, _ = e.gcbatch(t.Context(), "runs", "settle", mrun.ID)
	if code != 1 || !strings.Contains(out, "messages in doubt stay in doubt") || strings.Count(out, "still in doubt") != 2 {
		t.Fatalf("runs settle of messages: exit %d\n%s", code, out)
	}
	code, out, _ = e.gcbatch(t.Context(), "import", "--mapping", mm, msgs)
	if code != 1 || e.sim.Stats().MessagesSent != sent {
		t.Fatalf("a rerun must not send messages in doubt: exit %d, %d sent (%d before)\n%s", code, e.sim.Stats().MessagesSent, sent, out)
	}
	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", mm, "--resend-in-doubt", msgs)
	if code != 0 || !strings.Contains(errOut, "--resend-in-doubt: sending 2 rows again") ||
		!strings.Contains(errOut, "will get it twice") || e.sim.Stats().MessagesSent != sent+2 {
		t.Fatalf("--resend-in-doubt: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestSettleBudgetSpent: when the state file's export budget cannot afford the lookup, it is
// skipped with a note saying when it frees up; the rows stay in doubt and nothing is sent twice.
func TestSettleBudgetSpent(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Faults: gcsim.Faults{Reset: 1}, ExportDelay: -1, Seed: 13})
	in := e.write("orders.csv", ordersCSV(10, 0))
	mp := e.write("orders.yaml", ordersMapping)
	args := append([]string{"import", "--mapping", mp, "--rate", "200/s"}, settleFast...)
	if code, out, _ := e.gcbatch(t.Context(), append(args, in)...); code != 1 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	e.sim.SetFaults(gcsim.Faults{})
	// Other exports of the day spent the budget down to its reserve.
	st, err := checkpoint.Open(e.path("state.db"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.Budget(e.account(), checkpoint.BudgetConfig{})
	for range checkpoint.DefaultBudgetLimit - checkpoint.DefaultBudgetReserve {
		if err := b.Spend(context.Background(), getcourse.BudgetCall{Method: "GET", Path: "/pl/api/account/users"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	before := e.sim.Stats()
	code, out, errOut := e.gcbatch(t.Context(), append(args, in)...)
	if code != 1 || !strings.Contains(errOut, "10 rows stay in doubt: the export budget") || !strings.Contains(out, "rerun the same command after") {
		t.Fatalf("rerun with the budget spent: exit %d\n%s\n%s", code, out, errOut)
	}
	after := e.sim.Stats()
	if after.ExportCalls != before.ExportCalls || after.DealsCreated != before.DealsCreated {
		t.Fatalf("with the budget spent nothing may be called or sent: %d→%d export calls, %d→%d deals",
			before.ExportCalls, after.ExportCalls, before.DealsCreated, after.DealsCreated)
	}
	if c, _ := results(t, e.lastRun()); c["in-doubt"] != 10 {
		t.Fatalf("rows in doubt after the skipped lookup: %v", c)
	}
}

// TestResultsKeyIsDealNumber: a deals mapping that maps deal_number names each row by it in
// results.csv (design.md), not by the buyer's e-mail.
func TestResultsKeyIsDealNumber(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	in := e.write("orders.csv", "Номер заказа;E-mail;Товар;Сумма\nA-1001;anna@example.com;Курс;1 990,00\nA-1002;anna@example.com;Книга;500\n")
	mp := e.write("orders.yaml", `target: deals
fields:
  deal.deal_number: Номер заказа
  user.email: {column: E-mail, transform: [email]}
  deal.product_title: Товар
  deal.deal_cost: {column: Сумма, transform: [money]}
`)
	if code, out, _ := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "100/s", in); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(filepath.Join(e.lastRun().ReportsDir, importer.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{",A-1001,", ",A-1002,"} {
		if !strings.Contains(string(b), n) {
			t.Fatalf("results.csv does not name the rows by deal number:\n%s", b)
		}
	}
}
