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

// The amoCRM contacts export of issue 12: a mobile column filled in 1 row of 11, the e-mails
// spread over two columns. Every row with an e-mail or a phone must be valid under the guess
// and send one of its own e-mails.
func TestGuessAmoCRM(t *testing.T) {
	header := []string{"ID", "Полное имя контакта", "Компания", "Рабочий телефон", "Мобильный телефон", "Рабочий email", "Личный email",
		"Теги", "Ответственный", "Дата создания"}
	rows := [][]string{
		{"1", "Анна Смирнова", "Ромашка", "+7 916 123-45-67", "", "anna@romashka.ru", "anna@mail.ru", "клиент", "Ольга", "05.03.2024 10:12:44"},
		{"2", "Иван Петров", "", "+7 900 123-45-68, +7 900 765-43-21", "", "", "i.petrov@yandex.ru", "", "Ольга", "05.03.2024 10:15:02"},
		{"3", "Ольга Кузнецова", "", "89261234501.0", "", "olga@kuz.pro", "", "", "Дмитрий", "06.03.2024 09:00:00"},
		{"4", "Сергей Волков", "", "8 (900) 123-45-69 доб. 123", "", "s.volkov@stroy.ru", "", "опт", "Дмитрий", "07.03.2024 12:30:00"},
		{"5", "Мария Белова", "", "", "+7 (917) 555-00-11", "", "", "", "Ольга", "07.03.2024 13:00:00"},
		{"6", "Павел Орлов", "Орёл", "звонить после 18", "", "", "pavel.orlov@gmail.com", "", "Ольга", "08.03.2024 08:45:10"},
		{"7", "Елена Соколова", "", "", "", "e.sokolova@bk.ru", "", "рассылка", "Дмитрий", "09.03.2024 16:20:00"},
		{"8", "Дмитрий Морозов", "", "+7 903 222-33-44", "", "d.morozov@firm.ru", "", "", "Ольга", "10.03.2024 10:00:00"},
		{"9", "Татьяна Лебедева", "", "", "", "", "tanya.l@yandex.ru", "клиент", "Ольга", "11.03.2024 11:11:11"},
		{"10", "Алексей Новиков", "", "8 800 555-35-35", "", "", "a.novikov@gmail.com", "", "Дмитрий", "12.03.2024 09:30:00"},
		{"11", "Ирина Козлова", "", "+7 (912) 345-67-89", "", "i.kozlova@kozlov.ru", "", "вебинар", "Ольга", "13.03.2024 15:45:00"},
	}
	out, err := Guess(TargetUsers, header, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"column: [Рабочий email, Личный email]", "column: [Рабочий телефон, Мобильный телефон]",
		"user.first_name: Полное имя контакта", "on_error: skip", "require_one_of: [user.email, user.phone]",
		"# user.addfields.Ответственный: Ответственный",
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the guess lacks %q:\n%s", w, out)
		}
	}
	m, err := Parse("guess.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c, err := m.Compile(header)
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		got, err := c.Apply(row)
		if err != nil {
			t.Errorf("row %d rejected: %v", i+1, err)
			continue
		}
		p, _ := got.Params()
		if own := []string{row[5], row[6]}; (own[0] != "" || own[1] != "") && p.User.Email != own[0] && (own[0] != "" || p.User.Email != own[1]) {
			t.Errorf("row %d sends %q, not its first e-mail of %q", i+1, p.User.Email, own)
		}
	}
}

func TestGuessByValues(t *testing.T) {
	header := []string{"Клиент", "Контакт", "Связь", "Номер договора", "Ответственный", "Дата рождения", "Номер клиента"}
	rows := [][]string{
		{"Анна", "anna@mail.ru", "+7 916 123-45-67", "9001234567", "manager@school.ru", "14.03.1991", "9001234567"},
		{"Иван", "ivan@mail.ru", "8 (903) 555-12-34", "9001234568", "manager@school.ru", "02.11.1985", "9001234568"},
		{"Ольга", "нет", "89261234501", "9001234569", "manager@school.ru", "1985-11-02", "9001234569"},
		{"Павел", "pavel@mail.ru", "", "9001234570", "", "31.12.1979", ""},
		{"Мария", "", "", "", "", "01.01.1990", ""},
		{"Петр", "", "", "", "", "05.05.1995", ""},
		{"Лена", "", "", "", "", "07.07.1997", ""},
	}
	out, err := Guess(TargetUsers, header, rows)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, w := range []string{
		"user.email:   # recognised by its values\n    column: Контакт",
		"user.phone:   # recognised by its values\n    column: Связь",
		"# user.addfields.Номер договора: Номер договора",     // ten digits, but a contract number
		"# user.addfields.Ответственный: Ответственный",       // e-mails, but the manager's
		"transform: [{date: DD.MM.YYYY}]\n    on_error: skip", // one date of seven in another layout
		"1 of 7 sample dates do not read as DD.MM.YYYY",
		"# user.addfields.Номер клиента: Номер клиента", // bare ten-digit numbers, not written as phones
	} {
		if !strings.Contains(text, w) {
			t.Errorf("the guess lacks %q:\n%s", w, text)
		}
	}
	// A column named for e-mails beats one that only holds some: that one is left to the user.
	out, err = Guess(TargetUsers, []string{"Доп. контакт", "E-mail"}, [][]string{{"x@y.ru", "a@b.ru"}, {"", "c@d.ru"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "column: E-mail\n") || !strings.Contains(string(out), "# user.addfields.Доп. контакт: Доп. контакт   # holds emails too") {
		t.Errorf("named column:\n%s", out)
	}
	// A number column written as phones is a phone column, whatever its header says.
	out, err = Guess(TargetUsers, []string{"Email", "Контактный номер"}, [][]string{{"a@b.ru", "8 (900) 123-45-67"}, {"", "+7 916 000-11-22"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "user.phone:   # recognised by its values\n    column: Контактный номер") {
		t.Errorf("contact number:\n%s", out)
	}
	// Dates that mostly do not read are no date column.
	out, err = Guess(TargetUsers, []string{"Email", "Дата рождения"}, [][]string{{"a@b.ru", "весной"}, {"c@d.ru", "не помню"}, {"e@f.ru", "01.01.1990"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "user.birthday") {
		t.Errorf("a column of words became a birthday:\n%s", out)
	}
}
