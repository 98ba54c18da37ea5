package importer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// spectrumErrata are the csv-spectrum suite's own mistakes: a file whose JSON says one thing
// while its CSV holds another. For each, the value the JSON gives and the one the CSV holds;
// the test accepts the CSV's value only while the JSON still has the mistake.
var spectrumErrata = map[string]map[string][2]string{
	// The JSON lists a placeholder number; the CSV line is 2095257564,... (csv-spectrum 2.0.0).
	"location_coordinates": {"Contact Phone Number": {"1234567890", "2095257564"}},
}

// TestCSVSpectrum reads every file of the public csv-spectrum suite (npm csv-spectrum, fetched by
// `make csv-spectrum` into .cache/csv-spectrum; `make test` sets GCBATCH_CSV_SPECTRUM) and
// compares each with the records its JSON twin says it holds: header, cells and row count,
// with the delimiter and encoding detected as for any file.
func TestCSVSpectrum(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("GCBATCH_CSV_SPECTRUM")
	if dir == "" {
		t.Skip("GCBATCH_CSV_SPECTRUM is not set; `make test` fetches the csv-spectrum suite and runs this test")
	}
	csvs, err := filepath.Glob(filepath.Join(dir, "csvs", "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(csvs) == 0 {
		t.Fatalf("GCBATCH_CSV_SPECTRUM=%s holds no csvs/*.csv; run `make csv-spectrum` (npm pack csv-spectrum)", dir)
	}
	for _, path := range csvs {
		name := strings.TrimSuffix(filepath.Base(path), ".csv")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := spectrumRecords(t, filepath.Join(dir, "json", name+".json"))
			s, err := OpenSource(path, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			header := s.Header()
			if len(want) > 0 && len(header) != len(want[0]) {
				t.Fatalf("header %q, want the %d names of the JSON records", header, len(want[0]))
			}
			rows := readAll(t, s)
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
			}
			for i, r := range rows {
				if r.Err != "" {
					t.Fatalf("row %d: %s", i, r.Err)
				}
				for j, col := range header {
					w, ok := want[i][col]
					if !ok {
						t.Fatalf("column %q is not in the JSON records", col)
					}
					if got := r.Cells[j]; got != w {
						if e, ok := spectrumErrata[name][col]; ok && e == [2]string{w, got} {
							continue
						}
						t.Errorf("row %d column %q: %q, want %q", i, col, got, w)
					}
				}
			}
		})
	}
}

// spectrumRecords reads a csv-spectrum JSON file: an array of records, or (location_coordinates)
// one record alone.
func spectrumRecords(t *testing.T, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]string
	if err := json.Unmarshal(b, &list); err == nil {
		return list
	}
	var one map[string]string
	if err := json.Unmarshal(b, &one); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []map[string]string{one}
}
