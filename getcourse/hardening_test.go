package getcourse

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
)

// TestHardeningClientPrintsNoKey formats a Client every way a log line, an error wrapped with
// %v or a panic value might: none of them may show the key the Client holds.
func TestHardeningClientPrintsNoKey(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithBaseURL("https://school.example.com"), WithKey(testKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assertNoKey(t, fmt.Sprintf(verb, c), testKey)
		assertNoKey(t, fmt.Sprintf(verb, []any{c}), testKey)
	}
	assertNoKey(t, fmt.Sprint(c), testKey)
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("client", "c", c)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("client", "c", c)
	assertNoKey(t, text.String(), testKey)
	assertNoKey(t, js.String(), testKey)
	if s := fmt.Sprint(c); s == "" || !bytes.Contains([]byte(s), []byte("school.example.com")) {
		t.Errorf("a Client prints as %q; it should still say which account it calls", s)
	}
}
