package gcsim

import (
	"bufio"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gcbatch/gcbatch/getcourse"
)

// Texts and codes of the export API (getcourse-api.md); [?] marks our guesses.
const (
	txtNoFeature     = "Функционал недоступен"
	txtBusy          = "Уже запущен один экспорт, попробуйте позднее"
	txtNoFilter      = "Должен быть передан хотя бы один фильтр"
	txtNotReady      = "Файл еще не создан"
	txtExportFailed  = "Файл не создан, попробуйте другой фильтр"
	txtGone          = "Объект не найден"            // [client] answered without a code
	txtNoGroup       = "Группа не найдена"           // [?] answered with code 910
	txtBadFilterVal  = "Неверное значение фильтра: " // [?] answered with code 908
	txtBadDealStatus = "Неверный статус заказа, попробуйте один из - "
	txtBadUserStatus = "Неверный статус пользователя, попробуйте один из - "
	txtBadPayStat    = "Неверный статус платежа, попробуйте один из - "
)

// SimFailFilter is the magic filter that makes an export fail: an export started with
// sim_fail=1 (or sim_fail[from]=1, any non-empty value) builds as usual and then answers 910
// «Файл не создан, попробуйте другой фильтр» when collected. It counts as a filter, so it is
// enough on its own. gcbatch reaches it with --filter sim_fail=1.
const SimFailFilter = "sim_fail"

func (s *Sim) exportError(code int, text string) reply {
	b := make([]byte, 0, 160)
	b = append(b, `{"success":`...)
	b = s.appendBool(b, false)
	b = append(b, `,"error":`...)
	b = s.appendBool(b, true)
	b = append(b, `,"error_message":`...)
	b = appendJSONString(b, text, false)
	b = append(b, `,"error_code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	return jsonReply(append(b, '}'))
}

// goneReply is the answer about an export the service does not have (expired, or never
// known): «Объект не найден» with no error_code [client].
func (s *Sim) goneReply() reply {
	b := append(make([]byte, 0, 96), `{"success":`...)
	b = s.appendBool(b, false)
	b = append(b, `,"error":`...)
	b = s.appendBool(b, true)
	b = append(b, `,"error_message":`...)
	b = appendJSONString(b, txtGone, false)
	return jsonReply(append(b, '}'))
}

// statusWords are the info.status values a not-ready poll may carry [client, three sources].
var statusWords = []string{"processing", "exported", "finished"}

// statusReply is a success that carries only info.status: not ready yet.
func (s *Sim) statusReply(status string) reply {
	b := append(make([]byte, 0, 64), `{"success":`...)
	b = s.appendBool(b, true)
	b = append(b, `,"info":{"status":`...)
	b = appendJSONString(b, status, false)
	return jsonReply(append(b, "}}"...))
}

// admit counts an export-API call against the rolling budget; false means 903. A refused call
// is not admitted: it does not extend the block. Called with s.mu held.
func (s *Sim) admit(now time.Time) bool {
	if s.cfg.ExportBudget < 0 {
		s.st.ExportCalls++
		return true
	}
	cut := now.Add(-s.cfg.ExportWindow)
	i := 0
	for i < len(s.budget) && !s.budget[i].After(cut) {
		i++
	}
	s.budget = s.budget[i:]
	if len(s.budget) >= s.cfg.ExportBudget {
		return false
	}
	s.budget = append(s.budget, now)
	s.st.ExportCalls++
	return true
}

type accountRoute int

const (
	routeNone accountRoute = iota
	routeFields
	routeGroups
	routeStart
	routeFetch
)

func classifyAccount(p string) (accountRoute, string, string) {
	rest := strings.TrimPrefix(p, "/pl/api/account/")
	switch rest {
	case "fields":
		return routeFields, "", ""
	case "groups":
		return routeGroups, "", ""
	case "users", "deals", "payments":
		return routeStart, rest, ""
	}
	if id, ok := strings.CutPrefix(rest, "exports/"); ok && id != "" && !strings.Contains(id, "/") {
		return routeFetch, "", id
	}
	if g, ok := strings.CutPrefix(rest, "groups/"); ok {
		if id, ok := strings.CutSuffix(g, "/users"); ok && id != "" && !strings.Contains(id, "/") {
			return routeStart, "group_users", id
		}
	}
	return routeNone, "", ""
}

// serveAccount serves /pl/api/account/*: the export API, the group list and the field list.
// Order of checks: key (901/904), plan (917), budget (903), then the call itself. Calls refused
// for the key or the plan never reach the account's budget.
func (s *Sim) serveAccount(r *http.Request, p string) reply {
	route, object, id := classifyAccount(p)
	if route == routeNone {
		return reply{status: http.StatusNotFound, ctype: "text/html; charset=utf-8",
			body: []byte("<html><body><h1>404</h1><p>Страница не найдена</p></body></html>")}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return s.exportError(908, txtNoFilter)
	}
	key := r.Form.Get("key")
	if key == "" {
		return s.exportError(904, txtNoKey)
	}
	if !s.checkKey(key) && !s.readOnlyKey(key) {
		return s.exportError(901, txtBadKey)
	}
	if !s.exportAPI() {
		return s.exportError(917, txtNoFeature)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.admit(now) {
		return s.exportError(903, txtTooMany)
	}
	switch route {
	case routeFields:
		return s.fieldsReply()
	case routeGroups:
		return s.groupsReply()
	case routeStart:
		return s.startExport(r, object, id, now)
	default:
		return s.fetchExport(id, now)
	}
}

func (s *Sim) fieldsReply() reply {
	// The real answer [client types]: every value a string, the name in title, the object in
	// context_type. The words context_type takes on the real service are a guess [?].
	b := append(make([]byte, 0, 1024), `{"success":`...)
	b = s.appendBool(b, true)
	b = append(b, `,"info":[`...)
	for i, f := range slices.Concat(userFields, dealFields) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = strconv.AppendInt(b, f.id, 10)
		b = append(b, `","title":`...)
		b = appendJSONString(b, f.name, false)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, f.typ, false)
		b = append(b, `,"context_type":`...)
		b = appendJSONString(b, f.object, false)
		b = append(b, `,"required":"0","field_order_pos":"`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, `","params":""}`...)
	}
	return jsonReply(append(b, "]}"...))
}

// groupsReply lists the groups: info [{id, name, last_added_at}] as the service answers, or in
// the seed shape result.groups [{id, title, users_count, description}]. Called with s.mu held;
// the seed shape's member counts are computed from a snapshot after the lock is released.
func (s *Sim) groupsReply() reply {
	if !s.seedShape {
		b := append(make([]byte, 0, 512), `{"success":true,"info":[`...)
		for i, g := range s.groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = strconv.AppendInt(b, g.id, 10)
			b = append(b, `,"name":`...)
			b = appendJSONString(b, g.name, false)
			b = append(b, `,"last_added_at":`...)
			if g.lastAdded == 0 {
				b = append(b, "null"...)
			} else {
				b = append(appendDateTime(append(b, '"'), g.lastAdded), '"')
			}
			b = append(b, '}')
		}
		return jsonReply(append(b, "]}"...))
	}
	sn := s.snapshot()
	return reply{status: http.StatusOK, ctype: ctypeJSON, stream: func(w *bufio.Writer) {
		counts := sn.groupCounts()
		b := append(make([]byte, 0, 512), `{"success":"true","result":{"groups":[`...)
		for i, g := range sn.groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = strconv.AppendInt(b, g.id, 10)
			b = append(b, `,"title":`...)
			b = appendJSONString(b, g.name, false)
			b = append(b, `,"users_count":`...)
			b = strconv.AppendInt(b, int64(counts[g.id]), 10)
			b = append(b, `,"description":""}`...)
		}
		w.Write(append(b, "]}}"...))
	}}
}

// ---- filters ----

// dayRange is a whole-days range, inclusive, in Moscow time, as unix seconds.
type dayRange struct {
	from, to int64
	set      bool
}

func (d dayRange) has(t int64) bool { return !d.set || (t != 0 && t >= d.from && t <= d.to) }

type filters struct {
	created, payed, finished, statusChanged, added dayRange
	status                                         string
	emails                                         []string
	userIDs                                        []int64 // user_id: an id or a comma list [client]
	inGroup                                        int64
	fail                                           bool
}

var filterNames = map[string][]string{
	"users":       {"created_at", "status", "email"},
	"group_users": {"created_at", "status", "added_at"},
	"deals":       {"created_at", "payed_at", "finished_at", "status_changed_at", "status", "user_id", "user_in_group"},
	"payments":    {"created_at", "status", "status_changed_at"},
}

// parseFilters reads PHP-style filters (created_at[from]=YYYY-MM-DD). Unknown names are
// ignored, as the service ignores them, and do not count as filters.
func (s *Sim) parseFilters(r *http.Request, object string) (filters, *reply) {
	var f filters
	n := 0
	bad := func(code int, text string) (filters, *reply) {
		rep := s.exportError(code, text)
		return f, &rep
	}
	for k, vals := range r.Form {
		v := ""
		if len(vals) > 0 {
			v = strings.TrimSpace(vals[0])
		}
		if v == "" {
			continue
		}
		name, sub := k, ""
		if i := strings.IndexByte(k, '['); i > 0 && strings.HasSuffix(k, "]") {
			name, sub = k[:i], k[i+1:len(k)-1]
		}
		if name == SimFailFilter {
			f.fail = true
			n++
			continue
		}
		if !slices.Contains(filterNames[object], name) {
			continue
		}
		var rng *dayRange
		switch name {
		case "created_at":
			rng = &f.created
		case "payed_at":
			rng = &f.payed
		case "finished_at":
			rng = &f.finished
		case "status_changed_at":
			rng = &f.statusChanged
		case "added_at":
			rng = &f.added
		case "status":
			vals, code, text := getcourse.UserStatuses, 914, txtBadUserStatus
			switch object {
			case "deals":
				vals, code, text = getcourse.DealStatuses, 913, txtBadDealStatus
			case "payments":
				vals, code, text = getcourse.PaymentStatuses, 918, txtBadPayStat
			}
			if !slices.Contains(vals, v) {
				return bad(code, text+listOf(vals))
			}
			f.status = v
		case "email":
			for e := range strings.SplitSeq(v, ",") {
				if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
					f.emails = append(f.emails, e)
				}
			}
		case "user_id":
			for part := range strings.SplitSeq(v, ",") {
				id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
				if err != nil || id <= 0 {
					return bad(908, txtBadFilterVal+k)
				}
				f.userIDs = append(f.userIDs, id)
			}
		case "user_in_group":
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return bad(908, txtBadFilterVal+k)
			}
			f.inGroup = id
		}
		if rng != nil {
			if sub != "" && sub != "from" && sub != "to" {
				continue
			}
			day, err := time.ParseInLocation(time.DateOnly, v, msk)
			if err != nil && len(v) > 10 {
				day, err = time.ParseInLocation(time.DateOnly, v[:10], msk)
			}
			if err != nil {
				return bad(908, txtBadFilterVal+k)
			}
			if !rng.set {
				*rng = dayRange{from: -1 << 62, to: 1 << 62, set: true}
			}
			if sub != "to" {
				rng.from = day.Unix()
			}
			if sub != "from" {
				rng.to = day.AddDate(0, 0, 1).Unix() - 1
			}
		}
		n++
	}
	if n == 0 && object != "group_users" {
		// Group members are exported without a filter by the public SDKs [client].
		return bad(908, txtNoFilter)
	}
	return f, nil
}

// startExport starts an export; one builds at a time per account (905, nothing started).
// Called with s.mu held.
func (s *Sim) startExport(r *http.Request, object, groupID string, now time.Time) reply {
	e := &export{object: object}
	if object == "group_users" {
		id, err := strconv.ParseInt(groupID, 10, 64)
		if err != nil || s.groupByID(id) == nil {
			return s.exportError(910, txtNoGroup)
		}
		e.groupID = id
	}
	// One export at a time comes first: the service answers 905 before it looks at the
	// filters [client].
	for _, other := range s.exports {
		if now.Before(other.readyAt) {
			return s.exportError(905, txtBusy)
		}
	}
	f, bad := s.parseFilters(r, object)
	if bad != nil {
		return *bad
	}
	e.f = f
	if object == "users" {
		for part := range strings.FieldsFuncSeq(r.Form.Get("idgrouplist"), func(c rune) bool {
			return c == ',' || c == '|' || c == ' ' || c == ';'
		}) {
			if id, err := strconv.ParseInt(part, 10, 64); err == nil && s.groupByID(id) != nil &&
				!slices.Contains(e.groupCol, id) {
				e.groupCol = append(e.groupCol, id)
			}
		}
	}
	e.id = s.nextExport
	s.nextExport++
	e.readyAt = now
	if s.cfg.ExportDelay > 0 {
		e.readyAt = now.Add(s.cfg.ExportDelay)
	}
	s.exports[e.id] = e
	s.st.ExportStarts++
	b := append(make([]byte, 0, 64), `{"success":`...)
	b = s.appendBool(b, true)
	b = append(b, `,"info":{"export_id":`...)
	b = s.appendID(b, e.id)
	return jsonReply(append(b, "}}"...))
}

// fetchExport answers exports/{id}: 909 while building, 910 when failed, else the file,
// streamed from a snapshot after the lock is released. Called with s.mu held.
func (s *Sim) fetchExport(idText string, now time.Time) reply {
	id, err := strconv.ParseInt(idText, 10, 64)
	e := s.exports[id]
	if e != nil && s.cfg.ExportLifetime > 0 && !now.Before(e.readyAt.Add(s.cfg.ExportLifetime)) {
		delete(s.exports, id) // expired: the service forgets it
		e = nil
	}
	if err != nil || e == nil {
		return s.goneReply()
	}
	if e.polls < s.cfg.StatusPolls {
		e.polls++
		return s.statusReply(statusWords[(e.polls-1)%len(statusWords)])
	}
	if now.Before(e.readyAt) {
		return s.exportError(909, txtNotReady)
	}
	if e.f.fail {
		return s.exportError(910, txtExportFailed)
	}
	sn := s.snapshot()
	return reply{status: http.StatusOK, ctype: ctypeJSON, stream: func(w *bufio.Writer) {
		s.writeExport(w, e, sn, now)
	}}
}
