package gcsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestUsersAddMatchAndRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	a := e.imp("/pl/api/users", "add", obj{"user": obj{"email": "Ivan@Example.ru", "first_name": "Иван",
		"addfields": obj{"Telegram": "@ivan", "Нет такого поля": "x"}}})
	id, status := okUser(t, a)
	if status != "added" || id <= 0 {
		t.Fatalf("new user: id %d status %q", id, status)
	}
	if r := a.result(); r["error_message"] != "" {
		t.Fatalf("error_message should be empty: %s", a.raw)
	}

	// Same e-mail in another case, no refresh: same user, left as is.
	id2, status := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "ivan@example.RU", "first_name": "Пётр"}}))
	if id2 != id || status != "active" {
		t.Fatalf("existing user: got id %d status %q, want %d active", id2, status, id)
	}
	if u := e.sim.Users()[0]; u.FirstName != "Иван" {
		t.Fatalf("without refresh_if_exists the user must stay as is, got %q", u.FirstName)
	}
	// refresh_if_exists in each form the service takes.
	for i, flag := range []any{1, "1", true} {
		name := []string{"Пётр", "Павел", "Семён"}[i]
		id3, _ := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "ivan@example.ru", "first_name": name,
			"city": "Казань", "addfields": obj{"Промокод": "BF-50"}}, "system": obj{"refresh_if_exists": flag}}))
		if id3 != id {
			t.Fatalf("refresh: id %d, want %d", id3, id)
		}
		u := e.sim.Users()[0]
		if u.FirstName != name || u.City != "Казань" || u.Fields["Промокод"] != "BF-50" || u.Fields["Telegram"] != "@ivan" {
			t.Fatalf("refresh %v: user not updated: %+v", flag, u)
		}
		if _, ok := u.Fields["Нет такого поля"]; ok {
			t.Fatal("an unknown addfields name must be dropped")
		}
	}
	st := e.sim.Stats()
	if st.UsersCreated != 1 || st.UsersUpdated != 3 || st.AddsByEmail["ivan@example.ru"] != 5 {
		t.Fatalf("stats: %+v", st)
	}
	if len(e.sim.Users()) != 1 {
		t.Fatalf("want one user, got %d", len(e.sim.Users()))
	}
}

func TestUsersMatchByPhone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	id, _ := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"phone": "+7 (900) 123-45-67"}}))
	for _, p := range []any{"89001234567", "+79001234567", "9001234567", 79001234567} {
		got, status := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"phone": p}}))
		if got != id || status != "active" {
			t.Fatalf("phone %v: id %d, want %d", p, got, id)
		}
	}
	// An e-mail with the phone of a user without e-mail: the same person; refresh fills the e-mail.
	got, _ := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "anna@mail.ru", "phone": "8 900 123 45 67"},
		"system": obj{"refresh_if_exists": 1}}))
	if got != id {
		t.Fatalf("e-mail + phone: id %d, want %d", got, id)
	}
	// Now matched by e-mail alone.
	got, _ = okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "ANNA@mail.ru"}}))
	if got != id {
		t.Fatalf("by e-mail after refresh: id %d, want %d", got, id)
	}
	// A different e-mail with the same phone is a different person.
	other, status := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "boris@mail.ru", "phone": "89001234567"}}))
	if other == id || status != "added" {
		t.Fatalf("different e-mail, same phone: id %d status %q", other, status)
	}
}

func TestGroupsAddAndReplace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	id, _ := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "g@x.ru",
		"group_name": []any{"Клиенты", []string{"Новая группа", "2024-08-01 21:21"}}}}))
	// On add, groups are added to the existing ones (even without refresh_if_exists).
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "g@x.ru", "group_name": []any{[]string{"Марафон", "2024-08-02"}, "Клиенты"}}}))
	names := func() []string {
		var out []string
		for _, m := range e.sim.Users()[0].Groups {
			out = append(out, m.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"Клиенты", "Новая группа", "Марафон"}) {
		t.Fatalf("groups after two adds: %q", got)
	}
	u := e.sim.Users()[0]
	if at := u.Groups[1].AddedAt; !at.Equal(time.Date(2024, 8, 1, 21, 21, 0, 0, msk)) {
		t.Fatalf("join time: %v", at)
	}
	// users/update replaces the groups.
	a := e.imp("/pl/api/users", "update", obj{"user": obj{"id": id, "group_name": []string{"Марафон", "Рассылка"}}})
	if got, _ := okUser(t, a); got != id {
		t.Fatalf("update answered id %d: %s", got, a.raw)
	}
	if got := names(); !slices.Equal(got, []string{"Марафон", "Рассылка"}) {
		t.Fatalf("groups after update: %q", got)
	}
	// The seed's form of update, with the id as a string.
	okUser(t, e.imp("/pl/api/users", "update", obj{"user_id": itoa(id), "group_name": []string{"VIP Студенты"}}))
	if got := names(); !slices.Equal(got, []string{"VIP Студенты"}) {
		t.Fatalf("groups after seed-form update: %q", got)
	}
	wantRowError(t, e.imp("/pl/api/users", "update", obj{"user": obj{"id": 42, "group_name": []string{"X"}}}), txtNoUser)
	// The new group was created by name and is listed.
	var found bool
	for _, g := range e.sim.Groups() {
		if g.Name == "Новая группа" {
			found = true
		}
	}
	if !found || e.sim.Stats().GroupsUpdated != 2 {
		t.Fatalf("groups %+v, stats %+v", e.sim.Groups(), e.sim.Stats())
	}
}

func TestCallLevelErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	good := b64(obj{"user": obj{"email": "a@b.ru"}})
	tests := []struct {
		name string
		path string
		form url.Values
		want string
	}{
		{"wrong key", "/pl/api/users", url.Values{"action": {"add"}, "key": {"nope"}, "params": {good}}, txtBadKey},
		{"missing key", "/pl/api/users", url.Values{"action": {"add"}, "params": {good}}, txtNoKey},
		{"no action", "/pl/api/users", url.Values{"key": {DefaultKey}, "params": {good}}, txtNoAction},
		{"no params", "/pl/api/users", url.Values{"action": {"add"}, "key": {DefaultKey}}, txtNoParams},
		{"not base64", "/pl/api/users", url.Values{"action": {"add"}, "key": {DefaultKey}, "params": {"%%%"}}, txtNoParams},
		{"base64 of non-JSON", "/pl/api/deals", url.Values{"action": {"add"}, "key": {DefaultKey},
			"params": {base64.StdEncoding.EncodeToString([]byte("user=a"))}}, txtNoParams},
		{"unknown action", "/pl/api/deals", url.Values{"action": {"delete"}, "key": {DefaultKey}, "params": {good}}, txtForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCallError(t, e.postForm(tt.path, tt.form), tt.want)
		})
	}
	// A POST turned into a GET by a redirect loses its body.
	req, _ := http.NewRequest(http.MethodGet, e.base+"/pl/api/users?action=add&key="+DefaultKey+"&params="+url.QueryEscape(good), nil)
	wantCallError(t, e.do(req), txtNoAction)
	if n := len(e.sim.Users()); n != 0 {
		t.Fatalf("refused calls created %d users", n)
	}
	if got := e.sim.Stats().Requests["/pl/api/users"]; got != 6 {
		t.Fatalf("Requests[/pl/api/users] = %d, want 6", got)
	}
}

func TestParamsEncodings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	// Characters chosen so that the standard and URL-safe alphabets differ.
	raw := []byte(`{"user":{"email":"enc@x.ru","first_name":"Ёжик>>>???"}}`)
	for name, enc := range map[string]*base64.Encoding{"std": base64.StdEncoding, "url": base64.URLEncoding,
		"raw-std": base64.RawStdEncoding, "raw-url": base64.RawURLEncoding} {
		t.Run(name, func(t *testing.T) {
			okUser(t, e.postForm("/pl/api/users", url.Values{"action": {"add"}, "key": {DefaultKey}, "params": {enc.EncodeToString(raw)}}))
		})
	}
	// Not percent-encoding the form turns "+" into a space: the service cannot read the params.
	p := base64.StdEncoding.EncodeToString(raw)
	if !strings.Contains(p, "+") {
		t.Fatalf("test data should contain +: %s", p)
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/pl/api/users",
		strings.NewReader("action=add&key="+DefaultKey+"&params="+p))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantCallError(t, e.do(req), txtNoParams)
}

func TestRowErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	user := obj{"email": "row@x.ru"}
	tests := []struct {
		name, path, action string
		params             obj
		want               string
	}{
		{"no contact", "/pl/api/users", "add", obj{"user": obj{"first_name": "Иван"}}, txtNoContact},
		{"empty user", "/pl/api/users", "add", obj{"user": []any{}}, txtNoContact},
		{"malformed email", "/pl/api/users", "add", obj{"user": obj{"email": "ivan.mail.ru"}}, txtBadEmail},
		{"two @", "/pl/api/users", "add", obj{"user": obj{"email": "a@b@c.ru"}}, txtBadEmail},
		{"deal no contact", "/pl/api/deals", "add", obj{"user": obj{}, "deal": obj{"offer_id": 1}}, txtNoContact},
		{"deal status", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"offer_id": 1, "deal_status": "paid"}},
			"Неверный статус заказа, попробуйте один из - new, payed, cancelled, false, in_work, payment_waiting, part_payed, waiting_for_return, not_confirmed, pending"},
		{"payment status", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"offer_id": 1, "payment_status": "ok"}}, txtBadPayStatus + "expected, accepted"},
		{"seed payment type", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"offer_id": 1, "payment_type": "card"}}, txtBadPayType + "2CO, ALFA"},
		{"currency", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"offer_id": 1, "deal_currency": "rub"}}, txtBadCurrency + "RUB, USD"},
		{"no offer", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"deal_cost": "100"}}, txtNoOffer},
		{"title without cost", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"product_title": "Курс"}}, txtNoOffer},
		{"bad offer id", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"offer_id": "abc"}}, txtBadOffer},
		{"bad cost", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"offer_code": "X", "deal_cost": "сто"}}, txtBadCost},
		{"bad date", "/pl/api/deals", "add", obj{"user": user, "deal": obj{"offer_id": 1, "deal_created_at": "31.02"}}, txtBadDate},
		{"message without email", "/pl/api/messages", "send", obj{"message": obj{"mailing_id": 5}}, txtNoMsgEmail},
		{"message without mailing", "/pl/api/messages", "send", obj{"message": obj{"email": "a@b.ru"}}, txtNoMailing},
		{"message transport", "/pl/api/messages", "send", obj{"message": obj{"email": "a@b.ru", "mailing_id": 5, "transport": "pigeon"}}, txtBadTransport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRowError(t, e.imp(tt.path, tt.action, tt.params), tt.want)
		})
	}
	st := e.sim.Stats()
	if st.RowErrors != len(tests) || st.UsersCreated != 0 || st.DealsCreated != 0 || st.MessagesSent != 0 {
		t.Fatalf("stats after row errors: %+v", st)
	}
}

func TestDeals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	deal := func(params obj) (dealID, userID int64, r map[string]any) {
		t.Helper()
		a := e.imp("/pl/api/deals", "add", params)
		r = a.result()
		if r == nil || r["success"] != true {
			t.Fatalf("deal: %s", a.raw)
		}
		for _, k := range []string{"deal_id", "deal_number", "user_id", "user_status", "error_message", "error", "payment_link"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("deal answer lacks %s: %s", k, a.raw)
			}
		}
		return num(r["deal_id"]), num(r["user_id"]), r
	}
	// Minimum forms.
	d1, u1, r := deal(obj{"user": obj{"email": "buyer@x.ru"}, "deal": obj{"offer_id": 12345}})
	if r["user_status"] != "added" || r["deal_number"] != "" {
		t.Fatalf("first deal: %v", r)
	}
	d2, u2, r := deal(obj{"user": obj{"email": "BUYER@x.ru"}, "deal": obj{"product_title": "Курс", "deal_cost": "9 990,50"}})
	if d2 == d1 || u2 != u1 || r["user_status"] != "active" {
		t.Fatalf("a deal without number must be new (%d vs %d), the user the same (%d vs %d)", d2, d1, u2, u1)
	}
	// With a number: the second call edits.
	d3, _, r := deal(obj{"user": obj{"email": "n@x.ru"}, "deal": obj{"deal_number": "ORD-1", "offer_code": "C", "deal_cost": 100,
		"deal_status": "new", "addfields": obj{"Трек-номер": "RA1", "Чужое": "x"}}})
	if r["deal_number"] != "ORD-1" {
		t.Fatalf("deal_number echoed: %v", r)
	}
	d4, _, _ := deal(obj{"user": obj{"email": "n@x.ru"}, "deal": obj{"deal_number": "ORD-1", "deal_status": "payed", "deal_is_paid": "да",
		"payment_type": "CARD"}})
	if d4 != d3 {
		t.Fatalf("an existing deal_number must edit the deal: %d vs %d", d4, d3)
	}
	_, _, r = deal(obj{"user": obj{"email": "z@x.ru"}, "deal": obj{"offer_id": 1}, "system": obj{"return_deal_number": 1, "return_payment_link": 1}})
	if r["deal_number"] == "" || !strings.Contains(r["payment_link"].(string), "/sales/shop/dealPay/") {
		t.Fatalf("return_deal_number / return_payment_link: %v", r)
	}
	deals := e.sim.Deals()
	if len(deals) != 4 {
		t.Fatalf("want 4 deals, got %d", len(deals))
	}
	var ord Deal
	for _, d := range deals {
		if d.Number == "ORD-1" {
			ord = d
		}
	}
	if ord.Status != "payed" || !ord.IsPaid || ord.Cost != "100.00" || ord.PaymentType != "CARD" ||
		ord.Fields["Трек-номер"] != "RA1" || len(ord.Fields) != 1 || ord.PaymentStatus != "accepted" {
		t.Fatalf("edited deal: %+v", ord)
	}
	if deals[1].Cost != "9990.50" {
		t.Fatalf("cost: %q", deals[1].Cost)
	}
	st := e.sim.Stats()
	if st.DealsCreated != 4 || st.DealsUpdated != 1 || st.DealsByNumber["ORD-1"] != 2 || st.UsersCreated != 3 ||
		st.AddsByEmail["buyer@x.ru"] != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestMessagesSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	a := e.imp("/pl/api/messages", "send", obj{"message": obj{"email": "Reader@x.ru", "mailing_id": "5", "transport": "email",
		"params": obj{"first_name": "Иван"}}})
	if a.result()["success"] != true || a.m["action"] != "send" {
		t.Fatalf("send: %s", a.raw)
	}
	m := e.sim.Messages()
	if len(m) != 1 || m[0].Email != "reader@x.ru" || m[0].MailingID != "5" || m[0].Params["first_name"] != "Иван" {
		t.Fatalf("messages: %+v", m)
	}
	if e.sim.Stats().MessagesSent != 1 {
		t.Fatal("MessagesSent")
	}
}

func TestMonthlyAllowance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Plan: "start", MonthlyAllowance: 3})
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "1@x.ru"}}))
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "2@x.ru"}}))
	// A deal with a new user needs two objects; only one is left: nothing is created.
	wantCallError(t, e.imp("/pl/api/deals", "add", obj{"user": obj{"email": "3@x.ru"}, "deal": obj{"offer_id": 1}}), txtQuota)
	if n := len(e.sim.Users()); n != 2 {
		t.Fatalf("a refused call must change nothing: %d users", n)
	}
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "3@x.ru"}}))
	wantCallError(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "4@x.ru"}}), txtQuota)
	// Updates don't count.
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "1@x.ru", "city": "Омск"}, "system": obj{"refresh_if_exists": 1}}))
	// RollMonth frees the allowance.
	e.sim.RollMonth()
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "4@x.ru"}}))
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "5@x.ru"}}))
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "6@x.ru"}}))
	wantCallError(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "7@x.ru"}}), txtQuota)
	// So does the calendar (the injected clock).
	e.clock.Advance(31 * 24 * time.Hour)
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "7@x.ru"}}))
	// And the control endpoint.
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "8@x.ru"}}))
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "9@x.ru"}}))
	wantCallError(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "10@x.ru"}}), txtQuota)
	if a := e.postForm("/_sim/month", nil); a.status != 200 {
		t.Fatalf("/_sim/month: %d %s", a.status, a.raw)
	}
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "10@x.ru"}}))
}

func TestPlanDefaults(t *testing.T) {
	t.Parallel()
	for plan, want := range map[string]int{"start": 1000, "business": 10000, "pro": -1, "": -1} {
		s := New(Config{Plan: plan})
		if s.allowance != want {
			t.Errorf("plan %q: allowance %d, want %d", plan, s.allowance, want)
		}
	}
}

// TestTrialPlan: on a plan without the import API (trial, as observed) import calls get an
// empty 200 text/html page and write nothing, while exports, groups and fields work; no-api
// refuses the export API too (917). SetPlan (and /_sim/plan) switches at run time.
func TestTrialPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Plan: "trial", ExportDelay: -1})
	emptyPage := func() {
		t.Helper()
		for _, p := range []string{"/pl/api/users", "/pl/api/deals"} {
			a := e.imp(p, "add", obj{"user": obj{"email": "a@b.ru"}, "deal": obj{"product_title": "X", "deal_cost": 1}})
			if a.status != 200 || a.raw != "" || !strings.HasPrefix(a.ctype, "text/html") {
				t.Fatalf("trial import: HTTP %d %q %q", a.status, a.ctype, a.raw)
			}
		}
	}
	emptyPage()
	if a := e.get("/pl/api/account/users", url.Values{"status": {"active"}}); a.m["success"] != true {
		t.Fatalf("trial export start: %s", a.raw)
	}
	if a := e.get("/pl/api/account/groups", nil); a.m["success"] != true {
		t.Fatalf("trial groups: %s", a.raw)
	}
	if a := e.postForm("/pl/api/account/fields", url.Values{"action": {"get"}, "key": {DefaultKey}}); a.m["success"] != true {
		t.Fatalf("trial fields: %s", a.raw)
	}
	if st := e.sim.Stats(); len(e.sim.Users()) != 0 || len(e.sim.Deals()) != 0 || st.UsersCreated+st.DealsCreated != 0 {
		t.Fatal("trial imports must write nothing")
	}

	if err := e.sim.SetPlan("no-api"); err != nil {
		t.Fatal(err)
	}
	emptyPage()
	wantExportError(t, e.get("/pl/api/account/users", url.Values{"status": {"active"}}), 917, txtNoFeature)
	wantExportError(t, e.get("/pl/api/account/groups", nil), 917, txtNoFeature)

	if a := e.postForm("/_sim/plan", url.Values{"plan": {"pro"}}); a.status != 200 || e.sim.Plan() != "pro" {
		t.Fatalf("/_sim/plan: HTTP %d %s, plan %s", a.status, a.raw, e.sim.Plan())
	}
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "a@b.ru"}}))
	if err := e.sim.SetPlan("gold"); err == nil {
		t.Error("an unknown plan was taken")
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, with429 := range []bool{false, true} {
		t.Run(map[bool]string{false: "200", true: "429"}[with429], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Config{Rate: 2, RateLimit429: with429})
			okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "1@x.ru"}}))
			okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "2@x.ru"}}))
			// The fake clock stands still: the bucket is empty.
			resp, err := e.http.PostForm(e.base+"/pl/api/users", url.Values{"action": {"add"}, "key": {DefaultKey},
				"params": {b64(obj{"user": obj{"email": "3@x.ru"}})}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if with429 {
				if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
					t.Fatalf("want 429 + Retry-After, got %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			} else {
				wantCallError(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "3@x.ru"}}), txtTooMany)
			}
			if n := len(e.sim.Users()); n != 2 {
				t.Fatalf("rate-limited calls changed data: %d users", n)
			}
			e.clock.Advance(time.Second)
			okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "3@x.ru"}}))
			// Lift the limit at run time, through the control endpoint.
			if a := e.postForm("/_sim/rate?per_second=0", nil); a.status != 200 {
				t.Fatalf("/_sim/rate: %s", a.raw)
			}
			for i := range 10 {
				okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": itoa(int64(i)) + "@y.ru"}}))
			}
			e.sim.SetRate(1)
			okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "z@y.ru"}}))
			if a := e.imp("/pl/api/users", "add", obj{"user": obj{"email": "zz@y.ru"}}); a.status == 200 && a.m["success"] == true {
				t.Fatalf("SetRate(1) did not limit: %s", a.raw)
			}
			want := 3 // the raw call, the checked one, the one after SetRate
			if with429 {
				want = 2
			}
			if st := e.sim.Stats(); st.RateLimited != want {
				t.Fatalf("RateLimited = %d, want %d", st.RateLimited, want)
			}
		})
	}
}

func TestSeedShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Shape: "seed"})
	a := e.imp("/pl/api/users", "add", obj{"user": obj{"email": "s@x.ru"}})
	r := a.result()
	if a.m["success"] != "true" || r["success"] != "true" || r["error"] != "false" || r["user_status"] != "added" {
		t.Fatalf("seed shape: %s", a.raw)
	}
	if _, ok := r["user_id"].(string); !ok {
		t.Fatalf("seed shape ids are strings: %s", a.raw)
	}
	a = e.imp("/pl/api/deals", "add", obj{"user": obj{"email": "s@x.ru"}, "deal": obj{"offer_id": 1}})
	if _, ok := a.result()["deal_id"].(string); !ok {
		t.Fatalf("seed deal_id: %s", a.raw)
	}
	a = e.imp("/pl/api/users", "add", obj{"user": obj{}})
	if r := a.result(); r["success"] != "false" || r["error"] != "true" || r["error_message"] != txtNoContact {
		t.Fatalf("seed row error: %s", a.raw)
	}
	a = e.postForm("/pl/api/users", url.Values{"action": {"add"}, "key": {"bad"}, "params": {b64(obj{})}})
	if a.m["success"] != "false" || a.m["error"] != "true" || a.m["error_message"] != txtBadKey {
		t.Fatalf("seed call error: %s", a.raw)
	}
	a = e.get("/pl/api/account/groups", nil)
	groups, _ := a.result()["groups"].([]any)
	if a.m["success"] != "true" || len(groups) != len(seededGroups) {
		t.Fatalf("seed groups: %s", a.raw)
	}
	g := groups[0].(map[string]any)
	if g["title"] != "Тренинг SMM" || g["users_count"] == nil {
		t.Fatalf("seed group: %v", g)
	}
	a = e.get("/pl/api/account/users", url.Values{"status": {"active"}})
	if _, ok := a.info()["export_id"].(string); !ok || a.m["success"] != "true" {
		t.Fatalf("seed export start: %s", a.raw)
	}
}

func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 2000, SeedDeals: 2000, ExportDelay: -1, ExportBudget: -1})
	const workers, calls = 8, 60
	errs := make(chan error, workers+1)
	for w := range workers {
		go func() {
			for i := range calls {
				email := "c" + strconv.Itoa(i%20) + "@x.ru" // shared between workers
				form := url.Values{"action": {"add"}, "key": {DefaultKey}}
				path := "/pl/api/users"
				switch i % 3 {
				case 0:
					form.Set("params", b64(obj{"user": obj{"email": email, "group_name": []string{"Г" + strconv.Itoa(w)}},
						"system": obj{"refresh_if_exists": 1}}))
				case 1:
					path = "/pl/api/deals"
					form.Set("params", b64(obj{"user": obj{"email": email}, "deal": obj{"deal_number": "N" + strconv.Itoa(i%10), "offer_id": 1}}))
				case 2:
					path = "/pl/api/deals"
					form.Set("params", b64(obj{"user": obj{"email": email}, "deal": obj{"offer_id": 7}}))
				}
				resp, err := e.http.PostForm(e.base+path, form)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
			}
			errs <- nil
		}()
	}
	go func() {
		for range 3 {
			resp, err := e.http.Get(e.base + "/pl/api/account/users?created_at[from]=2000-01-01&key=" + DefaultKey)
			if err != nil {
				errs <- err
				return
			}
			var start struct {
				Info struct {
					ExportID int64 `json:"export_id"`
				} `json:"info"`
			}
			err = json.NewDecoder(resp.Body).Decode(&start)
			resp.Body.Close()
			if err != nil || start.Info.ExportID == 0 {
				errs <- fmt.Errorf("start: %v", err)
				return
			}
			resp, err = e.http.Get(e.base + "/pl/api/account/exports/" + itoa(start.Info.ExportID) + "?key=" + DefaultKey)
			if err != nil {
				errs <- err
				return
			}
			var f exportFile
			err = json.NewDecoder(resp.Body).Decode(&f)
			resp.Body.Close()
			if err != nil || len(f.Info.Items) < 2000 {
				errs <- fmt.Errorf("collect: %v, %d rows", err, len(f.Info.Items))
				return
			}
		}
		errs <- nil
	}()
	for range workers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := e.sim.Stats()
	if st.UsersCreated != 20 || len(e.sim.Users()) != 20 {
		t.Fatalf("20 distinct e-mails, %d users created", st.UsersCreated)
	}
	// 10 numbered deals; every unnumbered call is a new deal.
	if st.DealsCreated != 10+workers*calls/3 || st.DealsUpdated != workers*calls/3-10 {
		t.Fatalf("deals created %d updated %d", st.DealsCreated, st.DealsUpdated)
	}
}
