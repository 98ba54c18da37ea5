package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// newRefusingEnv is an account whose every API call is refused with the service's text
// refuse, in the import API's shape on import paths and the export API's on account/* paths
// (the simulator has no knob for these answers).
func newRefusingEnv(t *testing.T, refuse string) *importEnv {
	t.Helper()
	e := newImportEnv(t, gcsim.Config{})
	srv := httptest.NewServer(http.StripPrefix("/acct", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if strings.HasPrefix(r.URL.Path, "/pl/api/account/") {
			w.Write([]byte(`{"success":false,"error":true,"error_message":"` + refuse + `","error_code":0}`))
			return
		}
		w.Write([]byte(`{"success":false,"error":"` + refuse + `"}`))
	})))
	t.Cleanup(srv.Close)
	e.base = srv.URL + "/acct"
	return e
}

// TestOperatorFatalExplained: every fatal kind of answer is explained in English next to the
// service's own text, with what to do and whether rerunning helps, by import (at its online
// check and in its summary), export and groups; the resume line shows only where rerunning
// can help, with its condition; exit 3; the key never shows.
func TestOperatorFatalExplained(t *testing.T) {
	t.Parallel()
	type command struct {
		name string
		args func(e *importEnv) []string
		// resume says the output must carry the import's resume line (false: must not).
		resume bool
	}
	importArgs := func(extra ...string) func(e *importEnv) []string {
		return func(e *importEnv) []string {
			in, mp, _ := usersFile(t, e, "rows", 10)
			return append(append([]string{"import", "--mapping", mp, "--rate", "200/s"}, extra...), in)
		}
	}
	imp := command{"import", importArgs(), true}
	impNoCheck := command{"import --no-preflight", importArgs("--no-preflight"), true}
	export := command{"export", func(e *importEnv) []string {
		return exportArgs("export", "users", "--created-from", "2024-01-01", "-o", e.path("u.csv"))
	}, false}
	groups := command{"groups", func(*importEnv) []string { return []string{"groups"} }, false}
	validate := command{"validate --online", func(e *importEnv) []string {
		in, mp, _ := usersFile(t, e, "rows", 10)
		return []string{"validate", "--online", "--mapping", mp, in}
	}, false}

	cases := []struct {
		name string
		env  func(t *testing.T) *importEnv
		// before runs first (e.g. to spend the export budget), expecting exit 0.
		before   []string
		commands []command
		want     []string // every one in the output of every command
		service  string   // the service's own text (Russian, but for «Wrong subdomain»); "" when it gives none
		// never: rerunning cannot help (our bug), so no resume line at all.
		never bool
	}{
		{name: "refused key", env: func(t *testing.T) *importEnv {
			e := newImportEnv(t, gcsim.Config{})
			e.key = "a-key-nobody-issued-4242"
			return e
		}, commands: []command{imp, impNoCheck, export, groups, validate},
			want:    []string{"GetCourse refused the API key", "GETCOURSE_API_KEY", ".env", "--key-file", "rerunning as it is would stop the same way", "once the key is fixed"},
			service: "Неавторизованное API-обращение"},
		{name: "unknown account", env: func(t *testing.T) *importEnv {
			e := newImportEnv(t, gcsim.Config{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte("Wrong subdomain"))
			}))
			t.Cleanup(srv.Close)
			e.base = srv.URL
			return e
		}, commands: []command{impNoCheck, export, groups},
			want:    []string{"GetCourse does not know this account", "--account NAME", "--base-url", "once the account is fixed"},
			service: "Wrong subdomain"},
		{name: "read-only key", env: func(t *testing.T) *importEnv { return newRefusingEnv(t, "Действие запрещено") },
			commands: []command{imp, impNoCheck, export, groups},
			want:     []string{"GetCourse refused the action for this key", "read-only key", "--key-file", "once the key may do it"},
			service:  "Действие запрещено"},
		{name: "plan without the import API", env: func(t *testing.T) *importEnv { return newImportEnv(t, gcsim.Config{Plan: "trial"}) },
			commands: []command{imp, impNoCheck},
			want:     []string{"the account's plan does not include the import API", "Тариф", "once the plan allows it"}},
		{name: "plan without the API", env: func(t *testing.T) *importEnv { return newImportEnv(t, gcsim.Config{Plan: "no-api"}) },
			commands: []command{export, groups},
			want:     []string{"the account's plan does not include the API", "once the plan allows it"},
			service:  "Функционал недоступен (код 917)"},
		{name: "monthly allowance spent", env: func(t *testing.T) *importEnv { return newImportEnv(t, gcsim.Config{MonthlyAllowance: 3}) },
			commands: []command{imp, impNoCheck},
			want:     []string{"the account's monthly allowance of new objects is used up", "rerunning now would stop the same way", "when the allowance renews"},
			service:  "Достигнут лимит"},
		{name: "export budget spent", env: func(t *testing.T) *importEnv {
			return newImportEnv(t, gcsim.Config{ExportBudget: 1, ExportDelay: -1})
		}, before: []string{"groups"}, commands: []command{export, groups},
			want:    []string{"the account's export budget is spent", "100 export-API calls per 2 hours", "--wait-for-budget", "rerunning now would stop the same way; it helps after "},
			service: "Слишком много запросов (код 903)"},
		{name: "params the service cannot read", env: func(t *testing.T) *importEnv { return newRefusingEnv(t, "Не указаны параметры") },
			commands: []command{imp, impNoCheck, export, groups},
			want:     []string{"the service could not read what gcbatch sent", "a bug in gcbatch", "gcbatch version", "rerunning will not help"},
			service:  "Не указаны параметры", never: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tc.env(t)
			if tc.before != nil {
				if code, out, errOut := e.gcbatch(t.Context(), tc.before...); code != 0 {
					t.Fatalf("%v: exit %d\n%s%s", tc.before, code, out, errOut)
				}
			}
			var outputs []string
			for _, c := range tc.commands {
				code, out, errOut := e.gcbatch(t.Context(), c.args(e)...)
				all := out + errOut
				outputs = append(outputs, out, errOut)
				if code != 3 {
					t.Errorf("%s: exit %d, want 3\n%s", c.name, code, all)
					continue
				}
				for _, w := range append(tc.want, tc.service, "  do        ") {
					if !strings.Contains(all, w) {
						t.Errorf("%s: the message lacks %q:\n%s", c.name, w, all)
					}
				}
				hasResume := strings.Contains(all, "  resume    ")
				switch {
				case tc.never && hasResume:
					t.Errorf("%s: a resume line although rerunning cannot help:\n%s", c.name, all)
				case !tc.never && c.resume && !strings.Contains(all, ": gcbatch "):
					t.Errorf("%s: no resume line with its condition:\n%s", c.name, all)
				}
				if strings.Contains(all, "rows/s") {
					t.Errorf("%s: %s", c.name, all)
				}
			}
			assertNoKey(t, e.dir, e.key, outputs...)
		})
	}
}

// TestOperatorValidateOnlineCachedKey: validate --online checks the key on every run: with the
// account's lists cached by an earlier check, a wrong key still stops it (exit 3, explained),
// and so does an import's online check, before any row is sent; the cache is not refetched.
func TestOperatorValidateOnlineCachedKey(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, gcsim.Config{})
	in := e.write("contacts.csv", "Email,Groups,Telegram\na@example.ru,Клиенты,@a\n")
	mp := e.write("contacts.yaml", "target: users\nfields:\n  user.email: Email\n  user.group_name: {column: Groups, split: \",\"}\n  user.addfields.Telegram: Telegram\n")
	if code, out, errOut := e.gcbatch(t.Context(), "validate", "--online", "--mapping", mp, in); code != 0 || e.accountCalls() != 2 {
		t.Fatalf("with the right key: exit %d, %d account calls\n%s%s", code, e.accountCalls(), out, errOut)
	}
	good := e.key
	e.key = "wrong-key-after-caching-77"
	code, out, errOut := e.gcbatch(t.Context(), "validate", "--online", "--mapping", mp, in)
	if code != 3 || !strings.Contains(errOut, "GetCourse refused the API key") || !strings.Contains(errOut, "Неавторизованное API-обращение") {
		t.Fatalf("a wrong key with cached lists: exit %d\n%s%s", code, out, errOut)
	}
	code, out2, errOut2 := e.gcbatch(t.Context(), "import", "--mapping", mp, in)
	if code != 3 || !strings.Contains(errOut2, "GetCourse refused the API key") || e.rowsApplied() != 0 || e.runs() != 0 {
		t.Fatalf("import with a wrong key and cached lists: exit %d, %d rows sent, %d runs\n%s%s", code, e.rowsApplied(), e.runs(), out2, errOut2)
	}
	if e.accountCalls() != 2 {
		t.Errorf("the cached lists were fetched again: %d account calls", e.accountCalls())
	}
	assertNoKey(t, e.dir, e.key, out, errOut, out2, errOut2)
	assertNoKey(t, e.dir, good, out, errOut, out2, errOut2)
}
