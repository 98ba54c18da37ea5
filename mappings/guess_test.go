package mappings

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestGuessLoadsAndCompiles(t *testing.T) {
	cases := []struct {
		name   string
		target Target
		header []string
		sample [][]string
		want   []string // substrings of the output
	}{
		{"russian users", TargetUsers,
			[]string{"Эл. почта", "Телефон", "Имя", "Фамилия", "Отчество", "Город", "Страна", "Дата рождения", "Группы", "Telegram", "Заметка", "utm_source"},
			[][]string{{"a@b.ru", "8 900 123-45-67", "Анна", "Иванова", "", "Москва", "Россия", "01.02.1990", "Клиенты, VIP", "@a", "x", "vk"}},
			[]string{"user.email:\n    column: Эл. почта\n    transform: [trim, lower, email]", "transform: [phone]", "user.middle_name: Отчество",
				`transform: [{date: DD.MM.YYYY}]`, `split: ","`, "user.addfields.Telegram: Telegram", "# user.addfields.Заметка: Заметка",
				"session.utm_source: utm_source", "require_one_of: [user.email, user.phone]", "gcbatch validate"}},
		{"english users", TargetUsers,
			[]string{"Email", "Phone", "First name", "Last name", "City", "Groups", "Birthday"},
			[][]string{{"a@b.ru", "+7 900 123 45 67", "Anna", "Ivanova", "Moscow", "A", "1990-02-01"}, {"", "", "", "", "", "", ""}},
			[]string{"user.first_name: First name", "user.last_name: Last name", `{date: YYYY-MM-DD}`}},
		{"orders", TargetDeals,
			[]string{"Номер заказа", "Дата", "E-mail", "Товар", "Сумма", "Статус", "Способ оплаты", "Оплачен", "Количество"},
			[][]string{
				{"1", "01.03.2024 09:15", "a@b.ru", "Курс", "9 990,00 ₽", "Оплачен", "Карта", "да", "1"},
				{"2", "01.03.2024", "c@b.ru", "Курс", "1 500", "Отменён", "card", "нет", "2"},
				{"3", "02.03.2024 10:00", "d@b.ru", "Курс", "1 500", "Непонятный", "Криптой", "нет", "2"},
			},
			[]string{"deal.deal_number: Номер заказа", `{date: DD.MM.YYYY HH:mm}`, "transform: [money]", "Оплачен: payed", "Отменён: cancelled",
				"# Непонятный: ?", "default: new", "Карта: CARD", "# Криптой: ?", "transform: [bool]", "deal.quantity:\n    column: Количество\n    transform: [int]"}},
		{"deals without order numbers", TargetDeals,
			[]string{"Почта", "Продукт", "Стоимость"},
			[][]string{{"a@b.ru", "Курс", "100"}},
			[]string{"deal.deal_number: {generate: row-hash}", "deal.product_title: Продукт"}},
		{"amount in a paid column is not a flag", TargetDeals,
			[]string{"Email", "Оплачено", "Номер"},
			[][]string{{"a@b.ru", "12 000,00", "5"}},
			[]string{"# user.addfields.Оплачено: Оплачено"}},
		{"mailing", TargetMessages,
			[]string{"Email", "Имя", "Курс"},
			[][]string{{"a@b.ru", "Анна", "SMM"}},
			[]string{"message.email:", "message.params.Имя: Имя", "# message.mailing_id: {value: 12345}"}},
		{"groups", TargetGroups,
			[]string{"id", "Email", "Группы"},
			[][]string{{"1", "a@b.ru", "A, B"}},
			[]string{"user.id:\n    column: id\n    transform: [int]", "user.group_name:", "#   Email"}},
		{"awkward header names", TargetUsers,
			[]string{"E-mail", "true", "a: b", "#tag", "\"q\"", "", "E-mail", "Телефон"},
			[][]string{{"a@b.ru", "1", "2", "3", "4", "5", "6", "89001234567"}},
			[]string{`"user.addfields.#tag"`, `# "user.addfields.a: b": "a: b"`,
				// A name the header has twice cannot be read: neither copy is mapped.
				"# user.addfields.E-mail: E-mail   # the header has this name more than once", "require_one_of: [user.phone]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Guess(tc.target, tc.header, tc.sample)
			if err != nil {
				t.Fatal(err)
			}
			text := string(out)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			m, err := Parse("guess.yaml", out)
			if err != nil {
				t.Fatalf("the guess does not load: %v\n%s", err, text)
			}
			if m.Target != tc.target {
				t.Errorf("target %s", m.Target)
			}
			c, err := m.Compile(tc.header)
			if err != nil {
				t.Fatalf("the guess does not compile: %v\n%s", err, text)
			}
			for _, row := range tc.sample {
				if _, err := c.Apply(row); err != nil {
					t.Logf("sample row rejected: %v", err)
				}
			}
		})
	}
	if _, err := Guess("orders", []string{"a"}, nil); err == nil {
		t.Error("unknown target accepted")
	}
	if _, err := Guess(TargetUsers, nil, nil); err == nil {
		t.Error("empty header accepted")
	}
}

// The starter mapping for every sample loads and compiles against the sample's header.
func TestGuessOnSamples(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Target
		delim  rune
		cp1251 bool
	}{
		{"contacts", TargetUsers, ',', false},
		{"excel-contacts", TargetUsers, ';', true},
		{"orders", TargetDeals, ';', false},
		{"mailing", TargetMessages, ',', false},
		{"groups", TargetGroups, ',', false},
		{"gc-users-export", TargetUsers, ',', false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header, rows := readSampleCSV(t, filepath.Join(samplesDir, tc.name+".csv"), tc.delim, tc.cp1251)
			out, err := Guess(tc.target, header, rows)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(tc.name+".guess.yaml", out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			c, err := m.Compile(header)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			good := 0
			for _, row := range rows {
				if _, err := c.Apply(row); err == nil {
					good++
				}
			}
			if good == 0 {
				t.Errorf("the guess rejects every row:\n%s", out)
			}
		})
	}
}
