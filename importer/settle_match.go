package importer

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/internal/money"
	"github.com/gcbatch/gcbatch/internal/ruphone"
)

// dealSig is what a deal row says about the deal it creates that the deals export shows too:
// the buyer, the product title, the cost and the creation time when the row sets it. Empty
// fields are not compared (a row made from an offer code has no title gcbatch knows: the
// export shows the offer's own title).
type dealSig struct {
	email, phone string // lower-cased; digits, Russian 8/9 prefixes read as 7
	offer        string // offer code or id: never compared, it keeps different offers apart
	title        string // normalised product title; "" when the row names an offer instead
	cost         int64  // kopecks of the whole deal (cost × quantity)
	hasCost      bool
	created      string // deal_created_at as sent (YYYY-MM-DD HH:MM:SS), or ""
}

func (s dealSig) key() string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%d/%t\x00%s", s.email, s.phone, s.offer, s.title, s.cost, s.hasCost, s.created)
}

// signatureOf reads a deals row's params (the canonical JSON the import sends).
func signatureOf(params []byte) dealSig {
	var p struct {
		User struct {
			Email, Phone any
		} `json:"user"`
		Deal struct {
			ProductTitle  any `json:"product_title"`
			OfferCode     any `json:"offer_code"`
			OfferID       any `json:"offer_id"`
			Quantity      any `json:"quantity"`
			DealCost      any `json:"deal_cost"`
			DealCurrency  any `json:"deal_currency"`
			DealCreatedAt any `json:"deal_created_at"`
		} `json:"deal"`
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.UseNumber()
	_ = dec.Decode(&p) // params are the import's own canonical JSON; a field it lacks stays empty
	str := func(v any) string {
		if v == nil {
			return ""
		}
		return strings.TrimSpace(fmt.Sprint(v))
	}
	d := &p.Deal
	s := dealSig{email: strings.ToLower(str(p.User.Email)), phone: ruphone.Key(str(p.User.Phone)),
		title: normTitle(str(d.ProductTitle)), created: str(d.DealCreatedAt)}
	if code, id := str(d.OfferCode), str(d.OfferID); code != "" || id != "" {
		s.offer = code + "#" + id
	}
	// The export's cost is in roubles: a deal in another currency shows a converted sum. The
	// cost is read by the money transform's own rules (internal/money), so that what a mapping
	// sent and what the export shows back ("12 000,00") are read alike.
	if cur := strings.ToUpper(str(d.DealCurrency)); cur == "" || cur == "RUB" {
		if k, ok := money.Parse(str(d.DealCost)); ok {
			q := int64(1)
			if n, ok := money.Parse(str(d.Quantity)); ok && n >= 100 && n%100 == 0 {
				q = n / 100
			}
			s.cost, s.hasCost = k*q, true
			if k != 0 && (k*q)/q != k {
				// A cost times a quantity past int64 cannot be a deal's cost; no export row
				// can match it, so the row stays in doubt rather than match a wrong deal.
				s.cost = math.MinInt64
			}
		}
	}
	return s
}

// normTitle compares titles ignoring case, runs of spaces and ё/е.
func normTitle(t string) string {
	t = strings.ReplaceAll(strings.ToLower(t), "ё", "е")
	return strings.Join(strings.FieldsFunc(t, unicode.IsSpace), " ")
}

// candidate is a deal of the export that could be a row in doubt.
type candidate struct {
	id, userID   int64
	email, phone string
	title        string // normalised
	createdText  string
	created      time.Time // zero when the text does not parse
	cost         int64
	hasCost      bool
	// anyTitle and anyCost are set when the export has no such column: nothing to compare,
	// so the deal stays a candidate (more candidates leave rows in doubt, never send them twice).
	anyTitle, anyCost bool
}

// matches reports whether c could be the deal a row with signature s created, made at or after
// since (when the row does not set its own creation time).
func (s dealSig) matches(c *candidate, since time.Time) bool {
	buyer := s.email != "" && c.email == s.email || s.phone != "" && c.phone == s.phone
	if !buyer || s.title != "" && !c.anyTitle && c.title != s.title ||
		s.hasCost && !c.anyCost && (!c.hasCost || c.cost != s.cost) {
		return false
	}
	if c.created.IsZero() {
		return true // a time that does not read rules nothing out
	}
	if s.created != "" {
		// The row sets the deal's date: the deal shows it, in whatever zone the account
		// displays; within settleSlack either way is close enough.
		own, err := time.ParseInLocation(time.DateTime, s.created, moscow)
		if err != nil {
			return true
		}
		d := c.created.Sub(own)
		return d <= settleSlack && d >= -settleSlack
	}
	return !c.created.Before(since)
}

// readCandidates reads a deals export (CSV with the service's column titles) and keeps the
// deals of the rows' buyers.
func readCandidates(r io.Reader, rows []*doubtRow) ([]candidate, error) {
	emails, phones := map[string]bool{}, map[string]bool{}
	for _, row := range rows {
		if row.sig.email != "" {
			emails[row.sig.email] = true
		}
		if row.sig.phone != "" {
			phones[row.sig.phone] = true
		}
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil // an export with no columns holds no deals
	}
	if err != nil {
		return nil, fmt.Errorf("reading the deals export: %w", err)
	}
	col := func(names ...string) int {
		for i, h := range header {
			h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
			for _, n := range names {
				if strings.EqualFold(h, n) || strings.HasSuffix(n, "*") && strings.HasPrefix(strings.ToLower(h), strings.ToLower(strings.TrimSuffix(n, "*"))) {
					return i
				}
			}
		}
		return -1
	}
	// The service's titles first; then names other exports of deals use for the same thing.
	ic, uc := col("ID заказа", "ID сделки", "deal_id", "id"), col("ID пользователя", "user_id")
	ec, pc := col("Email", "E-mail", "Эл. почта", "email"), col("Телефон", "phone")
	tc, dc := col("Title", "Название", "Предложение", "product_title"), col("Дата создания", "Создан", "created_at")
	cc := col("Стоимость*", "Сумма*", "deal_cost", "cost")
	// Without ids nothing can be confirmed, without a buyer nothing matched; a missing
	// title, cost or date column only makes every deal of the buyer a candidate.
	var missing []string
	if ic < 0 {
		missing = append(missing, "ID заказа")
	}
	if ec < 0 && pc < 0 {
		missing = append(missing, "Email or Телефон")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s (it has %s)", errNoColumns, strings.Join(missing, ", "), strings.Join(header, ", "))
	}
	cell := func(rec []string, i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var out []candidate
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the deals export: %w", err)
		}
		c := candidate{email: strings.ToLower(cell(rec, ec)), phone: ruphone.Key(cell(rec, pc))}
		if !(c.email != "" && emails[c.email] || c.phone != "" && phones[c.phone]) {
			continue
		}
		var ok bool
		if c.id, ok = parseID(cell(rec, ic)); !ok {
			continue
		}
		c.userID, _ = parseID(cell(rec, uc))
		c.title = normTitle(cell(rec, tc))
		c.createdText = cell(rec, dc)
		for _, layout := range []string{time.DateTime, "02.01.2006 15:04:05", "02.01.2006 15:04", time.RFC3339} {
			if t, err := time.ParseInLocation(layout, c.createdText, moscow); err == nil {
				c.created = t
				break
			}
		}
		c.cost, c.hasCost = money.Parse(cell(rec, cc))
		c.anyTitle, c.anyCost = tc < 0, cc < 0
		out = append(out, c)
	}
}

func parseID(s string) (int64, bool) {
	var n int64
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, n > 0
}

// dealGroup is the rows in doubt that share a signature, and the deals that could be theirs.
type dealGroup struct {
	sig   dealSig
	rows  []*doubtRow
	cands []*candidate
}

// matchDoubtRows decides every row in doubt (Settle's rules), fills rep and returns the ledger
// records to write.
func matchDoubtRows(rows []*doubtRow, cands []candidate, known map[int64]bool, since time.Time, rep *SettleReport, now time.Time) []checkpoint.DoubtfulRow {
	var groups []*dealGroup
	byKey := map[string]*dealGroup{}
	for _, r := range rows {
		k := r.sig.key()
		g := byKey[k]
		if g == nil {
			g = &dealGroup{sig: r.sig}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, r)
		r.group = g
	}
	claims := map[int64]int{} // deal id → groups it could belong to
	for i := range cands {
		c := &cands[i]
		if known[c.id] {
			continue // the ledger has it confirmed for another row like these
		}
		for _, g := range groups {
			if g.sig.matches(c, since) {
				g.cands = append(g.cands, c)
				claims[c.id]++
			}
		}
	}
	day := now.Local().Format("2006-01-02 15:04")
	var out []checkpoint.DoubtfulRow
	put := func(r *doubtRow, rec checkpoint.RowRecord, sr SettledRow) {
		rec.RunID, rec.Line = r.rec.RunID, r.rec.Line
		out = append(out, checkpoint.DoubtfulRow{Key: r.key, Record: rec})
		sr.Line, sr.Rows, sr.RunID = r.line, len(r.group.rows), r.rec.RunID
		rep.Rows = append(rep.Rows, sr)
	}
	for _, g := range groups {
		slices.SortFunc(g.rows, func(a, b *doubtRow) int { return a.line - b.line })
		slices.SortFunc(g.cands, func(a, b *candidate) int {
			if c := strings.Compare(a.createdText, b.createdText); c != 0 {
				return c
			}
			return int(a.id - b.id)
		})
		n, m := len(g.rows), len(g.cands)
		shared := false
		identical := true
		for _, c := range g.cands {
			shared = shared || claims[c.id] > 1
		}
		for _, r := range g.rows[1:] {
			identical = identical && r.key.Hash == g.rows[0].key.Hash
		}
		confirm := 0
		switch {
		case m == 0:
		case shared || m > n:
			confirm = -1
		case m == n:
			confirm = m
		case identical:
			// At most m of the n identical rows can have arrived: confirm m, send the rest.
			confirm = m
		default:
			confirm = -1 // rows that differ, fewer deals than rows: which ones arrived is unknown
		}
		ids := make([]int64, m)
		for i, c := range g.cands {
			ids[i] = c.id
		}
		for i, r := range g.rows {
			switch {
			case confirm < 0:
				rep.Ambiguous++
				put(r, checkpoint.RowRecord{State: checkpoint.StateInDoubt, At: r.rec.At,
					Error: fmt.Sprintf("the deals export of %s lists %s that could be this row (%s) for %s in doubt like it, so gcbatch cannot tell whether it created one: check them in GetCourse",
						day, nWord(m, "deal", "deals"), joinIDs(ids), nWord(n, "row", "rows"))},
					SettledRow{Outcome: SettleAmbiguous, Candidates: ids})
			case i < confirm:
				rep.Confirmed++
				c := g.cands[i]
				put(r, checkpoint.RowRecord{State: checkpoint.StateConfirmed, UserID: c.userID, DealID: c.id, At: now},
					SettledRow{Outcome: SettleConfirmed, DealID: c.id})
			default:
				rep.Missing++
				put(r, checkpoint.RowRecord{State: checkpoint.StateFailed, At: now,
					Error: fmt.Sprintf("not in GetCourse: the deals export of %s lists no deal of this buyer, title and cost that is not another row's, so it is sent again", day)},
					SettledRow{Outcome: SettleMissing})
			}
		}
	}
	slices.SortFunc(rep.Rows, func(a, b SettledRow) int { return a.Line - b.Line })
	return out
}
