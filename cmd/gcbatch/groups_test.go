package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

const groupsTestKey = "groups-test-key/+="

// groupsRun runs `gcbatch groups ARGS` against a simulator where a user joined two new groups.
func groupsRun(t *testing.T, cfg gcsim.Config, key string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cfg.Key = groupsTestKey
	sim := gcsim.New(cfg)
	srv := httptest.NewServer(http.StripPrefix("/acct", sim))
	t.Cleanup(srv.Close)
	// Groups are created by name when a user is added to them.
	c, err := getcourse.NewClient(getcourse.WithBaseURL(srv.URL+"/acct"), getcourse.WithKey(groupsTestKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Import(t.Context(), getcourse.CallUsersAdd, []byte(`{"user":{"email":"a@b.ru","group_name":["Поток 1","VIP, \"золото\""]}}`),
		getcourse.CallOptions{Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	g := newGlobals()
	var out, errb bytes.Buffer
	g.Stdout, g.Stderr = &out, &errb
	g.Getenv = func(name string) string {
		switch name {
		case "GETCOURSE_API_KEY":
			return key
		case "GETCOURSE_BASE_URL":
			return srv.URL + "/acct"
		}
		return ""
	}
	g.WorkDir = t.TempDir()
	defer g.close()
	code = execute(t.Context(), g, append([]string{"groups", "--progress", "never", "--state", filepath.Join(g.WorkDir, "state.db")}, args...))
	return code, out.String(), errb.String()
}

func TestGroupsCommand(t *testing.T) {
	t.Parallel()
	for _, shape := range []string{"real", "seed"} {
		t.Run(shape+"/csv by default when piped", func(t *testing.T) {
			t.Parallel()
			code, out, errs := groupsRun(t, gcsim.Config{Shape: shape}, groupsTestKey)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatalf("not CSV: %v\n%s", err, out)
			}
			if len(recs) < 3 || strings.Join(recs[0], ",") != "id,name,users_count,last_added_at" {
				t.Fatalf("CSV = %q", recs)
			}
			byName := map[string][]string{}
			for _, r := range recs[1:] {
				byName[r[1]] = r
			}
			vip, ok := byName[`VIP, "золото"`]
			if !ok || byName["Поток 1"] == nil || vip[0] == "" {
				t.Fatalf("the groups the user joined are missing: %q", recs)
			}
			if shape == "seed" && vip[2] != "1" {
				t.Errorf("seed shape member count = %q, want 1", vip[2])
			}
			if shape == "real" && (vip[2] != "" || vip[3] == "") {
				t.Errorf("real shape row = %q: want no count and a last-added time", vip)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		code, out, errs := groupsRun(t, gcsim.Config{}, groupsTestKey, "--format", "json")
		var rows []map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) < 2 {
			t.Fatalf("exit %d, %q, %s", code, out, errs)
		}
		if rows[0]["id"] == nil || rows[0]["name"] == "" {
			t.Errorf("row = %v", rows[0])
		}
		if _, ok := rows[0]["users_count"]; ok {
			t.Errorf("an unknown member count was printed: %v", rows[0])
		}
	})
	t.Run("table", func(t *testing.T) {
		t.Parallel()
		code, out, errs := groupsRun(t, gcsim.Config{Shape: "seed"}, groupsTestKey, "--format", "table")
		if code != 0 || !strings.HasPrefix(out, "ID") || !strings.Contains(out, "MEMBERS") ||
			!strings.Contains(out, "Поток 1") || !strings.HasSuffix(out, " groups\n") {
			t.Fatalf("exit %d, %q, %s", code, out, errs)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		t.Parallel()
		code, _, errs := groupsRun(t, gcsim.Config{}, groupsTestKey, "--format", "xml")
		if code != 2 || !strings.Contains(errs, "--format") {
			t.Errorf("exit %d, %s", code, errs)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		const wrong = "wrong-key-1234567890"
		code, out, errs := groupsRun(t, gcsim.Config{}, wrong)
		if code != 3 || !strings.Contains(errs, "Неавторизованное") {
			t.Errorf("exit %d, %s", code, errs)
		}
		if strings.Contains(out+errs, wrong) {
			t.Errorf("output holds the key: %s", out+errs)
		}
	})
}
