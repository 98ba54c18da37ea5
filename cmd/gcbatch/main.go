// Command gcbatch is a batch processor for the GetCourse import/export API.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(run()) }

// run executes the command line and returns the exit code. The first SIGINT/SIGTERM cancels the
// command's context (commands finish in-flight work, commit and exit 3); a second one exits at once.
func run() int {
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
		fmt.Fprintln(g.Stderr, "\ninterrupted: finishing requests in flight and saving progress (Ctrl-C again to quit at once)")
		cancel()
		select {
		case <-sigs:
			fmt.Fprintln(g.Stderr, "quitting at once; rerun the same command to resume")
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

func isQuietExit(err error) bool {
	ee, ok := err.(*exitError)
	return ok && ee.err == nil
}
