//go:build unix

package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// TestServiceOutputNotRegular: -o never replaces what is not a regular file. A symbolic link
// and a FIFO (standing in for a device such as /dev/null, which a test cannot create without
// root) are refused before any call, and stay what they were; the link's file is untouched.
func TestServiceOutputNotRegular(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 3, ExportDelay: -1})
	real := e.write("real.csv", "keep me\n")
	link := e.path("link.csv")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	fifo := e.path("pipe.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target, want string
		mode         os.FileMode
	}{
		{link, "symbolic link", os.ModeSymlink},
		{fifo, "named pipe", os.ModeNamedPipe},
		{"/dev/null", "character device", os.ModeCharDevice},
	} {
		code, _, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", tc.target)...)
		if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "-o -") {
			t.Errorf("-o %s: exit %d: %s", tc.target, code, errOut)
		}
		st, err := os.Lstat(tc.target)
		if err != nil || st.Mode()&tc.mode == 0 {
			t.Errorf("%s changed: %v %v", tc.target, st.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(real); string(b) != "keep me\n" {
		t.Errorf("the link's file changed: %q", b)
	}
	if n := totalRequests(e.sim.Stats()); n != 0 {
		t.Errorf("refused targets cost %d calls", n)
	}
	// -o - writes through standard output, to be redirected anywhere.
	code, stdout, errOut := e.gcbatch(t.Context(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", "-")...)
	if code != 0 || !strings.HasPrefix(stdout, "id,Email") {
		t.Errorf("-o -: exit %d: %s", code, errOut)
	}
}

// slowTail sends the first 16 KiB of an answer at once and the rest in small pieces with
// pauses: a large export arriving over a slow link, so that a download can be killed midway.
type slowTail struct {
	http.ResponseWriter
	n int
}

func (w *slowTail) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		k := len(p)
		if w.n >= 16<<10 {
			k = min(k, 4<<10)
			w.ResponseWriter.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		m, err := w.ResponseWriter.Write(p[:k])
		w.n, done = w.n+m, done+m
		if err != nil {
			return done, err
		}
		p = p[k:]
	}
	return done, nil
}

// TestServiceKilledDownloadLeavesNoPart: gcbatch killed (SIGKILL) while it writes a download
// leaves its temporary file; the same command removes it, collects the same export and
// leaves only the finished file.
func TestServiceKilledDownloadLeavesNoPart(t *testing.T) {
	t.Parallel()
	sim := gcsim.New(gcsim.Config{Key: importTestKey, SeedUsers: 1500, ExportDelay: -1})
	srv := httptest.NewServer(http.StripPrefix("/acct", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/exports/") {
			w = &slowTail{ResponseWriter: w}
		}
		sim.ServeHTTP(w, r)
	})))
	t.Cleanup(srv.Close)
	e := &importEnv{t: t, sim: sim, base: srv.URL + "/acct", key: importTestKey, dir: t.TempDir()}
	args := append(e.commonArgs(), exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("u.csv"))...)
	p := e.start(args...)
	parts := func() []string {
		m, _ := filepath.Glob(e.path(".u.csv.*.part"))
		return m
	}
	if !waitFor(t, p, func() bool { return len(parts()) > 0 }) || p.exited() {
		t.Fatalf("no download to kill (exit %d): %s", p.code(), p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if c := p.code(); c != -1 {
		t.Fatalf("exit %d after SIGKILL", c)
	}
	if len(parts()) == 0 {
		t.Fatal("the killed download left no temporary file to clean")
	}
	p2 := e.start(args...)
	if c := p2.code(); c != 0 {
		t.Fatalf("rerun: exit %d: %s", c, p2.stderr.String())
	}
	if left := parts(); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if recs := readCSVFile(t, e.path("u.csv"), ','); len(recs) != 1501 {
		t.Errorf("%d lines, want 1501", len(recs))
	}
	if st := sim.Stats(); st.ExportStarts != 1 {
		t.Errorf("%d starts, want 1", st.ExportStarts)
	}
}
