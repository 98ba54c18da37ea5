//go:build unix

package main

import (
	"os/exec"
	"testing"
)

func TestQuoteArgPOSIXShellGivesTheWordBack(t *testing.T) {
	t.Parallel()
	for _, w := range awkwardWords {
		out, err := exec.Command("sh", "-c", "printf '%s' "+quoteArg(w, false)).Output()
		if err != nil {
			t.Fatalf("%q quoted as %s: %v", w, quoteArg(w, false), err)
		}
		if string(out) != w {
			t.Errorf("%q quoted as %s comes back from sh as %q", w, quoteArg(w, false), out)
		}
	}
}
