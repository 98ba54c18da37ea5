package checkpoint

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/getcourse"
)

// fakeClock is a settable clock for budget windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

var (
	startCall = getcourse.BudgetCall{Method: "GET", Path: "/pl/api/account/users"}
	pollCall  = getcourse.BudgetCall{Method: "GET", Path: "/pl/api/account/exports/1", Collect: true}
)

func TestBudgetReserveAndWindow(t *testing.T) {
	s, _ := openTemp(t)
	clk := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	b := s.Budget("school", BudgetConfig{Limit: 5, Window: time.Hour, Reserve: 2, Now: clk.Now})
	ctx := t.Context()
	first := clk.Now()
	for i := range 3 {
		if err := b.Spend(ctx, startCall); err != nil {
			t.Fatalf("start call %d: %v", i, err)
		}
		clk.Add(time.Minute)
	}
	// Three of five used: the remaining two are the reserve, closed to new starts.
	err := b.Spend(ctx, startCall)
	var bs *BudgetSpent
	if !errors.As(err, &bs) || getcourse.KindOf(err) != getcourse.KindBudget {
		t.Fatalf("want a budget refusal, got %v", err)
	}
	if !bs.Reserved || !bs.Until.Equal(first.Add(time.Hour)) {
		t.Errorf("refusal = %+v, want reserved until %v", bs, first.Add(time.Hour))
	}
	// Collecting may use the reserve.
	for i := range 2 {
		if err := b.Spend(ctx, pollCall); err != nil {
			t.Fatalf("collect call %d: %v", i, err)
		}
	}
	err = b.Spend(ctx, pollCall)
	if !errors.As(err, &bs) || bs.Reserved || bs.Used != 5 {
		t.Fatalf("want a full refusal, got %v", err)
	}
	if left, at := b.Remaining(); left != 0 || !at.Equal(first.Add(time.Hour)) {
		t.Errorf("Remaining = %d, %v", left, at)
	}
	if b.Used() != 5 {
		t.Errorf("Used = %d, want 5", b.Used())
	}
	// The oldest call leaves the window: one collect call is possible again.
	clk.Add(time.Hour - 3*time.Minute + time.Second)
	if err := b.Spend(ctx, pollCall); err != nil {
		t.Fatalf("after the window moved: %v", err)
	}
	calls, err := s.BudgetCalls("school", time.Hour, clk.Now())
	if err != nil || len(calls) != 5 {
		t.Fatalf("BudgetCalls = %d, %v; want 5", len(calls), err)
	}
	// Another account is untouched.
	if left, _, _ := s.BudgetRemaining("other", BudgetConfig{Limit: 5}); left != 5 {
		t.Errorf("other account left = %d", left)
	}
}

func TestBudgetSurvivesReopen(t *testing.T) {
	s, p := openTemp(t)
	clk := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	cfg := BudgetConfig{Limit: 3, Window: 2 * time.Hour, Reserve: -1, Now: clk.Now}
	for range 3 {
		if err := s.Budget("a", cfg).Spend(t.Context(), startCall); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s2, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.Budget("a", cfg).Spend(t.Context(), startCall)
	if ok, until := IsBudgetSpent(err); !ok || !until.Equal(clk.Now().Add(2*time.Hour)) {
		t.Fatalf("after reopen: %v (until %v)", err, until)
	}
}

func TestBudgetMarkSpent(t *testing.T) {
	s, _ := openTemp(t)
	clk := &fakeClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	b := s.Budget("a", BudgetConfig{Now: clk.Now})
	if err := b.MarkSpent(); err != nil {
		t.Fatal(err)
	}
	err := b.Spend(t.Context(), pollCall)
	var bs *BudgetSpent
	if !errors.As(err, &bs) || !bs.Service || !bs.Until.Equal(clk.Now().Add(DefaultBudgetWindow)) {
		t.Fatalf("after 903: %v", err)
	}
	if left, _ := b.Remaining(); left != 0 {
		t.Errorf("left = %d, want 0", left)
	}
	clk.Add(DefaultBudgetWindow)
	if err := b.Spend(t.Context(), pollCall); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if left, _ := b.Remaining(); left != DefaultBudgetLimit-1 {
		t.Errorf("left = %d", left)
	}
}

func TestBudgetWait(t *testing.T) {
	s, _ := openTemp(t)
	var waits []time.Time
	var mu sync.Mutex
	b := s.Budget("a", BudgetConfig{Limit: 1, Window: 150 * time.Millisecond, Wait: true,
		OnWait: func(u time.Time) { mu.Lock(); waits = append(waits, u); mu.Unlock() }})
	if err := b.Spend(t.Context(), startCall); err != nil {
		t.Fatal(err)
	}
	if err := b.Spend(t.Context(), startCall); err != nil {
		t.Fatalf("waiting spend: %v", err)
	}
	mu.Lock()
	n := len(waits)
	mu.Unlock()
	if n == 0 {
		t.Error("OnWait was not called")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.Budget("a", BudgetConfig{Limit: 1, Window: time.Hour, Wait: true}).Spend(ctx, startCall); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestParseBudget(t *testing.T) {
	for _, tc := range []struct {
		in     string
		limit  int
		window time.Duration
		ok     bool
	}{
		{"100/2h", 100, 2 * time.Hour, true},
		{"50/h", 50, time.Hour, true},
		{" 10 / 90m ", 10, 90 * time.Minute, true},
		{"100", 0, 0, false},
		{"0/2h", 0, 0, false},
		{"x/2h", 0, 0, false},
		{"100/soon", 0, 0, false},
		{"100/-1h", 0, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l, w, err := ParseBudget(tc.in)
			if (err == nil) != tc.ok || l != tc.limit || w != tc.window {
				t.Errorf("ParseBudget(%q) = %d, %v, %v", tc.in, l, w, err)
			}
		})
	}
}
