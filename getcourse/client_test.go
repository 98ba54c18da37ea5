package getcourse

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// fakeService is an httptest server mounted under /acct that records every request and answers
// with the test's handler (n counts requests from 1). Requests outside /acct get a 404, so a
// client that loses the base path fails loudly.
type fakeService struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	Method, Path string
	Form         url.Values // POST body
	Query        url.Values
}

func newFake(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) *fakeService {
	t.Helper()
	f := &fakeService{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/acct/pl/api/") {
			http.Error(w, "not under the base path", http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/acct"), Form: form, Query: r.URL.Query()})
		n := len(f.reqs)
		f.mu.Unlock()
		h(n, w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeService) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func fastRetry() RetryPolicy {
	return RetryPolicy{MaxRetries: 3, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond, MaxElapsed: 10 * time.Second}
}

func newTestClient(t *testing.T, root string, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{
		WithBaseURL(root + "/acct"),
		WithKey(testKey),
		WithLimiter(rate.NewLimiter(rate.Inf, 1)),
		WithRetry(fastRetry()),
	}, opts...)
	c, err := NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(w, s)
}

// resetConn closes the connection without an answer (RST), after the request was read.
func resetConn(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("no hijacker")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

const okUser = `{"success":true,"action":"add","result":{"success":true,"user_id":77,"user_status":"added","error":false,"error_message":""}}`

func TestNewClientOptions(t *testing.T) {
	t.Parallel()
	key := WithKey(testKey)
	cases := []struct {
		name    string
		opts    []Option
		wantErr string
	}{
		{"account", []Option{WithAccount("school"), key}, ""},
		{"https custom domain", []Option{WithBaseURL("https://school.example.com"), key}, ""},
		{"http loopback v4", []Option{WithBaseURL("http://127.0.0.1:8080/acct"), key}, ""},
		{"http loopback 127/8", []Option{WithBaseURL("http://127.1.2.3:8080"), key}, ""},
		{"http loopback v6", []Option{WithBaseURL("http://[::1]:8080"), key}, ""},
		{"http localhost", []Option{WithBaseURL("http://localhost:8080"), key}, ""},
		{"http elsewhere refused", []Option{WithBaseURL("http://school.example.com"), key}, "plain http"},
		{"ftp refused", []Option{WithBaseURL("ftp://school.example.com"), key}, "https://"},
		{"no host", []Option{WithBaseURL("https:///x"), key}, "no host"},
		{"credentials in URL", []Option{WithBaseURL("https://u:p@school.example.com"), key}, "credentials"},
		{"query in URL", []Option{WithBaseURL("https://school.example.com/?key=" + testKey), key}, "no query"},
		{"no account", []Option{key}, "no account"},
		{"both", []Option{WithAccount("a"), WithBaseURL("https://b.example.com"), key}, "not both"},
		{"no key", []Option{WithAccount("a")}, "no API key"},
		{"empty key", []Option{WithAccount("a"), WithKey("  ")}, "empty"},
		{"key with spaces", []Option{WithAccount("a"), WithKey("ab cd")}, "spaces"},
		{"domain as account", []Option{WithAccount("school.getcourse.ru"), key}, "--base-url"},
		{"bad account", []Option{WithAccount("-bad_name"), key}, "not a GetCourse account"},
		{"zero timeout", []Option{WithAccount("a"), key, WithTimeout(0)}, "positive"},
		{"nil limiter", []Option{WithAccount("a"), key, WithLimiter(nil)}, "nil rate limiter"},
		{"nil http client", []Option{WithAccount("a"), key, WithHTTPClient(nil)}, "nil HTTP client"},
		{"negative retry", []Option{WithAccount("a"), key, WithRetry(RetryPolicy{MaxInterval: -1})}, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(tc.opts...)
			if tc.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewClient succeeded, want an error with %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q lacks %q", err, tc.wantErr)
			}
			assertNoKey(t, err.Error(), testKey)
		})
	}
}

func TestAccountAndBaseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		opt           Option
		account, base string
	}{
		{WithAccount(" MySchool "), "myschool", "https://myschool.getcourse.ru"},
		{WithBaseURL("http://127.0.0.1:8080/acct/"), "127.0.0.1:8080/acct", "http://127.0.0.1:8080/acct"},
		{WithBaseURL("https://School.Example.com/pl/api/"), "school.example.com", "https://school.example.com"},
	}
	for _, tc := range cases {
		c, err := NewClient(tc.opt, WithKey(testKey))
		if err != nil {
			t.Fatal(err)
		}
		if c.Account() != tc.account || c.BaseURL() != tc.base {
			t.Errorf("Account, BaseURL = %q, %q; want %q, %q", c.Account(), c.BaseURL(), tc.account, tc.base)
		}
	}
}

func TestImportWireFormat(t *testing.T) {
	t.Parallel()
	// These params base64-encode to text with '+' and '/' in it, which must be percent-encoded.
	params := []byte(`{"user":{"email":"a@b.ru","first_name":"Иван","addfields":{"Промо":"???>>>"}}}`)
	if enc := base64.StdEncoding.EncodeToString(params); !strings.ContainsAny(enc, "+/") {
		t.Fatalf("test params do not exercise + and /: %s", enc)
	}
	var rawBody string
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":"true","action":"add","result":{"success":"true","user_id":"123","deal_id":"456","deal_number":"N-1","user_status":"active","payment_link":"https://pay/x","error":"false"}}`)
	})
	// Capture the raw body through a wrapping transport, as the server sees bytes already parsed.
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		rawBody = string(b)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := newTestClient(t, f.URL, WithHTTPClient(hc))
	res, err := c.Import(t.Context(), CallDealsAdd, params, CallOptions{Idempotent: true})
	if err != nil {
		t.Fatal(err)
	}
	want := ImportResult{UserID: 123, DealID: 456, DealNumber: "N-1", UserStatus: "active", PaymentLink: "https://pay/x"}
	if *res != want {
		t.Errorf("result = %+v, want %+v", *res, want)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/pl/api/deals" || r.Form.Get("action") != "add" || r.Form.Get("key") != testKey {
		t.Errorf("request = %s %s action=%q key ok=%v", r.Method, r.Path, r.Form.Get("action"), r.Form.Get("key") == testKey)
	}
	if len(r.Query) != 0 {
		t.Errorf("import request has a query string: %v", r.Query)
	}
	got, err := base64.StdEncoding.DecodeString(r.Form.Get("params"))
	if err != nil || !bytes.Equal(got, params) {
		t.Errorf("params = %q (%v), want %q", got, err, params)
	}
	enc := base64.StdEncoding.EncodeToString(params)
	if strings.Contains(rawBody, enc) || !strings.Contains(rawBody, url.QueryEscape(enc)) {
		t.Errorf("params are not percent-encoded in the body: %q", rawBody)
	}
}

// Requests share their URL and, on the client's own transport, their header map; a caller's
// http.Client with a cookie jar writes cookies into the header, so it must get a map of its
// own per request. Under the race detector, concurrent calls through both kinds of client
// show any write to a shared map; the jar's cookie must still reach the service.
func TestSharedRequestPartsStayUnwritten(t *testing.T) {
	t.Parallel()
	var withCookie, requests atomic.Int64
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if _, err := r.Cookie("session"); err == nil {
			withCookie.Add(1)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1", Path: "/"})
		writeJSON(w, okUser)
	})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	own := newTestClient(t, f.URL)
	theirs := newTestClient(t, f.URL, WithHTTPClient(&http.Client{Jar: jar}))
	if _, err := theirs.Import(t.Context(), CallUsersAdd, []byte(`{"user":{"email":"a@example.com"}}`), CallOptions{Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		c := own
		if i%2 == 1 {
			c = theirs
		}
		wg.Go(func() {
			if _, err := c.Import(t.Context(), CallUsersAdd, []byte(`{"user":{"email":"b@example.com"}}`), CallOptions{Idempotent: true}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := withCookie.Load(); got != 20 {
		t.Errorf("%d of %d requests carried the jar's cookie, want the 20 sent through the caller's client", got, requests.Load())
	}
	if len(postHeader) != 3 || len(postHeader["Cookie"]) != 0 {
		t.Errorf("the shared POST header was written to: %v", postHeader)
	}
	if u := own.postURL(CallUsersAdd.Path); u.RawQuery != "" || u.String() != f.URL+"/acct/pl/api/users" {
		t.Errorf("the shared URL is %s", u)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTypedImportCalls(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, okUser) })
	c := newTestClient(t, f.URL)
	ctx := t.Context()
	p := Params{User: &UserParams{Email: "a&b@x.ru", GroupName: []Group{{Name: "VIP", JoinedAt: "2024-01-02 10:00"}}}}
	calls := []struct {
		name   string
		do     func() (*ImportResult, error)
		path   string
		action string
	}{
		{"AddUser", func() (*ImportResult, error) { return addUser(c, ctx, p) }, "/pl/api/users", "add"},
		{"UpdateUserGroups", func() (*ImportResult, error) { return updateUserGroups(c, ctx, p) }, "/pl/api/users", "update"},
		{"AddDeal", func() (*ImportResult, error) { return addDeal(c, ctx, p) }, "/pl/api/deals", "add"},
		{"SendMessage", func() (*ImportResult, error) { return sendMessage(c, ctx, p) }, "/pl/api/messages", "send"},
	}
	for i, call := range calls {
		res, err := call.do()
		if err != nil || res.UserID != 77 {
			t.Fatalf("%s = %+v, %v", call.name, res, err)
		}
		r := f.requests()[i]
		if r.Path != call.path || r.Form.Get("action") != call.action {
			t.Errorf("%s sent %s action=%s", call.name, r.Path, r.Form.Get("action"))
		}
		js, _ := base64.StdEncoding.DecodeString(r.Form.Get("params"))
		if want := `{"user":{"email":"a&b@x.ru","group_name":[["VIP","2024-01-02 10:00"]]}}`; string(js) != want {
			t.Errorf("%s params = %s, want %s", call.name, js, want)
		}
	}
}

func TestImportRefusesBadParams(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, okUser) })
	c := newTestClient(t, f.URL)
	_, err := c.Import(t.Context(), CallUsersAdd, []byte(`{"user":`), CallOptions{})
	if KindOf(err) != KindInternal || len(f.requests()) != 0 {
		t.Errorf("err = %v, requests = %d", err, len(f.requests()))
	}
}

func TestRetriesIdempotent(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			http.Error(w, "oops", http.StatusInternalServerError)
		case 2:
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		case 3:
			w.Header().Set("Content-Type", "application/json")
		case 4:
			resetConn(t, w)
		default:
			writeJSON(w, okUser)
		}
	})
	var mu sync.Mutex
	var events []Event
	c := newTestClient(t, f.URL, WithRetry(RetryPolicy{MaxRetries: 5, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond}),
		WithNotify(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }))
	res, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	if err != nil || res.UserID != 77 {
		t.Fatalf("AddUser = %+v, %v", res, err)
	}
	reqs := f.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.Form.Get("params") != reqs[0].Form.Get("params") || r.Form.Get("key") != testKey {
			t.Errorf("a retry sent a different body: %v", r.Form)
		}
	}
	wantKinds := []Kind{KindServer, KindProtocol, KindProtocol, KindTransport}
	if len(events) != len(wantKinds) {
		t.Fatalf("%d events, want %d", len(events), len(wantKinds))
	}
	for i, e := range events {
		if e.Err.Kind != wantKinds[i] || e.Attempt != i+1 || e.Wait <= 0 {
			t.Errorf("event %d = %v attempt %d wait %v; want %v attempt %d", i, e.Err.Kind, e.Attempt, e.Wait, wantKinds[i], i+1)
		}
	}
}

func TestRetriesGiveUp(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	c := newTestClient(t, f.URL)
	_, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	if KindOf(err) != KindServer {
		t.Fatalf("err = %v, want server", err)
	}
	if n := len(f.requests()); n != 1+fastRetry().MaxRetries {
		t.Errorf("%d requests, want %d", n, 1+fastRetry().MaxRetries)
	}
	var none RetryPolicy
	none.MaxRetries = -1
	c = newTestClient(t, f.URL, WithRetry(none))
	before := len(f.requests())
	addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	if n := len(f.requests()) - before; n != 1 {
		t.Errorf("MaxRetries -1: %d requests, want 1", n)
	}
}

func TestNonIdempotentInDoubt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		h    func(t *testing.T, w http.ResponseWriter)
		kind Kind
	}{
		{"reset after the request was read", func(t *testing.T, w http.ResponseWriter) { resetConn(t, w) }, KindTransport},
		{"server error", func(t *testing.T, w http.ResponseWriter) { http.Error(w, "x", 500) }, KindServer},
		{"html page", func(t *testing.T, w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>x</html>")
		}, KindProtocol},
		{"empty answer", func(t *testing.T, w http.ResponseWriter) { w.Header().Set("Content-Type", "application/json") }, KindProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { tc.h(t, w) })
			c := newTestClient(t, f.URL)
			for _, call := range []func() (*ImportResult, error){
				func() (*ImportResult, error) {
					return sendMessage(c, t.Context(), Params{Message: &MessageParams{Email: "a@b.ru", MailingID: 5}})
				},
				func() (*ImportResult, error) {
					return addDeal(c, t.Context(), Params{Deal: &DealParams{OfferCode: "X", DealCost: "1.00"}})
				},
			} {
				before := len(f.requests())
				_, err := call()
				var ae *APIError
				if !errors.As(err, &ae) || !ae.InDoubt || ae.Kind != tc.kind {
					t.Fatalf("err = %v, want in-doubt %v", err, tc.kind)
				}
				if !strings.Contains(err.Error(), "in doubt") {
					t.Errorf("error text does not say in doubt: %v", err)
				}
				if ok, _ := retryable(err); ok {
					t.Error("an in-doubt error is retryable")
				}
				if n := len(f.requests()) - before; n != 1 {
					t.Errorf("%d requests, want exactly 1", n)
				}
			}
			// The same failure on a deal with a number is retried.
			before := len(f.requests())
			_, err := addDeal(c, t.Context(), Params{Deal: &DealParams{DealNumber: "N1", OfferCode: "X"}})
			wantKind, wantN := tc.kind, 1+fastRetry().MaxRetries
			if KindOf(err) != wantKind || len(f.requests())-before != wantN {
				t.Errorf("deal with number: %v after %d requests", err, len(f.requests())-before)
			}
		})
	}
}

func TestNonIdempotentRetriedWhenNothingWasSent(t *testing.T) {
	t.Parallel()
	root := refusingRoot(t)
	var events int
	c := newTestClient(t, root, WithNotify(func(Event) { events++ }))
	_, err := sendMessage(c, t.Context(), Params{Message: &MessageParams{Email: "a@b.ru"}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Kind != KindTransport || ae.InDoubt {
		t.Fatalf("err = %v, want a transport error not in doubt", err)
	}
	if events != fastRetry().MaxRetries {
		t.Errorf("%d retries, want %d", events, fastRetry().MaxRetries)
	}
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if n == 2 {
			writeJSON(w, `{"success":false,"error":"Слишком много запросов"}`)
			return
		}
		writeJSON(w, okUser)
	})
	var events []Event
	c := newTestClient(t, f.URL, WithNotify(func(e Event) { events = append(events, e) }))
	// Non-idempotent, yet retried: a rate-limited answer means the service did nothing.
	res, err := sendMessage(c, t.Context(), Params{Message: &MessageParams{Email: "a@b.ru"}})
	if err != nil || res.UserID != 77 {
		t.Fatalf("SendMessage = %v, %v", res, err)
	}
	if len(events) != 2 || events[0].Err.Kind != KindRateLimited || events[0].Wait < time.Second ||
		events[0].Err.RetryAfter != time.Second || events[1].Err.Kind != KindRateLimited {
		t.Errorf("events = %+v; want two rate-limited, the first waiting at least the Retry-After", events)
	}
}

func TestRateLimitedLastAnswerIsNotified(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":false,"error":"Слишком много запросов"}`)
	})
	var events []Event
	c := newTestClient(t, f.URL, WithRetry(RetryPolicy{MaxRetries: -1}), WithNotify(func(e Event) { events = append(events, e) }))
	_, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if len(events) != 1 || events[0].Wait != 0 || events[0].Attempt != 1 {
		t.Errorf("events = %+v, want one with no wait", events)
	}
}

func TestRetryAfterBeyondMaxElapsedStops(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c := newTestClient(t, f.URL)
	_, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Kind != KindRateLimited || ae.RetryAfter != time.Hour {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestEmptyHTMLMeansPlanOnlyWhenRepeated(t *testing.T) {
	t.Parallel()
	always := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	})
	c := newTestClient(t, always.URL)
	_, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	// The first empty page is probed with a call that cannot create anything; its repeated
	// empty pages are the plan's answer.
	if !errors.Is(err, ErrNoImportAPI) || len(always.requests()) != 1+emptyHTMLRepeats {
		t.Errorf("err = %v after %d requests; want no import API after %d", err, len(always.requests()), 1+emptyHTMLRepeats)
	}
	once := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Content-Type", "text/html")
			return
		}
		writeJSON(w, okUser)
	})
	c = newTestClient(t, once.URL)
	if _, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}}); err != nil {
		t.Errorf("a single empty page: %v", err)
	}
}

func TestLimiterWaitedPerAttempt(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 3 {
			http.Error(w, "x", 502)
			return
		}
		writeJSON(w, okUser)
	})
	// Ten tokens that never refill within the test: each attempt must take one.
	lim := rate.NewLimiter(rate.Every(time.Hour), 10)
	c := newTestClient(t, f.URL, WithLimiter(lim))
	if _, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}}); err != nil {
		t.Fatal(err)
	}
	if tok := lim.Tokens(); tok < 6.9 || tok > 7.1 {
		t.Errorf("tokens left = %.2f, want 7 (one per attempt)", tok)
	}
	// An exhausted limiter is waited on under the context, not slept through.
	empty := rate.NewLimiter(rate.Every(time.Hour), 1)
	empty.Allow()
	c = newTestClient(t, f.URL, WithLimiter(empty))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := addUser(c, ctx, Params{User: &UserParams{Email: "a@b.ru"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

type recordingBudget struct {
	mu    sync.Mutex
	calls []BudgetCall
	err   error
}

func (b *recordingBudget) Spend(ctx context.Context, c BudgetCall) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, c)
	return b.err
}

func TestExportBudgetPerAttempt(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch {
		case n == 2:
			http.Error(w, "x", 502)
		case strings.Contains(r.URL.Path, "/exports/"):
			writeJSON(w, `{"success":true,"info":{"fields":["id"],"items":[["1"]]}}`)
		case strings.HasSuffix(r.URL.Path, "/users") && r.Method == "GET":
			writeJSON(w, `{"success":true,"info":{"export_id":"12345"}}`)
		default:
			writeJSON(w, okUser)
		}
	})
	b := &recordingBudget{}
	c := newTestClient(t, f.URL, WithExportBudget(b))
	id, err := c.StartExport(t.Context(), ExportRequest{Object: ExportUsers, Filters: []Filter{{Name: "created_at", Sub: "from", Value: "2024-01-01"}}})
	if err != nil || id != 12345 {
		t.Fatalf("StartExport = %d, %v", id, err)
	}
	if _, err := c.ExportResult(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}}); err != nil {
		t.Fatal(err)
	}
	want := []BudgetCall{
		{"GET", "/pl/api/account/users", false},
		{"GET", "/pl/api/account/exports/12345", true},
		{"GET", "/pl/api/account/exports/12345", true}, // the retry pays too
	}
	if fmt.Sprint(b.calls) != fmt.Sprint(want) {
		t.Errorf("budget calls = %v, want %v", b.calls, want)
	}

	spent := errors.New("budget spent until 18:00")
	refusing := &recordingBudget{err: spent}
	c = newTestClient(t, f.URL, WithExportBudget(refusing))
	before := len(f.requests())
	_, err = c.Groups(t.Context())
	if !errors.Is(err, spent) || len(f.requests()) != before {
		t.Errorf("refused budget: err = %v, %d requests sent", err, len(f.requests())-before)
	}
}

func TestStartExportQuery(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":true,"info":{"export_id":99}}`)
	})
	c := newTestClient(t, f.URL)
	id, err := c.StartExport(t.Context(), ExportRequest{Object: ExportGroupUsers, GroupID: 42, Filters: []Filter{
		{Name: "created_at", Sub: "from", Value: "2024-01-01"},
		{Name: "created_at", Sub: "to", Value: "2024-12-31"},
		{Name: "status", Value: "active"},
	}})
	if err != nil || id != 99 {
		t.Fatalf("StartExport = %d, %v", id, err)
	}
	r := f.requests()[0]
	if r.Method != "GET" || r.Path != "/pl/api/account/groups/42/users" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	q := r.Query
	if q.Get("key") != testKey || q.Get("created_at[from]") != "2024-01-01" || q.Get("created_at[to]") != "2024-12-31" || q.Get("status") != "active" {
		t.Errorf("query = %v", q)
	}
	for _, bad := range []ExportRequest{
		{Object: ExportUsers},
		{Object: ExportUsers, Filters: []Filter{{Name: "a&b", Value: "1"}}},
		{Object: ExportUsers, Filters: []Filter{{Name: "key", Value: "1"}}},
	} {
		if _, err := c.StartExport(t.Context(), bad); KindOf(err) != KindBadFilter {
			t.Errorf("StartExport(%+v) err = %v, want bad filter", bad, err)
		}
	}
	for _, bad := range []ExportRequest{{Object: "orders", Filters: []Filter{{Name: "x"}}}, {Object: ExportGroupUsers, Filters: []Filter{{Name: "x"}}}} {
		if _, err := c.StartExport(t.Context(), bad); err == nil {
			t.Errorf("StartExport(%+v) succeeded", bad)
		}
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("refused requests were sent: %d", n)
	}
}

func TestRedirectRefused(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://school.example.com"+r.URL.Path, http.StatusMovedPermanently)
	})
	c := newTestClient(t, f.URL)
	_, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	if err == nil || !strings.Contains(err.Error(), "--base-url https://school.example.com") {
		t.Fatalf("err = %v", err)
	}
	if ok, _ := retryable(err); ok || len(f.requests()) != 1 {
		t.Errorf("redirect retried: %d requests", len(f.requests()))
	}
	_, err = c.Groups(t.Context())
	if err == nil || len(f.requests()) != 2 {
		t.Errorf("GET redirect followed or accepted: %v", err)
	}
	assertNoKey(t, err.Error(), testKey)
}

func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	slow := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	echo := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, fmt.Sprintf(`{"success":false,"error":true,"error_message":"bad key %s / %s","error_code":901}`,
			r.URL.Query().Get("key"), url.QueryEscape(r.URL.Query().Get("key"))))
	})
	garbage := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "key="+r.URL.RawQuery)
	})

	cases := []struct {
		name string
		root string
		opts []Option
		kind Kind
	}{
		{"connection refused", refused, nil, KindTransport},
		{"timeout", slow.URL, []Option{WithTimeout(50 * time.Millisecond), WithRetry(RetryPolicy{MaxRetries: 1, InitialInterval: time.Millisecond})}, KindTransport},
		{"service echoes the key", echo.URL, nil, KindAuth},
		{"unreadable answer echoing the query", garbage.URL, nil, KindProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, tc.root, tc.opts...)
			_, err := c.StartExport(t.Context(), ExportRequest{Object: ExportUsers, Filters: []Filter{{Name: "status", Value: "active"}}})
			if KindOf(err) != tc.kind {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			assertNoKey(t, err.Error(), testKey)
			assertNoKey(t, fmt.Sprintf("%+v %#v", err, err), testKey)
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				assertNoKey(t, e.Error(), testKey)
			}
			if tc.name == "timeout" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("timeout error does not match DeadlineExceeded: %v", err)
			}
			_, err = c.OpenExport(t.Context(), 5)
			if err == nil {
				t.Fatal("OpenExport succeeded")
			}
			assertNoKey(t, err.Error(), testKey)
		})
	}
}

func TestContextCanceledDuringBackoff(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		cancel()
		http.Error(w, "x", 500)
	})
	c := newTestClient(t, f.URL, WithRetry(RetryPolicy{MaxRetries: 5, InitialInterval: time.Hour, MaxInterval: time.Hour, MaxElapsed: 2 * time.Hour}))
	_, err := addUser(c, ctx, Params{User: &UserParams{Email: "a@b.ru"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestOpenExport(t *testing.T) {
	t.Parallel()
	var big bytes.Buffer
	big.WriteString(`{"success":true,"info":{"fields":["id","Email","Сумма"],"items":[`)
	for i := range 5000 {
		if i > 0 {
			big.WriteByte(',')
		}
		fmt.Fprintf(&big, `["%d","user%d@example.com","12 000,00"]`, i, i)
	}
	big.WriteString(`]}}`)
	if big.Len() <= peekSize {
		t.Fatal("the big export is not bigger than the peek")
	}
	small := `{"success":"true","info":{"fields":["id","n"],"items":[["1",2],["3",null]]}}`
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/acct/pl/api/account/exports/1":
			writeJSON(w, small)
		case "/acct/pl/api/account/exports/2":
			w.Header().Set("Content-Type", "application/json")
			w.Write(big.Bytes())
		case "/acct/pl/api/account/exports/3":
			writeJSON(w, `{"success":false,"error":true,"error_message":"Файл еще не создан","error_code":909}`)
		case "/acct/pl/api/account/exports/4":
			writeJSON(w, `{"success":false,"error":true,"error_message":"Файл не создан, попробуйте другой фильтр","error_code":910}`)
		case "/acct/pl/api/account/exports/5":
			// A big body cut in the middle.
			w.Header().Set("Content-Length", fmt.Sprint(big.Len()))
			w.Write(big.Bytes()[:big.Len()/2])
			w.(http.Flusher).Flush()
			resetConn(t, w)
		}
	})
	c := newTestClient(t, f.URL)
	ctx := t.Context()

	d, err := c.ExportResult(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d.Fields, d.Items) != "[id n] [[1 2] [3 ]]" {
		t.Errorf("small export = %v %v", d.Fields, d.Items)
	}

	rc, err := c.OpenExport(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(*exportStream); !ok {
		t.Errorf("a big export was not streamed: %T", rc)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, big.Bytes()) {
		t.Errorf("streamed %d bytes (%v), want %d", len(got), err, big.Len())
	}
	d, err = c.ExportResult(ctx, 2)
	if err != nil || len(d.Items) != 5000 || d.Items[4999][1] != "user4999@example.com" || d.Fields[2] != "Сумма" {
		t.Errorf("big export: %v", err)
	}

	before := len(f.requests())
	if _, err := c.OpenExport(ctx, 3); !errors.Is(err, ErrNotReady) {
		t.Errorf("909: %v", err)
	}
	if n := len(f.requests()) - before; n != 1 {
		t.Errorf("909 was retried by the client: %d requests", n)
	}
	if _, err := c.OpenExport(ctx, 4); !errors.Is(err, ErrExportFailed) {
		t.Errorf("910: %v", err)
	}

	rc, err = c.OpenExport(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if KindOf(err) != KindTransport {
		t.Errorf("cut stream: err = %v, want a transport APIError", err)
	} else {
		assertNoKey(t, err.Error(), testKey)
	}
}

func TestExportLooksReady(t *testing.T) {
	t.Parallel()
	cases := []struct {
		peek string
		want bool
	}{
		{`{"success":true,"info":{"fields":[`, true},
		{`{"success":"true","info":{`, true},
		{`{"info":{"fields":["a"],"items":[[`, true},
		{`{"success":false,"info":{`, false},
		{`{"success":true,"error":true,"info":{`, false},
		{`{"error_code":909,"info":{`, false},
		{`{"success":true,"other":"xx`, false},
		{`[1,2`, false},
		{`<html>`, false},
	}
	for _, tc := range cases {
		if got := exportLooksReady([]byte(tc.peek)); got != tc.want {
			t.Errorf("exportLooksReady(%s) = %v, want %v", tc.peek, got, tc.want)
		}
	}
}

func TestGroupsBothShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       []GroupInfo
	}{
		{"real", `{"success":true,"info":[{"id":1,"name":"Тренинг SMM","last_added_at":"2024-05-01 10:00:00"},{"id":"2","name":"VIP"}]}`,
			[]GroupInfo{{ID: 1, Name: "Тренинг SMM", LastAddedAt: "2024-05-01 10:00:00"}, {ID: 2, Name: "VIP"}}},
		{"seed", `{"success":"true","result":{"groups":[{"id":1,"title":"Тренинг SMM","users_count":150,"description":"x"},{"id":2,"title":"VIP Студенты","users_count":"25"}]}}`,
			[]GroupInfo{{ID: 1, Name: "Тренинг SMM", UsersCount: 150}, {ID: 2, Name: "VIP Студенты", UsersCount: 25}}},
		{"empty", `{"success":true,"info":[]}`, []GroupInfo{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, tc.body) })
			c := newTestClient(t, f.URL)
			got, err := c.Groups(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Groups = %+v, want %+v", got, tc.want)
			}
			r := f.requests()[0]
			if r.Method != "GET" || r.Path != "/pl/api/account/groups" || r.Query.Get("key") != testKey {
				t.Errorf("request = %s %s %v", r.Method, r.Path, len(r.Query))
			}
		})
	}
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":true,"info":{"export_id":1}}`)
	})
	if _, err := newTestClient(t, f.URL).Groups(t.Context()); KindOf(err) != KindProtocol {
		t.Errorf("no list: err = %v", err)
	}
}

func TestAccountFields(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, `{"success":true,"info":[{"id":11,"name":"Telegram","type":"string","object":"user"},{"id":"12","title":"Источник","type":"select"}]}`)
	})
	c := newTestClient(t, f.URL)
	got, err := c.AccountFields(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{11, "Telegram", "string", "user"}, {12, "Источник", "select", ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AccountFields = %+v", got)
	}
	r := f.requests()[0]
	if r.Method != "POST" || r.Path != "/pl/api/account/fields" || r.Form.Get("action") != "get" || r.Form.Get("key") != testKey || len(r.Query) != 0 {
		t.Errorf("request = %s %s %v", r.Method, r.Path, r.Form.Get("action"))
	}
}

func TestMarshalParams(t *testing.T) {
	t.Parallel()
	b, err := marshalParams(Params{User: &UserParams{Email: "a<b>@c.ru", Addfields: map[string]string{"Б": "1", "А": "2"}}, System: &SystemParams{RefreshIfExists: 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"user":{"email":"a<b>@c.ru","addfields":{"А":"2","Б":"1"}},"system":{"refresh_if_exists":1}}`
	if string(b) != want {
		t.Errorf("marshalParams = %s, want %s", b, want)
	}
	if !json.Valid(b) {
		t.Error("invalid JSON")
	}
}

// TestTransportErrorsNameTheCall: the default client sends straight through its transport, and
// its network errors still read like net/http's ("Post \"URL\": ..."), with the key scrubbed
// from the GET export URL.
func TestTransportErrorsNameTheCall(t *testing.T) {
	t.Parallel()
	root := refusingRoot(t)
	c := newTestClient(t, root, WithRetry(RetryPolicy{MaxRetries: -1}))
	_, err := addUser(c, t.Context(), Params{User: &UserParams{Email: "a@b.ru"}})
	if c.rt == nil {
		t.Fatal("the default client should send through its transport")
	}
	if want := `Post "` + root + `/acct/pl/api/users": `; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("import error %q does not contain %q", err, want)
	}
	_, err = c.StartExport(t.Context(), ExportRequest{Object: "users", Filters: []Filter{{Name: "created_at", Sub: "from", Value: "2000-01-01"}}})
	if want := `Get "` + root + `/acct/pl/api/account/users`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("export error %q does not contain %q", err, want)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("export error shows the key: %q", err)
	}
}

// refusingRoot is the root URL of a loopback port nothing listens on: connections are refused.
func refusingRoot(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	root := "http://" + ln.Addr().String()
	ln.Close()
	return root
}
