package getcourse

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/time/rate"
)

// BenchmarkDecodeResponse measures the decoder on a captured real answer.
func BenchmarkDecodeResponse(b *testing.B) {
	body := []byte(`{"success":true,"action":"add","result":{"success":true,"deal_id":121161653,"deal_number":"","user_id":189870964,"user_status":"added","error_message":"","error":false,"payment_link":""}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// okUserServer answers every request at once with a created user, for the benchmarks that
// measure the client's own cost of a round trip.
func okUserServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		writeJSON(w, okUser)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkImport measures one users/add round trip through the client (limiter off) against
// a server that answers at once, from parallel goroutines like the importer's pool; compare
// with BenchmarkBareLoop for the client's own cost.
func BenchmarkImport(b *testing.B) {
	srv := okUserServer(b)
	c, err := NewClient(WithBaseURL(srv.URL), WithKey(testKey), WithLimiter(rate.NewLimiter(rate.Inf, 1)))
	if err != nil {
		b.Fatal(err)
	}
	params := []byte(`{"user":{"email":"ivan.petrov@example.com","phone":"+79001234567","first_name":"Иван","last_name":"Петров"},"system":{"refresh_if_exists":1}}`)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Import(b.Context(), CallUsersAdd, params, CallOptions{Idempotent: true}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBareLoop is the same exchange with a plain http.Client and a pre-built body.
func BenchmarkBareLoop(b *testing.B) {
	srv := okUserServer(b)
	hc := defaultHTTPClient()
	body := "action=add&key=k&params=eyJ1c2VyIjp7ImVtYWlsIjoiaXZhbi5wZXRyb3ZAZXhhbXBsZS5jb20ifX0%3D"
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Post(srv.URL+"/pl/api/users", "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
