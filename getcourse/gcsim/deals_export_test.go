package gcsim

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDealsExportListsImportedAndHandMadeDeals: deals created through deals/add and deals made
// by hand (AddDeal) are rows of the deals export, with the columns a settlement reads: id,
// number, buyer, creation time, title (product or offer), Russian money, status label; and the
// created_at filter picks them by day.
func TestDealsExportListsImportedAndHandMadeDeals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedDeals: 20, ExportDelay: -1})
	a := e.imp("/pl/api/deals", "add", obj{"user": obj{"email": "Anna@Example.com", "phone": "+79001112233"},
		"deal": obj{"product_title": "Курс «SMM»", "deal_cost": "12000.50"}})
	if a.result()["success"] != true {
		t.Fatalf("deals/add: %s", a.raw)
	}
	dealID := num(a.result()["deal_id"])
	e.imp("/pl/api/deals", "add", obj{"user": obj{"email": "boris@example.com"},
		"deal": obj{"offer_code": "smm-2", "deal_cost": "990", "deal_status": "payed"}})
	hand := e.sim.AddDeal(Deal{UserEmail: "anna@example.com", ProductTitle: "Курс «SMM»", Cost: "12 000,50"})
	old := e.sim.AddDeal(Deal{UserEmail: "vera@example.com", ProductTitle: "Старый заказ", Cost: "100",
		CreatedAt: e.clock.Now().AddDate(0, 0, -3)})
	if hand.UserID == 0 || hand.Number == "" || hand.ID == dealID || old.ID == hand.ID {
		t.Fatalf("hand-made deals: %+v %+v", hand, old)
	}
	if st := e.sim.Stats(); st.DealsCreated != 2 {
		t.Fatalf("AddDeal must not count as an import call: %+v", st)
	}

	made := e.clock.Now().In(msk).Format(time.DateTime)
	today := e.clock.Now().Format(time.DateOnly)
	f := e.runExport("/pl/api/account/deals", url.Values{"created_at[from]": {today}, "created_at[to]": {today}})
	if len(f.Info.Items) != 3 {
		t.Fatalf("today's deals: %d rows, want 3: %v", len(f.Info.Items), f.Info.Items)
	}
	ic, ec, pc, tc, cc := f.col(t, "ID заказа"), f.col(t, "Email"), f.col(t, "Телефон"), f.col(t, "Title"), f.col(t, "Стоимость, RUB")
	dc, sc, uc := f.col(t, "Дата создания"), f.col(t, "Статус"), f.col(t, "ID пользователя")
	first := f.Info.Items[0]
	if first[ic] != strconv.FormatInt(dealID, 10) || first[ec] != "anna@example.com" || first[pc] != "+79001112233" ||
		first[tc] != "Курс «SMM»" || strings.ReplaceAll(first[cc], "\u00a0", " ") != "12 000,50" ||
		first[dc] != made || first[sc] != "Новый" || first[uc] == "" {
		t.Fatalf("imported deal row: %q (deal %d made at %s)", first, dealID, made)
	}
	if second := f.Info.Items[1]; second[tc] != "Предложение smm-2" || second[cc] != "990,00" || second[sc] != "Завершен" {
		t.Fatalf("offer deal row: %q", second)
	}
	if third := f.Info.Items[2]; third[ic] != strconv.FormatInt(hand.ID, 10) || third[uc] != first[uc] {
		t.Fatalf("hand-made deal of the same buyer: %q (buyer %s)", third, first[uc])
	}
	three := e.clock.Now().AddDate(0, 0, -3).In(msk).Format(time.DateOnly)
	f = e.runExport("/pl/api/account/deals", url.Values{"created_at[from]": {three}, "created_at[to]": {three}})
	if len(f.Info.Items) != 1 || f.Info.Items[0][ic] != strconv.FormatInt(old.ID, 10) {
		t.Fatalf("deals of three days ago: %v", f.Info.Items)
	}
}

// TestVanishApply: with VanishApply an import call whose client goes away before the answer
// is applied or not, by the seeded generator, and counted either way; a call whose client
// waits is applied and answered as usual.
func TestVanishApply(t *testing.T) {
	t.Parallel()
	patient := newEnv(t, Config{Latency: 10 * time.Millisecond, VanishApply: 0.5})
	if a := patient.imp("/pl/api/deals", "add", obj{"user": obj{"email": "patient@example.com"},
		"deal": obj{"product_title": "Курс", "deal_cost": "10"}}); a.result()["success"] != true || patient.sim.Stats().DealsCreated != 1 {
		t.Fatalf("a patient client: %s", a.raw)
	}

	// Each client goes away once gcsim holds its call (the latency is far longer).
	e := newEnv(t, Config{Latency: time.Hour, VanishApply: 0.5, Seed: 7})
	const calls = 24
	for i := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			form := url.Values{"action": {"add"}, "key": {DefaultKey}, "params": {b64(obj{
				"user": obj{"email": "gone" + strconv.Itoa(i) + "@example.com"}, "deal": obj{"product_title": "Курс", "deal_cost": "10"}})}}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/pl/api/deals", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if resp, err := e.http.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("call %d was answered despite an hour of latency", i)
			}
		}()
		waitSim(t, func(st Stats) bool { return st.Requests["/pl/api/deals"] == i+1 }, e.sim)
		cancel()
		<-done
	}
	st := waitSim(t, func(st Stats) bool {
		return st.FaultsInjected["vanished_applied"]+st.FaultsInjected["vanished_dropped"] == calls
	}, e.sim)
	applied, dropped := st.FaultsInjected["vanished_applied"], st.FaultsInjected["vanished_dropped"]
	if applied == 0 || dropped == 0 {
		t.Fatalf("vanished calls: %d applied, %d dropped; want some of each", applied, dropped)
	}
	if st.DealsCreated != applied {
		t.Fatalf("%d deals created, want the %d applied", st.DealsCreated, applied)
	}
}

// waitSim polls the Sim's stats until cond holds (the server sees a client's moves a moment
// after the client makes them).
func waitSim(t *testing.T, cond func(Stats) bool, sim *Sim) Stats {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		if st := sim.Stats(); cond(st) {
			return st
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("gcsim never got there: %+v", sim.Stats())
		}
	}
}
