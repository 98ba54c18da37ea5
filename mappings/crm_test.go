package mappings

import (
	"errors"
	"strings"
	"testing"
)

// Rules for files as CRMs write them: several columns for one value, cells that may fail
// without losing the row, enumerations the sources disagree on, the minimum of a new deal.

func TestColumnList(t *testing.T) {
	src := "target: users\nfields:\n  user.email: {column: [Рабочий email, Личный email], transform: [trim, lower, email]}\n"
	header := []string{"ID", "Рабочий email", "Личный email"}
	for _, tc := range []struct {
		row        []string
		json, fail string
	}{
		{[]string{"1", "work@firm.ru", "me@mail.ru"}, `{"user":{"email":"work@firm.ru"}}`, ""},
		{[]string{"2", "  ", "Me@Mail.RU"}, `{"user":{"email":"me@mail.ru"}}`, ""},
		{[]string{"3", "", ""}, "", `Рабочий email/Личный email is empty: the service needs an e-mail or a phone`},
		// The first non-empty cell is used, even when it fails: the error names its column.
		{[]string{"4", "work@", "me@mail.ru"}, "", `Рабочий email: "work@" is not a valid e-mail`},
		{[]string{"5"}, "", "is empty"},
	} {
		got, err := applyOne(t, src, header, tc.row)
		switch {
		case tc.fail != "":
			if err == nil || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("%v: got %v, want an error with %q", tc.row, err, tc.fail)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.row, err)
		case string(got.JSON) != tc.json:
			t.Errorf("%v: %s, want %s", tc.row, got.JSON, tc.json)
		}
	}
	m := mustParse(t, src)
	if got := strings.Join(m.Columns(), "|"); got != "Рабочий email|Личный email" {
		t.Errorf("Columns %q", got)
	}
	// A list and a single name hash differently; a one-name list is still a list.
	if mustParse(t, "target: users\nfields:\n  user.email: {column: [E]}\n").Hash() ==
		mustParse(t, "target: users\nfields:\n  user.email: {column: E}\n").Hash() {
		t.Error("[E] and E hash the same")
	}
	// Every missing column of the list is reported.
	_, err := m.Compile([]string{"ID", "Рабочий e-mail"})
	if err == nil || !strings.Contains(err.Error(), `column "Рабочий email" is not in the CSV header`) ||
		!strings.Contains(err.Error(), `column "Личный email" is not in the CSV header`) {
		t.Errorf("compile: %v", err)
	}
	for _, bad := range []string{"{column: []}", "{column: [A, A]}", "{column: [A, {x: 1}]}"} {
		if _, err := Parse("m.yaml", []byte("target: users\nfields:\n  user.email: "+bad+"\n")); err == nil {
			t.Errorf("%s loaded", bad)
		}
	}
}

func TestOnErrorSkip(t *testing.T) {
	src := `target: users
fields:
  user.email: {column: Email, transform: [trim, lower, email]}
  user.phone: {column: Телефон, transform: [phone], on_error: skip}
  user.birthday: {column: ДР, transform: [{date: DD.MM.YYYY}], on_error: skip}
require_one_of: [user.email, user.phone]
`
	header := []string{"Email", "Телефон", "ДР"}
	c, err := mustParse(t, src).Compile(header)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Apply([]string{"ivan@mail.ru", "позвонить вечером", "31.02.1990"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.JSON) != `{"user":{"email":"ivan@mail.ru"}}` {
		t.Errorf("JSON %s", got.JSON)
	}
	for _, w := range []string{`Телефон: "позвонить вечером" is not a phone number`, "left out (on_error: skip)", `ДР: "31.02.1990" is not a real date`} {
		if !strings.Contains(got.Warning, w) {
			t.Errorf("warning %q lacks %q", got.Warning, w)
		}
	}
	if got, err := c.Apply([]string{"ivan@mail.ru", "8 900 123-45-67", ""}); err != nil || got.Warning != "" {
		t.Errorf("a clean row: %v, warning %q", err, got.Warning)
	}
	// require_one_of is checked after the skip, and the rejection says why the phone is missing.
	_, err = c.Apply([]string{"", "позвонить вечером", ""})
	var re RowError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a RowError", err)
	}
	want := `Телефон: "позвонить вечером" is not a phone number`
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "Email and Телефон are empty or unreadable, but require_one_of needs one of user.email, user.phone") {
		t.Errorf("error %q", err)
	}
	// The default is reject.
	_, err = applyOne(t, strings.Replace(src, ", on_error: skip}\n  user.birthday", ", on_error: reject}\n  user.birthday", 1), header,
		[]string{"ivan@mail.ru", "позвонить вечером", ""})
	if err == nil {
		t.Error("on_error: reject kept the row")
	}
	// Group names: the failing ones are left out, the others kept.
	got, err = applyOne(t, "target: users\nfields:\n  user.email: E\n  user.group_name: {column: G, split: \",\", map: {x: \"\"}, transform: [email], on_error: skip}\n",
		[]string{"E", "G"}, []string{"a@b.ru", "a@b.ru, nope"})
	if err != nil || string(got.JSON) != `{"user":{"email":"a@b.ru","group_name":["a@b.ru"]}}` || !strings.Contains(got.Warning, `"nope"`) {
		t.Errorf("groups: %v %s %q", err, got.JSON, got.Warning)
	}
	for _, tc := range []struct{ src, want string }{
		{"{column: T, on_error: ignore}", `on_error must be skip or reject, not "ignore"`},
		{"{value: 1, on_error: skip}", "a value has no cell"},
		{"{column: T, required: true, on_error: skip}", "required: true says it must be there"},
	} {
		_, err := Parse("m.yaml", []byte("target: users\nfields:\n  user.email: E\n  user.phone: "+tc.src+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestSoftEnumerations(t *testing.T) {
	// deal_currency and payment_type: sources disagree, so a value outside the list is sent with
	// a warning; deal_status and payment_status: every source agrees, so it is rejected.
	src := `target: deals
fields:
  user.email: E
  deal.offer_id: {value: 5}
  deal.deal_currency: V
  deal.payment_type: P
`
	header := []string{"E", "V", "P"}
	got, err := applyOne(t, src, header, []string{"a@b.ru", "BGN", "zpayment"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.JSON) != `{"deal":{"deal_currency":"BGN","offer_id":5,"payment_type":"zpayment"},"user":{"email":"a@b.ru"}}` {
		t.Errorf("JSON %s", got.JSON)
	}
	if !strings.Contains(got.Warning, `V: "BGN" is not in the service's documented currency list (RUB, USD,`) {
		t.Errorf("warning %q", got.Warning)
	}
	if strings.Contains(got.Warning, "zpayment") {
		t.Errorf("zpayment is a spelling some source uses: %q", got.Warning)
	}
	got, err = applyOne(t, src, header, []string{"a@b.ru", "usd", "ZPAYMENT"})
	if err != nil || got.Warning != "" || !strings.Contains(string(got.JSON), `"deal_currency":"USD"`) || !strings.Contains(string(got.JSON), `"payment_type":"ZPAYMENT"`) {
		t.Errorf("known values: %v %s %q", err, got.JSON, got.Warning)
	}
	// Constants and map values outside the list load with a warning naming the line.
	m := mustParse(t, "target: deals\nfields:\n  user.email: E\n  deal.offer_id: {value: 5}\n  deal.deal_currency: {value: GEL}\n  deal.payment_type: {column: P, map: {крипта: bitcoin}}\n")
	w := strings.Join(m.Warnings(), "\n")
	for _, want := range []string{`m.yaml:5:31: deal.deal_currency: value "GEL" is not in the service's documented currency list`, `m.yaml:6:48: deal.payment_type: map: "крипта" → "bitcoin"`} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings\n%s\nlack %q", w, want)
		}
	}
	if _, err := Parse("m.yaml", []byte("target: deals\nfields:\n  user.email: E\n  deal.deal_status: {value: paid}\n")); err == nil {
		t.Error("a status outside the list loaded")
	}
}

func TestNewDealMinimum(t *testing.T) {
	header := []string{"E", "Offer", "Title", "Cost", "N"}
	for _, tc := range []struct {
		name, fields string
		row          []string
		fail         string
	}{
		{"offer_id alone", "  deal.offer_id: Offer\n", []string{"a@b.ru", "12"}, ""},
		{"title with cost", "  deal.product_title: Title\n  deal.deal_cost: {column: Cost, transform: [money]}\n", []string{"a@b.ru", "", "Курс", "100"}, ""},
		{"title without cost", "  deal.product_title: Title\n  deal.deal_cost: {column: Cost, transform: [money]}\n", []string{"a@b.ru", "", "Курс", ""},
			"deal.deal_cost is empty: a new deal given by offer_code or product_title needs its cost"},
		{"cost without product", "  deal.product_title: Title\n  deal.deal_cost: Cost\n", []string{"a@b.ru", "", "", "100"},
			"a new deal needs deal.offer_id, or deal.offer_code or deal.product_title together with deal.deal_cost"},
		{"a generated number is a new deal", "  deal.deal_number: {generate: row-hash}\n  deal.product_title: Title\n", []string{"a@b.ru", "", "Курс"},
			"needs its cost"},
		// A number from the file may name a deal that exists: editing it needs no offer.
		{"deal number edits", "  deal.deal_number: N\n  deal.deal_status: {value: payed}\n", []string{"a@b.ru", "", "", "", "A-1"}, ""},
		{"deal number empty", "  deal.deal_number: N\n  deal.deal_status: {value: payed}\n", []string{"a@b.ru", "", "", "", ""}, "a new deal needs"},
		{"buyer needed", "  user.phone: Title\n  deal.offer_id: Offer\nrequire_one_of: [user.phone]\n", []string{"a@b.ru", "12", ""}, "require_one_of"},
		{"buyer needed even when require_one_of names others", "  user.first_name: Title\n  deal.offer_id: Offer\nrequire_one_of: [user.first_name]\n",
			[]string{"", "12", "Анна"}, "E is empty: the service needs an e-mail or a phone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := applyOne(t, "target: deals\nfields:\n  user.email: E\n"+tc.fields, header, tc.row)
			if tc.fail == "" && err != nil || tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)) {
				t.Errorf("got %v, want %q", err, tc.fail)
			}
		})
	}
}

func TestEveryProblemInOneRun(t *testing.T) {
	src := `target: users
fields:
  user.emial: E-mail
  user.phone: {column: Телфон, transfrom: [phone]}
  user.first_name: {column: Имя, transform: [trim, lowr]}
  user.city: {colum: Город}
  user.birthday: {column: ДР, transform: [{date: DD.MM.YYY}]}
  user.last_name: Фамиля
  user.country: Стрна
require_one_of: [user.email, user.phone]
`
	m, err := Parse("m.yaml", []byte(src))
	if m == nil || err == nil {
		t.Fatalf("got %v, %v; want the part that loaded and the errors", m, err)
	}
	_, err = m.Compile([]string{"E-mail", "Телефон", "Имя", "Город", "ДР", "Фамилия", "Страна"})
	var les LoadErrors
	if !errors.As(err, &les) {
		t.Fatalf("%T %v", err, err)
	}
	text := err.Error()
	want := []string{
		`m.yaml:3:3: unknown target path "user.emial" (did you mean user.email?)`,
		`m.yaml:4:32: unknown option "transfrom" for user.phone (did you mean transform?)`,
		`m.yaml:4:24: column "Телфон" is not in the CSV header (did you mean "Телефон"?)`,
		`m.yaml:5:52: unknown transform "lowr" (did you mean lower?)`,
		`m.yaml:6:15: unknown option "colum" for user.city (did you mean column?)`,
		`m.yaml:7:50: unknown token in date layout "DD.MM.YYY"`,
		`m.yaml:8:19: column "Фамиля" is not in the CSV header (did you mean "Фамилия"?)`,
		`m.yaml:9:17: column "Стрна" is not in the CSV header (did you mean "Страна"?)`,
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("errors\n%s\nlack\n%s", text, w)
		}
	}
	// require_one_of names user.email (misspelt in fields:, with a suggestion) and user.phone
	// (mapped, with a misspelt option): neither is reported again.
	if strings.Contains(text, "require_one_of") {
		t.Errorf("a follow-on error for user.phone:\n%s", text)
	}
	if len(les) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(les), len(want), text)
	}
	for i := 1; i < len(les); i++ {
		if les[i].Line < les[i-1].Line {
			t.Errorf("not in file order:\n%s", text)
		}
	}
}

func TestYAMLErrorLine(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"target: users\nfields:\n  user.email: {column: E-mail, transform: [trim\n  user.phone: Телефон\n", "m.yaml:3:1: not valid YAML: did not find expected ',' or ']' (a [ opened on this line is not closed)"},
		{"target: users\nfields:\n  user.email: {column: E-mail\n  user.phone: Телефон\n", "m.yaml:3:1:"},
		{"target: users\nfields:\n  user.email: E-mail\n user.phone: Телефон\n", "m.yaml:4:1: not valid YAML: did not find expected key"},
		{"target: users\nfields:\n  user.email: E-mail: x\n", "m.yaml:3:1: not valid YAML: mapping values are not allowed"},
		{"target: users\nfields:\n\tuser.email: E-mail\n", "m.yaml:3:1:"},
		{"target: users\nfields:\n  user.email: \"E-mail\n  user.phone: Телефон\n", "m.yaml:3:1:"},
		{"target: users\nfields:\n  user.email: E-mail\n  user.phone: [\n\n\n", "m.yaml:4:1:"},
	} {
		_, err := Parse("m.yaml", []byte(tc.src))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestDuplicateColumnsOnlyWhenRead(t *testing.T) {
	m := mustParse(t, "target: users\nfields:\n  user.email: E-mail\n  user.addfields.Теги: {column: [Теги, Тег]}\n")
	if _, err := m.Compile([]string{"E-mail", "Теги", "Тег", "Комментарий", "Комментарий"}); err != nil {
		t.Errorf("a repeated column nobody reads: %v", err)
	}
	_, err := m.Compile([]string{"Тег", "E-mail", "Теги", "Тег"})
	if err == nil || !strings.Contains(err.Error(), `m.yaml:4:33: column "Тег" appears 2 times in the CSV header (columns 1, 4)`) {
		t.Errorf("a repeated column the mapping reads: %v", err)
	}
}
