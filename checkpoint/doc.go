// Package checkpoint is gcbatch's memory between runs: one bbolt file (the state file, --state)
// that lets an import resume after any interruption, lets a nightly file send only its new
// rows, and keeps an export from spending budget twice.
//
// # What the state file holds
//
//   - runs: one record per import (Run): what was imported where, the command that resumes
//     it, its status and counts. `gcbatch runs` reads these.
//   - ledger: one record per row that reached a verdict or was about to be sent (RowRecord),
//     keyed by RowKey: account, target, the SHA-256 of the row's mapped params, and the row's
//     occurrence (how many earlier rows of the same file had the same params).
//   - exports, budget, cache: pending exports, the export-call budget (see Budget), and short-lived
//     answers worth reusing, such as the account's custom fields and groups (CacheGet, CachePut).
//
// The file is created with mode 0600, under a temporary name that is linked to --state only
// once the file is whole, so gcbatch never leaves an empty or half-made state file. A second
// gcbatch on the same file gets ErrLocked after Options.Timeout instead of hanging; a file that
// cannot be written (a read-only file system or file) gets ErrReadOnly, which is not damage.
//
// # Damage
//
// A damaged file (emptied, cut short, bytes overwritten anywhere) gets ErrDamaged with the way
// out, before anything reads it through bbolt, and never a crash. bbolt checksums only its two
// meta pages; a bad data page would make it fault outside its mapping (a SIGSEGV that recover
// does not catch), recurse around a cycle of branch pages until the stack overflows, or simply
// not find a row that is there — and a row the ledger does not find is sent again. So:
//
//   - Open walks the whole file once (verifyFile), with pread under bbolt's lock, checking what
//     bbolt takes on trust: every page below the high-water mark has exactly one owner (a meta
//     page, the freelist, a free page, one place in one tree); each page names itself, has a
//     leaf or branch type, and holds its elements exactly where bbolt packs them and is exactly
//     as long as they need (so a changed count, size or overflow shows); keys are ordered and
//     within their branch's bounds (so every stored key is found); every bucket gcbatch makes
//     exists (a changed byte in a name would make bbolt create an empty one, and an empty ledger
//     sends every row again); the ledger holds no nested buckets.
//   - Every ledger record ends with a CRC-32C of its key and value (ledgerFormatSealed), checked
//     by the walk and by every lookup, so a changed byte in a key — which would make a confirmed
//     row look absent — is damage. The meta bucket records the format; files written before it
//     are sealed by the first writer that opens them (sealLedger), a chunk per transaction.
//   - Every transaction runs with debug.SetPanicOnFault and recover (guardedView,
//     guardedUpdate), so a page that goes bad after Open is ErrDamaged too.
//
// The walk reads each used page once and checksums each record: about 60 ms for a ledger of
// 200,000 rows on these machines (BenchmarkVerify; bbolt's own tx.Check of the same file takes
// about a third of that, but reads through the mapping, so the damage it looks for can fault
// it, and it looks neither at record contents nor at how a page's elements are packed).
// Damage in a free page or in the unused end of a page is not found, and does not matter:
// bbolt never reads those bytes. Run records (JSON), exports, the budget and the cache carry no
// checksum of their own: their damage is found when it breaks the structure or their
// decoding, and cannot make a row be sent again.
//
// # Resuming and nightly files
//
// Before a row is sent the importer looks its RowKey up (LookupRows, a thousand keys per
// read transaction, read with pread rather than through bbolt's mapping: see pageReader).
// A confirmed row is skipped. Because the key is the row's content and not
// its line number, this works across files: tonight's orders file, which repeats last
// night's rows and adds new ones, sends only rows whose mapped params have not been confirmed
// for that account and target before; a changed row has a new hash and is sent. Rerunning an
// interrupted import is the same lookup: everything confirmed is skipped, the rest is sent.
// Two identical rows in one file differ in Occurrence (0 and 1), so both are sent; running
// the file again skips both. Occurrences computes that index exactly in bounded memory.
//
// # Sent and in-doubt
//
// Some rows are not idempotent on the service: a deal without a deal_number, a message. Sending
// one twice makes a second order or a second e-mail. For such a row the importer first writes
// a StateSent record with PutSync and only sends the request once that record is on disk. If
// the process dies before the answer is recorded, the next run finds StateSent and cannot know
// whether the service got the request, so it reports the row as in doubt (StateInDoubt) and
// does not send it unless the user says --resend-in-doubt. The same happens after an
// ambiguous failure (a timeout after the request was written).
//
// # One writer, group commits
//
// Every bbolt write transaction ends in an fsync, which costs about as much as a few hundred
// row writes; one transaction per row would make the disk, not the service, the bottleneck.
// So all ledger writes go through one Committer: a single goroutine that gathers records and
// writes up to CommitterOptions.MaxRows of them (8,192 by default) at least every MaxDelay
// (500 ms), in key order, in one transaction or, once one has rewritten commitNodeBudget pages,
// in several (bbolt holds every page a transaction rewrites in memory until it commits).
// (bbolt's own Batch is no help here: from a small worker pool it rarely fills a batch.) A
// PutSync caller joins the next commit and is released only after that commit succeeded.
//
// # What a crash can cost
//
// After kill -9, records that were Put but not yet committed are lost; PutSync records never
// are. A confirmation is Put, so a crash loses at most the confirmations of the last commit
// interval (MaxDelay, or MaxRows rows) plus the requests in flight: those rows are sent again
// on rerun, which is harmless because they are idempotent. A non-idempotent row cannot be
// sent twice: its sent mark was committed before the request left, so after a crash it is in
// doubt, not unsent. No row is lost: a row without a committed confirmation is sent again or
// reported.
package checkpoint
