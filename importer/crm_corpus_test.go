package importer

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestCRMCorpus reads testdata/crm/: exports written as amoCRM, Bitrix24, Excel in a Russian
// locale (CSV and "Unicode Text"), Google Forms, Tilda and 1C write them (encodings, delimiters, quoting, sep= lines,
// delimiters at the end of every line, several values in one cell, names used twice). Each
// must give exactly this dialect, header, cells and line numbers, every row readable. What
// mappings make of the cells is tested in package mappings.
func TestCRMCorpus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		dialect Dialect
		header  []string
		rows    []got
	}{
		{
			file:    "amocrm-contacts.csv",
			dialect: Dialect{Delimiter: ',', Encoding: EncodingUTF8, BOM: true, CRLF: true},
			header: []string{"ID", "Полное имя контакта", "Имя", "Фамилия", "Компания", "Ответственный", "Дата создания", "Теги",
				"Рабочий телефон", "Мобильный телефон", "Рабочий email", "Личный email", "Должность", "Примечание"},
			rows: []got{
				row(2, "31564821", "Анна Смирнова", "Анна", "Смирнова", `ООО "Ромашка"`, "Мария Иванова", "05.03.2024 14:22:11", "VIP, Вебинар",
					"+7 495 123-45-67", "+7 900 123-45-68, +7 900 765-43-21", "anna@romashka.ru", "anna.smirnova@mail.ru", "Директор", ""),
				row(3, "31564822", "Петров Игорь", "Игорь", "Петров", "", "Мария Иванова", "05.03.2024 14:25:40", "",
					"", "89001234567", "", "igor.petrov@gmail.com", "", "Перезвонить после 18:00\nпросил счёт"),
				row(5, "31564823", "Ольга", "Ольга", "", "ИП Кузнецова", "Андрей Соколов", "06.03.2024 09:01:02", "Клиенты",
					"8 (900) 123-45-69 доб. 123", "", "olga@kuznetsova.ru, info@kuznetsova.ru", "", "", ""),
				row(6, "31564824", "Денис Волков", "Денис", "Волков", "", "Андрей Соколов", "06.03.2024 10:15:00", "",
					"", "+7 (916) 555-12-34", "", "", "", ""),
			},
		},
		{
			file:    "amocrm-leads.csv",
			dialect: Dialect{Delimiter: ';', Encoding: EncodingUTF8, BOM: true, CRLF: true},
			header: []string{"ID", "Название сделки", "Бюджет", "Ответственный", "Дата создания", "Этап сделки", "Воронка", "Теги",
				"Основной контакт", "Компания", "Рабочий телефон (контакт)", "Мобильный телефон (контакт)", "Рабочий email (контакт)"},
			rows: []got{
				row(2, "20481", "Курс «Python с нуля»", "15 000", "Мария Иванова", "05.03.2024 14:22:11", "Успешно реализовано", "Продажи курсов",
					"оплата; рассрочка", "Анна Смирнова", `ООО "Ромашка"`, "+7 495 123-45-67", "+7 900 123-45-68, +7 900 765-43-21", "anna@romashka.ru"),
				row(3, "20482", "Консультация", "0", "Андрей Соколов", "06.03.2024 10:00:00", "Первичный контакт", "Продажи курсов",
					"", "Игорь Петров", "", "", "89001234567", ""),
			},
		},
		{
			file:    "bitrix24-contacts.csv",
			dialect: Dialect{Delimiter: ';', Encoding: EncodingWindows1251, CRLF: true, Sep: true},
			header: []string{"ID", "Обращение", "Имя", "Отчество", "Фамилия", "Дата рождения", "Должность", "Компания", "Рабочий телефон",
				"Мобильный телефон", "Рабочий E-mail", "Частный E-mail", "Комментарий", "Источник", "Ответственный", "Дата создания"},
			rows: []got{
				row(3, "112", "г-жа", "Елена", "Сергеевна", "Волкова", "14.03.1991", "Бухгалтер", `ООО "Вектор"`, "+7 (495) 111-22-33",
					"+7 (926) 111-22-33", "volkova@vector.ru", "", "", "Веб-сайт", "Иван Петров", "01.02.2024 12:00:00"),
				row(4, "113", "", "Павел", "", "Орлов", "", "", "", "",
					"89161234567", "", "pavel.orlov@yandex.ru", "Звонил дважды;\nпросил прайс", "Звонок", "Иван Петров", "02.02.2024 09:30:15"),
				row(6, "114", "г-н", "Ёжиков", "Пётр", "", "", "", "", "",
					"", "ezhikov@list.ru", "", "Скидка 10% — «постоянный клиент»", "Рекомендация", "Иван Петров", "03.02.2024 18:45:00"),
			},
		},
		{
			file:    "excel-ru.csv",
			dialect: Dialect{Delimiter: ';', Encoding: EncodingWindows1251, CRLF: true},
			header:  []string{"ФИО", "E-mail", "Телефон", "Дата рождения", "Сумма", "Комментарий"},
			rows: []got{
				row(2, "Иванов Иван Иванович", "ivanov@mail.ru", "89001234567", "05.03.1990", "9 990,00", ""),
				row(3, "Петрова Анна", "petrova@yandex.ru", "8,9E+10", "", "12 500,50", "Первая строка\nвторая строка"),
				row(5, "Сидоров Олег", "sidorov@bk.ru", "+7 (903) 555-12-34", "31.12.1985", "0", `Монитор Dell 27" 4K`),
			},
		},
		{
			// Excel's "Unicode Text (*.txt)": UTF-16LE with a byte order mark, tab-separated,
			// CRLF, a line break inside a cell quoted (written here with iconv, not gcbatch).
			file:    "excel-unicode-text.txt",
			dialect: Dialect{Delimiter: '\t', Encoding: EncodingUTF16LE, BOM: true, CRLF: true},
			header:  []string{"ФИО", "E-mail", "Телефон", "Дата рождения", "Сумма", "Комментарий"},
			rows: []got{
				row(2, "Иванов Иван Иванович", "ivanov@mail.ru", "89001234567", "05.03.1990", "9 990,00", ""),
				row(3, "Петрова Анна", "petrova@yandex.ru", "+7 (903) 555-12-34", "", "12 500,50", "Первая строка\nвторая строка"),
				row(5, "Ёлкин Пётр", "yolkin@bk.ru", "8,9E+10", "31.12.1985", "0", `Монитор Dell 27" 4K; «срочно»`),
			},
		},
		{
			file:    "google-forms.csv",
			dialect: Dialect{Delimiter: ',', Encoding: EncodingUTF8, CRLF: true},
			header:  []string{"Отметка времени", "Адрес электронной почты", "Как вас зовут?", "Телефон", "Откуда вы узнали о нас?", "Комментарий"},
			rows: []got{
				row(2, "05.03.2024 14:22:11", "anna@gmail.com", "Анна", "+79001234567", "Instagram, От друзей", ""),
				row(3, "05.03.2024 15:01:47", "oleg@yandex.ru", "Олег", "8 900 765 43 21", "Telegram", "Хочу на курс.\nМожно в рассрочку?"),
				row(5, "06.03.2024 09:12:03", "maria@mail.ru", "Мария", "", "Поиск в Google", "Всё понятно, спасибо!"),
			},
		},
		{
			file:    "tilda-leads.csv",
			dialect: Dialect{Delimiter: ';', Encoding: EncodingUTF8, BOM: true},
			header:  []string{"Name", "Email", "Phone", "Comments", "tranid", "formid", "formname", "sent", "referer", "utm_source", "utm_medium", "utm_campaign"},
			rows: []got{
				row(2, "Анна", "anna@example.ru", "+7 (900) 123-45-67", "Хочу консультацию", "8312345:1234567890", "form123456789", "Cart",
					"2024-03-05 14:22:11", "https://school.tilda.ws/course", "yandex", "cpc", "spring_sale"),
				row(3, "Игорь", "igor@example.ru", "+7 (916) 555-12-34", "", "8312345:1234567891", "form123456789", "Cart",
					"2024-03-05 15:00:02", "https://school.tilda.ws/", "", "", ""),
				row(4, "Ольга", "", "+7 (926) 000-11-22", "Перезвоните; удобно после 18:00", "8312345:1234567892", "form987654321", "Callback",
					"2024-03-06 09:10:00", "https://school.tilda.ws/contacts", "vk", "social", ""),
			},
		},
		{
			file:    "1c-kontragenty.csv",
			dialect: Dialect{Delimiter: ';', Encoding: EncodingWindows1251, CRLF: true},
			header:  []string{"Наименование", "ИНН", "КПП", "Контактное лицо", "Телефон", "Телефон", "Электронная почта", "Адрес"},
			rows: []got{
				row(2, `ООО "Ромашка"`, "7701234567", "770101001", "Смирнова Анна Сергеевна", "+7 (495) 123-45-67", "+7 (900) 123-45-68",
					"info@romashka.ru", "г. Москва, ул. Ленина, д. 1"),
				row(3, "ИП Кузнецов Пётр Ильич", "772345678901", "", "Кузнецов П. И.", "8 (800) 555-35-35 доб. 12", "", "kuznetsov@mail.ru", "г. Казань"),
				row(4, `АО "Завод "Прогресс""`, "5001234567", "500101001", "", "", "89031234567", "", ""),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "crm", tt.file)
			s, err := OpenSource(path, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Dialect() != tt.dialect {
				t.Errorf("dialect %+v, want %+v", s.Dialect(), tt.dialect)
			}
			if !reflect.DeepEqual(s.Header(), tt.header) {
				t.Errorf("header\n %q\nwant\n %q", s.Header(), tt.header)
			}
			rows := readAll(t, s)
			if len(rows) != len(tt.rows) {
				t.Fatalf("%d rows, want %d:\n%v", len(rows), len(tt.rows), rows)
			}
			for i := range rows {
				if !reflect.DeepEqual(rows[i], tt.rows[i]) {
					t.Errorf("row %d:\n got %v\nwant %v", i, rows[i], tt.rows[i])
				}
			}
			n, err := CountRows(path, SourceOptions{})
			if err != nil || n != len(tt.rows) {
				t.Errorf("CountRows = %d, %v; want %d", n, err, len(tt.rows))
			}
		})
	}
}
