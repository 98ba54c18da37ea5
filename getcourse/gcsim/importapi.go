package gcsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/internal/ruphone"
)

// Texts of the import API. Those marked [?] are our guesses: the real wording is not known.
const (
	txtNoAction     = "Пустой параметр action"
	txtNoKey        = "отсутсвует параметр key" // sic, as the service spells it
	txtBadKey       = "Неавторизованное API-обращение"
	txtNoParams     = "Не указаны параметры"
	txtTooMany      = "Слишком много запросов"
	txtNoContact    = "Не указан ни эл. адрес, ни телефон"
	txtQuota        = "Достигнут лимит на создание объектов в этом месяце"                                           // [?]
	txtForbidden    = "Действие запрещено"                                                                           // observed for a read-only key; for an unknown action [client]
	txtBadEmail     = "Некорректный эл. адрес"                                                                       // [?]
	txtNoUser       = "Пользователь не найден"                                                                       // [?]
	txtNoOffer      = "Не указано предложение: нужен offer_id, либо offer_code или product_title вместе с deal_cost" // [?]
	txtBadOffer     = "Предложение не найдено"                                                                       // [?] (seed: «Offer not found»)
	txtBadCost      = "Неверная стоимость заказа"                                                                    // [?]
	txtBadDate      = "Неверный формат даты: "                                                                       // [?]
	txtNoMsgEmail   = "Не указан эл. адрес получателя"                                                               // [?]
	txtNoMailing    = "Не указан идентификатор рассылки (mailing_id)"                                                // [?]
	txtBadStatus    = "Неверный статус заказа, попробуйте один из - "                                                // observed form
	txtBadPayStatus = "Неверный статус платежа, попробуйте один из - "                                               // [?]
	txtBadPayType   = "Неверный тип платежа, попробуйте один из - "                                                  // [?]
	txtBadCurrency  = "Неверная валюта, попробуйте один из - "                                                       // [?]
	txtBadTransport = "Неверный транспорт, попробуйте один из - "                                                    // [?]
)

// ---- lenient decoding of params (the service is PHP: it takes what PHP clients send) ----

// flex is a scalar sent as a string, a number or a boolean.
type flex struct {
	s    string
	set  bool
	kind byte // 's' string, 'n' number, 'b' boolean, 'o' object or array
}

func (f *flex) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*f = flex{}
	case '"':
		if bytes.IndexByte(b, '\\') < 0 {
			*f = flex{s: string(b[1 : len(b)-1]), set: true, kind: 's'}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex{s: s, set: true, kind: 's'}
	case 't', 'f':
		*f = flex{s: string(b), set: true, kind: 'b'}
	case '{', '[':
		*f = flex{set: true, kind: 'o'}
	default:
		*f = flex{s: string(b), set: true, kind: 'n'}
	}
	return nil
}

func (f flex) str() string { return strings.TrimSpace(f.s) }

// truthy reads 1, "1", true, "true", "да", "yes", "on" as true.
func (f flex) truthy() bool {
	switch strings.ToLower(strings.TrimSpace(f.s)) {
	case "1", "true", "yes", "y", "on", "да":
		return true
	}
	if f.kind == 'n' {
		n, err := strconv.ParseFloat(f.s, 64)
		return err == nil && n != 0
	}
	return false
}

// objMap is an object of scalars; PHP sends an empty one as [].
type objMap map[string]flex

func (m *objMap) UnmarshalJSON(b []byte) error {
	if b[0] != '{' {
		*m = nil
		return nil
	}
	return json.Unmarshal(b, (*map[string]flex)(m))
}

type groupEntry struct{ name, at string }

// groupList is user.group_name: names, or [name, time] pairs; a lone string is one name.
type groupList []groupEntry

func (g *groupList) UnmarshalJSON(b []byte) error {
	*g = nil
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s != "" {
			*g = groupList{{name: s}}
		}
		return nil
	case '[':
	default:
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	for _, it := range items {
		var e getcourse.Group
		if json.Unmarshal(it, &e) != nil || strings.TrimSpace(e.Name) == "" {
			continue
		}
		*g = append(*g, groupEntry{name: strings.TrimSpace(e.Name), at: strings.TrimSpace(e.JoinedAt)})
	}
	return nil
}

func isEmptyArray(b []byte) bool { return len(b) > 0 && b[0] == '[' }

type inUser struct {
	ID         flex      `json:"id"`
	Email      flex      `json:"email"`
	Phone      flex      `json:"phone"`
	FirstName  flex      `json:"first_name"`
	LastName   flex      `json:"last_name"`
	MiddleName flex      `json:"middle_name"`
	City       flex      `json:"city"`
	Country    flex      `json:"country"`
	Birthday   flex      `json:"birthday"`
	GroupName  groupList `json:"group_name"`
	Addfields  objMap    `json:"addfields"`
}

func (u *inUser) UnmarshalJSON(b []byte) error {
	if isEmptyArray(b) {
		return nil
	}
	type plain inUser
	return json.Unmarshal(b, (*plain)(u))
}

type inDeal struct {
	DealNumber         flex   `json:"deal_number"`
	OfferCode          flex   `json:"offer_code"`
	OfferID            flex   `json:"offer_id"`
	ProductTitle       flex   `json:"product_title"`
	ProductDescription flex   `json:"product_description"`
	Quantity           flex   `json:"quantity"`
	DealCost           flex   `json:"deal_cost"`
	DealStatus         flex   `json:"deal_status"`
	DealIsPaid         flex   `json:"deal_is_paid"`
	ManagerEmail       flex   `json:"manager_email"`
	DealCreatedAt      flex   `json:"deal_created_at"`
	DealFinishedAt     flex   `json:"deal_finished_at"`
	DealComment        flex   `json:"deal_comment"`
	Comment            flex   `json:"comment"` // the seed's name for deal_comment
	PaymentType        flex   `json:"payment_type"`
	PaymentStatus      flex   `json:"payment_status"`
	PartnerEmail       flex   `json:"partner_email"`
	DealCurrency       flex   `json:"deal_currency"`
	Addfields          objMap `json:"addfields"`
}

func (d *inDeal) UnmarshalJSON(b []byte) error {
	if isEmptyArray(b) {
		return nil
	}
	type plain inDeal
	return json.Unmarshal(b, (*plain)(d))
}

type inMessage struct {
	Email     flex   `json:"email"`
	Transport flex   `json:"transport"`
	MailingID flex   `json:"mailing_id"`
	Params    objMap `json:"params"`
}

func (m *inMessage) UnmarshalJSON(b []byte) error {
	if isEmptyArray(b) {
		return nil
	}
	type plain inMessage
	return json.Unmarshal(b, (*plain)(m))
}

type inParams struct {
	User    inUser    `json:"user"`
	System  objMap    `json:"system"`
	Session objMap    `json:"session"`
	Deal    inDeal    `json:"deal"`
	Message inMessage `json:"message"`
	// The seed's users/update form: {"user_id": "123", "group_name": [...]}.
	UserID    flex      `json:"user_id"`
	GroupName groupList `json:"group_name"`
}

// decodeParams reads the params field: base64 (standard or URL-safe, padding optional) of a
// JSON object.
func decodeParams(s string) (*inParams, bool) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if s == "" {
		return nil, false
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	raw, err := enc.DecodeString(s)
	if err != nil {
		return nil, false
	}
	raw = bytes.TrimSpace(raw)
	var p inParams
	if len(raw) == 0 || (raw[0] != '{' && !bytes.Equal(raw, []byte("[]"))) {
		return nil, false
	}
	if raw[0] == '{' {
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, false
		}
	}
	return &p, true
}

// ---- answers ----

func (s *Sim) appendBool(b []byte, v bool) []byte {
	switch {
	case s.seedShape && v:
		return append(b, `"true"`...)
	case s.seedShape:
		return append(b, `"false"`...)
	case v:
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func (s *Sim) appendID(b []byte, id int64) []byte {
	if s.seedShape {
		b = append(b, '"')
		b = strconv.AppendInt(b, id, 10)
		return append(b, '"')
	}
	return strconv.AppendInt(b, id, 10)
}

// callError is a call-level failure: the request as a whole was refused.
func (s *Sim) callError(text string) reply {
	b := make([]byte, 0, 128)
	if s.seedShape {
		b = append(b, `{"success":"false","error":"true","error_message":`...)
	} else {
		b = append(b, `{"success":false,"error":`...)
	}
	b = appendJSONString(b, text, false)
	return jsonReply(append(b, '}'))
}

// result is the inner object of an import answer.
type result struct {
	action      string
	errMsg      string // non-empty: the row failed
	userID      int64
	userStatus  string
	deal        bool
	dealID      int64
	dealNumber  string
	paymentLink string
}

func (s *Sim) answer(res result) reply {
	b := make([]byte, 0, 256)
	b = append(b, `{"success":`...)
	b = s.appendBool(b, true)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, res.action, false)
	b = append(b, `,"result":{"success":`...)
	if res.errMsg != "" {
		b = s.appendBool(b, false)
		b = append(b, `,"error":`...)
		b = s.appendBool(b, true)
		b = append(b, `,"error_message":`...)
		b = appendJSONString(b, res.errMsg, false)
		return jsonReply(append(b, "}}"...))
	}
	b = s.appendBool(b, true)
	if res.deal {
		b = append(b, `,"deal_id":`...)
		b = s.appendID(b, res.dealID)
		b = append(b, `,"deal_number":`...)
		b = appendJSONString(b, res.dealNumber, false)
	}
	if res.userID != 0 {
		b = append(b, `,"user_id":`...)
		b = s.appendID(b, res.userID)
	}
	if res.userStatus != "" {
		b = append(b, `,"user_status":`...)
		b = appendJSONString(b, res.userStatus, false)
	}
	b = append(b, `,"error_message":"","error":`...)
	b = s.appendBool(b, false)
	if res.deal {
		b = append(b, `,"payment_link":`...)
		b = appendJSONString(b, res.paymentLink, false)
	}
	return jsonReply(append(b, "}}"...))
}

func (s *Sim) rowError(action, text string) reply {
	s.mu.Lock()
	s.st.RowErrors++
	s.mu.Unlock()
	return s.answer(result{action: action, errMsg: text})
}

// ---- the import endpoint ----

func (s *Sim) serveImport(r *http.Request, p string) reply {
	if !s.importAPI() {
		// Observed: on a plan without the import API the call gets an empty page, HTTP 200,
		// and nothing is written.
		return reply{status: http.StatusOK, ctype: "text/html; charset=UTF-8"}
	}
	now := s.now()
	if l := s.limiter.Load(); l != nil && !l.AllowN(now, 1) {
		s.mu.Lock()
		s.st.RateLimited++
		s.mu.Unlock()
		rep := s.callError(txtTooMany)
		if s.cfg.RateLimit429 {
			rep.status, rep.retryAfter = http.StatusTooManyRequests, "1"
		}
		return rep
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return s.callError(txtNoParams)
	}
	// Only the POST body counts: a redirect that turned the POST into a GET loses everything.
	form := r.PostForm
	action := strings.TrimSpace(form.Get("action"))
	if action == "" {
		return s.callError(txtNoAction)
	}
	key := form.Get("key")
	if key == "" {
		return s.callError(txtNoKey)
	}
	readOnly := s.readOnlyKey(key)
	if !readOnly && !s.checkKey(key) {
		return s.callError(txtBadKey)
	}
	var known bool
	switch p {
	case "/pl/api/users":
		known = action == "add" || action == "update"
	case "/pl/api/deals":
		known = action == "add"
	case "/pl/api/messages":
		known = action == "send"
	}
	if !known || readOnly {
		return s.callError(txtForbidden)
	}
	params, ok := decodeParams(form.Get("params"))
	if !ok {
		return s.callError(txtNoParams)
	}
	switch {
	case p == "/pl/api/users" && action == "add":
		return s.usersAdd(params, now)
	case p == "/pl/api/users":
		return s.usersUpdate(params, now)
	case p == "/pl/api/deals":
		return s.dealsAdd(r, params, now)
	default:
		return s.messagesSend(params, now)
	}
}

// userInput is the user section, checked and normalised.
type userInput struct {
	email, phone, phoneKey                       string
	first, last, middle, city, country, birthday string
	groups                                       groupList
	fields                                       map[string]string
	session                                      map[string]string
	partnerEmail                                 string
	refresh                                      bool
}

func parseUser(p *inParams) (userInput, string) {
	u := &p.User
	in := userInput{
		email: strings.ToLower(u.Email.str()), phone: u.Phone.str(),
		first: u.FirstName.str(), last: u.LastName.str(), middle: u.MiddleName.str(),
		city: u.City.str(), country: u.Country.str(), birthday: u.Birthday.str(),
		groups: u.GroupName, refresh: p.System["refresh_if_exists"].truthy(),
		partnerEmail: strings.ToLower(p.System["partner_email"].str()),
	}
	in.phoneKey = ruphone.Key(in.phone)
	if in.email == "" && in.phoneKey == "" {
		return in, txtNoContact
	}
	if in.email != "" && !plausibleEmail(in.email) {
		return in, txtBadEmail
	}
	for name, v := range u.Addfields {
		if fieldKnown(userFields, name) && v.kind != 'o' {
			if in.fields == nil {
				in.fields = map[string]string{}
			}
			in.fields[name] = v.s
		}
	}
	for name, v := range p.Session {
		if v.str() != "" {
			if in.session == nil {
				in.session = map[string]string{}
			}
			in.session[name] = v.str()
		}
	}
	return in, ""
}

func fieldKnown(fs []accountField, name string) bool {
	for _, f := range fs {
		if f.name == name {
			return true
		}
	}
	return false
}

// plausibleEmail rejects what is clearly not an address; the service is no stricter.
func plausibleEmail(e string) bool {
	at := strings.IndexByte(e, '@')
	if at <= 0 || at != strings.LastIndexByte(e, '@') || strings.ContainsAny(e, " \t,;<>()[]\\\"") {
		return false
	}
	dom := e[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	return dot > 0 && dot < len(dom)-2 && !strings.Contains(dom, "..") && dom[0] != '.'
}

// parseTime reads the service's date forms in Moscow time.
func parseTime(s string) (time.Time, bool) {
	for _, l := range []string{time.DateTime, "2006-01-02 15:04", time.DateOnly, "02.01.2006 15:04", "02.01.2006"} {
		if t, err := time.ParseInLocation(l, s, msk); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// applyUser finds or creates the user of an add call and applies the request to it. extra is the
// number of other objects the call creates (a deal), reserved together with the user against the
// monthly allowance. Called with s.mu held; quota reports a spent allowance (nothing changed).
func (s *Sim) applyUser(in *userInput, now time.Time, extra int) (ref userRef, status string, quota bool) {
	ref, found := s.findUser(in.email, in.phoneKey)
	need := extra
	if !found {
		need++
	}
	if !s.allow(need, now) {
		return ref, "", true
	}
	if !found {
		u := &User{ID: s.nextUserID(), Email: in.email, Phone: in.phone, FirstName: in.first, LastName: in.last,
			MiddleName: in.middle, City: in.city, Country: in.country, Birthday: in.birthday, Status: "active",
			PartnerEmail: in.partnerEmail, CreatedAt: now.In(msk), Fields: in.fields, Session: in.session,
			regType: "Импорт"}
		u.Groups = s.addGroups(nil, in.groups, now)
		s.putUser(u, nil)
		s.st.UsersCreated++
		return userRef{id: u.ID, rec: u}, "added", false
	}
	status = s.statusOf(ref)
	if !in.refresh && !s.hasNewGroups(ref, in.groups) {
		return ref, status, false
	}
	u := s.materialize(ref)
	if in.refresh {
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&u.FirstName, in.first)
		set(&u.LastName, in.last)
		set(&u.MiddleName, in.middle)
		set(&u.City, in.city)
		set(&u.Country, in.country)
		set(&u.Birthday, in.birthday)
		set(&u.Phone, in.phone)
		if u.Email == "" {
			u.Email = in.email
		}
		for k, v := range in.fields {
			if u.Fields == nil {
				u.Fields = map[string]string{}
			}
			u.Fields[k] = v
		}
		s.st.UsersUpdated++
	}
	u.Groups = s.addGroups(u.Groups, in.groups, now)
	s.putUser(u, ref.rec)
	return userRef{id: u.ID, idx: ref.idx, rec: u}, status, false
}

func (s *Sim) statusOf(ref userRef) string {
	if ref.rec != nil {
		return ref.rec.Status
	}
	s.gen.user(ref.idx, ref.id, &s.scratch, s.gen.users)
	return s.scratch.status
}

func (s *Sim) groupsOf(ref userRef) []Membership {
	if ref.rec != nil {
		return ref.rec.Groups
	}
	return s.materialize(ref).Groups
}

func (s *Sim) hasNewGroups(ref userRef, gl groupList) bool {
	if len(gl) == 0 {
		return false
	}
	have := s.groupsOf(ref)
	for _, e := range gl {
		g := s.groupByName[strings.ToLower(e.name)]
		if g == nil || !slices.ContainsFunc(have, func(m Membership) bool { return m.GroupID == g.id }) {
			return true
		}
	}
	return false
}

// addGroups adds the listed groups to ms (creating groups by name on first use); a user already
// in a group keeps the original join time.
func (s *Sim) addGroups(ms []Membership, gl groupList, now time.Time) []Membership {
	for _, e := range gl {
		g := s.groupFor(e.name)
		if slices.ContainsFunc(ms, func(m Membership) bool { return m.GroupID == g.id }) {
			continue
		}
		at := now
		if t, ok := parseTime(e.at); ok {
			at = t
		}
		ms = append(ms, Membership{GroupID: g.id, Name: g.name, AddedAt: at.In(msk)})
		g.lastAdded = max(g.lastAdded, at.Unix())
	}
	return ms
}

func (s *Sim) usersAdd(p *inParams, now time.Time) reply {
	in, bad := parseUser(p)
	if bad != "" {
		return s.rowError("add", bad)
	}
	s.mu.Lock()
	ref, status, quota := s.applyUser(&in, now, 0)
	if quota {
		s.mu.Unlock()
		return s.callError(txtQuota)
	}
	if in.email != "" {
		s.st.AddsByEmail[in.email]++
	}
	s.mu.Unlock()
	return s.answer(result{action: "add", userID: ref.id, userStatus: status})
}

// usersUpdate replaces a user's groups: groups not listed are removed.
func (s *Sim) usersUpdate(p *inParams, now time.Time) reply {
	idf, gl := p.User.ID, p.User.GroupName
	if !idf.set {
		idf, gl = p.UserID, p.GroupName
	}
	id, err := strconv.ParseInt(idf.str(), 10, 64)
	s.mu.Lock()
	ref, ok := s.userByID(id)
	if err != nil || !ok {
		s.mu.Unlock()
		return s.rowError("update", txtNoUser)
	}
	u := s.materialize(ref)
	old := u.Groups
	u.Groups = nil
	for _, e := range gl {
		g := s.groupFor(e.name)
		if slices.ContainsFunc(u.Groups, func(m Membership) bool { return m.GroupID == g.id }) {
			continue
		}
		if i := slices.IndexFunc(old, func(m Membership) bool { return m.GroupID == g.id }); i >= 0 {
			u.Groups = append(u.Groups, old[i])
			continue
		}
		u.Groups = s.addGroups(u.Groups, groupList{e}, now)
	}
	s.putUser(u, ref.rec)
	s.st.GroupsUpdated++
	status := u.Status
	s.mu.Unlock()
	return s.answer(result{action: "update", userID: id, userStatus: status})
}

func listOf(vals []string) string { return strings.Join(vals, ", ") }

// parseMoney reads "9990", "9990.00", "9 990,50" into kopecks.
func parseMoney(s string) (int64, bool) {
	s = strings.NewReplacer(" ", "", "\u00a0", "", ",", ".").Replace(s)
	if s == "" {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 || whole == "" {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || w > 1e12 {
		return 0, false
	}
	k := w * 100
	if frac != "" {
		f, err := strconv.Atoi(frac)
		if err != nil || f < 0 {
			return 0, false
		}
		if len(frac) == 1 {
			f *= 10
		}
		k += int64(f)
	}
	return k, true
}

func (s *Sim) dealsAdd(r *http.Request, p *inParams, now time.Time) reply {
	in, bad := parseUser(p)
	if bad != "" {
		return s.rowError("add", bad)
	}
	d := &p.Deal
	enum := func(f flex, vals []string, text string) string {
		if v := f.str(); v != "" && !slices.Contains(vals, v) {
			return text + listOf(vals)
		}
		return ""
	}
	for _, e := range []string{
		enum(d.DealStatus, getcourse.DealStatuses, txtBadStatus),
		enum(d.PaymentStatus, getcourse.PaymentStatuses, txtBadPayStatus),
		enum(d.PaymentType, getcourse.PaymentTypes, txtBadPayType),
		enum(d.DealCurrency, getcourse.DealCurrencies, txtBadCurrency),
	} {
		if e != "" {
			return s.rowError("add", e)
		}
	}
	var cost int64
	hasCost := d.DealCost.str() != ""
	if hasCost {
		var ok bool
		if cost, ok = parseMoney(d.DealCost.str()); !ok {
			return s.rowError("add", txtBadCost)
		}
	}
	var created, finished time.Time
	for _, x := range []struct {
		f   flex
		dst *time.Time
		n   string
	}{{d.DealCreatedAt, &created, "deal_created_at"}, {d.DealFinishedAt, &finished, "deal_finished_at"}} {
		if v := x.f.str(); v != "" {
			t, ok := parseTime(v)
			if !ok {
				return s.rowError("add", txtBadDate+x.n)
			}
			*x.dst = t
		}
	}
	offerID := d.OfferID.str()
	if offerID != "" {
		if n, err := strconv.ParseInt(offerID, 10, 64); err != nil || n <= 0 {
			return s.rowError("add", txtBadOffer)
		}
	}
	qty := 1
	if q := d.Quantity.str(); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n <= 0 {
			return s.rowError("add", "Неверное количество: "+q) // [?]
		}
		qty = n
	}
	number := d.DealNumber.str()
	comment := d.DealComment.str()
	if comment == "" {
		comment = d.Comment.str()
	}
	var fields map[string]string
	for name, v := range d.Addfields {
		if fieldKnown(dealFields, name) && v.kind != 'o' {
			if fields == nil {
				fields = map[string]string{}
			}
			fields[name] = v.s
		}
	}
	paidGiven := d.DealIsPaid.set && d.DealIsPaid.str() != ""
	paid := d.DealIsPaid.truthy()

	s.mu.Lock()
	dref, exists := s.findDeal(number)
	if !exists && offerID == "" && !((d.OfferCode.str() != "" || d.ProductTitle.str() != "") && hasCost) {
		s.mu.Unlock()
		return s.rowError("add", txtNoOffer)
	}
	extra := 1
	if exists {
		extra = 0
	}
	ref, status, quota := s.applyUser(&in, now, extra)
	if quota {
		s.mu.Unlock()
		return s.callError(txtQuota)
	}
	var dl *Deal
	if exists {
		dl = s.materializeDeal(dref)
		s.st.DealsUpdated++
	} else {
		if number == "" {
			number = s.autoNumber()
		}
		dl = &Deal{ID: s.nextDealID(), Number: number, UserID: ref.id, Quantity: 1, Currency: "RUB",
			Status: "new", CreatedAt: now.In(msk), Cost: "0.00", Session: in.session}
		if ref.rec != nil {
			dl.UserEmail, dl.UserPhone, dl.UserCity = ref.rec.Email, ref.rec.Phone, ref.rec.City
			dl.UserName = strings.TrimSpace(ref.rec.FirstName + " " + ref.rec.LastName)
		} else {
			v := &s.scratch
			s.gen.user(ref.idx, ref.id, v, s.gen.users)
			dl.UserEmail, dl.UserPhone, dl.UserCity, dl.UserName = v.email, v.phone, v.city, v.first+" "+v.last
		}
		if paid && d.DealStatus.str() == "" {
			dl.Status = "payed"
		}
		dl.StatusChangedAt = dl.CreatedAt
		s.st.DealsCreated++
	}
	setS := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setS(&dl.OfferID, offerID)
	setS(&dl.OfferCode, d.OfferCode.str())
	setS(&dl.ProductTitle, d.ProductTitle.str())
	if dl.ProductTitle == "" && dl.OfferID != "" {
		dl.ProductTitle = "Предложение #" + dl.OfferID
	}
	setS(&dl.ProductDescription, d.ProductDescription.str())
	setS(&dl.Currency, d.DealCurrency.str())
	setS(&dl.PaymentType, d.PaymentType.str())
	setS(&dl.PaymentStatus, d.PaymentStatus.str())
	setS(&dl.ManagerEmail, strings.ToLower(d.ManagerEmail.str()))
	setS(&dl.PartnerEmail, strings.ToLower(d.PartnerEmail.str()))
	setS(&dl.Comment, comment)
	if d.Quantity.str() != "" {
		dl.Quantity = qty
	}
	if hasCost {
		dl.Cost = kopecksText(cost)
	}
	if st := d.DealStatus.str(); st != "" && st != dl.Status {
		dl.Status, dl.StatusChangedAt = st, now.In(msk)
	}
	if !created.IsZero() {
		dl.CreatedAt = created
	}
	if paidGiven && !paid {
		dl.IsPaid = false
	}
	if (paidGiven && paid || dl.Status == "payed") && !dl.IsPaid {
		dl.IsPaid, dl.PaidAt = true, now.In(msk)
		if dl.PaymentStatus == "" {
			dl.PaymentStatus = "accepted"
		}
	}
	if !finished.IsZero() {
		dl.FinishedAt = finished
	} else if dl.FinishedAt.IsZero() && (dl.Status == "payed" || dl.Status == "cancelled") {
		dl.FinishedAt = now.In(msk)
	}
	for k, v := range fields {
		if dl.Fields == nil {
			dl.Fields = map[string]string{}
		}
		dl.Fields[k] = v
	}
	s.putDeal(dl)
	if in.email != "" {
		s.st.AddsByEmail[in.email]++
	}
	if d.DealNumber.str() != "" {
		s.st.DealsByNumber[d.DealNumber.str()]++
	}
	res := result{action: "add", deal: true, dealID: dl.ID, userID: ref.id, userStatus: status}
	if d.DealNumber.str() != "" || p.System["return_deal_number"].truthy() {
		res.dealNumber = dl.Number
	}
	s.mu.Unlock()
	if p.System["return_payment_link"].truthy() {
		res.paymentLink = "https://" + r.Host + "/sales/shop/dealPay/id/" + strconv.FormatInt(res.dealID, 10)
	}
	return s.answer(res)
}

// autoNumber gives a deal sent without deal_number the account's next free number.
func (s *Sim) autoNumber() string {
	n := dealNumberBase + s.gen.deals + int64(len(s.deals)) + 1
	for {
		num := strconv.FormatInt(n, 10)
		if _, taken := s.byNumber[num]; !taken {
			return num
		}
		n++
	}
}

func (s *Sim) messagesSend(p *inParams, now time.Time) reply {
	m := &p.Message
	email := strings.ToLower(m.Email.str())
	switch {
	case email == "":
		return s.rowError("send", txtNoMsgEmail)
	case !plausibleEmail(email):
		return s.rowError("send", txtBadEmail)
	case m.MailingID.str() == "":
		return s.rowError("send", txtNoMailing)
	}
	transport := m.Transport.str()
	if transport == "" {
		transport = "email"
	} else if !slices.Contains(getcourse.MessageTransports, transport) {
		return s.rowError("send", txtBadTransport+listOf(getcourse.MessageTransports))
	}
	msg := Message{Email: email, Transport: transport, MailingID: m.MailingID.str(), SentAt: now.In(msk)}
	for k, v := range m.Params {
		if msg.Params == nil {
			msg.Params = map[string]string{}
		}
		msg.Params[k] = v.s
	}
	s.mu.Lock()
	s.messages = append(s.messages, msg)
	s.st.MessagesSent++
	s.mu.Unlock()
	return s.answer(result{action: "send"})
}
