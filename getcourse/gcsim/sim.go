package gcsim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultKey is the key a Sim accepts when Config.Key is empty.
const DefaultKey = "sim-secret-key"

// Config sets up a Sim. The zero value is a fast, fault-free "pro" account that accepts
// DefaultKey and holds no data.
type Config struct {
	// Key is the accepted secret key; default DefaultKey.
	Key string
	// Shape is "real" (default: JSON booleans and numbers, as captured from the service) or
	// "seed" (the seed reference's "true"/"false" strings and string ids).
	Shape string
	// Rate is the number of import calls per second allowed (a token bucket of Burst tokens);
	// 0 means unlimited.
	Rate float64
	// Burst is the token bucket's size; default max(1, int(Rate)).
	Burst int
	// RateLimit429 answers a rate-limited import call with HTTP 429 and Retry-After: 1 (the seed's
	// style) instead of HTTP 200 «Слишком много запросов».
	RateLimit429 bool
	// Latency is added to every answer of the API, LatencyJitter spreads it uniformly by ±.
	Latency, LatencyJitter time.Duration
	// ApplyJitter holds each import call for a random 0..ApplyJitter before it is applied (on
	// top of Latency, which comes after). The real service runs many servers: two calls sent
	// together are applied in either order, and a call cut by a timeout may or may not have
	// been. Zero applies calls in the order they arrive.
	ApplyJitter time.Duration
	// VanishApply is the chance that an import call whose client went away before the answer
	// (killed, timed out) is applied all the same. When it is above zero, import calls wait their
	// Latency before they are applied rather than after, and a client that disconnects during
	// that wait leaves its call applied with this probability, drawn from the seeded generator
	// (Stats.FaultsInjected counts vanished_applied and vanished_dropped). 0.5 gives the crash
	// tests calls in flight of which some reached the account and some did not. Zero keeps the
	// default: a call is applied before its latency, so one that arrived is always applied.
	VanishApply float64
	// Faults are the probabilities of injected failures, per API request (import and export).
	Faults Faults
	// SlowDelay is how long a "slow" fault holds its answer; default 30s.
	SlowDelay time.Duration
	// ExportDelay is how long an export takes to build; default 2s, negative means ready at once.
	ExportDelay time.Duration
	// ExportBudget is the number of export-API calls allowed per ExportWindow; default 100,
	// negative means unlimited.
	ExportBudget int
	// ExportWindow is the budget's rolling window; default 2h.
	ExportWindow time.Duration
	// Plan is one of Plans (default pro). On "trial" the import API is absent, as observed on
	// a real trial account: import calls answer HTTP 200 with an empty text/html page and write
	// nothing, while exports, the group list and the field list work. On "no-api" the export
	// API answers 917 «Функционал недоступен» as well. SetPlan changes it at run time.
	Plan string
	// ReadOnlyKey, when set, is a second key that the export API accepts and the import API
	// refuses with «Действие запрещено» (a key without the right to write).
	ReadOnlyKey string
	// ExportLifetime is how long a built export stays collectable once ready (by Config.Now);
	// after that, and for ids the account never had, exports/{id} answers «Объект не найден»
	// without a code. Zero keeps exports forever.
	ExportLifetime time.Duration
	// StatusPolls answers the first StatusPolls polls of every export with a success that
	// carries only info.status ("processing", then "exported", then "finished", in turn) and
	// no fields or items, as some accounts do; the poll after that is answered normally.
	StatusPolls int
	// NumericItems writes the export cells that are numbers (ids, money) as JSON numbers rather
	// than strings: ids as digits, money as a plain decimal with two places (12000.50).
	NumericItems bool
	// StartDelay holds every export start's answer this long (in real time) after the export
	// was started, like a service that builds the export before answering; a client that gave
	// up in the meantime leaves an export it does not know about.
	StartDelay time.Duration
	// MonthlyAllowance is the number of objects (users, deals) that may be created per month;
	// 0 means the plan's default (start 1000, business 10000, pro unlimited), negative unlimited.
	MonthlyAllowance int
	// SeedUsers and SeedDeals are the numbers of pre-seeded users and deals (computed on demand
	// from Seed, so a million cost no memory). Payments derive from the paid seeded deals.
	SeedUsers, SeedDeals int
	// Seed seeds all randomness (faults, jitter, data): the same seed gives the same behaviour.
	Seed int64
	// Now is the clock of budget windows, export readiness, the rate limit and months; default
	// time.Now. Latency and slow faults always wait in real time.
	Now func() time.Time
	// EscapeUnicode writes every non-ASCII character of an export as \uXXXX, as PHP's
	// json_encode does without JSON_UNESCAPED_UNICODE, to exercise a client's decoder.
	EscapeUnicode bool
}

// Faults are probabilities (0..1, summing to at most 1) of failures injected per API request.
type Faults struct {
	// Err500 answers HTTP 500 with an HTML error page; the request is not applied.
	Err500 float64
	// HTML answers HTTP 200 with an HTML maintenance page; the request is not applied.
	HTML float64
	// Empty answers HTTP 200, Content-Type application/json, with an empty body; not applied.
	Empty float64
	// Reset closes the connection without an answer: half the time before the request is
	// applied, half the time after (seeded), so that a non-idempotent call is truly in doubt.
	Reset float64
	// Slow applies the request, then holds the answer for Config.SlowDelay.
	Slow float64
}

func (f Faults) sum() float64 { return f.Err500 + f.HTML + f.Empty + f.Reset + f.Slow }

// ParseFaults reads a fault spec such as "500=0.05,html=0.02,empty=0.01,reset=0.01,slow=0.01".
// An empty spec means no faults.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Faults{}, fmt.Errorf("fault %q: want NAME=PROBABILITY", part)
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || p < 0 || p > 1 {
			return Faults{}, fmt.Errorf("fault %q: the probability must be a number from 0 to 1", part)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "500", "err500", "5xx":
			f.Err500 = p
		case "html":
			f.HTML = p
		case "empty":
			f.Empty = p
		case "reset":
			f.Reset = p
		case "slow":
			f.Slow = p
		default:
			return Faults{}, fmt.Errorf("fault %q: unknown kind (want 500, html, empty, reset or slow)", part)
		}
	}
	if f.sum() > 1 {
		return Faults{}, errors.New("fault probabilities add up to more than 1")
	}
	return f, nil
}

// Stats counts what a Sim saw; Stats() returns a copy.
type Stats struct {
	// Requests counts every API request per path, export ids and group ids folded
	// ("/pl/api/account/exports/{id}"), faulted, refused and rate-limited ones included.
	Requests map[string]int
	// AddsByEmail counts users/add and deals/add calls that were applied, per lower-cased email.
	AddsByEmail map[string]int
	// DealsByNumber counts applied deals/add calls per deal_number (calls that carried one).
	DealsByNumber map[string]int

	UsersCreated, UsersUpdated, DealsCreated, DealsUpdated, MessagesSent, GroupsUpdated int
	// RowErrors counts row-level failures (result.error), RateLimited refused import calls.
	RowErrors, RateLimited int
	// FaultsInjected counts injected faults by kind: 500, html, empty, reset (with reset_before
	// and reset_after telling whether the request had been applied), slow; with
	// Config.VanishApply also vanished_applied and vanished_dropped (import calls whose client
	// went away before the answer, applied or not).
	FaultsInjected map[string]int
	// ExportStarts counts exports started; ExportCalls every call admitted against the export
	// budget (a call refused with 903 is not admitted and not counted here).
	ExportStarts, ExportCalls int
}

// Sim is a simulated GetCourse account: an http.Handler serving /pl/api/... and /_sim/....
type Sim struct {
	cfg       Config
	key       []byte
	seedShape bool
	now       func() time.Time

	faults  atomic.Pointer[Faults]
	plan    atomic.Pointer[string]
	rngMu   sync.Mutex
	rng     *rand.Rand
	limiter atomic.Pointer[rate.Limiter] // replaced whole by SetRate, starting with a full bucket

	mu sync.Mutex // guards everything below
	st Stats
	data
}

// New returns a Sim for cfg.
func New(cfg Config) *Sim {
	if cfg.Key == "" {
		cfg.Key = DefaultKey
	}
	if cfg.SlowDelay == 0 {
		cfg.SlowDelay = 30 * time.Second
	}
	if cfg.ExportDelay == 0 {
		cfg.ExportDelay = 2 * time.Second
	}
	if cfg.ExportBudget == 0 {
		cfg.ExportBudget = 100
	}
	if cfg.ExportWindow <= 0 {
		cfg.ExportWindow = 2 * time.Hour
	}
	if cfg.Plan == "" {
		cfg.Plan = "pro"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sim{
		cfg:       cfg,
		key:       []byte(cfg.Key),
		seedShape: cfg.Shape == "seed",
		now:       cfg.Now,
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6763736d2d726e67)),
	}
	f := cfg.Faults
	s.faults.Store(&f)
	plan := cfg.Plan
	s.plan.Store(&plan)
	s.SetRate(cfg.Rate)
	s.st = Stats{Requests: map[string]int{}, AddsByEmail: map[string]int{}, DealsByNumber: map[string]int{},
		FaultsInjected: map[string]int{}}
	s.initData()
	return s
}

// SetRate changes the import limit at run time; 0 or less means unlimited. The new limit
// starts with a full bucket.
func (s *Sim) SetRate(perSecond float64) {
	if perSecond <= 0 {
		s.limiter.Store(nil)
		return
	}
	burst := s.cfg.Burst
	if burst <= 0 {
		burst = max(1, int(perSecond))
	}
	l := rate.NewLimiter(rate.Limit(perSecond), burst)
	l.AllowN(s.now(), 0) // start the bucket's clock at the Sim's now, full
	s.limiter.Store(l)
}

// Plans are the account plans a Sim knows: trial answers imports with an empty page (exports
// work), no-api refuses the export API too (917), start, business and pro have the whole API
// and differ in their monthly allowance.
var Plans = []string{"trial", "no-api", "start", "business", "pro"}

// SetPlan changes the account's plan at run time (one of Plans), as when a school upgrades. A
// Config.MonthlyAllowance of 0 follows the new plan's allowance.
func (s *Sim) SetPlan(plan string) error {
	if !slices.Contains(Plans, plan) {
		return fmt.Errorf("unknown plan %q: want one of %s", plan, strings.Join(Plans, ", "))
	}
	s.plan.Store(&plan)
	if s.cfg.MonthlyAllowance == 0 {
		s.mu.Lock()
		s.allowance = planAllowance(plan)
		s.mu.Unlock()
	}
	return nil
}

// Plan returns the account's current plan.
func (s *Sim) Plan() string { return *s.plan.Load() }

// importAPI reports whether the plan has the import API; exportAPI the export API.
func (s *Sim) importAPI() bool {
	p := s.Plan()
	return p != "trial" && p != "no-api"
}
func (s *Sim) exportAPI() bool { return s.Plan() != "no-api" }

// SetFaults changes the fault probabilities at run time.
func (s *Sim) SetFaults(f Faults) { s.faults.Store(&f) }

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st
	c.Requests = cloneCounts(s.st.Requests)
	c.AddsByEmail = cloneCounts(s.st.AddsByEmail)
	c.DealsByNumber = cloneCounts(s.st.DealsByNumber)
	c.FaultsInjected = cloneCounts(s.st.FaultsInjected)
	return c
}

func cloneCounts(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// RollMonth starts a new month: the monthly allowance is free again.
func (s *Sim) RollMonth() {
	s.mu.Lock()
	s.used = 0
	s.month = monthKey(s.now())
	s.mu.Unlock()
}

// ---- dispatch ----

type faultKind int

const (
	noFault faultKind = iota
	fault500
	faultHTML
	faultEmpty
	faultResetBefore
	faultResetAfter
	faultSlow
)

func (s *Sim) rollFault() faultKind {
	f := s.faults.Load()
	if f.sum() == 0 {
		return noFault
	}
	s.rngMu.Lock()
	x := s.rng.Float64()
	half := s.rng.IntN(2)
	s.rngMu.Unlock()
	switch {
	case x < f.Err500:
		return fault500
	case x < f.Err500+f.HTML:
		return faultHTML
	case x < f.Err500+f.HTML+f.Empty:
		return faultEmpty
	case x < f.Err500+f.HTML+f.Empty+f.Reset:
		if half == 0 {
			return faultResetBefore
		}
		return faultResetAfter
	case x < f.sum():
		return faultSlow
	}
	return noFault
}

var faultNames = map[faultKind][]string{fault500: {"500"}, faultHTML: {"html"}, faultEmpty: {"empty"},
	faultResetBefore: {"reset", "reset_before"}, faultResetAfter: {"reset", "reset_after"}, faultSlow: {"slow"}}

// reply is an answer waiting to be written: a body, or a stream for big exports.
type reply struct {
	status     int
	ctype      string
	body       []byte
	retryAfter string
	stream     func(w *bufio.Writer)
}

const ctypeJSON = "application/json; charset=utf-8"

func jsonReply(b []byte) reply { return reply{status: http.StatusOK, ctype: ctypeJSON, body: b} }

const html500 = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>500 Internal Server Error</title></head>` +
	`<body><h1>Внутренняя ошибка сервера</h1><p>Попробуйте повторить запрос позже.</p></body></html>`
const htmlMaintenance = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Технические работы</title></head>` +
	`<body><h1>Ведутся технические работы</h1><p>Сервис скоро снова будет доступен.</p></body></html>`

// ServeHTTP serves the API under /pl/api/ and the control endpoints under /_sim/.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasPrefix(p, "/_sim/") {
		s.serveControl(w, r, p)
		return
	}
	if !strings.HasPrefix(p, "/pl/api/") {
		http.Error(w, "Страница не найдена", http.StatusNotFound)
		return
	}
	p = strings.TrimSuffix(p, "/")
	fault := s.rollFault()
	s.mu.Lock()
	s.st.Requests[foldPath(p)]++
	for _, n := range faultNames[fault] {
		s.st.FaultsInjected[n]++
	}
	s.mu.Unlock()

	var rep reply
	held := false // the call already waited its latency (holdImport)
	switch fault {
	case fault500:
		rep = reply{status: http.StatusInternalServerError, ctype: "text/html; charset=utf-8", body: []byte(html500)}
	case faultHTML:
		rep = reply{status: http.StatusOK, ctype: "text/html; charset=utf-8", body: []byte(htmlMaintenance)}
	case faultEmpty:
		rep = reply{status: http.StatusOK, ctype: ctypeJSON}
	case faultResetBefore:
		resetConn(w)
		return
	default:
		if s.cfg.ApplyJitter > 0 && !strings.HasPrefix(p, "/pl/api/account/") && !wait(r.Context(), s.jitter(s.cfg.ApplyJitter)) {
			return // the client gave up before the call was applied
		}
		if s.cfg.VanishApply > 0 && !strings.HasPrefix(p, "/pl/api/account/") {
			if !s.holdImport(r, p) {
				return // the client went away; the call was applied or not (VanishApply)
			}
			held = true
		}
		rep = s.route(r, p)
		if s.cfg.StartDelay > 0 && isStartPath(p) && !wait(r.Context(), s.cfg.StartDelay) {
			return // the export was started; the client gave up before hearing its id
		}
	}
	switch fault {
	case faultResetAfter:
		resetConn(w)
		return
	case faultSlow:
		if !wait(r.Context(), s.cfg.SlowDelay) {
			return
		}
	}
	if !held && !wait(r.Context(), s.latency()) {
		return
	}
	rep.write(w)
}

// holdImport holds an import call for its latency before it is applied (Config.VanishApply).
// It reports whether the client is still there, so that the call is applied and answered now;
// when the client went away during the wait, the call is applied with probability VanishApply
// and nobody is answered. The body is read first: the server notices a closed connection only
// once the request body has been read to its end.
func (s *Sim) holdImport(r *http.Request, p string) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err == nil && wait(r.Context(), s.latency()) {
		return true
	}
	s.rngMu.Lock()
	apply := s.rng.Float64() < s.cfg.VanishApply
	s.rngMu.Unlock()
	s.mu.Lock()
	if apply {
		s.st.FaultsInjected["vanished_applied"]++
	} else {
		s.st.FaultsInjected["vanished_dropped"]++
	}
	s.mu.Unlock()
	if apply {
		s.route(r, p)
	}
	return false
}

func (rep reply) write(w http.ResponseWriter) {
	h := w.Header()
	if rep.ctype != "" {
		h.Set("Content-Type", rep.ctype)
	}
	if rep.retryAfter != "" {
		h.Set("Retry-After", rep.retryAfter)
	}
	if rep.stream != nil {
		w.WriteHeader(rep.status)
		bw := bufio.NewWriterSize(w, 64<<10)
		rep.stream(bw)
		bw.Flush()
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

// resetConn drops the connection without an answer. On HTTP/1 the socket is closed with
// SO_LINGER 0, so the client sees a real reset; where hijacking is impossible (HTTP/2) the
// handler aborts, which resets the stream.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if ok {
		conn, _, err := hj.Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Sim) latency() time.Duration {
	d := s.cfg.Latency
	if j := s.cfg.LatencyJitter; j > 0 {
		s.rngMu.Lock()
		d += time.Duration(s.rng.Int64N(int64(2*j)+1)) - j
		s.rngMu.Unlock()
	}
	return d
}

// jitter returns a random duration from 0 to max.
func (s *Sim) jitter(max time.Duration) time.Duration {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return time.Duration(s.rng.Int64N(int64(max) + 1))
}

// wait holds for d unless ctx ends first; it reports whether the full wait passed.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// foldPath folds the ids out of a path for the per-path counters.
func foldPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/pl/api/account/exports/"); ok && rest != "" {
		return "/pl/api/account/exports/{id}"
	}
	if rest, ok := strings.CutPrefix(p, "/pl/api/account/groups/"); ok && strings.HasSuffix(rest, "/users") {
		return "/pl/api/account/groups/{id}/users"
	}
	return p
}

func (s *Sim) route(r *http.Request, p string) reply {
	switch p {
	case "/pl/api/users", "/pl/api/deals", "/pl/api/messages":
		return s.serveImport(r, p)
	}
	if strings.HasPrefix(p, "/pl/api/account/") {
		return s.serveAccount(r, p)
	}
	return reply{status: http.StatusNotFound, ctype: "text/html; charset=utf-8",
		body: []byte("<html><body><h1>404</h1><p>Страница не найдена</p></body></html>")}
}

func (s *Sim) checkKey(k string) bool { return subtle.ConstantTimeCompare([]byte(k), s.key) == 1 }

// readOnlyKey reports whether k is Config.ReadOnlyKey.
func (s *Sim) readOnlyKey(k string) bool {
	return s.cfg.ReadOnlyKey != "" && subtle.ConstantTimeCompare([]byte(k), []byte(s.cfg.ReadOnlyKey)) == 1
}

// isStartPath reports whether p starts an export (users, deals, payments, group members).
func isStartPath(p string) bool {
	route, _, _ := classifyAccount(p)
	return route == routeStart
}

// ---- control endpoints ----

func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request, p string) {
	switch p {
	case "/_sim/stats":
		st := s.Stats()
		b, err := json.Marshal(st)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ctypeJSON)
		w.Write(b)
		return
	case "/_sim/month", "/_sim/rate", "/_sim/faults", "/_sim/plan":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	switch p {
	case "/_sim/month":
		s.RollMonth()
	case "/_sim/rate":
		v, err := strconv.ParseFloat(r.FormValue("per_second"), 64)
		if err != nil || v < 0 {
			http.Error(w, "per_second must be a number ≥ 0 (0 = unlimited)", http.StatusBadRequest)
			return
		}
		s.SetRate(v)
	case "/_sim/faults":
		f, err := ParseFaults(r.FormValue("spec"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetFaults(f)
	case "/_sim/plan":
		if err := s.SetPlan(r.FormValue("plan")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", ctypeJSON)
	w.Write([]byte(`{"ok":true}`))
}
