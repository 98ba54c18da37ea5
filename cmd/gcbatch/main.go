package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
)

func main() { os.Exit(run()) }

// softMemoryLimit is the heap size past which the garbage collector runs more often (GOMEMLIMIT
// overrides it).
const softMemoryLimit = 32 << 20

// streamGCPercent is the collector's GOGC while a command streams a file (import, validate;
// GOGC overrides it). Their live heap is small and of fixed size (an import's duplicate-row
// filter and map and its ledger commit batch, about 7 MiB for 100,000 rows; a validate's few
// batches of rows) while every row leaves a few KiB of garbage, so at the default 100 the
// collector ran each time that garbage reached the small live heap: about 180 times per
// 100,000 imported rows (0.8 s of CPU), 380 times per million validated rows. At 400 the
// soft memory limit, not the live heap, decides when it runs: 97 collections and 0.4 s for
// the import, with the same peak RSS for a million rows (57.4 MiB against 56.8); a million
// rows validated in 1.1 s instead of 1.75 s, peak RSS 33 MiB instead of 23.
const streamGCPercent = 400

// collectLess sets GOGC to percent, unless the user set GOGC, and returns what restores it.
func collectLess(percent int) (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(old) }
}

// run executes the command line and returns the exit code. The first SIGINT/SIGTERM cancels the
// command's context (commands finish in-flight work, commit and exit 3); a second one exits at once.
func run() int {
	if path := os.Getenv("GCBATCH_PEAK_RSS_FILE"); path != "" {
		defer writePeakRSS(path)
	}
	if path := os.Getenv("GCBATCH_CPU_PROFILE"); path != "" {
		// For finding where a slow run spends its time (go tool pprof BINARY PATH).
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit makes the collector work harder before the heap doubles, instead of
		// letting a long import sit at twice its live data: gcbatch's live heap is a few tens
		// of MiB whatever the file's size, and users run it beside other jobs. It is soft: a
		// process that truly needs more still gets it.
		debug.SetMemoryLimit(softMemoryLimit)
	}
	g := newGlobals()
	defer g.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		n := g.interruptNotice()
		fmt.Fprintln(g.Stderr, "\n"+n.first)
		cancel()
		select {
		case <-sigs:
			fmt.Fprintln(g.Stderr, n.second)
			os.Exit(3)
		case <-done:
		}
	}()
	return execute(ctx, g, os.Args[1:])
}

// execute runs one command line against g and returns the exit code; tests call it directly.
func execute(ctx context.Context, g *globals, args []string) int {
	root := newRootCmd(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		if msg := err.Error(); msg != "" && !isQuietExit(err) {
			fmt.Fprintln(g.Stderr, "gcbatch:", msg)
		}
	}
	return exitCode(err)
}

// notice is what a command says when a signal stops it: first on the first signal, which lets
// it finish cleanly, second when a second signal quits at once.
type notice struct{ first, second string }

// notices are the commands' words; each says what stopping means for it.
var notices = map[string]notice{
	"import": {"interrupted: finishing requests in flight and saving progress (Ctrl-C again to quit at once)",
		"quitting at once; rerun the same command to resume"},
	"export": {"interrupted: stopping the export; an export already started stays recorded and the same command collects it (Ctrl-C again to quit at once)",
		"quitting at once; rerun the same command to collect the export"},
	"fetch": {"interrupted: stopping the download; the export stays recorded (Ctrl-C again to quit at once)",
		"quitting at once; rerun the same command to collect the export"},
	"sim":      {"stopping the simulator", "stopping the simulator at once"},
	"demo":     {"stopping the demo", "stopping the demo at once"},
	"validate": {"interrupted: stopping the check (Ctrl-C again to quit at once)", "quitting at once"},
}

// interruptNotice is the running command's notice; a generic one before a command is chosen.
func (g *globals) interruptNotice() notice {
	if n, ok := notices[g.command.Load()]; ok {
		return n
	}
	return notice{"interrupted: stopping (Ctrl-C again to quit at once)", "quitting at once"}
}

func isQuietExit(err error) bool {
	ee, ok := err.(*exitError)
	return ok && ee.err == nil
}

// writePeakRSS records this process's peak resident set (VmHWM) for `make bench`. The bench
// cannot take it from wait4's rusage: on Linux a child's ru_maxrss starts from the RSS of the
// process that forked it (the bench, which holds the simulator), so it would measure the wrong
// process. VmHWM belongs to this program image alone.
func writePeakRSS(path string) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			_ = os.WriteFile(path, []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))+"\n"), 0o600)
			return
		}
	}
}
