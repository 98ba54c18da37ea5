package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// secretKey holds characters that URL escaping changes, so that the escaped forms a key takes
// in a query string or a form body are checked too.
const secretKey = "sk/Zq+9=7f3a9c2e5b1dXY"

// keyForms are the ways the key can show up in bytes: as is, and escaped for a query or a path
// with upper- or lower-case hex.
func keyForms(key string) [][]byte {
	var forms [][]byte
	for _, f := range []string{key, url.QueryEscape(key), url.PathEscape(key)} {
		forms = append(forms, []byte(f), bytes.ToLower([]byte(f)))
	}
	return forms
}

// grepKey fails for every output and every file under dir that holds any form of the key.
func grepKey(t *testing.T, dir, key string, outputs map[string]string) (files int) {
	t.Helper()
	forms := keyForms(key)
	check := func(what string, b []byte) {
		// Lower-case forms are compared against lower-cased bytes.
		low := bytes.ToLower(b)
		for i, f := range forms {
			hay := b
			if i%2 == 1 {
				hay = low
			}
			if bytes.Contains(hay, f) {
				t.Errorf("%s holds the key (as %q)", what, f)
				return
			}
		}
	}
	for name, o := range outputs {
		check(name, []byte(o))
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		check(p, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// echoKey answers every call with an authorisation error that quotes the key it was sent (raw
// and escaped), the request's URL and body, as a careless proxy or service might.
func echoKey(calls *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		r.ParseForm()
		k := r.Form.Get("key")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", r.URL.String())
		fmt.Fprintf(w, `{"success":false,"error":true,"error_code":901,"error_message":"Неверный ключ %s (%s) для %s"}`,
			k, url.QueryEscape(k), strings.ReplaceAll(r.URL.String(), `"`, ``))
	})
}

// closedURL is a loopback address nobody listens on: every call is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// TestHardeningKeyNeverWritten runs every command, in ways that succeed and ways that fail
// (refused connections, a service that echoes the key, usage errors), with --log in both
// formats, and greps every byte written: stdout, stderr, the log, the reports, the exports and
// the state file. The key comes from GETCOURSE_API_KEY or --key-file.
func TestHardeningKeyNeverWritten(t *testing.T) {
	t.Parallel()
	sim := gcsim.New(gcsim.Config{Key: secretKey, SeedUsers: 30, SeedDeals: 20, ExportDelay: -1, Seed: 4})
	simSrv := httptest.NewServer(http.StripPrefix("/acct", sim))
	t.Cleanup(simSrv.Close)
	var echoCalls atomic.Int32
	echoSrv := httptest.NewServer(echoKey(&echoCalls))
	t.Cleanup(echoSrv.Close)
	refused := closedURL(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(secretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	const csvText = "email,name\nann@example.com,Анна\nnot-an-email,Борис\n"
	type step struct {
		args []string // "@NAME" is a path in the test folder
		code int      // -1: any code
	}
	cases := []struct {
		name  string
		base  string // the account's URL: sim, echo or refused
		steps []step
	}{
		{"import, then runs", "sim", []step{
			{[]string{"import", "--mapping", "@m.yaml", "--rate", "500/s", "@in.csv"}, 1},
			{[]string{"import", "--mapping", "@m.yaml", "--rate", "500/s", "--resend", "@in.csv"}, 1},
			{[]string{"runs"}, 0}, {[]string{"runs", "list"}, 0}, {[]string{"runs", "show", "@lastrun"}, 0},
			{[]string{"runs", "show", "nope"}, 2}}},
		{"import --dry-run and validate", "sim", []step{
			{[]string{"import", "--mapping", "@m.yaml", "--dry-run", "@in.csv"}, 1},
			{[]string{"validate", "--mapping", "@m.yaml", "--show", "2", "@in.csv"}, 1}}},
		{"import, connection refused", "refused", []step{
			{[]string{"import", "--mapping", "@m.yaml", "@in.csv"}, 1}}},
		{"import, the service echoes the key", "echo", []step{
			{[]string{"import", "--mapping", "@m.yaml", "@in.csv"}, 3}}},
		{"mapping init", "sim", []step{
			{[]string{"mapping", "init", "--target", "users", "@in.csv"}, 0},
			{[]string{"mapping", "init", "--target", "deals", "-o", "@deals.yaml", "@in.csv"}, 0}}},
		{"export", "sim", []step{
			{exportArgs("export", "users", "--created-from", "2000-01-01", "-o", "@users.csv"), 0},
			{exportArgs("export", "deals", "--created-from", "2000-01-01", "--format", "jsonl", "-o", "-"), 0},
			{exportArgs("export", "fetch", "424242", "-o", "@none.csv"), 1},
			{exportArgs("export", "users", "-o", "@x.csv"), 2}}},
		{"export, connection refused", "refused", []step{
			{exportArgs("export", "users", "--created-from", "2000-01-01", "-o", "@users.csv"), 3}}},
		{"export fetch, connection refused", "refused", []step{
			{exportArgs("export", "fetch", "77", "-o", "@u.csv"), 3}}},
		{"export, the service echoes the key", "echo", []step{
			{exportArgs("export", "payments", "--created-from", "2000-01-01", "-o", "@p.csv"), 3},
			{exportArgs("export", "fetch", "5", "-o", "@p.csv"), 3}}},
		{"groups", "sim", []step{
			{[]string{"groups"}, 0}, {[]string{"groups", "--format", "json"}, 0}, {[]string{"groups", "--format", "xml"}, 2}}},
		{"groups, connection refused", "refused", []step{{[]string{"groups"}, 3}}},
		{"groups, the service echoes the key", "echo", []step{{[]string{"groups", "--format", "table"}, 3}}},
		{"help", "sim", []step{
			{[]string{"--help"}, 0}, {[]string{"help"}, 0}, {[]string{"import", "--help"}, 0}, {[]string{"validate", "--help"}, 0},
			{[]string{"mapping", "--help"}, 0}, {[]string{"mapping", "init", "--help"}, 0}, {[]string{"export", "--help"}, 0},
			{[]string{"export", "fetch", "--help"}, 0}, {[]string{"groups", "--help"}, 0}, {[]string{"runs", "--help"}, 0},
			{[]string{"runs", "show", "--help"}, 0}, {[]string{"sim", "--help"}, 0}, {[]string{"demo", "--help"}, 0},
			{[]string{"frobnicate"}, -1}, {[]string{"import", "--no-such-flag"}, 2}}},
	}
	t.Cleanup(func() {
		if echoCalls.Load() == 0 || totalRequests(sim.Stats()) == 0 {
			t.Errorf("the key reached the services %d and %d times: the cases did not call them", echoCalls.Load(), totalRequests(sim.Stats()))
		}
	})
	// The subtests run side by side from goroutines rather than as parallel subtests: the
	// refused calls spend seconds in backoff waits, and -parallel (GOMAXPROCS by default)
	// would queue them. Each goroutine ends when its subtest does; wg waits for all.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, tc := range cases {
		for _, format := range []string{"text", "json"} {
			for _, source := range []string{"env", "key-file"} {
				if source == "key-file" && format == "json" {
					continue // the key's source does not change what is logged; one run suffices
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					t.Run(tc.name+"/"+format+"/"+source, func(t *testing.T) {
						dir := t.TempDir()
						os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(hardeningUsers), 0o600)
						os.WriteFile(filepath.Join(dir, "in.csv"), []byte(csvText), 0o600)
						base := map[string]string{"sim": simSrv.URL + "/acct", "echo": echoSrv.URL, "refused": refused}[tc.base]
						outputs := map[string]string{}
						lastRun := ""
						for i, s := range tc.steps {
							g := newGlobals()
							var out, errb bytes.Buffer
							g.Stdout, g.Stderr = &out, &errb
							g.Getenv = func(name string) string {
								switch {
								case name == "GETCOURSE_API_KEY" && source == "env":
									return secretKey
								case name == "GETCOURSE_BASE_URL":
									return base
								}
								return ""
							}
							g.WorkDir = dir
							args := []string{"--state", filepath.Join(dir, "state.db"), "--reports", filepath.Join(dir, "reports"),
								"--progress", "never", "--log", filepath.Join(dir, "gcbatch.log"), "--log-format", format}
							if source == "key-file" {
								args = append(args, "--key-file", keyFile)
							}
							for _, a := range s.args {
								switch {
								case a == "@lastrun":
									a = lastRun
								case strings.HasPrefix(a, "@"):
									a = filepath.Join(dir, a[1:])
								}
								args = append(args, a)
							}
							code := execute(t.Context(), g, args)
							g.close()
							if s.code >= 0 && code != s.code {
								t.Errorf("%v: exit %d, want %d\n%s%s", s.args, code, s.code, out.String(), errb.String())
							}
							outputs[fmt.Sprintf("step %d (%s) stdout", i, s.args[0])] = out.String()
							outputs[fmt.Sprintf("step %d (%s) stderr", i, s.args[0])] = errb.String()
							if s.args[0] == "import" && code < 2 && !slices.Contains(s.args, "--dry-run") && !slices.Contains(s.args, "--help") {
								e := &importEnv{t: t, dir: dir}
								lastRun = e.lastRun().ID
							}
						}
						if tc.base == "echo" {
							// The echoed key must have reached gcbatch's messages, redacted, or
							// this case proves nothing about redaction.
							echoed := false
							for _, o := range outputs {
								echoed = echoed || strings.Contains(o, "Неверный ключ [key]")
							}
							if !echoed {
								t.Errorf("no output quotes the service's message with the key redacted: %v", outputs)
							}
						}
						if files := grepKey(t, dir, secretKey, outputs); files < 3 {
							t.Errorf("only %d files were written to check", files)
						}
					})
				}()
			}
		}
	}
}

// TestHardeningFileModes checks that what gcbatch writes (state, reports, exports, logs) is
// readable by the owner alone, folders included, even where the file existed before with a
// wider mode.
func TestHardeningFileModes(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{SeedUsers: 10, ExportDelay: -1})
	in := e.write("in.csv", "email,name\nann@example.com,Анна\nnot-an-email,Борис\n")
	mp := e.write("m.yaml", hardeningUsers)
	state := e.path("private", "deep", "state.db")
	reports := e.path("reports", "nested")
	if err := os.WriteFile(e.path("users.csv"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--state", state, "--reports", reports, "--log", e.path("logs.txt"), "--progress", "never"}
	for _, args := range [][]string{
		{"import", "--mapping", mp, "--rate", "500/s", in},
		{"validate", "--mapping", mp, in},
		exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("users.csv")),
		exportArgs("export", "users", "--created-from", "2000-01-01", "--format", "jsonl", "-o", e.path("users.jsonl")),
	} {
		g := newGlobals()
		var out, errb bytes.Buffer
		g.Stdout, g.Stderr = &out, &errb
		g.Getenv = func(name string) string {
			return map[string]string{"GETCOURSE_API_KEY": e.key, "GETCOURSE_BASE_URL": e.base}[name]
		}
		code := execute(t.Context(), g, append(append([]string{}, common...), args...))
		g.close()
		if code > 1 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
	}
	checked := map[string]bool{}
	want := func(p string, mode fs.FileMode) {
		t.Helper()
		info, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			return
		}
		checked[p] = true
		if got := info.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %v, want %v", p, got, mode)
		}
	}
	want(e.path("private"), 0o700)
	want(e.path("private", "deep"), 0o700)
	want(state, 0o600)
	want(e.path("logs.txt"), 0o600)
	want(e.path("users.csv"), 0o600)
	want(e.path("users.jsonl"), 0o600)
	want(e.path("reports"), 0o700)
	// Everything under the reports folder: run folders, validate folders and their files.
	n := 0
	filepath.WalkDir(reports, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		n++
		if d.IsDir() {
			want(p, 0o700)
		} else {
			want(p, 0o600)
		}
		return nil
	})
	// reports/nested, one run folder with three files, one validate folder with one file.
	if n < 7 {
		t.Errorf("only %d entries under the reports folder", n)
	}
}

// TestHardeningTransport checks the two rules about where requests go: plain http only to a
// loopback host, and no redirect followed, on POST above all (a redirected POST may be
// replayed with its body, the key in it, to wherever the redirect points).
func TestHardeningTransport(t *testing.T) {
	t.Parallel()
	t.Run("plain http to a remote host", func(t *testing.T) {
		t.Parallel()
		e := newImportEnv(t, gcsim.Config{})
		in := e.write("in.csv", "email,name\nann@example.com,Анна\n")
		mp := e.write("m.yaml", hardeningUsers)
		for _, args := range [][]string{
			{"import", "--mapping", mp, in},
			exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("u.csv")),
			{"groups"},
		} {
			for _, base := range []string{"http://school.example.com", "http://10.0.0.8:8080", "http://[2001:db8::1]/acct"} {
				code, out, errOut := e.gcbatch(t.Context(), append([]string{"--base-url", base}, args...)...)
				if code != 2 || !strings.Contains(errOut, "plain http is only allowed for a loopback host") {
					t.Errorf("%s %s: exit %d\n%s%s", base, args[0], code, out, errOut)
				}
			}
		}
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		t.Parallel()
		e := newImportEnv(t, gcsim.Config{SeedUsers: 3})
		var hops atomic.Int32
		// The redirect keeps the method and body (307/308), so a client that followed it
		// would deliver the request, key included, to the simulator.
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hops.Add(1)
			status := http.StatusTemporaryRedirect
			if r.Method == http.MethodGet {
				status = http.StatusMovedPermanently
			}
			http.Redirect(w, r, e.base+r.URL.RequestURI(), status)
		}))
		t.Cleanup(redirect.Close)
		var b strings.Builder
		b.WriteString("email,name\n")
		for i := range 20 {
			fmt.Fprintf(&b, "r%d@example.com,R\n", i)
		}
		in := e.write("in.csv", b.String())
		mp := e.write("m.yaml", hardeningUsers)
		code, out, errOut := e.gcbatch(t.Context(), "--base-url", redirect.URL, "import", "--mapping", mp, "--concurrency", "2", "--rate", "100/s", in)
		if code != 3 || !strings.Contains(out+errOut, "redirect") || !strings.Contains(out+errOut, "--base-url") {
			t.Errorf("import behind a redirect: exit %d, want 3 and advice\n%s%s", code, out, errOut)
		}
		if n := hops.Load(); n < 1 || n > 2 {
			t.Errorf("%d requests to the redirecting host; a redirect must stop the run within the requests in flight", n)
		}
		for _, args := range [][]string{
			exportArgs("export", "users", "--created-from", "2000-01-01", "-o", e.path("u.csv")),
			{"groups"},
		} {
			code, out, errOut := e.gcbatch(t.Context(), append([]string{"--base-url", redirect.URL}, args...)...)
			if code == 0 || !strings.Contains(errOut, "redirect") {
				t.Errorf("%s behind a redirect: exit %d\n%s%s", args[0], code, out, errOut)
			}
		}
		if n := totalRequests(e.sim.Stats()); n != 0 {
			t.Errorf("the redirect was followed: the simulator saw %d requests", n)
		}
		if _, err := os.Stat(e.path("u.csv")); !os.IsNotExist(err) {
			t.Errorf("an export file was written: %v", err)
		}
	})
}
