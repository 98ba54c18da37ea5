package mappings

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// guessRule recognises a column by its header and says which target path it feeds.
type guessRule struct {
	names  []string // normalised header names (see guessName)
	path   string   // for users and deals; "" when not mapped there
	deal   bool     // only for target deals
	group  bool     // also for target groups
	kind   string   // email, phone, money, date, bool, int, groups, status, paytype, currency
	note   string   // a comment written beside the field
	weight float64  // how good a source of the path it is beside others (0 means 1)
}

// guessRules know the columns of the common exports: amoCRM (Рабочий/Личный email, Рабочий/
// Мобильный телефон, Полное имя контакта), Bitrix24 (Рабочий/Частный E-mail), GetCourse's own
// users export, Tilda leads (Name, Email, Phone), Google Forms (Адрес электронной почты, Email
// Address, Отметка времени), Excel from 1C (Контрагент, Эл. почта).
var guessRules = []guessRule{
	{names: []string{"email", "e-mail", "почта", "эл. почта", "эл.почта", "электронная почта", "емейл", "имейл", "e-mail адрес",
		"адрес электронной почты", "mail", "email address", "e-mail address", "рабочий email", "личный email", "другой email",
		"email рабочий", "email личный", "e-mail клиента", "email клиента", "рабочий e-mail", "частный e-mail", "личный e-mail",
		"домашний e-mail", "другой e-mail", "e-mail для рассылок", "электронный адрес", "почта клиента", "e-mail контакта",
		"email контакта", "ваш email", "ваш e-mail", "your email", "адрес эл. почты", "e-mail (рабочий)", "e-mail (личный)"},
		path: "user.email", kind: "email"},
	{names: []string{"телефон", "phone", "тел", "тел.", "мобильный", "мобильный телефон", "номер телефона", "phone number", "mobile",
		"сотовый", "рабочий телефон", "домашний телефон", "другой телефон", "телефон для рассылок", "телефон клиента",
		"контактный телефон", "mobile phone", "work phone", "ваш телефон", "your phone", "телефон (мобильный)", "телефон (рабочий)"},
		path: "user.phone", kind: "phone"},
	{names: []string{"имя", "first name", "firstname", "first_name", "name", "given name", "ваше имя", "your name", "как вас зовут",
		"как вас зовут?", "имя клиента"}, path: "user.first_name"},
	{names: []string{"фамилия", "last name", "lastname", "last_name", "surname", "family name"}, path: "user.last_name"},
	{names: []string{"отчество", "middle name", "middlename", "patronymic"}, path: "user.middle_name"},
	{names: []string{"фио", "ф.и.о.", "ф. и. о.", "full name", "fullname", "полное имя", "полное имя контакта", "имя и фамилия",
		"фамилия имя отчество", "клиент", "покупатель", "пользователь", "контактное лицо", "фио клиента"}, path: "user.first_name",
		note: "the full name goes into the first name", weight: 0.7},
	{names: []string{"контрагент", "наименование контрагента"}, path: "user.first_name",
		note: "1C's counterparty (a person or a company) goes into the first name", weight: 0.5},
	{names: []string{"город", "city", "ваш город", "населенный пункт"}, path: "user.city"},
	{names: []string{"страна", "country"}, path: "user.country"},
	{names: []string{"дата рождения", "день рождения", "др", "birthday", "birth date", "birthdate", "date of birth", "dob"},
		path: "user.birthday", kind: "date"},
	{names: []string{"группы", "группа", "groups", "group", "группы пользователя"}, path: "user.group_name", kind: "groups", group: true},
	{names: []string{"id", "user id", "userid", "id пользователя", "user_id"}, path: "user.id", kind: "int", group: true},
	{names: []string{"номер заказа", "номер", "order", "order number", "order id", "orderid", "order no", "номер сделки",
		"deal number", "№ заказа", "№", "заказ"}, path: "deal.deal_number", deal: true},
	{names: []string{"сумма", "стоимость", "cost", "amount", "price", "цена", "total", "итого", "сумма заказа", "к оплате", "бюджет"},
		path: "deal.deal_cost", deal: true, kind: "money"},
	{names: []string{"статус", "status", "статус заказа", "order status"}, path: "deal.deal_status", deal: true, kind: "status"},
	{names: []string{"оплачен", "оплачено", "paid", "is paid", "оплата"}, path: "deal.deal_is_paid", deal: true, kind: "bool"},
	{names: []string{"дата", "дата заказа", "дата создания", "создан", "created", "created at", "date", "order date",
		"отметка времени", "timestamp"}, path: "deal.deal_created_at", deal: true, kind: "date"},
	{names: []string{"дата оплаты", "дата завершения", "paid at", "payment date", "finished at"},
		path: "deal.deal_finished_at", deal: true, kind: "date"},
	{names: []string{"товар", "продукт", "product", "название", "title", "наименование", "курс", "тариф", "product title"},
		path: "deal.product_title", deal: true},
	{names: []string{"описание", "description"}, path: "deal.product_description", deal: true},
	{names: []string{"код предложения", "offer code", "offer_code", "артикул", "sku"}, path: "deal.offer_code", deal: true},
	{names: []string{"id предложения", "offer id", "offer_id"}, path: "deal.offer_id", deal: true, kind: "int"},
	{names: []string{"количество", "кол-во", "quantity", "qty"}, path: "deal.quantity", deal: true, kind: "int"},
	{names: []string{"способ оплаты", "платежная система", "payment method", "payment type", "payment", "тип оплаты"},
		path: "deal.payment_type", deal: true, kind: "paytype"},
	{names: []string{"валюта", "currency"}, path: "deal.deal_currency", deal: true, kind: "currency"},
	{names: []string{"менеджер", "manager", "manager email", "email менеджера"}, path: "deal.manager_email", deal: true, kind: "email"},
	{names: []string{"комментарий", "comment", "примечание", "notes", "note"}, path: "deal.deal_comment", deal: true},
	{names: []string{"промокод", "promo code", "promocode", "coupon"}, path: "user.addfields.Промокод"},
	{names: []string{"telegram", "телеграм", "телеграмм", "tg"}, path: "user.addfields.Telegram"},
	{names: []string{"источник", "source"}, path: "user.addfields.Источник"},
	{names: []string{"город доставки", "delivery city"}, path: "user.addfields.Город доставки"},
	{names: []string{"откуда пришел", "referer", "referrer"}, path: "session.referer"},
}

// Header words that make an unknown column a candidate e-mail or phone column ("Email рабочий",
// "E-mail для рассылок", "Тел. моб."), unless a word of the other list says it is someone
// else's (a manager's, a partner's) or not a number one can call. The values then decide.
var (
	emailWords = []string{"email", "e-mail", "e mail", "почта", "почты", "емейл", "имейл", "мейл", "mail"}
	phoneWords = []string{"телефон", "phone", "мобильн", "сотов", "тел.", "тел "}
	notContact = []string{"менеджер", "manager", "ответствен", "партнер", "partner", "факс", "fax", "пейджер", "pager",
		"подпис", "subscri", "согласи", "consent", "статус", "status", "тип", "type", "дата", "date"}
)

// guessName normalises a header for matching: case, ё, surrounding and repeated spaces, a BOM
// and underscores do not matter.
func guessName(h string) string {
	h = strings.TrimPrefix(h, "\ufeff")
	h = strings.ToLower(strings.Join(strings.Fields(h), " "))
	return strings.ReplaceAll(h, "ё", "е")
}

// Words that people put in status and payment columns, and the service codes they mean.
var statusWords = map[string]string{
	"оплачен": "payed", "оплачено": "payed", "оплачена": "payed", "paid": "payed", "выполнен": "payed", "завершен": "payed",
	"новый": "new", "новая": "new", "создан": "new", "created": "new",
	"отменен": "cancelled", "отменена": "cancelled", "отмена": "cancelled", "canceled": "cancelled",
	"в работе": "in_work", "in work": "in_work", "обрабатывается": "in_work", "в обработке": "in_work",
	"ожидает оплаты": "payment_waiting", "ожидание оплаты": "payment_waiting", "не оплачен": "payment_waiting", "awaiting payment": "payment_waiting",
	"частично оплачен": "part_payed", "partially paid": "part_payed",
	"ожидает возврата": "waiting_for_return", "возврат": "waiting_for_return",
	"не подтвержден": "not_confirmed", "отложен": "pending", "ложный": "false",
}

var payWords = map[string]string{
	"card": "CARD", "карта": "CARD", "картой": "CARD", "банковская карта": "CARD", "cash": "CASH", "наличные": "CASH",
	"наличными": "CASH", "bank": "BILL", "счет": "BILL", "безнал": "BILL", "по счету": "BILL", "paypal": "PAYPAL",
	"yandex": "YANDEXMONEY", "юmoney": "YANDEXMONEY", "webmoney": "WEBMONEY", "сбер": "SBER", "сбербанк": "sberbank",
	"тинькофф": "tinkoff", "т-банк": "tinkoff", "рассрочка": "tinkoffcredit", "другое": "OTHER", "other": "OTHER",
}

var currencyMap = map[string]string{"руб": "RUB", "руб.": "RUB", "рубли": "RUB", "рублей": "RUB", "₽": "RUB", "р": "RUB",
	"р.": "RUB", "$": "USD", "доллар": "USD", "€": "EUR", "евро": "EUR", "тенге": "KZT", "₸": "KZT"}

// dateLayouts are tried in order on a date column's samples.
// Shorter layouts come first: a layout reads a cell that leaves its time of day out, so the
// longer one would win for date-only columns.
var dateLayouts = []string{"DD.MM.YYYY", "DD.MM.YYYY HH:mm", "DD.MM.YYYY HH:mm:ss", "YYYY-MM-DD",
	"YYYY-MM-DD HH:mm", "YYYY-MM-DD HH:mm:ss", "DD/MM/YYYY", "DD/MM/YYYY HH:mm", "DD-MM-YYYY", "YYYY.MM.DD", "YYYY/MM/DD"}

// guessed is one field the starter mapping writes.
type guessed struct {
	path    string
	columns []string // one, or several of which the first non-empty cell is used
	lines   []string // option lines under the path, already indented by four spaces
	note    string
	kind    string
	filled  int     // sample rows with a value in the column
	weight  float64 // the rule's weight: 1 for a plain match, less for a full name or a guess by values
	score   float64 // how good a source of the path: filled × weight
	order   int     // the column's position, for ties and for the output order
	byValue bool    // recognised by its values alone, not its header
}

// sampleColumn is what the sample rows say about one column.
type sampleColumn struct {
	vals   []string // the non-empty cells, trimmed
	filled int
}

// Guess writes a commented starter mapping for `gcbatch mapping init`: the target, a field for
// every column it recognises, by its header or by its values, with transforms chosen from the
// sample values, and every other column as a comment. The result loads and compiles against
// the same header as long as the header has what the target needs (an e-mail or phone column
// for users and deals).
//
// Where several columns feed one path, the best-filled wins; e-mail and phone columns are all
// kept, best-filled first, as column: [..] (CRM exports spread a contact's addresses over
// Рабочий, Личный, Другой). When both an e-mail and a phone are mapped, each gets on_error:
// skip: a row is rejected only when it has neither a readable e-mail nor a readable phone, and
// a cell left out is reported as a warning. Optional fields whose cells may not parse (a
// birthday) get on_error: skip too, so that one bad date never costs a contact.
func Guess(target Target, header []string, sample [][]string) ([]byte, error) {
	if !slices.Contains(Targets, target) {
		return nil, fmt.Errorf("unknown target %q (users, deals, messages or groups)", target)
	}
	if len(header) == 0 {
		return nil, fmt.Errorf("the CSV has no header")
	}
	column := func(i int) sampleColumn {
		var sc sampleColumn
		for _, row := range sample {
			if i < len(row) && !blank(row[i]) {
				sc.vals = append(sc.vals, strings.TrimSpace(row[i]))
				sc.filled++
			}
		}
		return sc
	}
	// A name the header has twice cannot be read (Compile refuses it), so neither copy is mapped.
	count := map[string]int{}
	for _, h := range header {
		count[looseName(h)]++
	}
	type leftOut struct{ name, why string }
	var unmapped []leftOut
	byPath := map[string][]guessed{}
	var paths []string
	for i, h := range header {
		switch {
		case strings.TrimSpace(h) == "":
			continue // an unnamed column (a trailing delimiter) has nothing to say
		case count[looseName(h)] > 1:
			unmapped = append(unmapped, leftOut{h, "the header has this name more than once: rename a copy to map it"})
			continue
		}
		g, ok := guessField(target, h, column(i))
		if !ok {
			unmapped = append(unmapped, leftOut{h, ""})
			continue
		}
		g.order = i
		if _, seen := byPath[g.path]; !seen {
			paths = append(paths, g.path)
		}
		byPath[g.path] = append(byPath[g.path], g)
	}
	var fields []guessed
	used := map[string]bool{}
	for _, p := range paths {
		cands := byPath[p]
		// Best first: the best-filled column (weighted), then the one further left.
		sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
		if slices.ContainsFunc(cands, func(g guessed) bool { return !g.byValue }) {
			// A column named for the path beats one that only holds such values (a
			// recommender's e-mail, say): those are listed for the user to decide.
			var named []guessed
			for _, c := range cands {
				if c.byValue {
					unmapped = append(unmapped, leftOut{c.columns[0], "holds " + c.kind + "s too; add it to " + p + "'s column list if they are the contact's"})
				} else {
					named = append(named, c)
				}
			}
			cands = named
		}
		best := cands[0]
		if best.kind == "email" && p != "deal.manager_email" || best.kind == "phone" {
			for _, c := range cands[1:] {
				best.columns = append(best.columns, c.columns...)
			}
			if len(cands) > 1 {
				var fill []string
				for _, c := range cands {
					fill = append(fill, strconv.Itoa(c.filled))
				}
				best.note = fmt.Sprintf("the first non-empty of these columns (filled in %s of %d sample rows)", strings.Join(fill, ", "), len(sample))
			}
		} else if p == "user.first_name" && len(cands) > 1 {
			// Имя first where it is filled, else the full name (amoCRM fills one or the other).
			sort.SliceStable(cands, func(a, b int) bool { return cands[a].weight > cands[b].weight })
			best = cands[0]
			best.note = "the first non-empty of these columns (a full name goes into the first name)"
			for _, c := range cands[1:] {
				best.columns = append(best.columns, c.columns...)
			}
			best.order = min(best.order, cands[1].order)
		} else {
			for _, c := range cands[1:] {
				unmapped = append(unmapped, leftOut{c.columns[0], "also a " + p + "; " + yamlScalar(best.columns[0]) + " is better filled"})
			}
		}
		used[p] = true
		fields = append(fields, best)
	}
	sort.SliceStable(fields, func(a, b int) bool { return fields[a].order < fields[b].order })
	// Two ways to reach a person: a cell that cannot be read leaves that way out, not the row.
	contact := map[string]bool{"user.email": true, "user.phone": true}
	bothContacts := used["user.email"] && used["user.phone"] && (target == TargetUsers || target == TargetDeals)
	for i := range fields {
		if bothContacts && contact[fields[i].path] {
			what := "a phone"
			if fields[i].path == "user.phone" {
				what = "an e-mail"
			}
			fields[i].lines = append(fields[i].lines, "on_error: skip   # a cell it cannot read is left out (a warning); the row still needs "+what+" or this")
		}
	}

	var b bytes.Buffer
	writeGuessHeader(&b, target, len(sample))
	fmt.Fprintf(&b, "target: %s\n", target)
	b.WriteString("csv:\n  delimiter: auto     # auto | \",\" | \";\" | \"\\t\" | \"|\"\n  encoding: auto      # auto | utf-8 | windows-1251\n")
	b.WriteString("fields:\n")
	for _, g := range fields {
		writeGuessed(&b, g)
	}
	switch target {
	case TargetUsers:
		if !used["user.email"] && !used["user.phone"] {
			b.WriteString("  # The service needs user.email or user.phone: map the column that holds one, e.g.\n  # user.email: {column: Почта, transform: [trim, lower, email]}\n")
		}
		b.WriteString("  # Update users that already exist (matched by e-mail) instead of leaving them as they are:\n")
		b.WriteString("  system.refresh_if_exists: {value: 1}\n")
	case TargetDeals:
		if !used["user.email"] && !used["user.phone"] {
			b.WriteString("  # The service needs user.email or user.phone: map the column that holds one, e.g.\n  # user.email: {column: Почта, transform: [trim, lower, email]}\n")
		}
		if !used["deal.deal_number"] {
			b.WriteString("  # No order-number column was found. Without deal.deal_number every upload creates new deals;\n")
			b.WriteString("  # row-hash gives each row a stable number made from its values (identical rows: one deal).\n")
			b.WriteString("  deal.deal_number: {generate: row-hash}\n")
		}
		if !used["deal.offer_id"] && !used["deal.product_title"] && !used["deal.offer_code"] {
			b.WriteString("  # A new deal needs deal.offer_id, or deal.product_title or deal.offer_code with deal.deal_cost, e.g.\n  # deal.product_title: {value: \"Курс\"}\n")
		} else if !used["deal.offer_id"] && !used["deal.deal_cost"] {
			b.WriteString("  # A new deal given by its title or offer code needs deal.deal_cost too, e.g.\n  # deal.deal_cost: {column: Сумма, transform: [money]}\n")
		}
	case TargetMessages:
		if !used["message.email"] {
			b.WriteString("  # A message needs an address: map message.email, e.g.\n  # message.email: {column: Почта, transform: [trim, lower, email]}\n")
		}
		b.WriteString("  # The mailing to send (its id from GetCourse → Рассылки); the service needs it:\n")
		b.WriteString("  # message.mailing_id: {value: 12345}\n")
		b.WriteString("  # message.transport: {value: email}   # email | sms | telegram\n")
	case TargetGroups:
		if !used["user.id"] {
			b.WriteString("  # target groups needs the user's GetCourse id:\n  # user.id: {column: id, transform: [int]}\n")
		}
		if !used["user.group_name"] {
			b.WriteString("  # ...and the groups each user keeps (all others are REMOVED):\n  # user.group_name: {column: Группы, split: \",\"}\n")
		}
	}
	if len(unmapped) > 0 {
		sort.SliceStable(unmapped, func(a, b int) bool {
			return slices.Index(header, unmapped[a].name) < slices.Index(header, unmapped[b].name)
		})
		if target == TargetGroups {
			b.WriteString("\n  # Columns left out (target groups sends only user.id and user.group_name):\n")
		} else {
			b.WriteString("\n  # Columns left out. To send one, uncomment its line and pick the target path:\n")
		}
		for _, u := range unmapped {
			why := ""
			if u.why != "" {
				why = "   # " + u.why
			}
			if target == TargetGroups {
				fmt.Fprintf(&b, "  #   %s%s\n", yamlScalar(u.name), why) // users/update takes nothing else
				continue
			}
			fmt.Fprintf(&b, "  # %s: %s%s\n", suggestPath(target, u.name), yamlScalar(u.name), why)
		}
	}
	if target == TargetUsers || target == TargetDeals {
		b.WriteString("\n# Reject rows that have neither (the service needs one of them):\n")
		var req []string
		for _, p := range []string{"user.email", "user.phone"} {
			if used[p] {
				req = append(req, p)
			}
		}
		if len(req) > 0 {
			fmt.Fprintf(&b, "require_one_of: [%s]\n", strings.Join(req, ", "))
		} else {
			b.WriteString("# require_one_of: [user.email, user.phone]\n")
		}
	}
	return b.Bytes(), nil
}

func writeGuessHeader(b *bytes.Buffer, target Target, samples int) {
	fmt.Fprintf(b, `# gcbatch mapping (target %s), guessed by "gcbatch mapping init" from the CSV header
# and %d sample rows. Read every line: these are guesses.
#
# Under fields:, each line maps a target path (what GetCourse receives) to a CSV column:
#   user.first_name: Имя                                the cell as it is
#   user.phone: {column: Телефон, transform: [phone]}   normalised (+79001234567)
#   user.email: {column: [Рабочий email, Личный email]} the first non-empty of several columns
#   user.last_name: {template: "{Фамилия} {Отчество}"}  several columns combined
#   system.refresh_if_exists: {value: 1}                a constant
#   user.addfields.Telegram: Telegram                   a custom field, by its exact name
# Options: column | value | template, default, required, transform, map, split, on_error.
# Transforms: trim, lower, upper, email, phone, money, int, bool, {date: DD.MM.YYYY HH:mm}.
# on_error: skip leaves out a cell that fails its transforms (a warning) instead of rejecting the row.
#
# Check the file and every row without sending anything, and see what would be sent:
#   gcbatch validate --mapping THIS.yaml --show 3 FILE.csv
`, target, samples)
}

// guessField recognises one column, by its header or, failing that, by its values.
func guessField(target Target, h string, sc sampleColumn) (guessed, bool) {
	name := guessName(h)
	vals := sc.vals
	g := guessed{columns: []string{h}, filled: sc.filled, score: float64(sc.filled), weight: 1}
	if target == TargetMessages {
		if r := findRule(name); r != nil && r.path == "user.email" || contactByName(name, emailWords, vals, normEmail) ||
			findRule(name) == nil && mostly(vals, normEmail) {
			g.path, g.kind, g.lines = "message.email", "email", []string{"transform: [trim, lower, email]"}
			return g, true
		}
		p := "message.params." + strings.TrimSpace(h)
		if _, ok := getSchema().lookupPath(p); !ok {
			return guessed{}, false
		}
		g.path, g.note = p, "a template variable of the mailing"
		return g, true
	}
	if strings.HasPrefix(name, "utm_") || strings.HasPrefix(name, "utm ") {
		p := "session.utm_" + strings.TrimSpace(name[4:])
		if _, ok := getSchema().fixed[p]; ok && target != TargetGroups {
			g.path = p
			return g, true
		}
		return guessed{}, false
	}
	r := findRule(name)
	switch {
	case r != nil:
	case target == TargetGroups:
		return guessed{}, false
	case contactByName(name, emailWords, vals, normEmail):
		r = &guessRules[0]
	case contactByName(name, phoneWords, vals, normPhone):
		r = &guessRules[1]
	case someoneElses(name) || idLike(name):
		return guessed{}, false
	case mostly(vals, normEmail):
		r, g.byValue, g.note = &guessRules[0], true, "recognised by its values"
	case mostly(vals, normPhone) && phoneShaped(vals):
		r, g.byValue, g.note = &guessRules[1], true, "recognised by its values"
	default:
		return guessed{}, false
	}
	switch {
	case target == TargetGroups && !r.group:
		return guessed{}, false
	case target != TargetGroups && r.path == "user.id":
		return guessed{}, false
	case r.deal && target != TargetDeals:
		return guessed{}, false
	}
	g.path, g.kind = r.path, r.kind
	if r.note != "" {
		g.note = r.note
	}
	if r.weight > 0 {
		g.weight = r.weight
	}
	if g.byValue {
		g.weight = 0.5
	}
	g.score *= g.weight
	switch r.kind {
	case "email":
		g.lines = []string{"transform: [trim, lower, email]"}
	case "phone":
		g.lines = []string{"transform: [phone]"}
	case "money":
		g.lines = []string{"transform: [money]"}
	case "int":
		g.lines = []string{"transform: [int]"}
	case "bool":
		if !allPass(vals, normBool) {
			return guessed{}, false // e.g. "Оплачено" holding an amount
		}
		g.lines = []string{"transform: [bool]"}
	case "date":
		layout, read := detectDateLayout(vals)
		if layout == "" {
			return guessed{}, false
		}
		g.lines = []string{"transform: [{date: " + yamlScalar(layout) + "}]"}
		switch {
		case r.path == "user.birthday":
			line := "on_error: skip   # a date it cannot read is left out (a warning), the contact is kept"
			if read < len(vals) {
				line = fmt.Sprintf("on_error: skip   # %d of %d sample dates do not read as %s: left out with a warning", len(vals)-read, len(vals), layout)
			}
			g.lines = append(g.lines, line)
		case read < len(vals):
			g.lines = append(g.lines, fmt.Sprintf("on_error: skip   # %d of %d sample dates do not read as %s: left out with a warning", len(vals)-read, len(vals), layout))
		}
	case "groups":
		g.lines = []string{`split: ","`}
	case "status":
		g.lines = enumMapLines(vals, getSchema().fixed[r.path].enum, statusWords, "new")
	case "paytype":
		g.lines = enumMapLines(vals, getSchema().fixed[r.path].enum, payWords, "")
	case "currency":
		g.lines = enumMapLines(vals, getSchema().fixed[r.path].enum, currencyMap, "")
	}
	return g, true
}

// contactByName reports a header that names an e-mail or phone column in words ("Email
// рабочий", "Тел. моб.") and is not someone else's; sample values, where there are any, must
// mostly read as one.
func contactByName(name string, words []string, vals []string, fn func(string) (string, string)) bool {
	hit := false
	for _, w := range words {
		hit = hit || strings.Contains(name, w)
	}
	return hit && !someoneElses(name) && (len(vals) == 0 || mostly(vals, fn))
}

// someoneElses reports a header of a column that holds someone else's contact (a manager's,
// a partner's) or something about the contact rather than the contact itself.
func someoneElses(name string) bool {
	for _, w := range notContact {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// idLike reports a header whose column holds numbers that are not phones (ids, orders,
// contracts, tax numbers), though ten of their digits would read as one. A plain "номер" is
// not enough ("Контактный номер" holds phones): phoneShaped decides those.
func idLike(name string) bool {
	for _, w := range []string{"id", "инн", "огрн", "кпп", "код", "code", "счет", "заказ", "order", "договор", "contract",
		"сумма", "дата", "артикул", "sku"} {
		if strings.Contains(name, w) && !strings.Contains(name, "телефон") && !strings.Contains(name, "phone") {
			return true
		}
	}
	return false
}

// phoneShaped reports values written as phones (a +, brackets, dashes, spaces, or an 11-digit
// 7/8 number) rather than bare numbers that happen to have ten digits.
func phoneShaped(vals []string) bool {
	shaped := 0
	for _, v := range vals {
		digits := 0
		for _, r := range v {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if strings.ContainsAny(v, "+()- ") || digits == 11 && (v[0] == '7' || v[0] == '8') {
			shaped++
		}
	}
	return shaped*2 > len(vals)
}

// mostly reports that more than half of the values (at least one) pass fn.
func mostly(vals []string, fn func(string) (string, string)) bool {
	if len(vals) == 0 {
		return false
	}
	ok := 0
	for _, v := range vals {
		if _, msg := fn(v); msg == "" {
			ok++
		}
	}
	return ok*2 > len(vals)
}

func findRule(name string) *guessRule {
	for i := range guessRules {
		if slices.Contains(guessRules[i].names, name) {
			return &guessRules[i]
		}
	}
	return nil
}

func allPass(vals []string, fn func(string) (string, string)) bool {
	for _, v := range vals {
		if _, msg := fn(v); msg != "" {
			return false
		}
	}
	return true
}

// detectDateLayout picks the layout that reads the most samples (the first such, in
// dateLayouts' order), as long as it reads most of them: one mistyped date among many must not
// cost a column that is otherwise plain. read is how many it reads. With no samples, the common
// Russian layout.
func detectDateLayout(vals []string) (layout string, read int) {
	if len(vals) == 0 {
		return "DD.MM.YYYY", 0
	}
	for _, l := range dateLayouts {
		t, _ := dateTransform(l, dateISO)
		n := 0
		for _, v := range vals {
			if _, msg := t.fn(v); msg == "" {
				n++
			}
		}
		if n > read {
			layout, read = l, n
		}
	}
	if read*2 <= len(vals) {
		return "", 0
	}
	return layout, read
}

// enumMapLines writes a map: for the distinct sample values of an enumeration column: known words
// are mapped, service codes need nothing, and unknown values are left as comments to fill in.
func enumMapLines(vals []string, e *enumInfo, words map[string]string, def string) []string {
	var known, unknown []string
	seen := map[string]bool{}
	for _, v := range vals {
		k := normKey(v)
		if seen[k] || len(seen) > 30 {
			continue
		}
		seen[k] = true
		if _, ok := e.lookup(v); ok {
			continue
		}
		if code, ok := words[k]; ok {
			known = append(known, "  "+yamlScalar(v)+": "+code)
		} else {
			unknown = append(unknown, "  # "+yamlScalar(v)+": ?   (one of "+e.list()+")")
		}
	}
	var lines []string
	if len(known)+len(unknown) > 0 {
		lines = append(lines, "map:")
		lines = append(lines, known...)
		lines = append(lines, unknown...)
		if len(known) == 0 {
			lines[0] = "# map:"
		}
	}
	if def != "" {
		lines = append(lines, "default: "+def+"   # for empty cells")
	}
	return lines
}

// suggestPath proposes a target path for a column nobody recognised.
func suggestPath(target Target, h string) string {
	name := strings.TrimSpace(h)
	if name == "" {
		name = "name"
	}
	if target == TargetMessages {
		return yamlScalar("message.params." + name)
	}
	return yamlScalar("user.addfields." + name)
}

func writeGuessed(b *bytes.Buffer, g guessed) {
	prefix := "  "
	note := ""
	if g.note != "" {
		note = "   # " + g.note
	}
	if len(g.lines) == 0 && len(g.columns) == 1 {
		fmt.Fprintf(b, "%s%s: %s%s\n", prefix, yamlScalar(g.path), yamlScalar(g.columns[0]), note)
		return
	}
	fmt.Fprintf(b, "%s%s:%s\n", prefix, yamlScalar(g.path), note)
	if len(g.columns) == 1 {
		fmt.Fprintf(b, "%s  column: %s\n", prefix, yamlScalar(g.columns[0]))
	} else {
		cols := make([]string, len(g.columns))
		for i, c := range g.columns {
			cols[i] = flowScalar(c)
		}
		fmt.Fprintf(b, "%s  column: [%s]\n", prefix, strings.Join(cols, ", "))
	}
	for _, l := range g.lines {
		fmt.Fprintf(b, "%s  %s\n", prefix, l)
	}
}

// flowScalar writes s as an item of a YAML flow list ([a, b]), where commas and brackets end a
// plain item.
func flowScalar(s string) string {
	if q := yamlScalar(s); q != s || strings.ContainsAny(s, ",[]{}") {
		return string(appendJSONString(nil, s))
	}
	return s
}

// yamlScalar writes s as a YAML scalar: plain when that is unambiguous, else double-quoted (a
// JSON string is a valid YAML double-quoted scalar).
func yamlScalar(s string) string {
	plain := s != "" && !strings.Contains(s, ": ") && !strings.Contains(s, " #") && strings.TrimSpace(s) == s
	for i, r := range s {
		if !plain {
			break
		}
		switch {
		case unicode.IsLetter(r):
		case unicode.IsDigit(r) || r == '_' || r == '.' || r == '-' || r == ' ' || r == '/' || r == '(' || r == ')':
			plain = i > 0
		default:
			plain = false
		}
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~":
		plain = false
	}
	if plain {
		return s
	}
	return string(appendJSONString(nil, s))
}
