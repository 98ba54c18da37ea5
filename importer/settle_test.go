package importer

import (
	"crypto/sha256"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/internal/money"
)

// TestSettleCostsReadAlike: a deal's cost as the import sent it and as the service's deals
// export shows it (Russian grouping with a space, NBSP or narrow NBSP, a decimal comma) are the
// same number of kopecks, so the row's signature matches the deal read from the export.
func TestSettleCostsReadAlike(t *testing.T) {
	since := time.Date(2026, 12, 5, 9, 0, 0, 0, moscow)
	for _, tc := range []struct{ sent, shown string }{
		{"12000.00", "12 000,00"},
		{"12000.50", "12\u00a0000,50"},
		{"12000.5", "12\u202f000,50"},
		{"1500", "1 500,00"},
		{"0.50", "0,50"},
		{"1234567.89", "1\u202f234\u202f567,89"},
	} {
		t.Run(tc.sent, func(t *testing.T) {
			p := []byte(`{"deal":{"deal_cost":"` + tc.sent + `","product_title":"Курс"},"user":{"email":"anna@x.ru"}}`)
			rows := []*doubtRow{{sig: signatureOf(p)}}
			export := "ID заказа,Email,Дата создания,Title,\"Стоимость, RUB\"\n" +
				"5000021,anna@x.ru,2026-12-05 10:00:00,Курс,\"" + tc.shown + "\"\n" +
				"5000022,anna@x.ru,2026-12-05 10:00:01,Курс,\"1" + tc.shown + "\"\n" // another cost
			got, err := readCandidates(strings.NewReader(export), rows)
			if err != nil || len(got) != 2 {
				t.Fatalf("%+v %v", got, err)
			}
			if !rows[0].sig.hasCost || !got[0].hasCost || !rows[0].sig.matches(&got[0], since) {
				t.Errorf("sent %q (%d kopecks) does not match the export's %q (%d kopecks)", tc.sent, rows[0].sig.cost, tc.shown, got[0].cost)
			}
			if rows[0].sig.matches(&got[1], since) {
				t.Errorf("sent %q matches the export's %q (%d kopecks)", tc.sent, "1"+tc.shown, got[1].cost)
			}
			if !got[1].hasCost {
				t.Errorf("the export's %q is not read", "1"+tc.shown)
			}
		})
	}
}

func TestSignatureOf(t *testing.T) {
	s := signatureOf([]byte(`{"deal":{"deal_cost":"1990.00","product_title":"Курс  «SMM»","quantity":2},"user":{"email":"Anna@X.ru","phone":"+7 (900) 111-22-33"}}`))
	if s.email != "anna@x.ru" || s.phone != "79001112233" || s.title != "курс «smm»" || !s.hasCost || s.cost != 398000 {
		t.Fatalf("%+v", s)
	}
	if s := signatureOf([]byte(`{"deal":{"deal_cost":"10.00","deal_currency":"USD","offer_code":"x"},"user":{"email":"a@x.ru"}}`)); s.hasCost || s.title != "" || s.offer == "" {
		t.Fatalf("a foreign-currency offer row: %+v", s)
	}
	// A cost times a quantity past int64 matches no deal: the row stays in doubt.
	s = signatureOf([]byte(`{"deal":{"deal_cost":"900000000000000","quantity":1000000},"user":{"email":"a@x.ru"}}`))
	if !s.hasCost || s.cost != math.MinInt64 {
		t.Fatalf("an overflowing cost: %+v", s)
	}
}

// TestMatchDoubtRows checks Settle's rules on rows and candidate deals.
func TestMatchDoubtRows(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, moscow)
	since := now.Add(-time.Hour)
	params := func(email, title, cost string, extra ...string) []byte {
		p := `{"deal":{"deal_cost":"` + cost + `"`
		if len(extra) > 0 {
			p += `,"deal_created_at":"` + extra[0] + `"`
		}
		if title != "" {
			p += `,"product_title":"` + title + `"`
		} else {
			p += `,"offer_code":"c1"`
		}
		return []byte(p + `},"user":{"email":"` + email + `"}}`)
	}
	row := func(line int, p []byte, occ uint32) *doubtRow {
		return &doubtRow{line: line, params: p, sig: signatureOf(p),
			key: checkpoint.RowKey{Hash: sha256.Sum256(p), Occurrence: occ}, rec: checkpoint.RowRecord{RunID: "r1", Line: line}}
	}
	cand := func(id int64, email, title, cost string, at time.Time) candidate {
		k, _ := money.Parse(cost)
		return candidate{id: id, email: email, title: normTitle(title), cost: k, hasCost: true,
			created: at, createdText: at.In(moscow).Format(time.DateTime)}
	}
	at := now.Add(-10 * time.Minute)
	twin := params("twin@x.ru", "Марафон", "2990.00")
	rows := []*doubtRow{
		row(2, twin, 0), row(3, twin, 1), row(4, twin, 2), // 3 identical rows, 2 deals: 2 confirmed, 1 sent
		row(5, params("solo@x.ru", "Курс", "100.00"), 0),  // 2 deals: ambiguous
		row(6, params("gone@x.ru", "Курс", "100.00"), 0),  // no deal: missing
		row(7, params("known@x.ru", "Курс", "100.00"), 1), // deal 40 is another row's: 41 is its
		row(8, params("mix@x.ru", "", "500.00"), 0),       // an offer row and a product row of one buyer
		row(9, params("mix@x.ru", "Книга", "500.00"), 0),  // and cost share deal 50: both ambiguous
		row(10, params("dated@x.ru", "Курс", "100.00", "2026-11-01 10:00:00"), 0),
	}
	old := at.Add(-48 * time.Hour)
	cands := []candidate{
		cand(10, "twin@x.ru", "марафон", "2 990,00", at), cand(11, "twin@x.ru", "Марафон", "2990", at.Add(time.Second)),
		cand(12, "twin@x.ru", "Марафон", "2 990,00", old), // made before the run: not a candidate
		cand(20, "solo@x.ru", "Курс", "100,00", at), cand(21, "solo@x.ru", "Курс", "100,00", at),
		cand(30, "gone@x.ru", "Курс", "101,00", at), // another cost
		cand(40, "known@x.ru", "Курс", "100,00", at), cand(41, "known@x.ru", "Курс", "100,00", at),
		cand(50, "mix@x.ru", "Книга", "500,00", at),
		cand(60, "dated@x.ru", "Курс", "100,00", at), // its own date is 2026-11-01
		cand(61, "dated@x.ru", "Курс", "100,00", time.Date(2026, 11, 1, 10, 0, 0, 0, moscow)),
	}
	rep := &SettleReport{}
	recs := matchDoubtRows(rows, cands, map[int64]bool{40: true}, since, rep, now)
	want := map[int]struct {
		outcome string
		deal    int64
	}{2: {SettleConfirmed, 10}, 3: {SettleConfirmed, 11}, 4: {SettleMissing, 0}, 5: {SettleAmbiguous, 0},
		6: {SettleMissing, 0}, 7: {SettleConfirmed, 41}, 8: {SettleAmbiguous, 0}, 9: {SettleAmbiguous, 0},
		10: {SettleConfirmed, 61}}
	if len(rep.Rows) != len(want) || len(recs) != len(want) {
		t.Fatalf("%d rows, %d records", len(rep.Rows), len(recs))
	}
	for _, r := range rep.Rows {
		w := want[r.Line]
		if r.Outcome != w.outcome || r.DealID != w.deal {
			t.Errorf("line %d: %s deal %d, want %s deal %d (candidates %v)", r.Line, r.Outcome, r.DealID, w.outcome, w.deal, r.Candidates)
		}
	}
	if rep.Confirmed != 4 || rep.Missing != 2 || rep.Ambiguous != 3 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range recs {
		switch r.Record.Line {
		case 4, 6:
			if r.Record.State != checkpoint.StateFailed || r.Record.RunID != "r1" {
				t.Errorf("missing row %d: %+v", r.Record.Line, r.Record)
			}
		case 5:
			if r.Record.State != checkpoint.StateInDoubt || r.Record.Error == "" {
				t.Errorf("ambiguous row: %+v", r.Record)
			}
		}
	}
}

// TestReadCandidates: the service's deals export (its titles, Russian money with NBSP) and a
// leaner one without Title or cost columns both give candidates; only the rows' buyers are kept.
func TestReadCandidates(t *testing.T) {
	p := []byte(`{"deal":{"deal_cost":"12000.00","product_title":"Курс"},"user":{"email":"anna@x.ru","phone":"+79001112233"}}`)
	rows := []*doubtRow{{sig: signatureOf(p)}}
	real := "ID заказа,Номер,ID пользователя,Пользователь,Email,Телефон,Дата создания,Title,\"Стоимость, RUB\"\n" +
		"5000021,1021,1000001,Анна,Anna@X.ru,+79001112233,2026-12-05 10:00:00,Курс,\"12\u00a0000,00\"\n" +
		"5000022,1022,1000002,Борис,boris@x.ru,,2026-12-05 10:00:01,Курс,\"12 000,00\"\n" +
		"5000023,1023,1000003,,,89001112233,2026-12-05 10:00:02,Другой курс,\"12 000,00\"\n"
	got, err := readCandidates(strings.NewReader(real), rows)
	if err != nil || len(got) != 2 || got[0].id != 5000021 || got[0].cost != 1200000 || got[0].title != "курс" ||
		got[1].id != 5000023 || got[1].phone != "79001112233" || got[0].created.IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	since := time.Date(2026, 12, 5, 9, 0, 0, 0, moscow)
	if !rows[0].sig.matches(&got[0], since) || rows[0].sig.matches(&got[1], since) {
		t.Fatal("the real export: the first deal is the row's, the second has another title")
	}
	lean := "id,email,created_at\n7,anna@x.ru,05.12.2026 10:00\n"
	got, err = readCandidates(strings.NewReader(lean), rows)
	if err != nil || len(got) != 1 || !got[0].anyTitle || !got[0].anyCost || !rows[0].sig.matches(&got[0], since) {
		t.Fatalf("lean export: %+v %v", got, err)
	}
	if _, err := readCandidates(strings.NewReader("Номер,Title\n1,x\n"), rows); !errors.Is(err, errNoColumns) {
		t.Fatalf("an export without ids or buyers: %v", err)
	}
}
