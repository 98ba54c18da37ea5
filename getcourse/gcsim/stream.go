package gcsim

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The ready answer of an export is written row by row into a buffered writer: seeded rows are
// generated as they are written and stored rows come from a snapshot of pointers, so a
// million-row export needs no more memory than one row.

var userColumns = []string{"id", "Email", "Тип регистрации", "Создан", "Последняя активность", "Имя",
	"Фамилия", "Телефон", "Дата рождения", "Возраст", "Страна", "Город", "Откуда пришел", "От партнера",
	"ID партнера", "Email партнера", "ФИО партнера", "ФИО менеджера", "VK-ID", "utm_source", "utm_medium",
	"utm_campaign", "utm_content", "utm_term", "utm_group"}

// Columns only the group-members export has, after the user columns and custom fields.
var groupUserColumns = []string{"Статус", "Добавлен в группу"}

// The deal columns; "Стоимость, RUB" is one title (a comma inside a title is what the service
// really sends, and a good test of CSV quoting).
var dealColumnsHead = []string{"ID заказа", "Номер", "ID пользователя", "Пользователь", "Email", "Телефон",
	"Дата создания", "Дата оплаты", "Title", "Статус", "Стоимость, RUB", "Оплачено",
	"Комиссия платежной системы", "Получено", "Налог",
	"Осталось после вычета комиссии платежной системы и налога", "Другие комиссии", "Заработано", "Валюта",
	"Менеджер", "Город", "Платежная система", "ID партнера", "Использован промокод", "Промоакция"}
var dealColumnsTail = []string{"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
	"utm_group", "Теги"}

var paymentColumns = []string{"Номер", "Пользователь", "Email", "Заказ", "Дата создания", "Тип", "Статус",
	"Сумма", "Комиссии", "Получено", "Код платежа", "Название предложения", "Дата изменения статуса"}

var userStatusLabel = map[string]string{"active": "Активен", "in_base": "В базе", "invited": "Приглашен",
	"deactivated": "Деактивирован", "banned": "Заблокирован"}

// exportWriter writes one export's answer.
type exportWriter struct {
	rw      rowWriter
	e       *export
	sn      *snap
	nowY    int
	nowMD   int // month*100+day, for ages
	groups  map[int64]string
	u, du   userView
	d       dealView
	stopped bool
}

func (s *Sim) writeExport(w *bufio.Writer, e *export, sn *snap, now time.Time) {
	t := now.In(msk)
	x := &exportWriter{rw: rowWriter{w: w, ascii: s.cfg.EscapeUnicode, numbers: s.cfg.NumericItems}, e: e, sn: sn, nowY: t.Year(),
		nowMD: int(t.Month())*100 + t.Day(), groups: map[int64]string{}}
	for _, g := range sn.groups {
		x.groups[g.id] = g.name
	}
	if s.seedShape {
		w.WriteString(`{"success":"true","info":{"fields":[`)
	} else {
		w.WriteString(`{"success":true,"info":{"fields":[`)
	}
	var cols []string
	switch e.object {
	case "users", "group_users":
		cols = append(cols, userColumns...)
		for _, f := range userFields {
			cols = append(cols, f.name)
		}
		for _, gid := range e.groupCol {
			cols = append(cols, x.groups[gid])
		}
		if e.object == "group_users" {
			cols = append(cols, groupUserColumns...)
		}
	case "deals":
		cols = append(cols, dealColumnsHead...)
		for _, f := range dealFields {
			cols = append(cols, f.name)
		}
		cols = append(cols, dealColumnsTail...)
	case "payments":
		cols = paymentColumns
	}
	var b []byte
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c, s.cfg.EscapeUnicode)
	}
	w.Write(b)
	w.WriteString(`],"items":[`)
	switch e.object {
	case "users", "group_users":
		x.users()
	case "deals", "payments":
		x.deals()
	}
	w.WriteString("]}}")
}

// alive reports whether the client is still reading; checked every few thousand rows so that a
// client that gave up does not keep a million rows being generated.
func (x *exportWriter) alive(i int64) bool {
	if x.stopped {
		return false
	}
	if i&4095 == 0 {
		if _, err := x.rw.w.Write(nil); err != nil {
			x.stopped = true
		}
	}
	return !x.stopped
}

func (x *exportWriter) users() {
	g := &x.sn.gen
	v := &x.u
	for i := int64(1); i <= g.users; i++ {
		if !x.alive(i) {
			return
		}
		if u := x.sn.userOverrides[i]; u != nil {
			viewOfUser(u, v)
		} else {
			g.user(i, userIDBase+i, v, g.users)
		}
		x.userRow(v)
	}
	for k, u := range x.sn.users {
		if !x.alive(int64(k)) {
			return
		}
		viewOfUser(u, v)
		x.userRow(v)
	}
}

func viewOfUser(u *User, v *userView) {
	groups := v.groups[:0]
	*v = userView{id: u.ID, email: u.Email, phone: u.Phone, first: u.FirstName, last: u.LastName,
		city: u.City, country: u.Country, status: u.Status, regType: u.regType, referer: u.referer,
		vkID: u.vkID, created: u.CreatedAt.Unix(), lastActive: u.lastActive, partnerEmail: u.PartnerEmail}
	if v.lastActive == 0 {
		v.lastActive = v.created
	}
	if b := u.Birthday; len(b) == 10 && b[2] == '.' && b[5] == '.' {
		v.birthday = b[6:10] + "-" + b[3:5] + "-" + b[0:2]
	} else {
		v.birthday = b
	}
	for k, f := range userFields {
		v.fields[k] = u.Fields[f.name]
	}
	for k, name := range utmNames {
		v.utm[k] = u.Session[name]
	}
	if r := u.Session["referer"]; r != "" {
		v.referer = r
	}
	for _, m := range u.Groups {
		groups = append(groups, membership{gid: m.GroupID, at: m.AddedAt.Unix()})
	}
	v.groups = groups
}

func (x *exportWriter) userMatch(v *userView) (addedAt int64, ok bool) {
	f := &x.e.f
	if !f.created.has(v.created) || (f.status != "" && v.status != f.status) {
		return 0, false
	}
	if len(f.emails) > 0 {
		found := false
		for _, e := range f.emails {
			if strings.EqualFold(e, v.email) {
				found = true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	if x.e.object == "group_users" {
		at, member := v.memberOf(x.e.groupID)
		if !member || !f.added.has(at) {
			return 0, false
		}
		return at, true
	}
	return 0, true
}

func (x *exportWriter) userRow(v *userView) {
	addedAt, ok := x.userMatch(v)
	if !ok {
		return
	}
	rw := &x.rw
	rw.begin()
	rw.int(v.id)
	rw.str(v.email)
	rw.str(v.regType)
	rw.time(v.created)
	rw.time(v.lastActive)
	rw.str(v.first)
	rw.str(v.last)
	rw.str(v.phone)
	rw.str(v.birthday)
	if age := x.age(v.birthday); age > 0 {
		rw.int(int64(age))
	} else {
		rw.str("")
	}
	rw.str(v.country)
	rw.str(v.city)
	rw.str(v.referer)
	if v.partnerID != "" || v.partnerEmail != "" {
		rw.str("Да")
	} else {
		rw.str("")
	}
	rw.str(v.partnerID)
	rw.str(v.partnerEmail)
	rw.str(v.partnerName)
	rw.str(v.manager)
	rw.str(v.vkID)
	for _, u := range v.utm {
		rw.str(u)
	}
	for _, f := range v.fields {
		rw.str(f)
	}
	for _, gid := range x.e.groupCol {
		at, member := v.memberOf(gid)
		if member {
			rw.time(at)
		} else {
			rw.str("")
		}
	}
	if x.e.object == "group_users" {
		rw.str(userStatusLabel[v.status])
		rw.time(addedAt)
	}
	rw.end()
}

// age in whole years at the export's date, from "YYYY-MM-DD"; 0 if unknown.
func (x *exportWriter) age(b string) int {
	if len(b) != 10 {
		return 0
	}
	y, err1 := strconv.Atoi(b[0:4])
	m, err2 := strconv.Atoi(b[5:7])
	d, err3 := strconv.Atoi(b[8:10])
	if err1 != nil || err2 != nil || err3 != nil {
		return 0
	}
	a := x.nowY - y
	if x.nowMD < m*100+d {
		a--
	}
	return a
}

// ---- deals and payments ----

var currencyRate = map[string]int64{"RUB": 100, "USD": 9000, "EUR": 9800, "KZT": 19}

func viewOfDeal(dl *Deal, d *dealView) {
	*d = dealView{id: dl.ID, number: dl.Number, userID: dl.UserID, userName: dl.UserName, email: dl.UserEmail,
		phone: dl.UserPhone, city: dl.UserCity, created: dl.CreatedAt.Unix(), title: dl.ProductTitle,
		status: dl.Status, currency: dl.Currency, manager: dl.ManagerEmail, paySysCode: dl.PaymentType,
		paymentStatus: dl.PaymentStatus}
	// A deal made from an offer code alone shows the offer's title, as the service does; gcbatch
	// only knows the code, so it must not rely on the title of such deals.
	if d.title == "" && dl.OfferCode != "" {
		d.title = "Предложение " + dl.OfferCode
	}
	// Some deals are written with NBSP thousands separators, as the service does now and then.
	d.nbsp = mix(uint64(dl.ID))%10 < 3
	d.cost, _ = parseMoney(dl.Cost)
	if q := int64(dl.Quantity); q > 1 {
		d.cost *= q
	}
	rate, ok := currencyRate[dl.Currency]
	if !ok {
		rate = 100
	}
	d.rub = d.cost * rate / 100
	if dl.IsPaid {
		d.paid = d.cost
		d.payed = dl.PaidAt.Unix()
		if d.paymentStatus == "" {
			d.paymentStatus = "accepted"
		}
	}
	d.paySystem = dl.PaymentType
	for _, ps := range paySystems {
		if ps.code == dl.PaymentType {
			d.paySystem = ps.label
		}
	}
	if !dl.FinishedAt.IsZero() {
		d.finished = dl.FinishedAt.Unix()
	}
	if !dl.StatusChangedAt.IsZero() {
		d.statusChanged = dl.StatusChangedAt.Unix()
	}
	for k, f := range dealFields {
		d.fields[k] = dl.Fields[f.name]
	}
	for k, name := range utmNames {
		d.utm[k] = dl.Session[name]
	}
}

// userGroups returns the groups of the user with this id as the snapshot sees them.
func (x *exportWriter) userGroups(id int64) []membership {
	g := &x.sn.gen
	if idx := id - userIDBase; idx >= 1 && idx <= g.users {
		if u := x.sn.userOverrides[idx]; u != nil {
			viewOfUser(u, &x.du)
		} else {
			g.user(idx, id, &x.du, g.users)
		}
		return x.du.groups
	}
	if k := id - userIDBase - g.users - 1; k >= 0 && k < int64(len(x.sn.users)) {
		viewOfUser(x.sn.users[k], &x.du)
		return x.du.groups
	}
	return nil
}

func (x *exportWriter) deals() {
	g := &x.sn.gen
	d := &x.d
	for j := int64(1); j <= g.deals; j++ {
		if !x.alive(j) {
			return
		}
		if dl := x.sn.dealOverrides[j]; dl != nil {
			viewOfDeal(dl, d)
		} else {
			g.deal(j, d, &x.u)
		}
		x.dealRow(d, paymentIDBase+j)
	}
	for k, dl := range x.sn.deals {
		if !x.alive(int64(k)) {
			return
		}
		viewOfDeal(dl, d)
		x.dealRow(d, paymentIDBase+dl.ID-dealIDBase)
	}
}

func (x *exportWriter) dealRow(d *dealView, paymentID int64) {
	f := &x.e.f
	if x.e.object == "payments" {
		if d.paid == 0 {
			return
		}
		changed := d.payed + paymentID%7200
		if !f.created.has(d.payed) || !f.statusChanged.has(changed) ||
			(f.status != "" && f.status != d.paymentStatus) {
			return
		}
		x.paymentRow(d, paymentID, changed)
		return
	}
	if !f.created.has(d.created) || !f.payed.has(d.payed) || !f.finished.has(d.finished) ||
		!f.statusChanged.has(d.statusChanged) || (f.status != "" && f.status != d.status) ||
		(len(f.userIDs) > 0 && !slices.Contains(f.userIDs, d.userID)) {
		return
	}
	if f.inGroup != 0 {
		member := false
		for _, m := range x.userGroups(d.userID) {
			if m.gid == f.inGroup {
				member = true
			}
		}
		if !member {
			return
		}
	}
	rw := &x.rw
	rw.begin()
	rw.int(d.id)
	rw.str(d.number)
	rw.int(d.userID)
	rw.str(d.userName)
	rw.str(d.email)
	rw.str(d.phone)
	rw.time(d.created)
	rw.time(d.payed)
	rw.str(d.title)
	rw.str(dealStatusLabel[d.status])
	rw.money(d.rub, d.nbsp)
	rw.money(d.paid, d.nbsp)
	fee := commission(d)
	rw.money(fee, d.nbsp)
	rw.money(d.paid-fee, d.nbsp)
	rw.money(0, false)
	rw.money(d.paid-fee, d.nbsp)
	rw.money(0, false)
	rw.money(d.paid-fee, d.nbsp)
	rw.str(d.currency)
	rw.str(d.manager)
	rw.str(d.city)
	rw.str(d.paySystem)
	rw.str(d.partnerID)
	rw.str(d.promo)
	rw.str(d.promoAct)
	for _, c := range d.fields {
		rw.str(c)
	}
	for _, u := range d.utm {
		rw.str(u)
	}
	rw.str(d.tags)
	rw.end()
}

// commission is the payment system's fee: 3.5% of what was paid, none for a bank transfer.
func commission(d *dealView) int64 {
	if d.paySysCode == "BILL" || d.paySysCode == "CASH" || d.paySysCode == "INTERNAL" {
		return 0
	}
	return d.paid * 35 / 1000
}

func (x *exportWriter) paymentRow(d *dealView, id, changed int64) {
	rw := &x.rw
	rw.begin()
	rw.int(id)
	rw.str(d.userName)
	rw.str(d.email)
	rw.str(d.number)
	rw.time(d.payed)
	rw.str(d.paySystem)
	label := paymentStatusLabel[d.paymentStatus]
	if label == "" {
		label = d.paymentStatus
	}
	rw.str(label)
	fee := commission(d)
	rw.money(d.paid, d.nbsp)
	rw.money(fee, d.nbsp)
	rw.money(d.paid-fee, d.nbsp)
	rw.rawBytes(strconv.AppendUint(append(rw.scratch[:0], "pay-"...), uint64(mix(uint64(id)))%1e12, 36))
	rw.str(d.title)
	rw.time(changed)
	rw.end()
}
