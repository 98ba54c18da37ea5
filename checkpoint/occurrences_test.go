package checkpoint

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// duplicateStream returns n hashes in which about one in five repeats an earlier one, some
// from just before and some from far back (long after the first copy left the in-memory map),
// and a few hashes repeat many times.
func duplicateStream(n int) [][32]byte {
	r := rand.New(rand.NewPCG(7, 7))
	out := make([][32]byte, n)
	for i := range out {
		switch x := r.IntN(100); {
		case i > 0 && x < 8: // near repeat
			out[i] = out[max(0, i-1-r.IntN(50))]
		case i > 0 && x < 16: // far repeat: anywhere earlier
			out[i] = out[r.IntN(i)]
		case x < 20: // a handful of very common rows
			out[i] = testHash(1<<40 + uint64(r.IntN(5)))
		default:
			out[i] = testHash(uint64(i))
		}
	}
	return out
}

func TestOccurrencesExact(t *testing.T) {
	tests := []struct {
		name   string
		blocks int
	}{
		{"real filter", bloomBlocks},
		// A 1 KiB filter is nearly all ones after a few thousand rows: almost every new hash
		// is a false positive that only the scratch table can resolve.
		{"saturated filter", 16},
		// The importer sizes the filter for the rows it expects; a file with ten times as many
		// (a wrong count) must only cost false positives.
		{"filter for a tenth of the rows", bloomBlocksFor(20_000)},
	}
	stream := duplicateStream(200_000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o, err := newOccurrences(dir, "20261126-172233-3f9a", tt.blocks, seenMinPages)
			if err != nil {
				t.Fatal(err)
			}
			want := map[[32]byte]uint32{}
			repeats := 0
			for i, h := range stream {
				got, err := o.Next(h)
				if err != nil {
					t.Fatal(err)
				}
				if got != want[h] {
					t.Fatalf("row %d: occurrence %d, want %d", i, got, want[h])
				}
				if got > 0 {
					repeats++
				}
				want[h]++
			}
			if repeats < len(stream)/10 {
				t.Fatalf("only %d repeats: the stream does not test anything", repeats)
			}
			if o.table.pages == seenMinPages {
				t.Error("the scratch table never grew: growth is untested")
			}
			if o.limit != pendingFor(o.table.pages) {
				t.Errorf("after growing to %d pages the map flushes at %d hashes, want %d", o.table.pages, o.limit, pendingFor(o.table.pages))
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if err := o.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := o.Next(stream[0]); err == nil {
				t.Error("Next after Close succeeded")
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".gcbatch-seen-") {
					t.Errorf("scratch file %s left behind", e.Name())
				}
			}
		})
	}
}

// TestOccurrencesSizes pins the sizing rules: the filter has 16 bits per expected hash within
// 64 KiB..4 MiB (all of it when the count is unknown), and the map holds 8 hashes per table
// page within 8,192..32,768.
func TestOccurrencesSizes(t *testing.T) {
	for _, tt := range []struct{ n, blocks int }{
		{0, bloomBlocks}, {1, bloomMinBlks}, {100_000, 4096}, {1_000_000, 32768}, {10_000_000, bloomBlocks},
	} {
		if got := bloomBlocksFor(tt.n); got != tt.blocks {
			t.Errorf("bloomBlocksFor(%d) = %d blocks, want %d", tt.n, got, tt.blocks)
		}
		if tt.n > 0 && bloomBlocksFor(tt.n) < bloomBlocks && bloomBlocksFor(tt.n)*512 < tt.n*bloomBits {
			t.Errorf("bloomBlocksFor(%d): fewer than %d bits a hash", tt.n, bloomBits)
		}
	}
	for _, tt := range []struct {
		pages uint64
		limit int
	}{{seenMinPages, minPending}, {seenPagesFor(100_000), 16384}, {seenPagesFor(1_000_000), maxPending}} {
		if got := pendingFor(tt.pages); got != tt.limit {
			t.Errorf("pendingFor(%d pages) = %d, want %d", tt.pages, got, tt.limit)
		}
	}
}

func TestOccurrencesPerInstance(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "state.db"))
	h := testHash(42)
	for range 2 { // a resumed run numbers its file from scratch again
		o, err := s.NewOccurrences("run/with spaces", 0)
		if err != nil {
			t.Fatal(err)
		}
		for want := range uint32(3) {
			if got, err := o.Next(h); err != nil || got != want {
				t.Fatalf("Next = %d, %v; want %d", got, err, want)
			}
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkOccurrences reports the cost of Next and the Go heap in use after 100,000 and
// 1,000,000 distinct hashes: the heap holds the filter (16 bits a hash, so 0.25 and 2 MiB) and
// otherwise the same bounded map and buffers.
func BenchmarkOccurrences(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("distinct=%d", n), func(b *testing.B) {
			hashes := make([][32]byte, n)
			for i := range hashes {
				hashes[i] = testHash(uint64(i))
			}
			var heap uint64
			for b.Loop() {
				// Sized as the importer sizes it for a file of n rows.
				o, err := newOccurrences(b.TempDir(), "bench", bloomBlocksFor(n), seenPagesFor(n))
				if err != nil {
					b.Fatal(err)
				}
				for _, h := range hashes {
					if _, err := o.Next(h); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				heap = heapInUse() - uint64(len(hashes)*32) // not counting the input itself
				o.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/Next")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
