package gen

import (
	"bufio"
	"io"
	"math/rand/v2"
	"strconv"
)

// Option changes what Contacts and Orders write.
type Option func(*options)

type options struct {
	invalid float64
	delim   byte
	crlf    bool
}

// Invalid makes about fraction (0..1) of the rows invalid. The default, 0, writes only rows the
// matching mapping accepts.
func Invalid(fraction float64) Option { return func(o *options) { o.invalid = fraction } }

// Delimiter sets the cell delimiter (default ',' for Contacts and ';' for Orders, the way a CRM
// export and an Excel-saved shop file usually come). The mappings detect it, so any of , ; \t |
// works with them.
func Delimiter(d byte) Option { return func(o *options) { o.delim = d } }

// CRLF ends lines with CR LF, as Excel on Windows does (default LF).
func CRLF() Option { return func(o *options) { o.crlf = true } }

// Column headers of the generated files; the mappings below refer to them.
var (
	ContactsHeader = []string{"E-mail", "Телефон", "Имя", "Фамилия", "Отчество", "Город", "ДР", "Группы", "Telegram", "Источник"}
	OrdersHeader   = []string{"Номер заказа", "E-mail", "Телефон", "Имя", "Товар", "Сумма", "Статус", "Оплачен", "Дата", "Комментарий"}
)

// ContactsMapping returns a mapping file (YAML) that imports Contacts' output as users.
func ContactsMapping() string {
	return `# Contacts exported from another CRM → GetCourse users (internal/gen.Contacts).
target: users
fields:
  user.email: {column: E-mail, transform: [trim, lower, email]}
  user.phone: {column: Телефон, transform: [phone]}
  user.first_name: Имя
  user.last_name: Фамилия
  user.middle_name: Отчество
  user.city: Город
  user.birthday: {column: ДР, transform: [{date: DD.MM.YYYY}]}
  user.group_name: {column: Группы, split: ","}
  user.addfields.Telegram: Telegram
  session.utm_source: Источник
  system.refresh_if_exists: {value: 1}
require_one_of: [user.email, user.phone]
`
}

// OrdersMapping returns a mapping file (YAML) that imports Orders' output as deals. It maps the
// order number to deal.deal_number, so the import is idempotent.
func OrdersMapping() string {
	return `# A shop's orders file → GetCourse deals (internal/gen.Orders).
target: deals
fields:
  deal.deal_number: {column: Номер заказа, required: true}
  user.email: {column: E-mail, transform: [trim, lower, email]}
  user.phone: {column: Телефон, transform: [phone]}
  user.first_name: Имя
  deal.product_title: {column: Товар, required: true}
  deal.deal_cost: {column: Сумма, transform: [money]}
  deal.deal_status:
    column: Статус
    map: {Оплачен: payed, Новый: new, Отменён: cancelled, В работе: in_work}
    default: new
  deal.deal_is_paid: {column: Оплачен, transform: [bool]}
  deal.deal_created_at: {column: Дата, transform: [{date: DD.MM.YYYY HH:mm}]}
  deal.deal_comment: Комментарий
require_one_of: [user.email, user.phone]
`
}

var (
	maleFirst   = []string{"Иван", "Пётр", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Николай", "Артём", "Кирилл", "Егор", "Максим"}
	femaleFirst = []string{"Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Дарья", "Юлия", "Ксения", "Алёна"}
	maleMiddle  = []string{"Иванович", "Петрович", "Сергеевич", "Андреевич", "Николаевич", "Алексеевич", ""}
	femMiddle   = []string{"Ивановна", "Петровна", "Сергеевна", "Андреевна", "Николаевна", "Алексеевна", ""}
	// Surnames in the masculine form; the feminine adds "а".
	lastNames = []string{"Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов", "Волков", "Соловьёв"}
	// Latin spellings for e-mails and Telegram handles, index-aligned with the lists above.
	maleLatin   = []string{"ivan", "petr", "alexey", "dmitry", "sergey", "andrey", "mikhail", "nikolay", "artem", "kirill", "egor", "maxim"}
	femaleLatin = []string{"anna", "maria", "elena", "olga", "natalia", "tatiana", "irina", "svetlana", "daria", "julia", "ksenia", "alena"}
	lastLatin   = []string{"ivanov", "petrov", "smirnov", "kuznetsov", "popov", "sokolov", "lebedev", "kozlov", "novikov", "morozov", "volkov", "solovyev"}
	cities      = []string{"Москва", "Санкт-Петербург", "Новосибирск", "Екатеринбург", "Казань", "Нижний Новгород", "Самара", "Ростов-на-Дону", "Краснодар", "Пермь", ""}
	domains     = []string{"mail.ru", "gmail.com", "yandex.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru", "icloud.com"}
	groups      = []string{"", "Клиенты", "Рассылка", "Клиенты, Рассылка", "Тренинг SMM", "Клиенты, VIP Студенты", "Марафон, Рассылка, Клиенты"} // all seeded by gcsim: files pass the import's online check
	sources     = []string{"", "", "yandex", "google", "vk", "telegram", "partner"}
	products    = []string{"Курс «Английский с нуля»", "Марафон по йоге", "Интенсив по Python", "Консультация 60 мин", "Подписка на год", "Книга «Финансы», электронная версия"}
	prices      = []string{"9 990,00 ₽", "1 500", "2490", "14 900 руб.", "990,50", "49 000,00 ₽"}
	statuses    = []string{"Оплачен", "Оплачен", "Новый", "Отменён", "В работе", ""}
	paid        = []string{"да", "нет", "Да", "yes", "1", "0"}
	comments    = []string{"", "", "", "позвонить после 18:00", `просит счёт на "ООО Ромашка"`, "оплата частями; скидка 10%"}
)

// writer assembles one line at a time in a reused buffer and quotes cells only when needed.
type writer struct {
	bw    *bufio.Writer
	line  []byte
	delim byte
	eol   string
	cells int
}

func newWriter(w io.Writer, o options) *writer {
	eol := "\n"
	if o.crlf {
		eol = "\r\n"
	}
	return &writer{bw: bufio.NewWriterSize(w, 64<<10), line: make([]byte, 0, 512), delim: o.delim, eol: eol}
}

func (w *writer) cell(s string) {
	if w.cells > 0 {
		w.line = append(w.line, w.delim)
	}
	w.cells++
	quote := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == w.delim || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		w.line = append(w.line, s...)
		return
	}
	w.line = append(w.line, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			w.line = append(w.line, '"')
		}
		w.line = append(w.line, s[i])
	}
	w.line = append(w.line, '"')
}

// cellBytes adds a cell assembled by the caller (never needs quoting).
func (w *writer) cellBytes(b []byte) {
	if w.cells > 0 {
		w.line = append(w.line, w.delim)
	}
	w.cells++
	w.line = append(w.line, b...)
}

func (w *writer) end() error {
	w.line = append(w.line, w.eol...)
	_, err := w.bw.Write(w.line)
	w.line, w.cells = w.line[:0], 0
	return err
}

func apply(opts []Option, delim byte) options {
	o := options{delim: delim}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// pad2 appends n as two digits.
func pad2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// Contacts writes a header and n contact rows. E-mails are unique (the row number is part of
// each); every row has an e-mail or a phone.
func Contacts(w io.Writer, n int, seed int64, opts ...Option) error {
	o := apply(opts, ',')
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6763626174636821))
	out := newWriter(w, o)
	for _, h := range ContactsHeader {
		out.cell(h)
	}
	if err := out.end(); err != nil {
		return err
	}
	var scratch []byte
	for i := range n {
		k := rng.IntN(len(lastNames))
		female := rng.IntN(2) == 0
		f := rng.IntN(len(maleFirst))
		first, firstLat, last, middle := maleFirst[f], maleLatin[f], lastNames[k], maleMiddle[rng.IntN(len(maleMiddle))]
		if female {
			first, firstLat, last, middle = femaleFirst[f], femaleLatin[f], lastNames[k]+"а", femMiddle[rng.IntN(len(femMiddle))]
		}
		lastLat := lastLatin[k]
		if female {
			lastLat += "a"
		}
		bad := o.invalid > 0 && rng.Float64() < o.invalid
		badKind := rng.IntN(3)

		// E-mail: unique by the row number; some have capitals or spaces around them.
		scratch = scratch[:0]
		style := rng.IntN(10)
		if style == 0 {
			scratch = append(scratch, ' ')
		}
		local := len(scratch)
		scratch = append(scratch, firstLat...)
		scratch = append(scratch, '.')
		scratch = append(scratch, lastLat...)
		scratch = strconv.AppendInt(scratch, int64(i+1), 10)
		if style == 1 {
			scratch[local] -= 'a' - 'A'
		}
		if bad && badKind == 0 {
			scratch = append(scratch, '@') // no domain
		} else {
			scratch = append(scratch, '@')
			scratch = append(scratch, domains[rng.IntN(len(domains))]...)
		}
		if style == 0 {
			scratch = append(scratch, ' ')
		}
		noEmail := rng.IntN(25) == 0 && !(bad && badKind == 0)
		if noEmail {
			out.cell("")
		} else {
			out.cellBytes(scratch)
		}

		// Phone, written the ways people write them; never empty when the e-mail is.
		d := 9000000000 + rng.Int64N(999999999)
		ds := strconv.AppendInt(scratch[:0], d, 10) // 10 digits, 9xxxxxxxxx
		var ph []byte
		switch p := rng.IntN(6); {
		case p == 0 && !noEmail:
			ph = nil
		case p == 1:
			ph = append(append(append([]byte("+7 "), ds[:3]...), ' '), ds[3:6]...)
			ph = append(append(append(append(ph, '-'), ds[6:8]...), '-'), ds[8:]...)
		case p == 2:
			ph = append([]byte("7"), ds...)
		case p == 3:
			ph = append([]byte("+7"), ds...)
		default:
			ph = append(append(append([]byte("8 ("), ds[:3]...), ") "...), ds[3:6]...)
			ph = append(append(append(append(ph, '-'), ds[6:8]...), '-'), ds[8:]...)
		}
		out.cellBytes(ph)

		out.cell(first)
		out.cell(last)
		out.cell(middle)
		out.cell(cities[rng.IntN(len(cities))])

		// Birthday, DD.MM.YYYY; a third left empty.
		switch {
		case bad && badKind == 1:
			out.cell("31.02.1990") // does not exist
		case rng.IntN(3) == 0:
			out.cell("")
		default:
			b := pad2(scratch[:0], 1+rng.IntN(28))
			b = append(b, '.')
			b = pad2(b, 1+rng.IntN(12))
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(1950+rng.IntN(56)), 10)
			out.cellBytes(b)
		}
		out.cell(groups[rng.IntN(len(groups))])
		if rng.IntN(3) == 0 {
			out.cellBytes(append(append(append(append(scratch[:0], '@'), firstLat...), '_'), lastLat...))
		} else {
			out.cell("")
		}
		if !(bad && badKind == 2) { // a missing cell: the reader rejects the row
			out.cell(sources[rng.IntN(len(sources))])
		}
		if err := out.end(); err != nil {
			return err
		}
	}
	return out.bw.Flush()
}

// Orders writes a header and n orders of a shop (deals). Order numbers are unique.
func Orders(w io.Writer, n int, seed int64, opts ...Option) error {
	o := apply(opts, ';')
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6f72646572732121))
	out := newWriter(w, o)
	for _, h := range OrdersHeader {
		out.cell(h)
	}
	if err := out.end(); err != nil {
		return err
	}
	var scratch []byte
	for i := range n {
		bad := o.invalid > 0 && rng.Float64() < o.invalid
		badKind := rng.IntN(3)
		f := rng.IntN(len(maleFirst))
		k := rng.IntN(len(lastLatin))
		first, firstLat := maleFirst[f], maleLatin[f]
		if rng.IntN(2) == 0 {
			first, firstLat = femaleFirst[f], femaleLatin[f]
		}
		out.cellBytes(strconv.AppendInt(append(scratch[:0], "A-"...), int64(100000+i), 10))

		// Customers repeat: several orders per e-mail.
		cust := rng.IntN(max(1, n/3) + 1)
		b := append(append(append(scratch[:0], firstLat...), '.'), lastLatin[k]...)
		b = strconv.AppendInt(b, int64(cust), 10)
		b = append(append(b, '@'), domains[cust%len(domains)]...)
		if bad && badKind == 0 {
			b = append(b, "@@"...) // not an e-mail
		}
		out.cellBytes(b)
		if rng.IntN(2) == 0 {
			b = strconv.AppendInt(append(scratch[:0], "8 9"...), 100000000+rng.Int64N(899999999), 10)
			out.cellBytes(b)
		} else {
			out.cell("")
		}
		out.cell(first)
		out.cell(products[rng.IntN(len(products))])
		out.cell(prices[rng.IntN(len(prices))])
		if bad && badKind == 1 {
			out.cell("Оплочен") // a typo the status map does not know
		} else {
			out.cell(statuses[rng.IntN(len(statuses))])
		}
		out.cell(paid[rng.IntN(len(paid))])
		b = pad2(scratch[:0], 1+rng.IntN(28))
		b = append(b, '.')
		b = pad2(b, 1+rng.IntN(12))
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(2020+rng.IntN(6)), 10)
		b = append(b, ' ')
		b = pad2(b, rng.IntN(24))
		b = append(b, ':')
		b = pad2(b, rng.IntN(60))
		out.cellBytes(b)
		if !(bad && badKind == 2) {
			out.cell(comments[rng.IntN(len(comments))])
		}
		if err := out.end(); err != nil {
			return err
		}
		scratch = b
	}
	return out.bw.Flush()
}
