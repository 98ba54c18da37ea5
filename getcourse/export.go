package getcourse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// ExportObject is what an export lists.
type ExportObject string

// The export objects of the API.
const (
	ExportUsers      ExportObject = "users"
	ExportGroupUsers ExportObject = "group-users"
	ExportDeals      ExportObject = "deals"
	ExportPayments   ExportObject = "payments"
)

// ExportRequest starts an export. GroupID is needed for ExportGroupUsers only. The service
// requires at least one filter for users, deals and payments (908); a group's members may be
// exported without one (FilterRequired).
type ExportRequest struct {
	Object  ExportObject
	GroupID int64
	Filters []Filter
}

// Filter is one PHP-style query filter: Sub "" gives name=value, Sub "from" gives
// name[from]=value (created_at[from]=2024-01-01).
type Filter struct {
	Name, Sub, Value string
}

// Key returns the query parameter name of the filter.
func (f Filter) Key() string {
	if f.Sub == "" {
		return f.Name
	}
	return f.Name + "[" + f.Sub + "]"
}

var filterWord = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// ExportPath returns the API path that starts an export of r.Object.
func ExportPath(r ExportRequest) (string, error) {
	switch r.Object {
	case ExportUsers:
		return "/pl/api/account/users", nil
	case ExportDeals:
		return "/pl/api/account/deals", nil
	case ExportPayments:
		return "/pl/api/account/payments", nil
	case ExportGroupUsers:
		if r.GroupID <= 0 {
			return "", errors.New("exporting group users needs a group id (see gcbatch groups)")
		}
		return "/pl/api/account/groups/" + strconv.FormatInt(r.GroupID, 10) + "/users", nil
	}
	return "", fmt.Errorf("unknown export %q: want users, group-users, deals or payments", r.Object)
}

// FilterRequired reports whether the service refuses an export of obj without a filter (908):
// users, deals and payments. Group members are exported unfiltered by the public SDKs.
func FilterRequired(obj ExportObject) bool { return obj != ExportGroupUsers }

// StartExport asks the service to build an export and returns its id. The key and filters go in
// the query string of a GET, as the export API expects. A request that needs a filter and has
// none is refused here (the service would answer 908 and spend budget on it).
//
// A start is not idempotent: once its request was written, the service may have started an
// export even if no answer came back. Such a failure comes back InDoubt and is not retried (a
// retry would meet 905 because of the first export, or start a second one); a request that
// certainly did not leave is retried as usual.
func (c *Client) StartExport(ctx context.Context, r ExportRequest) (int64, error) {
	path, err := ExportPath(r)
	if err != nil {
		return 0, err
	}
	if len(r.Filters) == 0 && FilterRequired(r.Object) {
		return 0, &APIError{Kind: KindBadFilter, Method: http.MethodGet, Path: path,
			Message: "at least one filter is required (e.g. created_at from a date); nothing was sent"}
	}
	q := url.Values{}
	for _, f := range r.Filters {
		if !filterWord.MatchString(f.Name) || (f.Sub != "" && !filterWord.MatchString(f.Sub)) {
			return 0, &APIError{Kind: KindBadFilter, Method: http.MethodGet, Path: path,
				Message: fmt.Sprintf("filter %q is not a filter name (letters, digits, _)", f.Key())}
		}
		if f.Name == "key" {
			return 0, &APIError{Kind: KindBadFilter, Method: http.MethodGet, Path: path, Message: "\"key\" is not a filter"}
		}
		q.Add(f.Key(), f.Value)
	}
	rep, err := c.do(ctx, callSpec{method: http.MethodGet, path: path, query: q})
	if err != nil {
		return 0, err
	}
	var st exportStart
	if err := json.Unmarshal(rep.env.Info, &st); err != nil || (st.ExportID <= 0 && st.ID <= 0) {
		return 0, &APIError{Kind: KindProtocol, Method: http.MethodGet, Path: path, HTTPStatus: http.StatusOK,
			Message: "the export was accepted but the answer holds no export_id"}
	}
	if st.ExportID > 0 {
		return int64(st.ExportID), nil
	}
	return int64(st.ID), nil
}

// ExportPathOf returns the API path of export id (for budgets, logs and state).
func ExportPathOf(id int64) string {
	return "/pl/api/account/exports/" + strconv.FormatInt(id, 10)
}

// OpenExport fetches export id. An export that is not ready or failed is an *APIError
// (KindNotReady for 909, KindExportFailed for 910, ...). A ready one comes back as the raw JSON
// body, {"success":true,"info":{"fields":[...],"items":[...]}}, for the caller to decode as a
// stream: only the first bytes were read to classify it. The caller must Close it; read errors
// are *APIError values of KindTransport, scrubbed of the key.
func (c *Client) OpenExport(ctx context.Context, id int64) (io.ReadCloser, error) {
	path := ExportPathOf(id)
	if id <= 0 {
		return nil, fmt.Errorf("export id must be positive, not %d", id)
	}
	rep, err := c.do(ctx, callSpec{method: http.MethodGet, path: path, idempotent: true, collect: true, stream: true})
	if err != nil {
		return nil, err
	}
	if rep.stream != nil {
		return rep.stream, nil
	}
	if len(bytes.TrimSpace(rep.env.Info)) == 0 {
		return nil, &APIError{Kind: KindProtocol, Method: http.MethodGet, Path: path, HTTPStatus: http.StatusOK,
			Message: "a successful answer without the export's info"}
	}
	if status, ok := statusOnly(rep.env.Info); ok {
		return nil, &APIError{Kind: KindNotReady, Method: http.MethodGet, Path: path, HTTPStatus: http.StatusOK,
			Message: fmt.Sprintf("the export is not ready yet (status %q, no fields or items)", status)}
	}
	return io.NopCloser(bytes.NewReader(rep.body)), nil
}

// statusOnly reports whether a successful export answer carries a status but neither fields
// nor items, {"status":"processing"} (also "exported", "finished"): the export is not ready.
func statusOnly(info json.RawMessage) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(info, &m) != nil {
		return "", false
	}
	_, fields := m["fields"]
	_, items := m["items"]
	raw, status := m["status"]
	if fields || items || !status {
		return "", false
	}
	var t flexText
	if t.UnmarshalJSON(raw) != nil {
		return "", false
	}
	return string(t), true
}

// ExportData is a whole export in memory.
type ExportData struct {
	Fields []string
	Items  [][]string
}

// ExportResult reads export id whole into memory: for small exports and tests. Large exports go
// through OpenExport and a streaming decoder.
func (c *Client) ExportResult(ctx context.Context, id int64) (*ExportData, error) {
	rc, err := c.OpenExport(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var w struct {
		Info exportInfo `json:"info"`
	}
	if err := json.NewDecoder(rc).Decode(&w); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, &APIError{Kind: KindProtocol, Method: http.MethodGet, Path: ExportPathOf(id), HTTPStatus: http.StatusOK,
			Message: "the export's JSON is unreadable: " + err.Error()}
	}
	d := &ExportData{Fields: make([]string, len(w.Info.Fields)), Items: make([][]string, len(w.Info.Items))}
	for i, f := range w.Info.Fields {
		d.Fields[i] = string(f)
	}
	for i, it := range w.Info.Items {
		row := make([]string, len(it))
		for j, v := range it {
			row[j] = string(v)
		}
		d.Items[i] = row
	}
	return d, nil
}

// GroupInfo is one group of the account.
type GroupInfo struct {
	ID          int64
	Name        string
	LastAddedAt string // when a user was last added; empty if the service does not say
	UsersCount  int    // only in the documented (seed) shape; 0 when unknown
}

// Groups lists the account's groups. It accepts the real answer (info: [{id, name,
// last_added_at}]) and the documented one (result.groups: [{id, title, users_count}]). The call
// counts against the export budget.
func (c *Client) Groups(ctx context.Context) ([]GroupInfo, error) {
	const path = "/pl/api/account/groups"
	rep, err := c.do(ctx, callSpec{method: http.MethodGet, path: path, idempotent: true})
	if err != nil {
		return nil, err
	}
	raw := listIn(rep.env.Info, "groups")
	if raw == nil && rep.env.Result.resultBody != nil {
		raw = listIn(rep.env.Result.Groups, "groups")
	}
	var list []groupWire
	if raw == nil || json.Unmarshal(raw, &list) != nil {
		return nil, &APIError{Kind: KindProtocol, Method: http.MethodGet, Path: path, HTTPStatus: http.StatusOK,
			Message: "the answer holds no readable group list"}
	}
	out := make([]GroupInfo, 0, len(list))
	for _, g := range list {
		out = append(out, GroupInfo{
			ID:          int64(g.ID),
			Name:        firstText(g.Name, g.Title),
			LastAddedAt: firstText(g.LastAddedAt),
			UsersCount:  int(g.UsersCount),
		})
	}
	return out, nil
}

// Field is one custom field of the account.
type Field struct {
	ID     int64
	Name   string
	Type   string
	Object string // "user" or "deal" when the service says (context_type); "" when it does not
}

// accountFieldsPath is the custom-field list's call.
const accountFieldsPath = "/pl/api/account/fields"

// AccountFields lists the account's custom fields (POST action=get, answered in the export
// envelope). The call counts against the export budget. It reads the real answer, {id, title,
// type, context_type, required, field_order_pos, params} with every value a string, and older
// shapes ({id, name, type, object}); context_type says whether a field is a user's or a deal's
// (fieldObject).
func (c *Client) AccountFields(ctx context.Context) ([]Field, error) {
	const path = accountFieldsPath
	rep, err := c.do(ctx, callSpec{method: http.MethodPost, path: path,
		form: actionForm("get"), idempotent: true})
	if err != nil {
		return nil, err
	}
	raw := listIn(rep.env.Info, "fields")
	if raw == nil && len(rep.env.Result.raw) > 0 {
		raw = listIn(rep.env.Result.raw, "fields")
	}
	var list []fieldWire
	if raw == nil || json.Unmarshal(raw, &list) != nil {
		return nil, &APIError{Kind: KindProtocol, Method: http.MethodPost, Path: path, HTTPStatus: http.StatusOK,
			Message: "the answer holds no readable field list"}
	}
	out := make([]Field, 0, len(list))
	for _, f := range list {
		out = append(out, Field{
			ID:     int64(f.ID),
			Name:   firstText(f.Name, f.Title),
			Type:   firstText(f.Type),
			Object: fieldObject(firstText(f.ContextType, f.Object, f.Entity, f.ObjectType)),
		})
	}
	return out, nil
}

// fieldObject reads a field's object as the service names it (context_type: "user", "users",
// "deal", a class name such as "app\\models\\Deal"; which words the real service uses is not
// known [?]) as "user" or "deal". Orders are deals. Anything else is "" (compared with both).
func fieldObject(s string) string {
	l := strings.ToLower(s)
	switch {
	case strings.Contains(l, "user"), strings.Contains(l, "пользовател"):
		return "user"
	case strings.Contains(l, "deal"), strings.Contains(l, "order"), strings.Contains(l, "заказ"):
		return "deal"
	}
	return ""
}

// listIn returns raw when it is a JSON array, or raw[member] when raw is an object holding an
// array there; nil otherwise.
func listIn(raw json.RawMessage, member string) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '[':
		return raw
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		if v := bytes.TrimSpace(obj[member]); len(v) > 0 && v[0] == '[' {
			return v
		}
	}
	return nil
}
