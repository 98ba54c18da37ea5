// Package gcsim is a simulated GetCourse account: an http.Handler that answers the import and
// export API the way the real service does (getcourse-api.md), so that gcbatch's tests, its demo
// and its benchmarks have something faithful and fast to talk to. It sits beside the getcourse
// client the way net/http/httptest sits beside net/http.
//
//	sim := gcsim.New(gcsim.Config{SeedUsers: 1000, Faults: gcsim.Faults{Reset: 0.01}})
//	srv := httptest.NewServer(http.StripPrefix("/acct", sim))
//	// the client's base URL is srv.URL+"/acct"; the key is gcsim.DefaultKey
//
// The handler serves paths beginning with /pl/api/ (and /_sim/ for control) wherever it is
// mounted. `gcbatch sim` serves one over HTTP(S) with Serve.
//
// # Import
//
// POST /pl/api/users (add, update), /pl/api/deals (add), /pl/api/messages (send) take the form
// fields action, key and params = base64(JSON) (standard or URL-safe, padding optional). Answers
// have two levels: a call-level failure is {"success":false,"error":"<text>"} (HTTP 200); a
// row-level failure is a success envelope whose result says success:false, error:true and
// error_message. With Config.Shape "seed" every flag is "true"/"false" and every id a string,
// as the seed reference shows (a call-level failure then carries error:"true" and
// error_message). The checks run in this order: plan (on trial and no-api an empty text/html
// page, nothing written), rate limit, action, key, then «Действие запрещено» for an unknown
// action or Config.ReadOnlyKey, params, then the row.
//
// Users are matched by e-mail (case-insensitive), then by phone (digits, 8… and 9… read as
// 7…); a phone match is taken only if the request or the matched user has no e-mail.
// refresh_if_exists updates the fields of an existing user; without it the user is left as is,
// except that group_name entries are always added (groups are created by name on first use).
// users/update replaces the user's groups. Unknown addfields names are dropped silently.
// deals/add with a known deal_number edits that deal; without one every call creates a deal.
// Created users and deals count against the plan's monthly allowance (updates do not); the
// month follows Config.Now (Moscow time) and RollMonth starts a new one at once.
//
// # Export
//
// Every call to /pl/api/account/* — export starts, polls, the group list, the field list —
// counts against the export budget (Config.ExportBudget calls per rolling Config.ExportWindow).
// Checks run in this order: key (901, 904; Config.ReadOnlyKey is accepted), plan (917 on
// no-api only: a trial account keeps the export API), budget (903), then the call. A call
// refused for its key or plan, or with 903, is not admitted: it does not enter the window (so
// polling during a 903 never prolongs the block) and is not in Stats.ExportCalls, though it is
// in Stats.Requests like every request. Everything admitted counts, errors (905, 908, 909…)
// included.
//
// One export builds at a time: a start while another is still building (Config.ExportDelay from
// its start, by Config.Now) answers 905 and starts nothing; 905 comes before the filters are
// looked at. Config.StartDelay holds a start's answer after the export was started. A finished export does not block the
// next one, collected or not. A poll before the export is ready answers 909; then the file is
// streamed: {"success":true,"info":{"fields":[...],"items":[[...],...]}} with string cells. An
// export reflects the data at the moment it is collected. Filters are PHP-style
// (created_at[from]=YYYY-MM-DD, whole days inclusive, Moscow time); unknown names are ignored
// and at least one known filter is required (908) except for a group's members. A malformed
// date or id in a filter answers 908 with its own text [?]. The magic filter sim_fail=1
// (SimFailFilter) makes an export that builds normally and then answers 910 «Файл не создан,
// попробуйте другой фильтр». An export id the account does not have, or one older than
// Config.ExportLifetime, answers «Объект не найден» without a code; an unknown group id 910
// «Группа не найдена» [?]. Config.StatusPolls answers the first polls with info.status alone;
// Config.NumericItems writes ids and money as JSON numbers. The field list has the real shape
// {id, title, type, context_type, required, field_order_pos, params}, every value a string.
//
// # Guesses
//
// Guesses is the one table of answers that are guesses (a text, a shape or a rule the sources
// do not settle); `gcbatch sim --help` prints it. Verify those first on a real account.
//
// # Seeded data
//
// Config.SeedUsers and SeedDeals rows are not stored: row i is computed from Config.Seed and i
// whenever it is needed, in a few hundred nanoseconds, so a million seeded users cost nothing
// until exported. They are created between 2022-01-01 and 2024-12-31 (Moscow time) in id order,
// with Russian names, cities, +7 phones, Russian money ("12 000,00", sometimes with NBSP), and
// cells holding commas, quotes, semicolons, backslashes and newlines. Seeded user ids start at
// 1000001, deal ids at 5000001, deal numbers at 1001; API-created rows follow. Payments are
// derived from paid deals. When an import changes a seeded user or deal, a stored copy replaces
// the computed row. Users(), Deals(), Messages() list only what went through the API.
//
// # Faults
//
// Config.Faults gives, per API request, probabilities of an HTTP 500 HTML page, an HTTP 200
// HTML maintenance page, an empty JSON body (none of these applies the request), a reset
// connection (half before applying the request, half after: Stats.FaultsInjected counts
// reset_before and reset_after) and a slow answer (applied, then held Config.SlowDelay). Draws
// come from one seeded generator; every wait ends when the client gives up. /_sim/* gets no
// faults.
//
// # Control
//
// GET /_sim/stats answers Stats as JSON (encoding/json of the struct, so the members carry the
// Go field names and a test decodes it straight into a Stats); POST /_sim/month rolls the month; POST
// /_sim/rate?per_second=N sets the import rate limit (0 = none); POST /_sim/faults?spec=SPEC sets
// the faults (ParseFaults syntax); POST /_sim/plan?plan=PLAN switches the plan (SetPlan). They
// are not counted anywhere.
package gcsim
