package importer

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestHardeningSoak sends 10,000 rows to a service that answers after 0-400 ms and fails one
// request in ten (500, an HTML page, an empty body, a reset connection, an answer slower than
// the client waits). Every valid row must end ok, every invalid one rejected without a
// request, and every count must agree with the simulator's own counters: no request unseen,
// no row applied more often than the faults explain.
func TestHardeningSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 rows against a slow, faulty service: `make test` runs it; -short is the quick loop")
	}
	const (
		rows        = 10000
		invalidStep = 97 // every 97th row has a broken e-mail
		concurrency = 160
	)
	e := newEnv(t, gcsim.Config{
		Latency: 200 * time.Millisecond, LatencyJitter: 200 * time.Millisecond,
		Faults: gcsim.Faults{Err500: 0.03, HTML: 0.02, Empty: 0.02, Reset: 0.02, Slow: 0.01},
		// A slow answer outlasts the client's timeout (which itself outlasts the longest
		// latency), so only the slow fault makes the client give up on an attempt.
		SlowDelay: 9 * time.Second,
		Seed:      20261126,
	})
	in := e.file("soak.csv", func(w io.Writer) error {
		var b strings.Builder
		b.WriteString("email;name;city\n")
		for i := range rows {
			if i%invalidStep == invalidStep-1 {
				fmt.Fprintf(&b, "soak%d-at-example.com;Имя %d;Город\n", i, i)
				continue
			}
			fmt.Fprintf(&b, "soak%d@example.com;Имя %d;Город %d\n", i, i, i%50)
		}
		_, err := io.WriteString(w, b.String())
		return err
	})
	m := e.mapping("soak.yaml", `target: users
fields:
  user.email: {column: email, transform: [trim, lower, email]}
  user.first_name: name
  user.city: city
`)
	valid, invalid := expectRows(t, in, m, e.account())
	if len(valid)+len(invalid) != rows || len(invalid) != rows/invalidStep {
		t.Fatalf("%d valid and %d invalid rows generated", len(valid), len(invalid))
	}
	// The client's timeout leaves a wide margin over the 400 ms latency: the counts below are
	// exact only if no answer but the slow fault's outlasts it, and under the race detector on
	// a busy 2-core machine an ordinary answer has been seen to take over 2 s.
	o := e.options(in, m, getcourse.WithTimeout(5*time.Second),
		getcourse.WithRetry(getcourse.RetryPolicy{MaxRetries: 10, InitialInterval: 20 * time.Millisecond,
			MaxInterval: 300 * time.Millisecond, MaxElapsed: 30 * time.Second}))
	o.Concurrency = concurrency
	o.Rate = 5000
	started := time.Now()
	s := e.run(t.Context(), o)
	t.Logf("%d rows in %v: %+v, %d retried", rows, time.Since(started).Round(time.Millisecond), s.Counts, s.Retried)

	if s.Reason != nil || s.ExitCode() != 1 || s.Status != StatusPartial {
		t.Fatalf("run ended %s (exit %d): %v", s.Status, s.ExitCode(), s.Reason)
	}
	c := s.Counts
	if c.OK != len(valid) || c.Rejected != len(invalid) || c.Failed != 0 || c.InDoubt != 0 || c.Skipped != 0 {
		t.Fatalf("counts %+v, want %d ok and %d rejected", c, len(valid), len(invalid))
	}
	if c.Sent != len(valid) {
		t.Fatalf("%d rows sent, want %d: invalid rows must never be sent", c.Sent, len(valid))
	}

	st := e.sim.Stats()
	faults := 0
	for _, k := range []string{"500", "html", "empty", "reset", "slow"} {
		if st.FaultsInjected[k] == 0 {
			t.Errorf("no %q fault was injected: %v", k, st.FaultsInjected)
		}
		faults += st.FaultsInjected[k]
	}
	requests := st.Requests["/pl/api/users"]
	// Every attempt reached the simulator: first attempts plus retries, nothing more or less.
	if requests != c.Sent+s.Retried {
		t.Errorf("the simulator saw %d requests; gcbatch made %d first attempts and %d retries", requests, c.Sent, s.Retried)
	}
	// Every fault is retried once, so the retries are the faults.
	if s.Retried != faults {
		t.Errorf("%d retries for %d injected faults", s.Retried, faults)
	}
	if share := float64(faults) / float64(requests); share < 0.07 || share > 0.13 {
		t.Errorf("faults were %.1f%% of requests, want about 10%%", 100*share)
	}
	// Each valid row created one user; a request applied before its answer was lost (a reset
	// after the work, a slow answer) applied it once more (to the same user).
	if st.UsersCreated != len(valid) {
		t.Errorf("%d users created, want %d", st.UsersCreated, len(valid))
	}
	applied, extra := 0, st.FaultsInjected["reset_after"]+st.FaultsInjected["slow"]
	for _, r := range valid {
		n := st.AddsByEmail[emailOf(r.params)]
		if n == 0 {
			t.Fatalf("line %d never reached the simulator", r.line)
		}
		applied += n
	}
	if applied != len(valid)+extra {
		t.Errorf("%d applications for %d rows and %d lost answers", applied, len(valid), extra)
	}
	if st.RateLimited != 0 || s.RateLimited != 0 {
		t.Errorf("rate-limited answers: simulator %d, run %d", st.RateLimited, s.RateLimited)
	}

	// The ledger holds every valid row as confirmed, and the reports agree with the summary.
	for i, rec := range e.ledger(valid) {
		if rec.State != checkpoint.StateConfirmed {
			t.Fatalf("line %d: ledger state %v", valid[i].line, rec.State)
		}
	}
	got := statusCounts(readResults(t, s))
	if got[RowOK] != len(valid) || got[RowRejected] != len(invalid) || len(got) != 2 {
		t.Errorf("results.csv counts %v", got)
	}
}
