package mappings

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

var update = flag.Bool("update", false, "rewrite generated files (samples/excel-contacts.csv) from their sources")

const samplesDir = "../samples"

// readSampleCSV reads a sample CSV with encoding/csv, decoding windows-1251 when asked. It is
// deliberately independent of the importer, so that the samples are checked on their own.
func readSampleCSV(t *testing.T, path string, delim rune, cp1251 bool) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if cp1251 {
		r = charmap.Windows1251.NewDecoder().Reader(f)
	}
	cr := csv.NewReader(r)
	cr.Comma = delim
	all, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(all) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return all[0], all[1:]
}

// TestExcelSampleEncoding keeps samples/excel-contacts.csv the windows-1251 encoding of its UTF-8
// source in testdata; `go test ./mappings -run ExcelSample -update` regenerates it.
func TestExcelSampleEncoding(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "excel-contacts.utf8.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := charmap.Windows1251.NewEncoder().Bytes(src)
	if err != nil {
		t.Fatalf("the source has characters windows-1251 lacks: %v", err)
	}
	path := filepath.Join(samplesDir, "excel-contacts.csv")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not the windows-1251 encoding of testdata/excel-contacts.utf8.csv; run with -update", path)
	}
	if bytes.Contains(got, []byte("Фамилия")) {
		t.Fatal("the Excel sample holds UTF-8 text")
	}
}

func TestSamples(t *testing.T) {
	cases := []struct {
		name     string
		delim    rune
		cp1251   bool
		target   Target
		rejected int
	}{
		{"contacts", ',', false, TargetUsers, 1},
		{"excel-contacts", ';', true, TargetUsers, 0},
		{"orders", ';', false, TargetDeals, 0},
		{"mailing", ',', false, TargetMessages, 0},
		{"groups", ',', false, TargetGroups, 0},
		{"gc-users-export", ',', false, TargetUsers, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(filepath.Join(samplesDir, tc.name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if m.Target != tc.target {
				t.Fatalf("target %s, want %s", m.Target, tc.target)
			}
			if want := map[rune]string{',': ",", ';': ";"}[tc.delim]; m.CSV.Delimiter != want {
				t.Errorf("csv.delimiter %q, want %q", m.CSV.Delimiter, want)
			}
			if wantEnc := map[bool]string{true: "windows-1251", false: "utf-8"}[tc.cp1251]; m.CSV.Encoding != wantEnc {
				t.Errorf("csv.encoding %q, want %q", m.CSV.Encoding, wantEnc)
			}
			header, rows := readSampleCSV(t, filepath.Join(samplesDir, tc.name+".csv"), tc.delim, tc.cp1251)
			if len(rows) < 10 || len(rows) > 40 {
				t.Errorf("%d rows; samples have 10-40", len(rows))
			}
			c, err := m.Compile(header)
			if err != nil {
				t.Fatal(err)
			}
			rejected := 0
			keys := map[string]bool{}
			for i, row := range rows {
				mp, err := c.Apply(row)
				var re RowError
				switch {
				case errors.As(err, &re):
					rejected++
					t.Logf("row %d rejected: %v", i+2, err)
					continue
				case err != nil:
					t.Fatalf("row %d: %v", i+2, err)
				}
				if _, err := mp.Params(); err != nil {
					t.Errorf("row %d: params do not decode: %v\n%s", i+2, err, mp.JSON)
				}
				if mp.Key == "" {
					t.Errorf("row %d has no key", i+2)
				}
				keys[mp.Key] = true
				if i == 0 {
					t.Logf("first row: %s", mp.JSON)
				}
			}
			if rejected != tc.rejected {
				t.Errorf("%d rows rejected, want %d", rejected, tc.rejected)
			}
			if len(keys) != len(rows)-rejected {
				t.Errorf("%d distinct keys for %d good rows", len(keys), len(rows)-rejected)
			}
		})
	}
}

// The simulator seeds these; samples that use others would fail the online check.
func TestSamplesUseSeededNames(t *testing.T) {
	fields := map[string]bool{"Telegram": true, "Источник": true, "Промокод": true, "Город доставки": true}
	groups := map[string]bool{"Тренинг SMM": true, "VIP Студенты": true, "Клиенты": true, "Рассылка": true, "Марафон": true}
	for _, name := range []string{"contacts", "excel-contacts", "orders", "groups", "gc-users-export"} {
		m, err := Load(filepath.Join(samplesDir, name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		user, deal := m.AddfieldNames()
		for _, f := range append(user, deal...) {
			if !fields[f] {
				t.Errorf("%s uses custom field %q, which the simulator does not seed", name, f)
			}
		}
		delim, cp := ',', false
		switch name {
		case "excel-contacts":
			delim, cp = ';', true
		case "orders":
			delim = ';'
		}
		header, rows := readSampleCSV(t, filepath.Join(samplesDir, name+".csv"), delim, cp)
		c, err := m.Compile(header)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			mp, err := c.Apply(row)
			if err != nil {
				continue
			}
			for _, g := range mp.Groups {
				if !groups[g] {
					t.Errorf("%s: group %q is not seeded (%s)", name, g, strings.Join(row, ","))
				}
			}
		}
	}
}
