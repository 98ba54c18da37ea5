package importer

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestRowsOfOnePersonLandInFileOrder imports a CRM export that lists each person five times
// with a changing first name, into a simulator that applies concurrent calls in any order
// (ApplyJitter). Every person must end with the name of their last row, while the rows of
// different people still go out concurrently.
func TestRowsOfOnePersonLandInFileOrder(t *testing.T) {
	t.Parallel()
	const people, versions = 12, 5
	e := newEnv(t, gcsim.Config{ApplyJitter: 15 * time.Millisecond, Seed: 7})
	in := e.file("twice.csv", func(w io.Writer) error {
		fmt.Fprintln(w, "email,name")
		for v := range versions {
			for p := range people {
				// Upper case in some rows: the same address, written differently.
				email := fmt.Sprintf("person%d@example.com", p)
				if v%2 == 1 {
					email = strings.ToUpper(email)
				}
				fmt.Fprintf(w, "%s,v%d\n", email, v)
			}
		}
		return nil
	})
	m := e.mapping("m.yaml", `target: users
fields:
  user.email: email
  user.first_name: name
  system.refresh_if_exists: {value: 1}
`)
	o := e.options(in, m)
	o.Concurrency = 16
	s := e.run(t.Context(), o)
	if s.Counts.OK != people*versions {
		t.Fatalf("counts %+v, want %d ok", s.Counts, people*versions)
	}
	users := e.sim.Users()
	if len(users) != people {
		t.Fatalf("%d users in the simulator, want %d", len(users), people)
	}
	for _, u := range users {
		if want := fmt.Sprintf("v%d", versions-1); u.FirstName != want {
			t.Errorf("%s: first name %q, want %q (the file's last row for them)", u.Email, u.FirstName, want)
		}
	}
}

// TestParkedRowsCountTowardsMaxRows: rows parked behind an earlier row of their person still
// count as sent for --max-rows, and a rerun sends exactly the rest, in order.
func TestParkedRowsCountTowardsMaxRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, gcsim.Config{ApplyJitter: 5 * time.Millisecond, Seed: 3})
	in := e.file("dups.csv", func(w io.Writer) error {
		fmt.Fprintln(w, "email,name")
		for v := range 4 {
			for p := range 5 {
				fmt.Fprintf(w, "p%d@example.com,v%d\n", p, v)
			}
		}
		return nil
	})
	m := e.mapping("m.yaml", "target: users\nfields:\n  user.email: email\n  user.first_name: name\n  system.refresh_if_exists: {value: 1}\n")
	o := e.options(in, m)
	o.Concurrency, o.MaxRows = 8, 7
	s := e.run(t.Context(), o)
	if n := e.sim.Stats().Requests["/pl/api/users"]; s.Counts.Sent != 7 || n != 7 || s.Left != 13 {
		t.Fatalf("first run: %+v, %d requests, left %d; want 7 sent, 13 left", s.Counts, n, s.Left)
	}
	s = e.run(t.Context(), e.options(in, m))
	if n := e.sim.Stats().Requests["/pl/api/users"]; s.Counts.Sent != 13 || s.Counts.Skipped != 7 || n != 20 {
		t.Fatalf("rerun: %+v, %d requests in all; want 13 sent, 7 skipped", s.Counts, n)
	}
	for _, u := range e.sim.Users() {
		if u.FirstName != "v3" {
			t.Errorf("%s: first name %q, want v3", u.Email, u.FirstName)
		}
	}
}

// TestKeyGate checks the gate on its own: a second row of a key waits for the first, rows
// of other keys and rows without a key go at once, and the parked row comes back in order.
func TestKeyGate(t *testing.T) {
	t.Parallel()
	g := newKeyGate()
	a1, a2, a3, b, none := &job{key: "a@x.ru"}, &job{key: "A@X.RU"}, &job{key: "a@x.ru"}, &job{key: "b@x.ru"}, &job{}
	for _, tc := range []struct {
		j    *job
		goes bool
	}{{a1, true}, {a2, false}, {b, true}, {a3, false}, {none, true}} {
		goNow, ok := g.enter(t.Context(), tc.j)
		if !ok || goNow != tc.goes {
			t.Fatalf("enter(%q) = %v, %v; want %v", tc.j.key, goNow, ok, tc.goes)
		}
	}
	if next := g.leave(a1); next != a2 {
		t.Fatalf("after a1: %v, want a2", next)
	}
	if next := g.leave(b); next != nil {
		t.Fatalf("after b: %v, want nothing", next)
	}
	if next := g.leave(a2); next != a3 {
		t.Fatalf("after a2: %v, want a3", next)
	}
	if next := g.leave(a3); next != nil {
		t.Fatalf("after a3: %v, want nothing", next)
	}
	if goNow, ok := g.enter(t.Context(), &job{key: "a@x.ru"}); !goNow || !ok {
		t.Fatal("a key with nothing in flight must go at once")
	}
	if len(g.slots) != 0 {
		t.Fatalf("%d parking slots still taken", len(g.slots))
	}
}
