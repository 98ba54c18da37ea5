package importer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/internal/gen"
)

// ordersCSV writes n orders with unique e-mails, so that gcsim's AddsByEmail counts the deals
// of each row.
func ordersCSV(e *testEnv, name string, n int) string {
	return e.file(name, func(w io.Writer) error {
		fmt.Fprintln(w, "email;product;cost")
		for i := range n {
			fmt.Fprintf(w, "buyer%d@example.com;Курс %d;%d,00\n", i, i%5, 1000+i)
		}
		return nil
	})
}

// ordersNoNumber is a deals mapping without deal_number: not idempotent.
const ordersNoNumber = `target: deals
fields:
  user.email: {column: email, transform: [email]}
  deal.product_title: product
  deal.deal_cost: {column: cost, transform: [money]}
`

// TestNonIdempotentInDoubt: resets after the request was applied leave deal rows in doubt;
// a rerun does not send them; --resend-in-doubt does.
func TestNonIdempotentInDoubt(t *testing.T) {
	e := newEnv(t, gcsim.Config{Faults: gcsim.Faults{Reset: 0.15}, Seed: 5})
	m := e.mapping("orders.yaml", ordersNoNumber)
	if m.Idempotent() {
		t.Fatal("the mapping should not be idempotent")
	}
	in := ordersCSV(e, "orders.csv", 200)
	valid, _ := expectRows(t, in, m, e.account())

	s := e.run(t.Context(), e.options(in, m))
	if s.Counts.InDoubt == 0 || s.ExitCode() != 1 || s.Status != StatusPartial {
		t.Fatalf("first run: %+v exit %d", s.Counts, s.ExitCode())
	}
	if s.Counts.OK+s.Counts.InDoubt != len(valid) || s.Counts.Failed != 0 {
		t.Fatalf("first run: %+v", s.Counts)
	}
	st := e.sim.Stats()
	inDoubt := map[int]bool{}
	for i, rec := range e.ledger(valid) {
		n := st.AddsByEmail[emailOf(valid[i].params)]
		switch rec.State {
		case checkpoint.StateConfirmed:
			if n != 1 {
				t.Fatalf("line %d ok with %d deals", valid[i].line, n)
			}
		case checkpoint.StateInDoubt:
			inDoubt[i] = true
			if n > 1 || !strings.Contains(rec.Error, "in doubt") {
				t.Fatalf("line %d in doubt with %d deals, error %q", valid[i].line, n, rec.Error)
			}
		default:
			t.Fatalf("line %d: %v", valid[i].line, rec.State)
		}
	}
	if len(inDoubt) != s.Counts.InDoubt {
		t.Fatalf("ledger holds %d in doubt, the run counted %d", len(inDoubt), s.Counts.InDoubt)
	}
	rej, err := os.ReadFile(filepath.Join(s.ReportsDir, RejectedFile))
	if err != nil || strings.Count(string(rej), "\n") != 1 {
		t.Fatalf("rejected.csv should hold the header alone: %q %v", rej, err)
	}

	// The same command again: nothing is sent, the rows in doubt are reported again.
	e.sim.SetFaults(gcsim.Faults{})
	before := e.sim.Stats().Requests["/pl/api/deals"]
	s2 := e.run(t.Context(), e.options(in, m))
	if n := e.sim.Stats().Requests["/pl/api/deals"] - before; n != 0 {
		t.Fatalf("the rerun sent %d requests", n)
	}
	if s2.Counts.InDoubt != len(inDoubt) || s2.Counts.Skipped != s.Counts.OK || s2.ExitCode() != 1 {
		t.Fatalf("rerun: %+v", s2.Counts)
	}
	for _, r := range readResults(t, s2) {
		if r.Status == RowInDoubt && !strings.Contains(r.Error, "--resend-in-doubt") {
			t.Fatalf("in-doubt row without the way out: %q", r.Error)
		}
	}

	// --resend-in-doubt sends exactly those rows.
	o := e.options(in, m)
	o.ResendInDoubt = true
	s3 := e.run(t.Context(), o)
	if s3.ExitCode() != 0 || s3.Counts.Sent != len(inDoubt) || s3.Counts.OK != len(inDoubt) {
		t.Fatalf("--resend-in-doubt: %+v", s3.Counts)
	}
	for i, rec := range e.ledger(valid) {
		if rec.State != checkpoint.StateConfirmed {
			t.Fatalf("line %d: %v", valid[i].line, rec.State)
		}
	}
}

// TestLedgerFlags: rows the service rejected are not resent unless --retry-rejected; --resend
// sends confirmed rows again; --restart forgets this file's progress.
func TestLedgerFlags(t *testing.T) {
	e := newEnv(t, gcsim.Config{})
	// No e-mail transform: the service itself judges the addresses.
	m := e.mapping("users.yaml", "target: users\nfields:\n  user.email: email\n  user.first_name: name\n")
	in := e.file("users.csv", func(w io.Writer) error {
		fmt.Fprintln(w, "email,name")
		for i := range 30 {
			if i%10 == 3 {
				fmt.Fprintf(w, "broken%d@@nowhere,Имя %d\n", i, i)
				continue
			}
			fmt.Fprintf(w, "user%d@example.com,Имя %d\n", i, i)
		}
		return nil
	})
	s := e.run(t.Context(), e.options(in, m))
	if s.Counts.OK != 27 || s.Counts.Rejected != 3 || s.RejectedEarlier != 0 || s.ExitCode() != 1 {
		t.Fatalf("first run: %+v", s.Counts)
	}
	for _, r := range readResults(t, s) {
		if r.Status == RowRejected && !strings.Contains(r.Error, "эл. адрес") {
			t.Fatalf("rejection without the service's reason: %q", r.Error)
		}
	}
	requests := func() int { return e.sim.Stats().Requests["/pl/api/users"] }

	tests := []struct {
		name                   string
		set                    func(o *Options)
		wantSent, wantRejected int
	}{
		{"rerun", func(o *Options) {}, 0, 3},
		{"retry rejected", func(o *Options) { o.RetryRejected = true }, 3, 3},
		{"resend", func(o *Options) { o.Resend = true }, 27, 3},
		{"restart", func(o *Options) { o.Restart = true }, 30, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := e.options(in, m)
			tt.set(&o)
			before := requests()
			s := e.run(t.Context(), o)
			if got := requests() - before; got != tt.wantSent || s.Counts.Sent != tt.wantSent || s.Counts.Rejected != tt.wantRejected {
				t.Fatalf("sent %d (gcsim %d), counts %+v; want %d sent, %d rejected", s.Counts.Sent, got, s.Counts, tt.wantSent, tt.wantRejected)
			}
			if tt.name == "rerun" {
				if s.RejectedEarlier != 3 {
					t.Fatalf("rejected earlier %d, want 3", s.RejectedEarlier)
				}
				for _, r := range readResults(t, s) {
					if r.Status == RowRejected && !strings.Contains(r.Error, "--retry-rejected") {
						t.Fatalf("earlier rejection without the way out: %q", r.Error)
					}
				}
			}
		})
	}
}

// TestLogAndOutputsHoldNoKey: the log has one line per row with line and key, and neither
// the log nor any report or the state file holds the API key.
func TestLogAndOutputsHoldNoKey(t *testing.T) {
	e := newEnv(t, gcsim.Config{Faults: gcsim.Faults{Err500: 0.1, Reset: 0.05}, Seed: 9})
	m := e.mapping("contacts.yaml", gen.ContactsMapping())
	in := contactsFile(e, "contacts.csv", 120, 3, gen.Invalid(0.1))
	var logBuf bytes.Buffer
	o := e.options(in, m)
	o.Logger = slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var bar bytes.Buffer
	o.Progress = &bar
	s := e.run(t.Context(), o)
	lines := strings.Count(logBuf.String(), `"msg":"row"`)
	if lines != 120 {
		t.Fatalf("%d row lines in the log, want 120", lines)
	}
	if strings.Contains(logBuf.String(), `"first_name"`) || strings.Contains(logBuf.String(), "Телефон") {
		t.Fatal("the log holds row params")
	}
	e.sim.SetFaults(gcsim.Faults{})
	o.Resend = true
	e.key = "wrong-key-abc"
	s2 := e.run(t.Context(), o) // a fatal stop writes its error everywhere too
	if s2.Reason == nil {
		t.Fatal("the bad key did not stop the run")
	}
	e.store.Close()
	for _, out := range []string{logBuf.String(), bar.String(), fmt.Sprint(s.Reason, s2.Reason)} {
		for _, k := range []string{testKey, "wrong-key-abc"} {
			if strings.Contains(out, k) {
				t.Fatalf("the key %q leaked into an output", k)
			}
		}
	}
	filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, k := range []string{testKey, "wrong-key-abc"} {
			if bytes.Contains(b, []byte(k)) {
				t.Errorf("%s holds the key", p)
			}
		}
		return nil
	})
}

// TestDrainOnStop: a stop while requests are slow on the wire lets them finish (within the
// drain timeout) and records them; rows still waiting for the limiter are not sent.
func TestDrainOnStop(t *testing.T) {
	e := newEnv(t, gcsim.Config{Latency: 300 * time.Millisecond})
	m := e.mapping("orders.yaml", ordersNoNumber)
	in := ordersCSV(e, "orders.csv", 40)
	o := e.options(in, m)
	o.Rate, o.Concurrency = 10, 4
	ctx, cancel := contextWithCancelAfter(t, 450*time.Millisecond)
	defer cancel()
	s := e.run(ctx, o)
	if s.Status != StatusInterrupted {
		t.Fatalf("status %s", s.Status)
	}
	st := e.sim.Stats()
	if s.Counts.InDoubt != 0 || s.Counts.OK != st.DealsCreated || s.Counts.OK == 0 {
		t.Fatalf("counts %+v, gcsim created %d deals", s.Counts, st.DealsCreated)
	}
	// Nothing left in doubt: the rerun sends exactly the rest.
	o2 := e.options(in, m)
	o2.Concurrency = 16
	s2 := e.run(t.Context(), o2)
	if s2.ExitCode() != 0 || s2.Counts.Skipped != s.Counts.OK || e.sim.Stats().DealsCreated != 40 {
		t.Fatalf("rerun %+v, gcsim deals %d", s2.Counts, e.sim.Stats().DealsCreated)
	}
}

func contextWithCancelAfter(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	tm := time.AfterFunc(d, cancel)
	return ctx, func() { tm.Stop(); cancel() }
}

// seedLedger writes records for rows as an earlier run r would have left them.
func seedLedger(t *testing.T, e *testEnv, r checkpoint.Run, rows []expectedRow, states []checkpoint.RowState) {
	t.Helper()
	if err := e.store.PutRun(r); err != nil {
		t.Fatal(err)
	}
	c := e.store.NewCommitter(checkpoint.CommitterOptions{})
	for i, row := range rows {
		if states[i] != checkpoint.StateNone {
			c.Put(row.rk, checkpoint.RowRecord{State: states[i], RunID: r.ID, Line: row.line, At: r.Started, Error: "seeded"})
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFileOrderAcrossRuns drives the order rule (order.go) through Run: an earlier run left a
// person's older row failed or rejected and the newer row confirmed. The run that sends the
// older row sends the newer one again after it — also when it stops in between (--max-rows),
// through the next run; with --retry-rejected as well. Messages are never sent again for it.
func TestFileOrderAcrossRuns(t *testing.T) {
	const people = 20
	file := func(e *testEnv) string {
		return e.file("people.csv", func(w io.Writer) error {
			fmt.Fprintln(w, "email;name")
			for i := range people {
				fmt.Fprintf(w, "p%d@example.com;Old %d\n", i, i)
				fmt.Fprintf(w, "P%d@Example.com;New %d\n", i, i)
			}
			return nil
		})
	}
	users := `target: users
fields:
  user.email: {column: email, transform: [email]}
  user.first_name: name
  system.refresh_if_exists: {value: 1}
`
	names := func(e *testEnv) map[string]string {
		out := map[string]string{}
		for _, u := range e.sim.Users() {
			out[strings.ToLower(u.Email)] = u.FirstName
		}
		return out
	}
	earlier := checkpoint.Run{ID: "20260101-000000-aaaa", Status: StatusPartial, Started: time.Now().Add(-time.Hour)}
	for _, tc := range []struct {
		name  string
		older checkpoint.RowState
		opts  func(*Options)
	}{
		{"failed", checkpoint.StateFailed, func(*Options) {}},
		{"rejected, --retry-rejected", checkpoint.StateRejected, func(o *Options) { o.RetryRejected = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, gcsim.Config{})
			m := e.mapping("people.yaml", users)
			in := file(e)
			valid, _ := expectRows(t, in, m, e.account())
			states := make([]checkpoint.RowState, len(valid))
			for i := range states {
				states[i] = checkpoint.StateConfirmed
				if i%2 == 0 && i/2%4 == 0 { // the older row of every fourth person
					states[i] = tc.older
				}
			}
			seedLedger(t, e, earlier, valid, states)

			// Stop after two rows: the first person's older row and its newer row.
			o := e.options(in, m)
			tc.opts(&o)
			o.MaxRows = 1
			s := e.run(t.Context(), o)
			if s.Counts.OK != 1 || s.Reason != ErrMaxRows {
				t.Fatalf("--max-rows 1: %+v %v", s.Counts, s.Reason)
			}
			o.MaxRows = 0
			s = e.run(t.Context(), o)
			// Persons 0, 4, 8...: person 0's newer row (its older row went out in the stopped
			// run), then the older and newer rows of the others.
			overtaken := (people + 3) / 4
			if want := 1 + 2*(overtaken-1); s.Counts.OK != want || s.ExitCode() != 0 {
				t.Fatalf("rerun sent %d rows (%+v), want %d", s.Counts.OK, s.Counts, want)
			}
			got := names(e)
			for i := range people {
				if i%4 == 0 && got[fmt.Sprintf("p%d@example.com", i)] != fmt.Sprintf("New %d", i) {
					t.Errorf("person %d ends with %q", i, got[fmt.Sprintf("p%d@example.com", i)])
				}
			}
			if s := e.run(t.Context(), e.options(in, m)); s.Counts.Sent != 0 {
				t.Fatalf("a third run sent %d rows", s.Counts.Sent)
			}
		})
	}
	t.Run("messages are never sent twice", func(t *testing.T) {
		e := newEnv(t, gcsim.Config{})
		m := e.mapping("mail.yaml", `target: messages
fields:
  message.email: {column: email, transform: [email]}
  message.mailing_id: {value: 4521}
  message.params.name: name
`)
		in := file(e)
		valid, _ := expectRows(t, in, m, e.account())
		states := make([]checkpoint.RowState, len(valid))
		for i := range states {
			states[i] = checkpoint.StateConfirmed
			if i == 0 {
				states[i] = checkpoint.StateNone // never sent
			}
		}
		seedLedger(t, e, earlier, valid, states)
		s := e.run(t.Context(), e.options(in, m))
		if s.Counts.Sent != 1 || e.sim.Stats().MessagesSent != 1 {
			t.Fatalf("sent %d rows, %d messages; want only the unsent one", s.Counts.Sent, e.sim.Stats().MessagesSent)
		}
	})
}
