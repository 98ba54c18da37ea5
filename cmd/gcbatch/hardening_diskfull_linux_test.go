//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// mountTmpfs mounts a tmpfs of the given size at dir (the tests run as root) and returns a
// function that changes its size.
func mountTmpfs(t *testing.T, dir, size string) (resize func(size string)) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("mounting a tmpfs needs root (CI runs as root): %v", err)
		}
		t.Fatalf("mounting a %s tmpfs at %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return func(size string) {
		t.Helper()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size="+size+",mode=0700"); err != nil {
			t.Fatalf("resizing the tmpfs: %v", err)
		}
	}
}

// TestHardeningDiskFull runs imports whose disk fills up mid-run: first only the reports'
// (a reports file starts failing to write), then the one holding the state file too. The run
// stops with a clear error and exit 3; once there is room again the same command resumes and
// completes, every row confirmed, none lost.
func TestHardeningDiskFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, size  string
		stateOnDisk bool // the state file lives on the small disk too
		rows        int
		// resendBound is how many rows may be sent twice (confirmed but not committed when the
		// state file could no longer be written).
		resendBound int
	}{
		{name: "reports", size: "64k", rows: 3000},
		// In flight (8), plus two commit intervals at 2,000 rows/s: the one whose commit
		// failed and the one gathered while it failed.
		{name: "state and reports", size: "320k", stateOnDisk: true, rows: 6000, resendBound: 8 + int(2*2000*checkpoint.DefaultCommitDelay.Seconds())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newImportEnv(t, gcsim.Config{})
			in, mp, valid := usersFile(t, e, "full", tc.rows)
			disk := e.path("disk")
			if err := os.Mkdir(disk, 0o700); err != nil {
				t.Fatal(err)
			}
			resize := mountTmpfs(t, disk, tc.size)
			state := e.path("state.db")
			if tc.stateOnDisk {
				state = filepath.Join(disk, "state.db")
			}
			args := []string{"--state", state, "--reports", filepath.Join(disk, "reports"), "--progress", "never",
				"import", "--mapping", mp, "--rate", "2000/s", "--concurrency", "8", in}
			g := newGlobals()
			var out, errb strings.Builder
			g.Stdout, g.Stderr = &out, &errb
			g.Getenv = func(name string) string {
				return map[string]string{"GETCOURSE_API_KEY": e.key, "GETCOURSE_BASE_URL": e.base}[name]
			}
			code := execute(t.Context(), g, args)
			g.close()
			text := out.String() + errb.String()
			if code != 3 || !strings.Contains(text, "could not be written") || !strings.Contains(text, "no space left on device") {
				t.Fatalf("a full disk: exit %d, want 3 and a clear error\n%s", code, text)
			}
			t.Logf("the full disk run said:\n%s", text)
			if !strings.Contains(text, "resume    gcbatch ") {
				t.Errorf("no resume command:\n%s", text)
			}
			sentBefore := e.sim.Stats().Requests["/pl/api/users"]
			if sentBefore == 0 || sentBefore >= tc.rows {
				t.Fatalf("%d of %d rows were sent before the disk filled: not mid-run", sentBefore, tc.rows)
			}

			resize("16m")
			g = newGlobals()
			out.Reset()
			errb.Reset()
			g.Stdout, g.Stderr = &out, &errb
			g.Getenv = func(name string) string {
				return map[string]string{"GETCOURSE_API_KEY": e.key, "GETCOURSE_BASE_URL": e.base}[name]
			}
			code = execute(t.Context(), g, args)
			g.close()
			if code != 0 {
				t.Fatalf("after room was made: exit %d\n%s%s", code, out.String(), errb.String())
			}
			st, err := checkpoint.Open(state, checkpoint.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			keys := make([]checkpoint.RowKey, len(valid))
			for i, r := range valid {
				keys[i] = r.rowKey
			}
			recs, err := st.LookupRows(keys)
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			stats := e.sim.Stats()
			resent := 0
			for i, rec := range recs {
				if rec.State != checkpoint.StateConfirmed {
					t.Fatalf("line %d: ledger state %v", valid[i].line, rec.State)
				}
				n := stats.AddsByEmail[emailIn(valid[i].json)]
				if n == 0 {
					t.Fatalf("line %d never reached the simulator", valid[i].line)
				}
				resent += n - 1
			}
			t.Logf("%d rows sent before the disk filled; %d sent again (bound %d)", sentBefore, resent, tc.resendBound)
			if resent > tc.resendBound {
				t.Errorf("%d rows sent twice, at most %d may be", resent, tc.resendBound)
			}
		})
	}
}

// TestHardeningExportDiskFull writes an export to a disk that fills up while the items stream
// in: the run stops with a clear error, leaves neither the output file nor a temporary one, and
// once there is room the rerun collects the same export instead of starting another.
func TestHardeningExportDiskFull(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 3000, ExportDelay: -1, Seed: 12})
	disk := e.path("disk")
	if err := os.Mkdir(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	resize := mountTmpfs(t, disk, "64k")
	out := filepath.Join(disk, "users.csv")
	args := exportArgs("export", "users", "--created-from", "2000-01-01", "-o", out)
	code, stdout, stderr := e.gcbatch(t.Context(), args...)
	if code != 3 || !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, "rerun the same command to collect it") {
		t.Fatalf("an export onto a full disk: exit %d, want 3 and a clear error\n%s%s", code, stdout, stderr)
	}
	if ents, _ := os.ReadDir(disk); len(ents) != 0 {
		t.Fatalf("files left on the full disk: %v", ents)
	}
	resize("16m")
	code, stdout2, stderr2 := e.gcbatch(t.Context(), args...)
	if code != 0 || !strings.Contains(stderr2, "earlier run") {
		t.Fatalf("rerun with room: exit %d\n%s", code, stderr2)
	}
	if st := e.sim.Stats(); st.ExportStarts != 1 {
		t.Errorf("%d exports started, want 1", st.ExportStarts)
	}
	if recs := readCSVFile(t, out, ','); len(recs) != 3001 {
		t.Errorf("%d lines, want 3001", len(recs))
	}
	assertNoKey(t, e.dir, e.key, stdout, stderr, stdout2, stderr2)
}
