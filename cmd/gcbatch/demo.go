package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/xuri/excelize/v2"

	"github.com/gcbatch/gcbatch/getcourse/gcsim"
	"github.com/gcbatch/gcbatch/samples"
)

// demoKey is the simulator's key for the demo. It is a local test key, not a secret, but the demo
// still passes it the way users pass theirs (the environment), never on a command line.
const demoKey = "demo-key-0f3c9a"

func newDemoCmd(g *globals) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole job end to end against the built-in simulator",
		Long: `demo starts the GetCourse simulator in-process (with latency and a few injected faults) and
runs the real commands against it: mapping init, validate, the online check catching a
misspelled custom field, import with an interruption and a resume, the nightly case, an
export to an Excel-ready CSV and to a workbook (.xlsx), a workbook import and the group list. Every file it writes stays in --dir for you
to look at. It exits 0 only if every step did what it said.`,
		Example: `  gcbatch demo
  gcbatch demo --dir /tmp/gcbatch-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), g, &o)
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "gcbatch-demo", "folder for the demo's files (emptied first)")
	return cmd
}

// demo is the state of one demo run: the simulator, the folder, and the steps' verdicts.
type demo struct {
	g       *globals
	ctx     context.Context
	dir     string
	baseURL string
	sim     *gcsim.Sim
	steps   []demoStep
}

type demoStep struct {
	name, outcome string
	ok            bool
}

// demoOptions are the inputs of `gcbatch demo`.
type demoOptions struct {
	Dir string
}

func runDemo(ctx context.Context, g *globals, o *demoOptions) error {
	dir := o.Dir
	if dir == "" || dir == "/" || dir == "." {
		return exitErr(2, fmt.Errorf("--dir must name a folder of its own, not %q", dir))
	}
	if err := os.RemoveAll(dir); err != nil {
		return exitErr(2, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "samples"), 0o700); err != nil {
		return exitErr(2, err)
	}
	if err := fs.WalkDir(samples.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := samples.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "samples", p), b, 0o600)
	}); err != nil {
		return exitErr(2, fmt.Errorf("writing the samples: %w", err))
	}

	sim := gcsim.New(gcsim.Config{
		Key:         demoKey,
		Latency:     15 * time.Millisecond,
		Faults:      gcsim.Faults{Err500: 0.03, HTML: 0.02},
		ExportDelay: 3 * time.Second,
		SeedUsers:   500,
		SeedDeals:   800,
		Seed:        2026,
	})
	simCtx, stopSim := context.WithCancel(ctx)
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- gcsim.Serve(simCtx, sim, gcsim.ServeOptions{Listen: "127.0.0.1:0", Ready: func(u string) { ready <- u }}, io.Discard)
	}()
	defer func() {
		stopSim()
		<-served
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-served:
		return exitErr(2, fmt.Errorf("starting the simulator: %w", err))
	case <-ctx.Done():
		return exitErr(3, ctx.Err())
	}

	d := &demo{g: g, ctx: ctx, dir: dir, baseURL: base, sim: sim}
	d.say("gcbatch demo: a GetCourse simulator is listening on %s (15 ms latency, 5%% injected faults).", base)
	d.say("Every command below is the real CLI; its files are under %s/.", dir)
	err := d.story()
	d.summary()
	if err != nil {
		return err
	}
	for _, s := range d.steps {
		if !s.ok {
			return exitErr(1, nil)
		}
	}
	return nil
}

func (d *demo) say(format string, a ...any) { fmt.Fprintf(d.g.Stdout, format+"\n", a...) }

func (d *demo) step(name string, ok bool, format string, a ...any) {
	outcome := fmt.Sprintf(format, a...)
	d.steps = append(d.steps, demoStep{name: name, ok: ok, outcome: outcome})
	mark := "ok"
	if !ok {
		mark = "FAILED"
	}
	d.say("  → %s: %s\n", mark, outcome)
}

func (d *demo) path(parts ...string) string {
	return filepath.Join(append([]string{d.dir}, parts...)...)
}

// gcbatch runs one gcbatch command line in-process against the simulator and returns its exit
// code. The key travels in the (simulated) environment, as a user's would.
func (d *demo) gcbatch(ctx context.Context, args ...string) int {
	d.say("\n$ gcbatch %s", strings.Join(args, " "))
	sub := newGlobals()
	sub.Stdout, sub.Stderr = d.g.Stdout, d.g.Stderr
	sub.Progress = d.g.Progress
	sub.Getenv = func(name string) string {
		switch name {
		case "GETCOURSE_API_KEY":
			return demoKey
		case "GETCOURSE_BASE_URL":
			return d.baseURL
		}
		return ""
	}
	sub.WorkDir = d.dir
	full := append([]string{"--state", d.path("state.db"), "--reports", d.path("reports"), "--progress", d.g.Progress}, args...)
	defer sub.close()
	return execute(ctx, sub, full)
}

func (d *demo) story() error {
	s := func(name string) string { return d.path("samples", name) }

	d.say("\n== 1. A starter mapping guessed from a CRM export's header")
	code := d.gcbatch(d.ctx, "mapping", "init", "--target", "users", "-o", d.path("guessed.yaml"), s("contacts.csv"))
	d.step("mapping init", code == 0, "exit %d; the guess is in %s", code, d.path("guessed.yaml"))
	if code == 0 {
		d.showHead(d.path("guessed.yaml"), 14)
	}

	d.say("\n== 2. Check every row before anything is sent (no network)")
	code = d.gcbatch(d.ctx, "validate", "--mapping", s("contacts.yaml"), s("contacts.csv"))
	d.step("validate", code == 1, "exit %d: one row has a bad e-mail and would be rejected; rejected.csv holds it, ready to fix", code)

	d.say("\n== 2b. Catch a misspelled custom field before anything is sent (online check)")
	typo, err := d.typoMapping(s("contacts.yaml"))
	if err != nil {
		return exitErr(2, err)
	}
	var said bytes.Buffer // the step checks what the user was told, not just the exit code
	stderr := d.g.Stderr
	d.g.Stderr = io.MultiWriter(stderr, &said)
	before := d.sim.Stats()
	code = d.gcbatch(d.ctx, "import", "--mapping", typo, "--rate", "40/s", s("contacts.csv"))
	after := d.sim.Stats()
	d.g.Stderr = stderr
	imports := after.Requests["/pl/api/users"] - before.Requests["/pl/api/users"]
	suggested := strings.Contains(said.String(), `может быть "Telegram"?`)
	d.step("online check", code == 2 && imports == 0 && suggested,
		"exit %d: user.addfields.Telegramm is not a field of the account (suggested Telegram: %v); %d import requests sent", code, suggested, imports)

	d.say("\n== 3. Migrate the contact list")
	before = d.sim.Stats()
	code = d.gcbatch(d.ctx, "import", "--mapping", s("contacts.yaml"), "--rate", "40/s", s("contacts.csv"))
	after = d.sim.Stats()
	created := after.UsersCreated - before.UsersCreated
	d.step("import contacts", code == 1 && created > 0, "exit %d (1 = done, with the one bad row rejected); the simulator created %d users", code, created)

	d.say("\n== 3b. Import a CRM's workbook (.xlsx): phones are number cells, birthdays date cells")
	before = d.sim.Stats()
	code = d.gcbatch(d.ctx, "import", "--mapping", s("crm-contacts.yaml"), "--rate", "40/s", s("crm-contacts.xlsx"))
	after = d.sim.Stats()
	added := after.UsersCreated - before.UsersCreated + after.UsersUpdated - before.UsersUpdated
	d.step("import workbook", code == 1 && added > 0, "exit %d (the bad e-mail went to rejected.xlsx); the simulator added or updated %d users", code, added)

	d.say("\n== 4. Nightly orders: day one, interrupted part-way, then resumed")
	day1, total, err := d.firstRows(s("orders.csv"), 3)
	if err != nil {
		return exitErr(2, err)
	}
	ictx, interrupt := context.WithCancel(d.ctx)
	watchDone := make(chan struct{})
	go func() { // plays the user pressing Ctrl-C once a few deals have gone out
		defer close(watchDone)
		base := d.sim.Stats().DealsCreated
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ictx.Done():
				return
			case <-t.C:
				if d.sim.Stats().DealsCreated-base >= 6 {
					d.say("  (demo: interrupting the import, as Ctrl-C would)")
					interrupt()
					return
				}
			}
		}
	}()
	code = d.gcbatch(ictx, "import", "--mapping", s("orders.yaml"), "--rate", "15/s", "--concurrency", "2", day1)
	interrupt()
	<-watchDone
	d.step("import interrupted", code == 3, "exit %d (3 = stopped early; rerun the same command to resume)", code)
	code = d.gcbatch(d.ctx, "import", "--mapping", s("orders.yaml"), "--rate", "30/s", day1)
	st := d.sim.Stats()
	twice := 0
	for _, n := range st.DealsByNumber {
		if n > 1 {
			twice++
		}
	}
	d.step("resume", code == 0 && len(st.DealsByNumber) == total-3 && twice == 0,
		"exit %d; %d orders in the simulator, %d sent twice", code, len(st.DealsByNumber), twice)

	d.say("\n== 5. The next night: the same file again, then a grown file")
	before = d.sim.Stats()
	code = d.gcbatch(d.ctx, "import", "--mapping", s("orders.yaml"), day1)
	sent := d.sim.Stats().Requests["/pl/api/deals"] - before.Requests["/pl/api/deals"]
	d.step("same file again", code == 0 && sent == 0, "exit %d; %d requests sent (every row is already confirmed)", code, sent)
	before = d.sim.Stats()
	code = d.gcbatch(d.ctx, "import", "--mapping", s("orders.yaml"), s("orders.csv"))
	after = d.sim.Stats()
	newDeals := after.DealsCreated - before.DealsCreated
	d.step("grown file", code == 0 && newDeals == 3, "exit %d; %d new orders sent, nothing else", code, newDeals)

	d.say("\n== 6. Pull the users into an Excel-ready spreadsheet (two-phase export within the budget)")
	out := d.path("users.csv")
	code = d.gcbatch(d.ctx, "export", "users", "--created-from", "2000-01-01", "--excel", "-o", out)
	rows := countLines(out)
	d.step("export users", code == 0 && rows > 1, "exit %d; %s has %d lines (UTF-8 with BOM, ';' separated)", code, out, rows)

	d.say("\n== 6b. The same users into a workbook: text cells, so phones keep their + and ids their digits")
	book := d.path("users.xlsx")
	code = d.gcbatch(d.ctx, "export", "users", "--created-from", "2000-01-01", "-o", book)
	sheetRows, err := workbookRows(book)
	read := "header included"
	if err != nil {
		read = "unreadable: " + err.Error()
	}
	d.step("export users.xlsx", code == 0 && err == nil && sheetRows > 1, "exit %d; %s has %d rows, %s", code, book, sheetRows, read)

	d.say("\n== 7. The account's groups")
	code = d.gcbatch(d.ctx, "groups", "--format", "table")
	d.step("groups", code == 0, "exit %d", code)

	if d.ctx.Err() != nil {
		return exitErr(3, errors.New("demo interrupted"))
	}
	return nil
}

// workbookRows counts the rows of a workbook's first sheet with excelize's reader.
func workbookRows(path string) (int, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rows, err := f.Rows(f.GetSheetName(0))
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	return n, errors.Join(rows.Error(), rows.Close())
}

// typoMapping writes a copy of the contacts mapping with one custom field misspelled, the
// kind of typo GetCourse itself would swallow without a word.
func (d *demo) typoMapping(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	typo := strings.Replace(string(b), "user.addfields.Telegram:", "user.addfields.Telegramm:", 1)
	if typo == string(b) {
		return "", fmt.Errorf("%s no longer maps user.addfields.Telegram", path)
	}
	out := d.path("samples", "contacts-typo.yaml")
	return out, os.WriteFile(out, []byte(typo), 0o600)
}

// firstRows writes a copy of the CSV without its last n rows (the "day one" file of the nightly
// story) and returns its path and the full file's number of rows. The sample has one row per line.
func (d *demo) firstRows(path string, n int) (string, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	lines := strings.SplitAfter(strings.TrimRight(string(b), "\r\n"), "\n")
	rows := len(lines) - 1
	if rows <= n {
		return "", 0, fmt.Errorf("%s has too few rows for the nightly demo", path)
	}
	out := d.path("samples", "orders-day1.csv")
	return out, rows, os.WriteFile(out, []byte(strings.Join(lines[:len(lines)-n], "")), 0o600)
}

func (d *demo) showHead(path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < n && sc.Scan(); i++ {
		d.say("  | %s", sc.Text())
	}
	d.say("  | ...")
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

func (d *demo) summary() {
	d.say("\n== Summary")
	failed := 0
	for _, s := range d.steps {
		mark := "ok    "
		if !s.ok {
			mark = "FAILED"
			failed++
		}
		d.say("  %s %-20s %s", mark, s.name, s.outcome)
	}
	st := d.sim.Stats()
	faults := 0
	for _, n := range st.FaultsInjected {
		faults += n
	}
	d.say("  The simulator answered %d requests, %d of them with an injected fault that gcbatch retried.", total(st.Requests), faults)
	d.say("  Files: %s (reports per run, state.db, users.csv)", d.dir)
	if failed == 0 {
		d.say("Every step did what it said.")
	} else {
		d.say("%d step(s) did not do what they said.", failed)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
