package getcourse

import (
	"bytes"
	"context"
	"encoding/json"
)

// Tests write their objects as typed Params for readability and send them the one way the
// client sends an object: its JSON text through Import. marshalParams writes them as the
// mapping package does: compact, UTF-8 as it is (no \u escapes for <, > and &).
func marshalParams(p Params) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(p)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

func importTyped(ctx context.Context, c *Client, call Call, p Params, idempotent bool) (*ImportResult, error) {
	b, err := marshalParams(p)
	if err != nil {
		return nil, err
	}
	return c.Import(ctx, call, b, CallOptions{Idempotent: idempotent})
}

// addUser creates or (refresh_if_exists) updates a user; idempotent, users are matched.
func addUser(c *Client, ctx context.Context, p Params) (*ImportResult, error) {
	return importTyped(ctx, c, CallUsersAdd, p, true)
}

// updateUserGroups replaces a user's groups; idempotent.
func updateUserGroups(c *Client, ctx context.Context, p Params) (*ImportResult, error) {
	return importTyped(ctx, c, CallUsersUpdate, p, true)
}

// addDeal creates a deal, idempotent only with a deal_number (as mappings.Mapping.Idempotent).
func addDeal(c *Client, ctx context.Context, p Params) (*ImportResult, error) {
	return importTyped(ctx, c, CallDealsAdd, p, p.Deal != nil && p.Deal.DealNumber != "")
}

// sendMessage sends a mailing; never idempotent.
func sendMessage(c *Client, ctx context.Context, p Params) (*ImportResult, error) {
	return importTyped(ctx, c, CallMessagesSend, p, false)
}

// The same helpers for the external tests (package getcourse_test).
var (
	AddUser          = addUser
	UpdateUserGroups = updateUserGroups
	AddDeal          = addDeal
	SendMessage      = sendMessage
)
