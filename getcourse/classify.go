package getcourse

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// answer is everything known about one attempt: what was asked, and what came back (or the
// transport error instead).
type answer struct {
	method, path string // path is /pl/api/..., without the base URL's prefix or a query
	status       int
	header       http.Header
	body         []byte
	err          error // transport error, already redacted
	// emptyHTMLBefore counts earlier empty text/html answers within the same call: the first
	// ones are retried as glitches, a repeated one means the plan has no API.
	emptyHTMLBefore int
	// location is the redirect target, resolved, when status is 3xx.
	location *url.URL
}

// emptyHTMLRepeats is how many empty text/html answers in one call are read as "no API on
// this plan" rather than as a glitch.
const emptyHTMLRepeats = 3

// isExportPath reports whether path belongs to the export API (/pl/api/account/*), whose
// requests count against the 100-per-2-hours budget.
func isExportPath(path string) bool { return strings.HasPrefix(path, "/pl/api/account/") }

// classify turns one attempt into the decoded envelope or an *APIError. It is the only place
// that decides what an answer means; key is used to scrub every text it puts into an error.
func classify(a answer, key string) (*envelope, *APIError) {
	mk := func(k Kind, msg string) *APIError {
		return &APIError{Kind: k, Method: a.method, Path: a.path, HTTPStatus: a.status,
			Message: clip(Redact(msg, key), maxMessage), RetryAfter: retryAfter(a.header)}
	}
	if a.err != nil {
		kind, msg := KindTransport, transportMessage(a.err)
		if k, why := fatalTransport(a.err); k != KindUnknown {
			kind, msg = k, why
		}
		e := mk(kind, msg)
		e.Err = a.err
		return nil, e
	}
	if a.status >= 300 && a.status < 400 {
		return nil, mk(KindInternal, redirectMessage(a.location))
	}

	body := bytes.TrimSpace(a.body)
	ctype := mediaType(a.header)
	if len(body) == 0 {
		switch {
		case a.status == http.StatusOK && emptyPageType(ctype):
			if a.emptyHTMLBefore+1 >= emptyHTMLRepeats {
				if !isExportPath(a.path) {
					return nil, mk(KindNoImportAPI, noImportAPIMessage)
				}
				return nil, mk(KindPlan, "the service keeps answering with an empty page: the account's plan has no API access (GetCourse: Настройки → API, or a paid plan)")
			}
			return nil, mk(KindProtocol, "an empty page instead of an answer (HTTP 200, no content)")
		case a.status >= 400:
			return nil, statusError(a, mk, "")
		}
		return nil, mk(KindProtocol, fmt.Sprintf("an empty answer (HTTP %d)", a.status))
	}

	env, derr := decodeResponse(body)
	if derr != nil {
		if a.status >= 400 {
			return nil, statusError(a, mk, plainText(body, ctype))
		}
		if looksHTML(body, ctype) {
			return nil, mk(KindProtocol, fmt.Sprintf("an HTML page instead of a JSON answer (HTTP %d): a proxy, a login page or an outage", a.status))
		}
		if t := plainText(body, ctype); t != "" {
			if k, ok := textKind(a.path, 0, t); ok {
				return nil, mk(k, t)
			}
		}
		return nil, mk(KindProtocol, fmt.Sprintf("an answer that is not the API's JSON (HTTP %d, %d bytes)", a.status, len(body)))
	}

	if bad, code, msg := env.failed(); bad {
		if msg == "" {
			msg = "the service refused the call without saying why"
		}
		if k, ok := textKind(a.path, code, msg); ok {
			e := mk(k, msg)
			e.Code = code
			return nil, e
		}
		switch a.status {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnprocessableEntity:
		default:
			if a.status >= 400 {
				e := statusError(a, mk, msg)
				e.Code = code
				return nil, e
			}
		}
		kind := KindUnknown
		if !isExportPath(a.path) {
			// An import call refused with a text we do not know («Offer not found»): the
			// object's own problem, as far as anyone can tell.
			kind = KindValidation
		}
		e := mk(kind, msg)
		e.Code = code
		return nil, e
	}
	if a.status >= 400 {
		return nil, statusError(a, mk, "")
	}
	if !isExportPath(a.path) {
		r := env.Result.resultBody
		if r == nil {
			return nil, mk(KindProtocol, fmt.Sprintf("an import answer without a result (HTTP %d)", a.status))
		}
		if bad, msg := r.failed(); bad {
			if msg == "" {
				msg = "the service refused the object without saying why"
			}
			if k, ok := textKind(a.path, 0, msg); ok {
				return nil, mk(k, msg)
			}
			return nil, mk(KindValidation, msg)
		}
	}
	if !env.Success.set && env.Result.resultBody == nil && len(env.Info) == 0 {
		return nil, mk(KindProtocol, fmt.Sprintf("an answer without success, result or info (HTTP %d)", a.status))
	}
	return env, nil
}

// maxMessage bounds a service text kept in an error (the service's are one line).
const maxMessage = 500

// clip shortens s to at most n bytes on a character boundary. It runs after Redact, so that a
// cut can never leave part of the key behind.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// textKind places a service code or text. Codes win over texts; texts are matched in lower
// case on fragments that survive the service's spelling («отсутсвует», sic).
func textKind(path string, code int, msg string) (Kind, bool) {
	switch code {
	case 901, 904:
		return KindAuth, true
	case 903:
		if isExportPath(path) {
			return KindBudget, true
		}
		return KindRateLimited, true
	case 905:
		return KindBusy, true
	case 908, 913, 914, 918:
		return KindBadFilter, true
	case 909:
		return KindNotReady, true
	case 910:
		return KindExportFailed, true
	case 917:
		return KindPlan, true
	}
	m := strings.ToLower(msg)
	has := func(frags ...string) bool {
		for _, f := range frags {
			if strings.Contains(m, f) {
				return true
			}
		}
		return false
	}
	switch {
	case has("неавторизованное api", "access denied", "invalid key", "invalid api key", "параметр key"):
		return KindAuth, true
	case has("действие запрещено"):
		return KindForbidden, true
	case has("функционал недоступен"):
		return KindPlan, true
	case has("достигнут лимит"):
		return KindQuota, true
	case has("слишком много запросов", "rate limit exceeded", "too many requests"):
		if isExportPath(path) {
			return KindBudget, true
		}
		return KindRateLimited, true
	case has("не указаны параметры", "пустой параметр action", "неизвестное действие"):
		return KindInternal, true
	case has("wrong subdomain"):
		return KindAuth, true
	}
	if !isExportPath(path) {
		// The texts below are the export API's. On an import call «попробуйте один из» is a
		// refused field value: the row's own problem.
		return KindUnknown, false
	}
	switch {
	case code == 0 && strings.HasPrefix(path, "/pl/api/account/exports/") && has("не найден"):
		// «Объект не найден»: the export expired or was never this account's. One client
		// reads any «не найден» on an export so; the exact text is a guess of the sources.
		return KindExportGone, true
	case has("уже запущен"):
		return KindBusy, true
	case has("еще не создан", "ещё не создан"):
		return KindNotReady, true
	case has("файл не создан"):
		return KindExportFailed, true
	case has("хотя бы один фильтр", "попробуйте один из"):
		return KindBadFilter, true
	}
	return KindUnknown, false
}

// statusError classifies an HTTP error status whose body said nothing we recognise (a proxy,
// an outage, the seed's documented statuses).
func statusError(a answer, mk func(Kind, string) *APIError, text string) *APIError {
	if text != "" {
		if k, ok := textKind(a.path, 0, text); ok {
			return mk(k, text)
		}
	}
	desc := fmt.Sprintf("HTTP %d %s", a.status, http.StatusText(a.status))
	if text != "" {
		desc += ": " + text
	}
	switch {
	case a.status >= 500:
		return mk(KindServer, desc)
	case a.status == http.StatusTooManyRequests:
		if isExportPath(a.path) && strings.Contains(strings.ToLower(text), "слишком много") {
			return mk(KindBudget, desc)
		}
		return mk(KindRateLimited, desc)
	case a.status == http.StatusUnauthorized:
		return mk(KindAuth, desc)
	case a.status == http.StatusForbidden:
		return mk(KindForbidden, desc)
	case a.status == http.StatusNotFound:
		return mk(KindAuth, desc+" — check the account name or base URL")
	case a.status == http.StatusRequestTimeout:
		return mk(KindServer, desc)
	}
	return mk(KindProtocol, desc)
}

func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	switch ct {
	case "":
		return ""
	case "application/json; charset=utf-8", "application/json":
		return "application/json" // nearly every answer: spare the general parser
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// emptyPageType reports whether an empty HTTP 200 answer of this media type is the "empty
// page" a plan without the API gives: text/html as observed, or no type at all (a server that
// sends nothing sends no type either). An empty application/json body is a glitch.
func emptyPageType(ctype string) bool { return ctype == "text/html" || ctype == "" }

func looksHTML(body []byte, ctype string) bool {
	return ctype == "text/html" || ctype == "application/xhtml+xml" || (len(body) > 0 && body[0] == '<')
}

// plainText returns a short non-HTML, non-JSON body as a message («Wrong subdomain»); anything
// else is not shown (an HTML page or a dump is no message, and could echo the request).
func plainText(body []byte, ctype string) string {
	if looksHTML(body, ctype) || len(body) > 200 || bytes.ContainsAny(body, "{<\x00") {
		return ""
	}
	return strings.Join(strings.Fields(string(body)), " ")
}

// retryAfter reads Retry-After as seconds or an HTTP date; zero when absent or nonsense.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > 24*3600 {
			s = 24 * 3600
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// transportMessage describes a network failure in words, without the URL.
func transportMessage(err error) string {
	var te timeoutError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("no answer within %v (timeout)", time.Duration(te))
	case errors.Is(err, context.Canceled):
		return "interrupted: " + err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "network timeout: " + err.Error()
	}
	return "network error: " + err.Error()
}

// noImportAPIMessage explains KindNoImportAPI: what the service did and what to do.
const noImportAPIMessage = "GetCourse answers import calls, even one that cannot create anything, with an empty " +
	"page (HTTP 200, no content): the account's plan does not include the import API (a trial account, or a plan " +
	"without API access; exports may still work), and nothing was written. Switch the plan (GetCourse: Настройки → " +
	"Тариф / API), then rerun the same command"

// fatalTransport places the network failures that no retry can mend: a certificate this
// system does not trust, and a host name that does not resolve. Each says why in words; the
// kind is KindUnknown for every other failure.
func fatalTransport(err error) (Kind, string) {
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		hostPtr   *x509.HostnameError
		invalid   x509.CertificateInvalidError
		invPtr    *x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		dns       *net.DNSError
	)
	const advice = "; nothing was sent. Check --account / --base-url; a company proxy that inspects HTTPS needs its certificate installed in the system's trust store"
	switch {
	case errors.As(err, &unknownCA):
		return KindUntrustedTLS, "the service's TLS certificate is signed by an authority this system does not trust (x509: unknown authority)" + advice
	case errors.As(err, &hostname), errors.As(err, &hostPtr):
		return KindUntrustedTLS, "the service's TLS certificate was not issued for this host name (x509: hostname mismatch)" + advice
	case errors.As(err, &invalid), errors.As(err, &invPtr):
		return KindUntrustedTLS, "the service's TLS certificate is not valid (expired, not yet valid, or not for a server: " + invalidReason(err) + ")" + advice
	case errors.As(err, &verify):
		return KindUntrustedTLS, "the service's TLS certificate is not trusted by this system (" + verify.Err.Error() + ")" + advice
	case errors.As(err, &dns) && dns.IsNotFound:
		return KindNoSuchHost, fmt.Sprintf("the host %s does not resolve (no such host); nothing was sent. Check the account name (--account) or --base-url", dns.Name)
	}
	return KindUnknown, ""
}

func invalidReason(err error) string {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		return invalid.Error()
	}
	var p *x509.CertificateInvalidError
	if errors.As(err, &p) {
		return p.Error()
	}
	return err.Error()
}

// redirectMessage explains a refused redirect: the account lives on its own domain.
func redirectMessage(loc *url.URL) string {
	if loc == nil || loc.Host == "" {
		return "the service answered with a redirect; it was not followed (a redirected POST loses its body): use the account's own domain with --base-url"
	}
	return fmt.Sprintf("the service redirected the request to %s; a redirected POST loses its body, so it was not followed: the account is on its own domain, use --base-url %s://%s",
		loc.Host, loc.Scheme, loc.Host)
}

// retryable says whether a failed call may be tried again, and why (for logs and tests). It
// is the single table the retry loop consults for idempotent calls; Busy and NotReady are
// left to the exporter, which polls them on its own schedule and budget.
func retryable(err error) (bool, string) {
	if err == nil {
		return false, "no error"
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return false, "not an API answer"
	}
	if ae.InDoubt {
		return false, "in doubt: the request may have taken effect"
	}
	switch ae.Kind {
	case KindServer:
		return true, "server error"
	case KindTransport:
		if errors.Is(ae.Err, context.Canceled) {
			return false, "interrupted"
		}
		return true, "network error"
	case KindProtocol:
		return true, "unreadable answer"
	case KindRateLimited:
		return true, "rate limited"
	case KindUnknown:
		return true, "unclassified failure, treated as a server error"
	case KindBusy:
		return false, "another export is running: the exporter waits on its own schedule"
	case KindNotReady:
		return false, "export not ready: the exporter polls on its own schedule"
	}
	return false, "permanent: " + ae.Kind.String()
}
