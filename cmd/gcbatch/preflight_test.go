package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

var samplesDir = filepath.Join("..", "..", "samples")

// typoMapping writes a copy of the contacts sample's mapping with the Telegram field misspelled.
func typoMapping(t *testing.T, e *importEnv) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, "contacts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "user.addfields.Telegram:", "user.addfields.Telegramm:", 1)
	if s == string(b) {
		t.Fatal("the contacts sample no longer maps user.addfields.Telegram")
	}
	return e.write("typo.yaml", s)
}

func (e *importEnv) accountCalls() int {
	st := e.sim.Stats()
	return st.Requests["/pl/api/account/fields"] + st.Requests["/pl/api/account/groups"]
}

func (e *importEnv) runs() int { return len(e.allRuns()) }

// rowsApplied counts the users/add calls the simulator applied or refused as a row's own
// problem, minus the online check's key probes (a user without e-mail or phone, refused).
func (e *importEnv) rowsApplied() int {
	st := e.sim.Stats()
	n := 0
	for _, k := range st.AddsByEmail {
		n += k
	}
	return n + st.UsersCreated + st.UsersUpdated
}

// TestPreflightTypoField: a misspelled custom field stops validate --online and import with the
// nearest name, in Russian and English, and nothing is sent; --no-preflight sends anyway.
func TestPreflightTypoField(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	typo := typoMapping(t, e)
	in := filepath.Join(samplesDir, "contacts.csv")
	const ru = `нет поля "Telegramm" у пользователей; может быть "Telegram"?`
	const en = `no user custom field "Telegramm" in the account; did you mean "Telegram"?`

	code, out, errOut := e.gcbatch(t.Context(), "validate", "--online", "--mapping", typo, in)
	if code != 2 || !strings.Contains(out, ru) || !strings.Contains(out, en) {
		t.Fatalf("validate --online: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", typo, "--rate", "500/s", in)
	if code != 2 || !strings.Contains(errOut, ru) || !strings.Contains(errOut, "nothing was sent") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := e.rowsApplied(); n != 0 || e.runs() != 0 {
		t.Fatalf("the stopped import sent %d rows and recorded %d runs", n, e.runs())
	}
	if e.accountCalls() != 2 {
		t.Errorf("the simulator saw %d preflight calls for two commands within the cache's lifetime, want 2", e.accountCalls())
	}
	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", typo, "--rate", "500/s", "--no-preflight", in)
	if code != 1 || e.sim.Stats().Requests["/pl/api/users"] == 0 || strings.Contains(errOut, ru) {
		t.Fatalf("--no-preflight: exit %d\n%s\n%s", code, out, errOut)
	}
	assertNoKey(t, e.dir, e.key, out, errOut)
}

// TestPreflightNewGroups: a group the account lacks stops the import until --allow-new-groups;
// validate --online only warns.
func TestPreflightNewGroups(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	in := e.write("contacts.csv", "Email,Groups,Telegram\n"+
		"a@example.ru,\"Клиенты, Вебинар 12.03\",@a\n"+
		"b@example.ru,Вебинар 12.03,@b\n"+
		"c@example.ru,Тренинг SMN,@c\n")
	mp := e.write("contacts.yaml", "target: users\nfields:\n  user.email: Email\n  user.group_name: {column: Groups, split: \",\"}\n  user.addfields.Telegram: Telegram\n")

	code, out, errOut := e.gcbatch(t.Context(), "validate", "--online", "--mapping", mp, in)
	if code != 0 || !strings.Contains(out, `"Вебинар 12.03" (2 rows)`) || !strings.Contains(out, `"Тренинг SMN" (1 row): может быть "Тренинг SMM"? / did you mean "Тренинг SMM"?`) ||
		!strings.Contains(out, "--allow-new-groups") {
		t.Fatalf("validate --online: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "500/s", in)
	if code != 2 || !strings.Contains(errOut, "--allow-new-groups") || !strings.Contains(errOut, "2 groups the file adds are not in the account") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := e.rowsApplied(); n != 0 {
		t.Fatalf("the stopped import sent %d rows", n)
	}
	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "500/s", "--allow-new-groups", in)
	if code != 0 || e.sim.Stats().UsersCreated != 3 {
		t.Fatalf("--allow-new-groups: exit %d, %d users\n%s\n%s", code, e.sim.Stats().UsersCreated, out, errOut)
	}
	if e.accountCalls() != 2 {
		t.Errorf("%d preflight calls for three commands within the cache's lifetime, want 2", e.accountCalls())
	}
	// The import created the groups and the cached list was dropped: the next check fetches the
	// groups again and finds them.
	code, out, errOut = e.gcbatch(t.Context(), "validate", "--online", "--mapping", mp, in)
	if code != 0 || strings.Contains(out, "warning:") || !strings.Contains(out, "the account has the 1 custom field and 3 groups") {
		t.Fatalf("after the import: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestPreflightBudgetSpent: with the export budget spent the check is skipped with a note and
// the import goes ahead (the check is a convenience, not worth an account's last export calls).
func TestPreflightBudgetSpent(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	typo := typoMapping(t, e)
	st, err := checkpoint.Open(e.path("state.db"), checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Budget(e.account(), checkpoint.BudgetConfig{}).MarkSpent(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", typo, "--rate", "500/s", filepath.Join(samplesDir, "contacts.csv"))
	if code != 1 || !strings.Contains(errOut, "note: online check skipped") || e.accountCalls() != 0 || e.sim.Stats().UsersCreated == 0 {
		t.Fatalf("exit %d, %d preflight calls, %d users\n%s\n%s", code, e.accountCalls(), e.sim.Stats().UsersCreated, out, errOut)
	}
	code, out, errOut = e.gcbatch(t.Context(), "validate", "--online", "--mapping", typo, filepath.Join(samplesDir, "contacts.csv"))
	if code != 1 || !strings.Contains(out, "note: online check skipped") {
		t.Fatalf("validate --online: exit %d (want the offline verdict, 1)\n%s\n%s", code, out, errOut)
	}
}

// TestPreflightSamples: every sample passes the online check against the simulator's seeded
// fields and groups, so validate --online exits as plain validate does.
func TestPreflightSamples(t *testing.T) {
	t.Parallel()
	for _, smp := range samplePairs(t) {
		y, in := smp.mapping, smp.input
		t.Run(smp.name, func(t *testing.T) {
			t.Parallel()
			e := newImportEnv(t, gcsim.Config{})
			offline, _, _ := e.gcbatch(t.Context(), "validate", "--mapping", y, in)
			code, out, errOut := e.gcbatch(t.Context(), "validate", "--online", "--mapping", y, in)
			if code != offline || strings.Contains(out, "error:") || strings.Contains(out, "warning: ") && strings.Contains(out, "not in the account") ||
				strings.Contains(out, "skipped") {
				t.Fatalf("exit %d (offline %d)\n%s\n%s", code, offline, out, errOut)
			}
			if e.accountCalls() > 0 && !strings.Contains(out, "online check: the account has the") {
				t.Errorf("no confirmation line:\n%s", out)
			}
		})
	}
}

// TestPreflightAccountRefuses: validate --online and import with a key the account refuses
// both exit 3 with the explanation before any row is sent (validate before any export call).
func TestPreflightAccountRefuses(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	e.key = "a-key-the-account-does-not-know"
	code, out, errOut := e.gcbatch(t.Context(), "validate", "--online", "--mapping", filepath.Join(samplesDir, "contacts.yaml"), filepath.Join(samplesDir, "contacts.csv"))
	if code != 3 || !strings.Contains(errOut, "GetCourse refused the API key") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = e.gcbatch(t.Context(), "import", "--mapping", filepath.Join(samplesDir, "contacts.yaml"), filepath.Join(samplesDir, "contacts.csv"))
	if code != 3 || !strings.Contains(errOut, "GetCourse refused the API key") || e.rowsApplied() != 0 || e.runs() != 0 {
		t.Fatalf("import: exit %d, %d rows, %d runs\n%s\n%s", code, e.rowsApplied(), e.runs(), out, errOut)
	}
	assertNoKey(t, e.dir, e.key, out, errOut)
}
