package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/exporter"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestServiceUserFieldNotADealField: the field list's context_type decides whose a field is,
// so a user mapping naming a deal's field is caught before anything is sent.
func TestServiceUserFieldNotADealField(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	in := e.write("c.csv", "E-mail,Трек\nann@example.ru,RA123\n")
	mp := e.write("c.yaml", "target: users\nfields:\n  user.email: E-mail\n  user.addfields.Трек-номер: Трек\n")
	code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, in)
	if code != 2 || !strings.Contains(errOut, `нет поля "Трек-номер" у пользователей`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if n := e.sim.Stats().Requests["/pl/api/users"]; n != 0 {
		t.Errorf("%d rows sent", n)
	}
	// The same name is a deal's field: a deals mapping passes.
	in = e.write("d.csv", "E-mail,Товар,Сумма,Трек\nann@example.ru,X,100,RA123\n")
	mp = e.write("d.yaml", "target: deals\nfields:\n  user.email: E-mail\n  deal.deal_number: {generate: row-hash}\n  deal.product_title: Товар\n  deal.deal_cost: {column: Сумма, transform: [money]}\n  deal.addfields.Трек-номер: Трек\n")
	if code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, in); code != 0 {
		t.Fatalf("deal field: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestServiceStartBoundedByWait: an export start whose answer hangs (gcsim holds it after
// starting the export) ends with --wait, exit 3, and is not sent again.
func TestServiceStartBoundedByWait(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 5, ExportDelay: -1, StartDelay: 35 * time.Second})
	code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01",
		"-o", e.path("u.csv"), "--wait", "300ms", "--call-grace", "300ms")...)
	if code != 3 || !strings.Contains(errOut, "no answer came within --wait") || !strings.Contains(errOut, "no second export") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if st := e.sim.Stats(); st.ExportStarts != 1 || st.Requests["/pl/api/account/users"] != 1 {
		t.Errorf("%d starts in %d requests, want 1 in 1", st.ExportStarts, st.Requests["/pl/api/account/users"])
	}
	if _, err := os.Stat(e.path("u.csv")); !os.IsNotExist(err) {
		t.Error("a file was written")
	}
	noKey(t, e.key, errOut)
}

// TestServiceUntrustedTLS: a certificate the system does not trust stops import and export at
// once (exit 3, saying why), with no per-row retries and nothing reaching the service.
func TestServiceUntrustedTLS(t *testing.T) {
	t.Parallel()
	sim := gcsim.New(gcsim.Config{Key: importTestKey, SeedUsers: 3, ExportDelay: -1})
	srv := httptest.NewTLSServer(http.StripPrefix("/acct", sim)) // its own certificate, in no pool
	t.Cleanup(srv.Close)
	e := &importEnv{t: t, sim: sim, base: srv.URL + "/acct", key: importTestKey, dir: t.TempDir()}

	in := e.write("orders.csv", dealsFile(12))
	mp := e.write("orders.yaml", dealsNoNumber)
	code, out, errOut := e.gcbatch(t.Context(), "import", "--mapping", mp, "--rate", "100/s", in)
	if code != 3 || !strings.Contains(out+errOut, "TLS certificate") || !strings.Contains(out+errOut, "unknown authority") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if run := e.lastRun(); run.Counts.Failed != 0 || run.Counts.InDoubt != 0 || run.Counts.OK != 0 {
		t.Errorf("import counts %+v, want nothing failed, in doubt or sent", run.Counts)
	}
	code, _, errOut = e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("u.csv"))...)
	if code != 3 || !strings.Contains(errOut, "unknown authority") {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	if n := totalRequests(sim.Stats()); n != 0 {
		t.Errorf("%d requests reached the service through an untrusted certificate", n)
	}
	assertNoKey(t, e.dir, e.key, out, errOut)
}

// TestServiceColumnsKeepTheExport: a --columns name the export lacks is found once the export
// is built; the message lists the real columns and says the corrected command collects the
// same export, which it then does without a new start.
func TestServiceColumnsKeepTheExport(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 8, ExportDelay: -1})
	args := exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("u.csv"))
	code, _, errOut := e.gcbatch(t.Context(), append(args, "--columns", "Emial,Имя")...)
	if code != 2 || !strings.Contains(errOut, `no column "Emial"`) || !strings.Contains(errOut, `"Email"`) ||
		!strings.Contains(errOut, "stays recorded") || !strings.Contains(errOut, "without starting a new export") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = e.gcbatch(t.Context(), append(args, "--columns", "Email,Имя")...)
	if code != 0 || !strings.Contains(errOut, "started by an earlier run") {
		t.Fatalf("corrected: exit %d: %s", code, errOut)
	}
	if st := e.sim.Stats(); st.ExportStarts != 1 {
		t.Errorf("%d starts, want 1", st.ExportStarts)
	}
	if recs := readCSVFile(t, e.path("u.csv"), ','); len(recs) != 9 || len(recs[0]) != 2 {
		t.Errorf("%d lines of %d columns", len(recs), len(recs[0]))
	}
}

// TestServiceStalePartRemoved: a temporary file left by a killed download of the same target
// is removed by the next export (at once when its writer's process is gone, else after an
// hour untouched); a fresh one of a live writer is left alone.
func TestServiceStalePartRemoved(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 3, ExportDelay: -1})
	// A process that has ended: the test binary run to do nothing.
	dead := exec.Command(os.Args[0], "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale, fresh := e.path(".u.csv.111.part"), e.path(fmt.Sprintf(".u.csv.%d-1.part", os.Getpid()))
	killed := e.path(fmt.Sprintf(".u.csv.%d-2.part", dead.Process.Pid))
	for _, p := range []string{stale, fresh, killed} {
		if err := os.WriteFile(p, []byte("id,Email\n1,"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("u.csv"))...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	left, _ := filepath.Glob(e.path(".u.csv.*.part"))
	if len(left) != 1 || left[0] != fresh {
		t.Errorf("temporary files left: %v, want only the fresh one", left)
	}
}

// TestServiceExportExitCodes: an answer nobody recognises, after calls were made, is "stopped
// early" (3), not "nothing was sent" (2); a vanished export is 1 for fetch, 3 for a run that
// already started afresh once; an ambiguous start is 3.
func TestServiceExportExitCodes(t *testing.T) {
	t.Parallel()
	unknown := &getcourse.APIError{Kind: getcourse.KindUnknown, Method: "GET", Path: "/pl/api/account/exports/5", Message: "Что-то новое"}
	gone := &exporter.GoneError{ExportID: 5, Err: &getcourse.APIError{Kind: getcourse.KindExportGone}}
	for _, tc := range []struct {
		name  string
		err   error
		res   *exporter.Result
		fetch bool
		want  int
	}{
		{"unrecognised answer", unknown, &exporter.Result{ExportID: 5}, false, 3},
		{"unrecognised answer to a fetch", unknown, &exporter.Result{ExportID: 5}, true, 3},
		{"a local failure before any call", errors.New("state: boom"), nil, false, 2},
		{"gone on fetch", gone, &exporter.Result{ExportID: 5}, true, 1},
		{"gone twice on a run", gone, &exporter.Result{ExportID: 5}, false, 3},
		{"ambiguous start", &exporter.StartInDoubtError{Err: unknown}, &exporter.Result{}, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(exportExit(context.Background(), tc.err, tc.res, tc.fetch)); got != tc.want {
				t.Errorf("exit %d, want %d", got, tc.want)
			}
		})
	}
}
