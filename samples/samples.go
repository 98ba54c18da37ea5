package samples

import "embed"

// FS holds every sample CSV file, workbook and mapping file at its base name.
//
//go:embed *.csv *.xlsx *.yaml
var FS embed.FS
