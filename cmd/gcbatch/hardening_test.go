package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/importer"
)

// hardeningUsers is the mapping most bad-input cases import with.
const hardeningUsers = `target: users
fields:
  user.email: {column: email, transform: [trim, lower, email]}
  user.first_name: name
`

// wideHeader is a header of n columns named c0, c1, ... after the given first ones.
func wideRow(first []string, n int, cell func(i int) string) string {
	var b strings.Builder
	for i, f := range first {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f)
	}
	for i := len(first); i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(cell(i))
	}
	b.WriteByte('\n')
	return b.String()
}

// realStateFile writes a state file with some runs in it and returns its bytes.
func realStateFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := checkpoint.Open(path, checkpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := st.PutRun(checkpoint.Run{ID: fmt.Sprintf("run-%03d", i), Account: "acct", Target: "users",
			Status: "done", Started: time.Now(), Note: strings.Repeat("x", 2000)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHardeningBadInput feeds broken files, mappings, folders and state files to import and
// validate. Each must end with the documented exit code and a message that names the file
// (and the line, where there is one) and says what to do; no case may panic or send anything
// it should not.
func TestHardeningBadInput(t *testing.T) {
	t.Parallel()
	state := realStateFile(t)
	big := strings.Repeat("x", 10<<20)
	// Excel's "CSV (MS-DOS)" writes Cyrillic in CP866: with Latin column names the mapping
	// cannot notice it, and read as windows-1251 the names would reach GetCourse as gibberish.
	msdos, err := charmap.CodePage866.NewEncoder().String("email,name\r\nivan@example.com,Иван Петров\r\npetr@example.com,Пётр Сидоров\r\nanna@example.com,Анна Смирнова\r\n")
	if err != nil {
		t.Fatal(err)
	}
	type bad struct {
		name  string
		files map[string]string // relative name → content; "m.yaml" defaults to hardeningUsers
		// setup prepares what files cannot (folders, links, locks); it may return a cleanup.
		setup func(t *testing.T, e *importEnv)
		// args follow the global flags; "@NAME" is the path of NAME in the test folder.
		args []string
		code int
		// want must all appear in stdout+stderr; report in the run's rejected.csv.
		want   []string
		report []string
		sent   int
		noKey  bool // run with no API key at all
	}
	imp := func(extra ...string) []string {
		return append([]string{"import", "--mapping", "@m.yaml", "--rate", "1000/s"}, append(extra, "@in.csv")...)
	}
	val := func(extra ...string) []string {
		return append([]string{"validate", "--mapping", "@m.yaml"}, append(extra, "@in.csv")...)
	}
	utf8Mapping := "target: users\ncsv: {encoding: utf-8}\nfields:\n  user.email: email\n  user.first_name: name\n"
	cases := []bad{
		// The CSV file itself.
		{name: "empty file", files: map[string]string{"in.csv": ""}, args: imp(), code: 2,
			want: []string{"in.csv", "the file is empty", "expected a header line"}},
		{name: "blank lines only", files: map[string]string{"in.csv": "\n\r\n  \n"}, args: val(), code: 2,
			want: []string{"in.csv", "the file is empty"}},
		{name: "BOM only", files: map[string]string{"in.csv": "\xEF\xBB\xBF"}, args: imp(), code: 2,
			want: []string{"in.csv", "the file is empty"}},
		{name: "header only: import has nothing to do", files: map[string]string{"in.csv": "email,name\n"}, args: imp(), code: 0,
			want: []string{"rows      0 in ", "in.csv", "0 sent"}},
		{name: "header only: validate", files: map[string]string{"in.csv": "email,name\r\n"}, args: val(), code: 0,
			want: []string{"0 rows: 0 valid, 0 rejected"}},
		{name: "invalid UTF-8 with utf-8 forced", files: map[string]string{"m.yaml": utf8Mapping, "in.csv": "email,name\na@b.ru,\xff\xfe\n"},
			args: imp(), code: 1, want: []string{"rejected 1", "rejected.csv"},
			report: []string{"in.csv:2", "not valid UTF-8", "encoding: windows-1251"}},
		{name: "invalid UTF-8 in the header with utf-8 forced", files: map[string]string{"m.yaml": utf8Mapping, "in.csv": "em\xffail,name\na@b.ru,x\n"},
			args: imp(), code: 2, want: []string{"in.csv:1", "header", "not valid UTF-8", "encoding: windows-1251"}},
		{name: "NUL byte: validate", files: map[string]string{"in.csv": "email,name\na@b.ru,x\x00y\n"}, args: val(), code: 1,
			want: []string{"in.csv:2:", `"name"`, "NUL byte", "rejected.csv"}},
		{name: "NUL byte: import", files: map[string]string{"in.csv": "email,name\na@b.ru,x\x00y\n"}, args: imp(), code: 1,
			report: []string{"in.csv:2:", "NUL byte"}},
		{name: "unterminated quote at the end of the file: validate", files: map[string]string{"in.csv": "email,name\nb@c.ru,ok\na@b.ru,\"never closed\n"},
			args: val(), code: 1, want: []string{"in.csv:3:", "quote is never closed", "1 valid, 1 rejected"}},
		{name: "unterminated quote at the end of the file: import", files: map[string]string{"in.csv": "email,name\na@b.ru,\"never closed\nstill,inside\n"},
			args: imp(), code: 1, report: []string{"in.csv:2:", "quote is never closed"}},
		{name: "text after a closing quote", files: map[string]string{"in.csv": "email,name\na@b.ru,\"x\"y\n"}, args: val(), code: 1,
			want: []string{"in.csv:2:", "text after the closing quote", "must be doubled"}},
		{name: "a quote inside an unquoted cell is a character", files: map[string]string{"in.csv": "email,name\na@b.ru,Dell 27\" 4K\n"}, args: val("--show", "1"), code: 0,
			want: []string{`"first_name":"Dell 27\" 4K"`, "1 rows: 1 valid, 0 rejected"}},
		{name: "10 MB cell: validate goes on after it", files: map[string]string{"in.csv": "email,name\na@b.ru," + big + "\nc@d.ru,ok\n"},
			args: val(), code: 1, want: []string{"in.csv:2:", "longer than 4 MiB", "2 rows: 1 valid, 1 rejected"}},
		{name: "10 MB cell: import", files: map[string]string{"in.csv": "email,name\na@b.ru," + big + "\n"}, args: imp(), code: 1,
			report: []string{"in.csv:2:", "longer than 4 MiB"}},
		{name: "10,000 columns without the mapped ones", files: map[string]string{
			"in.csv": wideRow(nil, 10000, func(i int) string { return fmt.Sprintf("c%d", i) }) + wideRow(nil, 10000, func(int) string { return "v" })},
			args: imp(), code: 2, want: []string{"m.yaml:3:", `column "email" is not in the CSV header`, "c0, c1"}},
		{name: "10,000 columns with the mapped ones", files: map[string]string{
			"in.csv": wideRow([]string{"email", "name"}, 10000, func(i int) string { return fmt.Sprintf("c%d", i) }) +
				wideRow([]string{"wide@example.com", "Широкий"}, 10000, func(int) string { return "v" })},
			args: imp(), code: 0, want: []string{"ok        1"}, sent: 1},
		{name: "10 MB header", files: map[string]string{"in.csv": "email,name," + big + "\na@b.ru,x,y\n"}, args: imp(), code: 2,
			want: []string{"in.csv:1:", "header", "longer than 4 MiB"}},
		{name: "a header name the mapping reads twice", files: map[string]string{"in.csv": "email,name,name\na@b.ru,x,y\n"}, args: imp(), code: 2,
			want: []string{"m.yaml:4:", `column "name" appears 2 times in the CSV header`}},
		{name: "a header name twice that the mapping does not read", files: map[string]string{"in.csv": "email,Тег,name,Тег\na@b.ru,x,Имя,y\n"}, args: imp(), code: 0,
			want: []string{"ok        1"}, sent: 1},
		{name: "an unnamed column", files: map[string]string{"in.csv": "email,,name\na@b.ru,x,y\n"}, args: val(), code: 0,
			want: []string{"1 rows: 1 valid, 0 rejected"}},
		{name: "too many cells", files: map[string]string{"in.csv": "email,name\na@b.ru,x,y\n"}, args: val(), code: 1,
			want: []string{"in.csv:2:", "row has 3 cells, the header has 2"}},
		{name: "too few cells", files: map[string]string{"in.csv": "email,name\na@b.ru\n",
			"m.yaml": "target: users\ncsv: {delimiter: \",\"}\nfields:\n  user.email: email\n  user.first_name: name\n"}, args: imp(), code: 1,
			report: []string{"in.csv:2:", "row has 1 cells, the header has 2"}},
		{name: "UTF-16 file (Excel's Unicode Text)", files: map[string]string{"in.csv": utf16LE("email\tname\r\na@b.ru\tПётр 😀\r\n")}, args: imp(), code: 0,
			want: []string{"ok        1"}, sent: 1},
		{name: "CP866 file (Excel's CSV (MS-DOS)) with Latin column names", files: map[string]string{"in.csv": msdos}, args: imp(), code: 2,
			want: []string{"in.csv", "looks like CP866", "«ivan@example.com,Иван Петров» as CP866", "encoding: windows-1251"}, sent: 0},
		{name: "UTF-16 file with windows-1251 forced", files: map[string]string{
			"m.yaml": "target: users\ncsv: {encoding: windows-1251}\nfields:\n  user.email: email\n", "in.csv": utf16LE("email\na@b.ru\n")},
			args: imp(), code: 2, want: []string{"in.csv", "UTF-16", "remove that setting"}},
		{name: "byte order mark with windows-1251 forced", files: map[string]string{
			"m.yaml": "target: users\ncsv: {encoding: windows-1251}\nfields:\n  user.email: email\n", "in.csv": "\xEF\xBB\xBFemail\na@b.ru\n"},
			args: imp(), code: 2, want: []string{"in.csv", "byte order mark", "remove that setting"}},

		// The mapping file.
		{name: "mapping: YAML syntax error", files: map[string]string{"m.yaml": "target: users\nfields:\n  user.email: [email\n"},
			args: imp(), code: 2, want: []string{"m.yaml:", "not valid YAML"}},
		{name: "mapping: wrong type for an option", files: map[string]string{"m.yaml": "target: users\nfields:\n  user.email: {column: email, required: 5}\n"},
			args: imp(), code: 2, want: []string{"m.yaml:3:", "required must be true or false"}},
		{name: "mapping: fields is a list", files: map[string]string{"m.yaml": "target: users\nfields: [email, name]\n"},
			args: val(), code: 2, want: []string{"m.yaml:2:", "fields must be a mapping", "user.email: E-mail"}},
		{name: "mapping: target is a list", files: map[string]string{"m.yaml": "target: [users]\nfields:\n  user.email: email\n"},
			args: imp(), code: 2, want: []string{"m.yaml:1:", "target must be one of users, deals"}},
		{name: "mapping: unknown option", files: map[string]string{"m.yaml": "target: users\nfields:\n  user.email: {column: email, colour: red}\n"},
			args: imp(), code: 2, want: []string{"m.yaml:3:", `unknown option "colour"`}},
		{name: "mapping: unknown top-level key", files: map[string]string{"m.yaml": "target: users\nfeilds: {}\nfields:\n  user.email: email\n"},
			args: val(), code: 2, want: []string{"m.yaml:2:", `unknown key "feilds"`, "did you mean fields?"}},
		{name: "mapping: unknown target path", files: map[string]string{"m.yaml": "target: users\nfields:\n  user.email: email\n  user.frist_name: name\n"},
			args: imp(), code: 2, want: []string{"m.yaml:4:3:", `"user.frist_name"`, "did you mean user.first_name?"}},
		{name: "mapping: template names a missing column", files: map[string]string{"m.yaml": "target: users\nfields:\n  user.email: email\n  user.last_name: {template: \"{name} {Отчество}\"}\n"},
			args: imp(), code: 2, want: []string{"m.yaml:4:", `column "Отчество" is not in the CSV header`, "the header has: email, name"}},
		{name: "mapping: map to a status outside the service's list", files: map[string]string{"m.yaml": "target: deals\nfields:\n  user.email: email\n  deal.deal_status: {column: name, map: {Оплачен: paid}}\n"},
			args: imp(), code: 2, want: []string{"m.yaml:4:", `"paid" is not a known status`, "did you mean payed?"}},
		{name: "mapping: constant payment status outside the service's list", files: map[string]string{"m.yaml": "target: deals\nfields:\n  user.email: email\n  deal.payment_status: {value: paid}\n"},
			args: imp(), code: 2, want: []string{"m.yaml:4:", `"paid" is not a known payment status`}},
		{name: "mapping: unknown target", files: map[string]string{"m.yaml": "target: user\nfields:\n  user.email: email\n"},
			args: imp(), code: 2, want: []string{"m.yaml:1:", "did you mean users?"}},
		{name: "mapping: empty file", files: map[string]string{"m.yaml": ""}, args: val(), code: 2,
			want: []string{"m.yaml", "gcbatch mapping init"}},
		{name: "mapping: does not exist", args: []string{"import", "--mapping", "@nomap.yaml", "@in.csv"}, code: 2,
			files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"}, want: []string{"nomap.yaml", "cannot read the mapping file", "no such file"}},
		{name: "mapping: is a folder", setup: func(t *testing.T, e *importEnv) { os.Mkdir(e.path("mdir"), 0o700) },
			files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"}, args: []string{"import", "--mapping", "@mdir", "@in.csv"}, code: 2,
			want: []string{"mdir", "cannot read the mapping file"}},

		// The input cannot be read.
		{name: "CSV does not exist", args: []string{"import", "--mapping", "@m.yaml", "@nope.csv"}, code: 2,
			want: []string{"nope.csv", "cannot read the input file", "no such file"}},
		{name: "CSV is a folder", setup: func(t *testing.T, e *importEnv) { os.Mkdir(e.path("in.csv"), 0o700) },
			args: imp(), code: 2, want: []string{"in.csv", "is a directory"}},
		{name: "CSV is a folder: validate", setup: func(t *testing.T, e *importEnv) { os.Mkdir(e.path("in.csv"), 0o700) },
			args: val(), code: 2, want: []string{"cannot read the input file", "in.csv", "is a directory"}},
		// Tests run as root, which reads any file whatever its mode; a link to itself cannot
		// be opened by anyone.
		{name: "CSV cannot be opened", setup: func(t *testing.T, e *importEnv) { os.Symlink("in.csv", e.path("in.csv")) },
			args: imp(), code: 2, want: []string{"cannot read the input file", "in.csv", "too many levels of symbolic links"}},

		// Where gcbatch writes.
		{name: "reports folder is a file", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n", "rep": "x"},
			args: append([]string{"--reports", "@rep"}, imp()...), code: 2, want: []string{"reports folder", "rep", "not a directory"}},
		{name: "reports folder is inside a file", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n", "rep": "x"},
			args: append([]string{"--reports", "@rep/sub"}, val()...), code: 2, want: []string{"reports folder", "rep", "not a directory"}},
		{name: "state file is not a bbolt file", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n", "st.db": "line,email\n2,a@b.ru\n"},
			args: append([]string{"--state", "@st.db"}, imp()...), code: 2,
			want: []string{"st.db", "damaged or not a gcbatch state file", "mv ", "st.db.bad"}},
		{name: "state file is truncated", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n", "st.db": string(state[:len(state)/2])},
			args: append([]string{"--state", "@st.db"}, imp()...), code: 2, want: []string{"st.db", "cut short", "mv "}},
		{name: "state file is a folder", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"},
			setup: func(t *testing.T, e *importEnv) { os.Mkdir(e.path("st.db"), 0o700) },
			args:  append([]string{"--state", "@st.db"}, imp()...), code: 2, want: []string{"st.db", "is a folder", "--state"}},
		{name: "state file is locked by another run", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"},
			setup: func(t *testing.T, e *importEnv) {
				st, err := checkpoint.Open(e.path("st.db"), checkpoint.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
			},
			args: append([]string{"--state", "@st.db"}, imp()...), code: 2,
			want: []string{"st.db", "in use by another gcbatch process", "wait for it to finish"}},

		// Flags and connection.
		{name: "no API key", noKey: true, files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"}, args: imp(), code: 2,
			want: []string{"no API key", "GETCOURSE_API_KEY", "--key-file"}},
		{name: "key file does not exist", noKey: true, args: append([]string{"--key-file", "@nokey"}, imp()...), code: 2,
			want: []string{"cannot read --key-file", "nokey"}},
		{name: "key file is empty", noKey: true, files: map[string]string{"kf": "\n"}, args: append([]string{"--key-file", "@kf"}, imp()...), code: 2,
			want: []string{"--key-file", "kf is empty"}},
		{name: "log file cannot be written", setup: func(t *testing.T, e *importEnv) { os.Mkdir(e.path("logdir"), 0o700) },
			files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"}, args: append([]string{"--log", "@logdir"}, imp()...), code: 2,
			want: []string{"cannot open the log file", "logdir"}},
		{name: "plain http to a remote host", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"},
			args: append([]string{"--base-url", "http://school.example.com"}, imp()...), code: 2, want: []string{"plain http", "https"}},
		{name: "bad rate", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"}, args: imp("--rate", "fast"), code: 2, want: []string{"--rate"}},
		{name: "no concurrency", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"}, args: imp("--concurrency", "0"), code: 2,
			want: []string{"--concurrency must be from 1"}},
		{name: "two input files", files: map[string]string{"in.csv": "email,name\na@b.ru,x\n"}, args: append(imp(), "@in.csv"), code: 2,
			want: []string{"one CSV file, got 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newImportEnv(t, gcsim.Config{})
			if _, ok := tc.files["m.yaml"]; !ok {
				e.write("m.yaml", hardeningUsers)
			}
			if _, ok := tc.files["in.csv"]; !ok && tc.setup == nil {
				e.write("in.csv", "email,name\na@b.ru,Анна\n")
			}
			for name, content := range tc.files {
				e.write(name, content)
			}
			if tc.setup != nil {
				tc.setup(t, e)
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				if rest, ok := strings.CutPrefix(a, "@"); ok {
					a = e.path(rest)
				}
				args[i] = a
			}
			key := e.key
			if tc.noKey {
				e.key = ""
			}
			code, stdout, stderr := e.gcbatch(t.Context(), args...)
			all := stdout + stderr
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("the output does not say %q:\nstdout: %s\nstderr: %s", w, stdout, stderr)
				}
			}
			if strings.Contains(all, "panic") || strings.Contains(all, "goroutine ") {
				t.Errorf("the output looks like a crash: %s", all)
			}
			if len(tc.report) > 0 {
				run := e.lastRun()
				b, err := os.ReadFile(filepath.Join(run.ReportsDir, importer.RejectedFile))
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range tc.report {
					if !bytes.Contains(b, []byte(w)) {
						t.Errorf("rejected.csv does not say %q:\n%.500s", w, b)
					}
				}
			}
			if n := totalRequests(e.sim.Stats()); n != tc.sent {
				t.Errorf("%d requests reached the service, want %d", n, tc.sent)
			}
			if strings.Contains(all, key) {
				t.Error("the output holds the API key")
			}
		})
	}
}

// utf16LE is s as Windows writes "Unicode" text: UTF-16LE after a byte order mark.
func utf16LE(s string) string {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return string(b)
}
