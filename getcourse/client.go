package getcourse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of a Client; each can be changed with an Option.
const (
	// DefaultTimeout bounds one attempt: connect, send, and read the whole answer (for an export
	// stream: the longest pause between two reads).
	DefaultTimeout = 30 * time.Second
	// DefaultRate is the request rate of the default limiter, the pace public clients keep.
	DefaultRate = 5
	// DefaultMaxRetries is the number of retries after the first attempt.
	DefaultMaxRetries = 5
	// DefaultInitialInterval is the first backoff wait.
	DefaultInitialInterval = 500 * time.Millisecond
	// DefaultMaxInterval caps one backoff wait.
	DefaultMaxInterval = 30 * time.Second
	// DefaultMaxElapsed caps the time one call spends retrying.
	DefaultMaxElapsed = 2 * time.Minute
)

// Client calls one GetCourse account. It is safe for concurrent use: the key, the limiter, the
// HTTP client and the policies all live here, nothing is package-global, so several clients
// (accounts, tests) run side by side.
type Client struct {
	base    *url.URL // root of the account, without a trailing slash
	account string   // stable id for state files (never the key)
	key     string

	hc      *http.Client
	rt      http.RoundTripper // hc's transport, when hc is our own default client (see New)
	timeout time.Duration
	limiter *rate.Limiter
	retry   RetryPolicy
	budget  ExportBudget
	notify  func(Event)

	baseSet  int                 // how many of WithAccount/WithBaseURL were given
	postURLs map[string]*url.URL // the POST calls' URLs, built once (postURL)
}

// Option configures a Client. Options check their own input and return an error rather than
// leaving a half-configured client.
type Option func(*Client) error

// RetryPolicy says how a failed call is retried (exponential backoff with jitter). A zero field
// takes its default (DefaultMaxRetries, DefaultInitialInterval, DefaultMaxInterval,
// DefaultMaxElapsed); a negative MaxRetries means no retries at all.
type RetryPolicy struct {
	MaxRetries      int
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsed      time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxRetries == 0 {
		p.MaxRetries = DefaultMaxRetries
	}
	if p.MaxRetries < 0 {
		p.MaxRetries = 0
	}
	if p.InitialInterval == 0 {
		p.InitialInterval = DefaultInitialInterval
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = DefaultMaxInterval
	}
	if p.MaxInterval < p.InitialInterval {
		p.MaxInterval = p.InitialInterval
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = DefaultMaxElapsed
	}
	return p
}

// ExportBudget guards the account's export allowance (100 calls per 2 hours, polls included).
// The client asks it before every request to /pl/api/account/*, retries included; an error
// aborts the call before anything is sent and is returned wrapped.
type ExportBudget interface {
	Spend(ctx context.Context, call BudgetCall) error
}

// BudgetCall describes one export-API request about to be sent.
type BudgetCall struct {
	Method, Path string
	// Collect is set for a poll or collection of an export already started (exports/{id}),
	// which a budget may pay from a reserve so that a started export can always be collected.
	Collect bool
}

// Event tells the caller about a failed attempt that will be retried, or about a rate-limited
// answer (even the last one): the importer slows its limiter, the progress bar says "backing off".
type Event struct {
	Err     *APIError
	Attempt int           // 1 for the first attempt
	Wait    time.Duration // backoff before the next attempt; 0 when none follows
}

// accountName is a GetCourse sub-domain label.
var accountName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// WithAccount calls https://NAME.getcourse.ru. Accounts on their own domain use WithBaseURL.
func WithAccount(name string) Option {
	return func(c *Client) error {
		n := strings.ToLower(strings.TrimSpace(name))
		if strings.Contains(n, ".") {
			return fmt.Errorf("account %q looks like a domain: give the sub-domain alone (school for school.getcourse.ru) or use --base-url https://%s", name, strings.TrimPrefix(strings.TrimPrefix(n, "https://"), "http://"))
		}
		if !accountName.MatchString(n) {
			return fmt.Errorf("account %q is not a GetCourse account name (letters, digits and '-', as in NAME.getcourse.ru)", name)
		}
		c.base = &url.URL{Scheme: "https", Host: n + ".getcourse.ru"}
		c.account = n
		c.baseSet++
		return nil
	}
}

// WithBaseURL calls the account at a whole root URL, which may carry a path prefix
// ("https://school.example.com", "http://127.0.0.1:8080/acct"); "/pl/api/..." is appended.
// Plain http is refused unless the host is loopback (the simulator), because the key travels
// in every request.
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("base URL: %v", err)
		}
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("base URL %q: want https://HOST[/prefix]", raw)
		case u.Host == "" || u.Hostname() == "":
			return fmt.Errorf("base URL %q has no host", raw)
		case u.User != nil:
			return errors.New("base URL must not carry credentials: the key comes from GETCOURSE_API_KEY, .env or --key-file")
		case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			return fmt.Errorf("base URL %s://%s%s: no query or fragment, only the account's root", u.Scheme, u.Host, u.Path)
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			return fmt.Errorf("base URL %q: plain http is only allowed for a loopback host (the simulator); GetCourse needs https", raw)
		}
		u.Host = strings.ToLower(u.Host)
		u.Path = strings.TrimRight(u.Path, "/")
		// People paste the API root they saw in examples; it is the same account.
		u.Path = strings.TrimSuffix(u.Path, "/pl/api")
		u.RawPath = ""
		c.base = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		c.account = u.Host + u.Path
		c.baseSet++
		return nil
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithKey sets the account's secret API key (required). It is sent in request bodies (import)
// or query strings (export) and nowhere else: no error, log or panic text carries it.
func WithKey(key string) Option {
	return func(c *Client) error {
		k := strings.TrimSpace(key)
		if k == "" {
			return errors.New("the API key is empty")
		}
		for _, r := range k {
			if r <= ' ' || r == 0x7f {
				return errors.New("the API key holds spaces or control characters; check the key file")
			}
		}
		c.key = k
		return nil
	}
}

// WithHTTPClient sends requests through hc (proxies, custom TLS roots, tests). The client is
// copied so that redirects can be refused without changing the caller's value.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("nil HTTP client")
		}
		cp := *hc
		c.hc = &cp
		return nil
	}
}

// WithTimeout bounds one attempt (default DefaultTimeout). For an export stream it is the
// longest silence allowed between two reads.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("timeout must be positive, not %v", d)
		}
		c.timeout = d
		return nil
	}
}

// WithLimiter sets the one rate limiter every attempt waits on, retries and polls included
// (default: DefaultRate per second, burst 1). The importer shares it with the client and
// slows it down on rate-limited answers.
func WithLimiter(l *rate.Limiter) Option {
	return func(c *Client) error {
		if l == nil {
			return errors.New("nil rate limiter")
		}
		c.limiter = l
		return nil
	}
}

// WithRetry sets the retry policy; zero fields keep their defaults.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) error {
		if p.InitialInterval < 0 || p.MaxInterval < 0 || p.MaxElapsed < 0 {
			return errors.New("retry intervals must not be negative")
		}
		c.retry = p
		return nil
	}
}

// WithExportBudget makes every export-API request ask b first. Nil means no budget.
func WithExportBudget(b ExportBudget) Option {
	return func(c *Client) error {
		c.budget = b
		return nil
	}
}

// WithNotify calls f on every failed attempt that will be retried and on every rate-limited
// answer. f runs on the calling goroutine and must be quick and safe for concurrent use.
func WithNotify(f func(Event)) Option {
	return func(c *Client) error {
		c.notify = f
		return nil
	}
}

// NewClient builds a Client. Exactly one of WithAccount or WithBaseURL, and WithKey, are required.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{timeout: DefaultTimeout}
	var first error
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		// Redacted only now: the key option may come after the one that failed.
		return nil, fmt.Errorf("getcourse: %s", Redact(first.Error(), c.key))
	}
	switch {
	case c.baseSet == 0:
		return nil, errors.New("getcourse: no account: give an account name or a base URL")
	case c.baseSet > 1:
		return nil, errors.New("getcourse: give either an account name or a base URL, not both")
	case c.key == "":
		return nil, errors.New("getcourse: no API key")
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
		// Our own client has no cookie jar, no overall timeout and follows no redirect, so
		// http.Client would add nothing but its bookkeeping (a few allocations per request,
		// on the import path one per row): requests go straight to its transport. A caller's
		// client (WithHTTPClient) is always used as such.
		c.rt = c.hc.Transport
	}
	c.hc.CheckRedirect = refuseRedirect
	if c.limiter == nil {
		c.limiter = rate.NewLimiter(DefaultRate, 1)
	}
	c.retry = c.retry.withDefaults()
	c.postURLs = map[string]*url.URL{}
	for _, p := range []string{CallUsersAdd.Path, CallDealsAdd.Path, CallMessagesSend.Path, accountFieldsPath} {
		c.postURLs[p] = c.callURL(p)
	}
	return c, nil
}

// defaultHTTPClient has no overall Timeout (it would cut long export downloads); each attempt is
// bounded by the client's own watchdog instead. Idle connections per host are raised so that a
// worker pool reuses its connections instead of opening new ones.
func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 128
	t.MaxIdleConnsPerHost = 64
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 0 // the attempt watchdog covers it
	return &http.Client{Transport: t}
}

// refuseRedirect stops at the first redirect: a redirected POST loses its body (the service then
// says «Пустой параметр action»), and a followed GET would carry the key to another host.
// The 3xx answer is classified into an error that names the domain to use.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Account returns a stable identifier of the account for state files and reports: the account
// name, or the base URL's host[:port][/path]. It never holds the key.
func (c *Client) Account() string { return c.account }

// BaseURL returns the account's root URL as the client calls it (no key).
func (c *Client) BaseURL() string { return c.base.String() }

// Format prints a Client as the account it calls, with every verb: fmt's default would print
// the struct's fields, the key among them, into whatever log line, wrapped error or panic
// value a Client ends up in.
func (c Client) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "getcourse.Client(%s)", c.account)
}
