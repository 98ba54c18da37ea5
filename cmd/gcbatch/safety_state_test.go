package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	bolt "go.etcd.io/bbolt"
)

// messagesImport writes a mailing of n messages and imports it once, completely: afterwards
// every message is confirmed in the state file, so any message the simulator gets later is a
// message sent twice.
func messagesImport(t *testing.T, e *importEnv, n int) (args []string, valid []mappedRow) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Эл. почта,Имя\n")
	for i := range n {
		fmt.Fprintf(&b, "reader%d@example.com,Читатель %d\n", i, i)
	}
	in := e.write("mailing.csv", b.String())
	mp := e.write("mailing.yaml", `target: messages
fields:
  message.email: {column: Эл. почта, transform: [trim, lower, email]}
  message.mailing_id: {value: 4521}
  message.params.name: Имя
`)
	_, valid, _ = mappedRows(t, mp, in, e.account())
	args = []string{"import", "--mapping", mp, "--rate", "5000/s", "--concurrency", "16", "--no-preflight", in}
	if code, out, errOut := e.gcbatch(t.Context(), args...); code != 0 {
		t.Fatalf("the first import: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.sim.Stats().MessagesSent; got != n {
		t.Fatalf("%d messages sent, want %d", got, n)
	}
	return args, valid
}

// compact rewrites a state file without free pages, as bbolt's compaction does.
func compact(t *testing.T, path string) {
	t.Helper()
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := bolt.Open(path+".compact", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.Compact(dst, src, 1<<20); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()
	if err := os.Rename(path+".compact", path); err != nil {
		t.Fatal(err)
	}
}

// checkNoCrash fails when a process's output looks like a Go runtime crash.
func checkNoCrash(t *testing.T, what, stderr string) {
	t.Helper()
	for _, sign := range []string{"fatal error", "panic", "goroutine ", "SIGSEGV", "stack overflow"} {
		if strings.Contains(stderr, sign) {
			t.Fatalf("%s: the output shows a crash (%q):\n%.2000s", what, sign, stderr)
		}
	}
}

// TestSafetyDamagedStateFile overwrites 1–64 random bytes past the meta pages of the state file
// of a finished mailing, seed after seed, and reruns the same import as a subprocess each
// time. Whatever the damage: no runtime crash, and no message sent again. Either the damage is
// reported before anything is sent (exit 2, the file named as damaged and what to do), or it
// fell where gcbatch never reads (a free page, the unused end of a page) and the rerun skips
// every message.
func TestSafetyDamagedStateFile(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	args, _ := messagesImport(t, e, 600)
	state := e.path("state.db")
	// Compacted, the file holds no free pages whose damage would not matter (how many a run
	// leaves depends on its commits' timing), so most seeds hit bytes gcbatch reads.
	compact(t, state)
	clean, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	seeds := 40
	if testing.Short() {
		seeds = 12
	}
	if code, out, errOut := e.gcbatch(t.Context(), args...); code != 0 || e.sim.Stats().MessagesSent != 600 {
		t.Fatalf("the compacted file does not resume cleanly: exit %d\n%s\n%s", code, out, errOut)
	}
	detected := 0
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 2026))
		b := bytes.Clone(clean)
		n := 1 + rng.IntN(64)
		at := 8192 + rng.IntN(len(b)-8192-n)
		for i := range n {
			b[at+i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(state, b, 0o600); err != nil {
			t.Fatal(err)
		}
		sent := e.sim.Stats().MessagesSent
		p := e.start(append(e.commonArgs(), args...)...)
		code := p.code()
		what := fmt.Sprintf("seed %d (%d bytes at %d)", seed, n, at)
		checkNoCrash(t, what, p.stderr.String()+p.stdout.String())
		if again := e.sim.Stats().MessagesSent - sent; again != 0 {
			t.Fatalf("%s: %d messages sent twice (exit %d)\n%s\n%s", what, again, code, p.stdout.String(), p.stderr.String())
		}
		switch code {
		case 2:
			msg := p.stderr.String()
			if !strings.Contains(msg, "damaged") || !strings.Contains(msg, state) || !strings.Contains(msg, "mv ") {
				t.Fatalf("%s: exit 2 without saying the file is damaged and what to do:\n%s", what, msg)
			}
			detected++
		case 0:
			// Harmless damage: nothing was sent, the file still reads whole.
		default:
			t.Fatalf("%s: exit %d\n%s\n%s", what, code, p.stdout.String(), p.stderr.String())
		}
	}
	t.Logf("%d damaged state files: %d reported as damaged, %d harmless; no crash, no message sent twice", seeds, detected, seeds-detected)
	if detected < seeds/2 {
		t.Errorf("only %d of %d damaged files were reported: the damage mostly missed what gcbatch reads, so the test proves little", detected, seeds)
	}
}

// TestSafetyEmptiedStateFile: a state file cut to nothing is damage, not a new file; taking it
// as new would send every message again.
func TestSafetyEmptiedStateFile(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	args, _ := messagesImport(t, e, 50)
	for _, size := range []int{0, 100, 4096, 9000} {
		b, err := os.ReadFile(e.path("state.db"))
		if err != nil {
			t.Fatal(err)
		}
		backup := e.write("state.bak", string(b))
		if err := os.Truncate(e.path("state.db"), int64(size)); err != nil {
			t.Fatal(err)
		}
		sent := e.sim.Stats().MessagesSent
		code, out, errOut := e.gcbatch(t.Context(), args...)
		checkNoCrash(t, fmt.Sprintf("cut to %d bytes", size), out+errOut)
		if code != 2 || !strings.Contains(errOut, "damaged") || e.sim.Stats().MessagesSent != sent {
			t.Fatalf("state file cut to %d bytes: exit %d, %d messages sent; want exit 2, damage, nothing sent\n%s\n%s",
				size, code, e.sim.Stats().MessagesSent-sent, out, errOut)
		}
		if size == 0 && !strings.Contains(errOut, "empty") {
			t.Errorf("an emptied file is not called empty: %s", errOut)
		}
		if info, err := os.Stat(e.path("state.db")); err != nil || info.Size() != int64(size) {
			t.Fatalf("the damaged file was changed: %v %v", info, err)
		}
		if err := os.Rename(backup, e.path("state.db")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSafetyFlippedLedgerKeys flips one byte inside three ledger keys: the records' values are
// intact, so without a checksum over the key the three rows would look unsent ("ok 3, skipped
// 597") and three people would get the e-mail twice.
func TestSafetyFlippedLedgerKeys(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	args, valid := messagesImport(t, e, 600)
	b, err := os.ReadFile(e.path("state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{5, 300, 599} {
		k := valid[i].rowKey
		hash := k.Hash[:]
		at := bytes.Index(b, hash)
		if at < 0 {
			t.Fatalf("the key of line %d is not in the file", valid[i].line)
		}
		b[at+17] ^= 0x04
	}
	if err := os.WriteFile(e.path("state.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.start(append(e.commonArgs(), args...)...)
	code := p.code()
	checkNoCrash(t, "flipped keys", p.stderr.String())
	if code != 2 || !strings.Contains(p.stderr.String(), "damaged") || e.sim.Stats().MessagesSent != len(valid) {
		t.Fatalf("three flipped key bytes: exit %d, %d messages sent again; want exit 2, damage, nothing sent\n%s\n%s",
			code, e.sim.Stats().MessagesSent-len(valid), p.stdout.String(), p.stderr.String())
	}
	// runs list reads the same file: it says the same, and does not crash either.
	code, out, errOut := e.gcbatch(t.Context(), "runs", "list")
	checkNoCrash(t, "runs list", out+errOut)
	if code != 2 || !strings.Contains(errOut, "damaged") {
		t.Errorf("runs list on the damaged file: exit %d\n%s\n%s", code, out, errOut)
	}
}
