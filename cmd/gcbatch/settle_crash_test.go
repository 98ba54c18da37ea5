package main

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestSettleAfterKill: deals without numbers, gcsim with latency, and gcbatch killed with
// SIGKILL while calls are in flight, several times; gcsim applies a call whose client vanished
// half the time (VanishApply), so some in-flight deals exist and some do not. Each plain rerun
// settles the rows in doubt from the deals export before sending; the last one exits 0, gcsim
// holds every row's deal exactly once, and results.csv has no row in doubt.
func TestSettleAfterKill(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Latency: 150 * time.Millisecond, VanishApply: 0.5, ExportDelay: -1, Seed: 20261205})
	in := e.write("orders.csv", ordersCSV(150, 4))
	mp := e.write("orders.yaml", ordersMapping)
	_, valid, _ := mappedRows(t, mp, in, e.account())
	args := append(e.commonArgs(), "import", "--mapping", mp, "--rate", "100/s", "--concurrency", "4",
		"--settle-poll", "10ms", in)

	rng := rand.New(rand.NewPCG(5, 12))
	killed := 0
	var outputs []string
	for range 4 {
		p := e.start(args...)
		before := e.sim.Stats().Requests["/pl/api/deals"]
		after := 10 + rng.IntN(25)
		// Kill with calls in flight: gcsim holds them for their latency.
		if !waitFor(t, p, func() bool {
			st := e.sim.Stats()
			return st.Requests["/pl/api/deals"]-before >= after && inFlight(st) >= 2
		}) {
			break // the import finished before this kill
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.code()
		killed++
		settledCalls(t, e)
		outputs = append(outputs, p.stdout.String(), p.stderr.String())
	}
	if killed < 3 {
		t.Fatalf("only %d kills landed mid-run", killed)
	}
	st := e.sim.Stats()
	if st.FaultsInjected["vanished_applied"] == 0 || st.FaultsInjected["vanished_dropped"] == 0 {
		t.Fatalf("want calls in flight at the kills, some applied and some not: %v", st.FaultsInjected)
	}

	p := e.start(args...)
	if code := p.code(); code != 0 {
		t.Fatalf("final run: exit %d\n%s\n%s", code, p.stdout.String(), p.stderr.String())
	}
	outputs = append(outputs, p.stdout.String(), p.stderr.String())
	if dups, missing := dealsPerRow(t, e, mp, in); dups != 0 || missing != 0 {
		t.Fatalf("after %d kills gcsim holds %d duplicate and %d missing deals\n%s", killed, dups, missing, p.stderr.String())
	}
	if got := e.sim.Stats().DealsCreated; got != len(valid) {
		t.Fatalf("gcsim created %d deals for %d rows", got, len(valid))
	}
	counts, _ := results(t, e.lastRun())
	if counts["in-doubt"] != 0 || counts["ok"]+counts["skipped"] != len(valid) {
		t.Fatalf("final results %v for %d rows", counts, len(valid))
	}
	for i, rec := range e.lookup(valid) {
		if rec.State != checkpoint.StateConfirmed || rec.DealID == 0 {
			t.Fatalf("line %d: ledger %v deal %d", valid[i].line, rec.State, rec.DealID)
		}
	}
	t.Logf("%d kills; in flight at the kills: %d applied by gcsim, %d not", killed,
		st.FaultsInjected["vanished_applied"], st.FaultsInjected["vanished_dropped"])
	assertNoKey(t, e.dir, e.key, outputs...)
}

// settledCalls waits until gcsim has decided every deals call of the killed process: each one
// was applied and answered, or its client vanished and it was applied or dropped. The real
// service, too, finishes a call within moments; a rerun that looked deals up before a killed
// call landed could not see it.
func settledCalls(t *testing.T, e *importEnv) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.sim.Stats()
		if inFlight(st) <= 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gcsim still holds calls of the killed process: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inFlight is how many deals calls gcsim holds: neither applied nor dropped yet.
func inFlight(st gcsim.Stats) int {
	return st.Requests["/pl/api/deals"] - st.DealsCreated - st.FaultsInjected["vanished_dropped"] - st.RowErrors
}
