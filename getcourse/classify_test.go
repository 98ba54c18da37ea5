package getcourse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	importPath = "/pl/api/users"
	exportPath = "/pl/api/account/users"
	testKey    = "s3cr3t+K/ey=42"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	jsonH := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	htmlH := http.Header{"Content-Type": {"text/html; charset=UTF-8"}}
	textH := http.Header{"Content-Type": {"text/plain"}}
	withRA := http.Header{"Content-Type": {"text/html"}, "Retry-After": {"7"}}
	urlErr := &url.Error{Op: "Get", URL: "https://x.getcourse.ru/pl/api/account/users?key=" + url.QueryEscape(testKey),
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}

	cases := []struct {
		name       string
		path       string
		status     int
		header     http.Header
		body       string
		err        error
		emptyHTML  int
		wantOK     bool
		kind       Kind
		code       int
		msg        string // a fragment of the message
		retryAfter time.Duration
	}{
		{name: "import ok, real", path: importPath, status: 200, header: jsonH,
			body: `{"success":true,"action":"add","result":{"success":true,"user_id":1,"error":false}}`, wantOK: true},
		{name: "import ok, seed", path: importPath, status: 200, header: jsonH,
			body: `{"success":"true","action":"add","result":{"success":"true","user_id":"1","error":"false"}}`, wantOK: true},
		{name: "export start ok", path: exportPath, status: 200, header: jsonH,
			body: `{"success":true,"info":{"export_id":12345}}`, wantOK: true},
		{name: "wrong key", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Неавторизованное API-обращение"}`, kind: KindAuth, msg: "Неавторизованное"},
		{name: "wrong key, getcourse.io", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Access denied"}`, kind: KindAuth},
		{name: "wrong key, export 901", path: exportPath, status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Неавторизованное API-обращение","error_code":901}`, kind: KindAuth, code: 901},
		{name: "key missing", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"отсутсвует параметр key"}`, kind: KindAuth},
		{name: "key missing 904", path: exportPath, status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"x","error_code":904}`, kind: KindAuth, code: 904},
		{name: "forbidden", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Действие запрещено"}`, kind: KindForbidden},
		{name: "plan 917", path: exportPath, status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Функционал недоступен","error_code":917}`, kind: KindPlan, code: 917},
		{name: "empty html once is a glitch", path: importPath, status: 200, header: htmlH, kind: KindProtocol},
		{name: "empty html twice is still a glitch", path: importPath, status: 200, header: htmlH, emptyHTML: 1, kind: KindProtocol},
		{name: "empty html a third time is no import API", path: importPath, status: 200, header: htmlH, emptyHTML: 2, kind: KindNoImportAPI, msg: "plan does not include the import API"},
		{name: "empty page without a type, a third time", path: "/pl/api/deals", status: 200, emptyHTML: 2, kind: KindNoImportAPI},
		{name: "empty page without a type once", path: "/pl/api/deals", status: 200, kind: KindProtocol},
		{name: "empty html a third time on export is the plan", path: exportPath, status: 200, header: htmlH, emptyHTML: 2, kind: KindPlan},
		{name: "empty json body", path: importPath, status: 200, header: jsonH, kind: KindProtocol, msg: "empty"},
		{name: "empty 502", path: importPath, status: 502, kind: KindServer},
		{name: "quota", path: importPath, status: 200, header: jsonH,
			body: `{"success":true,"result":{"success":false,"error":true,"error_message":"Достигнут лимит на создание объектов"}}`, kind: KindQuota},
		{name: "quota at call level", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Достигнут лимит"}`, kind: KindQuota},
		{name: "too many requests on import", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Слишком много запросов"}`, kind: KindRateLimited},
		{name: "429 on import with Retry-After", path: importPath, status: 429, header: withRA,
			body: `<html>Rate limit</html>`, kind: KindRateLimited, retryAfter: 7 * time.Second},
		{name: "seed 429 JSON", path: importPath, status: 429, header: jsonH,
			body: `{"success":"false","error":"true","error_message":"Rate limit exceeded"}`, kind: KindRateLimited},
		{name: "903 on export is the budget", path: exportPath, status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Слишком много запросов","error_code":903}`, kind: KindBudget, code: 903},
		{name: "budget text on export without code", path: "/pl/api/account/exports/5", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Слишком много запросов"}`, kind: KindBudget},
		{name: "busy", path: exportPath, status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Уже запущен один экспорт, попробуйте позднее","error_code":905}`, kind: KindBusy, code: 905},
		{name: "not ready", path: "/pl/api/account/exports/5", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Файл еще не создан","error_code":909}`, kind: KindNotReady, code: 909},
		{name: "not ready by text", path: "/pl/api/account/exports/5", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Файл еще не создан"}`, kind: KindNotReady},
		{name: "export failed", path: "/pl/api/account/exports/5", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Файл не создан, попробуйте другой фильтр","error_code":910}`, kind: KindExportFailed, code: 910},
		{name: "export failed by text", path: "/pl/api/account/exports/5", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Файл не создан, попробуйте другой фильтр"}`, kind: KindExportFailed},
		{name: "no filter 908", path: exportPath, status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Должен быть передан хотя бы один фильтр","error_code":908}`, kind: KindBadFilter, code: 908},
		{name: "bad status 913", path: "/pl/api/account/deals", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Неверный статус, попробуйте один из - new, payed","error_code":913}`, kind: KindBadFilter, code: 913},
		{name: "914", path: exportPath, status: 200, header: jsonH, body: `{"success":false,"error_code":914}`, kind: KindBadFilter, code: 914},
		{name: "918", path: "/pl/api/account/payments", status: 200, header: jsonH, body: `{"success":false,"error_code":"918"}`, kind: KindBadFilter, code: 918},
		{name: "params undecodable", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Не указаны параметры"}`, kind: KindInternal},
		{name: "redirected POST lost its action", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Пустой параметр action"}`, kind: KindInternal},
		{name: "object refused", path: importPath, status: 200, header: jsonH,
			body: `{"success":true,"result":{"success":false,"error":true,"error_message":"Не указан ни эл. адрес, ни телефон"}}`,
			kind: KindValidation, msg: "Не указан ни эл. адрес"},
		{name: "object refused, seed strings", path: "/pl/api/deals", status: 200, header: jsonH,
			body: `{"success":"true","result":{"success":"false","error":"true","error_message":"Offer not found"}}`, kind: KindValidation},
		{name: "refused enum value on import is the row's, not a filter", path: "/pl/api/deals", status: 200, header: jsonH,
			body: `{"success":true,"action":"add","result":{"success":false,"error":true,"error_message":"Неверный статус заказа, попробуйте один из - new, payed"}}`,
			kind: KindValidation},
		{name: "unknown action is our bug", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Неизвестное действие: get"}`, kind: KindInternal},
		{name: "unknown action, as the service answers it", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Действие запрещено"}`, kind: KindForbidden},
		{name: "export gone", path: "/pl/api/account/exports/31415", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Объект не найден"}`, kind: KindExportGone, msg: "Объект не найден"},
		{name: "export gone, seed strings", path: "/pl/api/account/exports/31415", status: 200, header: jsonH,
			body: `{"success":"false","error":"true","error_message":"Экспорт не найден"}`, kind: KindExportGone},
		{name: "910 wins over a not-found text", path: "/pl/api/account/exports/31415", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Экспорт не найден","error_code":910}`, kind: KindExportFailed, code: 910},
		{name: "a missing group is not a gone export", path: "/pl/api/account/groups/9/users", status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Группа не найдена"}`, kind: KindUnknown},
		{name: "untrusted certificate", path: importPath, kind: KindUntrustedTLS, msg: "unknown authority",
			err: redactErr(&url.Error{Op: "Post", URL: "https://x.getcourse.ru/pl/api/users",
				Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, testKey)},
		{name: "certificate for another host", path: exportPath, kind: KindUntrustedTLS, msg: "hostname mismatch",
			err: redactErr(&url.Error{Op: "Get", URL: "https://x.getcourse.ru/pl/api/account/users?key=" + url.QueryEscape(testKey),
				Err: &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "x.getcourse.ru", Certificate: &x509.Certificate{}}}}, testKey)},
		{name: "expired certificate", path: importPath, kind: KindUntrustedTLS, msg: "expired",
			err: redactErr(&url.Error{Op: "Post", URL: "https://x.getcourse.ru/pl/api/users",
				Err: &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired, Detail: "expired"}}}, testKey)},
		{name: "host does not resolve", path: importPath, kind: KindNoSuchHost, msg: "nosuch.getcourse.ru does not resolve",
			err: redactErr(&url.Error{Op: "Post", URL: "https://nosuch.getcourse.ru/pl/api/users",
				Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nosuch.getcourse.ru", IsNotFound: true}}}, testKey)},
		{name: "a DNS timeout is retried", path: importPath, kind: KindTransport,
			err: redactErr(&url.Error{Op: "Post", URL: "https://x.getcourse.ru/pl/api/users",
				Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", Name: "x.getcourse.ru", IsTimeout: true}}}, testKey)},
		{name: "unknown call-level import failure is the row's", path: "/pl/api/deals", status: 200, header: jsonH,
			body: `{"success":false,"error":"Offer not found"}`, kind: KindValidation},
		{name: "seed 400 JSON", path: importPath, status: 400, header: jsonH,
			body: `{"success":"false","error":"true","error_message":"Email or phone required"}`, kind: KindValidation},
		{name: "unknown export failure", path: exportPath, status: 200, header: jsonH,
			body: `{"success":false,"error":true,"error_message":"Что-то новое","error_code":999}`, kind: KindUnknown, code: 999},
		{name: "import success without result", path: importPath, status: 200, header: jsonH,
			body: `{"success":true,"action":"add"}`, kind: KindProtocol},
		{name: "500 html", path: importPath, status: 500, header: htmlH, body: `<html>Internal</html>`, kind: KindServer, msg: "HTTP 500"},
		{name: "503 json", path: exportPath, status: 503, header: jsonH, body: `{"success":false}`, kind: KindServer},
		{name: "html page with 200", path: importPath, status: 200, header: htmlH, body: "<!DOCTYPE html><html>login</html>", kind: KindProtocol, msg: "HTML"},
		{name: "html without content type", path: importPath, status: 200, body: "<html></html>", kind: KindProtocol},
		{name: "garbage", path: importPath, status: 200, header: jsonH, body: `{"success":tru`, kind: KindProtocol},
		{name: "proxy 401", path: importPath, status: 401, header: htmlH, body: "<html>401</html>", kind: KindAuth},
		{name: "proxy 403", path: importPath, status: 403, header: htmlH, body: "<html>403</html>", kind: KindForbidden},
		{name: "seed 403 access denied", path: importPath, status: 403, header: jsonH,
			body: `{"success":"false","error":"true","error_message":"Access denied"}`, kind: KindAuth},
		{name: "wrong subdomain", path: importPath, status: 404, header: textH, body: "Wrong subdomain", kind: KindAuth, msg: "Wrong subdomain"},
		{name: "redirect", path: importPath, status: 302,
			kind: KindInternal, msg: "--base-url https://school.example.com"},
		{name: "connection refused", path: exportPath, err: redactErr(urlErr, testKey), kind: KindTransport, msg: "network error"},
		{name: "watchdog timeout", path: exportPath, err: redactErr(timeoutError(time.Second), testKey), kind: KindTransport, msg: "timeout"},
		{name: "service echoes the key", path: importPath, status: 200, header: jsonH,
			body: `{"success":false,"error":"Неавторизованное API-обращение: ` + testKey + `"}`, kind: KindAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := http.MethodPost
			if strings.HasPrefix(tc.path, "/pl/api/account/") {
				method = http.MethodGet
			}
			a := answer{method: method, path: tc.path, status: tc.status, header: tc.header,
				body: []byte(tc.body), err: tc.err, emptyHTMLBefore: tc.emptyHTML}
			if a.header == nil {
				a.header = http.Header{}
			}
			if tc.status == 302 {
				a.location, _ = url.Parse("https://school.example.com/pl/api/users")
			}
			env, aerr := classify(a, testKey)
			if tc.wantOK {
				if aerr != nil || env == nil {
					t.Fatalf("classify = %v, %v; want success", env, aerr)
				}
				return
			}
			if aerr == nil {
				t.Fatalf("classify = success, want %v", tc.kind)
			}
			if aerr.Kind != tc.kind || aerr.Code != tc.code {
				t.Errorf("kind, code = %v, %d; want %v, %d (%v)", aerr.Kind, aerr.Code, tc.kind, tc.code, aerr)
			}
			if tc.msg != "" && !strings.Contains(aerr.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", aerr, tc.msg)
			}
			if aerr.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", aerr.RetryAfter, tc.retryAfter)
			}
			if aerr.Method != method || aerr.Path != tc.path {
				t.Errorf("method, path = %s %s", aerr.Method, aerr.Path)
			}
			assertNoKey(t, aerr.Error(), testKey)
			if !errors.Is(aerr, kindError(tc.kind)) {
				t.Errorf("errors.Is(err, %v) = false", tc.kind)
			}
		})
	}
}

func TestClassifyTransportKeepsChain(t *testing.T) {
	t.Parallel()
	urlErr := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/pl/api/account/users?key=" + url.QueryEscape(testKey),
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	_, aerr := classify(answer{method: "GET", path: exportPath, err: redactErr(urlErr, testKey)}, testKey)
	if !errors.Is(aerr, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(ECONNREFUSED) = false for %v", aerr)
	}
	var ue *url.Error
	if !errors.As(aerr, &ue) {
		t.Fatal("errors.As(*url.Error) = false")
	}
	if strings.Contains(ue.URL, "key") || strings.Contains(ue.Error(), "key=") {
		t.Errorf("unwrapped *url.Error still shows the query: %q", ue.Error())
	}
	_, aerr = classify(answer{method: "GET", path: exportPath, err: redactErr(timeoutError(time.Second), testKey)}, testKey)
	var ne net.Error
	if !errors.As(aerr, &ne) || !ne.Timeout() || !errors.Is(aerr, context.DeadlineExceeded) {
		t.Errorf("timeout error does not read as a timeout: %v", aerr)
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	ae := func(k Kind) *APIError { return &APIError{Kind: k, Method: "POST", Path: importPath, Message: "x"} }
	inDoubt := ae(KindTransport)
	inDoubt.InDoubt = true
	canceled := ae(KindTransport)
	canceled.Err = context.Canceled
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"context canceled alone", context.Canceled, false},
		{"server", ae(KindServer), true},
		{"transport", ae(KindTransport), true},
		{"protocol", ae(KindProtocol), true},
		{"rate limited", ae(KindRateLimited), true},
		{"unknown is treated as server", ae(KindUnknown), true},
		{"wrapped server", fmt.Errorf("row 5: %w", ae(KindServer)), true},
		{"in doubt", inDoubt, false},
		{"interrupted", canceled, false},
		{"busy left to the exporter", ae(KindBusy), false},
		{"not ready left to the exporter", ae(KindNotReady), false},
		{"auth", ae(KindAuth), false},
		{"no import API", ae(KindNoImportAPI), false},
		{"export gone: start afresh, never poll again", ae(KindExportGone), false},
		{"untrusted certificate", ae(KindUntrustedTLS), false},
		{"host does not resolve", ae(KindNoSuchHost), false},
		{"forbidden", ae(KindForbidden), false},
		{"plan", ae(KindPlan), false},
		{"quota", ae(KindQuota), false},
		{"validation", ae(KindValidation), false},
		{"budget", ae(KindBudget), false},
		{"export failed", ae(KindExportFailed), false},
		{"bad filter", ae(KindBadFilter), false},
		{"internal", ae(KindInternal), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, reason := retryable(tc.err)
			if got != tc.want {
				t.Errorf("retryable(%v) = %v (%s), want %v", tc.err, got, reason, tc.want)
			}
			if reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"999999999", 24 * time.Hour},
	}
	for _, tc := range cases {
		if got := retryAfter(http.Header{"Retry-After": {tc.v}}); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	if got := retryAfter(http.Header{"Retry-After": {future}}); got < 60*time.Second || got > 91*time.Second {
		t.Errorf("retryAfter(date in 90s) = %v", got)
	}
}

func TestMayRetryNonIdempotent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		kind        Kind
		wrote       bool
		wantRetry   bool
		wantInDoubt bool
	}{
		{"refused before sending", KindTransport, false, true, false},
		{"reset after writing", KindTransport, true, false, true},
		{"server error", KindServer, true, false, true},
		{"html or empty answer", KindProtocol, true, false, true},
		{"rate limited: the service did nothing", KindRateLimited, true, true, false},
		{"validation is a definite answer", KindValidation, true, false, false},
		{"auth", KindAuth, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &APIError{Kind: tc.kind}
			got := mayRetry(callSpec{idempotent: false}, e, attemptInfo{wrote: tc.wrote})
			if got != tc.wantRetry || e.InDoubt != tc.wantInDoubt {
				t.Errorf("mayRetry = %v, InDoubt = %v; want %v, %v", got, e.InDoubt, tc.wantRetry, tc.wantInDoubt)
			}
			e2 := &APIError{Kind: tc.kind}
			want, _ := retryable(e2)
			if got := mayRetry(callSpec{idempotent: true}, e2, attemptInfo{wrote: tc.wrote}); got != want || e2.InDoubt {
				t.Errorf("idempotent: mayRetry = %v, InDoubt = %v; want %v, false", got, e2.InDoubt, want)
			}
		})
	}
}

// assertNoKey fails when text holds the key in any form it can take in a URL or form body.
func assertNoKey(t *testing.T, text, key string) {
	t.Helper()
	for _, form := range []string{key, url.QueryEscape(key), url.PathEscape(key)} {
		if strings.Contains(text, form) {
			t.Errorf("text holds the key (%q): %q", form, text)
		}
	}
}

func TestClassifyClipsLongTexts(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Ошибка ", 200) + testKey
	_, aerr := classify(answer{method: "POST", path: importPath, status: 200, header: http.Header{},
		body: []byte(`{"success":false,"error":"` + long + `"}`)}, testKey)
	if aerr == nil || len(aerr.Message) > maxMessage+len("…") || !strings.HasSuffix(aerr.Message, "…") {
		t.Fatalf("message of %d bytes: %q", len(aerr.Message), aerr.Message)
	}
	if !utf8.ValidString(aerr.Message) {
		t.Error("clipped inside a character")
	}
	assertNoKey(t, aerr.Error(), testKey)
}
