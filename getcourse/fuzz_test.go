package getcourse

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzDecodeResponse feeds arbitrary bodies to the decoder and the classifier: neither may
// panic, a decoded answer must be consistent, and no error text may hold the key, even when
// the body echoes it. The seed corpus is in testdata/fuzz/FuzzDecodeResponse.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"success":true,"result":{"success":true,"user_id":1}}`))
	f.Add([]byte(`{"success":false,"error":"` + testKey + `"}`))
	f.Add([]byte(`{"success":true,"info":{"export_id":"7"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := decodeResponse(body)
		if err == nil {
			if env == nil {
				t.Fatal("nil envelope without an error")
			}
			bad, code, _ := env.failed()
			if code != 0 && !bad {
				t.Errorf("a non-zero error_code %d is not a failure", code)
			}
		}
		for _, path := range []string{"/pl/api/users", "/pl/api/account/exports/1"} {
			for _, status := range []int{200, 400, 429, 502} {
				for _, ctype := range []string{"application/json", "text/html"} {
					a := answer{method: "POST", path: path, status: status,
						header: http.Header{"Content-Type": {ctype}}, body: body}
					env, aerr := classify(a, testKey)
					if (env == nil) == (aerr == nil) {
						t.Fatalf("classify returned env %v and err %v", env, aerr)
					}
					if aerr != nil {
						if msg := aerr.Error(); strings.Contains(msg, testKey) {
							t.Fatalf("error text holds the key: %q", msg)
						}
					}
					if aerr == nil && path == "/pl/api/users" && env.Result.resultBody == nil {
						t.Fatal("an import success without a result")
					}
				}
			}
		}
		_ = exportLooksReady(body)
	})
}
