package mappings

import (
	"strings"
	"testing"
)

type tcase struct{ in, want string } // want "" = rejected

func runTransform(t *testing.T, name string, fn func(string) (string, string), cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(name+"/"+tc.in, func(t *testing.T) {
			got, msg := fn(tc.in)
			if tc.want == "" {
				if msg == "" {
					t.Fatalf("%s(%q) = %q, want a rejection", name, tc.in, got)
				}
				return
			}
			if msg != "" || got != tc.want {
				t.Fatalf("%s(%q) = %q, %q; want %q", name, tc.in, got, msg, tc.want)
			}
		})
	}
}

func TestSimpleTransforms(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"trim", "  Иван \u00a0", "Иван"},
		{"trim", "a b", "a b"},
		{"lower", "ИВАН Ivan", "иван ivan"},
		{"upper", "весна10", "ВЕСНА10"},
	} {
		tr, ok := simpleTransform(tc.name)
		if !ok {
			t.Fatalf("no transform %s", tc.name)
		}
		if got, msg := tr.fn(tc.in); got != tc.want || msg != "" {
			t.Errorf("%s(%q) = %q, %q; want %q", tc.name, tc.in, got, msg, tc.want)
		}
	}
	if _, ok := simpleTransform("date"); ok {
		t.Error("date needs a layout and must not be a simple transform")
	}
}

func TestEmail(t *testing.T) {
	runTransform(t, "email", normEmail, []tcase{
		{"ivan@mail.ru", "ivan@mail.ru"},
		{"  Ivan.Petrov@Mail.RU ", "Ivan.Petrov@mail.ru"},
		{"a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"},
		{"иван@почта.рф", "иван@почта.рф"},
		{"x@xn--80a1acny.xn--p1ai", "x@xn--80a1acny.xn--p1ai"},
		{"o'brien@example.com", "o'brien@example.com"},
		{"ivan@", ""},
		{"@mail.ru", ""},
		{"ivan", ""},
		{"ivan@mail", ""},
		{"ivan@mail.r", ""},
		{"ivan@@mail.ru", ""},
		{"iv an@mail.ru", ""},
		{"ivan@mail..ru", ""},
		{".ivan@mail.ru", ""},
		{"ivan.@mail.ru", ""},
		{"iv..an@mail.ru", ""},
		{"ivan@-mail.ru", ""},
		{"ivan@mail.ru1", ""},
		{"Иван <ivan@mail.ru>", ""},
		{"ivan@mail.ru, petr@mail.ru", "ivan@mail.ru"},
		{"p.orlov@sever.ru; zakupki@sever.ru", "p.orlov@sever.ru"},
		{"нет, ivan@Mail.ru", "ivan@mail.ru"},
		{"нет; да", ""},
		{"\xff@mail.ru", ""},
		{strings.Repeat("a", 65) + "@mail.ru", ""},
	})
}

func TestPhone(t *testing.T) {
	runTransform(t, "phone", normPhone, []tcase{
		{"8 (900) 123-45-67", "+79001234567"},
		{"+7 900 123 45 67", "+79001234567"},
		{"9001234567", "+79001234567"},
		{"7 900 1234567", "+79001234567"},
		{"89001234567", "+79001234567"},
		{"+7(900)123-45-67", "+79001234567"},
		{"8\u00a0900\u00a0123\u00a045\u00a067", "+79001234567"},
		{"8 800 555-35-35", "+78005553535"},
		{"8 (4822) 55-66-77", "+74822556677"},
		{"+8 900 123 45 67", "+79001234567"},
		{"+375 29 123-45-67", "+375291234567"},
		{"+44 20 7946 0958", "+442079460958"},
		{"+1 (212) 555-0123", "+12125550123"},
		{"00 49 30 1234567", "+49301234567"},
		{"00 8 900 000 00 00", "+79000000000"}, // 00 reads as +, so as "+8 900..." does (found by FuzzTransform)
		{"00 7 900 123 45 6", ""},
		{"900123456", ""},
		{"123", ""},
		{"+7 900 123 45 6", ""},
		{"+7 900 123 45 678", ""},
		{"+0 123 456 789", ""},
		{"+1234567", ""},
		{"+1234567890123456", ""},
		{"2001234567", ""},
		{"12345678901", ""},
		// As CRMs and spreadsheets write them.
		{"89001234567.0", "+79001234567"},
		{"79001234567.00", "+79001234567"},
		{"+79001234567.0", "+79001234567"},
		{"89001234567.5", ""},
		{"7.9001234567E+10", "+79001234567"}, // Excel's exponent form, every digit kept
		{"8.9001234567e10", "+79001234567"},
		{"7.90012E+10", ""}, // digits lost: 79001200000 is not the number
		{"7.9001234567E+9", ""},
		{"+7 900 123-45-68, +7 900 765-43-21", "+79001234568"},
		{"+7 900 123-45-68; 8 900 765-43-21", "+79001234568"},
		{"не звонить, 8 900 765-43-21", "+79007654321"},
		{", ,8 900 765-43-21,", "+79007654321"},
		{"123, 456", ""},
		{"89001234567,0", "+79001234567"}, // Excel's float in a Russian locale
		{"8 (900) 123-45-69 доб. 123", "+79001234569"},
		{"8 (900) 123-45-69 доб.123", "+79001234569"},
		{"8 (900) 123-45-69 Доб 123", "+79001234569"},
		{"8 (900) 123-45-69 (доб. 123)", "+79001234569"},
		{"8 900 123-45-67 добавочный 12", "+79001234567"},
		{"+1 212 555 0123 ext. 5", "+12125550123"},
		{"+1 212 555 0123 x5", "+12125550123"},
		{"+1 212 555 0123 #5", "+12125550123"},
		{"8 900 123-45-67 доб. кухня", ""},
		{"доб. 123", ""},
		{"8 900 123-45-67 x", ""},
		{"phone", ""},
		{"", ""},
		{"+", ""},
		{"8 900 +123 45 67", ""},
		{"ivan@mail.ru", ""},
	})
}

func TestMoney(t *testing.T) {
	runTransform(t, "money", normMoney, []tcase{
		{"9 990,00 ₽", "9990.00"},
		{"9\u00a0990,00\u00a0₽", "9990.00"},
		{"9\u202f990,00 руб.", "9990.00"},
		{"1,500.00", "1500.00"},
		{"1 500", "1500.00"},
		{"1500", "1500.00"},
		{"1,5", "1.50"},
		{"10.5", "10.50"},
		{"10.50", "10.50"},
		{"1,500", "1500.00"},
		{"1.500", "1500.00"},
		{"1.234.567,89", "1234567.89"},
		{"1,234,567.89", "1234567.89"},
		{"0.500", "0.50"},
		{"0,99", "0.99"},
		{",50", "0.50"},
		{"$12.5", "12.50"},
		{"12.5 $", "12.50"},
		{"€ 100", "100.00"},
		{"100 EUR", "100.00"},
		{"100 RUB", "100.00"},
		{"2 490 р.", "2490.00"},
		{"2 490 р", "2490.00"},
		{"2490 руб", "2490.00"},
		{"2490 рублей", "2490.00"},
		{"-500,00", "-500.00"},
		{"−500", "-500.00"},
		{"-$5", "-5.00"},
		{"007", "7.00"},
		{"1'500.00", "1500.00"},
		{"12.3400", "12.34"},
		{"", ""},
		{"₽", ""},
		{"abc", ""},
		{"12,345,67", ""},
		{"1.2.3", ""},
		{"1,2.3", ""},
		{"12.345", "12345.00"},
		{"12.3456", ""},
		{"10,555", "10555.00"},
		{"1,5555", ""},
		{"--5", ""},
		{"5 apples", ""},
		{"1e5", ""},
		{"9999999999999999", ""},
	})
}

func TestInt(t *testing.T) {
	runTransform(t, "int", normInt, []tcase{
		{"42", "42"},
		{" 42 ", "42"},
		{"0042", "42"},
		{"-7", "-7"},
		{"+7", "7"},
		{"-0", "0"},
		{"1 000", "1000"},
		{"2,00", "2"},
		{"3.0", "3"},
		{"2,50", ""},
		{"", ""},
		{"abc", ""},
		{"4a", ""},
		{"1e3", ""},
		{"--1", ""},
		{"1234567890123456789", ""},
	})
}

func TestBool(t *testing.T) {
	runTransform(t, "bool", normBool, []tcase{
		{"да", "1"}, {"Да", "1"}, {"ДА", "1"}, {"yes", "1"}, {"Y", "1"}, {"1", "1"}, {"true", "1"}, {"TRUE", "1"}, {"+", "1"}, {"истина", "1"},
		{"нет", "0"}, {"Нет ", "0"}, {"no", "0"}, {"n", "0"}, {"0", "0"}, {"false", "0"}, {"-", "0"}, {"ЛОЖЬ", "0"},
		{"", ""}, {"может быть", ""}, {"2", ""}, {"yess", ""},
	})
}

func TestDate(t *testing.T) {
	for _, tc := range []struct {
		layout string
		out    dateOut
		in     string
		want   string
	}{
		{"DD.MM.YYYY", dateBirthday, "14.03.1991", "14.03.1991"},
		{"DD.MM.YYYY", dateBirthday, "1.3.1991", "01.03.1991"},
		{"YYYY-MM-DD", dateBirthday, "1991-03-14", "14.03.1991"},
		{"DD.MM.YYYY HH:mm", dateISO, "01.03.2024 09:15", "2024-03-01 09:15:00"},
		{"DD.MM.YYYY HH:mm", dateISO, "01.03.2024", "2024-03-01 00:00:00"},
		{"DD.MM.YYYY HH:mm", dateJoin, "01.03.2024 9:05", "2024-03-01 09:05"},
		{"DD.MM.YYYY HH:mm:ss", dateISO, "29.02.2024 23:59:59", "2024-02-29 23:59:59"},
		{"MM/DD/YYYY", dateISO, "12/31/2023", "2023-12-31 00:00:00"},
		{"DD.MM.YYYY HH:mm", dateISO, " 01.03.2024   09:15 ", "2024-03-01 09:15:00"},
		{"DD.MM.YYYY", dateBirthday, "31.02.2001", ""},
		{"DD.MM.YYYY", dateBirthday, "29.02.2023", ""},
		{"DD.MM.YYYY", dateBirthday, "29.02.1900", ""},
		{"DD.MM.YYYY", dateBirthday, "29.02.2000", "29.02.2000"},
		{"DD.MM.YYYY", dateBirthday, "31.04.2001", ""},
		{"DD.MM.YYYY", dateBirthday, "00.01.2001", ""},
		{"DD.MM.YYYY", dateBirthday, "01.13.2001", ""},
		{"DD.MM.YYYY", dateBirthday, "01.01.0000", ""},
		{"DD.MM.YYYY", dateBirthday, "01.01.01", ""},
		{"DD.MM.YYYY", dateBirthday, "2001-01-01", ""},
		{"DD.MM.YYYY", dateBirthday, "01.01.2001 10:00", ""},
		{"DD.MM.YYYY HH:mm", dateISO, "01.01.2001 24:00", ""},
		{"DD.MM.YYYY HH:mm", dateISO, "01.01.2001 10:60", ""},
		{"DD.MM.YYYY HH:mm", dateISO, "01.01.2001 10:", ""},
		{"DD.MM.YYYY", dateBirthday, "вчера", ""},
		{"DD.MM.YYYY", dateBirthday, "", ""},
	} {
		t.Run(tc.layout+"/"+tc.in, func(t *testing.T) {
			tr, msg := dateTransform(tc.layout, tc.out)
			if msg != "" {
				t.Fatal(msg)
			}
			got, msg := tr.fn(tc.in)
			if tc.want == "" {
				if msg == "" {
					t.Fatalf("got %q, want a rejection", got)
				}
				return
			}
			if msg != "" || got != tc.want {
				t.Fatalf("got %q, %q; want %q", got, msg, tc.want)
			}
		})
	}
}

func TestDateLayouts(t *testing.T) {
	for _, tc := range []struct {
		layout string
		ok     bool
	}{
		{"DD.MM.YYYY", true},
		{"YYYY-MM-DD HH:mm:ss", true},
		{"DD/MM/YYYY HH:mm", true},
		{"dd.mm.yyyy", false},
		{"DD.MM.YY", false},
		{"MM.YYYY", false},
		{"DDMMYYYY", false},
		{"DD.MM.YYYY mm", false},
		{"DD.MM.YYYY.DD", false},
		{"YYYY-MM-DDTHH:mm", false},
	} {
		_, msg := parseDateLayout(tc.layout)
		if (msg == "") != tc.ok {
			t.Errorf("parseDateLayout(%q): %q, want ok=%v", tc.layout, msg, tc.ok)
		}
	}
}
