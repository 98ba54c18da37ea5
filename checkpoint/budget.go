package checkpoint

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gcbatch/gcbatch/getcourse"
)

// Budget defaults: GetCourse allows 100 export-API calls per 2 hours per account, polls
// included, and every integration of the account draws from the same allowance.
const (
	DefaultBudgetLimit   = 100
	DefaultBudgetWindow  = 2 * time.Hour
	DefaultBudgetReserve = 5
)

// BudgetConfig describes an account's export budget. Zero fields take the defaults above.
type BudgetConfig struct {
	// Limit is the number of calls allowed per Window (default 100).
	Limit int
	// Window is the rolling window (default 2h).
	Window time.Duration
	// Reserve is how many of the Limit calls only collecting an export already started may use
	// (default 5; negative means none), so that a started export never becomes uncollectable
	// because new starts ate the whole window. It is capped at Limit-1.
	Reserve int
	// Wait makes Spend wait for the window to free up instead of refusing (--wait-for-budget).
	Wait bool
	// OnWait, when set, is told each time Spend starts waiting and until when.
	OnWait func(until time.Time)
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
}

func (c BudgetConfig) withDefaults() BudgetConfig {
	if c.Limit <= 0 {
		c.Limit = DefaultBudgetLimit
	}
	if c.Window <= 0 {
		c.Window = DefaultBudgetWindow
	}
	switch {
	case c.Reserve == 0:
		c.Reserve = DefaultBudgetReserve
	case c.Reserve < 0:
		c.Reserve = 0
	}
	if c.Reserve > c.Limit-1 {
		c.Reserve = c.Limit - 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ParseBudget reads a budget such as "100/2h" (calls per Go duration; "100/h" means one hour).
func ParseBudget(s string) (limit int, window time.Duration, err error) {
	n, w, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("budget %q: want CALLS/WINDOW, e.g. 100/2h", s)
	}
	limit, err = strconv.Atoi(strings.TrimSpace(n))
	if err != nil || limit <= 0 {
		return 0, 0, fmt.Errorf("budget %q: the number of calls must be a positive whole number", s)
	}
	w = strings.TrimSpace(w)
	if w != "" && (w[0] < '0' || w[0] > '9') {
		w = "1" + w // "100/h"
	}
	window, err = time.ParseDuration(w)
	if err != nil || window <= 0 {
		return 0, 0, fmt.Errorf("budget %q: the window must be a duration such as 2h or 90m", s)
	}
	return limit, window, nil
}

// BudgetSpent is the detail of a refusal: the window holds Used calls and the next call of this
// kind is possible at Until. It travels inside a *getcourse.APIError of Kind KindBudget, so the
// usual exit-code switch applies and errors.As can still read the time.
type BudgetSpent struct {
	Account string
	Used    int
	Limit   int
	Window  time.Duration
	// Reserved is set when only the collect reserve is left (a new export may not start).
	Reserved bool
	// Service is set when the service itself answered 903 and Until is our estimate.
	Service bool
	Until   time.Time
}

func (e *BudgetSpent) Error() string {
	what := fmt.Sprintf("the export budget of %s is spent (%d of %d calls in %s)", e.Account, e.Used, e.Limit, fmtWindow(e.Window))
	if e.Reserved {
		what = fmt.Sprintf("the export budget of %s is down to the reserve kept for collecting started exports (%d of %d calls in %s)", e.Account, e.Used, e.Limit, fmtWindow(e.Window))
	}
	if e.Service {
		what = fmt.Sprintf("GetCourse answered 903: the export budget of %s is spent (it is shared by every integration of the account)", e.Account)
	}
	return fmt.Sprintf("%s; it frees up at %s; rerun then, or pass --wait-for-budget", what, e.Until.Local().Format("2006-01-02 15:04:05"))
}

func fmtWindow(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// Budget records every export-API call of one account in the state file and refuses (or waits)
// when the rolling window is spent. It implements getcourse.ExportBudget. Each Spend is one small
// bbolt Update: export calls are rare (at most a few per minute), so durability wins over speed,
// and the record survives crashes and is seen by the next process.
type Budget struct {
	s       *Store
	account string
	cfg     BudgetConfig

	mu   sync.Mutex
	used int // calls this Budget value let through (this run)
}

var _ getcourse.ExportBudget = (*Budget)(nil)

// Budget returns the budget of account (the client's Account()) kept in this state file.
func (s *Store) Budget(account string, cfg BudgetConfig) *Budget {
	return &Budget{s: s, account: account, cfg: cfg.withDefaults()}
}

// Account returns the account this budget belongs to.
func (b *Budget) Account() string { return b.account }

// Config returns the effective configuration (defaults applied).
func (b *Budget) Config() BudgetConfig { return b.cfg }

// Used returns how many calls this Budget value has let through.
func (b *Budget) Used() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Key layout under bucketBudget: one nested bucket per account holding
//
//	"calls"   → nested bucket, key = 8-byte big-endian Unix nanoseconds (bumped by 1ns on a tie),
//	            value = "METHOD /path" (for people inspecting the file)
//	"blocked" → 8-byte big-endian Unix nanoseconds until which the service said 903
var (
	keyCalls   = []byte("calls")
	keyBlocked = []byte("blocked")
)

func nanoKey(t time.Time) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return k
}

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k)))
}

// Spend records one call if the window allows it. A refusal is a *getcourse.APIError of Kind
// KindBudget wrapping a *BudgetSpent; with Wait set it waits (on ctx) for the window instead.
func (b *Budget) Spend(ctx context.Context, call getcourse.BudgetCall) error {
	for {
		spent, err := b.trySpend(call)
		if err != nil {
			return err
		}
		if spent == nil {
			b.mu.Lock()
			b.used++
			b.mu.Unlock()
			return nil
		}
		if !b.cfg.Wait {
			return &getcourse.APIError{Kind: getcourse.KindBudget, Method: call.Method, Path: call.Path,
				Message: spent.Error(), Err: spent}
		}
		if b.cfg.OnWait != nil {
			b.cfg.OnWait(spent.Until)
		}
		// A little past the moment, so that the oldest call has surely left the window.
		d := spent.Until.Sub(b.cfg.Now()) + 100*time.Millisecond
		if d < 100*time.Millisecond {
			d = 100 * time.Millisecond
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// trySpend returns nil, nil when the call was recorded, or the refusal's detail.
func (b *Budget) trySpend(call getcourse.BudgetCall) (*BudgetSpent, error) {
	var spent *BudgetSpent
	err := b.s.db.Update(func(tx *bolt.Tx) error {
		acct, err := tx.Bucket(bucketBudget).CreateBucketIfNotExists([]byte(b.account))
		if err != nil {
			return err
		}
		calls, err := acct.CreateBucketIfNotExists(keyCalls)
		if err != nil {
			return err
		}
		now := b.cfg.Now()
		if v := acct.Get(keyBlocked); len(v) == 8 {
			if until := keyTime(v); now.Before(until) {
				spent = &BudgetSpent{Account: b.account, Used: b.cfg.Limit, Limit: b.cfg.Limit, Window: b.cfg.Window, Service: true, Until: until}
				return nil
			}
			if err := acct.Delete(keyBlocked); err != nil {
				return err
			}
		}
		times, err := pruneCalls(calls, now, b.cfg.Window)
		if err != nil {
			return err
		}
		allowed := b.cfg.Limit
		if !call.Collect {
			allowed -= b.cfg.Reserve
		}
		if len(times) >= allowed {
			// The call becomes possible once len-allowed+1 of the oldest calls have left.
			spent = &BudgetSpent{Account: b.account, Used: len(times), Limit: b.cfg.Limit, Window: b.cfg.Window,
				Reserved: len(times) < b.cfg.Limit, Until: times[len(times)-allowed].Add(b.cfg.Window)}
			return nil
		}
		k := nanoKey(now)
		for calls.Get(k) != nil {
			binary.BigEndian.PutUint64(k, binary.BigEndian.Uint64(k)+1)
		}
		return calls.Put(k, []byte(call.Method+" "+call.Path))
	})
	if err != nil {
		return nil, fmt.Errorf("export budget: cannot update the state file: %w", err)
	}
	return spent, nil
}

// pruneCalls deletes the calls that left the window and returns the times of the rest, oldest first.
func pruneCalls(calls *bolt.Bucket, now time.Time, window time.Duration) ([]time.Time, error) {
	cutoff := now.Add(-window)
	var old [][]byte
	var times []time.Time
	c := calls.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != 8 {
			continue
		}
		t := keyTime(k)
		if !t.After(cutoff) {
			old = append(old, append([]byte(nil), k...))
			continue
		}
		times = append(times, t)
	}
	for _, k := range old {
		if err := calls.Delete(k); err != nil {
			return nil, err
		}
	}
	return times, nil
}

// MarkSpent records that the service answered 903: the whole budget counts as spent for one
// window from now (the service does not say when it clears, and other integrations of the
// account may be the ones spending it).
func (b *Budget) MarkSpent() error {
	until := b.cfg.Now().Add(b.cfg.Window)
	err := b.s.db.Update(func(tx *bolt.Tx) error {
		acct, err := tx.Bucket(bucketBudget).CreateBucketIfNotExists([]byte(b.account))
		if err != nil {
			return err
		}
		return acct.Put(keyBlocked, nanoKey(until))
	})
	if err != nil {
		return fmt.Errorf("export budget: cannot update the state file: %w", err)
	}
	return nil
}

// Remaining returns how many calls the window has left for this account (the collect reserve
// included) and, when fewer than Limit are left, when the oldest recorded call leaves the window
// (zero time otherwise). It only reads the file.
func (b *Budget) Remaining() (int, time.Time) {
	left, at, _ := b.s.BudgetRemaining(b.account, b.cfg)
	return left, at
}

// BudgetRemaining is Remaining for any account of the file, for summaries and status commands.
func (s *Store) BudgetRemaining(account string, cfg BudgetConfig) (left int, freesAt time.Time, err error) {
	cfg = cfg.withDefaults()
	now := cfg.Now()
	cutoff := now.Add(-cfg.Window)
	left = cfg.Limit
	err = s.db.View(func(tx *bolt.Tx) error {
		acct := tx.Bucket(bucketBudget).Bucket([]byte(account))
		if acct == nil {
			return nil
		}
		if v := acct.Get(keyBlocked); len(v) == 8 {
			if until := keyTime(v); now.Before(until) {
				left, freesAt = 0, until
				return nil
			}
		}
		calls := acct.Bucket(keyCalls)
		if calls == nil {
			return nil
		}
		c := calls.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 8 {
				continue
			}
			if t := keyTime(k); t.After(cutoff) {
				if freesAt.IsZero() {
					freesAt = t.Add(cfg.Window)
				}
				left--
			}
		}
		return nil
	})
	if left < 0 {
		left = 0
	}
	return left, freesAt, err
}

// BudgetCalls returns the times of the calls recorded for account within the last window,
// oldest first (tests compare them with what the service saw).
func (s *Store) BudgetCalls(account string, window time.Duration, now time.Time) ([]time.Time, error) {
	if window <= 0 {
		window = DefaultBudgetWindow
	}
	cutoff := now.Add(-window)
	var out []time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		acct := tx.Bucket(bucketBudget).Bucket([]byte(account))
		if acct == nil {
			return nil
		}
		calls := acct.Bucket(keyCalls)
		if calls == nil {
			return nil
		}
		return calls.ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				if t := keyTime(k); t.After(cutoff) {
					out = append(out, t)
				}
			}
			return nil
		})
	})
	return out, err
}

// IsBudgetSpent reports whether err is a budget refusal, by us or by the service (903), and
// when the budget is expected to free up (zero when unknown).
func IsBudgetSpent(err error) (bool, time.Time) {
	var bs *BudgetSpent
	if errors.As(err, &bs) {
		return true, bs.Until
	}
	return getcourse.KindOf(err) == getcourse.KindBudget, time.Time{}
}
