package getcourse

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	const key = "ab+c/d=e f"
	cases := []struct {
		name, in, key, want string
	}{
		{"raw", "key is ab+c/d=e f here", key, "key is [key] here"},
		{"query-escaped", "GET /x?key=" + url.QueryEscape(key) + "&a=1", key, "GET /x?key=[key]&a=1"},
		{"path-escaped", "/x/" + url.PathEscape(key), key, "/x/[key]"},
		{"lower-case hex", "key=ab%2bc%2fd%3de+f", key, "key=[key]"},
		{"twice", key + key, key, "[key][key]"},
		{"no key configured", "nothing", "", "nothing"},
		{"empty text", "", key, ""},
		{"plain key", "key=abc123&x", "abc123", "key=[key]&x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Redact(tc.in, tc.key); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRedactErrStripsQuery(t *testing.T) {
	t.Parallel()
	const key = "k3y/+="
	ue := &url.Error{Op: "Get", URL: "https://a.getcourse.ru/pl/api/account/users?key=" + url.QueryEscape(key) + "&status=active",
		Err: errors.New("dial tcp: connection refused")}
	err := redactErr(ue, key)
	if strings.Contains(err.Error(), "key=") || strings.Contains(err.Error(), "status=") {
		t.Errorf("query string survived: %q", err)
	}
	if !strings.Contains(err.Error(), "/pl/api/account/users") {
		t.Errorf("path lost: %q", err)
	}
	var got *url.Error
	if !errors.As(err, &got) || strings.Contains(got.URL, "?") {
		t.Errorf("unwrapped *url.Error = %v", got)
	}
	wrapped := redactErr(errors.Join(errors.New("outer"), ue), key)
	assertNoKey(t, wrapped.Error(), key)
	if redactErr(nil, key) != nil {
		t.Error("redactErr(nil) != nil")
	}
}
