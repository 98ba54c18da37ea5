package gcsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/internal/ruphone"
)

func TestExportLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 50, ExportDelay: 30 * time.Second})
	a := e.get("/pl/api/account/users", url.Values{"status": {"active"}})
	id := num(a.info()["export_id"])
	if a.m["success"] != true || id <= 0 {
		t.Fatalf("start: %s", a.raw)
	}
	// One export at a time: a second start is refused and starts nothing.
	wantExportError(t, e.get("/pl/api/account/deals", url.Values{"status": {"new"}}), 905, txtBusy)
	wantExportError(t, e.get("/pl/api/account/exports/"+itoa(id), nil), 909, txtNotReady)
	e.clock.Advance(29 * time.Second)
	wantExportError(t, e.get("/pl/api/account/exports/"+itoa(id), nil), 909, txtNotReady)
	e.clock.Advance(time.Second)
	f := e.collect(id)
	if len(f.Info.Fields) != len(userColumns)+len(userFields) || f.Info.Fields[0] != "id" || f.Info.Fields[1] != "Email" {
		t.Fatalf("fields: %q", f.Info.Fields)
	}
	if len(f.Info.Items) == 0 {
		t.Fatal("no active users among 50 seeded")
	}
	// Collected again: still there (and counted again).
	if g := e.collect(id); len(g.Info.Items) != len(f.Info.Items) {
		t.Fatal("second collection differs")
	}
	// The finished export no longer blocks.
	a = e.get("/pl/api/account/deals", url.Values{"status": {"new"}})
	if a.m["success"] != true {
		t.Fatalf("start after the first was ready: %s", a.raw)
	}
	st := e.sim.Stats()
	if st.ExportStarts != 2 || st.ExportCalls != 7 || st.Requests["/pl/api/account/exports/{id}"] != 4 {
		t.Fatalf("stats: starts %d calls %d requests %v", st.ExportStarts, st.ExportCalls, st.Requests)
	}
	// An unknown export id.
	wantGone(t, e.get("/pl/api/account/exports/999", nil))
	wantGone(t, e.get("/pl/api/account/exports/abc", nil))
}

func TestExportErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{ExportDelay: -1})
	tests := []struct {
		name, path string
		q          url.Values
		code       int
		text       string
	}{
		{"no filter", "/pl/api/account/users", url.Values{}, 908, txtNoFilter},
		{"only unknown filters", "/pl/api/account/deals", url.Values{"colour": {"red"}, "created_at[from]": {""}}, 908, txtNoFilter},
		{"bad date", "/pl/api/account/users", url.Values{"created_at[from]": {"01.02.2024"}}, 908, txtBadFilterVal},
		{"deal status", "/pl/api/account/deals", url.Values{"status": {"paid"}}, 913, "Неверный статус заказа, попробуйте один из - new, payed"},
		{"user status", "/pl/api/account/users", url.Values{"status": {"blocked"}}, 914, txtBadUserStatus + "active, deactivated, banned, invited, in_base"},
		{"group user status", "/pl/api/account/groups/1/users", url.Values{"status": {"x"}}, 914, txtBadUserStatus},
		{"payment status", "/pl/api/account/payments", url.Values{"status": {"payed"}}, 918, txtBadPayStat + "expected, accepted"},
		{"unknown group", "/pl/api/account/groups/77/users", url.Values{"status": {"active"}}, 910, txtNoGroup},
		{"wrong key", "/pl/api/account/users", url.Values{"key": {"nope"}, "status": {"active"}}, 901, txtBadKey},
		{"missing key", "/pl/api/account/groups", url.Values{"key": {""}}, 904, txtNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantExportError(t, e.get(tt.path, tt.q), tt.code, tt.text)
		})
	}
	if st := e.sim.Stats(); st.ExportStarts != 0 || st.ExportCalls != len(tests)-2 {
		t.Fatalf("starts %d calls %d (key errors are not admitted)", st.ExportStarts, st.ExportCalls)
	}
	// The magic filter: builds, then fails for good.
	a := e.get("/pl/api/account/users", url.Values{SimFailFilter: {"1"}})
	id := num(a.info()["export_id"])
	if id <= 0 {
		t.Fatalf("sim_fail start: %s", a.raw)
	}
	wantExportError(t, e.get("/pl/api/account/exports/"+itoa(id), nil), 910, txtExportFailed)
	a = e.get("/pl/api/account/deals", url.Values{SimFailFilter + "[from]": {"1"}})
	wantExportError(t, e.get("/pl/api/account/exports/"+itoa(num(a.info()["export_id"])), nil), 910, txtExportFailed)
}

func TestExportBudgetWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{ExportBudget: 5, ExportWindow: time.Hour, ExportDelay: -1})
	for i := range 5 {
		if a := e.get("/pl/api/account/groups", nil); a.m["success"] != true {
			t.Fatalf("call %d: %s", i, a.raw)
		}
		e.clock.Advance(10 * time.Minute) // calls at 0, 10, 20, 30, 40 min
	}
	// At 50 min the window holds five calls: every kind of call is refused.
	for _, p := range []string{"/pl/api/account/groups", "/pl/api/account/fields", "/pl/api/account/users?status=active",
		"/pl/api/account/exports/1"} {
		path, q, _ := strings.Cut(p, "?")
		v, _ := url.ParseQuery(q)
		wantExportError(t, e.get(path, v), 903, txtTooMany)
	}
	// Refused calls do not extend the block: at 60 min + 1 s the first call has aged out.
	e.clock.Advance(10*time.Minute + time.Second)
	if a := e.get("/pl/api/account/fields", nil); a.m["success"] != true {
		t.Fatalf("after aging: %s", a.raw)
	}
	wantExportError(t, e.get("/pl/api/account/groups", nil), 903, txtTooMany)
	e.clock.Advance(10 * time.Minute)
	if a := e.get("/pl/api/account/groups", nil); a.m["success"] != true {
		t.Fatalf("after aging twice: %s", a.raw)
	}
	st := e.sim.Stats()
	if st.ExportCalls != 7 || st.Requests["/pl/api/account/groups"] != 8 {
		t.Fatalf("ExportCalls %d (want 7), requests %v", st.ExportCalls, st.Requests)
	}
}

func TestExportPostWithKeyInBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedDeals: 20, ExportDelay: -1})
	a := e.postForm("/pl/api/account/deals", url.Values{"key": {DefaultKey}, "created_at[from]": {"2022-01-01"}})
	id := num(a.info()["export_id"])
	if id <= 0 {
		t.Fatalf("POST start: %s", a.raw)
	}
	a = e.postForm("/pl/api/account/exports/"+itoa(id), url.Values{"key": {DefaultKey}})
	var f exportFile
	if err := json.Unmarshal([]byte(a.raw), &f); err != nil || len(f.Info.Items) != 20 {
		t.Fatalf("POST collect: %v %d items", err, len(f.Info.Items))
	}
}

func TestFieldsAndGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 10})
	a := e.postForm("/pl/api/account/fields", url.Values{"action": {"get"}, "key": {DefaultKey}})
	info, _ := a.m["info"].([]any)
	if a.m["success"] != true || len(info) != len(userFields)+len(dealFields) {
		t.Fatalf("fields: %s", a.raw)
	}
	// The real shape: every value a string, the name in title, the object in context_type.
	f0, f5 := info[0].(map[string]any), info[5].(map[string]any)
	want := map[string]any{"id": "1", "title": "Telegram", "type": "text", "context_type": "user",
		"required": "0", "field_order_pos": "1", "params": ""}
	if len(f0) != len(want) {
		t.Fatalf("field: %v", f0)
	}
	for k, v := range want {
		if f0[k] != v {
			t.Fatalf("field: %v", f0)
		}
	}
	if f5["title"] != "Трек-номер" || f5["context_type"] != "deal" {
		t.Fatalf("deal field: %v", f5)
	}
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "g@x.ru", "group_name": []any{[]string{"Новая", "2025-01-02 03:04"}}}}))
	a = e.get("/pl/api/account/groups", nil)
	groups, _ := a.m["info"].([]any)
	if len(groups) != len(seededGroups)+1 {
		t.Fatalf("groups: %s", a.raw)
	}
	last := groups[len(groups)-1].(map[string]any)
	if last["name"] != "Новая" || last["last_added_at"] != "2025-01-02 03:04:00" || num(last["id"]) != 6 {
		t.Fatalf("new group: %v", last)
	}
	if st := e.sim.Stats(); st.ExportCalls != 2 {
		t.Fatalf("fields and groups count against the budget: %d", st.ExportCalls)
	}
	var total int
	for _, g := range e.sim.Groups() {
		total += g.Users
	}
	if total == 0 {
		t.Fatal("seeded users should be in groups")
	}
}

func TestExportFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 3000, SeedDeals: 3000, ExportDelay: -1, Seed: 7})
	day := func(s string) time.Time {
		d, err := time.ParseInLocation(time.DateTime, s, msk)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	within := func(t *testing.T, f *exportFile, col, from, to string) {
		t.Helper()
		c := f.col(t, col)
		lo, hi := day(from+" 00:00:00"), day(to+" 23:59:59")
		for _, it := range f.Info.Items {
			d := day(it[c])
			if d.Before(lo) || d.After(hi) {
				t.Fatalf("%s %s outside %s..%s", col, it[c], from, to)
			}
		}
	}
	all := e.runExport("/pl/api/account/users", url.Values{"created_at[from]": {"2000-01-01"}})
	if len(all.Info.Items) != 3000 {
		t.Fatalf("all users: %d", len(all.Info.Items))
	}
	t.Run("users created_at", func(t *testing.T) {
		f := e.runExport("/pl/api/account/users", url.Values{"created_at[from]": {"2023-03-01"}, "created_at[to]": {"2023-03-31"}})
		// ~3000/36 months ≈ 83 users a month.
		if n := len(f.Info.Items); n < 40 || n > 140 {
			t.Fatalf("a month of users: %d", n)
		}
		within(t, f, "Создан", "2023-03-01", "2023-03-31")
		// Whole days, inclusive: the same count as counting by hand.
		c := all.col(t, "Создан")
		var want int
		for _, it := range all.Info.Items {
			if it[c] >= "2023-03-01" && it[c] < "2023-04-01" {
				want++
			}
		}
		if want != len(f.Info.Items) {
			t.Fatalf("filtered %d, by hand %d", len(f.Info.Items), want)
		}
	})
	t.Run("users single day without brackets", func(t *testing.T) {
		f := e.runExport("/pl/api/account/users", url.Values{"created_at": {"2023-03-05"}})
		within(t, f, "Создан", "2023-03-05", "2023-03-05")
	})
	t.Run("users status and email", func(t *testing.T) {
		f := e.runExport("/pl/api/account/users", url.Values{"status": {"banned"}})
		if n := len(f.Info.Items); n == 0 || n > 200 {
			t.Fatalf("banned users: %d", n)
		}
		ec := all.col(t, "Email")
		emails := []string{all.Info.Items[10][ec], strings.ToUpper(all.Info.Items[20][ec])}
		f = e.runExport("/pl/api/account/users", url.Values{"email": {strings.Join(emails, ",")}})
		if len(f.Info.Items) != 2 {
			t.Fatalf("email filter: %d rows", len(f.Info.Items))
		}
	})
	t.Run("group users", func(t *testing.T) {
		f := e.runExport("/pl/api/account/groups/2/users", url.Values{"added_at[from]": {"2022-01-01"}})
		// VIP Студенты: 3% of 3000.
		if n := len(f.Info.Items); n < 40 || n > 150 {
			t.Fatalf("VIP members: %d", n)
		}
		f.col(t, "Добавлен в группу")
		if ids := e.sim.Groups()[1]; ids.Users != len(f.Info.Items) {
			t.Fatalf("Groups() says %d members, export %d", ids.Users, len(f.Info.Items))
		}
	})
	t.Run("deals", func(t *testing.T) {
		f := e.runExport("/pl/api/account/deals", url.Values{"status": {"payed"}, "payed_at[from]": {"2024-01-01"}, "payed_at[to]": {"2024-06-30"}})
		within(t, f, "Дата оплаты", "2024-01-01", "2024-06-30")
		sc := f.col(t, "Статус")
		for _, it := range f.Info.Items {
			if it[sc] != "Завершен" {
				t.Fatalf("status %q in a payed export", it[sc])
			}
		}
		if n := len(f.Info.Items); n < 100 || n > 400 {
			t.Fatalf("payed deals in half a year: %d", n)
		}
		uid := f.Info.Items[0][f.col(t, "ID пользователя")]
		g := e.runExport("/pl/api/account/deals", url.Values{"user_id": {uid}})
		for _, it := range g.Info.Items {
			if it[g.col(t, "ID пользователя")] != uid {
				t.Fatal("user_id filter")
			}
		}
		if len(g.Info.Items) == 0 {
			t.Fatal("user_id filter found nothing")
		}
		h := e.runExport("/pl/api/account/deals", url.Values{"user_in_group": {"4"}, "status": {"cancelled"}})
		if n := len(h.Info.Items); n == 0 || n > 300 {
			t.Fatalf("user_in_group: %d", n)
		}
	})
	t.Run("payments", func(t *testing.T) {
		f := e.runExport("/pl/api/account/payments", url.Values{"created_at[from]": {"2022-01-01"}})
		sum := e.runExport("/pl/api/account/payments", url.Values{"status": {"accepted"}})
		if n := len(f.Info.Items); n < 1000 || n > 2000 || len(sum.Info.Items) >= n || len(sum.Info.Items) < n*8/10 {
			t.Fatalf("payments: %d, accepted %d", n, len(sum.Info.Items))
		}
		f.col(t, "Сумма")
	})
}

func TestExportIncludesImportedAndChangedRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 200, SeedDeals: 50, ExportDelay: -1})
	all := e.runExport("/pl/api/account/users", url.Values{"created_at[from]": {"2000-01-01"}})
	ec, pc, ic := all.col(t, "Email"), all.col(t, "Телефон"), all.col(t, "id")
	// A seeded user is matched by its e-mail and by its phone.
	var byEmail, byPhone []string
	for _, it := range all.Info.Items {
		if it[ec] != "" && byEmail == nil {
			byEmail = it
		}
		if it[ec] == "" && it[pc] != "" && byPhone == nil {
			byPhone = it
		}
	}
	if byEmail == nil || byPhone == nil {
		t.Fatal("seeded data should have e-mail users and phone-only users")
	}
	id, status := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": strings.ToUpper(byEmail[ec]), "city": "Тверь"},
		"system": obj{"refresh_if_exists": 1}}))
	if strconv.FormatInt(id, 10) != byEmail[ic] || status == "added" {
		t.Fatalf("seeded user by e-mail: id %d status %q, want %s", id, status, byEmail[ic])
	}
	id, _ = okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"phone": "8" + byPhone[pc][2:]}}))
	if strconv.FormatInt(id, 10) != byPhone[ic] {
		t.Fatalf("seeded user by phone: id %d, want %s", id, byPhone[ic])
	}
	if u := e.sim.Users(); len(u) != 1 || !u[0].Seeded || u[0].City != "Тверь" {
		t.Fatalf("changed seeded user: %+v", u)
	}
	// An imported user appears in the export of today.
	newID, _ := okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "new@x.ru", "first_name": "Новый",
		"addfields": obj{"Город доставки": "Москва, \"Сити\"\nбашня 1"}}}))
	today := e.clock.Now().Format(time.DateOnly)
	f := e.runExport("/pl/api/account/users", url.Values{"created_at[from]": {today}})
	if len(f.Info.Items) != 1 || f.Info.Items[0][ic] != strconv.FormatInt(newID, 10) ||
		f.Info.Items[0][f.col(t, "Город доставки")] != "Москва, \"Сити\"\nбашня 1" {
		t.Fatalf("today's users: %v", f.Info.Items)
	}
	all2 := e.runExport("/pl/api/account/users", url.Values{"created_at[from]": {"2000-01-01"}})
	if len(all2.Info.Items) != 201 {
		t.Fatalf("all users after import: %d", len(all2.Info.Items))
	}
	for _, it := range all2.Info.Items {
		if it[ic] == byEmail[ic] && it[all2.col(t, "Город")] != "Тверь" {
			t.Fatal("the export must show the changed seeded user")
		}
	}
	// Editing a seeded deal by its number.
	deals := e.runExport("/pl/api/account/deals", url.Values{"created_at[from]": {"2000-01-01"}})
	nc := deals.col(t, "Номер")
	num0 := deals.Info.Items[0][nc]
	a := e.imp("/pl/api/deals", "add", obj{"user": obj{"email": "x@x.ru"}, "deal": obj{"deal_number": num0, "deal_status": "cancelled"}})
	if a.result()["success"] != true || strconv.FormatInt(num(a.result()["deal_id"]), 10) != deals.Info.Items[0][deals.col(t, "ID заказа")] {
		t.Fatalf("edit seeded deal: %s", a.raw)
	}
	deals = e.runExport("/pl/api/account/deals", url.Values{"created_at[from]": {"2000-01-01"}})
	if deals.Info.Items[0][deals.col(t, "Статус")] != "Отменен" || len(deals.Info.Items) != 50 {
		t.Fatalf("edited seeded deal: %v", deals.Info.Items[0])
	}
	if st := e.sim.Stats(); st.DealsUpdated != 1 || st.DealsCreated != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExportEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 10, ExportDelay: -1})
	a := e.get("/pl/api/account/users", url.Values{"created_at[from]": {"2030-01-01"}})
	a = e.get("/pl/api/account/exports/"+itoa(num(a.info()["export_id"])), nil)
	if !strings.Contains(a.raw, `"items":[]`) || !strings.Contains(a.raw, `"fields":["id","Email"`) {
		t.Fatalf("empty export: %s", a.raw)
	}
}

// TestLargeExportStreams collects 100,000 seeded users, parsed as a stream the way a lean client
// would, and checks every row.
func TestLargeExportStreams(t *testing.T) {
	t.Parallel()
	const n = 100_000
	e := newEnv(t, Config{SeedUsers: n, ExportDelay: -1, Seed: 3})
	a := e.get("/pl/api/account/users", url.Values{"created_at[from]": {"2000-01-01"}})
	resp, err := e.http.Get(e.base + "/pl/api/account/exports/" + itoa(num(a.info()["export_id"])) + "?key=" + DefaultKey)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 {
		t.Fatalf("a big export must be streamed (chunked), got Content-Length %d", resp.ContentLength)
	}
	// The body is read whole here only to check it; json.Unmarshal is the strict parser.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var f exportFile
	if err := json.Unmarshal(body, &f); err != nil || !f.Success {
		t.Fatalf("export JSON: %v", err)
	}
	fields := f.Info.Fields
	if len(fields) != len(userColumns)+len(userFields) {
		t.Fatalf("fields: %q", fields)
	}
	var rows, nbsp, newline, quote int
	prev := int64(0)
	for _, row := range f.Info.Items {
		if len(row) != len(fields) {
			t.Fatalf("row %d has %d cells, want %d", rows, len(row), len(fields))
		}
		id, err := strconv.ParseInt(row[0], 10, 64)
		if err != nil || id <= prev {
			t.Fatalf("row %d: id %q after %d", rows, row[0], prev)
		}
		prev = id
		for _, c := range row {
			newline += strings.Count(c, "\n")
			quote += strings.Count(c, `"`)
			nbsp += strings.Count(c, "\u00a0")
		}
		rows++
	}
	if rows != n || newline == 0 || quote == 0 {
		t.Fatalf("rows %d, cells with newlines %d, quotes %d", rows, newline, quote)
	}
}

func TestExportMoneyAndEscapes(t *testing.T) {
	t.Parallel()
	for _, ascii := range []bool{false, true} {
		e := newEnv(t, Config{SeedDeals: 400, ExportDelay: -1, EscapeUnicode: ascii})
		a := e.get("/pl/api/account/deals", url.Values{"status": {"payed"}})
		a = e.get("/pl/api/account/exports/"+itoa(num(a.info()["export_id"])), nil)
		if ascii && (strings.ContainsFunc(a.raw, func(r rune) bool { return r > 127 }) || !strings.Contains(a.raw, `\u00a0`)) {
			t.Fatal("EscapeUnicode: the answer must be pure ASCII with \\u escapes")
		}
		var f exportFile
		if err := json.Unmarshal([]byte(a.raw), &f); err != nil {
			t.Fatal(err)
		}
		mc := f.col(t, "Стоимость, RUB")
		var spaced, nb int
		for _, it := range f.Info.Items {
			m := it[mc]
			if !strings.Contains(m, ",") || len(m) < 4 {
				t.Fatalf("money %q", m)
			}
			if strings.Contains(m, " ") {
				spaced++
			}
			if strings.Contains(m, "\u00a0") {
				nb++
			}
		}
		if spaced == 0 || nb == 0 {
			t.Fatalf("money with spaces %d, with NBSP %d", spaced, nb)
		}
	}
}

func TestDeterministicData(t *testing.T) {
	t.Parallel()
	body := func(seed int64) []byte {
		e := newEnv(t, Config{SeedUsers: 500, SeedDeals: 500, Seed: seed, ExportDelay: -1})
		a := e.get("/pl/api/account/deals", url.Values{"created_at[from]": {"2000-01-01"}})
		resp, err := e.http.Get(e.base + "/pl/api/account/exports/" + itoa(num(a.info()["export_id"])) + "?key=" + DefaultKey)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	if a, b := body(1), body(1); !bytes.Equal(a, b) {
		t.Fatal("the same seed must give the same data")
	}
	if a, b := body(1), body(2); bytes.Equal(a, b) {
		t.Fatal("another seed should give other data")
	}
}

func TestSeededGeneratorInverses(t *testing.T) {
	t.Parallel()
	g := newGen(5, 100_000, 0)
	var v userView
	emails, phones := 0, 0
	for i := int64(1); i <= 100_000; i += 97 {
		g.user(i, userIDBase+i, &v, g.users)
		if v.email == "" && v.phone == "" {
			t.Fatalf("row %d has no contact", i)
		}
		if v.email != "" {
			emails++
			if emailIndex(v.email) != i || !plausibleEmail(v.email) {
				t.Fatalf("row %d: e-mail %q", i, v.email)
			}
		}
		if v.phone != "" {
			phones++
			if g.phoneIndex(ruphone.Key(v.phone), g.users) != i {
				t.Fatalf("row %d: phone %q", i, v.phone)
			}
		}
	}
	if emails == 0 || phones == 0 {
		t.Fatal("no e-mails or no phones")
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `q"b\s`, "new\nline\ttab\r\x01\x1f", "Ёжик — 😀 \u00a0 \u2028", "\xff bad"} {
		for _, ascii := range []bool{false, true} {
			b := appendJSONString(nil, s, ascii)
			var back string
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%q (ascii %v): %s: %v", s, ascii, b, err)
			}
			want := strings.ToValidUTF8(s, "\ufffd")
			if back != want {
				t.Fatalf("%q (ascii %v) round-tripped to %q", s, ascii, back)
			}
			if ascii && slices.ContainsFunc(b, func(c byte) bool { return c >= 0x80 }) {
				t.Fatalf("ascii mode wrote non-ASCII: %s", b)
			}
		}
	}
}

func TestUnknownPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	for _, p := range []string{"/pl/api/nothing", "/pl/api/account/nothing", "/elsewhere", "/_sim/nothing"} {
		resp, err := e.http.Get(e.base + p + "?key=" + DefaultKey)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: HTTP %d", p, resp.StatusCode)
		}
	}
}

func TestExportGroupColumns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 300, ExportDelay: -1})
	f := e.runExport("/pl/api/account/users", url.Values{"created_at[from]": {"2000-01-01"}, "idgrouplist": {"1|3"}})
	n := len(f.Info.Fields)
	if f.Info.Fields[n-2] != "Тренинг SMM" || f.Info.Fields[n-1] != "Клиенты" {
		t.Fatalf("group columns: %q", f.Info.Fields[n-3:])
	}
	var members int
	for _, it := range f.Info.Items {
		if it[n-1] != "" {
			members++
			if _, err := time.ParseInLocation(time.DateTime, it[n-1], msk); err != nil {
				t.Fatalf("join date %q", it[n-1])
			}
		}
	}
	if want := e.sim.Groups()[2].Users; members != want {
		t.Fatalf("%d rows with a Клиенты date, %d members", members, want)
	}
}
