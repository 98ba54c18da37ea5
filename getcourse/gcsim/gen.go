package gcsim

import (
	"strconv"
	"strings"
)

// Pre-seeded ("virtual") users and deals are never stored: row i is computed from the Sim's Seed
// and i whenever an export or a lookup needs it, so a million seeded users cost no memory. The
// generator is a pure function of (seed, i); the only state is the tables below, built once.
//
// Lookups work backwards from the data: a seeded e-mail ends with the row number right before
// the "@", and a seeded phone is an invertible affine function of the row number, so
// users/add can match a seeded user by e-mail or phone without any index.

// Seeded data lies in [seedSpanStart, seedSpanEnd), Moscow time, rows in id order.
const (
	seedSpanStart int64 = 1640984400 // 2022-01-01 00:00:00 MSK
	seedSpanEnd   int64 = 1735678800 // 2025-01-01 00:00:00 MSK
	mskOffset     int64 = 3 * 3600   // Moscow has had no DST since 2014
)

// Id ranges: seeded users are userIDBase+1..userIDBase+SeedUsers, API-created users follow. When
// deals are seeded without users, their users are "ghosts" (not in the users export) numbered
// from ghostUserBase.
const (
	userIDBase     int64 = 1_000_000
	ghostUserBase  int64 = 900_000_000
	dealIDBase     int64 = 5_000_000
	dealNumberBase int64 = 1000
	paymentIDBase  int64 = 7_000_000
)

// Phone numbers of seeded users: +79 followed by n = (i*phoneA + phoneB) mod 1e9.
const (
	phoneMod = 1_000_000_000
	phoneA   = 387420489 // 3^18: coprime with 10, so invertible modulo 1e9
)

var phoneAInv = modInverse(phoneA, phoneMod)

func modInverse(a, m int64) int64 {
	// Extended Euclid; a and m are coprime by construction.
	t, newT := int64(0), int64(1)
	r, newR := m, a
	for newR != 0 {
		q := r / newR
		t, newT = newT, t-q*newT
		r, newR = newR, r-q*newR
	}
	if t < 0 {
		t += m
	}
	return t
}

// mix is splitmix64's finaliser: a cheap, well-spread hash of a 64-bit value.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rnd hands out a row's successive pseudo-random numbers.
type rnd uint64

func (r *rnd) next() uint64 { *r = rnd(mix(uint64(*r))); return uint64(*r) }

// n returns a number in [0, k).
func (r *rnd) n(k int) int { return int(r.next() % uint64(k)) }

// pct reports true with probability p percent.
func (r *rnd) pct(p int) bool { return r.n(100) < p }

type name struct{ ru, lat string }

func names(list ...string) []name {
	out := make([]name, len(list))
	for i, s := range list {
		out[i] = name{s, translit(s)}
	}
	return out
}

var (
	maleFirst = names("Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья",
		"Кирилл", "Михаил", "Никита", "Матвей", "Роман", "Егор", "Иван", "Павел", "Денис", "Олег",
		"Владимир", "Тимур", "Руслан", "Евгений", "Юрий", "Григорий")
	femaleFirst = names("Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Екатерина",
		"Светлана", "Юлия", "Анастасия", "Дарья", "Ксения", "Алина", "Полина", "Виктория", "Софья",
		"Марина", "Людмила", "Валерия", "Алёна", "Вера", "Надежда", "Кристина")
	// Surnames in the masculine form; feminine() derives the other.
	lastNames = names("Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов",
		"Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов",
		"Егоров", "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
		"Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
		"Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв", "Гусев", "Киселёв",
		"Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев",
		"Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев",
		"Герасимов", "Богданов", "Осипов", "Сидоров", "Матвеев", "Титов", "Марков", "Миронов",
		"Крылов", "Куликов", "Карпов", "Власов", "Мельников", "Денисов", "Гаврилов", "Тихонов",
		"Казаков", "Афанасьев", "Данилов", "Савельев", "Тимофеев", "Фомин", "Чернов", "Абрамов",
		"Мартынов", "Ефимов", "Федотов", "Щербаков", "Назаров", "Калинин", "Исаев", "Чернышёв",
		"Быков", "Маслов", "Родионов", "Коновалов", "Лазарев", "Воронин", "Климов", "Филатов",
		"Пономарёв", "Голубев", "Кудрявцев", "Прохоров", "Наумов", "Потапов", "Журавлёв", "Овчинников",
		"Трофимов", "Леонов", "Соболев", "Ермаков", "Колесников", "Гончаров", "Емельянов", "Никифоров",
		"Грачёв", "Котов", "Гришин", "Ефремов", "Архипов", "Громов", "Кириллов", "Малышев", "Панов",
		"Моисеев", "Румянцев", "Акимов", "Кондратьев", "Бирюков", "Горбунов", "Анисимов", "Ерёмин",
		"Тихомиров", "Галкин", "Лукьянов", "Михеев", "Скворцов", "Юдин", "Белоусов", "Нестеров",
		"Симонов", "Прокофьев", "Харитонов", "Князев", "Цветков", "Левин", "Митрофанов", "Воронов",
		"Аксёнов", "Софронов", "Мальцев", "Логинов", "Горшков", "Савин", "Краснов", "Майоров",
		"Демидов", "Елисеев", "Рыбаков", "Сафонов", "Плотников", "Дёмин", "Хохлов", "Жданов",
		"Римский-Корсаков", "Муравьёв-Апостол", "Шевченко", "Ковальчук", "Бондаренко")
	emailDomains = []string{"mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru",
		"rambler.ru", "ya.ru", "icloud.com", "outlook.com"}

	// Weighted by repetition: most users come from the big cities.
	ruCities = []string{"Москва", "Москва", "Москва", "Москва", "Санкт-Петербург", "Санкт-Петербург",
		"Новосибирск", "Екатеринбург", "Казань", "Нижний Новгород", "Челябинск", "Самара", "Омск",
		"Ростов-на-Дону", "Уфа", "Красноярск", "Воронеж", "Пермь", "Волгоград", "Краснодар", "Тюмень",
		"Сочи", "Калининград", "Владивосток", "Иркутск", "Ярославль", "Петропавловск-Камчатский"}
	kzCities = []string{"Алматы", "Астана", "Шымкент", "Караганда"}
	byCities = []string{"Минск", "Гомель", "Брест"}

	regTypes = []string{"Самостоятельно", "Самостоятельно", "Самостоятельно", "Импорт",
		"Через заказ", "Через заказ", "Добавлен администратором", "Через форму «Вебинар»"}
	referers = []string{"https://vk.com/", "https://www.google.com/", "https://yandex.ru/",
		"https://t.me/smm_school", "https://www.youtube.com/", "https://school.example.ru/landing?from=blog&id=7"}
	utmSources   = []string{"vk", "yandex", "google", "telegram", "email", "youtube"}
	utmMediums   = []string{"cpc", "social", "email", "referral", "organic"}
	utmCampaigns = []string{"summer_sale", "black_friday", "webinar_2024", "марафон-апрель", "retarget"}
	utmContents  = []string{"banner_1", "stories", "post, закреп", "video"}
	utmTerms     = []string{"курс smm", "обучение smm, онлайн", "таргетолог"}
	utmGroups    = []string{"lookalike", "интересы", "ретаргет"}
	managers     = []string{"Ольга Менеджерова", "Игорь Продажин", "Светлана Звонкова", "Антон Клиентов"}
	sources      = []string{`Реклама "ВКонтакте"`, "Сарафанное радио", "Вебинар; запись", "Instagram, сторис",
		"Поиск Яндекс", `Форма\Лендинг`, "Рассылка"}
	promoCodes = []string{"SUMMER2024", "BF-50", "WELCOME10", "ДРУГ500"}
	addresses  = []string{"г. Москва, ул. Тверская, д. 7, кв. 12", "Санкт-Петербург\nНевский пр., 28",
		`ЖК "Алые паруса", корп. 2`, "Казань; ул. Баумана, 44", "пункт выдачи СДЭК №1542"}

	// Deals.
	products = []struct {
		title string
		price int64 // roubles
	}{
		{"Курс «SMM с нуля»", 9990}, {`Тренинг "Продажи в соцсетях"`, 14900},
		{"Марафон стройности, 21 день", 2990}, {"VIP-наставничество", 149000},
		{"Вебинар: запись", 990}, {"Мастер-класс; продвинутый уровень", 4990},
		{"Годовая подписка", 29990}, {"Консультация 1:1", 12000}, {"Интенсив по таргету", 49000},
		{"Клуб «Практики»\nежемесячный доступ", 1490},
	}
	// Deal statuses with their weights (percent) and the Russian label the export shows.
	dealStatusTable = weighted([]weightedCode{
		{"payed", 45}, {"new", 15}, {"cancelled", 12}, {"payment_waiting", 10}, {"in_work", 6},
		{"part_payed", 5}, {"false", 2}, {"not_confirmed", 2}, {"pending", 2}, {"waiting_for_return", 1}})
	dealStatusLabel = map[string]string{
		"new": "Новый", "payed": "Завершен", "cancelled": "Отменен", "false": "Ложный",
		"in_work": "В работе", "payment_waiting": "Ожидаем оплаты", "part_payed": "Частично оплачен",
		"waiting_for_return": "Ожидаем возврата", "not_confirmed": "Не подтвержден", "pending": "Отложен"}
	userStatusTable = weighted([]weightedCode{
		{"active", 88}, {"in_base", 5}, {"invited", 3}, {"deactivated", 2}, {"banned", 2}})
	paymentStatusTable = weighted([]weightedCode{{"accepted", 93}, {"returned", 5}, {"returned_to_balance", 2}})
	paymentStatusLabel = map[string]string{
		"expected": "Ожидается", "accepted": "Получен", "returned": "Возвращен",
		"tobalance": "Зачислен на баланс", "frombalance": "Оплачен с баланса",
		"returned_to_balance": "Возвращен на баланс"}
	paySystems = []struct{ code, label string }{
		{"cloud_payments", "CloudPayments"}, {"yandex_kassa", "ЮKassa"}, {"tinkoff", "Тинькофф"},
		{"prodamus", "Prodamus"}, {"ROBOKASSA", "Robokassa"}, {"CARD", "Банковская карта"},
		{"BILL", "Счёт (безнал)"}}
	dealComments = []string{"Перезвонить после 18:00,\nуточнить адрес", `Клиент просит "рассрочку"`,
		"Оплата по безналу; счёт выслан", "VIP, не беспокоить по выходным"}
	dealTags  = []string{"вебинар, холодный трафик", "повторная покупка", "рассрочка; банк"}
	promoActs = []string{"Летняя распродажа", "Чёрная пятница", "Приведи друга"}
	// Currencies other than RUB with their rate in kopecks per unit.
	foreign = []struct {
		code string
		rate int64
	}{{"USD", 9000}, {"EUR", 9800}, {"KZT", 19}}
)

type weightedCode struct {
	code string
	pct  int
}

// weighted expands a weight table into 100 slots so that a pick is one index.
func weighted(ws []weightedCode) []string {
	out := make([]string, 0, 100)
	for _, w := range ws {
		for range w.pct {
			out = append(out, w.code)
		}
	}
	if len(out) != 100 {
		panic("gcsim: weights must add up to 100")
	}
	return out
}

var translitTable = map[rune]string{'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e",
	'ж': "zh", 'з': "z", 'и': "i", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o", 'п': "p",
	'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts", 'ч': "ch", 'ш': "sh",
	'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "", 'э': "e", 'ю': "yu", 'я': "ya", '-': "-"}

func translit(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		b.WriteString(translitTable[r])
	}
	return b.String()
}

// feminine turns a masculine surname into the feminine one (Иванов → Иванова, Ильин → Ильина);
// Ukrainian -ко and -ук surnames do not change.
func feminine(n name) name {
	switch {
	case strings.HasSuffix(n.ru, "ов"), strings.HasSuffix(n.ru, "ев"), strings.HasSuffix(n.ru, "ёв"),
		strings.HasSuffix(n.ru, "ин"), strings.HasSuffix(n.ru, "ын"):
		return name{n.ru + "а", n.lat + "a"}
	}
	return n
}

var femaleLast = func() []name {
	out := make([]name, len(lastNames))
	for i, n := range lastNames {
		// Double-barrelled names change both parts; only the last part matters for our list.
		if a, b, ok := strings.Cut(n.ru, "-"); ok {
			fa, fb := feminine(name{a, translit(a)}), feminine(name{b, translit(b)})
			out[i] = name{fa.ru + "-" + fb.ru, fa.lat + "-" + fb.lat}
			continue
		}
		out[i] = feminine(n)
	}
	return out
}()

// seededGroups are the account's groups at start, with the share of seeded users in each.
var seededGroups = []struct {
	name     string
	permille uint64
}{{"Тренинг SMM", 150}, {"VIP Студенты", 30}, {"Клиенты", 400}, {"Рассылка", 600}, {"Марафон", 100}}

// accountField is one custom field of the account.
type accountField struct {
	id     int64
	name   string
	typ    string
	object string // user | deal
}

// The account's custom fields. Their order is the order of the export columns.
var (
	userFields = []accountField{{1, "Telegram", "text", "user"}, {2, "Источник", "select", "user"},
		{3, "Промокод", "text", "user"}, {4, "Город доставки", "textarea", "user"}}
	dealFields = []accountField{{5, "Комментарий менеджера", "textarea", "deal"}, {6, "Трек-номер", "text", "deal"}}
)

const nUserFields, nDealFields = 4, 2

// userView is one user as an export row sees it: a seeded row, or a stored user flattened.
type userView struct {
	id                                       int64
	email, phone, first, last, city, country string
	birthday                                 string // YYYY-MM-DD or ""
	status, regType, referer                 string
	partnerID, partnerEmail, partnerName     string
	manager, vkID                            string
	created, lastActive                      int64 // unix seconds, 0 = none
	utm                                      [6]string
	fields                                   [nUserFields]string
	groups                                   []membership
}

type membership struct {
	gid int64
	at  int64 // unix seconds
}

func (v *userView) memberOf(gid int64) (int64, bool) {
	for _, m := range v.groups {
		if m.gid == gid {
			return m.at, true
		}
	}
	return 0, false
}

// gen computes seeded rows.
type gen struct {
	seed         uint64
	users, deals int64
	phoneB       int64
	ghostUsers   int64  // deal users when no users are seeded
	emailScratch []byte // reused between rows: a gen belongs to one goroutine (see clone)
}

// clone returns a gen that shares nothing mutable with g, for another goroutine.
func (g *gen) clone() gen {
	c := *g
	c.emailScratch = nil
	return c
}

func newGen(seed int64, users, deals int) gen {
	g := gen{seed: mix(uint64(seed) ^ 0x6763736d), users: int64(users), deals: int64(deals)}
	g.phoneB = int64(mix(g.seed^0x70686f6e) % phoneMod)
	if g.users == 0 && g.deals > 0 {
		g.ghostUsers = max(1, g.deals/2)
	}
	return g
}

func (g *gen) userRnd(i int64) rnd {
	return rnd(mix(g.seed ^ 0x75736572 ^ uint64(i)*0x9E3779B97F4A7C15))
}
func (g *gen) dealRnd(i int64) rnd {
	return rnd(mix(g.seed ^ 0x6465616c ^ uint64(i)*0xD1B54A32D192ED03))
}

// spread places row i of n in the seeded time span, in order, with jitter inside its slot.
func spread(i, n int64, r *rnd) int64 {
	span := seedSpanEnd - seedSpanStart
	lo := seedSpanStart + (i-1)*span/n
	hi := seedSpanStart + i*span/n
	if hi <= lo {
		return lo
	}
	return lo + int64(r.next()%uint64(hi-lo))
}

func pick[T any](r *rnd, list []T) T { return list[r.n(len(list))] }

// seededPhone is the phone of seeded row i ("+79" and nine digits).
func (g *gen) seededPhone(i int64) string {
	n := (i%phoneMod*phoneA + g.phoneB) % phoneMod
	var b [12]byte
	copy(b[:], "+79")
	for k := 11; k >= 3; k-- {
		b[k] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

// phoneIndex is seededPhone's inverse on a normalised phone ("79XXXXXXXXX"); 0 if none.
func (g *gen) phoneIndex(key string, n int64) int64 {
	if len(key) != 11 || key[0] != '7' || key[1] != '9' {
		return 0
	}
	v, err := strconv.ParseInt(key[2:], 10, 64)
	if err != nil {
		return 0
	}
	i := ((v-g.phoneB)%phoneMod + phoneMod) % phoneMod * phoneAInv % phoneMod
	if i < 1 || i > n {
		return 0
	}
	return i
}

// emailIndex reads the row number a seeded e-mail carries before its "@"; 0 if none.
func emailIndex(email string) int64 {
	at := strings.IndexByte(email, '@')
	j := at
	for j > 0 && email[j-1] >= '0' && email[j-1] <= '9' {
		j--
	}
	if j == at || at-j > 12 {
		return 0
	}
	n, _ := strconv.ParseInt(email[j:at], 10, 64)
	return n
}

// user fills v with seeded user i (1-based). id is the id the row carries.
func (g *gen) user(i, id int64, v *userView, n int64) {
	r := g.userRnd(i)
	groups := v.groups[:0]
	*v = userView{id: id}
	female := r.next()&1 == 1
	var first, last name
	if female {
		first, last = pick(&r, femaleFirst), pick(&r, femaleLast)
	} else {
		first, last = pick(&r, maleFirst), pick(&r, lastNames)
	}
	v.first, v.last = first.ru, last.ru
	v.created = spread(i, n, &r)

	// Contact: 3% have only a phone, 10% only an e-mail.
	contact := r.n(100)
	if contact >= 3 {
		b := g.emailScratch[:0]
		switch r.n(4) {
		case 0:
			b = append(append(append(b, last.lat...), '_'), first.lat...)
		case 1:
			b = append(append(append(b, first.lat[0]), '.'), last.lat...)
		default:
			b = append(append(append(b, first.lat...), '.'), last.lat...)
		}
		b = strconv.AppendInt(b, i, 10)
		b = append(append(b, '@'), pick(&r, emailDomains)...)
		g.emailScratch = b
		v.email = string(b)
	}
	if contact < 3 || contact >= 13 {
		v.phone = g.seededPhone(i)
	}
	switch c := r.n(100); {
	case c < 84:
		v.country, v.city = "Россия", pick(&r, ruCities)
	case c < 89:
		v.country, v.city = "Казахстан", pick(&r, kzCities)
	case c < 93:
		v.country, v.city = "Беларусь", pick(&r, byCities)
	}
	if r.pct(60) {
		y := 1958 + r.n(48)
		m, d := 1+r.n(12), 1+r.n(28)
		v.birthday = string(appendDate(nil, y, m, d))
	}
	v.status = userStatusTable[r.n(100)]
	v.regType = pick(&r, regTypes)
	if r.pct(80) {
		v.lastActive = v.created + int64(r.next()%uint64(seedSpanEnd-v.created))
	}
	if r.pct(50) {
		v.referer = pick(&r, referers)
	}
	if r.pct(8) {
		p := 1 + int64(r.next()%uint64(max(n, 1)))
		v.partnerID = strconv.FormatInt(userIDBase+p, 10)
		pf := pick(&r, maleFirst)
		pl := pick(&r, lastNames)
		v.partnerEmail = "partner." + pl.lat + "@" + pick(&r, emailDomains)
		v.partnerName = pf.ru + " " + pl.ru
	}
	if r.pct(15) {
		v.manager = pick(&r, managers)
	}
	if r.pct(20) {
		v.vkID = strconv.FormatUint(1_000_000+r.next()%700_000_000, 10)
	}
	if r.pct(40) {
		v.utm[0], v.utm[1], v.utm[2] = pick(&r, utmSources), pick(&r, utmMediums), pick(&r, utmCampaigns)
		if r.pct(30) {
			v.utm[3] = pick(&r, utmContents)
		}
		if r.pct(20) {
			v.utm[4] = pick(&r, utmTerms)
		}
		if r.pct(10) {
			v.utm[5] = pick(&r, utmGroups)
		}
	}
	if r.pct(30) {
		v.fields[0] = "@" + first.lat + "_" + strconv.Itoa(r.n(1000))
	}
	if r.pct(50) {
		v.fields[1] = pick(&r, sources)
	}
	if r.pct(10) {
		v.fields[2] = pick(&r, promoCodes)
	}
	if r.pct(15) {
		v.fields[3] = pick(&r, addresses)
	}
	gr := r.next()
	for k, sg := range seededGroups {
		if (gr>>(k*10))%1000 < sg.permille {
			at := v.created + int64(r.next()%(30*86400))
			groups = append(groups, membership{gid: int64(k + 1), at: min(at, seedSpanEnd-1)})
		}
	}
	v.groups = groups
}

// userEmail is seeded user i's e-mail ("" for a phone-only user).
func (g *gen) userEmail(i int64, v *userView) string {
	g.user(i, 0, v, g.users)
	return v.email
}

// dealView is one deal as an export row sees it.
type dealView struct {
	id                             int64
	number                         string
	userID                         int64
	userName, email, phone, city   string
	created, payed, finished       int64
	statusChanged                  int64
	title, status                  string
	cost, paid, rub                int64 // kopecks; rub = cost in roubles' kopecks
	currency                       string
	manager, paySystem, paySysCode string
	partnerID, promo, promoAct     string
	fields                         [nDealFields]string
	utm                            [6]string
	tags                           string
	paymentStatus                  string
	nbsp                           bool // money written with NBSP thousands separators
}

// deal fills d with seeded deal j; u is scratch space for its user.
func (g *gen) deal(j int64, d *dealView, u *userView) {
	r := g.dealRnd(j)
	*d = dealView{id: dealIDBase + j, number: strconv.FormatInt(dealNumberBase+j, 10)}
	if g.users > 0 {
		idx := 1 + int64(r.next()%uint64(g.users))
		d.userID = userIDBase + idx
		g.user(idx, d.userID, u, g.users)
	} else {
		idx := 1 + int64(r.next()%uint64(max(g.ghostUsers, 1)))
		d.userID = ghostUserBase + idx
		g.user(idx, d.userID, u, max(g.ghostUsers, 1))
	}
	d.userName, d.email, d.phone, d.city = u.first+" "+u.last, u.email, u.phone, u.city
	d.created = spread(j, g.deals, &r)
	p := pick(&r, products)
	d.title = p.title
	qty := int64(1)
	if r.pct(5) {
		qty = 2 + int64(r.n(3))
	}
	d.status = dealStatusTable[r.n(100)]
	d.currency = "RUB"
	rate := int64(100)
	d.cost = p.price * 100 * qty
	if r.pct(6) {
		f := pick(&r, foreign)
		d.currency, rate = f.code, f.rate
		d.cost = max(100, p.price*100*qty*100/rate) // the same price in the foreign currency
	}
	d.rub = d.cost * rate / 100
	switch d.status {
	case "payed":
		d.paid = d.cost
	case "part_payed":
		d.paid = d.cost * int64(30+r.n(41)) / 100
	}
	d.statusChanged = d.created + int64(r.n(5*86400))
	if d.paid > 0 {
		d.payed = d.created + int64(r.n(3*86400))
		ps := pick(&r, paySystems)
		d.paySystem, d.paySysCode = ps.label, ps.code
		d.paymentStatus = paymentStatusTable[r.n(100)]
	}
	if d.status == "payed" || d.status == "cancelled" || d.status == "false" {
		d.finished = d.statusChanged
	}
	if r.pct(30) {
		d.manager = pick(&r, managers)
	}
	if r.pct(8) {
		d.partnerID = strconv.FormatInt(userIDBase+1+int64(r.n(int(max(g.users, 1)))), 10)
	}
	if r.pct(15) {
		d.promo, d.promoAct = pick(&r, promoCodes), pick(&r, promoActs)
	}
	if r.pct(20) {
		d.fields[0] = pick(&r, dealComments)
	}
	if r.pct(10) {
		d.fields[1] = "RA" + strconv.Itoa(100000000+r.n(900000000)) + "RU"
	}
	if r.pct(35) {
		d.utm[0], d.utm[1], d.utm[2] = pick(&r, utmSources), pick(&r, utmMediums), pick(&r, utmCampaigns)
	}
	if r.pct(20) {
		d.tags = pick(&r, dealTags)
	}
	d.nbsp = r.pct(30)
}

// ---- formatting ----

// civil converts days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm); far
// cheaper than time.Time for a million rows.
func civil(days int64) (y, m, d int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	yy := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dd := doy - (153*mp+2)/5 + 1
	mm := mp + 3
	if mm > 12 {
		mm -= 12
	}
	if mm <= 2 {
		yy++
	}
	return int(yy), int(mm), int(dd)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func appendDate(b []byte, y, m, d int) []byte {
	b = append2(append2(b, y/100), y%100)
	b = append2(append(b, '-'), m)
	return append2(append(b, '-'), d)
}

// appendDateTime writes unix seconds as "YYYY-MM-DD HH:MM:SS", Moscow time.
func appendDateTime(b []byte, unix int64) []byte {
	t := unix + mskOffset
	days := floorDiv(t, 86400)
	secs := int(t - days*86400)
	y, m, d := civil(days)
	b = appendDate(b, y, m, d)
	b = append2(append(b, ' '), secs/3600)
	b = append2(append(b, ':'), secs/60%60)
	return append2(append(b, ':'), secs%60)
}

// appendMoney writes kopecks the Russian way: "12 000,00", with NBSP groups when nbsp is set.
func appendMoney(b []byte, k int64, nbsp bool) []byte {
	if k < 0 {
		b = append(b, '-')
		k = -k
	}
	rub := k / 100
	var digits [20]byte
	s := strconv.AppendInt(digits[:0], rub, 10)
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			if nbsp {
				b = append(b, 0xC2, 0xA0)
			} else {
				b = append(b, ' ')
			}
		}
		b = append(b, c)
	}
	return append2(append(b, ','), int(k%100))
}
