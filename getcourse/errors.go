package getcourse

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what sort of failure an APIError is, so that callers decide what to do without
// reading texts: stop the run, reject one row, retry, or poll again.
type Kind int

const (
	// KindUnknown is a failure the classifier could not place; treated as a server error.
	KindUnknown Kind = iota
	// KindAuth: wrong or missing key (901, 904, «Неавторизованное API-обращение»). Fatal.
	KindAuth
	// KindForbidden: the key may not do this («Действие запрещено»). Fatal.
	KindForbidden
	// KindPlan: the account's plan has no API (917, trial, empty text/html body). Fatal.
	KindPlan
	// KindQuota: the monthly allowance of created objects is spent («Достигнут лимит…»). Fatal
	// for this run; a later run after the month rolls over can go on.
	KindQuota
	// KindValidation: the service refused this one object (result.error). Reject the row.
	KindValidation
	// KindRateLimited: «Слишком много запросов» or HTTP 429 on import. Slow down and retry.
	KindRateLimited
	// KindBudget: 903, the account's 100-per-2-hours export budget is spent. Stop; retry later.
	KindBudget
	// KindBusy: 905, another export is being built on the account. Wait and retry.
	KindBusy
	// KindNotReady: 909, the export file is still being built. Poll again.
	KindNotReady
	// KindExportFailed: 910, the export failed for good; try another filter.
	KindExportFailed
	// KindBadFilter: 908, 913, 914, 918: no filter or a filter value the service refuses.
	KindBadFilter
	// KindServer: HTTP 5xx or an error answer that may go away. Retryable.
	KindServer
	// KindTransport: the request failed on the network (reset, timeout, DNS). Retryable, but a
	// non-idempotent call whose request may have reached the service is in doubt instead.
	KindTransport
	// KindProtocol: an HTML page, an empty or undecodable body. Retryable (proxies, outages).
	KindProtocol
	// KindInternal: our own params were refused as undecodable («Не указаны параметры»); a bug
	// of ours, so the run stops rather than rejecting every row.
	KindInternal
	// KindNoImportAPI: the account's plan has no import API. The service answers import calls
	// with an empty HTTP 200 text/html page and writes nothing, while the export API, the group
	// list and the field list keep working (observed on trial accounts). Told apart from a
	// glitch by a call that cannot create anything (see Client.CheckImportAPI). Fatal; the same
	// command goes on once the plan allows imports.
	KindNoImportAPI
	// KindExportGone: the service no longer has this export (expired, or an id it never knew):
	// «Объект не найден» with no code on exports/{id}. Polling it again cannot help; start the
	// export afresh.
	KindExportGone
	// KindUntrustedTLS: the service's TLS certificate is not trusted by this system (unknown
	// authority, a name it was not issued for, expired or not yet valid). Nothing was sent.
	// Fatal: every call would fail the same way, so no row is retried.
	KindUntrustedTLS
	// KindNoSuchHost: the service's host name does not resolve (a typo in --account or
	// --base-url, or no DNS). Nothing was sent. Fatal, like KindUntrustedTLS.
	KindNoSuchHost
)

var kindNames = [...]string{"unknown", "auth", "forbidden", "plan", "quota", "validation",
	"rate-limited", "budget", "busy", "not-ready", "export-failed", "bad-filter", "server",
	"transport", "protocol", "internal", "no-import-api", "export-gone", "untrusted-tls", "no-such-host"}

// String returns the kind's short name as used in reports and logs.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Fatal reports whether an error of this kind must stop a whole import run (no row of the run
// can succeed until a person acts).
func (k Kind) Fatal() bool {
	switch k {
	case KindAuth, KindForbidden, KindPlan, KindQuota, KindInternal, KindBudget,
		KindNoImportAPI, KindUntrustedTLS, KindNoSuchHost:
		return true
	}
	return false
}

// APIError is every failure the client returns about a call: the service's answer, an HTTP
// status, or the transport. Its text is "METHOD /path: message" and never holds the key.
type APIError struct {
	Kind       Kind
	Method     string // GET or POST
	Path       string // /pl/api/users, without query string
	HTTPStatus int    // 0 when no answer was read
	Code       int    // the export API's error_code, 0 if none
	Message    string // the service's text, or ours for transport and protocol failures
	// RetryAfter is the wait the service asked for (Retry-After), zero if none.
	RetryAfter time.Duration
	// InDoubt is set when a non-idempotent call failed after its request may have reached the
	// service: it may or may not have taken effect, so it must not be blindly retried.
	InDoubt bool
	// Err is the underlying error (redacted), for errors.Is/As on transport failures.
	Err error
}

func (e *APIError) Error() string {
	msg := e.Message
	if e.Code != 0 {
		msg = fmt.Sprintf("%s (код %d)", msg, e.Code)
	}
	if e.InDoubt {
		msg += " — the request may have reached the service; not retried to avoid a duplicate (in doubt)"
	}
	return fmt.Sprintf("%s %s: %s", e.Method, e.Path, msg)
}

func (e *APIError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, getcourse.ErrAuth) and friends work on kinds.
func (e *APIError) Is(target error) bool {
	var k kindError
	if errors.As(target, &k) {
		return e.Kind == Kind(k)
	}
	return false
}

type kindError Kind

func (k kindError) Error() string { return Kind(k).String() }

// Sentinels for errors.Is on an APIError's kind.
var (
	ErrAuth         error = kindError(KindAuth)
	ErrForbidden    error = kindError(KindForbidden)
	ErrPlan         error = kindError(KindPlan)
	ErrQuota        error = kindError(KindQuota)
	ErrValidation   error = kindError(KindValidation)
	ErrRateLimited  error = kindError(KindRateLimited)
	ErrBudget       error = kindError(KindBudget)
	ErrBusy         error = kindError(KindBusy)
	ErrNotReady     error = kindError(KindNotReady)
	ErrExportFailed error = kindError(KindExportFailed)
	ErrBadFilter    error = kindError(KindBadFilter)
	ErrServer       error = kindError(KindServer)
	ErrTransport    error = kindError(KindTransport)
	ErrProtocol     error = kindError(KindProtocol)
	ErrInternal     error = kindError(KindInternal)
	ErrNoImportAPI  error = kindError(KindNoImportAPI)
	ErrExportGone   error = kindError(KindExportGone)
	ErrUntrustedTLS error = kindError(KindUntrustedTLS)
	ErrNoSuchHost   error = kindError(KindNoSuchHost)
)

// KindOf returns the kind of err if it is (or wraps) an *APIError, else KindUnknown.
func KindOf(err error) Kind {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return KindUnknown
}
