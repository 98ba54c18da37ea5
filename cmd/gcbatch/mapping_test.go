package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
	"github.com/gcbatch/gcbatch/mappings"
)

// runMappingCLI runs `gcbatch mapping ...` with buffers for the streams.
func runMappingCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""),
		Getenv: func(string) string { return "" }, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	code = execute(t.Context(), g, append([]string{"mapping"}, args...))
	return code, out.String(), errb.String()
}

func TestMappingInitSamples(t *testing.T) {
	for _, tc := range []struct {
		sample, target string
		want           []string
	}{
		{"contacts", "users", []string{"target: users", "column: Email", "user.group_name:"}},
		{"excel-contacts", "users", []string{"column: Эл. почта", "user.middle_name: Отчество", "{date: DD.MM.YYYY}"}},
		{"orders", "deals", []string{"deal.deal_number: Номер заказа", "Оплачен: payed", "transform: [money]"}},
		{"mailing", "messages", []string{"message.email:", "# message.mailing_id:"}},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			csvPath := filepath.Join("..", "..", "samples", tc.sample+".csv")
			code, out, stderr := runMappingCLI(t, "init", "--target", tc.target, csvPath)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the guess lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(stderr, "edit the mapping before use") {
				t.Errorf("the guess does not load or compile: %s", stderr)
			}
			// The guess loads and compiles against the header as the importer reads it.
			m, err := mappings.Parse("guess.yaml", []byte(out))
			if err != nil {
				t.Fatal(err)
			}
			src, err := importer.OpenSource(csvPath, importer.SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if _, err := m.Compile(src.Header()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMappingInitOutputFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.yaml")
	csvPath := filepath.Join("..", "..", "samples", "contacts.csv")
	code, stdout, stderr := runMappingCLI(t, "init", "--target", "users", "-o", out, csvPath)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "wrote "+out) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := mappings.Load(out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runMappingCLI(t, "init", "--target", "users", "-o", out, csvPath)
	if code != 2 || !strings.Contains(stderr, "--force") {
		t.Fatalf("overwrote without --force: exit %d %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "mine" {
		t.Fatal("the existing file was changed")
	}
	if code, _, stderr = runMappingCLI(t, "init", "--target", "users", "--force", "-o", out, csvPath); code != 0 {
		t.Fatalf("--force: exit %d %s", code, stderr)
	}
	if _, err := mappings.Load(out); err != nil {
		t.Fatal(err)
	}
}

func TestMappingInitUsageErrors(t *testing.T) {
	csvPath := filepath.Join("..", "..", "samples", "contacts.csv")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"init", csvPath}, "--target is required"},
		{"bad target", []string{"init", "--target", "orders", csvPath}, "--target must be"},
		{"no file", []string{"init", "--target", "users"}, "accepts 1 arg"},
		{"missing file", []string{"init", "--target", "users", filepath.Join(t.TempDir(), "none.csv")}, "none.csv"},
		{"no subcommand", nil, "needs a subcommand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMappingCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// The usage line names every target init takes, groups included.
func TestMappingInitUsageListsTargets(t *testing.T) {
	code, stdout, stderr := runMappingCLI(t, "init", "--help")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout+stderr, "init --target users|deals|messages|groups") {
		t.Errorf("usage lacks groups:\n%s", stdout+stderr)
	}
	code, _, stderr = runMappingCLI(t, "init", filepath.Join("..", "..", "samples", "contacts.csv"))
	if code != 2 || !strings.Contains(stderr, "users, deals, messages or groups") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// validate reports every problem of a mapping in one run, each at its line: typos found when
// the file loads and columns the header lacks, with no follow-on error of one caused by another.
func TestValidateReportsEveryMappingProblem(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	csvPath := e.write("contacts.csv", "Email,Телефон,Имя,Фамилия,Город,ДР\r\nanna@mail.ru,89001234567,Анна,Смирнова,Москва,14.03.1991\r\n")
	mapping := e.write("m.yaml", `target: users
fields:
  user.email: {column: Email, transform: [trim, lowr, email]}
  user.phone: {column: Телфон, transfrom: [phone]}
  user.frist_name: Имя
  user.last_name: {colum: Фамилия}
  user.city: Горд
  user.birthday: {column: ДР, transform: [{dat: DD.MM.YYYY}]}
require_one_of: [user.email, user.phone]
`)
	code, stdout, stderr := e.gcbatch(t.Context(), "validate", "--mapping", mapping, csvPath)
	if code != 2 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	want := []string{
		`m.yaml:3:49: unknown transform "lowr" (did you mean lower?)`,
		`m.yaml:4:24: column "Телфон" is not in the CSV header (did you mean "Телефон"?)`,
		`m.yaml:4:32: unknown option "transfrom" for user.phone (did you mean transform?)`,
		`m.yaml:5:3: unknown target path "user.frist_name" (did you mean user.first_name?)`,
		`m.yaml:6:20: unknown option "colum" for user.last_name (did you mean column?)`,
		`m.yaml:7:14: column "Горд" is not in the CSV header (did you mean "Город"?)`,
		`m.yaml:8:44: unknown transform "dat" (did you mean date?)`,
		"m.yaml: 7 problems; no row was checked",
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if strings.Contains(stderr, "require_one_of") {
		t.Errorf("a follow-on error:\n%s", stderr)
	}
	// import says the same before anything is sent.
	code, _, stderr = e.gcbatch(t.Context(), "import", "--mapping", mapping, csvPath)
	if n := len(e.sim.Stats().Requests); code != 2 || n != 0 {
		t.Errorf("import: exit %d, requests to %d paths", code, n)
	}
	for _, w := range want[:len(want)-1] {
		if !strings.Contains(stderr, w) {
			t.Errorf("import's stderr lacks %q:\n%s", w, stderr)
		}
	}

	// A YAML syntax error is reported at the line that has it.
	bad := e.write("bad.yaml", "target: users\nfields:\n  user.email: {column: Email, transform: [trim, lower\n  user.phone: Телефон\n")
	code, _, stderr = e.gcbatch(t.Context(), "validate", "--mapping", bad, csvPath)
	if code != 2 || !strings.Contains(stderr, "bad.yaml:3:1: not valid YAML") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

// Deals: enumerations the sources disagree on (currency, payment type) are sent with a
// warning, those every source agrees on (status) reject the row, and a new deal without an
// offer, or with a title but no cost, is rejected before anything is sent; a row with a deal
// number from the file may edit a deal that exists and is let through.
func TestValidateDealsEnumsAndMinimum(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	csvPath := e.write("orders.csv", "Номер заказа;E-mail;Товар;Сумма;Валюта;Способ оплаты;Статус\r\n"+
		"A-1;a@b.ru;Курс;1 500;BGN;zpayment;Оплачен\r\n"+
		";b@b.ru;Курс;;RUB;card;new\r\n"+
		"A-3;c@b.ru;;;;;payed\r\n"+
		";d@b.ru;Курс;100;RUB;card;paid\r\n")
	mapping := e.write("m.yaml", `target: deals
fields:
  deal.deal_number: Номер заказа
  user.email: {column: E-mail, transform: [email]}
  deal.product_title: Товар
  deal.deal_cost: {column: Сумма, transform: [money]}
  deal.deal_currency: Валюта
  deal.payment_type: {column: Способ оплаты, map: {крипта: bitcoin}}
  deal.deal_status: {column: Статус, map: {Оплачен: payed}}
`)
	code, stdout, stderr := e.gcbatch(t.Context(), "validate", "--mapping", mapping, "--show", "10", csvPath)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	wantOut := `{"line": 2, "params": {"deal":{"deal_cost":"1500.00","deal_currency":"BGN","deal_number":"A-1","deal_status":"payed","payment_type":"zpayment","product_title":"Курс"},"user":{"email":"a@b.ru"}}}
{"line": 4, "params": {"deal":{"deal_number":"A-3","deal_status":"payed"},"user":{"email":"c@b.ru"}}}
`
	if stdout != wantOut {
		t.Errorf("stdout\n%s\nwant\n%s", stdout, wantOut)
	}
	for _, w := range []string{
		`m.yaml:8:60: deal.payment_type: map: "крипта" → "bitcoin" is not in the service's documented payment type list`,
		`orders.csv:3: deal.deal_cost is empty: a new deal given by offer_code or product_title needs its cost`,
		`orders.csv:5: Статус: "paid" is not a known status`,
		`orders.csv:2: Валюта: "BGN" is not in the service's documented currency list`,
		"4 rows: 2 valid, 2 rejected",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}
