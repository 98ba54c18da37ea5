package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
	"github.com/gcbatch/gcbatch/importer"
	"github.com/gcbatch/gcbatch/mappings"
)

// preflight runs the online check of a mapping and its file against the account (the export
// budget of the state file wired in) and prints the findings to w. A nil report with a nil
// error never happens; the error is already an exitError.
func (g *globals) preflight(ctx context.Context, st *checkpoint.Store, m *mappings.Mapping, input string, allowNewGroups bool, w io.Writer, opts ...getcourse.Option) (*importer.PreflightReport, error) {
	c, b, err := g.budgetedClient(ctx, st, checkpoint.BudgetConfig{}, opts...)
	if err != nil {
		return nil, err
	}
	rep, err := importer.Preflight(ctx, importer.PreflightOptions{
		Mapping: m, InputPath: input, Store: st, Client: c, Budget: b,
		AllowNewGroups: allowNewGroups, Now: g.Now,
	})
	if err != nil {
		if n := printLoadErrors(g, err); n > 0 {
			return nil, exitErr(2, fmt.Errorf("%s: %d %s; nothing was sent", m.File, n, plural(n, "problem", "problems")))
		}
		if ctx.Err() != nil {
			return nil, exitErr(3, fmt.Errorf("interrupted during the online check, before anything was sent: %w", err))
		}
		return nil, exitErr(2, fmt.Errorf("online check: %w", err))
	}
	rep.Write(w)
	return rep, nil
}

// preflightBlocked says why an import must not start, or "" when it may: a custom field the
// account lacks (its values would be dropped without a word) always blocks; groups the
// service would create block unless the user allowed them.
func preflightBlocked(rep *importer.PreflightReport, mappingPath string, allowNewGroups bool) string {
	switch {
	case rep.Failed():
		return fmt.Sprintf("nothing was sent: fix the custom field %s in %s (GetCourse would drop %s values without a word), then rerun",
			plural(len(rep.UnknownFields), "name", "names"), mappingPath, plural(len(rep.UnknownFields), "its", "their"))
	case len(rep.NewGroups) > 0 && !allowNewGroups:
		return "nothing was sent: fix the group names in the file (or the mapping), or, if the new groups are meant to be created, rerun with --allow-new-groups"
	}
	return ""
}

// preflightFatal reports whether a part of the check was skipped because the account refused
// the call itself (key, rights, plan, the network), as opposed to a budget kept for exports.
func preflightFatal(rep *importer.PreflightReport) bool {
	if rep.SkipErr == nil {
		return false
	}
	spent, _ := checkpoint.IsBudgetSpent(rep.SkipErr)
	return !spent
}
