package importer

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/gcbatch/gcbatch/getcourse"
)

// DefaultRate is the request rate an import keeps when --rate is not given: 5 requests per
// second, the pace public GetCourse clients throttle themselves to (getcourse-api.md, "Import
// limits"). The service documents no per-second limit, so the adaptive limiter below is what
// finds the real one when this guess is too high.
const DefaultRate rate.Limit = 5

// ParseRate reads a --rate value: "N/s", "N/m" or "N/h" (N may be fractional), or a bare
// number meaning per second. It returns the rate in requests per second.
func ParseRate(s string) (rate.Limit, error) {
	s = strings.TrimSpace(s)
	num, unit, found := strings.Cut(s, "/")
	if !found {
		unit = "s"
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("rate %q: want a positive number of requests per unit, like 5/s, 120/m or 400/h", s)
	}
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "s", "sec", "second":
		return rate.Limit(n), nil
	case "m", "min", "minute":
		return rate.Limit(n / 60), nil
	case "h", "hour":
		return rate.Limit(n / 3600), nil
	}
	return 0, fmt.Errorf("rate %q: the unit must be s, m or h (5/s, 120/m, 400/h)", s)
}

// FormatRate prints a rate the way --rate takes it, in the unit that reads best.
func FormatRate(r rate.Limit) string {
	f := float64(r)
	switch {
	case f >= 1:
		return trimFloat(f) + "/s"
	case f*60 >= 1:
		return trimFloat(f*60) + "/m"
	default:
		return trimFloat(f*3600) + "/h"
	}
}

func trimFloat(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// AdaptiveLimiter is the one rate.Limiter an import's client waits on before every attempt,
// plus the control loop that moves its limit: down when the service answers "too many
// requests", back up while it does not. See the package documentation, "Rate limiting".
//
// It is safe for concurrent use. Start must be called to run the recovery loop; the loop ends
// when Start's context is done.
type AdaptiveLimiter struct {
	lim   *rate.Limiter
	max   rate.Limit // what --rate asked for; never exceeded
	floor rate.Limit // never slowed below this

	// Tuning; set by NewAdaptiveLimiter, overridable by tests in this package.
	tick     time.Duration // how often the recovery loop looks
	holdoff  time.Duration // limited answers this soon after a slow-down belong to the old rate
	probeMin time.Duration // how long the rate must stay quiet before each step up

	mu          sync.Mutex
	cur         rate.Limit
	ceiling     rate.Limit // the rate at which the service last said "too many"; 0 = unknown
	lastLimited time.Time
	lastChange  time.Time // any move of the limit
	lastSlow    time.Time // the last slow-down
	backoff     time.Time // until when the last retry wait lasts (progress note)
	limited     int       // rate-limited answers seen
	retried     int       // failed attempts that were retried
	now         func() time.Time
}

// NewAdaptiveLimiter returns a limiter that starts at maxRate requests per second, with burst 1
// so that requests leave evenly spaced (the service counts requests, a burst would be limited).
func NewAdaptiveLimiter(maxRate rate.Limit) *AdaptiveLimiter {
	if maxRate <= 0 {
		maxRate = DefaultRate
	}
	a := &AdaptiveLimiter{
		lim:   rate.NewLimiter(maxRate, 1),
		max:   maxRate,
		floor: maxRate / 64,
		cur:   maxRate,
		now:   time.Now,
	}
	// The loop must see several requests per step to judge a rate, so slow rates step slowly.
	perReq := time.Duration(float64(time.Second) / float64(maxRate))
	a.tick = max(time.Second, 4*perReq)
	a.probeMin = a.tick
	a.holdoff = max(time.Second, 2*perReq)
	return a
}

// Limiter returns the shared rate.Limiter to give the client (getcourse.WithLimiter).
func (a *AdaptiveLimiter) Limiter() *rate.Limiter { return a.lim }

// Max returns the rate the import was asked to keep.
func (a *AdaptiveLimiter) Max() rate.Limit { return a.max }

// Notify is the client's event hook (getcourse.WithNotify): a rate-limited answer slows the
// limiter down; every event records the backoff wait for the progress bar.
func (a *AdaptiveLimiter) Notify(ev getcourse.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if ev.Wait > 0 {
		a.retried++
		if until := now.Add(ev.Wait); until.After(a.backoff) {
			a.backoff = until
		}
	}
	if ev.Err == nil || ev.Err.Kind != getcourse.KindRateLimited {
		return
	}
	a.limited++
	a.lastLimited = now
	// Answers to requests that left before the last slow-down say nothing about the new rate.
	if !a.lastSlow.IsZero() && now.Sub(a.lastSlow) < a.holdoff {
		return
	}
	prev := a.ceiling
	a.ceiling = a.cur
	// Far from the last known limit (or none known yet): halve, to converge quickly. Close to
	// a ceiling measured before, this is a probe that went a little too far: step back only a
	// little, so that a rate near the service's limit is not halved over and over.
	next := a.cur / 2
	if prev > 0 && a.cur <= prev*1.1 {
		next = a.cur * 0.8
	}
	a.lastSlow = now
	a.setLocked(max(next, a.floor), now)
}

func (a *AdaptiveLimiter) setLocked(r rate.Limit, now time.Time) {
	a.cur = r
	a.lastChange = now
	a.lim.SetLimitAt(now, r)
}

// step is one look of the recovery loop: after a quiet spell, raise the rate — quickly while
// well below the last ceiling, by small probes near or above it — never above max.
func (a *AdaptiveLimiter) step() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.cur >= a.max {
		return
	}
	if now.Sub(a.lastLimited) < a.probeMin || now.Sub(a.lastChange) < a.probeMin {
		return
	}
	inc := a.max / 10
	if a.ceiling > 0 && a.cur+inc > a.ceiling*0.95 {
		// Near the rate that was too much: creep, so that a too-high guess costs only a few
		// rate-limited answers and the rate settles just under the service's limit.
		inc = a.max / 50
		if a.cur < a.ceiling*0.95 {
			inc = max(inc, a.ceiling*0.95-a.cur)
		}
	}
	a.setLocked(min(a.cur+inc, a.max), now)
}

// Start runs the recovery loop until ctx is done. It returns at once; the loop's goroutine is
// owned by ctx.
func (a *AdaptiveLimiter) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(a.tick / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.step()
			}
		}
	}()
}

// LimiterState is a snapshot for the progress bar and the summary.
type LimiterState struct {
	Current, Max rate.Limit
	Limited      int           // rate-limited answers so far
	Retried      int           // retried attempts so far
	BackingOff   time.Duration // how long the current retry wait still lasts; 0 when none
}

// State returns a snapshot.
func (a *AdaptiveLimiter) State() LimiterState {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := LimiterState{Current: a.cur, Max: a.max, Limited: a.limited, Retried: a.retried}
	if d := a.backoff.Sub(a.now()); d > 0 {
		s.BackingOff = d
	}
	return s
}
