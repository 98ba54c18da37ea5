// Package getcourse is the client of the GetCourse import/export API that every gcbatch
// command goes through: it owns the wire format, the typed params and results, the
// classification of answers into errors, rate limiting, retries and the secrecy of the key.
//
// In the flow of an import, the mapping package turns a CSV row into params JSON, the importer's
// worker pool hands it to Client.Import, the one way an object is sent (the typed Params only
// describe what the service takes: the mapping package derives its target paths from them),
// and the answer comes back as an *ImportResult or an *APIError whose Kind tells the importer what to do with the row.
// In an export, the exporter calls StartExport, polls OpenExport while it answers KindNotReady,
// and streams the ready JSON into CSV with its own decoder.
//
// # Wire format
//
// Import calls are POST application/x-www-form-urlencoded with action, key and
// params=base64(JSON). Export calls are GET with the key and PHP-style filters
// (created_at[from]=...) in the query string. Redirects are never followed: a redirected POST
// loses its body, and a redirected GET would carry the key elsewhere; the error names the
// domain to use with --base-url.
//
// # Answers and errors
//
// The service answers almost everything with HTTP 200, in two shapes (the documentation's
// strings, "true" and "123", and the real booleans and numbers) and two levels (the call, and
// the object inside it). decode.go reads both; classify is the one function that turns an
// attempt into an *APIError of a Kind; retryable is the one table of what may be tried again.
//
// # Retries and idempotency
//
// Each call gets a fresh exponential backoff with jitter, bounded by RetryPolicy and by the
// context, and waits at least as long as a Retry-After asks. The request body is rebuilt for
// every attempt. A non-idempotent call (a deal without deal_number, a message) is retried only
// when the service certainly did nothing: a rate-limited answer, or a failure before the request
// was written. Any later failure comes back with InDoubt set, so that nobody gets the same
// order or e-mail twice. An export start is not idempotent either (a second start meets 905,
// or builds a second export), so it follows the same rule.
//
// # Fatal answers that are not the service's
//
// An empty HTTP 200 text/html page on an import call is a glitch, or a plan without the import
// API, which writes nothing. Before such a call is retried or left in doubt, CheckImportAPI
// sends a call that cannot create anything (users/add with neither e-mail nor phone); if that
// gets empty pages too, the call fails with KindNoImportAPI, fatal and not in doubt. A TLS
// certificate the system does not trust (KindUntrustedTLS) and a host that does not resolve
// (KindNoSuchHost) are fatal as well: no retry can mend them. «Объект не найден» on
// exports/{id} is KindExportGone: the export is to be started afresh, not polled again.
//
// # Rate limiting and the export budget
//
// One rate.Limiter, shared by every call of the client and usually by the importer (which
// slows it down when Notify reports rate-limited answers), is waited on before every attempt,
// retries and polls included. Every request to /pl/api/account/* first asks the ExportBudget,
// since the account allows 100 of them per 2 hours, polls included.
//
// # The key
//
// The key lives in the Client and goes only into request bodies and export query strings.
// Every text that could hold it (transport errors, whose *url.Error prints the whole URL with
// ?key=, service messages) goes through Redact.
package getcourse
