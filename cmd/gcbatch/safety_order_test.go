package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestSafetyOrderAcrossReruns: a CRM export lists each person twice, an older row and then a
// newer one (refresh_if_exists). Against a service that answers most calls with 500, the
// first run leaves some rows failed; some are older rows whose newer row was confirmed. The
// rerun (faults off) sends the failed older rows, and must send each such person's newer row
// again after it: every person ends with the values of their last row, as if the file had
// been applied in order. A third run finds nothing to send.
func TestSafetyOrderAcrossReruns(t *testing.T) {
	t.Parallel()
	const people = 300
	e := newImportEnv(t, gcsim.Config{Faults: gcsim.Faults{Err500: 0.55}, Seed: 18})
	var b strings.Builder
	b.WriteString("E-mail;Имя\n")
	for i := range people {
		fmt.Fprintf(&b, "person%d@example.com;Старое %d\n", i, i)
		email := fmt.Sprintf("person%d@example.com", i)
		if i%3 == 0 {
			email = fmt.Sprintf("Person%d@Example.COM", i) // the same person, as another export writes them
		}
		fmt.Fprintf(&b, "%s;Новое %d\n", email, i)
	}
	in := e.write("people.csv", b.String())
	mp := e.write("people.yaml", `target: users
fields:
  user.email: {column: E-mail, transform: [trim, email]}
  user.first_name: Имя
  system.refresh_if_exists: {value: 1}
`)
	args := []string{"import", "--mapping", mp, "--rate", "2000/s", "--concurrency", "64", "--no-preflight", in}

	code, out, errOut := e.gcbatch(t.Context(), args...)
	if code != 1 {
		t.Fatalf("first run (55%% faults): exit %d, want 1 (some rows failed)\n%s\n%s", code, out, errOut)
	}
	first := e.lastRun()
	if first.Counts.Failed == 0 {
		t.Fatalf("no row failed in the first run; the test proves nothing\n%s", out)
	}
	// Which people the first run left with the older values: the case at stake.
	rolledBack := 0
	_, byLine := results(t, first)
	for i := range people {
		if byLine[fmt.Sprint(2+2*i)] == "failed" && byLine[fmt.Sprint(3+2*i)] == "ok" {
			rolledBack++
		}
	}
	if rolledBack == 0 {
		t.Fatalf("no person had a failed older row and a confirmed newer one; the test proves nothing")
	}

	e.sim.SetFaults(gcsim.Faults{})
	code, out, errOut = e.gcbatch(t.Context(), args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	users := e.sim.Users()
	byEmail := map[string]string{}
	for _, u := range users {
		byEmail[strings.ToLower(u.Email)] = u.FirstName
	}
	for i := range people {
		if got, want := byEmail[fmt.Sprintf("person%d@example.com", i)], fmt.Sprintf("Новое %d", i); got != want {
			t.Errorf("person %d ends with %q, want the last row's %q", i, got, want)
		}
	}
	second := e.lastRun()
	if second.Counts.OK != first.Counts.Failed+rolledBack {
		t.Errorf("the rerun sent %d rows, want the %d failed ones and the %d newer rows they overtook",
			second.Counts.OK, first.Counts.Failed, rolledBack)
	}

	before := totalRequests(e.sim.Stats())
	code, out, _ = e.gcbatch(t.Context(), args...)
	if code != 0 || totalRequests(e.sim.Stats()) != before {
		t.Fatalf("third run: exit %d, %d requests; want nothing sent\n%s", code, totalRequests(e.sim.Stats())-before, out)
	}
	t.Logf("first run: %d failed, %d people left with older values; the rerun restored them", first.Counts.Failed, rolledBack)
}
