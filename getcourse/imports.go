package getcourse

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Call names one import endpoint and action.
type Call struct{ Path, Action string }

// The import calls gcbatch makes.
var (
	CallUsersAdd     = Call{"/pl/api/users", "add"}
	CallUsersUpdate  = Call{"/pl/api/users", "update"}
	CallDealsAdd     = Call{"/pl/api/deals", "add"}
	CallMessagesSend = Call{"/pl/api/messages", "send"}
)

// CallOptions tune one import call.
type CallOptions struct {
	// Idempotent allows retries after the request may have reached the service. A
	// non-idempotent call (a deal without deal_number, a message) that fails that late is
	// returned with InDoubt set instead of being sent again.
	Idempotent bool
}

// ImportResult is what the service answers about an accepted object. Fields the call does not
// return are zero.
type ImportResult struct {
	UserID      int64
	DealID      int64
	DealNumber  string
	UserStatus  string
	PaymentLink string
}

// Import sends one object. params is the object's JSON text (canonical, from the mapping
// package); it is sent base64-encoded in a POST form with the action and the key. A refused
// object is a KindValidation *APIError; see Kind for the rest.
func (c *Client) Import(ctx context.Context, call Call, params []byte, o CallOptions) (*ImportResult, error) {
	path := call.Path
	if !strings.HasPrefix(path, "/pl/api/") || call.Action == "" {
		return nil, &APIError{Kind: KindInternal, Method: http.MethodPost, Path: path,
			Message: "not an import call: want a /pl/api/... path and an action"}
	}
	// A cheap guard against sending something that is not a JSON object (a full json.Valid
	// on every row cost as much as decoding the answer); the mapping package's output is a
	// JSON object by construction, which its fuzz tests hold it to.
	if p := bytes.TrimSpace(params); len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' {
		return nil, &APIError{Kind: KindInternal, Method: http.MethodPost, Path: path,
			Message: "params are not a JSON object; nothing was sent"}
	}
	r, err := c.do(ctx, callSpec{
		method: http.MethodPost,
		path:   path,
		form:   url.Values{"action": {call.Action}},
		// Sent as standard base64, percent-encoded like every form value (+ / =).
		params:     params,
		idempotent: o.Idempotent,
	})
	if err != nil {
		return nil, err
	}
	res := r.env.Result.resultBody // classify guarantees a result on import paths
	return &ImportResult{
		UserID:      int64(res.UserID),
		DealID:      int64(res.DealID),
		DealNumber:  string(res.DealNumber),
		UserStatus:  string(res.UserStatus),
		PaymentLink: string(res.PaymentLink),
	}, nil
}

// probeParams is a users/add that cannot create anything: a user with neither e-mail nor
// phone. The service answers it «Не указан ни эл. адрес, ни телефон» inside a success envelope
// when the import API is there.
var probeParams = []byte(`{"user":{}}`)

// CheckImportAPI tells whether the account takes import calls, with one call that cannot create
// anything (users/add without e-mail or phone). nil means the import API answered (refusing the
// empty user, as it must); a KindNoImportAPI error means the service answered with empty pages
// (emptyHTMLRepeats of them, so that one glitch is not taken for the plan), which is how a plan
// without the import API answers. Other errors are what they are: a bad key (KindAuth), a
// read-only key (KindForbidden), the network. Import calls run it themselves on an empty page,
// before such a call is retried or left in doubt.
func (c *Client) CheckImportAPI(ctx context.Context) error {
	_, err := c.do(ctx, callSpec{method: http.MethodPost, path: CallUsersAdd.Path,
		form: url.Values{"action": {CallUsersAdd.Action}}, params: probeParams, idempotent: true, probe: true})
	if KindOf(err) == KindValidation {
		return nil
	}
	return err
}

// AddUser creates a user, or with system.refresh_if_exists=1 updates the one with the same
// email or phone. Idempotent: users are matched, so a retry cannot duplicate one.
func (c *Client) AddUser(ctx context.Context, p Params) (*ImportResult, error) {
	return c.importParams(ctx, CallUsersAdd, p, true)
}

// UpdateUserGroups REPLACES a user's groups with p.User.GroupName (p.User.ID names the user);
// groups not listed are removed. Idempotent.
func (c *Client) UpdateUserGroups(ctx context.Context, p Params) (*ImportResult, error) {
	return c.importParams(ctx, CallUsersUpdate, p, true)
}

// AddDeal creates a deal (and its user), or edits the deal with the same deal_number.
// Idempotent only when p.Deal.DealNumber is set: without it every call creates a new deal, so
// an ambiguous failure comes back InDoubt rather than being retried.
func (c *Client) AddDeal(ctx context.Context, p Params) (*ImportResult, error) {
	return c.importParams(ctx, CallDealsAdd, p, p.Deal != nil && p.Deal.DealNumber != "")
}

// SendMessage sends a mailing to one recipient. Never idempotent: an ambiguous failure comes
// back InDoubt, so that nobody receives the same message twice.
func (c *Client) SendMessage(ctx context.Context, p Params) (*ImportResult, error) {
	return c.importParams(ctx, CallMessagesSend, p, false)
}

func (c *Client) importParams(ctx context.Context, call Call, p Params, idempotent bool) (*ImportResult, error) {
	b, err := MarshalParams(p)
	if err != nil {
		return nil, &APIError{Kind: KindInternal, Method: http.MethodPost, Path: call.Path,
			Message: "cannot encode params: " + err.Error()}
	}
	return c.Import(ctx, call, b, CallOptions{Idempotent: idempotent})
}

// MarshalParams encodes params as the service reads them: compact JSON, UTF-8 as is (no \u
// escapes for <, > and &).
func MarshalParams(p Params) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
