package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/internal/gen"
	"github.com/gcbatch/gcbatch/mappings"
)

func TestNearest(t *testing.T) {
	t.Parallel()
	fields := []string{"Telegram", "Источник", "Промокод", "Город доставки"}
	tests := []struct {
		name, in string
		cands    []string
		want     string
		ok       bool
	}{
		{"one letter doubled", "Telegramm", fields, "Telegram", true},
		{"case only", "telegram", fields, "Telegram", true},
		{"cyrillic typo", "Промокд", fields, "Промокод", true},
		{"two letters off in a long name", "Горд доставк", fields, "Город доставки", true},
		{"nothing close", "Комментарий", fields, "Промокод", false},
		{"no candidates", "Telegram", nil, "", false},
		{"lookalike letters", "Тренинг SММ", []string{"Тренинг SMM", "Клиенты"}, "Тренинг SMM", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Nearest(tt.in, tt.cands)
			if ok != tt.ok || ok && got != tt.want {
				t.Errorf("Nearest(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCompareAccount(t *testing.T) {
	t.Parallel()
	acct := AccountInfo{
		Fields: []getcourse.Field{{Name: "Telegram", Object: "user"}, {Name: "Трек-номер", Object: "deal"},
			{Name: "Общее", Object: ""}},
		HaveFields: true,
		Groups:     []string{"Клиенты", "Тренинг SMM", "VIP Студенты"},
		HaveGroups: true,
	}
	tests := []struct {
		name       string
		acct       AccountInfo
		user, deal []string
		groups     map[string]int
		wantFields string // Object:Name>Suggestion, comma separated
		wantGroups string // Name:Rows>Suggestion, comma separated
	}{
		{name: "all known", acct: acct, user: []string{"Telegram"}, deal: []string{"Трек-номер"},
			groups: map[string]int{"Клиенты": 3, "VIP Студенты": 1}},
		{name: "typo in a user field", acct: acct, user: []string{"Telegramm"},
			wantFields: "user:Telegramm>Telegram"},
		{name: "a deal field is not a user field", acct: acct, user: []string{"Трек-номер"},
			wantFields: "user:Трек-номер>"},
		{name: "a field without object counts for both", acct: acct, user: []string{"Общее"}, deal: []string{"Общее"}},
		{name: "case differs", acct: acct, deal: []string{"трек-номер"}, wantFields: "deal:трек-номер>Трек-номер"},
		{name: "new groups, most rows first", acct: acct,
			groups:     map[string]int{"Клиенты": 5, "Вебинар 12.03": 2, "Тренинг SММ": 7, "Акция": 2},
			wantGroups: "Тренинг SММ:7>Тренинг SMM,Акция:2>,Вебинар 12.03:2>"},
		{name: "lists not known are not checked", acct: AccountInfo{}, user: []string{"Nope"},
			groups: map[string]int{"Nope": 1}},
		{name: "an account without fields", acct: AccountInfo{HaveFields: true}, deal: []string{"Трек-номер"},
			wantFields: "deal:Трек-номер>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unknown, fresh := CompareAccount(tt.acct, tt.user, tt.deal, tt.groups)
			var f, g []string
			for _, u := range unknown {
				f = append(f, u.Object+":"+u.Name+">"+u.Suggestion)
			}
			for _, n := range fresh {
				g = append(g, fmt.Sprintf("%s:%d>%s", n.Name, n.Rows, n.Suggestion))
			}
			if got := strings.Join(f, ","); got != tt.wantFields {
				t.Errorf("unknown fields %q, want %q", got, tt.wantFields)
			}
			if got := strings.Join(g, ","); got != tt.wantGroups {
				t.Errorf("new groups %q, want %q", got, tt.wantGroups)
			}
		})
	}
}

// preflightCSV has a bad row (rejected: its group must not count), a typo'd group and a new one.
const preflightCSV = "E-mail,Группы,Telegram\n" +
	"a@example.ru,\"Клиенты, Тренинг SMM\",@a\n" +
	"b@example.ru,\"Клиенты, Тренинг SММ\",@b\n" +
	"not-an-email,Секретная,@c\n" +
	"d@example.ru,Вебинар 12.03,@d\n" +
	"e@example.ru,,@e\n"

const preflightMapping = `target: users
fields:
  user.email: {column: E-mail, transform: [trim, lower, email]}
  user.group_name: {column: Группы, split: ","}
  user.addfields.Telegramm: Telegram
`

// clock is a settable clock shared by the budget, the cache and the preflight.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// preflightEnv is a simulated account, a state file, the sample input and a clock.
type preflightEnv struct {
	*testEnv
	clk   *clock
	input string
	m     *mappings.Mapping
	cfg   checkpoint.BudgetConfig
}

func newPreflightEnv(t *testing.T, sim gcsim.Config, mapping string) *preflightEnv {
	t.Helper()
	e := &preflightEnv{testEnv: newEnv(t, sim), clk: &clock{now: time.Now()}}
	e.cfg = checkpoint.BudgetConfig{Limit: 20, Now: e.clk.Now}
	e.input = e.file("contacts.csv", func(w io.Writer) error { _, err := io.WriteString(w, preflightCSV); return err })
	e.m = e.mapping("contacts.yaml", mapping)
	return e
}

func (e *preflightEnv) budget() *checkpoint.Budget { return e.store.Budget(e.account(), e.cfg) }

func (e *preflightEnv) preflight(ctx context.Context, edit func(*PreflightOptions)) (*PreflightReport, error) {
	e.t.Helper()
	b := e.budget()
	c, err := getcourse.NewClient(getcourse.WithBaseURL(e.base), getcourse.WithKey(e.key), getcourse.WithExportBudget(b))
	if err != nil {
		e.t.Fatal(err)
	}
	o := PreflightOptions{Mapping: e.m, InputPath: e.input, Store: e.store, Client: c, Budget: b, Now: e.clk.Now}
	if edit != nil {
		edit(&o)
	}
	return Preflight(ctx, o)
}

// accountCalls is what the simulator saw of the two preflight calls.
func (e *preflightEnv) accountCalls() int {
	st := e.sim.Stats()
	return st.Requests["/pl/api/account/fields"] + st.Requests["/pl/api/account/groups"]
}

func TestPreflightCatchesTyposAndCaches(t *testing.T) {
	t.Parallel()
	e := newPreflightEnv(t, gcsim.Config{}, preflightMapping)
	ctx := t.Context()
	rep, err := e.preflight(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Calls != 2 || e.accountCalls() != 2 || len(rep.Skipped) != 0 {
		t.Fatalf("calls %d, simulator saw %d, skipped %v", rep.Calls, e.accountCalls(), rep.Skipped)
	}
	if !rep.Failed() || len(rep.UnknownFields) != 1 || rep.UnknownFields[0].Suggestion != "Telegram" {
		t.Fatalf("unknown fields %+v", rep.UnknownFields)
	}
	var got []string
	for _, g := range rep.NewGroups {
		got = append(got, fmt.Sprintf("%s:%d>%s", g.Name, g.Rows, g.Suggestion))
	}
	if want := "Вебинар 12.03:1>,Тренинг SММ:1>Тренинг SMM"; strings.Join(got, ",") != want {
		t.Errorf("new groups %q, want %q (the rejected row's group must not count)", strings.Join(got, ","), want)
	}
	if rep.Rows != 4 || rep.GroupsChecked != 4 || rep.FieldsChecked != 1 || rep.ScanCached {
		t.Errorf("rows %d, groups %d, fields %d, scan cached %v", rep.Rows, rep.GroupsChecked, rep.FieldsChecked, rep.ScanCached)
	}
	var out bytes.Buffer
	rep.Write(&out)
	for _, want := range []string{
		`error: user.addfields.Telegramm: нет поля "Telegramm" у пользователей; может быть "Telegram"?`,
		`no user custom field "Telegramm" in the account; did you mean "Telegram"?`,
		`"Тренинг SММ" (1 row): может быть "Тренинг SMM"? / did you mean "Тренинг SMM"?`,
		`"Вебинар 12.03" (1 row)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// Within the cache's lifetime: no call at all, and the file is not read again.
	e.clk.Add(9 * time.Minute)
	again, err := e.preflight(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Calls != 0 || e.accountCalls() != 2 || again.CachedAt.IsZero() || !again.ScanCached {
		t.Fatalf("cached run: calls %d, simulator saw %d, cached at %v, scan cached %v", again.Calls, e.accountCalls(), again.CachedAt, again.ScanCached)
	}
	if len(again.UnknownFields) != 1 || len(again.NewGroups) != 2 {
		t.Errorf("cached run found %+v, %+v", again.UnknownFields, again.NewGroups)
	}
	// Past it: both lists are fetched again.
	e.clk.Add(2 * time.Minute)
	if rep, err := e.preflight(ctx, nil); err != nil || rep.Calls != 2 || e.accountCalls() != 4 {
		t.Fatalf("after the TTL: %v, calls %d, simulator saw %d", err, rep.Calls, e.accountCalls())
	}
	// A changed file is read again.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(e.input, later, later); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.preflight(ctx, nil); err != nil || rep.ScanCached || rep.Calls != 0 {
		t.Fatalf("changed file: %v, scan cached %v, calls %d", err, rep.ScanCached, rep.Calls)
	}
	// Allowing the new groups drops the cached group list (the import is about to create them).
	if _, err := e.preflight(ctx, func(o *PreflightOptions) { o.AllowNewGroups = true }); err != nil {
		t.Fatal(err)
	}
	rep, err = e.preflight(ctx, nil)
	if err != nil || rep.Calls != 1 || e.sim.Stats().Requests["/pl/api/account/groups"] != 3 {
		t.Fatalf("after allowing new groups: %v, calls %d", err, rep.Calls)
	}
}

func TestPreflightBudget(t *testing.T) {
	t.Parallel()
	t.Run("too low to afford the calls", func(t *testing.T) {
		t.Parallel()
		e := newPreflightEnv(t, gcsim.Config{}, preflightMapping)
		b := e.budget()
		// Limit 20 with 5 reserved: after 14 calls 6 are left, one short of the reserve plus 2.
		for range 14 {
			if err := b.Spend(t.Context(), getcourse.BudgetCall{Method: "GET", Path: "/pl/api/account/users"}); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := e.preflight(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "6 of 20 calls left") || rep.SkipErr != nil ||
			rep.Checked() || rep.Failed() || e.accountCalls() != 0 {
			t.Fatalf("skipped %q, err %v, checked %v, simulator saw %d calls", rep.Skipped, rep.SkipErr, rep.Checked(), e.accountCalls())
		}
		var out bytes.Buffer
		rep.Write(&out)
		if !strings.Contains(out.String(), "note: online check skipped") {
			t.Errorf("no note:\n%s", out.String())
		}
		if left, _ := b.Remaining(); left != 6 {
			t.Errorf("the skipped check spent budget: %d left", left)
		}
	})
	t.Run("spent on the service", func(t *testing.T) {
		t.Parallel()
		// The account's real budget allows one more call: another integration spent the rest.
		e := newPreflightEnv(t, gcsim.Config{ExportBudget: 1}, preflightMapping)
		rep, err := e.preflight(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if getcourse.KindOf(rep.SkipErr) != getcourse.KindBudget || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "groups") {
			t.Fatalf("skip %v, %q", rep.SkipErr, rep.Skipped)
		}
		if !rep.Failed() || rep.GroupsChecked != 0 {
			t.Errorf("the fields must still be checked, the groups not: %+v", rep)
		}
		if left, _ := e.budget().Remaining(); left != 0 {
			t.Errorf("a 903 must mark the budget spent; %d left", left)
		}
	})
}

func TestPreflightScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mapping   string
		max       int
		calls     int
		capped    bool
		newGroups int
	}{
		{"nothing to check costs nothing", "target: users\nfields:\n  user.email: E-mail\n", 0, 0, false, 0},
		{"fields only", "target: users\nfields:\n  user.email: E-mail\n  user.addfields.Telegram: Telegram\n", 0, 1, false, 0},
		{"groups only, with a constant", "target: users\nfields:\n  user.email: E-mail\n  user.group_name: {value: [Марафон, Новая]}\n", 0, 1, false, 1},
		{"too many distinct groups", "target: users\nfields:\n  user.email: E-mail\n  user.group_name: {column: Группы, split: \",\"}\n", 2, 1, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newPreflightEnv(t, gcsim.Config{}, tt.mapping)
			rep, err := e.preflight(t.Context(), func(o *PreflightOptions) { o.MaxGroupNames = tt.max })
			if err != nil {
				t.Fatal(err)
			}
			if rep.Calls != tt.calls || e.accountCalls() != tt.calls || rep.GroupsCapped != tt.capped || len(rep.NewGroups) != tt.newGroups {
				t.Fatalf("calls %d (simulator %d), capped %v, new groups %+v", rep.Calls, e.accountCalls(), rep.GroupsCapped, rep.NewGroups)
			}
			if rep.Failed() {
				t.Errorf("unexpected unknown fields %+v", rep.UnknownFields)
			}
			if tt.capped {
				if rep.GroupsChecked != tt.max {
					t.Errorf("%d groups checked, want the cap %d", rep.GroupsChecked, tt.max)
				}
				var out bytes.Buffer
				rep.Write(&out)
				if !strings.Contains(out.String(), "more than 2 distinct groups") {
					t.Errorf("no note about the cap:\n%s", out.String())
				}
			}
		})
	}
}

func TestPreflightStopsOnContext(t *testing.T) {
	t.Parallel()
	e := newPreflightEnv(t, gcsim.Config{}, preflightMapping)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.preflight(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// BenchmarkPreflightScan is the preflight's cost on a file it has not seen: reading and mapping
// every row to collect the distinct group names (the account lists come from the cache). The
// cached case, a rerun of the same file, is a stat and a few state-file reads.
func BenchmarkPreflightScan(b *testing.B) {
	const n = 40000
	e := &preflightEnv{testEnv: newEnv(b, gcsim.Config{}), clk: &clock{now: time.Now()}}
	e.input = e.file("contacts.csv", func(w io.Writer) error { return gen.Contacts(w, n, 1) })
	e.m = e.mapping("contacts.yaml", gen.ContactsMapping())
	if _, err := e.preflight(b.Context(), nil); err != nil { // fills the account cache
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		later := time.Now().Add(time.Duration(i+1) * time.Second)
		if err := os.Chtimes(e.input, later, later); err != nil { // a new key: no cached scan
			b.Fatal(err)
		}
		rep, err := e.preflight(b.Context(), nil)
		if err != nil || rep.ScanCached || rep.Calls != 0 || rep.Rows == 0 {
			b.Fatalf("%v, %+v", err, rep)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestScanGroupNamesInFileOrder checks the parallel group scan against a row-by-row one on a
// file with rejected rows among the valid ones: the same valid count, and the same names in
// the same order (the cap on distinct names depends on it).
func TestScanGroupNamesInFileOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dir + "/contacts.csv"
	var buf bytes.Buffer
	if err := gen.Contacts(&buf, 5*scanBatchRows+77, 3, gen.Invalid(0.1)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := mappings.Parse("contacts.yaml", []byte(gen.ContactsMapping()))
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*Source, *mappings.Compiled) {
		src, err := OpenSource(path, SourceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		c, err := m.Compile(src.Header())
		if err != nil {
			t.Fatal(err)
		}
		return src, c
	}

	src, c := open()
	var want []string
	wantValid := 0
	for {
		row, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.Err != nil {
			continue
		}
		if names, err := c.Groups(row.Cells, nil); err == nil {
			wantValid++
			want = append(want, names...)
		}
	}
	if wantValid == 0 || wantValid == 5*scanBatchRows+77 {
		t.Fatalf("%d valid rows: the file should mix valid and rejected rows", wantValid)
	}

	src, c = open()
	var got []string
	valid, err := scanGroupNames(t.Context(), src, c, func(names []string) { got = append(got, names...) })
	if err != nil {
		t.Fatal(err)
	}
	if valid != wantValid || !slices.Equal(got, want) {
		t.Fatalf("parallel scan: %d valid rows, %d names; row by row: %d, %d (or the order differs)", valid, len(got), wantValid, len(want))
	}

	src, c = open()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := scanGroupNames(ctx, src, c, func([]string) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan: %v, want context.Canceled", err)
	}
}
