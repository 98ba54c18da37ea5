package mappings

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// guessRule recognises a column by its header and says which target path it feeds.
type guessRule struct {
	names []string // normalised header names (see guessName)
	path  string   // for users and deals; "" when not mapped there
	deal  bool     // only for target deals
	group bool     // also for target groups
	kind  string   // email, phone, money, date, bool, int, groups, status, paytype, currency
	note  string   // a comment written beside the field
}

var guessRules = []guessRule{
	{names: []string{"email", "e-mail", "почта", "эл. почта", "эл.почта", "электронная почта", "емейл", "имейл", "e-mail адрес",
		"адрес электронной почты", "mail", "email address", "e-mail address"}, path: "user.email", kind: "email"},
	{names: []string{"телефон", "phone", "тел", "тел.", "мобильный", "мобильный телефон", "номер телефона", "phone number", "mobile", "сотовый"},
		path: "user.phone", kind: "phone"},
	{names: []string{"имя", "first name", "firstname", "name", "given name"}, path: "user.first_name"},
	{names: []string{"фамилия", "last name", "lastname", "surname", "family name"}, path: "user.last_name"},
	{names: []string{"отчество", "middle name", "middlename", "patronymic"}, path: "user.middle_name"},
	{names: []string{"фио", "full name", "fullname", "полное имя", "клиент", "покупатель", "пользователь"}, path: "user.first_name",
		note: "the full name goes into the first name"},
	{names: []string{"город", "city"}, path: "user.city"},
	{names: []string{"страна", "country"}, path: "user.country"},
	{names: []string{"дата рождения", "день рождения", "др", "birthday", "birth date", "birthdate", "date of birth", "dob"},
		path: "user.birthday", kind: "date"},
	{names: []string{"группы", "группа", "groups", "group", "группы пользователя"}, path: "user.group_name", kind: "groups", group: true},
	{names: []string{"id", "user id", "userid", "id пользователя", "user_id"}, path: "user.id", kind: "int", group: true},
	{names: []string{"номер заказа", "номер", "order", "order number", "order id", "orderid", "order no", "номер сделки",
		"deal number", "№ заказа", "№", "заказ"}, path: "deal.deal_number", deal: true},
	{names: []string{"сумма", "стоимость", "cost", "amount", "price", "цена", "total", "итого", "сумма заказа", "к оплате"},
		path: "deal.deal_cost", deal: true, kind: "money"},
	{names: []string{"статус", "status", "статус заказа", "order status"}, path: "deal.deal_status", deal: true, kind: "status"},
	{names: []string{"оплачен", "оплачено", "paid", "is paid", "оплата"}, path: "deal.deal_is_paid", deal: true, kind: "bool"},
	{names: []string{"дата", "дата заказа", "дата создания", "создан", "created", "created at", "date", "order date"},
		path: "deal.deal_created_at", deal: true, kind: "date"},
	{names: []string{"дата оплаты", "дата завершения", "paid at", "payment date", "finished at"},
		path: "deal.deal_finished_at", deal: true, kind: "date"},
	{names: []string{"товар", "продукт", "product", "название", "title", "наименование", "курс", "тариф", "product title"},
		path: "deal.product_title", deal: true},
	{names: []string{"описание", "description"}, path: "deal.product_description", deal: true},
	{names: []string{"код предложения", "offer code", "offer_code", "артикул", "sku"}, path: "deal.offer_code", deal: true},
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

// guessName normalises a header for matching: case, ё, surrounding spaces, a BOM and underscores
// do not matter.
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
	path, column string
	lines        []string // option lines under the path, already indented by four spaces
	note         string
	commented    bool
}

// Guess writes a commented starter mapping for `gcbatch mapping init`: the target, a field for
// every column whose header it recognises (with transforms chosen from the sample values), and
// every other column as a comment. The result loads and compiles against the same header as long
// as the header has what the target needs (an e-mail or phone column for users and deals).
func Guess(target Target, header []string, sample [][]string) ([]byte, error) {
	if !slices.Contains(Targets, target) {
		return nil, fmt.Errorf("unknown target %q (users, deals, messages or groups)", target)
	}
	if len(header) == 0 {
		return nil, fmt.Errorf("the CSV has no header")
	}
	column := func(i int) []string {
		var vals []string
		for _, row := range sample {
			if i < len(row) && !blank(row[i]) {
				vals = append(vals, strings.TrimSpace(row[i]))
			}
		}
		return vals
	}
	var fields []guessed
	var unmapped []string
	used := map[string]bool{}
	seenCol := map[string]bool{}
	for i, h := range header {
		if seenCol[h] || strings.TrimSpace(h) == "" {
			unmapped = append(unmapped, h)
			continue
		}
		seenCol[h] = true
		g, ok := guessField(target, h, column(i))
		if !ok || used[g.path] {
			unmapped = append(unmapped, h)
			continue
		}
		used[g.path] = true
		fields = append(fields, g)
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
		if !used["deal.product_title"] && !used["deal.offer_code"] {
			b.WriteString("  # A deal needs a product: map deal.product_title or deal.offer_code (or deal.offer_id), e.g.\n  # deal.product_title: {value: \"Курс\"}\n")
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
		if target == TargetGroups {
			b.WriteString("\n  # Columns left out (target groups sends only user.id and user.group_name):\n")
		} else {
			b.WriteString("\n  # Columns left out. To send one, uncomment its line and pick the target path:\n")
		}
		for _, h := range unmapped {
			if target == TargetGroups {
				fmt.Fprintf(&b, "  #   %s\n", yamlScalar(h)) // users/update takes nothing else
				continue
			}
			fmt.Fprintf(&b, "  # %s: %s\n", suggestPath(target, h), yamlScalar(h))
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
#   user.last_name: {template: "{Фамилия} {Отчество}"}  several columns combined
#   system.refresh_if_exists: {value: 1}                a constant
#   user.addfields.Telegram: Telegram                   a custom field, by its exact name
# Options: column | value | template, default, required, transform, map, split.
# Transforms: trim, lower, upper, email, phone, money, int, bool, {date: DD.MM.YYYY HH:mm}.
#
# Check the file and every row without sending anything, and see what would be sent:
#   gcbatch validate --mapping THIS.yaml --show 3 FILE.csv
`, target, samples)
}

// guessField recognises one column.
func guessField(target Target, h string, vals []string) (guessed, bool) {
	name := guessName(h)
	if target == TargetMessages {
		if r := findRule(name); r != nil && r.kind == "email" && r.path == "user.email" {
			return guessed{path: "message.email", column: h, lines: []string{"transform: [trim, lower, email]"}}, true
		}
		p := "message.params." + strings.TrimSpace(h)
		if _, ok := getSchema().lookupPath(p); !ok {
			return guessed{}, false
		}
		return guessed{path: p, column: h, note: "a template variable of the mailing"}, true
	}
	if strings.HasPrefix(name, "utm_") || strings.HasPrefix(name, "utm ") {
		p := "session.utm_" + strings.TrimSpace(name[4:])
		if _, ok := getSchema().fixed[p]; ok && target != TargetGroups {
			return guessed{path: p, column: h}, true
		}
		return guessed{}, false
	}
	r := findRule(name)
	if r == nil {
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
	g := guessed{path: r.path, column: h, note: r.note}
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
		layout := detectDateLayout(vals)
		if layout == "" {
			return guessed{}, false
		}
		g.lines = []string{"transform: [{date: " + yamlScalar(layout) + "}]"}
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

// detectDateLayout picks the first layout that reads every sample; with no samples, the common
// Russian one.
func detectDateLayout(vals []string) string {
	if len(vals) == 0 {
		return "DD.MM.YYYY"
	}
	for _, l := range dateLayouts {
		t, _ := dateTransform(l, dateISO)
		if allPass(vals, t.fn) {
			return l
		}
	}
	return ""
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
	if len(g.lines) == 0 {
		fmt.Fprintf(b, "%s%s: %s%s\n", prefix, yamlScalar(g.path), yamlScalar(g.column), note)
		return
	}
	fmt.Fprintf(b, "%s%s:%s\n", prefix, yamlScalar(g.path), note)
	fmt.Fprintf(b, "%s  column: %s\n", prefix, yamlScalar(g.column))
	for _, l := range g.lines {
		fmt.Fprintf(b, "%s  %s\n", prefix, l)
	}
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
