package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
)

// groupsOptions are the flags of `gcbatch groups`.
type groupsOptions struct {
	// Format is table, csv or json; "" picks table on a terminal and csv otherwise, so that
	// `gcbatch groups > groups.csv` gives a file and a person at a terminal gives a table.
	Format string
}

func newGroupsCmd(g *globals) *cobra.Command {
	o := &groupsOptions{}
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List the account's groups: id, name, members, last added",
		Long: `groups lists the account's groups, so that you can find the id that
'gcbatch export group-users --group ID' needs and the exact names that a mapping's
user.group_name must use.

The service answers with ids, names and the time a user was last added; the member count is
shown only when the service gives one. The call counts against the account's export budget
(100 export-API calls per 2 hours, shared by every integration of the account).`,
		Example: `  gcbatch groups
  gcbatch groups --format csv > groups.csv
  gcbatch groups --format json | jq '.[] | select(.name | test("VIP"))'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGroups(cmd.Context(), g, o)
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", "", "output: table | csv | json (default: table on a terminal, csv otherwise)")
	return cmd
}

// runGroups fetches the group list and prints it in the chosen format.
func runGroups(ctx context.Context, g *globals, o *groupsOptions) error {
	format := o.Format
	switch format {
	case "":
		format = "csv"
		if g.stdoutIsTerminal() {
			format = "table"
		}
	case "table", "csv", "json":
	default:
		return exitErr(2, fmt.Errorf("--format must be table, csv or json, not %q", o.Format))
	}
	// The group list is an export-API call: it spends the account's budget like any other, so
	// it goes through the same accounting in the state file.
	st, err := g.openState()
	if err != nil {
		return err
	}
	defer st.Close()
	c, b, err := g.budgetedClient(ctx, st, checkpoint.BudgetConfig{})
	if err != nil {
		return err
	}
	groups, err := c.Groups(ctx)
	if err != nil {
		var ae *getcourse.APIError
		if errors.As(err, &ae) && ae.Code == 903 {
			b.MarkSpent()
			_, until := b.Remaining()
			if exp, ok := g.explain(err); ok {
				return exitErr(3, &explainedError{exp: budgetExplanation(exp.Service, until, g.Now()), err: err})
			}
		}
		if ctx.Err() == nil {
			return g.explained(err)
		}
		return err
	}
	return writeGroups(g.Stdout, format, groups)
}

// writeGroups prints groups as a table, CSV or JSON. The member count is left blank (CSV),
// left out (JSON) or not shown (table) when the service gave none, because a 0 would read as
// "empty group".
func writeGroups(w io.Writer, format string, groups []getcourse.GroupInfo) error {
	counts, added := false, false
	for _, gr := range groups {
		counts = counts || gr.UsersCount > 0
		added = added || gr.LastAddedAt != ""
	}
	switch format {
	case "json":
		type row struct {
			ID          int64  `json:"id"`
			Name        string `json:"name"`
			UsersCount  *int   `json:"users_count,omitempty"`
			LastAddedAt string `json:"last_added_at,omitempty"`
		}
		rows := make([]row, len(groups))
		for i, gr := range groups {
			rows[i] = row{ID: gr.ID, Name: gr.Name, LastAddedAt: gr.LastAddedAt}
			if counts {
				n := gr.UsersCount
				rows[i].UsersCount = &n
			}
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "name", "users_count", "last_added_at"})
		for _, gr := range groups {
			n := ""
			if counts {
				n = strconv.Itoa(gr.UsersCount)
			}
			cw.Write([]string{strconv.FormatInt(gr.ID, 10), gr.Name, n, gr.LastAddedAt})
		}
		cw.Flush()
		return cw.Error()
	}
	if len(groups) == 0 {
		_, err := fmt.Fprintln(w, "The account has no groups.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "ID\tNAME"
	if counts {
		header += "\tMEMBERS"
	}
	if added {
		header += "\tLAST ADDED"
	}
	fmt.Fprintln(tw, header)
	for _, gr := range groups {
		line := strconv.FormatInt(gr.ID, 10) + "\t" + gr.Name
		if counts {
			line += "\t" + strconv.Itoa(gr.UsersCount)
		}
		if added {
			line += "\t" + gr.LastAddedAt
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d groups\n", len(groups))
	return err
}
