package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInteropJSSDK runs the public getcourse-js-sdk (npm; `make test` fetches it into
// .cache/js-sdk and sets GCBATCH_JS_SDK) against `gcbatch sim --tls`, as a subprocess like a
// user would start it: a client we did not write must get the answers it expects (two-level
// import answers, the export envelope, 909 while building) over HTTPS with the certificate the
// simulator writes out.
func TestInteropJSSDK(t *testing.T) {
	t.Parallel()
	modules := os.Getenv("GCBATCH_JS_SDK")
	if modules == "" {
		t.Skip("GCBATCH_JS_SDK is not set; `make test` fetches getcourse-js-sdk with npm and runs this test")
	}
	if _, err := os.Stat(filepath.Join(modules, "getcourse-js-sdk", "package.json")); err != nil {
		t.Fatalf("GCBATCH_JS_SDK=%s holds no getcourse-js-sdk: run `make js-sdk`: %v", modules, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("GCBATCH_JS_SDK is set but node is not on PATH: %v", err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "interop", "jssdk-smoke.cjs"))
	if err != nil {
		t.Fatal(err)
	}

	// A free loopback port for the simulator.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cert := filepath.Join(dir, "sim.pem")
	const key = "interop-key-7f3a"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	sim := exec.CommandContext(ctx, os.Args[0], "sim", "--listen", addr, "--tls", "--tls-cert-out", cert,
		"--key", key, "--export-delay", "300ms")
	sim.Env = append(os.Environ(), asMainEnv+"=1")
	out, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = sim.Wait() })
	ready := bufio.NewScanner(out)
	for ready.Scan() && !strings.Contains(ready.Text(), "certificate:") {
	}
	go func() { // keep the pipe drained; ends when the simulator exits
		for ready.Scan() {
		}
	}()

	js := exec.CommandContext(ctx, node, script)
	js.Env = append(os.Environ(), "NODE_PATH="+modules, "NODE_EXTRA_CA_CERTS="+cert,
		"GC_ACCOUNT="+addr, "GC_KEY="+key)
	got, err := js.CombinedOutput()
	if err != nil {
		t.Fatalf("getcourse-js-sdk against gcbatch sim --tls: %v\n%s", err, got)
	}
	steps := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
		var s struct {
			Step   string         `json:"step"`
			Answer map[string]any `json:"answer"`
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("not a JSON line from the script: %q", line)
		}
		steps[s.Step] = s.Answer
	}
	for _, step := range []string{"addUser", "addDeal"} {
		res, _ := steps[step]["result"].(map[string]any)
		if steps[step]["success"] != true || res == nil || res["success"] != true {
			t.Errorf("%s: %v", step, steps[step])
		}
	}
	if res, _ := steps["addDeal"]["result"].(map[string]any); res["deal_number"] != "sdk-1" {
		t.Errorf("addDeal answered %v", res)
	}
	info, _ := steps["result"]["info"].(map[string]any)
	fields, _ := info["fields"].([]any)
	items, _ := info["items"].([]any)
	if len(fields) == 0 || len(items) != 1 {
		t.Fatalf("export result: %v", steps["result"])
	}
	row, _ := items[0].([]any)
	var email string
	for i, f := range fields {
		if f == "Email" && i < len(row) {
			email, _ = row[i].(string)
		}
	}
	if email != "sdk.user@example.com" {
		t.Errorf("the export lists %q, want the user the SDK added", email)
	}
	if strings.Contains(string(got), key) {
		t.Errorf("the answers repeat the key")
	}
}
