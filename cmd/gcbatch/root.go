package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/importer"
)

// globals holds what every command shares: the IO streams, the global flags and the ways to reach
// the account and the state file. Tests build one with buffers (&globals{Stdout: &buf, ...}) and call the
// command's run function, so nothing here reads process-wide state after construction.
type globals struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader

	// Global flags (design.md "Commands").
	Account    string
	BaseURL    string
	KeyFile    string
	StatePath  string
	ReportsDir string
	Progress   string // auto | always | never
	LogFile    string
	LogFormat  string // text | json

	// Getenv reads the environment; tests replace it.
	Getenv func(string) string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// WorkDir is where .env is looked for; "" means the current directory.
	WorkDir string

	// Logger is set up before a command runs (--log); it discards when no log file is asked for.
	Logger  *slog.Logger
	logFile *os.File

	// command is the name of the command running (import, sim...), read by the signal
	// handler on its own goroutine to say what stopping means (main.go).
	command atomicString
}

// atomicString is a string read and written from different goroutines.
type atomicString struct{ v atomic.Pointer[string] }

func (a *atomicString) Store(s string) { a.v.Store(&s) }
func (a *atomicString) Load() string {
	if p := a.v.Load(); p != nil {
		return *p
	}
	return ""
}

func newGlobals() *globals {
	return &globals{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Stdin:  os.Stdin,
		Getenv: os.Getenv,
		Now:    time.Now,
		Logger: slog.New(slog.DiscardHandler),
	}
}

// exitError carries the process exit code chosen by a command (design.md: 0 done, 1 some rows
// rejected or failed, 2 usage/configuration/input error, 3 stopped early).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// exitErr wraps err so that the process exits with code. A nil err with a non-zero code exits
// quietly (the command has already said what happened).
func exitErr(code int, err error) error { return &exitError{code: code, err: err} }

// exitCode is the one place that turns an error into the process exit code.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		return 3
	}
	if k := getcourse.KindOf(err); k != getcourse.KindUnknown {
		if k.Fatal() || k == getcourse.KindTransport || k == getcourse.KindServer || k == getcourse.KindProtocol || k == getcourse.KindRateLimited || k == getcourse.KindBusy {
			return 3
		}
		return 2
	}
	return 2
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "gcbatch",
		Short: "Batch import and export for the GetCourse API",
		Long: `gcbatch moves spreadsheets into GetCourse and GetCourse data back into spreadsheets:
it maps CSV columns to API params with a YAML mapping file, sends rows through a rate-limited,
retrying worker pool, checkpoints every row so that a rerun resumes, and drives the two-phase
export API into Excel-ready CSV.

The account: --account NAME (https://NAME.getcourse.ru) or --base-url URL (custom domains, the
simulator). The secret key: GETCOURSE_API_KEY, a .env file in the working directory, or
--key-file PATH. There is deliberately no flag that takes the key itself.

Exit codes: 0 all done; 1 finished but some rows were rejected or failed; 2 usage, configuration
or input error, nothing sent; 3 stopped early (fatal API answer or interrupted): rerun to resume.`,
		Example: `  gcbatch validate --mapping samples/contacts.yaml samples/contacts.csv
  gcbatch import --account myschool --mapping samples/contacts.yaml samples/contacts.csv
  gcbatch export users --created-from 2024-01-01 --excel -o users.csv
  gcbatch sim --listen 127.0.0.1:8080`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g.command.Store(cmd.Name())
			return g.setupLogging()
		},
	}
	root.SetOut(g.Stdout)
	root.SetErr(g.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.Account, "account", "", "account name: https://NAME.getcourse.ru (env GETCOURSE_ACCOUNT)")
	pf.StringVar(&g.BaseURL, "base-url", "", "the account's root URL, for custom domains or the simulator (env GETCOURSE_BASE_URL)")
	pf.StringVar(&g.KeyFile, "key-file", "", "file holding the secret API key (else GETCOURSE_API_KEY or .env)")
	pf.StringVar(&g.StatePath, "state", filepath.Join(".gcbatch", "state.db"), "state file: progress of imports, pending exports, export budget")
	pf.StringVar(&g.ReportsDir, "reports", "gcbatch-reports", "folder for run reports")
	pf.StringVar(&g.Progress, "progress", "auto", "progress bar: auto (only on a terminal) | always | never")
	pf.StringVar(&g.LogFile, "log", "", "write a log to FILE")
	pf.StringVar(&g.LogFormat, "log-format", "text", "log format: text | json")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return exitErr(2, fmt.Errorf("%w\nsee '%s --help'", err, cmd.CommandPath()))
	})

	root.AddCommand(
		newImportCmd(g),
		newValidateCmd(g),
		newMappingCmd(g),
		newExportCmd(g),
		newGroupsCmd(g),
		newRunsCmd(g),
		newSimCmd(g),
		newDemoCmd(g),
		newVersionCmd(g),
	)
	// --version prints the same line as `gcbatch version`.
	root.Version = versionLine()
	root.SetVersionTemplate("{{.Version}}\n")
	return root
}

func (g *globals) setupLogging() error {
	switch g.Progress {
	case "auto", "always", "never":
	default:
		return exitErr(2, fmt.Errorf("--progress must be auto, always or never, not %q", g.Progress))
	}
	if g.LogFile == "" {
		return nil
	}
	f, err := os.OpenFile(g.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return exitErr(2, fmt.Errorf("cannot open the log file: %w", err))
	}
	g.logFile = f
	var h slog.Handler
	switch g.LogFormat {
	case "text":
		h = slog.NewTextHandler(f, nil)
	case "json":
		h = slog.NewJSONHandler(f, nil)
	default:
		return exitErr(2, fmt.Errorf("--log-format must be text or json, not %q", g.LogFormat))
	}
	g.Logger = slog.New(h)
	return nil
}

func (g *globals) close() {
	if g.logFile != nil {
		g.logFile.Close()
	}
}

// isTerminal reports whether w is a terminal (progress bars and tables only go to terminals).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (g *globals) stdoutIsTerminal() bool { return isTerminal(g.Stdout) }

// progressEnabled says whether a progress bar may be drawn on stderr.
func (g *globals) progressEnabled() bool {
	switch g.Progress {
	case "always":
		return true
	case "never":
		return false
	}
	return isTerminal(g.Stderr)
}

// env reads a variable from the environment, then from .env in the working directory.
func (g *globals) env(name string) string {
	if v := g.Getenv(name); v != "" {
		return v
	}
	return readDotEnv(filepath.Join(g.WorkDir, ".env"))[name]
}

// readDotEnv reads KEY=VALUE lines; quotes around the value are removed, # starts a comment line.
// A missing file is an empty map: .env is optional.
func readDotEnv(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// apiKey finds the secret key: --key-file, then GETCOURSE_API_KEY, then .env.
func (g *globals) apiKey() (string, error) {
	if g.KeyFile != "" {
		b, err := os.ReadFile(g.KeyFile)
		if err != nil {
			return "", exitErr(2, fmt.Errorf("cannot read --key-file: %w", err))
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return "", exitErr(2, fmt.Errorf("--key-file %s is empty", g.KeyFile))
		}
		return k, nil
	}
	if k := strings.TrimSpace(g.env("GETCOURSE_API_KEY")); k != "" {
		return k, nil
	}
	return "", exitErr(2, errors.New("no API key: set GETCOURSE_API_KEY, put it in .env, or pass --key-file PATH (GetCourse: Настройки → API)"))
}

// client builds an API client for the account the flags and environment name.
func (g *globals) client(ctx context.Context, opts ...getcourse.Option) (*getcourse.Client, error) {
	key, err := g.apiKey()
	if err != nil {
		return nil, err
	}
	base := g.BaseURL
	if base == "" {
		base = g.env("GETCOURSE_BASE_URL")
	}
	account := g.Account
	if account == "" {
		account = g.env("GETCOURSE_ACCOUNT")
	}
	var all []getcourse.Option
	switch {
	case base != "":
		all = append(all, getcourse.WithBaseURL(base))
	case account != "":
		all = append(all, getcourse.WithAccount(account))
	default:
		return nil, exitErr(2, errors.New("no account: pass --account NAME or --base-url URL (or set GETCOURSE_ACCOUNT / GETCOURSE_BASE_URL)"))
	}
	all = append(all, getcourse.WithKey(key))
	all = append(all, opts...)
	c, err := getcourse.NewClient(all...)
	if err != nil {
		return nil, exitErr(2, getcourseRedacted(err, key))
	}
	return c, nil
}

// getcourseRedacted makes sure no configuration error can echo the key.
func getcourseRedacted(err error, key string) error {
	return errors.New(getcourse.Redact(err.Error(), key))
}

// openState opens the state file (creating its folder 0700).
func (g *globals) openState() (*checkpoint.Store, error) {
	if dir := filepath.Dir(g.StatePath); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, exitErr(2, fmt.Errorf("cannot create the state folder: %w", err))
		}
	}
	st, err := checkpoint.Open(g.StatePath, checkpoint.Options{})
	if err != nil {
		if errors.Is(err, checkpoint.ErrLocked) {
			l, _ := importer.ReadStatus(g.StatePath)
			switch {
			case l != nil && l.Starting() && !l.ProcessGone():
				err = fmt.Errorf("%w\nan import is starting on it (pid %d: %s).\n'gcbatch runs' shows its progress; rerun this command when it ends", err, l.PID, l.Run.Command)
			case l != nil && !l.ProcessGone():
				err = fmt.Errorf("%w\nan import is running on it: run %s, %s.\n'gcbatch runs' shows its progress; rerun this command when it ends "+
					"(or give this one its own --state file: an export then counts the account's shared export budget from zero, so keep --budget low)",
					err, l.Run.ID, liveProgress(l, g.Now()))
			}
		}
		return nil, exitErr(2, err)
	}
	return st, nil
}
