package getcourse

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The service's less common answers (getcourse-api.md), against stubs that give them.

func TestEmptyPageOnNonIdempotentCall(t *testing.T) {
	t.Parallel()
	deal := Params{Deal: &DealParams{OfferCode: "X", DealCost: "1.00"}}
	t.Run("the plan has no import API: not in doubt", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { w.Header().Set("Content-Type", "text/html") })
		c := newTestClient(t, f.URL)
		_, err := addDeal(c, t.Context(), deal)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Kind != KindNoImportAPI || ae.InDoubt || ae.Path != "/pl/api/deals" {
			t.Fatalf("err = %v, want no import API, not in doubt, on the deal's path", err)
		}
		if !ae.Kind.Fatal() {
			t.Error("no import API is not fatal")
		}
		// The deal once, then the probe until its empty pages are the plan's answer.
		reqs := f.requests()
		if len(reqs) != 1+emptyHTMLRepeats {
			t.Fatalf("%d requests, want %d", len(reqs), 1+emptyHTMLRepeats)
		}
		for _, r := range reqs[1:] {
			if r.Path != "/pl/api/users" || r.Form.Get("action") != "add" || r.Form.Get("params") != "eyJ1c2VyIjp7fX0=" {
				t.Errorf("probe %s %v: want users/add with an empty user", r.Path, r.Form)
			}
		}
	})
	t.Run("a glitch: the probe is answered, the deal stays in doubt", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.Header().Set("Content-Type", "text/html")
				return
			}
			writeJSON(w, `{"success":true,"action":"add","result":{"success":false,"error":true,"error_message":"Не указан ни эл. адрес, ни телефон"}}`)
		})
		c := newTestClient(t, f.URL)
		_, err := addDeal(c, t.Context(), deal)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Kind != KindProtocol || !ae.InDoubt {
			t.Fatalf("err = %v, want in doubt", err)
		}
		if n := len(f.requests()); n != 2 {
			t.Errorf("%d requests, want the deal and one probe", n)
		}
	})
}

func TestCheckImportAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		body string
		kind Kind
	}{
		{"the service refuses the empty user", `{"success":true,"action":"add","result":{"success":false,"error":true,"error_message":"Не указан ни эл. адрес, ни телефон"}}`, KindUnknown},
		{"read-only key", `{"success":false,"error":"Действие запрещено"}`, KindForbidden},
		{"wrong key", `{"success":false,"error":"Неавторизованное API-обращение"}`, KindAuth},
		{"empty pages", "", KindNoImportAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if tc.body == "" {
					w.Header().Set("Content-Type", "text/html")
					return
				}
				writeJSON(w, tc.body)
			})
			err := newTestClient(t, f.URL).CheckImportAPI(t.Context())
			if tc.kind == KindUnknown {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if KindOf(err) != tc.kind {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
		})
	}
}

func TestStartExportNotRetriedOnceWritten(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 502) })
	c := newTestClient(t, f.URL)
	_, err := c.StartExport(t.Context(), ExportRequest{Object: ExportUsers, Filters: []Filter{{Name: "status", Value: "active"}}})
	var ae *APIError
	if !errors.As(err, &ae) || !ae.InDoubt {
		t.Fatalf("err = %v, want in doubt", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d starts sent, want 1", n)
	}
	// Nothing written: retried as usual.
	refused := newTestClient(t, refusingRoot(t))
	_, err = refused.StartExport(t.Context(), ExportRequest{Object: ExportUsers, Filters: []Filter{{Name: "status", Value: "active"}}})
	if !errors.As(err, &ae) || ae.InDoubt || ae.Kind != KindTransport {
		t.Errorf("refused connection: %v", err)
	}
}

func TestGroupMembersWithoutFilter(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":true,"info":{"export_id":7}}`)
	})
	c := newTestClient(t, f.URL)
	if id, err := c.StartExport(t.Context(), ExportRequest{Object: ExportGroupUsers, GroupID: 3}); err != nil || id != 7 {
		t.Fatalf("StartExport = %d, %v", id, err)
	}
	if q := f.requests()[0].Query; len(q) != 1 || q.Get("key") == "" {
		t.Errorf("query %v, want the key alone", q)
	}
	if _, err := c.StartExport(t.Context(), ExportRequest{Object: ExportDeals}); KindOf(err) != KindBadFilter || len(f.requests()) != 1 {
		t.Errorf("deals without a filter: %v", err)
	}
}

func TestStatusOnlyPollIsNotReady(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"success":true,"info":{"status":"processing"}}`,
		`{"success":true,"info":{"status":"exported"}}`,
		`{"success":"true","info":{"status":"finished"}}`,
	} {
		f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, body) })
		_, err := newTestClient(t, f.URL).OpenExport(t.Context(), 5)
		if !errors.Is(err, ErrNotReady) {
			t.Errorf("%s: err = %v, want not ready", body, err)
		}
	}
	// A status beside fields and items is a ready export.
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":true,"info":{"status":"exported","fields":["id"],"items":[[1]]}}`)
	})
	rc, err := newTestClient(t, f.URL).OpenExport(t.Context(), 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(b), `"items":[[1]]`) {
		t.Errorf("body %s", b)
	}
}

func TestAccountFieldsContextType(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":true,"info":[`+
			`{"id":"11","title":"Telegram","type":"string","context_type":"user","required":"0","field_order_pos":"3","params":""},`+
			`{"id":"12","title":"Трек-номер","type":"string","context_type":"deal","required":"1","field_order_pos":"1","params":"{}"},`+
			`{"id":"13","title":"Прочее","type":"string","context_type":"","required":"0","field_order_pos":"2","params":""},`+
			`{"id":14,"name":"Старое","type":"text","object":"user"}]}`)
	})
	fields, err := newTestClient(t, f.URL).AccountFields(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{11, "Telegram", "string", "user"}, {12, "Трек-номер", "string", "deal"}, {13, "Прочее", "string", ""}, {14, "Старое", "text", "user"}}
	if len(fields) != len(want) {
		t.Fatalf("%+v", fields)
	}
	for i := range want {
		if fields[i] != want[i] {
			t.Errorf("field %d = %+v, want %+v", i, fields[i], want[i])
		}
	}
	for in, want := range map[string]string{"users": "user", "User": "user", "app\\models\\Deal": "deal", "order": "deal", "webinar": ""} {
		if got := fieldObject(in); got != want {
			t.Errorf("fieldObject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStartExportRefusedIsNotInDoubt(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			writeJSON(w, `{"success":false,"error":true,"error_message":"Что-то новое","error_code":999}`)
			return
		}
		writeJSON(w, `{"success":true,"info":{"export_id":8}}`)
	})
	c := newTestClient(t, f.URL)
	// An explicit refusal in the API's envelope started nothing: retried like a read.
	id, err := c.StartExport(t.Context(), ExportRequest{Object: ExportUsers, Filters: []Filter{{Name: "status", Value: "active"}}})
	if err != nil || id != 8 || len(f.requests()) != 2 {
		t.Fatalf("StartExport = %d, %v after %d requests", id, err, len(f.requests()))
	}
}
