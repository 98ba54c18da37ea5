package gcsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The less common answers of the real service (getcourse-api.md), each behind a knob.

func TestReadOnlyKeyAndUnknownAction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{ReadOnlyKey: "ro-key-123", SeedUsers: 3, ExportDelay: -1})
	imp := func(key, action string) answer {
		return e.postForm("/pl/api/users", url.Values{"action": {action}, "key": {key},
			"params": {b64(obj{"user": obj{"email": "ro@x.ru"}})}})
	}
	for _, a := range []answer{imp("ro-key-123", "add"), imp(DefaultKey, "delete")} {
		if a.m["success"] != false || a.m["error"] != txtForbidden {
			t.Fatalf("want «%s», got %s", txtForbidden, a.raw)
		}
	}
	if len(e.sim.Users()) != 0 {
		t.Fatal("a read-only key wrote a user")
	}
	// The export API takes the read-only key.
	if a := e.get("/pl/api/account/users", url.Values{"key": {"ro-key-123"}, "status": {"active"}}); a.m["success"] != true {
		t.Fatalf("export with the read-only key: %s", a.raw)
	}
	if a := imp("other-key", "add"); a.m["error"] != txtBadKey {
		t.Fatalf("a wrong key: %s", a.raw)
	}
}

func TestExportLifetime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 5, ExportDelay: time.Minute, ExportLifetime: time.Hour})
	a := e.get("/pl/api/account/users", url.Values{"created_at[from]": {"2000-01-01"}})
	id := num(a.info()["export_id"])
	e.clock.Advance(time.Minute + 59*time.Minute)
	e.collect(id) // ready for an hour: still there
	e.clock.Advance(time.Minute)
	wantGone(t, e.get("/pl/api/account/exports/"+itoa(id), nil))
	wantGone(t, e.get("/pl/api/account/exports/"+itoa(id+100), nil))
}

func TestStatusPolls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 5, ExportDelay: -1, StatusPolls: 3})
	a := e.get("/pl/api/account/users", url.Values{"created_at[from]": {"2000-01-01"}})
	id := num(a.info()["export_id"])
	for _, want := range statusWords {
		a := e.get("/pl/api/account/exports/"+itoa(id), nil)
		info := a.info()
		if a.m["success"] != true || info["status"] != want || len(info) != 1 {
			t.Fatalf("poll: want status %q alone, got %s", want, a.raw)
		}
	}
	if f := e.collect(id); len(f.Info.Items) != 5 {
		t.Fatalf("%d items after the status polls", len(f.Info.Items))
	}
}

func TestNumericItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 3, SeedDeals: 3, ExportDelay: -1, NumericItems: true})
	a := e.get("/pl/api/account/deals", url.Values{"created_at[from]": {"2000-01-01"}})
	id := num(a.info()["export_id"])
	raw := e.get("/pl/api/account/exports/"+itoa(id), nil).raw
	var f struct {
		Info struct {
			Fields []string `json:"fields"`
			Items  [][]any  `json:"items"`
		} `json:"info"`
	}
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&f); err != nil || len(f.Info.Items) != 3 {
		t.Fatalf("%v: %.300s", err, raw)
	}
	col := func(name string) int {
		for i, c := range f.Info.Fields {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %q", name)
		return -1
	}
	idCell, cost := f.Info.Items[0][col("ID заказа")], f.Info.Items[0][col("Стоимость, RUB")]
	if n, ok := idCell.(json.Number); !ok || !strings.HasPrefix(string(n), "500000") {
		t.Errorf("deal id %T %v, want a JSON number", idCell, idCell)
	}
	if n, ok := cost.(json.Number); !ok || !strings.Contains(string(n), ".") || strings.ContainsAny(string(n), " ,") {
		t.Errorf("cost %T %v, want a plain decimal number", cost, cost)
	}
	if _, ok := f.Info.Items[0][col("Email")].(string); !ok {
		t.Error("a text cell became a number")
	}
}

func TestBusyBeforeFiltersAndUnfilteredGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 20, ExportDelay: time.Minute})
	if a := e.get("/pl/api/account/users", url.Values{"status": {"active"}}); a.m["success"] != true {
		t.Fatalf("start: %s", a.raw)
	}
	// While one builds, a start without a filter meets 905 first.
	wantExportError(t, e.get("/pl/api/account/deals", nil), 905, txtBusy)
	e.clock.Advance(time.Hour)
	wantExportError(t, e.get("/pl/api/account/deals", nil), 908, txtNoFilter)
	// A group's members need no filter.
	f := e.runExport("/pl/api/account/groups/1/users", nil)
	if len(f.Info.Fields) == 0 || f.Info.Fields[len(f.Info.Fields)-1] != groupUserColumns[len(groupUserColumns)-1] {
		t.Fatalf("unfiltered group members: %q", f.Info.Fields)
	}
}

func TestStartDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{SeedUsers: 2, ExportDelay: -1, StartDelay: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/pl/api/account/users?key="+DefaultKey+"&status=active", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := e.http.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the start answered before its delay")
	}
	// The start took effect although its answer never came.
	if st := e.sim.Stats(); st.ExportStarts != 1 {
		t.Fatalf("%d starts", st.ExportStarts)
	}
}
