package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are stamped by the build (`make build`, `make dist`) with
// -ldflags "-X main.version=... -X main.commit=...". A plain `go build` or `go install` leaves
// them empty, and buildInfo falls back to what the Go toolchain recorded in the binary, so a bug
// report always says which build it came from.
var (
	version string
	commit  string
)

// buildInfo returns the version, the commit and the Go version of this binary.
func buildInfo() (ver, rev, goVersion string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" && dirty && commit == "" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "devel"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, runtime.Version()
}

// versionLine is what `gcbatch version` and `gcbatch --version` print.
func versionLine() string {
	ver, rev, goVersion := buildInfo()
	return fmt.Sprintf("gcbatch %s (commit %s, %s, %s/%s)", ver, rev, goVersion, runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gcbatch's version, commit and Go version (also --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(g.Stdout, versionLine())
			return nil
		},
	}
}
