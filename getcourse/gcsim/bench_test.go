package gcsim

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkUsersAddHandler measures users/add through the handler alone (no network), in
// parallel, new users and repeats mixed: the simulator's own cost per import call.
func BenchmarkUsersAddHandler(b *testing.B) {
	sim := New(Config{})
	h := http.StripPrefix("/acct", sim)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := url.Values{"action": {"add"}, "key": {DefaultKey}, "params": {b64(obj{
				"user":   obj{"email": "u" + strconv.FormatInt(i%50_000, 10) + "@example.ru", "first_name": "Иван", "phone": "+79001234567"},
				"system": obj{"refresh_if_exists": 1}})}}.Encode()
			req := httptest.NewRequest(http.MethodPost, "/acct/pl/api/users", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("HTTP %d", w.Code)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkUsersAddLoopback measures users/add over loopback HTTP with 16 clients, the way the
// pipeline benchmark drives it.
func BenchmarkUsersAddLoopback(b *testing.B) {
	sim := New(Config{})
	srv := httptest.NewServer(http.StripPrefix("/acct", sim))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			resp, err := client.PostForm(srv.URL+"/acct/pl/api/users", url.Values{"action": {"add"}, "key": {DefaultKey},
				"params": {b64(obj{"user": obj{"email": "u" + strconv.FormatInt(i, 10) + "@example.ru"}})}})
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkExportUsers measures generating and writing seeded user rows (29 columns).
func BenchmarkExportUsers(b *testing.B) {
	const rows = 100_000
	sim := New(Config{SeedUsers: rows})
	e := &export{object: "users", f: filters{created: dayRange{from: 0, to: 1 << 40, set: true}}}
	sim.mu.Lock()
	sn := sim.snapshot()
	sim.mu.Unlock()
	cw := &countWriter{}
	b.ResetTimer()
	for b.Loop() {
		w := bufio.NewWriterSize(cw, 64<<10)
		sim.writeExport(w, e, sn, time.Now())
		w.Flush()
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cw.n)/float64(b.N)/rows, "bytes/row")
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
