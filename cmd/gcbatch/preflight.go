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
//
// The key is checked too, since the field and group lists may come from the cache, which says
// nothing about the key used now. probeFirst (validate --online) probes it on every run,
// before anything else. Otherwise (import) a refusal of the check's own calls stops it
// explained, and the key is probed only when the lists came from the cache: when the check
// had nothing to fetch, the import's first request checks the key as well, and stops the run
// with the same explanation, so the probe would only cost a request.
func (g *globals) preflight(ctx context.Context, st *checkpoint.Store, m *mappings.Mapping, input string, allowNewGroups, probeFirst bool, w io.Writer, opts ...getcourse.Option) (*importer.PreflightReport, error) {
	c, b, err := g.budgetedClient(ctx, st, checkpoint.BudgetConfig{}, opts...)
	if err != nil {
		return nil, err
	}
	if probeFirst {
		if err := g.checkKey(ctx, c, w); err != nil {
			return nil, err
		}
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
	if !probeFirst {
		if getcourse.KindOf(rep.SkipErr).Fatal() {
			if _, ok := g.explain(rep.SkipErr); ok {
				return nil, g.explained(rep.SkipErr)
			}
		}
		if rep.Calls == 0 && !rep.CachedAt.IsZero() {
			if err := g.checkKey(ctx, c, w); err != nil {
				return nil, err
			}
		}
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

// checkKey probes the key with the client's CheckImportAPI: a users/add with neither e-mail nor
// phone, which a service that accepts the key refuses as the object's own problem, creating
// nothing and spending neither the export budget nor the monthly allowance. It also finds a key
// without import rights and a plan without the import API before any row goes. A fatal answer (refused key, forbidden action, no API on the
// plan...) is returned explained, exit 3; a probe that could not get an answer (the network,
// the service's outage) is noted on w and left to what follows, which meets the same problem
// and reports it.
func (g *globals) checkKey(ctx context.Context, c *getcourse.Client, w io.Writer) error {
	err := c.CheckImportAPI(ctx)
	kind := getcourse.KindOf(err)
	switch {
	case err == nil:
		return nil
	case kind.Fatal():
		return g.explained(err)
	case ctx.Err() != nil:
		return exitErr(3, fmt.Errorf("interrupted during the online check, before anything was sent: %w", err))
	}
	fmt.Fprintf(w, "note: the key could not be checked: %v\n", err)
	return nil
}
