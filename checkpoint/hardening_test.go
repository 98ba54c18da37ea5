package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHardeningOpenFolder: a --state that names a folder is a usage mistake, not a damaged
// file. The advice for damage (move the file aside and lose its ledger) would be wrong, so the
// error says what --state wants instead, and the folder is left as it was.
func TestHardeningOpenFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		s, err := Open(dir, Options{ReadOnly: ro})
		if err == nil {
			s.Close()
			t.Fatalf("Open(read-only %v) of a folder succeeded", ro)
		}
		if errors.Is(err, ErrDamaged) || strings.Contains(err.Error(), "mv ") {
			t.Errorf("a folder is reported as damage: %v", err)
		}
		if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), filepath.Join(dir, "state.db")) {
			t.Errorf("the error does not name the folder and a file to use: %v", err)
		}
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("the folder changed: %v, %v", ents, err)
	}
}
