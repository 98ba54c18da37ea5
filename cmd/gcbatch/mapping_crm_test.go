package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
)

var updateCRM = flag.Bool("update-crm", false, "rewrite the expected params under testdata/crm-init/")

// crmCase is one export of the corpus under testdata/crm-init/, written as its CRM writes it:
// NAME.csv, the hand-written NAME.yaml, and the params validate --show must give under the
// mapping `mapping init` writes (NAME.init.jsonl) and under the hand-written one
// (NAME.hand.jsonl).
type crmCase struct {
	name string
	// initCode and handCode are validate's exit codes under each mapping.
	initCode, handCode int
	// initWants are lines the mapping init writes must hold.
	initWants []string
	// contact lists the columns holding the row's own e-mails and phones: every row with one
	// of them filled (readably) must be valid under the init mapping.
	emails, phones []string
}

var crmCorpus = []crmCase{
	{name: "amocrm-contacts",
		initWants: []string{"column: [Рабочий email, Личный email, Другой email]",
			"column: [Рабочий телефон, Мобильный телефон, Домашний телефон]", "column: [Имя, Полное имя контакта]",
			"require_one_of: [user.email, user.phone]"},
		emails: []string{"Рабочий email", "Личный email", "Другой email"},
		phones: []string{"Рабочий телефон", "Мобильный телефон", "Домашний телефон"}},
	{name: "bitrix24-contacts",
		initWants: []string{"column: [Рабочий E-mail, Частный E-mail, E-mail для рассылок]", "column: [Мобильный телефон, Рабочий телефон]",
			"transform: [{date: DD.MM.YYYY}]", "user.middle_name: Отчество"},
		emails: []string{"Рабочий E-mail", "Частный E-mail", "E-mail для рассылок"},
		phones: []string{"Рабочий телефон", "Мобильный телефон"}},
	{name: "getcourse-users",
		initWants: []string{"column: Email\n", "transform: [{date: YYYY-MM-DD}]", "session.utm_source: utm_source"},
		emails:    []string{"Email"}, phones: []string{"Телефон"}},
	{name: "tilda-leads", initCode: 1, handCode: 1,
		initWants: []string{"user.first_name: Name", "column: Email\n", "column: Phone\n"},
		emails:    []string{"Email"}, phones: []string{"Phone"}},
	{name: "google-forms",
		initWants: []string{"column: Адрес электронной почты", "column: Номер телефона", "user.first_name: Ваше имя"},
		emails:    []string{"Адрес электронной почты"}, phones: []string{"Номер телефона"}},
	{name: "1c-counterparties",
		initWants: []string{"column: Эл. почта", "column: [Контактное лицо, Контрагент]"},
		emails:    []string{"Эл. почта"}, phones: []string{"Телефон"}},
}

func TestMappingInitCRMExports(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "crm-init"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range crmCorpus {
		t.Run(tc.name, func(t *testing.T) {
			e := newImportEnv(t, gcsim.Config{})
			ctx := t.Context()
			csvPath := filepath.Join(dir, tc.name+".csv")
			initPath := e.path("init.yaml")
			code, _, stderr := e.gcbatch(ctx, "mapping", "init", "--target", "users", "-o", initPath, csvPath)
			if code != 0 || strings.Contains(stderr, "edit the mapping before use") {
				t.Fatalf("mapping init: exit %d\n%s", code, stderr)
			}
			initText, err := os.ReadFile(initPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.initWants {
				if !bytes.Contains(initText, []byte(w)) {
					t.Errorf("the init mapping lacks %q:\n%s", w, initText)
				}
			}
			initLines := showParams(t, e, ctx, initPath, csvPath, tc.initCode, filepath.Join(dir, tc.name+".init.jsonl"))
			showParams(t, e, ctx, filepath.Join(dir, tc.name+".yaml"), csvPath, tc.handCode, filepath.Join(dir, tc.name+".hand.jsonl"))
			checkOwnContacts(t, csvPath, initLines, tc)
		})
	}
}

// showParams runs validate --show over the whole file and compares its JSON lines with the
// expected file (rewritten with -update-crm). It returns the params by line.
func showParams(t *testing.T, e *importEnv, ctx context.Context, mapping, csvPath string, wantCode int, golden string) map[int]json.RawMessage {
	t.Helper()
	code, stdout, stderr := e.gcbatch(ctx, "validate", "--mapping", mapping, "--show", "1000", csvPath)
	if code != wantCode {
		t.Fatalf("validate --mapping %s: exit %d, want %d\n%s", filepath.Base(mapping), code, wantCode, stderr)
	}
	if *updateCRM {
		if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-crm to write it, then read it)", err)
	}
	if stdout != string(want) {
		t.Errorf("validate --show under %s:\n%s\nwant (%s):\n%s", filepath.Base(mapping), stdout, filepath.Base(golden), want)
	}
	byLine := map[int]json.RawMessage{}
	for l := range strings.Lines(stdout) {
		var rec struct {
			Line   int             `json:"line"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		byLine[rec.Line] = rec.Params
	}
	return byLine
}

// checkOwnContacts checks the promise of mapping init on a CRM export: every row with an
// e-mail or a phone is valid, and sends one of that row's own e-mails (and phones).
func checkOwnContacts(t *testing.T, csvPath string, params map[int]json.RawMessage, tc crmCase) {
	t.Helper()
	data, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	if bytes.Count(data[:bytes.IndexByte(data, '\n')], []byte(";")) > 0 {
		r.Comma = ';'
	}
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int {
		i := slices.Index(recs[0], name)
		if i < 0 {
			t.Fatalf("%s has no column %q", csvPath, name)
		}
		return i
	}
	for n, rec := range recs[1:] {
		line := n + 2 // the corpus has no multi-line cells
		var emails, phones []string
		for _, c := range tc.emails {
			for _, v := range strings.FieldsFunc(rec[col(c)], func(r rune) bool { return r == ',' || r == ';' }) {
				if v = strings.ToLower(strings.TrimSpace(v)); strings.Contains(v, "@") && !strings.HasSuffix(v, "@") {
					emails = append(emails, v)
				}
			}
		}
		for _, c := range tc.phones {
			if v := rec[col(c)]; strings.ContainsAny(v, "0123456789") {
				phones = append(phones, v)
			}
		}
		p, ok := params[line]
		if !ok {
			if len(emails)+len(phones) > 0 {
				t.Errorf("line %d has an e-mail or a phone (%q, %q) but is rejected", line, emails, phones)
			}
			continue
		}
		var got struct {
			User struct{ Email, Phone string } `json:"user"`
		}
		if err := json.Unmarshal(p, &got); err != nil {
			t.Fatal(err)
		}
		if len(emails) > 0 && !slices.Contains(emails, got.User.Email) {
			t.Errorf("line %d sends e-mail %q, not one of its own %q", line, got.User.Email, emails)
		}
		if got.User.Email == "" && got.User.Phone == "" {
			t.Errorf("line %d is valid without an e-mail or a phone: %s", line, p)
		}
	}
}

// An import under the init mapping of the amoCRM export: the row whose phone cannot be read is
// sent without it, and results.csv says so beside its ok.
func TestMappingInitCRMImportWarns(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{})
	ctx := t.Context()
	csvPath, err := filepath.Abs(filepath.Join("testdata", "crm-init", "amocrm-contacts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	initPath := e.path("init.yaml")
	if code, _, stderr := e.gcbatch(ctx, "mapping", "init", "--target", "users", "-o", initPath, csvPath); code != 0 {
		t.Fatalf("mapping init: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := e.gcbatch(ctx, "import", "--mapping", initPath, csvPath)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	f, err := os.Open(filepath.Join(e.lastRun().ReportsDir, importer.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	warned := 0
	for _, r := range recs[1:] {
		if r[1] != "ok" {
			t.Errorf("line %s: %s %s", r[0], r[1], r[5])
		}
		if r[5] != "" {
			warned++
			want := `warning: Рабочий телефон: "звонить после 18" is not a phone number`
			if r[0] != "7" || !strings.HasPrefix(r[5], want) || !strings.HasSuffix(r[5], "left out (on_error: skip)") {
				t.Errorf("line %s: error column %q, want %q... on line 7", r[0], r[5], want)
			}
		}
	}
	if warned != 1 || len(recs) != 12 {
		t.Errorf("%d rows, %d with a warning; want 11 and 1", len(recs)-1, warned)
	}
	assertNoKey(t, e.dir, e.key, stdout, stderr)
}
