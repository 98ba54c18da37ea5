// Package samples holds the sample CSV files and mapping files of every use case gcbatch serves
// (see README.md in this folder). They are embedded so that `gcbatch demo` can run from any
// folder with nothing but the binary.
package samples
