// Command gcbatch is a batch processor for the GetCourse import/export API: it imports CSV
// files into GetCourse through declarative mapping files and exports GetCourse data into
// spreadsheet-ready CSV.
//
// This package is the thin command-line layer (cobra). Each command has an options value, a
// constructor that only parses flags (newXCmd) and a run function that wires the flags to the
// packages that do the work:
//
//	import, validate, mapping init  → mappings, importer, checkpoint, getcourse
//	export, export fetch, groups    → exporter, checkpoint (export budget), getcourse
//	runs                            → checkpoint (read-only), or the running import's live
//	                                  status beside the state file (importer.ReadStatus)
//	sim, demo                       → getcourse/gcsim
//
// root.go holds what every command shares: the global flags, where the key comes from
// (GETCOURSE_API_KEY, .env, --key-file — never a flag), the state file, logging, and the one
// place that turns errors into exit codes (0 done, 1 rows rejected or failed, 2 usage or input
// error with nothing sent, 3 stopped early; rerun to resume). explain.go words every fatal
// answer of the service (refused key, forbidden, plan, allowance, budget, our own bug) for every
// command, saying whether rerunning helps. main.go turns the first SIGINT
// or SIGTERM into a cancelled context, so commands finish in-flight work and save progress; a
// second one exits at once. Tests call execute with buffers instead of the process's streams.
package main
