package mappings

import (
	"strings"
	"testing"
)

// TestXLSXSection reads xlsx: {sheet: NAME} and refuses what is not a sheet name.
func TestXLSXSection(t *testing.T) {
	m, err := Parse("m.yaml", []byte("target: users\nxlsx: {sheet: Контакты}\nfields:\n  user.email: Email\n"))
	if err != nil || m.XLSX.Sheet != "Контакты" {
		t.Fatalf("%v %+v", err, m)
	}
	m, err = Parse("m.yaml", []byte("target: users\nfields:\n  user.email: Email\n"))
	if err != nil || m.XLSX.Sheet != "" {
		t.Fatalf("no xlsx section: %v %+v", err, m)
	}
	for doc, want := range map[string]string{
		"xlsx: Контакты":        "xlsx must be a mapping such as {sheet: Contacts}",
		"xlsx: {shet: Лиды}":    `unknown xlsx option "shet" (sheet)`,
		"xlsx: {sheet: [a, b]}": "xlsx.sheet must be the name of a sheet",
		"xlsx: {sheet: ''}":     "xlsx.sheet must be the name of a sheet",
	} {
		_, err := Parse("m.yaml", []byte("target: users\n"+doc+"\nfields:\n  user.email: Email\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}
