package mappings

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Mapping {
	t.Helper()
	m, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // each must appear, in order, as one LoadError's text
	}{
		{"unknown path", "target: users\nfields:\n  user.email: E-mail\n  user.frist_name: Имя\n",
			[]string{`m.yaml:4:3: unknown target path "user.frist_name" (did you mean user.first_name?)`}},
		{"unknown section", "target: users\nfields:\n  usr.email: E-mail\n",
			[]string{`m.yaml:3:3: unknown target path "usr.email" (did you mean user.email?)`}},
		{"far-off path", "target: users\nfields:\n  user.email: E-mail\n  foo: bar\n",
			[]string{`m.yaml:4:3: unknown target path "foo" (paths start with`}},
		{"custom field without name", "target: users\nfields:\n  user.email: E-mail\n  user.addfields: Telegram\n",
			[]string{`m.yaml:4:3: "user.addfields" needs the custom field's name after it (e.g. user.addfields.Telegram)`}},
		{"path of another target", "target: users\nfields:\n  user.email: E-mail\n  deal.deal_cost: Сумма\n",
			[]string{`m.yaml:4:3: target users does not send deal.deal_cost (use target: deals)`}},
		{"user.id outside groups", "target: users\nfields:\n  user.email: E-mail\n  user.id: id\n",
			[]string{`m.yaml:4:3: target users does not send user.id (user.id is only for target groups`}},
		{"groups takes two paths", "target: groups\nfields:\n  user.id: id\n  user.group_name: Группы\n  user.email: E-mail\n",
			[]string{`m.yaml:5:3: target groups does not send user.email (target groups takes only user.id and user.group_name)`}},
		{"messages only message", "target: messages\nfields:\n  message.email: E-mail\n  user.first_name: Имя\n",
			[]string{`m.yaml:4:3: target messages does not send user.first_name (use target: users)`}},
		{"unknown target", "target: user\nfields:\n  user.email: E-mail\n",
			[]string{`m.yaml:1:9: unknown target "user" (users, deals, messages or groups) (did you mean users?)`}},
		{"missing target and fields", "csv: {delimiter: \",\"}\n",
			[]string{`m.yaml:1:1: target is missing`, `m.yaml:1:1: fields is missing`}},
		{"unknown top key", "target: users\nfeilds: {}\nfields:\n  user.email: E-mail\n",
			[]string{`m.yaml:2:1: unknown key "feilds" (the keys are target, csv, xlsx, fields, require_one_of) (did you mean fields?)`}},
		{"unknown option", "target: users\nfields:\n  user.email: {colum: E-mail}\n",
			[]string{`m.yaml:3:16: unknown option "colum" for user.email (did you mean column?)`}},
		{"two sources", "target: users\nfields:\n  user.email: {column: E-mail, value: a@b.ru}\n",
			[]string{`m.yaml:3:15: user.email has 2 sources (column, value) (give exactly one of column, value, template)`}},
		{"no source", "target: users\nfields:\n  user.email: {transform: [email]}\n",
			[]string{`m.yaml:3:15: user.email has no source (give one of column, value or template)`}},
		{"empty shorthand", "target: users\nfields:\n  user.email:\n",
			[]string{`m.yaml:3:14: user.email has no source`}},
		{"unknown transform", "target: users\nfields:\n  user.phone: {column: Телефон, transform: [trim, phnoe]}\n",
			[]string{`m.yaml:3:51: unknown transform "phnoe" (did you mean phone?)`}},
		{"unknown transform far", "target: users\nfields:\n  user.phone: {column: Телефон, transform: [normalize]}\n",
			[]string{`unknown transform "normalize" (transforms: trim, lower, upper, email, phone, money, int, bool, date)`}},
		{"bad date layout", "target: users\nfields:\n  user.email: E-mail\n  user.birthday: {column: ДР, transform: [{date: dd.mm.yyyy}]}\n",
			[]string{`m.yaml:4:50: unknown token in date layout "dd.mm.yyyy" (tokens are YYYY MM DD HH mm ss`}},
		{"date without layout", "target: users\nfields:\n  user.email: E-mail\n  user.birthday: {column: ДР, transform: [date]}\n",
			[]string{`m.yaml:4:43: date needs a layout (transform: [{date: DD.MM.YYYY}])`}},
		{"enum map target", "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_status: {column: Статус, map: {Оплачен: paid}}\n",
			[]string{`m.yaml:4:53: map: "Оплачен" → "paid" is not a known status`, `(did you mean payed?)`}},
		{"enum constant", "target: deals\nfields:\n  user.email: E-mail\n  deal.payment_status: {value: acepted}\n",
			[]string{`m.yaml:4:32: value "acepted" is not a known payment status`, `(did you mean accepted?)`}},
		{"enum default", "target: deals\nfields:\n  user.email: E-mail\n  deal.payment_status: {column: Оплата, default: done}\n",
			[]string{`m.yaml:4:50: default "done" is not a known payment status`}},
		{"map keys collide", "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_status: {column: С, map: {Отменён: cancelled, отменен: cancelled}}\n",
			[]string{`map key "отменен" matches the same cells as "Отменён"`}},
		{"map target fails transform", "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_cost: {column: С, transform: [money], map: {бесплатно: free}}\n",
			[]string{`map: "бесплатно" → "free" is not an amount of money`}},
		{"split off groups", "target: users\nfields:\n  user.email: {column: E-mail, split: \",\"}\n",
			[]string{`m.yaml:3:32: split makes a list; only user.group_name takes a list`}},
		{"generate elsewhere", "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_comment: {generate: row-hash}\n",
			[]string{`generate: row-hash is only for deal.deal_number`}},
		{"generate unknown", "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_number: {generate: uuid}\n",
			[]string{`generate knows only row-hash`}},
		{"required not bool", "target: users\nfields:\n  user.email: {column: E-mail, required: maybe}\n",
			[]string{`m.yaml:3:42: required must be true or false`}},
		{"duplicate field", "target: users\nfields:\n  user.email: E-mail\n  user.email: Почта\n",
			[]string{`m.yaml:4:3: field "user.email" is given twice (first at line 3)`}},
		{"template unclosed", "target: users\nfields:\n  user.email: E-mail\n  user.last_name: {template: \"{Фамилия {Отчество}\"}\n",
			[]string{`template "{Фамилия {Отчество}" has a { without its }`}},
		{"template brace", "target: users\nfields:\n  user.email: E-mail\n  user.last_name: {template: \"{Фамилия\"}\n",
			[]string{`has a { without its }`}},
		{"template no column", "target: users\nfields:\n  user.email: E-mail\n  user.last_name: {template: \"Иванов\"}\n",
			[]string{`template "Иванов" names no column`}},
		{"require_one_of unmapped", "target: users\nfields:\n  user.email: E-mail\nrequire_one_of: [user.email, user.phone]\n",
			[]string{`m.yaml:4:30: require_one_of names user.phone, which fields: does not map`}},
		{"require_one_of typo", "target: users\nfields:\n  user.email: E-mail\nrequire_one_of: [user.emial]\n",
			[]string{`require_one_of names unknown path "user.emial" (did you mean user.email?)`}},
		{"users need email or phone", "target: users\nfields:\n  user.first_name: Имя\n",
			[]string{`m.yaml:3:3: neither user.email nor user.phone is mapped`}},
		{"groups need both", "target: groups\nfields:\n  user.id: id\n",
			[]string{`target groups needs user.group_name`}},
		{"messages need email", "target: messages\nfields:\n  message.params.name: Имя\n",
			[]string{`message.email is not mapped`}},
		{"csv options", "target: users\ncsv:\n  delimiter: \"#\"\n  encoding: koi8-r\n  quote: \"'\"\nfields:\n  user.email: E-mail\n",
			[]string{`m.yaml:3:14: unknown delimiter "#"`, `m.yaml:4:13: unknown encoding "koi8-r"`, `m.yaml:5:3: unknown csv option "quote"`}},
		{"list constant off groups", "target: users\nfields:\n  user.email: E-mail\n  user.city: {value: [a, b]}\n",
			[]string{`a list is only for user.group_name`}},
		{"empty constant", "target: users\nfields:\n  user.email: E-mail\n  user.city: {value: \"\"}\n",
			[]string{`value is empty`}},
		{"default with constant", "target: users\nfields:\n  user.email: E-mail\n  user.city: {value: Москва, default: Тверь}\n",
			[]string{`a constant (value) needs no default or required`}},
		{"not yaml", "target: users\nfields:\n  user.email: E-mail\n  user.phone: [\n",
			[]string{`m.yaml:4:1: not valid YAML:`}},
		{"not a mapping", "- a\n- b\n", []string{`m.yaml:1:1: a mapping file is a YAML mapping`}},
		{"empty file", "", []string{`m.yaml: a mapping file is a YAML mapping`}},
		{"fields empty", "target: users\nfields:\n", []string{`m.yaml:2:8: fields is empty`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("m.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("loaded %v, want errors", m)
			}
			var les LoadErrors
			if !errors.As(err, &les) {
				t.Fatalf("%T is not LoadErrors", err)
			}
			var le *LoadError
			if !errors.As(err, &le) || le.File != "m.yaml" {
				t.Fatalf("errors.As(*LoadError) failed: %v", err)
			}
			text := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("error\n%s\nlacks\n%s", text, w)
				}
			}
		})
	}
}

// All problems of a file come back together, in file order.
func TestLoadErrorsAllAtOnce(t *testing.T) {
	src := "target: deals\nfields:\n  user.emial: E-mail\n  user.phone: {column: Телефон, transform: [phnoe]}\n  deal.deal_status: {column: С, map: {Оплачен: paid}}\n"
	_, err := Parse("m.yaml", []byte(src))
	var les LoadErrors
	if !errors.As(err, &les) {
		t.Fatal(err)
	}
	if len(les) != 3 {
		t.Fatalf("%d errors, want 3:\n%v", len(les), err)
	}
	for i := 1; i < len(les); i++ {
		if les[i].Line < les[i-1].Line {
			t.Errorf("errors out of order: %v", err)
		}
	}
	if les[0].Hint != "did you mean user.email?" {
		t.Errorf("hint %q", les[0].Hint)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.yaml")
	if err := os.WriteFile(p, []byte("target: users\nfields:\n  user.email: E-mail\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil || m.File != p || m.Target != TargetUsers {
		t.Fatalf("Load: %v %+v", err, m)
	}
	if m.CSV.Delimiter != "auto" || m.CSV.Encoding != "auto" {
		t.Errorf("csv defaults %+v", m.CSV)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	var le *LoadError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "cannot read the mapping file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestCSVOptions(t *testing.T) {
	for _, tc := range []struct{ in, delim, enc string }{
		{`{delimiter: ";", encoding: windows-1251}`, ";", "windows-1251"},
		{`{delimiter: "\t", encoding: utf8}`, "\t", "utf-8"},
		{`{delimiter: tab, encoding: cp1251}`, "\t", "windows-1251"},
		{`{delimiter: "|", encoding: UTF-8}`, "|", "utf-8"},
		{`{}`, "auto", "auto"},
	} {
		m := mustParse(t, "target: users\ncsv: "+tc.in+"\nfields:\n  user.email: E-mail\n")
		if m.CSV.Delimiter != tc.delim || m.CSV.Encoding != tc.enc {
			t.Errorf("%s → %+v", tc.in, m.CSV)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	m := mustParse(t, `target: users
fields:
  user.email: {column: E-mail, transform: [email]}
  user.first_name: Имя
  user.last_name: {template: "{Фамилия} {Отчество}"}
  user.group_name:
    column: Группы
    joined_at: {column: Дата вступления}
`)
	_, err := m.Compile([]string{"Email", "Имя", "Имя", "Фамилия", "Группы"})
	var les LoadErrors
	if !errors.As(err, &les) {
		t.Fatalf("%v", err)
	}
	text := err.Error()
	for _, w := range []string{
		`m.yaml:3:24: column "E-mail" is not in the CSV header (did you mean "Email"?)`,
		`m.yaml:4:20: column "Имя" appears 2 times in the CSV header (columns 2, 3) (rename the copies`,
		`m.yaml:5:30: column "Отчество" is not in the CSV header`,
		`m.yaml:8:25: column "Дата вступления" is not in the CSV header`,
	} {
		if !strings.Contains(text, w) {
			t.Errorf("error\n%s\nlacks\n%s", text, w)
		}
	}
	if len(les) != 4 {
		t.Errorf("%d errors, want 4", len(les))
	}
	// Case and surrounding spaces in the header do not matter when the match is unique.
	if _, err := m.Compile([]string{"\ufeffe-mail ", "Имя", "Фамилия", "Отчество", "Группы", "Дата вступления"}); err != nil {
		t.Errorf("loose header match: %v", err)
	}
	// A duplicate the mapping does not read is fine.
	if _, err := m.Compile([]string{"E-mail", "Имя", "Фамилия", "Отчество", "Группы", "Дата вступления", "x", "x"}); err != nil {
		t.Errorf("unread duplicate: %v", err)
	}
}

func TestMappingFacts(t *testing.T) {
	deals := mustParse(t, `target: deals
fields:
  user.email: E-mail
  user.group_name: {value: [Клиенты, "VIP Студенты"]}
  user.addfields.Telegram: Telegram
  user.addfields.Город доставки: {template: "{Город}, {Улица}"}
  deal.addfields.Источник заказа: {value: сайт}
  deal.deal_cost: {column: Сумма, transform: [money]}
`)
	if deals.Idempotent() {
		t.Error("deals without deal_number are not idempotent")
	}
	if w := strings.Join(deals.Warnings(), "\n"); !strings.Contains(w, "deal.deal_number: {generate: row-hash}") {
		t.Errorf("warning lacks the fix: %s", w)
	}
	if got := strings.Join(deals.Columns(), "|"); got != "E-mail|Telegram|Город|Улица|Сумма" {
		t.Errorf("Columns %s", got)
	}
	u, d := deals.AddfieldNames()
	if strings.Join(u, "|") != "Telegram|Город доставки" || strings.Join(d, "|") != "Источник заказа" {
		t.Errorf("AddfieldNames %v %v", u, d)
	}
	if g := deals.GroupConstants(); strings.Join(g, "|") != "Клиенты|VIP Студенты" {
		t.Errorf("GroupConstants %v", g)
	}
	numbered := mustParse(t, "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_number: Номер\n")
	if !numbered.Idempotent() || len(numbered.Warnings()) != 0 {
		t.Errorf("numbered deals: %v %v", numbered.Idempotent(), numbered.Warnings())
	}
	hashed := mustParse(t, "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_number: {generate: row-hash}\n")
	if !hashed.Idempotent() {
		t.Error("row-hash deals are idempotent")
	}
	msgs := mustParse(t, "target: messages\nfields:\n  message.email: E-mail\n")
	if msgs.Idempotent() || len(msgs.Warnings()) != 2 {
		t.Errorf("messages: %v %v", msgs.Idempotent(), msgs.Warnings())
	}
	users := mustParse(t, "target: users\nfields:\n  user.email: E-mail\n")
	if !users.Idempotent() || len(users.Warnings()) != 0 {
		t.Errorf("users: %v %v", users.Idempotent(), users.Warnings())
	}
}

func TestHash(t *testing.T) {
	a := mustParse(t, "target: users\nfields:\n  user.email: {column: E-mail, transform: [email]}\n  user.city: Город\n")
	// Same mapping: other order, comments, flow vs block style, csv options.
	b := mustParse(t, "# comment\ntarget: users\ncsv: {delimiter: \";\"}\nfields:\n  user.city: Город   # city\n  user.email:\n    transform: [email]\n    column: E-mail\n")
	c := mustParse(t, "target: users\nfields:\n  user.email: {column: E-mail, transform: [email, lower]}\n  user.city: Город\n")
	if len(a.Hash()) != 64 {
		t.Fatalf("hash %q", a.Hash())
	}
	if a.Hash() != b.Hash() {
		t.Error("hash changes with layout")
	}
	if a.Hash() == c.Hash() {
		t.Error("hash ignores a transform")
	}
	d := mustParse(t, "target: users\nfields:\n  user.email: {column: E-mail, transform: [email]}\n  user.city: {value: Город}\n")
	if a.Hash() == d.Hash() {
		t.Error("hash does not tell a column from a constant")
	}
}
