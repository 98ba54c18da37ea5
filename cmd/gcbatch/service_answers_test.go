package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// The service's less common answers (getcourse-api.md, issue 14), each through the CLI against
// gcsim over real HTTP.

// dealsNoNumber is a deals mapping without deal_number: every call creates a deal, so an
// ambiguous failure would leave the row in doubt.
const dealsNoNumber = `target: deals
fields:
  user.email: {column: E-mail, transform: [trim, lower, email]}
  deal.product_title: Товар
  deal.deal_cost: {column: Сумма, transform: [money]}
`

func dealsFile(n int) string {
	var b strings.Builder
	b.WriteString("E-mail,Товар,Сумма\n")
	for i := range n {
		fmt.Fprintf(&b, "buyer%02d@example.ru,Курс «Excel» №%d,\"%d 990,00 ₽\"\n", i, i, i+1)
	}
	return b.String()
}

// TestServiceNoImportAPIPlan: a plan without the import API (empty 200 pages on imports,
// exports working) stops the run with exit 3 and no row failed or in doubt, with and without
// the online check; once the plan allows imports the same command creates every deal once.
func TestServiceNoImportAPIPlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"with the online check", nil},
		{"without the online check", []string{"--no-preflight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newImportEnv(t, gcsim.Config{Plan: "trial"})
			in := e.write("orders.csv", dealsFile(20))
			mp := e.write("orders.yaml", dealsNoNumber)
			args := append([]string{"import", "--mapping", mp, "--rate", "200/s", "--concurrency", "4"}, tc.extra...)
			args = append(args, in)
			code, out, errOut := e.gcbatch(t.Context(), args...)
			if code != 3 {
				t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errOut)
			}
			if all := out + errOut; !strings.Contains(all, "plan does not include the import API") {
				t.Errorf("the message does not name the plan:\n%s", all)
			}
			run := e.lastRun()
			if run.Counts.InDoubt != 0 || run.Counts.Failed != 0 || run.Counts.OK != 0 {
				t.Fatalf("counts %+v, want no row in doubt, failed or ok", run.Counts)
			}
			st := e.sim.Stats()
			if st.DealsCreated != 0 || st.Requests["/pl/api/deals"] > 4 {
				t.Fatalf("%d deals created, %d deal calls (want 0, at most one round of 4)", st.DealsCreated, st.Requests["/pl/api/deals"])
			}

			if err := e.sim.SetPlan("pro"); err != nil {
				t.Fatal(err)
			}
			code, out, errOut = e.gcbatch(t.Context(), args...)
			if code != 0 {
				t.Fatalf("after the plan allowed imports: exit %d\n%s\n%s", code, out, errOut)
			}
			if st := e.sim.Stats(); st.DealsCreated != 20 || len(e.sim.Deals()) != 20 {
				t.Fatalf("%d deals created (%d stored), want each of the 20 once", st.DealsCreated, len(e.sim.Deals()))
			}
			seen := map[string]int{}
			for _, d := range e.sim.Deals() {
				seen[d.UserEmail]++
			}
			for email, n := range seen {
				if n != 1 {
					t.Errorf("%s has %d deals", email, n)
				}
			}
			assertNoKey(t, e.dir, e.key, out, errOut)
		})
	}
}

// swapEnv is an import env whose simulator can be replaced behind the same address, as when the
// service forgets what it knew.
func swapEnv(t *testing.T, cfg gcsim.Config) (*importEnv, func(gcsim.Config) *gcsim.Sim) {
	t.Helper()
	cfg.Key = importTestKey
	var cur atomic.Pointer[gcsim.Sim]
	cur.Store(gcsim.New(cfg))
	srv := httptest.NewServer(http.StripPrefix("/acct", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur.Load().ServeHTTP(w, r)
	})))
	t.Cleanup(srv.Close)
	e := &importEnv{t: t, sim: cur.Load(), base: srv.URL + "/acct", key: cfg.Key, dir: t.TempDir()}
	return e, func(c gcsim.Config) *gcsim.Sim {
		c.Key = importTestKey
		s := gcsim.New(c)
		cur.Store(s)
		e.sim = s
		return s
	}
}

// goldenConfig is the simulated account of TestExportGolden, so that an export of its users
// must equal testdata/export/users.csv byte for byte.
func goldenConfig() gcsim.Config {
	now := time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
	return gcsim.Config{SeedUsers: 40, ExportDelay: -1, Seed: 11, Now: func() time.Time { return now }}
}

func sameAsGolden(t *testing.T, path, golden string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "export", golden))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from testdata/export/%s", filepath.Base(path), golden)
	}
}

// TestServiceExportGone: the export a run recorded is gone from the service («Объект не
// найден», no code): the rerun forgets it, starts afresh once and writes the exact file.
func TestServiceExportGone(t *testing.T) {
	t.Parallel()
	slow := goldenConfig()
	slow.ExportDelay = time.Hour // by the fixed clock: never ready
	e, swap := swapEnv(t, slow)
	out := e.path("users.csv")
	args := exportArgs("export", "users", "--created-from", "2000-01-01", "-o", out, "--log", e.path("export.log"))
	code, _, errOut := e.gcbatch(t.Context(), append(args, "--wait", "50ms")...)
	if code != 3 || !strings.Contains(errOut, "stays recorded") {
		t.Fatalf("first run: exit %d: %s", code, errOut)
	}
	first := e.sim.Stats().ExportStarts

	// The service forgets every export (a restart, or the export expired).
	swap(goldenConfig())
	code, _, errOut = e.gcbatch(t.Context(), args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "not available any more") || !strings.Contains(errOut, "Объект не найден") {
		t.Errorf("the rerun did not say the export was gone: %s", errOut)
	}
	if starts := first + e.sim.Stats().ExportStarts; starts != 2 {
		t.Errorf("%d starts, want 2", starts)
	}
	sameAsGolden(t, out, "users.csv")
	log, _ := os.ReadFile(e.path("export.log"))
	for _, want := range []string{"export start", "export started", "export poll", "export collected"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("--log lacks %q:\n%s", want, log)
		}
	}
	assertNoKey(t, e.dir, e.key, errOut)
}

// TestServiceStatusPolls: polls answered {"success":true,"info":{"status":"processing"}} (then
// "exported", "finished") are polled again: one start, the exact file.
func TestServiceStatusPolls(t *testing.T) {
	t.Parallel()
	cfg := goldenConfig()
	cfg.StatusPolls = 3
	e := newImportEnv(t, cfg)
	out := e.path("users.csv")
	code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", out)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	st := e.sim.Stats()
	if st.ExportStarts != 1 || st.Requests["/pl/api/account/exports/{id}"] != 4 {
		t.Errorf("%d starts, %d polls; want 1 and 4", st.ExportStarts, st.Requests["/pl/api/account/exports/{id}"])
	}
	sameAsGolden(t, out, "users.csv")
}

// TestServiceNumericItems: export items holding JSON numbers are written as their digits: the
// users file is the golden one, and deals keep their ids and plain decimals.
func TestServiceNumericItems(t *testing.T) {
	t.Parallel()
	cfg := goldenConfig()
	cfg.NumericItems = true
	e := newImportEnv(t, cfg)
	out := e.path("users.csv")
	if code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", out)...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	sameAsGolden(t, out, "users.csv")

	deals := gcsim.Config{SeedDeals: 30, ExportDelay: -1, Seed: 3}
	strs := newImportEnv(t, deals)
	deals.NumericItems = true
	nums := newImportEnv(t, deals)
	args := exportArgs("export", "deals", "--created-from", "2000-01-01", "--columns", "ID заказа,ID пользователя,Стоимость\\, RUB")
	if code, _, errOut := strs.gcbatch(t.Context(), append(args, "-o", strs.path("d.csv"))...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code, _, errOut := nums.gcbatch(t.Context(), append(args, "-o", nums.path("d.csv"))...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	a, b := readCSVFile(t, strs.path("d.csv"), ','), readCSVFile(t, nums.path("d.csv"), ',')
	if len(a) != 31 || len(b) != 31 {
		t.Fatalf("%d and %d lines", len(a), len(b))
	}
	plain := regexp.MustCompile(`^\d+\.\d\d$`)
	for i := 1; i < len(a); i++ {
		if a[i][0] != b[i][0] || a[i][1] != b[i][1] {
			t.Errorf("line %d: ids %q as numbers became %q", i, a[i][:2], b[i][:2])
		}
		russian := strings.NewReplacer(" ", "", "\u00a0", "", ",", ".").Replace(a[i][2])
		if !plain.MatchString(b[i][2]) || b[i][2] != russian {
			t.Errorf("line %d: cost %q as a number became %q", i, a[i][2], b[i][2])
		}
	}
}

// TestServiceGroupMembersAndListFilters: a group's members export without a filter; a
// comma list of user ids and idgrouplist pass as they are; users still need a real filter.
func TestServiceGroupMembersAndListFilters(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 60, SeedDeals: 40, ExportDelay: -1, Seed: 9})
	code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "group-users", "--group", "1", "-o", e.path("g.csv"))...)
	if code != 0 {
		t.Fatalf("unfiltered group members: exit %d: %s", code, errOut)
	}
	if recs := readCSVFile(t, e.path("g.csv"), ','); len(recs) < 2 || recs[0][0] != "id" {
		t.Errorf("group members: %d lines", len(recs))
	}

	// Two buyers' deals by a list of their ids.
	if code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "deals", "--created-from", "2000-01-01", "-o", e.path("all.csv"))...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	all := readCSVFile(t, e.path("all.csv"), ',')
	u1, u2 := all[1][2], ""
	for _, r := range all[2:] {
		if r[2] != u1 {
			u2 = r[2]
			break
		}
	}
	want := 0
	for _, r := range all[1:] {
		if r[2] == u1 || r[2] == u2 {
			want++
		}
	}
	code, _, errOut = e.gcbatch(t.Context(), exportArgs("export", "deals", "--filter", "user_id="+u1+","+u2, "-o", e.path("two.csv"))...)
	if code != 0 {
		t.Fatalf("user_id list: exit %d: %s", code, errOut)
	}
	if got := len(readCSVFile(t, e.path("two.csv"), ',')) - 1; got != want || want < 2 {
		t.Errorf("user_id=%s,%s: %d deals, want %d", u1, u2, got, want)
	}

	code, _, errOut = e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "--filter", "idgrouplist=1,2", "-o", e.path("u.csv"))...)
	if code != 0 {
		t.Fatalf("idgrouplist: exit %d: %s", code, errOut)
	}
	recs := readCSVFile(t, e.path("u.csv"), ',')
	if h := recs[0]; len(h) < 2 || h[len(h)-2] == "" || !strings.Contains(strings.Join(h, ","), e.sim.Groups()[0].Name) {
		t.Errorf("idgrouplist added no group columns: %q", h)
	}

	before := totalRequests(e.sim.Stats())
	for _, args := range [][]string{
		{"users", "--filter", "idgrouplist=1"},
		{"payments"},
		{"deals", "--filter", "user_id=1,x"},
	} {
		code, _, errOut := e.gcbatch(t.Context(), exportArgs(append(append([]string{"export"}, args...), "-o", e.path("x.csv"))...)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errOut)
		}
	}
	if n := totalRequests(e.sim.Stats()) - before; n != 0 {
		t.Errorf("refused commands made %d calls", n)
	}
}

// TestServiceReadOnlyKey: a key that may read but not write (gcsim --read-only-key) answers
// imports «Действие запрещено»: the import stops at once, exit 3, no row failed; exports work.
func TestServiceReadOnlyKey(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{ReadOnlyKey: "read-only-key-4242", SeedUsers: 5, ExportDelay: -1})
	e.key = "read-only-key-4242"
	in := e.write("orders.csv", dealsFile(6))
	mp := e.write("orders.yaml", dealsNoNumber)
	code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, "--no-preflight", "--concurrency", "1", in)
	if code != 3 || !strings.Contains(out+errOut, "Действие запрещено") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if run := e.lastRun(); run.Counts.Failed != 0 || run.Counts.InDoubt != 0 || len(e.sim.Deals()) != 0 {
		t.Errorf("run %+v, %d deals", run.Counts, len(e.sim.Deals()))
	}
	if code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("u.csv"))...); code != 0 {
		t.Errorf("export with the read-only key: exit %d: %s", code, errOut)
	}
}

// TestServiceSimKnobs: gcbatch sim takes the knobs for the less common answers, refuses
// nonsense, and its help lists the answers that are still guesses.
func TestServiceSimKnobs(t *testing.T) {
	t.Parallel()
	o := &simOptions{Key: "k", Plan: "trial", ReadOnlyKey: "ro", Lifetime: time.Minute, StatusPolls: 2, Numeric: true,
		StartDelay: time.Second, SlowDelay: time.Second, ExportBudget: "100/2h", Shape: "real"}
	cfg, err := o.simConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Plan != "trial" || cfg.ReadOnlyKey != "ro" || cfg.ExportLifetime != time.Minute || cfg.StatusPolls != 2 ||
		!cfg.NumericItems || cfg.StartDelay != time.Second {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range []func(o *simOptions){
		func(o *simOptions) { o.Plan = "gold" },
		func(o *simOptions) { o.ReadOnlyKey = o.Key },
		func(o *simOptions) { o.StatusPolls = -1 },
	} {
		b := *o
		bad(&b)
		if _, err := b.simConfig(); err == nil {
			t.Errorf("accepted %+v", b)
		}
	}
	e := newImportEnv(t, gcsim.Config{})
	code, out, _ := e.gcbatch(t.Context(), "sim", "--help")
	if code != 0 || !strings.Contains(out, "still guesses") || !strings.Contains(out, "Объект не найден") || !strings.Contains(out, "--read-only-key") {
		t.Errorf("sim --help: exit %d\n%s", code, out)
	}
}
