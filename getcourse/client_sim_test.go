package getcourse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// The key has characters that need escaping in a query string and a form body.
const simKey = "sim/key+with=odd&chars"

// clock is a settable clock for the simulator's export readiness and budget window.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startSim serves a simulator under /acct, so that a client losing the base path fails.
func startSim(t *testing.T, cfg gcsim.Config) (*gcsim.Sim, string) {
	t.Helper()
	if cfg.Key == "" {
		cfg.Key = simKey
	}
	sim := gcsim.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/acct/", http.StripPrefix("/acct", sim))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return sim, srv.URL + "/acct"
}

func simClient(t *testing.T, base string, opts ...getcourse.Option) *getcourse.Client {
	t.Helper()
	all := append([]getcourse.Option{
		getcourse.WithBaseURL(base),
		getcourse.WithKey(simKey),
		getcourse.WithLimiter(rate.NewLimiter(rate.Inf, 1)),
		getcourse.WithRetry(getcourse.RetryPolicy{MaxRetries: 8, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: 20 * time.Second}),
	}, opts...)
	c, err := getcourse.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func assertNoSimKey(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, form := range []string{simKey, url.QueryEscape(simKey), url.PathEscape(simKey)} {
			if strings.Contains(text, form) {
				t.Errorf("error text holds the key: %q", text)
			}
		}
	}
}

func user(email string) getcourse.Params {
	return getcourse.Params{User: &getcourse.UserParams{Email: email, FirstName: "Иван"},
		System: &getcourse.SystemParams{RefreshIfExists: 1}}
}

func TestSimEveryCall(t *testing.T) {
	t.Parallel()
	for _, shape := range []string{"real", "seed"} {
		t.Run(shape, func(t *testing.T) {
			t.Parallel()
			sim, base := startSim(t, gcsim.Config{Shape: shape, SeedUsers: 40, SeedDeals: 30, ExportDelay: -1})
			c := simClient(t, base)
			ctx := t.Context()

			u, err := getcourse.AddUser(c, ctx, user("ivan@example.com"))
			if err != nil || u.UserID == 0 || u.UserStatus == "" {
				t.Fatalf("AddUser = %+v, %v", u, err)
			}
			again, err := getcourse.AddUser(c, ctx, user("IVAN@example.com"))
			if err != nil || again.UserID != u.UserID {
				t.Errorf("re-adding the same user = %+v, %v; want id %d", again, err, u.UserID)
			}
			g, err := getcourse.UpdateUserGroups(c, ctx, getcourse.Params{User: &getcourse.UserParams{ID: u.UserID,
				GroupName: []getcourse.Group{{Name: "Поток 1"}, {Name: "VIP", JoinedAt: "2024-03-01 10:00"}}}})
			if err != nil || g.UserID != u.UserID {
				t.Errorf("UpdateUserGroups = %+v, %v", g, err)
			}
			d, err := getcourse.AddDeal(c, ctx, getcourse.Params{User: &getcourse.UserParams{Email: "ivan@example.com"},
				Deal: &getcourse.DealParams{DealNumber: "ORD-1", OfferCode: "COURSE", DealCost: "9990.00", DealStatus: "new"}})
			if err != nil || d.DealID == 0 || d.UserID != u.UserID {
				t.Errorf("AddDeal = %+v, %v", d, err)
			}
			d2, err := getcourse.AddDeal(c, ctx, getcourse.Params{User: &getcourse.UserParams{Email: "ivan@example.com"},
				Deal: &getcourse.DealParams{DealNumber: "ORD-1", OfferCode: "COURSE", DealCost: "9990.00", DealStatus: "payed"}})
			if err != nil || d2.DealID != d.DealID {
				t.Errorf("AddDeal with the same number = %+v, %v; want deal %d edited", d2, err, d.DealID)
			}
			if _, err := getcourse.SendMessage(c, ctx, getcourse.Params{Message: &getcourse.MessageParams{Email: "ivan@example.com", MailingID: 5,
				Transport: "email", Params: map[string]string{"first_name": "Иван"}}}); err != nil {
				t.Errorf("SendMessage: %v", err)
			}
			fields, err := c.AccountFields(ctx)
			if err != nil || len(fields) == 0 || fields[0].Name == "" || fields[0].ID == 0 {
				t.Errorf("AccountFields = %+v, %v", fields, err)
			}
			groups, err := c.Groups(ctx)
			if err != nil || !slices.ContainsFunc(groups, func(g getcourse.GroupInfo) bool { return g.Name == "VIP" && g.ID != 0 }) {
				t.Errorf("Groups = %+v, %v", groups, err)
			}
			id, err := c.StartExport(ctx, getcourse.ExportRequest{Object: getcourse.ExportUsers,
				Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2000-01-01"}}})
			if err != nil || id == 0 {
				t.Fatalf("StartExport = %d, %v", id, err)
			}
			data, err := c.ExportResult(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(data.Fields, "Email") || len(data.Items) != 41 || len(data.Items[0]) != len(data.Fields) {
				t.Errorf("export: %d fields %v, %d items", len(data.Fields), data.Fields[:3], len(data.Items))
			}
			st := sim.Stats()
			if st.UsersCreated != 1 || st.DealsCreated != 1 || st.DealsUpdated != 1 || st.MessagesSent != 1 || st.GroupsUpdated != 1 {
				t.Errorf("sim stats = %+v", st)
			}
		})
	}
}

func TestSimErrorKinds(t *testing.T) {
	t.Parallel()
	noRetry := getcourse.WithRetry(getcourse.RetryPolicy{MaxRetries: -1})
	usersSince := getcourse.ExportRequest{Object: getcourse.ExportUsers,
		Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2000-01-01"}}}
	cases := []struct {
		name string
		cfg  gcsim.Config
		opts []getcourse.Option
		run  func(ctx context.Context, c *getcourse.Client) error
		kind getcourse.Kind
		code int
	}{
		{"wrong key on import", gcsim.Config{Key: "another-key"}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := getcourse.AddUser(c, ctx, user("a@b.ru"))
				return err
			},
			getcourse.KindAuth, 0},
		{"wrong key on export", gcsim.Config{Key: "another-key"}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := c.StartExport(ctx, usersSince)
				return err
			},
			getcourse.KindAuth, 901},
		{"wrong key, seed shape", gcsim.Config{Key: "another-key", Shape: "seed"}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := getcourse.AddUser(c, ctx, user("a@b.ru"))
				return err
			},
			getcourse.KindAuth, 0},
		{"trial plan on import", gcsim.Config{Plan: "trial"}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := getcourse.AddUser(c, ctx, user("a@b.ru"))
				return err
			},
			getcourse.KindNoImportAPI, 0},
		{"no-api plan on export", gcsim.Config{Plan: "no-api"}, nil,
			func(ctx context.Context, c *getcourse.Client) error { _, err := c.Groups(ctx); return err },
			getcourse.KindPlan, 917},
		{"object refused", gcsim.Config{}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := getcourse.AddUser(c, ctx, getcourse.Params{User: &getcourse.UserParams{FirstName: "x"}})
				return err
			}, getcourse.KindValidation, 0},
		{"deal status refused", gcsim.Config{Shape: "seed"}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := getcourse.AddDeal(c, ctx, getcourse.Params{User: &getcourse.UserParams{Email: "a@b.ru"},
					Deal: &getcourse.DealParams{DealNumber: "1", OfferCode: "X", DealCost: "1.00", DealStatus: "bogus"}})
				return err
			}, getcourse.KindValidation, 0},
		{"monthly allowance", gcsim.Config{Plan: "start", MonthlyAllowance: 1}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				if _, err := getcourse.AddUser(c, ctx, user("first@b.ru")); err != nil {
					return fmt.Errorf("first user: %w", err)
				}
				_, err := getcourse.AddUser(c, ctx, user("second@b.ru"))
				return err
			}, getcourse.KindQuota, 0},
		{"rate limited", gcsim.Config{Rate: 0.001, Burst: 1}, []getcourse.Option{noRetry},
			func(ctx context.Context, c *getcourse.Client) error {
				getcourse.AddUser(c, ctx, user("a@b.ru"))
				_, err := getcourse.AddUser(c, ctx, user("a@b.ru"))
				return err
			}, getcourse.KindRateLimited, 0},
		{"rate limited with 429", gcsim.Config{Rate: 0.001, Burst: 1, RateLimit429: true}, []getcourse.Option{noRetry},
			func(ctx context.Context, c *getcourse.Client) error {
				getcourse.AddUser(c, ctx, user("a@b.ru"))
				_, err := getcourse.AddUser(c, ctx, user("a@b.ru"))
				if getcourse.KindOf(err) == getcourse.KindRateLimited && err.(*getcourse.APIError).RetryAfter != time.Second {
					return fmt.Errorf("RetryAfter lost: %w", err)
				}
				return err
			}, getcourse.KindRateLimited, 0},
		{"export budget spent", gcsim.Config{ExportBudget: 1}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				if _, err := c.Groups(ctx); err != nil {
					return err
				}
				_, err := c.Groups(ctx)
				return err
			}, getcourse.KindBudget, 903},
		{"another export running", gcsim.Config{ExportDelay: time.Hour}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				if _, err := c.StartExport(ctx, usersSince); err != nil {
					return err
				}
				_, err := c.StartExport(ctx, usersSince)
				return err
			}, getcourse.KindBusy, 905},
		{"export not ready", gcsim.Config{ExportDelay: time.Hour}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				id, err := c.StartExport(ctx, usersSince)
				if err != nil {
					return err
				}
				_, err = c.OpenExport(ctx, id)
				return err
			}, getcourse.KindNotReady, 909},
		{"export failed", gcsim.Config{ExportDelay: -1}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				id, err := c.StartExport(ctx, getcourse.ExportRequest{Object: getcourse.ExportDeals,
					Filters: []getcourse.Filter{{Name: gcsim.SimFailFilter, Value: "1"}}})
				if err != nil {
					return err
				}
				_, err = c.ExportResult(ctx, id)
				return err
			}, getcourse.KindExportFailed, 910},
		{"bad user status filter", gcsim.Config{}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := c.StartExport(ctx, getcourse.ExportRequest{Object: getcourse.ExportUsers,
					Filters: []getcourse.Filter{{Name: "status", Value: "bogus"}}})
				return err
			}, getcourse.KindBadFilter, 914},
		{"bad deal status filter", gcsim.Config{}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := c.StartExport(ctx, getcourse.ExportRequest{Object: getcourse.ExportDeals,
					Filters: []getcourse.Filter{{Name: "status", Value: "bogus"}}})
				return err
			}, getcourse.KindBadFilter, 913},
		{"server errors until retries run out", gcsim.Config{Faults: gcsim.Faults{Err500: 1}}, nil,
			func(ctx context.Context, c *getcourse.Client) error { _, err := c.Groups(ctx); return err },
			getcourse.KindServer, 0},
		{"html pages until retries run out", gcsim.Config{Faults: gcsim.Faults{HTML: 1}}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := getcourse.AddUser(c, ctx, user("a@b.ru"))
				return err
			},
			getcourse.KindProtocol, 0},
		{"resets until retries run out", gcsim.Config{Faults: gcsim.Faults{Reset: 1}}, nil,
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := getcourse.AddUser(c, ctx, user("a@b.ru"))
				return err
			},
			getcourse.KindTransport, 0},
		{"slow answers time out", gcsim.Config{Faults: gcsim.Faults{Slow: 1}, SlowDelay: time.Minute},
			[]getcourse.Option{getcourse.WithTimeout(30 * time.Millisecond), getcourse.WithRetry(getcourse.RetryPolicy{MaxRetries: 1, InitialInterval: time.Millisecond})},
			func(ctx context.Context, c *getcourse.Client) error {
				_, err := c.StartExport(ctx, usersSince)
				return err
			},
			getcourse.KindTransport, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := startSim(t, tc.cfg)
			c := simClient(t, base, tc.opts...)
			err := tc.run(t.Context(), c)
			var ae *getcourse.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want an *APIError", err, err)
			}
			if ae.Kind != tc.kind || ae.Code != tc.code {
				t.Errorf("kind, code = %v, %d; want %v, %d: %v", ae.Kind, ae.Code, tc.kind, tc.code, err)
			}
			if !strings.HasPrefix(err.Error(), ae.Method+" /pl/api/") {
				t.Errorf("error text %q does not start with the method and path", err)
			}
			assertNoSimKey(t, err)
		})
	}
}

func TestSimRetriesThroughFaults(t *testing.T) {
	t.Parallel()
	sim, base := startSim(t, gcsim.Config{Seed: 7, SlowDelay: time.Second,
		Faults: gcsim.Faults{Err500: 0.1, HTML: 0.1, Empty: 0.1, Reset: 0.15, Slow: 0.05}})
	var mu sync.Mutex
	retried := map[getcourse.Kind]int{}
	c := simClient(t, base,
		getcourse.WithTimeout(200*time.Millisecond),
		getcourse.WithRetry(getcourse.RetryPolicy{MaxRetries: 20, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond, MaxElapsed: time.Minute}),
		getcourse.WithNotify(func(e getcourse.Event) { mu.Lock(); retried[e.Err.Kind]++; mu.Unlock() }))
	const n = 40
	for i := range n {
		if _, err := getcourse.AddUser(c, t.Context(), user(fmt.Sprintf("u%d@example.com", i))); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
		if _, err := getcourse.AddDeal(c, t.Context(), getcourse.Params{User: &getcourse.UserParams{Email: fmt.Sprintf("u%d@example.com", i)},
			Deal: &getcourse.DealParams{DealNumber: fmt.Sprintf("N-%d", i), OfferCode: "X", DealCost: "10.00"}}); err != nil {
			t.Fatalf("deal %d: %v", i, err)
		}
	}
	st := sim.Stats()
	// Idempotent calls retried after a reset that followed the apply must not duplicate anything.
	if st.UsersCreated != n || st.DealsCreated != n {
		t.Errorf("created %d users and %d deals, want %d each", st.UsersCreated, st.DealsCreated, n)
	}
	for _, k := range []string{"500", "html", "empty", "reset"} {
		if st.FaultsInjected[k] == 0 {
			t.Errorf("no %s fault was injected; the test proves nothing about it (%v)", k, st.FaultsInjected)
		}
	}
	for _, k := range []getcourse.Kind{getcourse.KindServer, getcourse.KindProtocol, getcourse.KindTransport} {
		if retried[k] == 0 {
			t.Errorf("no %v failure was retried: %v", k, retried)
		}
	}
}

func TestSimNonIdempotentInDoubt(t *testing.T) {
	t.Parallel()
	sim, base := startSim(t, gcsim.Config{Seed: 3, Faults: gcsim.Faults{Reset: 1}})
	c := simClient(t, base)
	const n = 12
	for i := range n {
		_, err := getcourse.SendMessage(c, t.Context(), getcourse.Params{Message: &getcourse.MessageParams{
			Email: fmt.Sprintf("m%d@example.com", i), MailingID: 9}})
		var ae *getcourse.APIError
		if !errors.As(err, &ae) || !ae.InDoubt || ae.Kind != getcourse.KindTransport {
			t.Fatalf("message %d: err = %v, want an in-doubt transport error", i, err)
		}
		assertNoSimKey(t, err)
	}
	st := sim.Stats()
	if got := st.Requests["/pl/api/messages"]; got != n {
		t.Errorf("%d requests for %d messages: an in-doubt message was sent again", got, n)
	}
	if st.FaultsInjected["reset_after"] == 0 || st.FaultsInjected["reset_before"] == 0 {
		t.Fatalf("faults = %v; want resets both before and after the apply", st.FaultsInjected)
	}
	if st.MessagesSent != st.FaultsInjected["reset_after"] {
		t.Errorf("messages sent = %d, resets after apply = %d", st.MessagesSent, st.FaultsInjected["reset_after"])
	}
}

type countingBudget struct {
	mu      sync.Mutex
	calls   int
	collect int
}

func (b *countingBudget) Spend(_ context.Context, c getcourse.BudgetCall) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if c.Collect {
		b.collect++
	}
	return nil
}

func TestSimExportFlow(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	sim, base := startSim(t, gcsim.Config{SeedUsers: 3000, ExportDelay: 30 * time.Second, Now: clk.Now, EscapeUnicode: true})
	budget := &countingBudget{}
	c := simClient(t, base, getcourse.WithExportBudget(budget))
	ctx := t.Context()
	id, err := c.StartExport(ctx, getcourse.ExportRequest{Object: getcourse.ExportUsers,
		Filters: []getcourse.Filter{{Name: "created_at", Sub: "from", Value: "2022-01-01"}, {Name: "created_at", Sub: "to", Value: "2030-12-31"}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.OpenExport(ctx, id); !errors.Is(err, getcourse.ErrNotReady) {
			t.Fatalf("poll before ready: %v", err)
		}
		clk.Add(10 * time.Second)
	}
	clk.Add(20 * time.Second)
	rc, err := c.OpenExport(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rc)
	if cerr := rc.Close(); err != nil || cerr != nil {
		t.Fatalf("reading the export: %v, %v", err, cerr)
	}
	if !strings.HasPrefix(string(raw), `{"success":true`) || len(raw) < 64<<10 {
		t.Errorf("export body: %d bytes, starts %.40q", len(raw), raw)
	}
	data, err := c.ExportResult(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Items) != 3000 || !slices.Contains(data.Fields, "Имя") {
		t.Errorf("export: %d items, fields %v", len(data.Items), data.Fields)
	}
	st := sim.Stats()
	if budget.calls != st.ExportCalls || budget.calls != 5 || budget.collect != 4 {
		t.Errorf("budget saw %d calls (%d collections), the sim admitted %d; want 5 (4)", budget.calls, budget.collect, st.ExportCalls)
	}
}

func TestSimRedirectRefused(t *testing.T) {
	t.Parallel()
	sim := gcsim.New(gcsim.Config{Key: simKey})
	// The account moved: /acct/... redirects to /moved/..., where the simulator answers. A
	// client that followed the redirect would reach the simulator.
	mux := http.NewServeMux()
	mux.Handle("/moved/", http.StripPrefix("/moved", sim))
	mux.HandleFunc("/acct/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/moved"+strings.TrimPrefix(r.URL.Path, "/acct"), http.StatusMovedPermanently)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := simClient(t, srv.URL+"/acct")
	_, err := getcourse.AddUser(c, t.Context(), user("a@b.ru"))
	if err == nil || !strings.Contains(err.Error(), "--base-url http://127.0.0.1") {
		t.Fatalf("err = %v", err)
	}
	_, err = c.Groups(t.Context())
	if err == nil {
		t.Fatal("a redirected GET was accepted")
	}
	assertNoSimKey(t, err)
	if st := sim.Stats(); len(st.Requests) != 0 {
		t.Errorf("the redirect was followed: the simulator saw %v", st.Requests)
	}
}
