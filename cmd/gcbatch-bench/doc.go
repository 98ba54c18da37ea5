// Command gcbatch-bench measures every figure of design.md's "How fast and how small" against the
// simulator on loopback and prints them as one table plus one `BENCH <name> <value> <unit>` line
// each. It is what `make bench` runs. Ratios are measured within one run, on this machine, so
// they compare like with like; absolute figures move with the machine and its load.
//
// The simulator runs inside this process; gcbatch runs as a subprocess (the built binary), so
// that its peak RSS is its own and the CLI is measured exactly as users run it.
package main
