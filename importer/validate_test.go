package importer

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gcbatch/gcbatch/internal/gen"
	"github.com/gcbatch/gcbatch/mappings"
)

// The -update flag rewrites the golden files. It is registered only if another test file of the
// package has not already registered it, so each file can own golden files of its own.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/validate/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "validate", name)
	if updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it after checking):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

var fixedNow = func() time.Time { return time.Date(2025, 3, 1, 9, 30, 0, 0, time.Local) }

// validateCase runs Validate and renders what a user sees: stdout, stderr, the error and the
// report, with the temporary reports folder shown as REPORTS.
func validateCase(t *testing.T, reports, mapping, input string, show, maxErrors int) (out []byte, rep *ValidateReport) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	rep, err := Validate(t.Context(), ValidateOptions{
		MappingPath: mapping, InputPath: input, ReportsDir: reports, Show: show,
		Stdout: &stdout, Stderr: &stderr, MaxErrorsShown: maxErrors, Now: fixedNow,
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "$ validate --mapping %s --show %d %s\n", mapping, show, input)
	fmt.Fprintf(&b, "--- stdout\n%s--- stderr\n%s", stdout.String(), stderr.String())
	if err != nil {
		fmt.Fprintf(&b, "--- error\n%v\n", err)
	}
	if rep != nil {
		fmt.Fprintf(&b, "--- report\nrows %d, valid %d, rejected %d, warnings %d\n", rep.Rows, rep.Valid, rep.Rejected, len(rep.Warnings))
	}
	return bytes.ReplaceAll(b.Bytes(), []byte(reports), []byte("REPORTS")), rep
}

func TestValidateGolden(t *testing.T) {
	t.Parallel()
	const dir = "testdata/validate/"
	tests := []struct {
		name, mapping, input string
		show, maxErrors      int
		wantErr              bool
	}{
		{name: "rows", mapping: dir + "rows.yaml", input: dir + "rows.csv", show: 2},
		{name: "rows-first-3", mapping: dir + "rows.yaml", input: dir + "rows.csv", maxErrors: 3},
		{name: "deals-1251", mapping: dir + "deals-1251.yaml", input: dir + "deals-1251.csv"},
		{name: "badmap", mapping: dir + "badmap.yaml", input: dir + "rows.csv", wantErr: true},
		{name: "missingcol", mapping: dir + "missingcol.yaml", input: dir + "rows.csv", wantErr: true},
		{name: "ambiguous", mapping: dir + "rows.yaml", input: dir + "ambiguous.csv", wantErr: true},
		{name: "no-input", mapping: dir + "rows.yaml", input: dir + "missing.csv", wantErr: true},
	}
	// Every sample shipped in samples/ (CSV beside its mapping).
	samples, err := filepath.Glob("../samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(samples)
	for _, m := range samples {
		in := strings.TrimSuffix(m, ".yaml") + ".csv"
		if _, err := os.Stat(in); err != nil {
			continue
		}
		tests = append(tests, struct {
			name, mapping, input string
			show, maxErrors      int
			wantErr              bool
		}{name: "sample-" + strings.TrimSuffix(filepath.Base(m), ".yaml"), mapping: m, input: in, show: 3})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, rep := validateCase(t, t.TempDir(), tt.mapping, tt.input, tt.show, tt.maxErrors)
			if (rep == nil) != tt.wantErr {
				t.Fatalf("report %v, want an error: %v\n%s", rep, tt.wantErr, out)
			}
			golden(t, tt.name+".out.golden", out)
			if rep == nil {
				return
			}
			rejected, err := os.ReadFile(rep.RejectsPath)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".rejected.golden", rejected)
			if rep.Rows != rep.Valid+rep.Rejected {
				t.Errorf("rows %d != valid %d + rejected %d", rep.Rows, rep.Valid, rep.Rejected)
			}
			if want := "validate-20250301-093000"; filepath.Base(filepath.Dir(rep.RejectsPath)) != want {
				t.Errorf("reports folder %s, want %s", rep.RejectsPath, want)
			}
		})
	}
}

// TestValidateRejectsFeedBack checks the promise of rejected.csv: it reads back with the same
// mapping, in the same dialect, holding every rejected row. Rows rejected for their values are
// rejected again with the same reason; a row rejected for a stray quote comes back correctly
// quoted (see the goldens).
func TestValidateRejectsFeedBack(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"rows", "deals-1251"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reports := t.TempDir()
			mapping := "testdata/validate/" + name + ".yaml"
			_, first := validateCase(t, reports, mapping, "testdata/validate/"+name+".csv", 0, 0)
			if first == nil || first.Rejected == 0 {
				t.Fatalf("fixture has no rejected rows: %+v", first)
			}
			out, second := validateCase(t, reports, mapping, first.RejectsPath, 0, 0)
			if second == nil {
				t.Fatalf("feeding rejected.csv back failed:\n%s", out)
			}
			golden(t, name+"-fed-back.out.golden", out)
			b, err := os.ReadFile(second.RejectsPath)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+"-fed-back.rejected.golden", b)
			if second.Dialect != first.Dialect {
				t.Errorf("rejected.csv dialect %+v, input %+v", second.Dialect, first.Dialect)
			}
			if second.Rows != first.Rejected {
				t.Errorf("fed back %d rows, want the %d rejected", second.Rows, first.Rejected)
			}
			if name == "deals-1251" { // value errors only: the same file comes out again
				a, _ := os.ReadFile(first.RejectsPath)
				if !bytes.Equal(a, b) {
					t.Errorf("rejected.csv of rejected.csv differs:\n%q\n---\n%q", a, b)
				}
			}
		})
	}
}

func TestValidateReportFolders(t *testing.T) {
	t.Parallel()
	reports := filepath.Join(t.TempDir(), "gcbatch-reports")
	seen := map[string]bool{}
	for range 3 {
		rep, err := Validate(t.Context(), ValidateOptions{
			MappingPath: "testdata/validate/rows.yaml", InputPath: "testdata/validate/rows.csv",
			ReportsDir: reports, Now: fixedNow,
		})
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(rep.RejectsPath)
		if seen[dir] {
			t.Fatalf("two runs in the same second share %s", dir)
		}
		seen[dir] = true
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", dir, st.Mode().Perm())
		}
	}
	for _, d := range []string{"validate-20250301-093000", "validate-20250301-093000-2", "validate-20250301-093000-3"} {
		if !seen[filepath.Join(reports, d)] {
			t.Errorf("no folder %s among %v", d, seen)
		}
	}
}

func TestValidateGenerated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		write   func(io.Writer, int, int64, ...gen.Option) error
		mapping string
		invalid float64
	}{
		{"contacts", gen.Contacts, gen.ContactsMapping(), 0},
		{"contacts with invalid rows", gen.Contacts, gen.ContactsMapping(), 0.02},
		{"orders", gen.Orders, gen.OrdersMapping(), 0},
		{"orders with invalid rows", gen.Orders, gen.OrdersMapping(), 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const n = 5000
			dir := t.TempDir()
			mapping, input := writeGenerated(t, dir, tt.write, tt.mapping, n, gen.Invalid(tt.invalid))
			var stdout bytes.Buffer
			rep, err := Validate(t.Context(), ValidateOptions{MappingPath: mapping, InputPath: input, ReportsDir: dir, Stdout: &stdout, Show: 5, Stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Rows != n {
				t.Fatalf("%d rows, want %d", rep.Rows, n)
			}
			if tt.invalid == 0 && rep.Rejected != 0 {
				b, _ := os.ReadFile(rep.RejectsPath)
				t.Fatalf("%d rows rejected from a file without invalid rows:\n%.2000s", rep.Rejected, b)
			}
			if lo, hi := int(n*tt.invalid/2), int(n*tt.invalid*2); tt.invalid > 0 && (rep.Rejected < lo || rep.Rejected > hi) {
				t.Fatalf("%d rejected with Invalid(%v), want %d..%d", rep.Rejected, tt.invalid, lo, hi)
			}
			if lines := strings.Count(stdout.String(), "\n"); lines != 5 || !strings.HasPrefix(stdout.String(), `{"line": `) {
				t.Fatalf("--show 5 printed:\n%s", stdout.String())
			}
		})
	}
}

func TestValidateCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mapping, input := writeGenerated(t, dir, gen.Contacts, gen.ContactsMapping(), 5000)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rep, err := Validate(ctx, ValidateOptions{MappingPath: mapping, InputPath: input, ReportsDir: dir})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if rep == nil || rep.Rows >= 5000 {
		t.Fatalf("report %+v: want the partial report of a stopped run", rep)
	}
}

func TestValidateMappingErrorsAreLoadErrors(t *testing.T) {
	t.Parallel()
	for _, m := range []string{"testdata/validate/badmap.yaml", "testdata/validate/missingcol.yaml", "testdata/validate/nothere.yaml"} {
		_, err := Validate(t.Context(), ValidateOptions{MappingPath: m, InputPath: "testdata/validate/rows.csv", ReportsDir: t.TempDir()})
		var le mappings.LoadErrors
		if !errors.As(err, &le) || len(le) == 0 {
			t.Errorf("%s: error %v (%T), want mappings.LoadErrors", m, err, err)
		}
	}
}

// writeGenerated writes a generated CSV and its mapping into dir.
func writeGenerated(t testing.TB, dir string, write func(io.Writer, int, int64, ...gen.Option) error, mapping string, n int, opts ...gen.Option) (mappingPath, inputPath string) {
	t.Helper()
	mappingPath = filepath.Join(dir, "mapping.yaml")
	inputPath = filepath.Join(dir, "input.csv")
	if err := os.WriteFile(mappingPath, []byte(mapping), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(inputPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(f, n, 1, opts...); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return mappingPath, inputPath
}

// BenchmarkValidate measures validate over 100,000 generated contacts (1% invalid): reading,
// mapping and writing rejects, as `gcbatch validate` does.
func BenchmarkValidate(b *testing.B) {
	const n = 100000
	dir := b.TempDir()
	mapping, input := writeGenerated(b, dir, gen.Contacts, gen.ContactsMapping(), n, gen.Invalid(0.01))
	for b.Loop() {
		rep, err := Validate(b.Context(), ValidateOptions{MappingPath: mapping, InputPath: input, ReportsDir: filepath.Join(dir, "reports")})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Rows != n {
			b.Fatalf("%d rows", rep.Rows)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// failingInput gives n rows, then a read error (a disk failing halfway through the file).
type failingInput struct {
	n, i int
	err  error
}

func (f *failingInput) Header() []string { return []string{"email"} }
func (f *failingInput) Name() string     { return "broken.csv" }
func (f *failingInput) Close() error     { return nil }
func (f *failingInput) Next() (Row, error) {
	if f.i == f.n {
		return Row{}, f.err
	}
	f.i++
	return Row{Line: f.i + 1, Cells: []string{fmt.Sprintf("u%d@example.com", f.i)}}, nil
}

// checkRows maps on several goroutines but must give every row read before a read error, in
// file order, then the error; and a loop that stops early must leave no goroutine behind.
func TestCheckRowsOrderAndReadError(t *testing.T) {
	m, err := mappings.Parse("m.yaml", []byte("target: users\nfields:\n  user.email: {column: email}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Compile([]string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	disk := errors.New("read broken.csv: input/output error")
	const n = 10*checkBatch + 17
	v := &validation{src: &failingInput{n: n, err: disk}, c: c}
	line, gotErr := 2, error(nil)
	for b, err := range v.checkRows(t.Context()) {
		if err != nil {
			gotErr = err
			break
		}
		for _, r := range b {
			if r.row.Line != line || r.reason != "" || !strings.Contains(string(r.mapped.JSON), fmt.Sprintf("u%d@", line-1)) {
				t.Fatalf("row %+v (params %s), want line %d mapped", r.row, r.mapped.JSON, line)
			}
			line++
		}
	}
	if line != n+2 || !errors.Is(gotErr, disk) {
		t.Fatalf("got rows up to line %d and error %v; want %d rows, then the read error", line-1, gotErr, n)
	}

	before := runtime.NumGoroutine()
	v = &validation{src: &failingInput{n: n, err: io.EOF}, c: c}
	for range v.checkRows(t.Context()) {
		break
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond) // goroutines that returned may take a moment to be gone
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines after a loop that stopped early, %d before", g, before)
	}
}
