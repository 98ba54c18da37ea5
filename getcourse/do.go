package getcourse

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
)

const (
	// maxBody caps an answer read into memory (everything but a streamed export).
	maxBody = 16 << 20
	// peekSize is how much of an export answer is read to classify it before streaming the rest.
	peekSize = 64 << 10
)

// callSpec describes one API call. The key is not in it: it is added to each attempt's request
// as it is built, so nothing else ever holds it.
type callSpec struct {
	method     string
	path       string     // /pl/api/..., appended to the base URL's path
	form       url.Values // POST fields, without the key
	params     []byte     // the "params" POST field as JSON text, sent base64-encoded
	query      url.Values // GET query, without the key
	idempotent bool
	collect    bool // an export collection (BudgetCall.Collect)
	stream     bool // OpenExport: a large ready answer is handed back unread
	probe      bool // CheckImportAPI's own call: an empty page is not probed again
}

// reply is a classified successful answer.
type reply struct {
	env    *envelope
	body   []byte        // the whole body, unless streamed
	stream io.ReadCloser // a ready export too large to peek whole
}

// attemptInfo is what the retry loop needs to know about an attempt besides its error.
type attemptInfo struct {
	wrote     bool // the request may have reached the service
	emptyHTML bool // HTTP 200, text/html, nothing in it
}

// timeoutError is the cause of an attempt cut by the client's own watchdog. It behaves like a
// net.Error timeout and matches context.DeadlineExceeded.
type timeoutError time.Duration

func (e timeoutError) Error() string      { return fmt.Sprintf("no answer within %v", time.Duration(e)) }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Temporary() bool      { return true }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// honourRetryAfter makes the backoff wait at least as long as the service asked
// (Retry-After), and gives up when that wait would cross the call's MaxElapsed.
type honourRetryAfter struct {
	backoff.BackOff
	exp        *backoff.ExponentialBackOff
	retryAfter *time.Duration
}

func (b *honourRetryAfter) NextBackOff() time.Duration {
	d := b.BackOff.NextBackOff()
	if d == backoff.Stop {
		return d
	}
	if ra := *b.retryAfter; ra > d {
		if b.exp.MaxElapsedTime > 0 && b.exp.GetElapsedTime()+ra > b.exp.MaxElapsedTime {
			return backoff.Stop
		}
		d = ra
	}
	return d
}

// do runs one call: rate limit, budget, attempt, classification and retries. Every wait
// (limiter, backoff) selects on ctx. The result is a reply or an error; an *APIError for
// everything about the service, the budget's own error (wrapped) when it refused the call.
func (c *Client) do(ctx context.Context, s callSpec) (*reply, error) {
	// Nearly every call succeeds at its first attempt, so that one runs before any retry
	// machinery is built: a BackOff costs several allocations, which on the import path
	// (one call per row) is not nothing.
	start := time.Now()
	out, first, info, stop := c.attempt(ctx, s, 0)
	if first == nil && stop == nil {
		return out, nil
	}
	var (
		attempt    int
		emptyHTML  int
		last       *APIError
		notified   bool
		retryAfter time.Duration
		pending    = true // the first attempt's outcome is still to be judged by op
	)
	b := c.newBackOff(ctx, start, &retryAfter)
	op := func() error {
		attempt++
		notified = false
		var (
			r    *reply
			aerr *APIError
		)
		if pending {
			pending = false
			aerr = first
		} else {
			r, aerr, info, stop = c.attempt(ctx, s, emptyHTML)
		}
		if stop != nil {
			return backoff.Permanent(stop)
		}
		if aerr == nil {
			out = r
			return nil
		}
		last = aerr
		retryAfter = aerr.RetryAfter
		if info.emptyHTML {
			emptyHTML++
			if !s.probe && !isExportPath(s.path) && aerr.Kind == KindProtocol {
				// An empty page on an import call is a glitch, or a plan without the import
				// API, which writes nothing. A call that cannot create anything tells them
				// apart before this call is retried or, if it is not idempotent, left in doubt.
				if perr := c.CheckImportAPI(ctx); KindOf(perr) == KindNoImportAPI {
					last = &APIError{Kind: KindNoImportAPI, Method: s.method, Path: s.path,
						HTTPStatus: aerr.HTTPStatus, Message: noImportAPIMessage}
					return backoff.Permanent(last)
				}
			}
		}
		if !mayRetry(s, aerr, info) {
			return backoff.Permanent(aerr)
		}
		if ctx.Err() != nil {
			// A retry was due but the caller has stopped: say "interrupted", not the glitch.
			return backoff.Permanent(c.interrupted(s, ctx.Err(), aerr))
		}
		return aerr
	}
	notify := func(err error, wait time.Duration) {
		var ae *APIError
		if c.notify != nil && errors.As(err, &ae) {
			notified = true
			c.notify(Event{Err: ae, Attempt: attempt, Wait: wait})
		}
	}
	err := backoff.RetryNotify(op, b, notify)
	if err == nil {
		return out, nil
	}
	if last != nil && last.Kind == KindRateLimited && !notified && c.notify != nil {
		// The last rate-limited answer is not retried, but the importer must still slow down.
		c.notify(Event{Err: last, Attempt: attempt})
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return nil, err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, c.interrupted(s, err, last)
	}
	return nil, err
}

// newBackOff is the retry schedule of one call that started at start: exponential within the
// client's RetryPolicy, never shorter than the service's last Retry-After (read through
// retryAfter), ending with ctx. A fresh one per call: they hold state and are not safe for
// concurrent use. Its clock starts now, so the time already spent is taken off MaxElapsed.
func (c *Client) newBackOff(ctx context.Context, start time.Time, retryAfter *time.Duration) backoff.BackOff {
	maxElapsed := c.retry.MaxElapsed
	if maxElapsed > 0 {
		maxElapsed -= time.Since(start)
	}
	exp := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.retry.InitialInterval),
		backoff.WithMaxInterval(c.retry.MaxInterval),
		backoff.WithMaxElapsedTime(max(maxElapsed, time.Nanosecond)),
	)
	if c.retry.MaxElapsed <= 0 {
		exp.MaxElapsedTime = 0 // no limit
	}
	return backoff.WithContext(&honourRetryAfter{
		BackOff:    backoff.WithMaxRetries(exp, uint64(c.retry.MaxRetries)),
		exp:        exp,
		retryAfter: retryAfter,
	}, ctx)
}

// interrupted is the error of a call stopped by its context between attempts; it matches
// context.Canceled or DeadlineExceeded with errors.Is and names the last failure, if any.
func (c *Client) interrupted(s callSpec, ctxErr error, last *APIError) *APIError {
	msg := "interrupted: " + Redact(ctxErr.Error(), c.key)
	if last != nil {
		msg += " (after: " + last.Message + ")"
	}
	return &APIError{Kind: KindTransport, Method: s.method, Path: s.path, Message: msg, Err: ctxErr}
}

// mayRetry decides whether a failed attempt is tried again. Idempotent calls follow retryable.
// A non-idempotent call is retried only when the service certainly did nothing: a rate-limited
// answer, or a network failure before the request was written. Any other doubtful failure is
// marked InDoubt and returned.
func mayRetry(s callSpec, aerr *APIError, info attemptInfo) bool {
	if s.idempotent || aerr.Kind == KindRateLimited {
		ok, _ := retryable(aerr)
		return ok
	}
	switch aerr.Kind {
	case KindTransport:
		if !info.wrote {
			ok, _ := retryable(aerr)
			return ok
		}
		aerr.InDoubt = true
	case KindUnknown:
		if isExportPath(s.path) {
			// On the export API an unknown kind is an explicit refusal in the API's own
			// envelope (an unknown error_code): the service understood and did nothing.
			ok, _ := retryable(aerr)
			return ok
		}
		aerr.InDoubt = true
	case KindServer, KindProtocol:
		aerr.InDoubt = true
	}
	return false
}

// attempt sends one request and classifies the answer. stop is set when the call must end
// without an answer to classify: the limiter wait was interrupted, or the budget refused. Its
// stages: admit (limiter, budget), build the request, send it, read and classify the answer.
func (c *Client) attempt(ctx context.Context, s callSpec, emptyHTMLBefore int) (r *reply, aerr *APIError, info attemptInfo, stop error) {
	if stop := c.admit(ctx, s); stop != nil {
		return nil, nil, info, stop
	}
	w := c.watch(ctx)
	req, wrote, err := c.buildRequest(w.ctx, s)
	if err != nil {
		w.finish()
		return nil, nil, info, &APIError{Kind: KindInternal, Method: s.method, Path: s.path,
			Message: Redact(err.Error(), c.key)}
	}
	a := answer{method: s.method, path: s.path, emptyHTMLBefore: emptyHTMLBefore}
	resp, err := c.send(req)
	if err != nil {
		info.wrote = wrote.Load()
		return nil, c.transportFailure(w, a, err), info, nil
	}
	// An answer came back, so the service saw the request.
	info.wrote = true
	return c.receive(w, s, a, resp, info)
}

// admit waits for the rate limiter and, for an export call, spends the budget. A non-nil
// result ends the call.
func (c *Client) admit(ctx context.Context, s callSpec) error {
	if err := c.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			// The limiter refuses waits that would end after ctx's deadline.
			err = fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
		}
		return &APIError{Kind: KindTransport, Method: s.method, Path: s.path,
			Message: "interrupted while waiting for the rate limiter: " + err.Error(), Err: err}
	}
	if c.budget != nil && isExportPath(s.path) {
		if err := c.budget.Spend(ctx, BudgetCall{Method: s.method, Path: s.path, Collect: s.collect}); err != nil {
			return fmt.Errorf("%s %s: %w", s.method, s.path, err)
		}
	}
	return nil
}

// attemptWatch is an attempt's context and the watchdog that bounds it; for a streamed export
// the watchdog is re-armed on every read, so it limits silence rather than the length of a big
// download.
type attemptWatch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

func (c *Client) watch(ctx context.Context) *attemptWatch {
	actx, cancel := context.WithCancelCause(ctx)
	return &attemptWatch{ctx: actx, cancel: cancel,
		timer: time.AfterFunc(c.timeout, func() { cancel(timeoutError(c.timeout)) })}
}

// finish releases the attempt.
func (w *attemptWatch) finish() {
	w.timer.Stop()
	w.cancel(nil)
}

// buildRequest builds the attempt's request. wrote turns true once the request's headers are
// written, for a non-idempotent call only: it alone needs to know whether its request may have
// reached the service (mayRetry), and a trace costs a context and a merge of hooks per attempt.
func (c *Client) buildRequest(actx context.Context, s callSpec) (*http.Request, *atomic.Bool, error) {
	wrote := new(atomic.Bool)
	rctx := actx
	if !s.idempotent {
		rctx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
			// Headers written means bytes may be on the wire: from here on the service may
			// act on the request even if we never see its answer.
			WroteHeaders: func() { wrote.Store(true) },
		})
	}
	req, err := c.newRequest(rctx, s)
	return req, wrote, err
}

// transportFailure classifies an attempt that got no (whole) answer and releases it.
func (c *Client) transportFailure(w *attemptWatch, a answer, err error) *APIError {
	a.err = c.transportErr(w.ctx, err)
	w.finish()
	_, aerr := classify(a, c.key)
	return aerr
}

// receive reads the answer to a sent request and classifies it. A large ready export is handed
// back unread as a stream; everything else is read whole (up to maxBody).
func (c *Client) receive(w *attemptWatch, s callSpec, a answer, resp *http.Response, info attemptInfo) (*reply, *APIError, attemptInfo, error) {
	a.status, a.header = resp.StatusCode, resp.Header
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc, err := resp.Location(); err == nil {
			a.location = loc
		}
	}

	var prefix []byte
	if s.stream && resp.StatusCode == http.StatusOK && !looksHTML(nil, mediaType(resp.Header)) {
		peek := make([]byte, peekSize)
		n, rerr := io.ReadFull(resp.Body, peek)
		switch {
		case rerr == nil && exportLooksReady(peek):
			env := &envelope{Success: flag{true, true}}
			return &reply{env: env, stream: &exportStream{
				r: io.MultiReader(bytes.NewReader(peek), resp.Body), body: resp.Body,
				ctx: w.ctx, cancel: w.cancel, watchdog: w.timer, timeout: c.timeout,
				key: c.key, path: s.path,
			}}, nil, info, nil
		case rerr == nil:
			prefix = peek // big but not a ready export: read it whole and classify
		case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
			a.body = peek[:n]
			return c.finishAnswer(a, resp, w, info)
		default:
			resp.Body.Close()
			return nil, c.transportFailure(w, a, rerr), info, nil
		}
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1-int64(len(prefix))))
	if rerr != nil {
		resp.Body.Close()
		return nil, c.transportFailure(w, a, rerr), info, nil
	}
	if len(prefix) > 0 {
		body = append(prefix, body...)
	}
	if len(body) > maxBody {
		resp.Body.Close()
		w.finish()
		return nil, &APIError{Kind: KindProtocol, Method: s.method, Path: s.path, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("an answer larger than %d MiB", maxBody>>20)}, info, nil
	}
	a.body = body
	return c.finishAnswer(a, resp, w, info)
}

// send makes one HTTP exchange without following redirects. Straight to the transport, an
// error is wrapped as http.Client would wrap it (*url.Error, "Post \"URL\": ..."), so that
// messages name the call and the key is scrubbed from them the same way (redactErr).
func (c *Client) send(req *http.Request) (*http.Response, error) {
	if c.rt == nil {
		return c.hc.Do(req)
	}
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// finishAnswer classifies a fully read answer and releases the attempt.
func (c *Client) finishAnswer(a answer, resp *http.Response, w *attemptWatch, info attemptInfo) (*reply, *APIError, attemptInfo, error) {
	resp.Body.Close()
	w.finish()
	info.emptyHTML = a.status == http.StatusOK && len(bytes.TrimSpace(a.body)) == 0 && emptyPageType(mediaType(a.header))
	env, aerr := classify(a, c.key)
	if aerr != nil {
		return nil, aerr, info, nil
	}
	return &reply{env: env, body: a.body}, nil, info, nil
}

// transportErr scrubs a transport error, naming the watchdog's timeout when it was the cause.
func (c *Client) transportErr(actx context.Context, err error) error {
	var te timeoutError
	if errors.As(context.Cause(actx), &te) {
		return redactErr(te, c.key)
	}
	return redactErr(err, c.key)
}

// newRequest builds an attempt's request; the body is built anew for every attempt.
func (c *Client) newRequest(ctx context.Context, s callSpec) (*http.Request, error) {
	var (
		req *http.Request
		err error
	)
	switch s.method {
	case http.MethodPost:
		// The URL is built, not parsed: formatting it to text and parsing it back cost more
		// per row than the rest of the request.
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "", bytes.NewReader(appendForm(s, c.key)))
		if err != nil {
			break
		}
		req.URL = c.postURL(s.path)
		if c.rt != nil {
			// Our own transport only reads the request, so every POST shares one header map
			// (an http.Client with a cookie jar would add to it: that one gets its own).
			req.Header = postHeader
			return req, nil
		}
		req.Header["Content-Type"] = formContentType
	case http.MethodGet:
		u := c.callURL(s.path)
		q := url.Values{}
		for k, v := range s.query {
			q[k] = v
		}
		q.Set("key", c.key)
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	default:
		return nil, fmt.Errorf("unsupported method %s", s.method)
	}
	if err != nil {
		return nil, redactErr(err, c.key)
	}
	req.Header["Accept"] = acceptJSON
	req.Header["User-Agent"] = userAgent
	return req, nil
}

// Header values every request carries; net/http only reads them, so they are shared.
var (
	formContentType = []string{"application/x-www-form-urlencoded"}
	acceptJSON      = []string{"application/json"}
	userAgent       = []string{"gcbatch"}
	postHeader      = http.Header{"Content-Type": formContentType, "Accept": acceptJSON, "User-Agent": userAgent}
)

// postURL is the URL of a POST to path. Those of the calls gcbatch makes are built once, by
// NewClient, and shared by every request (the transport only reads them): on the import path
// a fresh copy per row was one allocation more per call.
func (c *Client) postURL(path string) *url.URL {
	if u, ok := c.postURLs[path]; ok {
		return u
	}
	return c.callURL(path)
}

// callURL is a fresh URL of the call at path: the account's base URL with path appended.
func (c *Client) callURL(path string) *url.URL {
	u := *c.base
	u.Path = c.base.Path + path
	return &u
}

// actionForms are the POST forms of the calls gcbatch makes, built once and shared (appendForm
// only reads them): a url.Values made for each call was three allocations on every row.
var actionForms = func() map[string]url.Values {
	forms := map[string]url.Values{}
	for _, a := range []string{CallUsersAdd.Action, CallUsersUpdate.Action, CallDealsAdd.Action, CallMessagesSend.Action, "get"} {
		forms[a] = url.Values{"action": {a}}
	}
	return forms
}()

// actionForm is the POST form {action: a}. It must not be written to.
func actionForm(a string) url.Values {
	if f, ok := actionForms[a]; ok {
		return f
	}
	return url.Values{"action": {a}}
}

// appendForm encodes the POST fields of s and the key as url.Values.Encode would (names in
// order, values in query escaping, params as standard base64), in one buffer of about the
// right size: Encode escapes every name and value into a string of its own, which on the
// import path cost more than the rest of building the request.
func appendForm(s callSpec, key string) []byte {
	var names [8]string
	keys := append(names[:0], "key")
	size := len(key)*3 + 4
	if s.params != nil {
		keys = append(keys, "params")
		size += base64.StdEncoding.EncodedLen(len(s.params))*9/8 + 8
	}
	for k, vs := range s.form {
		if k != "key" && (k != "params" || s.params == nil) {
			keys = append(keys, k)
			for _, v := range vs {
				size += len(k) + len(v) + len(v)/8 + 2
			}
		}
	}
	slices.Sort(keys)
	dst := make([]byte, 0, size)
	for _, k := range keys {
		switch {
		case k == "key":
			dst = appendField(dst, k, key)
		case k == "params" && s.params != nil:
			dst = appendQueryEscape(appendSep(dst), k)
			dst = appendBase64Query(append(dst, '='), s.params)
		default:
			for _, v := range s.form[k] {
				dst = appendField(dst, k, v)
			}
		}
	}
	return dst
}

func appendSep(dst []byte) []byte {
	if len(dst) > 0 {
		dst = append(dst, '&')
	}
	return dst
}

func appendField(dst []byte, name, value string) []byte {
	dst = appendQueryEscape(appendSep(dst), name)
	return appendQueryEscape(append(dst, '='), value)
}

// appendBase64Query appends src in standard base64 (with padding), query-escaped: the same
// text as url.QueryEscape(base64.StdEncoding.EncodeToString(src)), without the two copies.
func appendBase64Query(dst, src []byte) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	put := func(dst []byte, c byte) []byte {
		switch c {
		case '+':
			return append(dst, "%2B"...)
		case '/':
			return append(dst, "%2F"...)
		}
		return append(dst, c)
	}
	for len(src) >= 3 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		dst = put(dst, alphabet[v>>18&63])
		dst = put(dst, alphabet[v>>12&63])
		dst = put(dst, alphabet[v>>6&63])
		dst = put(dst, alphabet[v&63])
		src = src[3:]
	}
	switch len(src) {
	case 2:
		v := uint(src[0])<<16 | uint(src[1])<<8
		dst = put(dst, alphabet[v>>18&63])
		dst = put(dst, alphabet[v>>12&63])
		dst = put(dst, alphabet[v>>6&63])
		dst = append(dst, "%3D"...)
	case 1:
		v := uint(src[0]) << 16
		dst = put(dst, alphabet[v>>18&63])
		dst = put(dst, alphabet[v>>12&63])
		dst = append(dst, "%3D%3D"...)
	}
	return dst
}

// appendQueryEscape appends s escaped like url.QueryEscape.
func appendQueryEscape(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := range len(s) {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// exportLooksReady reads the top-level members at the start of a large export answer up to
// "info": it is a ready export unless a failure was signalled before that. A ready export is
// the only answer that is ever large.
func exportLooksReady(peek []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(peek))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, ok := tok.(string)
		if !ok {
			return false
		}
		if strings.EqualFold(key, "info") {
			return true
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return false
		}
		switch strings.ToLower(key) {
		case "success":
			var f flag
			if f.UnmarshalJSON(raw) != nil || (f.set && !f.val) {
				return false
			}
		case "error":
			var e errField
			if e.UnmarshalJSON(raw) != nil || e.flag {
				return false
			}
		case "error_code":
			var n flexInt
			if n.UnmarshalJSON(raw) != nil || n != 0 {
				return false
			}
		}
	}
}

// exportStream is a ready export handed to the caller: the peeked bytes, then the rest of the
// body. Reads re-arm the attempt's watchdog; read errors are scrubbed APIErrors; Close ends the
// attempt.
type exportStream struct {
	r        io.Reader
	body     io.Closer
	ctx      context.Context
	cancel   context.CancelCauseFunc
	watchdog *time.Timer
	timeout  time.Duration
	key      string
	path     string
	closed   atomic.Bool
}

func (s *exportStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.watchdog.Reset(s.timeout)
	}
	if err != nil && err != io.EOF {
		var ae *APIError
		if errors.As(err, &ae) {
			return n, err
		}
		var te timeoutError
		if errors.As(context.Cause(s.ctx), &te) {
			err = te
		}
		re := redactErr(err, s.key)
		err = &APIError{Kind: KindTransport, Method: http.MethodGet, Path: s.path, HTTPStatus: http.StatusOK,
			Message: "reading the export: " + transportMessage(re), Err: re}
	}
	return n, err
}

func (s *exportStream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.watchdog.Stop()
	err := s.body.Close()
	s.cancel(nil)
	if err != nil {
		return redactErr(err, s.key)
	}
	return nil
}
