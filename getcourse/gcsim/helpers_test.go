package gcsim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injectable, goroutine-safe clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 10, 12, 0, 0, 0, msk)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a Sim served over real HTTP under a non-empty base path.
type env struct {
	t     *testing.T
	sim   *Sim
	base  string
	clock *clock
	http  *http.Client
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	c := newClock()
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	sim := New(cfg)
	srv := httptest.NewServer(http.StripPrefix("/acct", sim))
	t.Cleanup(srv.Close)
	return &env{t: t, sim: sim, base: srv.URL + "/acct", clock: c, http: srv.Client()}
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// answer is a decoded JSON answer with its HTTP details.
type answer struct {
	status int
	ctype  string
	raw    string
	m      map[string]any
}

func (a answer) result() map[string]any {
	r, _ := a.m["result"].(map[string]any)
	return r
}

func (a answer) info() map[string]any {
	r, _ := a.m["info"].(map[string]any)
	return r
}

func (e *env) do(req *http.Request) answer {
	e.t.Helper()
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), raw: string(body)}
	if len(body) > 0 && body[0] == '{' {
		if err := json.Unmarshal(body, &a.m); err != nil {
			e.t.Fatalf("%s: bad JSON %v: %.300s", req.URL.Path, err, body)
		}
	}
	return a
}

func (e *env) postForm(path string, form url.Values) answer {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

// imp makes an import call with the right key.
func (e *env) imp(path, action string, params any) answer {
	e.t.Helper()
	return e.postForm(path, url.Values{"action": {action}, "key": {DefaultKey}, "params": {b64(params)}})
}

// get makes an export-API GET with the right key unless q sets one.
func (e *env) get(path string, q url.Values) answer {
	e.t.Helper()
	if q == nil {
		q = url.Values{}
	}
	if _, ok := q["key"]; !ok {
		q.Set("key", DefaultKey)
	}
	req, err := http.NewRequest(http.MethodGet, e.base+path+"?"+q.Encode(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

func num(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		var n int64
		for _, c := range x {
			n = n*10 + int64(c-'0')
		}
		return n
	}
	return -1
}

// wantCallError checks a call-level failure in the real shape.
func wantCallError(t *testing.T, a answer, text string) {
	t.Helper()
	if a.status != 200 || a.m["success"] != false || a.m["error"] != text {
		t.Fatalf("want call-level failure %q, got HTTP %d %s", text, a.status, a.raw)
	}
}

// wantRowError checks a row-level failure whose text starts with prefix.
func wantRowError(t *testing.T, a answer, prefix string) {
	t.Helper()
	r := a.result()
	if a.m["success"] != true || r == nil || r["success"] != false || r["error"] != true ||
		!strings.HasPrefix(r["error_message"].(string), prefix) {
		t.Fatalf("want row error %q, got %s", prefix, a.raw)
	}
}

func wantExportError(t *testing.T, a answer, code int, text string) {
	t.Helper()
	if a.m["success"] != false || a.m["error"] != true || num(a.m["error_code"]) != int64(code) ||
		!strings.HasPrefix(a.m["error_message"].(string), text) {
		t.Fatalf("want export error %d %q, got HTTP %d %s", code, text, a.status, a.raw)
	}
}

// wantGone checks the answer about an export the service does not have: «Объект не найден»
// without an error_code.
func wantGone(t *testing.T, a answer) {
	t.Helper()
	if _, hasCode := a.m["error_code"]; a.m["success"] != false || a.m["error"] != true || hasCode ||
		a.m["error_message"] != txtGone {
		t.Fatalf("want «%s» without a code, got HTTP %d %s", txtGone, a.status, a.raw)
	}
}

func okUser(t *testing.T, a answer) (id int64, status string) {
	t.Helper()
	r := a.result()
	if a.m["success"] != true || r == nil || r["success"] != true || r["error"] != false {
		t.Fatalf("want success, got HTTP %d %s", a.status, a.raw)
	}
	s, _ := r["user_status"].(string)
	return num(r["user_id"]), s
}

// exportFile is a collected export.
type exportFile struct {
	Success bool `json:"success"`
	Info    struct {
		Fields []string   `json:"fields"`
		Items  [][]string `json:"items"`
	} `json:"info"`
}

func (f *exportFile) col(t *testing.T, name string) int {
	t.Helper()
	for i, c := range f.Info.Fields {
		if c == name {
			return i
		}
	}
	t.Fatalf("no column %q in %q", name, f.Info.Fields)
	return -1
}

// runExport starts an export, waits it out on the fake clock and collects it.
func (e *env) runExport(path string, q url.Values) *exportFile {
	e.t.Helper()
	a := e.get(path, q)
	id := num(a.info()["export_id"])
	if a.m["success"] != true || id <= 0 {
		e.t.Fatalf("start %s: %s", path, a.raw)
	}
	e.clock.Advance(time.Hour)
	return e.collect(id)
}

func (e *env) collect(id int64) *exportFile {
	e.t.Helper()
	a := e.get("/pl/api/account/exports/"+itoa(id), nil)
	var f exportFile
	if err := json.Unmarshal([]byte(a.raw), &f); err != nil || !f.Success {
		e.t.Fatalf("collect %d: %v %.300s", id, err, a.raw)
	}
	return &f
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

type obj = map[string]any
