package mappings

import "github.com/gcbatch/gcbatch/internal/jsonstr"

// appendJSONString writes s as a JSON string the way encoding/json does with HTML escaping off,
// invalid UTF-8 as U+FFFD itself, so that decoding and re-encoding the params gives the same
// bytes: the ledger hashes them. Writing it by hand keeps Apply free of reflection.
func appendJSONString(b []byte, s string) []byte { return jsonstr.Append(b, s) }
