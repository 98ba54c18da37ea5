package getcourse_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/time/rate"

	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
)

// BenchmarkImportSim is the whole cost of one import call on the import's hot path:
// Client.Import of a users/add row against the simulator in this process over loopback HTTP,
// one call after another, so that ns/op is one row's full round trip (client, HTTP, service).
// The fast paths' benchmarks (fastpath_bench_test.go) are judged as a share of it.
func BenchmarkImportSim(b *testing.B) {
	sim := gcsim.New(gcsim.Config{Key: simKey})
	mux := http.NewServeMux()
	mux.Handle("/acct/", http.StripPrefix("/acct", sim))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := getcourse.NewClient(getcourse.WithBaseURL(srv.URL+"/acct"), getcourse.WithKey(simKey),
		getcourse.WithLimiter(rate.NewLimiter(rate.Inf, 1)))
	if err != nil {
		b.Fatal(err)
	}
	// Real-looking rows, a few thousand distinct users, refreshed when they come again.
	rows := make([][]byte, 4096)
	for i := range rows {
		rows[i] = fmt.Appendf(nil, `{"user":{"email":"ivan.petrov%d@example.com","phone":"+7900%07d","first_name":"Иван","last_name":"Петров"},"system":{"refresh_if_exists":1}}`, i, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.Import(b.Context(), getcourse.CallUsersAdd, rows[i%len(rows)], getcourse.CallOptions{Idempotent: true}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
