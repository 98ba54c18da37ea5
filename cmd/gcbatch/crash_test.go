package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/internal/gen"
)

// asMainEnv makes the test binary behave as gcbatch itself, so that tests can run it as a
// subprocess and kill it like a real process.
const asMainEnv = "GCBATCH_TEST_AS_MAIN"

func init() {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(run())
	}
}

// proc is a gcbatch subprocess.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

func (e *importEnv) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), asMainEnv+"=1", "GETCOURSE_API_KEY="+e.key, "GETCOURSE_BASE_URL="+e.base,
		"GETCOURSE_ACCOUNT=")
	p.cmd.Dir = e.dir
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// code waits for the process and returns its exit code (-1 when killed by a signal).
func (p *proc) code() int {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -2
	}
	return 0
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond until it holds or the process ends; it reports whether cond held.
func waitFor(t *testing.T, p *proc, cond func() bool) bool {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-p.done:
			return cond()
		case <-t.Context().Done():
			return false
		case <-deadline.C:
			t.Fatal("timed out waiting for the subprocess")
		case <-tick.C:
		}
	}
}

func emailIn(params []byte) string {
	var p struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
	}
	json.Unmarshal(params, &p)
	return strings.ToLower(p.User.Email)
}

// TestCrashResume kills the importer with SIGKILL at seeded random moments, then lets it
// finish, and checks the crash guarantee of design.md.
func TestCrashResume(t *testing.T) {
	const (
		kills       = 4
		concurrency = 4
		rate        = 400.0
		commitEvery = checkpoint.DefaultCommitDelay // at this rate the delay, not the row count, ends an interval
	)
	t.Run("idempotent users", func(t *testing.T) {
		t.Parallel()
		e := newImportEnv(t, gcsim.Config{Latency: 8 * time.Millisecond})
		var csvBuf bytes.Buffer
		if err := gen.Contacts(&csvBuf, 400, 21); err != nil {
			t.Fatal(err)
		}
		in := e.write("contacts.csv", csvBuf.String())
		mp := e.write("contacts.yaml", gen.ContactsMapping())
		_, valid, _ := mappedRows(t, mp, in, e.account())
		args := append(e.commonArgs(), "import", "--mapping", mp, "--rate", fmt.Sprintf("%g/s", rate),
			"--concurrency", fmt.Sprint(concurrency), "--log", e.path("import.log"), "--log-format", "json", in)

		rng := rand.New(rand.NewPCG(20261126, 7))
		killed := 0
		var outputs []string
		for range kills {
			p := e.start(args...)
			before := e.sim.Stats().Requests["/pl/api/users"]
			after := 5 + rng.IntN(60)
			if !waitFor(t, p, func() bool { return e.sim.Stats().Requests["/pl/api/users"]-before >= after }) {
				break // the import finished before this kill
			}
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.code()
			killed++
			outputs = append(outputs, p.stdout.String(), p.stderr.String())
		}
		if killed < 3 {
			t.Fatalf("only %d kills landed mid-run", killed)
		}
		p := e.start(args...)
		if code := p.code(); code != 0 {
			t.Fatalf("final run: exit %d\n%s\n%s", code, p.stdout.String(), p.stderr.String())
		}
		outputs = append(outputs, p.stdout.String(), p.stderr.String())

		st := e.sim.Stats()
		resends := 0
		for i, rec := range e.lookup(valid) {
			if rec.State != checkpoint.StateConfirmed {
				t.Fatalf("line %d: ledger state %v after the final run", valid[i].line, rec.State)
			}
			em := emailIn(valid[i].json)
			if em == "" {
				continue
			}
			n := st.AddsByEmail[em]
			if n == 0 {
				t.Fatalf("line %d never reached gcsim", valid[i].line)
			}
			resends += n - 1
		}
		bound := killed * (concurrency + int(rate*commitEvery.Seconds()) + 1)
		t.Logf("%d kills, %d rows sent again (bound %d)", killed, resends, bound)
		if resends > bound {
			t.Fatalf("%d rows sent again after %d kills; the bound is %d", resends, killed, bound)
		}
		// The final run's record says the earlier ones were interrupted.
		interrupted := 0
		runsOut := e.runsList(t)
		interrupted = strings.Count(runsOut, "interrupted")
		if interrupted != killed {
			t.Fatalf("runs list shows %d interrupted runs, want %d:\n%s", interrupted, killed, runsOut)
		}
		assertNoKey(t, e.dir, e.key, outputs...)
	})

	t.Run("non-idempotent deals stay in doubt", func(t *testing.T) {
		t.Parallel()
		e := newImportEnv(t, gcsim.Config{Latency: 8 * time.Millisecond})
		var b strings.Builder
		b.WriteString("email;product;cost\n")
		for i := range 300 {
			fmt.Fprintf(&b, "buyer%d@example.com;Курс %d;%d,00\n", i, i%7, 1000+i)
		}
		in := e.write("orders.csv", b.String())
		mp := e.write("orders.yaml", `target: deals
fields:
  user.email: {column: email, transform: [email]}
  deal.product_title: product
  deal.deal_cost: {column: cost, transform: [money]}
`)
		_, valid, _ := mappedRows(t, mp, in, e.account())
		args := append(e.commonArgs(), "import", "--mapping", mp, "--rate", fmt.Sprintf("%g/s", rate),
			"--concurrency", fmt.Sprint(concurrency), "--settle-poll", "200ms", in) // reruns look in-doubt deals up (settle.go)
		rng := rand.New(rand.NewPCG(99, 1))
		killed := 0
		for range kills {
			p := e.start(args...)
			before := e.sim.Stats().Requests["/pl/api/deals"]
			after := 5 + rng.IntN(50)
			if !waitFor(t, p, func() bool { return e.sim.Stats().Requests["/pl/api/deals"]-before >= after }) {
				break
			}
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.code()
			killed++
		}
		if killed < 3 {
			t.Fatalf("only %d kills landed mid-run", killed)
		}
		p := e.start(args...)
		code := p.code()
		st := e.sim.Stats()
		inDoubt := 0
		for i, rec := range e.lookup(valid) {
			n := st.AddsByEmail[emailIn(valid[i].json)]
			switch rec.State {
			case checkpoint.StateConfirmed:
				if n != 1 {
					t.Fatalf("line %d confirmed but gcsim created %d deals for it", valid[i].line, n)
				}
			case checkpoint.StateSent, checkpoint.StateInDoubt:
				inDoubt++
				if n > 1 {
					t.Fatalf("line %d in doubt was sent again: %d deals", valid[i].line, n)
				}
			default:
				t.Fatalf("line %d: ledger state %v", valid[i].line, rec.State)
			}
		}
		if inDoubt > killed*concurrency {
			t.Fatalf("%d rows in doubt after %d kills; at most %d can be in flight", inDoubt, killed, killed*concurrency)
		}
		counts, _ := results(t, e.lastRun())
		if counts["in-doubt"] != inDoubt {
			t.Fatalf("the final run reports %d rows in doubt, the ledger holds %d", counts["in-doubt"], inDoubt)
		}
		wantCode := 0
		if inDoubt > 0 {
			wantCode = 1
			if !strings.Contains(p.stdout.String(), "--resend-in-doubt") {
				t.Errorf("the summary does not say how to resend rows in doubt:\n%s", p.stdout.String())
			}
		}
		if code != wantCode {
			t.Fatalf("final run: exit %d, want %d\n%s\n%s", code, wantCode, p.stdout.String(), p.stderr.String())
		}
		t.Logf("%d kills left %d rows in doubt; none sent twice", killed, inDoubt)
	})
}

func (e *importEnv) runsList(t *testing.T) string {
	t.Helper()
	code, out, errOut := e.gcbatch(t.Context(), "runs", "list")
	if code != 0 {
		t.Fatalf("runs list: exit %d: %s", code, errOut)
	}
	return out
}

// TestInterruptResume sends SIGINT to a running import: it finishes what is in flight, prints
// how to resume and exits 3; running that command completes the import with nothing doubled.
func TestInterruptResume(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{Latency: 15 * time.Millisecond})
	var csvBuf bytes.Buffer
	if err := gen.Contacts(&csvBuf, 300, 5); err != nil {
		t.Fatal(err)
	}
	in := e.write("contacts.csv", csvBuf.String())
	mp := e.write("contacts.yaml", gen.ContactsMapping())
	_, valid, _ := mappedRows(t, mp, in, e.account())
	p := e.start(append(e.commonArgs(), "import", "--mapping", mp, "--rate", "200/s", "--concurrency", "4", in)...)
	if !waitFor(t, p, func() bool { return e.sim.Stats().UsersCreated >= 30 }) {
		t.Fatal("the import ended before it could be interrupted")
	}
	p.cmd.Process.Signal(os.Interrupt)
	if code := p.code(); code != 3 {
		t.Fatalf("exit %d after Ctrl-C, want 3\n%s\n%s", code, p.stdout.String(), p.stderr.String())
	}
	out := p.stdout.String()
	var resume string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "resume"); ok {
			resume = strings.TrimSpace(rest)
		}
	}
	if !strings.HasPrefix(resume, "gcbatch ") || !strings.Contains(resume, " import ") {
		t.Fatalf("no resume command in the summary:\n%s", out)
	}
	if got := e.sim.Stats().UsersCreated; got == len(valid) {
		t.Fatal("the interrupt came too late to test anything")
	}
	// Run exactly the printed command (its words hold no spaces or quotes here).
	words := strings.Fields(resume)[1:]
	p2 := e.start(words...)
	if code := p2.code(); code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, p2.stdout.String(), p2.stderr.String())
	}
	st := e.sim.Stats()
	for _, r := range valid {
		if em := emailIn(r.json); em != "" && st.AddsByEmail[em] != 1 {
			t.Fatalf("line %d reached gcsim %d times; an interrupt must finish and record what is in flight", r.line, st.AddsByEmail[em])
		}
	}
	for i, rec := range e.lookup(valid) {
		if rec.State != checkpoint.StateConfirmed {
			t.Fatalf("line %d: %v", valid[i].line, rec.State)
		}
	}
	assertNoKey(t, e.dir, e.key, out, p.stderr.String(), p2.stdout.String(), p2.stderr.String())
}

// TestFatalStopsCLI: a bad key stops the run after at most --concurrency requests with exit 3
// and no row failed; a spent allowance stops it too, and the rerun after the month rolls over
// completes.
func TestFatalStopsCLI(t *testing.T) {
	t.Parallel()
	t.Run("bad key", func(t *testing.T) {
		e := newImportEnv(t, gcsim.Config{Latency: 5 * time.Millisecond})
		var csvBuf bytes.Buffer
		gen.Contacts(&csvBuf, 50, 3)
		in := e.write("contacts.csv", csvBuf.String())
		mp := e.write("contacts.yaml", gen.ContactsMapping())
		good := e.key
		e.key = "definitely-wrong-key-31337"
		code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, "--no-preflight", "--concurrency", "3", "--rate", "100/s",
			"--log", e.path("import.log"), in)
		if code != 3 {
			t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errOut)
		}
		if n := e.sim.Stats().Requests["/pl/api/users"]; n < 1 || n > 3 {
			t.Fatalf("%d requests with a bad key, want 1..3", n)
		}
		run := e.lastRun()
		if run.Counts.Failed != 0 || run.Status != "stopped" || !strings.Contains(out, "Неавторизованное") {
			t.Fatalf("run %+v\n%s", run, out)
		}
		assertNoKey(t, e.dir, e.key, out, errOut)
		assertNoKey(t, e.dir, good, out, errOut)
	})
	t.Run("allowance", func(t *testing.T) {
		e := newImportEnv(t, gcsim.Config{MonthlyAllowance: 25})
		var csvBuf bytes.Buffer
		gen.Contacts(&csvBuf, 40, 8)
		in := e.write("contacts.csv", csvBuf.String())
		mp := e.write("contacts.yaml", gen.ContactsMapping())
		_, valid, _ := mappedRows(t, mp, in, e.account())
		code, out, _ := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "500/s", in)
		if code != 3 || e.lastRun().Counts.Failed != 0 || !strings.Contains(out, "resume") {
			t.Fatalf("allowance spent: exit %d\n%s", code, out)
		}
		e.sim.RollMonth()
		code, out, _ = e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "500/s", in)
		if code != 0 {
			t.Fatalf("after the month rolled over: exit %d\n%s", code, out)
		}
		for i, rec := range e.lookup(valid) {
			if rec.State != checkpoint.StateConfirmed {
				t.Fatalf("line %d: %v", valid[i].line, rec.State)
			}
		}
	})
}
