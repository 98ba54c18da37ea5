package samples

import "embed"

// FS holds every sample CSV and mapping file at its base name.
//
//go:embed *.csv *.yaml
var FS embed.FS
