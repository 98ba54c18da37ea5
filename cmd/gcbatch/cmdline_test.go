package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// Words a resume command really carries: Windows and Cyrillic paths, a filter with brackets and
// spaces, quotes of both kinds, shell metacharacters.
var awkwardWords = []string{"users.csv", `C:\Users\Ольга\Загрузки\выгрузка CRM.csv`, "created_at.from=2024-01-01",
	"it's", "O’Brien", "$HOME `id` $(id) !x", "a;b|c&d>e<f", "50/s", "--dash", "", "tab\there", "new\nline", "*?[a]~#"}

func TestQuoteArgPowerShell(t *testing.T) {
	t.Parallel()
	for w, want := range map[string]string{
		"users.csv":          "users.csv",
		"50/s":               "50/s",
		"it's":               `'it''s'`,
		"O’Brien":            "'O’’Brien'",
		"$HOME":              "'$HOME'",
		"a,b":                "'a,b'",
		"@list":              "'@list'",
		`C:\Users\Ольга\a b`: `'C:\Users\Ольга\a b'`,
		"":                   "''",
	} {
		if got := quoteArg(w, true); got != want {
			t.Errorf("quoteArg(%q, powershell) = %s, want %s", w, got, want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	var (
		state, rate  string
		bom, dry, ex bool
		filters      []string
	)
	root := &cobra.Command{Use: "gcbatch"}
	root.PersistentFlags().StringVar(&state, "state", "state.db", "")
	sub := &cobra.Command{Use: "export", RunE: func(*cobra.Command, []string) error { return nil }}
	sub.Flags().StringVar(&rate, "rate", "", "")
	sub.Flags().BoolVar(&bom, "bom", false, "")
	sub.Flags().BoolVar(&ex, "excel", true, "")
	sub.Flags().BoolVar(&dry, "dry-run", false, "")
	sub.Flags().StringArrayVar(&filters, "filter", nil, "")
	root.AddCommand(sub)
	var got string
	sub.RunE = func(cmd *cobra.Command, args []string) error {
		got = commandLine(cmd, args, "dry-run")
		return nil
	}
	root.SetArgs([]string{"export", "--state", "Мои файлы/s.db", "users", "--bom", "--excel=false", "--dry-run",
		"--filter", "status=payed", "--filter", "created_at.from=2024-01-01 10:00", "--rate", "5/s"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	want := "gcbatch export --bom --excel=false --filter status=payed --filter 'created_at.from=2024-01-01 10:00' --rate 5/s --state 'Мои файлы/s.db' users"
	if got != want {
		t.Errorf("commandLine =\n  %s\nwant\n  %s", got, want)
	}
}
