package mappings

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary text to the mapping loader: it must never panic, every problem must be
// a LoadError with a position, and a file that loads must compile against its own columns and
// apply to any row.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(benchMapping))
	f.Add([]byte("target: users\nfields:\n  user.email: E-mail\n"))
	f.Add([]byte("target: groups\nfields:\n  user.id: {column: id, transform: [int]}\n  user.group_name: {column: G, split: \",\", joined_at: {column: D, transform: [{date: DD.MM.YYYY}]}}\n"))
	f.Add([]byte("target: messages\nfields:\n  message.email: E\n  message.mailing_id: {value: 1}\n  message.params.x: {template: \"{{a}} {B}\"}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("target: users\nfields:\n  user.email: {column: [A, B], transform: [email], on_error: skip}\n  user.phone: {column: T, transform: [phone], on_error: skip}\nrequire_one_of: [user.email, user.phone]\n"))
	f.Add([]byte("target: deals\nfields:\n  user.email: E\n  deal.offer_id: {value: 1}\n  deal.deal_currency: {value: GEL}\n  deal.payment_type: {column: P, map: {x: zpayment}}\n"))
	f.Add([]byte("target: deals\nfields: {user.email: E, deal.deal_number: {generate: row-hash}}\nrequire_one_of: user.email\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("f.yaml", data)
		if err != nil {
			var les LoadErrors
			if !errors.As(err, &les) || len(les) == 0 {
				t.Fatalf("error %T %v is not LoadErrors", err, err)
			}
			for _, e := range les {
				if e.File != "f.yaml" || e.Line < 0 || e.Msg == "" {
					t.Fatalf("bad LoadError %+v", e)
				}
			}
			return
		}
		if len(m.Hash()) != 64 {
			t.Fatalf("hash %q", m.Hash())
		}
		m2, err := Parse("f.yaml", data)
		if err != nil || m2.Hash() != m.Hash() {
			t.Fatalf("second parse differs: %v", err)
		}
		header := m.Columns()
		c, err := m.Compile(header)
		if err != nil {
			// Only the same name twice (or names equal when loosely compared) can fail here.
			if !strings.Contains(err.Error(), "appears") {
				t.Fatalf("compile against its own columns: %v", err)
			}
			return
		}
		row := make([]string, len(header))
		for i := range row {
			row[i] = string(data[:min(len(data), i*3)])
		}
		checkApply(t, c, row)
		checkApply(t, c, nil)
	})
}

func checkApply(t *testing.T, c *Compiled, row []string) {
	t.Helper()
	got, err := c.Apply(row)
	// Groups is Apply without the JSON: the same verdict, the same group names.
	groups, gerr := c.Groups(row, nil)
	if (err == nil) != (gerr == nil) || (err != nil && err.Error() != gerr.Error()) {
		t.Fatalf("Apply error %v, Groups error %v", err, gerr)
	}
	if err == nil && !slices.Equal(groups, got.Groups) {
		t.Fatalf("Groups %q, Apply's groups %q", groups, got.Groups)
	}
	if err != nil {
		var re RowError
		if !errors.As(err, &re) || len(re) == 0 {
			t.Fatalf("Apply error %T %v is not a RowError", err, err)
		}
		return
	}
	if !json.Valid(got.JSON) {
		t.Fatalf("invalid JSON %q", got.JSON)
	}
	assertCanonical(t, got.JSON)
	if _, err := got.Params(); err != nil {
		t.Fatalf("Params(%s): %v", got.JSON, err)
	}
}

var (
	reMoney = regexp.MustCompile(`^-?(0|[1-9][0-9]*)\.[0-9]{2}$`)
	rePhone = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	reISO   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$`)
	reBirth = regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$`)
)

// FuzzTransform runs every transform on arbitrary text: none may panic, and what each accepts
// has the promised shape and is accepted again unchanged.
func FuzzTransform(f *testing.F) {
	for _, s := range []string{"8 (900) 123-45-67", "+44 20 7946 0958", "9 990,00 ₽", "1,500.00", "ivan@Mail.RU", "да", "2,00",
		"31.02.2001", "01.03.2024 09:15", "1991-03-14", "", " ", "\xff", "−1'500,5 руб.", "00 49 30 1234567",
		"89001234567.0", "+7 900 123-45-68, +7 900 765-43-21", "8 (900) 123-45-69 доб. 123", "+1 212 555 0123 x5", "8 900 123 45 67 (доб.12)"} {
		f.Add(s)
	}
	iso, _ := dateTransform("DD.MM.YYYY HH:mm", dateISO)
	ymd, _ := dateTransform("YYYY-MM-DD", dateBirthday)
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range []string{"trim", "lower", "upper", "email", "phone", "money", "int", "bool"} {
			tr, _ := simpleTransform(name)
			out, msg := tr.fn(s)
			if msg != "" {
				if out != "" {
					t.Fatalf("%s(%q) rejected but returned %q", name, s, out)
				}
				continue
			}
			again, msg2 := tr.fn(out)
			switch name {
			case "email":
				if msg2 != "" || again != out || !strings.Contains(out, "@") {
					t.Fatalf("email(%q) = %q, again %q %q", s, out, again, msg2)
				}
			case "phone":
				if !rePhone.MatchString(out) || msg2 != "" || again != out {
					t.Fatalf("phone(%q) = %q, again %q %q", s, out, again, msg2)
				}
			case "money":
				if !reMoney.MatchString(out) || msg2 != "" || again != out {
					t.Fatalf("money(%q) = %q, again %q %q", s, out, again, msg2)
				}
			case "int":
				if _, err := strconv.ParseInt(out, 10, 64); err != nil || again != out {
					t.Fatalf("int(%q) = %q: %v", s, out, err)
				}
			case "bool":
				if out != "1" && out != "0" {
					t.Fatalf("bool(%q) = %q", s, out)
				}
			}
		}
		if out, msg := iso.fn(s); msg == "" && !reISO.MatchString(out) {
			t.Fatalf("date(%q) = %q", s, out)
		}
		if out, msg := ymd.fn(s); msg == "" && !reBirth.MatchString(out) {
			t.Fatalf("date(%q) = %q", s, out)
		}
		normKey(s)
	})
}

// FuzzApply maps arbitrary cells through a mapping that uses every transform, map, split,
// template and row-hash: never a panic, always either canonical JSON or a RowError.
func FuzzApply(f *testing.F) {
	const src = `target: deals
fields:
  user.email: {column: E, transform: [trim, lower, email]}
  user.phone: {column: T, transform: [phone]}
  user.last_name: {template: "{F} {{x}} {O}"}
  user.birthday: {column: D, transform: [{date: DD.MM.YYYY}]}
  user.group_name: {column: G, split: ",", map: {vip: VIP Студенты}, joined_at: {column: D, transform: [{date: DD.MM.YYYY}]}}
  user.addfields.Промокод: {column: P, transform: [upper]}
  deal.deal_cost: {column: S, transform: [money], default: "0"}
  deal.quantity: {column: Q, transform: [int]}
  deal.deal_is_paid: {column: B, transform: [bool]}
  deal.deal_status: {column: St, map: {Оплачен: payed, Новый: new}}
  deal.payment_type: {column: Pt, map: {карта: CARD}}
  deal.deal_number: {generate: row-hash}
  system.refresh_if_exists: {value: 1}
require_one_of: [user.email, user.phone]
`
	m, err := Parse("fuzz.yaml", []byte(src))
	if err != nil {
		f.Fatal(err)
	}
	header := []string{"E", "T", "F", "O", "D", "G", "P", "S", "Q", "B", "St", "Pt"}
	c, err := m.Compile(header)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("ivan@mail.ru", "8 900 123 45 67", "Иванов", "01.02.1990", "vip, Клиенты", "9 990,00 ₽", "2", "да", "Оплачен", "card")
	f.Add("", "", "", "", "", "", "", "", "", "")
	f.Add("\xff@a.ru", "+0", "{x}", "31.02.2001", ",,,", "1.2.3", "x", "?", "Оплочен", "bitcoin")
	f.Fuzz(func(t *testing.T, e, tel, fam, date, groups, sum, qty, paid, status, pay string) {
		row := []string{e, tel, fam, fam, date, groups, e, sum, qty, paid, status, pay}
		checkApply(t, c, row)
		checkApply(t, c, row[:len(row)/2])
	})
}
