package getcourse

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/time/rate"
)

// The client's hand-written fast paths (the answer decoder, the form encoding, the first
// attempt outside the backoff machinery, the request sent without http.Client's redirect
// and cookie handling), each measured against the standard library's way on the same input.
// Per call each saves little (BenchmarkImportSim: the decoder 3.5%, the form 1%, the first
// attempt 0.5% of a 117 µs call), but together they keep the import's garbage small, and the
// whole process is what make bench's overhead_pct measures: with the standard library in
// their place, 6 alternating imports of 100,000 rows each took 11.8 s of CPU on average
// against 10.3 s, and overhead_pct fell from 67.0 and 58.3 to 52.6 and 54.9 (bar 60). So they
// stay. Rerun the parts with
//
//	go test -run '^$' -bench 'DecodeAnswer|Form|Attempt|Send|ImportSim' -benchmem -count 3 ./getcourse/

// benchAnswer is a captured real users/add answer, the shape of nearly all import traffic.
var benchAnswer = []byte(`{"success":true,"action":"add","result":{"success":true,"deal_id":121161653,"deal_number":"","user_id":189870964,"user_status":"added","error_message":"","error":false,"payment_link":""}}`)

// benchParams is one mapped users/add row as the mapping package writes it.
var benchParams = []byte(`{"user":{"email":"ivan.petrov@example.com","phone":"+79001234567","first_name":"Иван","last_name":"Петров"},"system":{"refresh_if_exists":1}}`)

// BenchmarkDecodeAnswer: decodeFast against encoding/json on the same answer.
func BenchmarkDecodeAnswer(b *testing.B) {
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeFast(benchAnswer); !ok {
				b.Fatal("not fast")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var env envelope
			if err := json.Unmarshal(benchAnswer, &env); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkForm: the hand-built POST body against url.Values.Encode with base64.StdEncoding.
func BenchmarkForm(b *testing.B) {
	s := callSpec{form: url.Values{"action": {"add"}}, params: benchParams}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendForm(s, testKey)
		}
	})
	b.Run("url.Values.Encode+base64.StdEncoding", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := make(url.Values, len(s.form)+2)
			for k, vs := range s.form {
				v[k] = vs
			}
			v.Set("key", testKey)
			v.Set("params", base64.StdEncoding.EncodeToString(s.params))
			_ = []byte(v.Encode())
		}
	})
}

// BenchmarkAttempt: what a call that succeeds at once pays for the retry machinery. "first" is
// the attempt run before any of it is built (as do does); "via_backoff" builds the call's
// BackOff and runs the same successful attempt through backoff.RetryNotify.
func BenchmarkAttempt(b *testing.B) {
	c := &Client{retry: RetryPolicy{}.withDefaults()}
	op := func() error { return nil }
	ctx := context.Background()
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("via_backoff", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var retryAfter time.Duration
			bo := c.newBackOff(ctx, time.Now(), &retryAfter)
			if err := backoff.RetryNotify(op, bo, func(error, time.Duration) {}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSend: one users/add through the client against a server that answers at once, the
// request handed straight to the transport against sent through http.Client.Do.
func BenchmarkSend(b *testing.B) {
	srv := okUserServer(b)
	for _, direct := range []bool{true, false} {
		name := "transport"
		if !direct {
			name = "http_client"
		}
		b.Run(name, func(b *testing.B) {
			c, err := NewClient(WithBaseURL(srv.URL), WithKey(testKey), WithLimiter(rate.NewLimiter(rate.Inf, 1)))
			if err != nil {
				b.Fatal(err)
			}
			if !direct {
				c.rt = nil
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Import(b.Context(), CallUsersAdd, benchParams, CallOptions{Idempotent: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
