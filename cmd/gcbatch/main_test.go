package main

import (
	"runtime/debug"
	"testing"
)

// A command that streams a file collects less often unless the user chose GOGC, and gives the setting back.
func TestCollectLess(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	restore := collectLess(streamGCPercent)
	if got := debug.SetGCPercent(streamGCPercent); got != streamGCPercent {
		t.Errorf("during the import GOGC is %d, want %d", got, streamGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after the import GOGC is %d, want 100 again", got)
	}

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	restore = collectLess(streamGCPercent)
	if got := debug.SetGCPercent(50); got != 50 {
		t.Errorf("with GOGC=50 set by the user the import made it %d", got)
	}
	restore()
}
