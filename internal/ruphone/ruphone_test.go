package ruphone

import "testing"

func TestKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+7 (900) 123-45-67": "79001234567",
		"8 900 123 45 67":    "79001234567",
		"89001234567":        "79001234567",
		"9001234567":         "79001234567",
		"79001234567":        "79001234567",
		"+380 44 123 45 67":  "380441234567", // not Russian: digits as they are
		"8 800 555-35-35":    "78005553535",
		"123":                "123",
		"":                   "",
		"нет":                "",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}
