package gcsim

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gcbatch/gcbatch/internal/ruphone"
)

// User is a user created or changed through the API (seeded users that were never touched are
// not stored and not listed by Sim.Users).
type User struct {
	ID                              int64
	Email, Phone                    string
	FirstName, LastName, MiddleName string
	City, Country, Birthday         string // Birthday as sent (DD.MM.YYYY)
	Status                          string // active, in_base, ...
	PartnerEmail                    string
	CreatedAt                       time.Time
	Groups                          []Membership
	Fields                          map[string]string // custom fields by name (known ones only)
	Session                         map[string]string // utm_* and referer from the first add
	Seeded                          bool              // a pre-seeded user changed through the API
	regType, vkID, referer          string
	lastActive                      int64
}

// Membership is a user's place in a group.
type Membership struct {
	GroupID int64
	Name    string
	AddedAt time.Time
}

// Deal is a deal created or changed through the API.
type Deal struct {
	ID        int64
	Number    string
	UserID    int64
	UserEmail string
	UserPhone string
	UserName  string
	UserCity  string

	OfferID, OfferCode, ProductTitle, ProductDescription string
	Quantity                                             int
	Cost                                                 string // a plain decimal, "9990.00"
	Currency                                             string
	Status                                               string
	IsPaid                                               bool
	PaymentType, PaymentStatus                           string
	ManagerEmail, PartnerEmail, Comment                  string
	CreatedAt, FinishedAt, PaidAt, StatusChangedAt       time.Time
	Fields                                               map[string]string
	Session                                              map[string]string
	Seeded                                               bool
}

// Message is a messages/send call the Sim accepted.
type Message struct {
	Email, Transport, MailingID string
	Params                      map[string]string
	SentAt                      time.Time
}

// GroupInfo is one of the account's groups.
type GroupInfo struct {
	ID          int64
	Name        string
	Users       int
	LastAddedAt time.Time // zero when nobody was ever added
}

type group struct {
	id        int64
	name      string
	lastAdded int64 // unix seconds, 0 = never
}

type export struct {
	id       int64
	object   string // users | group_users | deals | payments
	groupID  int64
	f        filters
	groupCol []int64 // idgrouplist: extra group columns (users)
	readyAt  time.Time
	polls    int // polls answered so far (Config.StatusPolls)
}

// data is the account. Stored records (*User, *Deal) are immutable once published: an update
// stores a fresh copy, so an export may read a snapshot of pointers without the lock.
type data struct {
	gen gen

	users         []*User          // created through the API, in id order
	userOverrides map[int64]*User  // seeded index → changed copy
	byEmail       map[string]int64 // lower-cased e-mail → id (stored and changed seeded users)
	byPhone       map[string]int64 // normalised phone → id

	deals         []*Deal
	dealOverrides map[int64]*Deal // seeded index → changed copy
	byNumber      map[string]int64

	messages    []Message
	groups      []*group
	groupByName map[string]*group

	allowance int // -1 unlimited
	used      int
	month     int

	exports    map[int64]*export
	nextExport int64
	budget     []time.Time // admitted export calls in the window, oldest first
	scratch    userView
}

func (s *Sim) initData() {
	d := &s.data
	d.gen = newGen(s.cfg.Seed, s.cfg.SeedUsers, s.cfg.SeedDeals)
	d.userOverrides = map[int64]*User{}
	d.byEmail = map[string]int64{}
	d.byPhone = map[string]int64{}
	d.dealOverrides = map[int64]*Deal{}
	d.byNumber = map[string]int64{}
	d.groupByName = map[string]*group{}
	for i, sg := range seededGroups {
		g := &group{id: int64(i + 1), name: sg.name}
		if s.cfg.SeedUsers > 0 {
			g.lastAdded = seedSpanEnd - 1 - int64(i)*3600
		}
		d.groups = append(d.groups, g)
		d.groupByName[strings.ToLower(g.name)] = g
	}
	switch {
	case s.cfg.MonthlyAllowance < 0:
		d.allowance = -1
	case s.cfg.MonthlyAllowance > 0:
		d.allowance = s.cfg.MonthlyAllowance
	default:
		d.allowance = planAllowance(s.cfg.Plan)
	}
	d.month = monthKey(s.now())
	d.exports = map[int64]*export{}
	d.nextExport = 31415
}

// planAllowance is a plan's default monthly allowance of created objects; -1 is unlimited.
func planAllowance(plan string) int {
	switch plan {
	case "start":
		return 1000
	case "business":
		return 10000
	}
	return -1
}

func monthKey(t time.Time) int {
	t = t.In(msk)
	return t.Year()*12 + int(t.Month())
}

var msk = time.FixedZone("MSK", int(mskOffset))

// allow reserves n created objects against the monthly allowance; false when it is spent.
// Called with s.mu held.
func (d *data) allow(n int, now time.Time) bool {
	if m := monthKey(now); m != d.month {
		d.month, d.used = m, 0
	}
	if d.allowance < 0 || n == 0 {
		return true
	}
	if d.used+n > d.allowance {
		return false
	}
	d.used += n
	return true
}

// userRef points at a user: a stored record, or a seeded row not yet changed (rec nil).
type userRef struct {
	id  int64
	idx int64 // seeded index, 0 for API-created users
	rec *User
}

func (d *data) userByID(id int64) (userRef, bool) {
	if idx := id - userIDBase; idx >= 1 && idx <= d.gen.users {
		return userRef{id: id, idx: idx, rec: d.userOverrides[idx]}, true
	}
	if k := id - userIDBase - d.gen.users - 1; k >= 0 && k < int64(len(d.users)) {
		return userRef{id: id, rec: d.users[k]}, true
	}
	return userRef{}, false
}

// findUser matches by e-mail, then by phone. A phone match is taken only when the request has
// no e-mail or the matched user has none: two people with different e-mails are two users even
// if they share a phone.
func (d *data) findUser(email, phone string) (userRef, bool) {
	if email != "" {
		if id, ok := d.byEmail[email]; ok {
			return d.userByID(id)
		}
		if idx := emailIndex(email); idx >= 1 && idx <= d.gen.users && d.userOverrides[idx] == nil &&
			d.gen.userEmail(idx, &d.scratch) == email {
			return userRef{id: userIDBase + idx, idx: idx}, true
		}
	}
	if phone == "" {
		return userRef{}, false
	}
	ref, ok := d.userByID(d.byPhone[phone])
	if !ok {
		idx := d.gen.phoneIndex(phone, d.gen.users)
		if idx == 0 || d.userOverrides[idx] != nil {
			return userRef{}, false
		}
		d.gen.user(idx, 0, &d.scratch, d.gen.users)
		if ruphone.Key(d.scratch.phone) != phone {
			return userRef{}, false
		}
		ref, ok = userRef{id: userIDBase + idx, idx: idx}, true
	}
	if email != "" && d.refEmail(ref) != "" {
		return userRef{}, false
	}
	return ref, ok
}

func (d *data) refEmail(ref userRef) string {
	if ref.rec != nil {
		return ref.rec.Email
	}
	return d.gen.userEmail(ref.idx, &d.scratch)
}

// materialize returns a stored copy of ref's user, ready to be changed and put back with
// putUser. A seeded row becomes a full record.
func (d *data) materialize(ref userRef) *User {
	if ref.rec != nil {
		c := *ref.rec
		c.Groups = slices.Clone(c.Groups)
		c.Fields = maps.Clone(c.Fields)
		return &c
	}
	v := &d.scratch
	d.gen.user(ref.idx, ref.id, v, d.gen.users)
	u := &User{ID: ref.id, Email: v.email, Phone: v.phone, FirstName: v.first, LastName: v.last,
		City: v.city, Country: v.country, Status: v.status, CreatedAt: time.Unix(v.created, 0).In(msk),
		Seeded: true, regType: v.regType, vkID: v.vkID, referer: v.referer}
	if v.birthday != "" {
		u.Birthday = v.birthday[8:10] + "." + v.birthday[5:7] + "." + v.birthday[0:4]
	}
	u.lastActive = v.lastActive
	for k, f := range v.fields {
		if f != "" {
			if u.Fields == nil {
				u.Fields = map[string]string{}
			}
			u.Fields[userFields[k].name] = f
		}
	}
	for _, m := range v.groups {
		u.Groups = append(u.Groups, Membership{GroupID: m.gid, Name: d.groups[m.gid-1].name, AddedAt: time.Unix(m.at, 0).In(msk)})
	}
	u.Session = map[string]string{}
	for k, name := range utmNames {
		if v.utm[k] != "" {
			u.Session[name] = v.utm[k]
		}
	}
	if v.partnerEmail != "" {
		u.PartnerEmail = v.partnerEmail
	}
	return u
}

var utmNames = [6]string{"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "utm_group"}

// putUser publishes u (new or changed) and keeps the indexes in step. old is the previous
// version, nil for a new user.
func (d *data) putUser(u, old *User) {
	if old != nil {
		if old.Email != "" && old.Email != u.Email && d.byEmail[strings.ToLower(old.Email)] == u.ID {
			delete(d.byEmail, strings.ToLower(old.Email))
		}
		if p := ruphone.Key(old.Phone); p != "" && p != ruphone.Key(u.Phone) && d.byPhone[p] == u.ID {
			delete(d.byPhone, p)
		}
	}
	if u.Email != "" {
		d.byEmail[strings.ToLower(u.Email)] = u.ID
	}
	if p := ruphone.Key(u.Phone); p != "" {
		if _, taken := d.byPhone[p]; !taken || old != nil {
			d.byPhone[p] = u.ID
		}
	}
	if idx := u.ID - userIDBase; idx >= 1 && idx <= d.gen.users {
		d.userOverrides[idx] = u
		return
	}
	k := u.ID - userIDBase - d.gen.users - 1
	if k == int64(len(d.users)) {
		d.users = append(d.users, u)
	} else {
		d.users[k] = u
	}
}

func (d *data) nextUserID() int64 { return userIDBase + d.gen.users + int64(len(d.users)) + 1 }

// groupFor returns the group with this name (case-insensitive), creating it on first use.
func (d *data) groupFor(name string) *group {
	key := strings.ToLower(name)
	if g, ok := d.groupByName[key]; ok {
		return g
	}
	g := &group{id: int64(len(d.groups) + 1), name: name}
	d.groups = append(d.groups, g)
	d.groupByName[key] = g
	return g
}

func (d *data) groupByID(id int64) *group {
	if id >= 1 && id <= int64(len(d.groups)) {
		return d.groups[id-1]
	}
	return nil
}

// dealRef points at a deal: stored, or a seeded row not yet changed.
type dealRef struct {
	id  int64
	idx int64
	rec *Deal
}

func (d *data) findDeal(number string) (dealRef, bool) {
	if number == "" {
		return dealRef{}, false
	}
	if id, ok := d.byNumber[number]; ok {
		if idx := id - dealIDBase; idx >= 1 && idx <= d.gen.deals {
			return dealRef{id: id, idx: idx, rec: d.dealOverrides[idx]}, true
		}
		return dealRef{id: id, rec: d.deals[id-dealIDBase-d.gen.deals-1]}, true
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != number {
		return dealRef{}, false
	}
	if idx := n - dealNumberBase; idx >= 1 && idx <= d.gen.deals {
		return dealRef{id: dealIDBase + idx, idx: idx}, true
	}
	return dealRef{}, false
}

func (d *data) nextDealID() int64 { return dealIDBase + d.gen.deals + int64(len(d.deals)) + 1 }

func (d *data) putDeal(dl *Deal) {
	d.byNumber[dl.Number] = dl.ID
	if idx := dl.ID - dealIDBase; idx >= 1 && idx <= d.gen.deals {
		d.dealOverrides[idx] = dl
		return
	}
	k := dl.ID - dealIDBase - d.gen.deals - 1
	if k == int64(len(d.deals)) {
		d.deals = append(d.deals, dl)
	} else {
		d.deals[k] = dl
	}
}

// materializeDeal returns a changeable copy of ref's deal.
func (d *data) materializeDeal(ref dealRef) *Deal {
	if ref.rec != nil {
		c := *ref.rec
		c.Fields = maps.Clone(c.Fields)
		return &c
	}
	var dv dealView
	var uv userView
	g := d.gen.clone()
	g.deal(ref.idx, &dv, &uv)
	dl := &Deal{ID: dv.id, Number: dv.number, UserID: dv.userID, UserEmail: dv.email, UserPhone: dv.phone,
		UserName: dv.userName, UserCity: dv.city, ProductTitle: dv.title, Quantity: 1,
		Cost: kopecksText(dv.cost), Currency: dv.currency, Status: dv.status, IsPaid: dv.paid > 0,
		PaymentType: dv.paySysCode, PaymentStatus: dv.paymentStatus, Seeded: true,
		CreatedAt: unixTime(dv.created), PaidAt: unixTime(dv.payed), FinishedAt: unixTime(dv.finished),
		StatusChangedAt: unixTime(dv.statusChanged)}
	for k, f := range dv.fields {
		if f != "" {
			if dl.Fields == nil {
				dl.Fields = map[string]string{}
			}
			dl.Fields[dealFields[k].name] = f
		}
	}
	return dl
}

func unixTime(u int64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(u, 0).In(msk)
}

func kopecksText(k int64) string {
	return strconv.FormatInt(k/100, 10) + "." + string(append2(nil, int(k%100)))
}

// AddDeal records a deal made outside the API, as a manager makes one by hand in the admin
// or another integration of the account does: it shows in deals exports like any other, but
// no import call counts it. d's buyer is the user with d.UserEmail (or d.UserPhone), created
// if the account has none. Empty fields take the defaults of a new deal (number, status new,
// RUB, created now); the stored deal is returned.
func (s *Sim) AddDeal(d Deal) Deal {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().In(msk)
	email := strings.ToLower(strings.TrimSpace(d.UserEmail))
	phone := ruphone.Key(d.UserPhone)
	ref, found := s.findUser(email, phone)
	if !found {
		u := &User{ID: s.nextUserID(), Email: email, Phone: d.UserPhone, Status: "active", CreatedAt: now,
			regType: "Через заказ"}
		s.putUser(u, nil)
		ref = userRef{id: u.ID, rec: u}
	}
	dl := d
	dl.ID, dl.UserID, dl.Seeded = s.nextDealID(), ref.id, false
	if dl.Number == "" {
		dl.Number = s.autoNumber()
	}
	if ref.rec != nil {
		dl.UserEmail, dl.UserPhone = ref.rec.Email, ref.rec.Phone
		if dl.UserName == "" {
			dl.UserName = strings.TrimSpace(ref.rec.FirstName + " " + ref.rec.LastName)
		}
	} else {
		v := &s.scratch
		s.gen.user(ref.idx, ref.id, v, s.gen.users)
		dl.UserEmail, dl.UserPhone, dl.UserName, dl.UserCity = v.email, v.phone, v.first+" "+v.last, v.city
	}
	if dl.Status == "" {
		dl.Status = "new"
	}
	if dl.Currency == "" {
		dl.Currency = "RUB"
	}
	if dl.Quantity == 0 {
		dl.Quantity = 1
	}
	if k, ok := parseMoney(dl.Cost); ok {
		dl.Cost = kopecksText(k)
	} else {
		dl.Cost = "0.00"
	}
	if dl.CreatedAt.IsZero() {
		dl.CreatedAt = now
	}
	if dl.StatusChangedAt.IsZero() {
		dl.StatusChangedAt = dl.CreatedAt
	}
	dl.Fields, dl.Session = maps.Clone(d.Fields), maps.Clone(d.Session)
	s.putDeal(&dl)
	c := dl
	return c
}

// ---- accessors for tests ----

// Users returns copies of the users created or changed through the API, in id order.
func (s *Sim) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []User
	idx := slices.Sorted(maps.Keys(s.userOverrides))
	for _, i := range idx {
		out = append(out, cloneUser(s.userOverrides[i]))
	}
	for _, u := range s.users {
		out = append(out, cloneUser(u))
	}
	return out
}

func cloneUser(u *User) User {
	c := *u
	c.Groups = slices.Clone(u.Groups)
	c.Fields = maps.Clone(u.Fields)
	c.Session = maps.Clone(u.Session)
	return c
}

// Deals returns copies of the deals created or changed through the API, in id order.
func (s *Sim) Deals() []Deal {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Deal
	for _, i := range slices.Sorted(maps.Keys(s.dealOverrides)) {
		c := *s.dealOverrides[i]
		c.Fields = maps.Clone(c.Fields)
		out = append(out, c)
	}
	for _, dl := range s.deals {
		c := *dl
		c.Fields = maps.Clone(c.Fields)
		c.Session = maps.Clone(c.Session)
		out = append(out, c)
	}
	return out
}

// Messages returns the messages sent, in order.
func (s *Sim) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.Params = maps.Clone(m.Params)
		out[i] = m
	}
	return out
}

// Groups returns the account's groups with their member counts (seeded members included).
func (s *Sim) Groups() []GroupInfo {
	s.mu.Lock()
	sn := s.snapshot()
	s.mu.Unlock()
	counts := sn.groupCounts()
	out := make([]GroupInfo, len(sn.groups))
	for i, g := range sn.groups {
		out[i] = GroupInfo{ID: g.id, Name: g.name, Users: counts[g.id], LastAddedAt: unixTime(g.lastAdded)}
	}
	return out
}

// snap is a consistent view of the stored data that can be read without the lock: stored
// records are immutable, so copying the pointers is enough.
type snap struct {
	gen           gen
	users         []*User
	userOverrides map[int64]*User
	deals         []*Deal
	dealOverrides map[int64]*Deal
	groups        []group
}

// snapshot is called with s.mu held.
func (s *Sim) snapshot() *snap {
	sn := &snap{gen: s.gen.clone(), users: slices.Clone(s.users), userOverrides: maps.Clone(s.userOverrides),
		deals: slices.Clone(s.deals), dealOverrides: maps.Clone(s.dealOverrides)}
	for _, g := range s.groups {
		sn.groups = append(sn.groups, *g)
	}
	return sn
}

// groupCounts counts members per group id, seeded rows included.
func (sn *snap) groupCounts() map[int64]int {
	counts := map[int64]int{}
	g := &sn.gen
	var v userView
	for i := int64(1); i <= g.users; i++ {
		if sn.userOverrides[i] != nil {
			continue
		}
		g.user(i, 0, &v, g.users)
		for _, m := range v.groups {
			counts[m.gid]++
		}
	}
	add := func(u *User) {
		for _, m := range u.Groups {
			counts[m.GroupID]++
		}
	}
	for _, u := range sn.userOverrides {
		add(u)
	}
	for _, u := range sn.users {
		add(u)
	}
	return counts
}
