package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcbatch/gcbatch/importer"
	"github.com/gcbatch/gcbatch/mappings"
)

// mappingInitSample is how many rows `mapping init` reads to choose transforms: enough to see the
// shapes of phones, dates and statuses, few enough to be instant on any file.
const mappingInitSample = 200

func newMappingCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mapping",
		Short: "Work with mapping files (the YAML that turns CSV columns into API params)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitErr(2, fmt.Errorf("mapping needs a subcommand: init\nsee 'gcbatch mapping --help'"))
		},
	}
	cmd.AddCommand(newMappingInitCmd(g))
	return cmd
}

// mappingInitOptions are the inputs of `gcbatch mapping init`.
type mappingInitOptions struct {
	Target string
	Output string // "" = stdout
	Force  bool
	CSV    string
}

func newMappingInitCmd(g *globals) *cobra.Command {
	var o mappingInitOptions
	cmd := &cobra.Command{
		Use:   "init --target users|deals|messages|groups [-o FILE] FILE.csv",
		Short: "Write a starter mapping guessed from a CSV file's header and first rows",
		Long: `init reads the header and the first rows of a CSV file and writes a commented mapping file:
columns it recognises (E-mail, Телефон, Имя, Фамилия, Город, Группы, Сумма, Статус, Дата, ...) are
mapped to target paths with transforms picked from the sample values (phones, money, dates and
their layout, yes/no), and every other column is listed as a comment. Edit it, then check it with
gcbatch validate before anything is sent.

It knows the exports of amoCRM, Bitrix24, GetCourse, Tilda, Google Forms and Excel from 1C by
their header names, and a column whose values are mostly e-mails or phones by its values. Where
several columns hold one thing the best-filled wins; several e-mail or phone columns (Рабочий
email, Личный email, ...) are all kept as column: [..], best-filled first, so the first non-empty
cell of a row is sent. With both an e-mail and a phone, each gets on_error: skip: a row is
rejected only when it has neither, and a cell that cannot be read is left out with a warning. A
date column is kept when most samples read in one layout; a birthday that does not read is left
out of its row (on_error: skip) rather than losing the contact.`,
		Example: `  gcbatch mapping init --target users contacts.csv > contacts.yaml
  gcbatch mapping init --target deals -o orders.yaml orders.csv
  gcbatch validate --mapping orders.yaml --show 3 orders.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.CSV = args[0]
			return runMappingInit(cmd.Context(), g, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", "", "what the rows become: users | deals | messages | groups (required)")
	f.StringVarP(&o.Output, "output", "o", "", "write the mapping to FILE instead of stdout")
	f.BoolVar(&o.Force, "force", false, "overwrite the -o file if it exists")
	return cmd
}

func runMappingInit(_ context.Context, g *globals, o *mappingInitOptions) error {
	target := mappings.Target(strings.ToLower(strings.TrimSpace(o.Target)))
	switch target {
	case mappings.TargetUsers, mappings.TargetDeals, mappings.TargetMessages, mappings.TargetGroups:
	case "":
		return exitErr(2, errors.New("--target is required: users, deals, messages or groups"))
	default:
		return exitErr(2, fmt.Errorf("--target must be users, deals, messages or groups, not %q", o.Target))
	}
	if o.Output != "" && !o.Force {
		if _, err := os.Stat(o.Output); err == nil {
			return exitErr(2, fmt.Errorf("%s exists; pass --force to overwrite it", o.Output))
		}
	}
	header, sample, err := readCSVSample(o.CSV, mappingInitSample)
	if err != nil {
		return exitErr(2, err)
	}
	out, err := mappings.Guess(target, header, sample)
	if err != nil {
		return exitErr(2, err)
	}
	// Check the guess the way validate will, so that what still needs a hand is said now.
	name := o.Output
	if name == "" {
		name = "the mapping"
	}
	var notes []string
	if m, err := mappings.Parse(name, out); err != nil {
		notes = append(notes, "edit the mapping before use: "+err.Error())
	} else if _, err := m.Compile(header); err != nil {
		notes = append(notes, "edit the mapping before use: "+err.Error())
	} else {
		notes = append(notes, m.Warnings()...)
	}
	if o.Output == "" {
		if _, err := g.Stdout.Write(out); err != nil {
			return exitErr(2, err)
		}
	} else {
		flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if o.Force {
			flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(o.Output, flag, 0o644)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return exitErr(2, fmt.Errorf("%s exists; pass --force to overwrite it", o.Output))
			}
			return exitErr(2, err)
		}
		if _, err := f.Write(out); err != nil {
			f.Close()
			return exitErr(2, err)
		}
		if err := f.Close(); err != nil {
			return exitErr(2, err)
		}
		fmt.Fprintf(g.Stderr, "wrote %s (target %s, from %d columns and %d sample rows)\n", o.Output, target, len(header), len(sample))
		fmt.Fprintf(g.Stderr, "next: check it with  gcbatch validate --mapping %s --show 3 %s\n", o.Output, o.CSV)
	}
	for _, n := range notes {
		fmt.Fprintln(g.Stderr, "note:", n)
	}
	return nil
}

// readCSVSample reads a CSV file's (or a workbook's first sheet's) header and up to n rows, with
// the importer's own detection, so that the guess sees the file exactly as an import will.
func readCSVSample(path string, n int) ([]string, [][]string, error) {
	src, err := importer.OpenInput(path, importer.InputOptions{CSV: importer.SourceOptions{Delimiter: "auto", Encoding: "auto"}})
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	header := src.Header()
	var rows [][]string
	for len(rows) < n {
		row, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if row.Err != nil {
			continue // a broken row says nothing about the column's shape
		}
		rows = append(rows, row.Cells)
	}
	return header, rows, nil
}
