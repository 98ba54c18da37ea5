package main

import (
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandLine rebuilds the command line that runs cmd again as the user ran it: the command's
// path, every flag the user set (global ones too) except those named in skip, then the
// arguments. It is kept in the state file and printed as the command that resumes a run, so
// each word is quoted with quoteArg for the shell the user most likely pastes it into. The key
// is never on it: no flag holds the key.
func commandLine(cmd *cobra.Command, args []string, skip ...string) string {
	parts := strings.Fields(cmd.CommandPath())
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Changed || f.Name == "help" || slices.Contains(skip, f.Name) {
			return
		}
		switch sv, isSlice := f.Value.(pflag.SliceValue); {
		case f.Value.Type() == "bool" && f.Value.String() == "true":
			parts = append(parts, "--"+f.Name)
		case f.Value.Type() == "bool":
			parts = append(parts, "--"+f.Name+"=false") // a bool flag takes its value only after "="
		case isSlice:
			for _, v := range sv.GetSlice() {
				parts = append(parts, "--"+f.Name, quoteArg(v, powerShell))
			}
		default:
			parts = append(parts, "--"+f.Name, quoteArg(f.Value.String(), powerShell))
		}
	})
	for _, a := range args {
		parts = append(parts, quoteArg(a, powerShell))
	}
	return strings.Join(parts, " ")
}

// powerShell says to quote command lines for PowerShell, the shell a Windows user pastes them
// into (cmd.exe is not catered for: it has no quoting that keeps every character).
const powerShell = runtime.GOOS == "windows"

// quoteArg quotes one word of a command line when the shell would otherwise change it: words of
// letters, digits and a few safe marks stay bare; anything else goes in single quotes, inside
// which both shells take every character as it is except the quote itself, written '\” for a
// POSIX shell and doubled for PowerShell (which also takes the typographic quotes ‘ ’ ‚ ‛ for
// it, so those are doubled too).
func quoteArg(s string, powerShell bool) string {
	safe := "-_./:=@+,%"
	if powerShell {
		safe = "-_./:=" // @ , and % mean something to PowerShell at some places in a word
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(safe, r))
	}) < 0 {
		return s
	}
	if powerShell {
		return "'" + psQuotes.Replace(s) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// psQuotes doubles every character PowerShell takes for a single quote.
var psQuotes = strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019", "\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b")
