package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/mappings"
)

// TestImportSamples imports every sample into a fresh simulated account and checks that the
// account then holds exactly what the sample's valid rows say: no row lost, none doubled.
func TestImportSamples(t *testing.T) {
	for _, smp := range samplePairs(t) {
		y, in := smp.mapping, smp.input
		t.Run(smp.name, func(t *testing.T) {
			t.Parallel()
			// Seeded users give users/update (target groups) real ids to work on.
			e := newImportEnv(t, gcsim.Config{SeedUsers: 50})
			m, valid, invalid := mappedRows(t, y, in, e.account())
			if len(valid) == 0 {
				t.Fatal("the sample has no valid rows")
			}
			args := []string{"import", "--mapping", y, "--rate", "500/s", "--log", e.path("import.log")}
			if m.Target == mappings.TargetGroups {
				args = append(args, "--yes")
			}
			code, out, errOut := e.gcbatch(t.Context(), append(args, in)...)
			want := 0
			if invalid > 0 {
				want = 1
			}
			if code != want {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, want, out, errOut)
			}
			run := e.lastRun()
			if run.Counts.OK != len(valid) || run.Counts.Rejected != invalid || run.Counts.Failed != 0 {
				t.Fatalf("counts %+v; want ok %d rejected %d", run.Counts, len(valid), invalid)
			}
			for i, rec := range e.lookup(valid) {
				if rec.State.String() != "ok" {
					t.Fatalf("line %d: ledger state %v", valid[i].line, rec.State)
				}
			}
			checkSimHolds(t, e.sim.Stats(), m.Target, valid)
			assertNoKey(t, e.dir, e.key, out, errOut)
		})
	}
}

// checkSimHolds compares what the simulator applied with the valid rows of a sample.
func checkSimHolds(t *testing.T, st gcsim.Stats, target mappings.Target, valid []mappedRow) {
	t.Helper()
	var p struct {
		User struct {
			Email string `json:"email"`
		} `json:"user"`
		Deal struct {
			Number string `json:"deal_number"`
		} `json:"deal"`
	}
	wantEmails := map[string]int{}
	wantDeals := map[string]int{}
	for _, r := range valid {
		p.User.Email, p.Deal.Number = "", ""
		if err := json.Unmarshal(r.json, &p); err != nil {
			t.Fatal(err)
		}
		if p.User.Email != "" {
			wantEmails[strings.ToLower(p.User.Email)]++
		}
		if p.Deal.Number != "" {
			wantDeals[p.Deal.Number]++
		}
	}
	switch target {
	case mappings.TargetUsers:
		if fmt.Sprint(st.AddsByEmail) != fmt.Sprint(wantEmails) {
			t.Fatalf("gcsim adds by e-mail %v\nwant %v", st.AddsByEmail, wantEmails)
		}
		if st.UsersCreated+st.UsersUpdated != len(valid) {
			t.Fatalf("gcsim created %d and updated %d users for %d valid rows", st.UsersCreated, st.UsersUpdated, len(valid))
		}
	case mappings.TargetDeals:
		if fmt.Sprint(st.DealsByNumber) != fmt.Sprint(wantDeals) {
			t.Fatalf("gcsim deals by number %v\nwant %v", st.DealsByNumber, wantDeals)
		}
		if st.DealsCreated != len(wantDeals) {
			t.Fatalf("gcsim created %d deals, want %d", st.DealsCreated, len(wantDeals))
		}
	case mappings.TargetMessages:
		if st.MessagesSent != len(valid) {
			t.Fatalf("gcsim sent %d messages, want %d", st.MessagesSent, len(valid))
		}
	case mappings.TargetGroups:
		if st.GroupsUpdated != len(valid) {
			t.Fatalf("gcsim updated the groups of %d users, want %d", st.GroupsUpdated, len(valid))
		}
	}
}

// TestImportDryRunAndGroupsConfirm: --dry-run sends nothing; target groups needs --yes.
func TestImportDryRunAndGroupsConfirm(t *testing.T) {
	e := newImportEnv(t, gcsim.Config{SeedUsers: 20})
	samples := filepath.Join("..", "..", "samples")
	code, out, errOut := e.gcbatch(t.Context(), "import", "--dry-run", "--mapping", filepath.Join(samples, "contacts.yaml"), filepath.Join(samples, "contacts.csv"))
	if code != 1 || len(e.sim.Stats().Requests) != 0 {
		t.Fatalf("dry run: exit %d, requests %v\n%s%s", code, e.sim.Stats().Requests, out, errOut)
	}
	code, _, errOut = e.gcbatch(t.Context(), "import", "--mapping", filepath.Join(samples, "groups.yaml"), filepath.Join(samples, "groups.csv"))
	if code != 2 || !strings.Contains(errOut, "--yes") || !strings.Contains(errOut, "REPLACES") || len(e.sim.Stats().Requests) != 0 {
		t.Fatalf("groups without --yes: exit %d, stderr %q", code, errOut)
	}
	for _, bad := range [][]string{
		{"import", filepath.Join(samples, "contacts.csv")},
		{"import", "--mapping", filepath.Join(samples, "contacts.yaml"), "--rate", "fast", filepath.Join(samples, "contacts.csv")},
		{"import", "--mapping", filepath.Join(samples, "contacts.yaml"), "--concurrency", "0", filepath.Join(samples, "contacts.csv")},
		{"import", "--mapping", filepath.Join(samples, "contacts.yaml"), e.path("missing.csv")},
	} {
		if code, _, _ := e.gcbatch(t.Context(), bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	if _, err := os.Stat(e.path("state.db")); err == nil {
		t.Error("a usage error created the state file")
	}
}

// sample is one of the samples: a mapping and the CSV file it is written for.
type sample struct{ name, mapping, input string }

// samplePairs lists the samples (samples/NAME.yaml with samples/NAME.csv).
func samplePairs(t *testing.T) []sample {
	t.Helper()
	yamls, err := filepath.Glob(filepath.Join(samplesDir, "*.yaml"))
	if err != nil || len(yamls) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	out := make([]sample, len(yamls))
	for i, y := range yamls {
		base := strings.TrimSuffix(y, ".yaml")
		out[i] = sample{name: filepath.Base(base), mapping: y, input: base + ".csv"}
		if _, err := os.Stat(base + ".xlsx"); err == nil {
			out[i].input = base + ".xlsx"
		}
	}
	return out
}
