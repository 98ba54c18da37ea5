package importer

import (
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/gcbatch/gcbatch/getcourse"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want rate.Limit
		bad  bool
	}{
		{in: "5/s", want: 5},
		{in: "5", want: 5},
		{in: " 2.5/s ", want: 2.5},
		{in: "120/m", want: 2},
		{in: "360/h", want: 0.1},
		{in: "1/min", want: 1.0 / 60},
		{in: "0/s", bad: true},
		{in: "-1/s", bad: true},
		{in: "fast", bad: true},
		{in: "5/d", bad: true},
		{in: "", bad: true},
		{in: "NaN/s", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseRate(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got < tt.want*0.999999 || got > tt.want*1.000001 {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if back, err := ParseRate(FormatRate(got)); err != nil || back < got*0.99 || back > got*1.01 {
				t.Fatalf("FormatRate round trip: %q → %v", FormatRate(got), back)
			}
		})
	}
}

// fakeLimiter returns an AdaptiveLimiter on a clock the test moves.
func fakeLimiter(max rate.Limit) (*AdaptiveLimiter, *time.Time) {
	a := NewAdaptiveLimiter(max)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	return a, &now
}

var limited = getcourse.Event{Err: &getcourse.APIError{Kind: getcourse.KindRateLimited}, Attempt: 1, Wait: time.Second}

func TestAdaptiveLimiterSteps(t *testing.T) {
	a, now := fakeLimiter(20)
	if a.Limiter().Limit() != 20 || a.Limiter().Burst() != 1 {
		t.Fatalf("starts at %v burst %d", a.Limiter().Limit(), a.Limiter().Burst())
	}
	a.Notify(limited)
	if got := a.State().Current; got != 10 {
		t.Fatalf("after a rate-limited answer: %v, want 10 (halved)", got)
	}
	// Answers to requests sent at the old rate keep coming for a moment: ignored.
	*now = now.Add(100 * time.Millisecond)
	a.Notify(limited)
	if got := a.State().Current; got != 10 {
		t.Fatalf("within the hold-off: %v, want 10", got)
	}
	if st := a.State(); st.Limited != 2 || st.BackingOff <= 0 {
		t.Fatalf("state %+v", st)
	}
	// Other failures do not slow the limiter, only show a retry wait.
	a.Notify(getcourse.Event{Err: &getcourse.APIError{Kind: getcourse.KindServer}, Attempt: 1, Wait: time.Second})
	if got := a.State().Current; got != 10 {
		t.Fatalf("a server error changed the rate to %v", got)
	}
	// No step before a quiet spell.
	a.step()
	if got := a.State().Current; got != 10 {
		t.Fatalf("stepped up too soon: %v", got)
	}
	// Quiet: 10% of --rate per step up to 95% of the ceiling (19), then 2% of --rate.
	var seen []rate.Limit
	for range 12 {
		*now = now.Add(1100 * time.Millisecond)
		a.step()
		seen = append(seen, a.State().Current)
	}
	want := []rate.Limit{12, 14, 16, 18, 19, 19.4, 19.8, 20, 20, 20, 20, 20}
	for i := range want {
		if d := seen[i] - want[i]; d > 0.001 || d < -0.001 {
			t.Fatalf("recovery %v, want %v", seen, want)
		}
	}
	if a.Limiter().Limit() != 20 {
		t.Fatalf("the shared limiter is at %v", a.Limiter().Limit())
	}
}

func TestAdaptiveLimiterFloor(t *testing.T) {
	a, now := fakeLimiter(64)
	for range 40 {
		*now = now.Add(5 * time.Second)
		a.Notify(limited)
	}
	if got := a.State().Current; got != 1 {
		t.Fatalf("after many rate-limited answers: %v, want the floor 1 (--rate/64)", got)
	}
}

// TestAdaptiveLimiterConverges runs the limiter against a model service that limits at L:
// each second the rate is above L, the excess requests are answered "too many". A --rate of
// 2L must settle near L: few rate-limited answers, and little throughput lost below L.
func TestAdaptiveLimiterConverges(t *testing.T) {
	for _, l := range []rate.Limit{5, 20, 100} {
		a, now := fakeLimiter(2 * l)
		var accepted, refused, sent float64
		const seconds, settle = 300, 30
		for s := range seconds {
			for range 4 { // the recovery loop looks four times a tick
				*now = now.Add(250 * time.Millisecond)
				a.step()
			}
			cur := float64(a.State().Current)
			if cur > float64(l)*1.001 {
				a.Notify(limited)
			}
			if s >= settle {
				sent += cur
				accepted += min(cur, float64(l))
				refused += max(0, cur-float64(l))
			}
		}
		got := accepted / (seconds - settle) / float64(l)
		if got < 0.9 || refused/sent > 0.05 {
			t.Errorf("L=%v: settled at %.1f%% of L with %.1f%% rate-limited", l, 100*got, 100*refused/sent)
		}
	}
}
