package gcsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	t.Parallel()
	f, err := ParseFaults("500=0.05,html=0.02, empty=0.01,reset=0.01,slow=0.01")
	if err != nil || f != (Faults{Err500: 0.05, HTML: 0.02, Empty: 0.01, Reset: 0.01, Slow: 0.01}) {
		t.Fatalf("got %+v, %v", f, err)
	}
	if f, err := ParseFaults(""); err != nil || f != (Faults{}) {
		t.Fatalf("empty spec: %+v %v", f, err)
	}
	for _, bad := range []string{"500", "500=x", "500=1.5", "boom=0.1", "500=0.6,html=0.6", "html=-0.1"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// call sends users/add for email and returns the response or the transport error.
func (e *env) call(email string) (*http.Response, []byte, error) {
	resp, err := e.http.PostForm(e.base+"/pl/api/users", url.Values{"action": {"add"}, "key": {DefaultKey},
		"params": {b64(obj{"user": obj{"email": email}})}})
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestFaultKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		faults  Faults
		status  int
		ctype   string
		body    string // a fragment; "" means empty
		applied bool
	}{
		{"500", Faults{Err500: 1}, 500, "text/html", "<html", false},
		{"html", Faults{HTML: 1}, 200, "text/html", "Ведутся технические работы", false},
		{"empty", Faults{Empty: 1}, 200, "application/json", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Config{Faults: tt.faults})
			resp, body, err := e.call("f@x.ru")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) ||
				(tt.body == "" && len(body) != 0) || !bytes.Contains(body, []byte(tt.body)) {
				t.Fatalf("HTTP %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if n := len(e.sim.Users()); (n == 1) != tt.applied {
				t.Fatalf("applied: %d users", n)
			}
			if e.sim.Stats().FaultsInjected[tt.name] != 1 {
				t.Fatalf("FaultsInjected: %v", e.sim.Stats().FaultsInjected)
			}
			// Control endpoints never fail.
			if a := e.get("/_sim/stats", nil); a.status != 200 {
				t.Fatalf("/_sim/stats under faults: %d", a.status)
			}
		})
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Faults: Faults{Reset: 1}, Seed: 11})
	const n = 40
	for i := range n {
		resp, _, err := e.call("r" + strconv.Itoa(i) + "@x.ru")
		if err == nil {
			t.Fatalf("call %d: want a transport error, got HTTP %d", i, resp.StatusCode)
		}
	}
	st := e.sim.Stats()
	before, after := st.FaultsInjected["reset_before"], st.FaultsInjected["reset_after"]
	if st.FaultsInjected["reset"] != n || before+after != n || before == 0 || after == 0 {
		t.Fatalf("resets: %v", st.FaultsInjected)
	}
	// Exactly the resets after applying created users: those calls are truly in doubt.
	if st.UsersCreated != after || len(e.sim.Users()) != after {
		t.Fatalf("created %d users, %d resets after applying", st.UsersCreated, after)
	}
}

func TestFaultSlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Faults: Faults{Slow: 1}, SlowDelay: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/pl/api/users",
		strings.NewReader(url.Values{"action": {"add"}, "key": {DefaultKey}, "params": {b64(obj{"user": obj{"email": "s@x.ru"}})}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, err := e.http.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the client to give up, got %v", err)
	}
	// The request was applied before the hold; the held handler ends with the client (the
	// server's Close in Cleanup would hang otherwise).
	if len(e.sim.Users()) != 1 || e.sim.Stats().FaultsInjected["slow"] != 1 {
		t.Fatalf("slow fault: users %d, stats %v", len(e.sim.Users()), e.sim.Stats().FaultsInjected)
	}
	// A short hold is simply late.
	e2 := newEnv(t, Config{Faults: Faults{Slow: 1}, SlowDelay: 10 * time.Millisecond, Latency: 5 * time.Millisecond,
		LatencyJitter: 5 * time.Millisecond})
	if _, id := okUserRaw(t, e2); id <= 0 {
		t.Fatal("no user id")
	}
}

func okUserRaw(t *testing.T, e *env) (string, int64) {
	t.Helper()
	resp, body, err := e.call("late@x.ru")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", err, resp)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return string(body), num(m["result"].(map[string]any)["user_id"])
}

func TestFaultRatesAreSeeded(t *testing.T) {
	t.Parallel()
	run := func(seed int64) map[string]int {
		e := newEnv(t, Config{Faults: Faults{Err500: 0.2, HTML: 0.1, Empty: 0.1}, Seed: seed})
		for i := range 300 {
			e.call("x" + strconv.Itoa(i) + "@x.ru")
		}
		// Export calls get faults too.
		for range 100 {
			e.get("/pl/api/account/fields", nil)
		}
		return e.sim.Stats().FaultsInjected
	}
	a, b := run(5), run(5)
	for _, k := range []string{"500", "html", "empty"} {
		if a[k] != b[k] {
			t.Fatalf("same seed, different faults: %v vs %v", a, b)
		}
	}
	// 400 draws at 20%: mean 80, sd 8; the bounds are 5 sd wide.
	if a["500"] < 40 || a["500"] > 120 || a["html"] < 15 || a["html"] > 70 || a["empty"] < 15 || a["empty"] > 70 {
		t.Fatalf("fault counts far from their rates: %v", a)
	}
}

func TestSetFaultsAndControlEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.sim.SetFaults(Faults{Err500: 1})
	if resp, _, err := e.call("a@x.ru"); err != nil || resp.StatusCode != 500 {
		t.Fatalf("SetFaults: %v %v", err, resp)
	}
	if a := e.postForm("/_sim/faults?spec="+url.QueryEscape("500=0"), nil); a.status != 200 {
		t.Fatalf("/_sim/faults: %s", a.raw)
	}
	if resp, _, err := e.call("a@x.ru"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after /_sim/faults: %v %v", err, resp)
	}
	for _, p := range []string{"/_sim/faults?spec=boom", "/_sim/rate?per_second=x"} {
		if a := e.postForm(p, nil); a.status != http.StatusBadRequest {
			t.Fatalf("%s: %d", p, a.status)
		}
	}
	if a := e.get("/_sim/month", nil); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /_sim/month: %d", a.status)
	}
	okUser(t, e.imp("/pl/api/users", "add", obj{"user": obj{"email": "b@x.ru"}}))
	resp, err := e.http.Get(e.base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.UsersCreated != 2 || st.Requests["/pl/api/users"] != 3 || st.FaultsInjected["500"] != 1 || st.AddsByEmail["b@x.ru"] != 1 {
		t.Fatalf("/_sim/stats: %+v", st)
	}
	for p := range st.Requests {
		if strings.HasPrefix(p, "/_sim") {
			t.Fatalf("control calls must not be counted: %v", st.Requests)
		}
	}
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	certPath := filepath.Join(t.TempDir(), "sim.pem")
	sim := New(Config{})
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, sim, ServeOptions{Listen: "127.0.0.1:0", TLS: true, CertOut: certPath,
			Ready: func(u string) { ready <- u }}, &out)
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("base URL %q", base)
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("the written certificate does not parse")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	for _, host := range []string{base, strings.Replace(base, "127.0.0.1", "localhost", 1)} {
		resp, err := client.PostForm(host+"/pl/api/users", url.Values{"action": {"add"}, "key": {DefaultKey},
			"params": {b64(obj{"user": obj{"email": "tls@x.ru"}})}})
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
	}
	if len(sim.Users()) != 1 {
		t.Fatal("the TLS server did not reach the Sim")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if s := out.String(); !strings.Contains(s, base) || !strings.Contains(s, DefaultKey) {
		t.Fatalf("Serve should print the base URL and key: %q", s)
	}
}

func TestServeListenError(t *testing.T) {
	t.Parallel()
	err := Serve(t.Context(), New(Config{}), ServeOptions{Listen: "256.0.0.1:0"}, io.Discard)
	if err == nil {
		t.Fatal("want a listen error")
	}
}
