package getcourse

import (
	"bytes"
	"context"
	"net/http"
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
		form:   actionForm(call.Action),
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
		form: actionForm(CallUsersAdd.Action), params: probeParams, idempotent: true, probe: true})
	if KindOf(err) == KindValidation {
		return nil
	}
	return err
}
