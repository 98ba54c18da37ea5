// Package exporter drives GetCourse's two-phase export API into spreadsheet-ready files:
// `gcbatch export` and `gcbatch export fetch` are thin wrappers around Run and Fetch.
//
// # The flow
//
// Run first looks in the state file (checkpoint) for a pending export of the same account,
// object, group and filters (CanonicalFilters) started within Options.ReuseWithin. If there is
// one it is collected, because the service has no call that lists exports and a second start
// would spend budget and wait again for nothing. Otherwise Run starts an export, waiting
// through 905 (another export is being built on the account) on a growing interval, and
// commits the export id to the state file before the first poll. It then polls exports/{id}
// on an interval that grows by half from Options.PollInitial to Options.PollMax, never past
// Options.Wait: 909, or a success that carries only info.status ("processing"), means poll
// again; 910 marks the export failed (a rerun starts a new one); «Объект не найден» (the service
// no longer has it) marks it failed and Run starts it afresh, once per run. Every call before
// the download is bounded by Options.Wait (plus Options.CallGrace at the very end), and a start
// whose request went out unanswered is not repeated (StartInDoubtError).
// When the export is ready the body is streamed into the output and the export is marked
// collected. A run that is killed, times out or loses its connection leaves the export
// pending, so the same command picks it up.
//
// # Budget
//
// Every export-API call (starts and polls) goes through the client's checkpoint.Budget, which
// records it in the state file and refuses once the account's rolling window is spent,
// keeping a few calls in reserve so that an export already started can still be collected.
// When the service itself answers 903, Run records the whole window as spent, so that later
// runs do not call at all until it clears.
//
// # Streaming
//
// Decoder is a small byte scanner over its own reusable buffer, made for the one shape of a
// ready export ({"success":true,"info":{"fields":[...],"items":[[...],...]}}) and tolerant of
// what PHP services do: keys in any order, extra keys, numbers, booleans and null as cells,
// lists written as objects, \uXXXX escapes with surrogate pairs. Nothing grows with the size
// of the export; decoding through encoding/json item by item was the bottleneck (design.md).
// Items that arrive before the column titles are spooled to a temporary file, not held in
// memory.
//
// # Output
//
// The file is written to a hidden temporary file (mode 0600) beside the target and renamed
// over it only when complete and synced: a crash or a broken download never leaves half an
// export under the final name. The temporary file is created when the download starts and
// its name carries the writer's process id: one left by a killed run is removed by the next
// export to the same target (at once when that process is gone, else once untouched for an
// hour). A target that is not a regular file (a symbolic link, a device, a FIFO) is refused,
// since the rename would replace it. CSV is RFC 4180 (quotes only where needed) with a choice of
// delimiter, an optional UTF-8 BOM and CRLF; JSONL writes one object per item keyed by the
// header. Columns picks and renames columns; Normalize rewrites Russian money and service
// dates; EscapeFormulas (--excel) defuses cells that Excel would run as formulas, leaving
// plain numbers such as -500 alone. Without it cells are written exactly as exported,
// because changing data silently is worse for the scripts that read CSV.
package exporter
