// Package importer moves the rows of a CSV file into GetCourse: it is what `gcbatch import`
// (and `gcbatch validate`, through Validate) runs. It reads the file (Source), maps each row
// to API params (package mappings), checks the row ledger (package checkpoint), sends the rows
// that need sending through a rate-limited worker pool (package getcourse), records every
// outcome, and writes the run's reports.
//
// # Pipeline
//
// Run wires three stages with bounded channels, so memory stays flat whatever the file's size:
//
//   - one reader: Source.Next → Compiled.Apply (a row that cannot be read or mapped is rejected
//     here and never sent) → SHA-256 of the canonical params JSON → its occurrence within the
//     file (checkpoint.Occurrences), in batches handed to a second goroutine for the ledger
//     lookup (1,024 rows, one read transaction, looked up in key order), so that a rerun over
//     a large file reads and looks up at the same time. A first import into an account and
//     target the ledger has never seen skips the lookups (checkpoint.Store.HasRows) and moves
//     256 rows at a time. Rows the ledger settles (skipped, rejected earlier, in doubt) go
//     straight to the collector; the rest go to the workers, except that a row whose key
//     (e-mail, phone, deal number) already has a row in flight is parked behind it (keyGate):
//     the service applies concurrent calls in any order, and the later row must win.
//   - Concurrency workers: each sends one row at a time with Client.Import. The client waits on
//     the shared limiter before every attempt (retries included) and retries transient failures
//     itself with exponential backoff and jitter; what a worker gets back is final. A worker
//     sets up its request context, trace and stop hook once, not per row. A worker that
//     finishes a row sends the rows parked behind it next, in file order.
//   - one collector (Run's own goroutine): it alone writes the ledger (through the Committer's
//     group commits), results.csv and rejected.csv, and counts, so none of them has two
//     writers. The progress bar reads the counts every 200 ms.
//
// Errors are sorted by kind (getcourse.Kind): a validation answer rejects the row (it is not
// retried); a fatal kind (bad key, forbidden, no API on the plan, spent allowance, params the
// service cannot read) stops the run — no new rows are taken, requests on the wire finish — and
// the rows that came back fatal are left unrecorded, so the next run sends them and no row is
// ever marked failed for them; a row whose retries ran out is failed and the next run sends it
// again.
//
// Stopping (Ctrl-C, a fatal answer, --max-rows) cancels the stop context. A request still
// waiting for the limiter is cancelled at once (an httptrace hook tells whether it has taken a
// connection yet); one already on the wire runs on a context of its own, detached from the
// stop, for at most DrainTimeout, so that its outcome is known and committed. Then the
// Committer is closed (everything queued is on disk), the run record and summary.json are
// written, and the command prints the line that resumes.
//
// results.csv lists every row the run settled, skipped ones included: a nightly file of
// 100,000 unchanged rows writes 100,000 short "skipped" lines (a few MB), and in exchange the
// file answers "what happened to line N" without looking at earlier runs. It is written in
// completion order, not line order (sorting would need the whole file in memory).
//
// # Online preflight
//
// GetCourse drops a value whose custom-field name it does not know without a word, and creates
// a group whose name has a typo. Preflight (run by `import` before anything is sent, and by
// `validate --online`) compares the mapping's user.addfields.* and deal.addfields.* names with
// the account's fields of that object (getcourse.Client.AccountFields), and every group the
// file would add (the mapping's constants and each distinct value of the group column over the
// valid rows, read once and streamed; at most MaxGroupNames distinct names are kept) with the
// account's groups (Client.Groups). Unknown fields are errors with the nearest existing name;
// new groups are warnings with row counts and nearest names, which the command turns into a
// stop unless --allow-new-groups. The two calls are export-API calls: they go through the
// state file's budget, are skipped with a note when it cannot afford them, and their answers
// are cached in the state file for DefaultPreflightTTL per account. The group collection of a
// file is cached too, by path, size, modification time and mapping, so that resuming an import
// does not read the file an extra time.
//
// # Rate limiting
//
// The default --rate is 5 requests per second (DefaultRate): GetCourse documents no per-second
// limit for the import API, the seed reference speaks of hundreds per hour, and the public
// clients that do throttle keep 5 requests/s or one per 150 ms. It is a safe start that the
// adaptive limiter corrects when the account allows less.
//
// There is one rate.Limiter per run, burst 1 (requests leave evenly spaced: a service that
// counts requests in short windows would limit a burst), shared by the client's every attempt.
// AdaptiveLimiter moves its limit: the client reports each "too many requests" answer
// (getcourse.WithNotify); the first halves the rate (never below --rate/64) and remembers the
// rate that was too much as a ceiling. Answers that arrive within a hold-off after a change
// were caused by the old rate and are ignored. After a quiet spell (about a second, longer at
// very low rates) the rate grows by 10% of --rate per step up to 95% of the ceiling, then
// creeps by 2% of --rate per step. A probe that is limited again close to the known ceiling
// steps back by 20% instead of halving. So a --rate set twice too high settles just under the
// service's real limit at the cost of a few rate-limited answers (which the client retries),
// and a service that raises its limit is found again by the creeping probe. --rate is never
// exceeded.
//
// # Resuming
//
// The ledger holds one record per row, keyed by (account, target, hash of the canonical
// params, occurrence of that hash within the file). A rerun of the same command therefore
// finds every row it already settled, whatever changed around it:
//
//   - ok (confirmed): skipped, listed in results.csv as skipped; --resend sends it anyway.
//   - rejected by the service in an earlier run: not sent again (the same params would get the
//     same answer), but counted as rejected again and written to rejected.csv with the earlier
//     reason, so the file is not reported clean while it still holds a row the service refuses;
//     --retry-rejected sends it (for example after creating the missing offer). Rows rejected
//     locally (mapping errors) are rejected again by every run, as they have no params to hash.
//   - failed (retries ran out): sent again.
//   - sent or in doubt: see below.
//
// Because the key is the content, not the line, a nightly file that grows sends only its new
// and changed rows, two identical rows in one file are two rows (occurrences 0 and 1), and a
// row confirmed by an import of another file with the same target is not sent again.
// --restart forgets the ledger records written by earlier runs of the same input file on the
// same account and target (checkpoint.Store.ForgetRuns), in-doubt marks included, and sends
// everything again.
//
// # File order across reruns
//
// GetCourse must end as if the file's rows had been applied in file order. Within a run the
// rows of one key (e-mail in any case, phone, deal number) go out one after another (keyGate).
// Across runs the ledger alone would break it: when an earlier row of a person failed (or was
// rejected and is retried with --retry-rejected, or changed since) and a later row was
// confirmed, a rerun sends the earlier row and skips the later one, and the person keeps the
// older values. So a confirmed row is skipped only if no earlier row of its key was applied
// by a newer run, this one included; otherwise it is sent again, after that row (order.go).
// Runs are ranked by their start and the ledger records which run confirmed each row, so one
// number per key (checkpoint.KeyRanks, exact in bounded memory) is all the dispatcher keeps,
// and nothing more is written: a rerun that stops between the two rows leaves the earlier
// row's record naming the newer run, and the next run sends the later row.
//
// The later row is sent again rather than the earlier one skipped as "superseded": an earlier
// row may set fields the later one leaves out, and "in file order" means the later row is
// applied after it. Non-idempotent targets (messages, deals without number) never take part:
// they are never sent twice for order's sake. A nightly file still sends only its new and
// changed rows, plus, for a changed row, the later rows of the same key.
//
// After kill -9 nothing is lost: a confirmation is written by the next group commit
// (checkpoint.DefaultCommitDelay or DefaultCommitRows rows, whichever comes first), so the rows sent again on rerun are
// at most those in flight plus those confirmed in the last commit interval, and idempotent
// rows make the resend harmless. A run left "running" by a dead process is marked interrupted
// by the next run on the state file (which holds its lock, so no other process can be running
// it); its counts are those of its last progress save (every 2 s).
//
// # Live status
//
// While it runs, an import rewrites STATE.status.json beside the state file every second
// (StatusPath, LiveStatus: counts, answers per second, estimated end, pid, host, command
// line, and the earlier runs as they were at its start) and removes it at the end, so that
// `gcbatch runs` can show it without the state file's lock, which the import holds. A status
// left behind says "running" for a process that died: its reader tells by the pid
// (LiveStatus.ProcessGone) or by finding the state file free.
//
// # Non-idempotent rows
//
// A deal without deal_number creates a new deal on every call, and a message is a new e-mail
// every time (mappings.Mapping.Idempotent). For such rows a worker commits a "sent" mark
// (PutSync, which joins the next group commit) before the request can leave, and commits the
// outcome before it takes its next row. The client does not retry them once a request may
// have reached the service (getcourse.CallOptions.Idempotent), returning an InDoubt error
// instead. So:
//
//   - an ambiguous failure (a reset or timeout after the request was written) makes the row
//     in-doubt: reported in results.csv and the summary, recorded in the ledger;
//   - after a crash the row's mark is still "sent", which the next run reads as in doubt;
//   - a row in doubt is not sent again unless the user checks GetCourse and says
//     --resend-in-doubt. A customer must never get the same order or e-mail twice because
//     gcbatch guessed;
//   - a row whose request certainly had no effect (stopped while it waited for the limiter,
//     a fatal answer, retries that ran out on answers the service refused outright such as
//     "too many requests") has its mark replaced (no record, or failed), so the next run
//     simply sends it.
//
// Rows in doubt after a crash are therefore at most the requests that were in flight.
//
// # Settling deals in doubt
//
// Before a rerun sends anything, Settle looks the file's deals in doubt up in the account's
// deals export (one export within the budget, created since the in-doubt run began), matching
// each by buyer, product title and cost: one deal of its own confirms the row, none marks it
// failed so that this run sends it, more candidates than rows like it leave it in doubt with
// the candidates in its record. Identical rows are counted, never merged, and a row that may
// exist is never sent. Messages cannot be looked up. `gcbatch runs settle` runs the same
// check for an older run.
package importer
