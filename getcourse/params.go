package getcourse

import (
	"encoding/json"
	"fmt"
)

// Typed params for the import calls. Field names follow the service's JSON names exactly
// (see getcourse-api.md); the mapping package derives its list of valid target paths from the
// json tags below, so a field added here becomes mappable at once.
//
// Most fields are strings because the service takes strings. Fields that callers send as either
// a number or a string (flags, ids, quantities) are Flex, which keeps whatever JSON type the caller
// chose: a mapping constant {value: 1} must reach the service as 1, and {value: "1"} as "1".

// Flex is a value that keeps its JSON type: a string, a number (int, int64, float64,
// json.Number), a bool, or nil for "not set".
type Flex = any

// Params is one import object: the body that is JSON-encoded, base64-encoded and sent as the
// form field "params". Only the sections the action needs are set.
type Params struct {
	User    *UserParams    `json:"user,omitempty"`
	System  *SystemParams  `json:"system,omitempty"`
	Session *SessionParams `json:"session,omitempty"`
	Deal    *DealParams    `json:"deal,omitempty"`
	Message *MessageParams `json:"message,omitempty"`
}

// UserParams is the "user" section of users/add, deals/add and users/update.
type UserParams struct {
	// ID is used by users/update only (replace a user's groups).
	ID         Flex   `json:"id,omitempty"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	MiddleName string `json:"middle_name,omitempty"`
	City       string `json:"city,omitempty"`
	Country    string `json:"country,omitempty"`
	// Birthday is DD.MM.YYYY.
	Birthday string `json:"birthday,omitempty"`
	// GroupName holds group names, each optionally with a join time
	// (["Группа", "2018-08-01 21:21"]).
	GroupName []Group `json:"group_name,omitempty"`
	// Addfields is keyed by the custom field's exact name; the service silently drops unknown names.
	Addfields map[string]string `json:"addfields,omitempty"`
}

// Group is one entry of user.group_name: a name alone, or a name with a join time.
type Group struct {
	Name     string
	JoinedAt string // "YYYY-MM-DD HH:MM" or "YYYY-MM-DD"; empty for none
}

// SystemParams is the "system" section.
type SystemParams struct {
	RefreshIfExists   Flex   `json:"refresh_if_exists,omitempty"`
	PartnerEmail      string `json:"partner_email,omitempty"`
	MultipleOffers    Flex   `json:"multiple_offers,omitempty"`
	ReturnPaymentLink Flex   `json:"return_payment_link,omitempty"`
	ReturnDealNumber  Flex   `json:"return_deal_number,omitempty"`
}

// SessionParams is the "session" section (traffic attribution).
type SessionParams struct {
	UTMSource   string `json:"utm_source,omitempty"`
	UTMMedium   string `json:"utm_medium,omitempty"`
	UTMContent  string `json:"utm_content,omitempty"`
	UTMCampaign string `json:"utm_campaign,omitempty"`
	UTMGroup    string `json:"utm_group,omitempty"`
	UTMTerm     string `json:"utm_term,omitempty"`
	GCPC        string `json:"gcpc,omitempty"`
	GCAO        string `json:"gcao,omitempty"`
	Referer     string `json:"referer,omitempty"`
}

// DealParams is the "deal" section of deals/add.
type DealParams struct {
	// DealNumber makes the call idempotent: an existing number edits that deal. Without it every
	// call creates a new deal.
	DealNumber         string `json:"deal_number,omitempty"`
	OfferCode          string `json:"offer_code,omitempty"`
	OfferID            Flex   `json:"offer_id,omitempty"`
	ProductTitle       string `json:"product_title,omitempty"`
	ProductDescription string `json:"product_description,omitempty"`
	Quantity           Flex   `json:"quantity,omitempty"`
	// DealCost is a plain decimal string ("9990.00").
	DealCost       string `json:"deal_cost,omitempty"`
	DealStatus     string `json:"deal_status,omitempty"`
	DealIsPaid     Flex   `json:"deal_is_paid,omitempty"`
	ManagerEmail   string `json:"manager_email,omitempty"`
	DealCreatedAt  string `json:"deal_created_at,omitempty"`  // YYYY-MM-DD HH:MM:SS
	DealFinishedAt string `json:"deal_finished_at,omitempty"` // YYYY-MM-DD HH:MM:SS
	DealComment    string `json:"deal_comment,omitempty"`
	PaymentType    string `json:"payment_type,omitempty"`
	PaymentStatus  string `json:"payment_status,omitempty"`
	PartnerEmail   string `json:"partner_email,omitempty"`
	DealCurrency   string `json:"deal_currency,omitempty"`
	FunnelID       Flex   `json:"funnel_id,omitempty"`
	FunnelStageID  Flex   `json:"funnel_stage_id,omitempty"`
	// Addfields is keyed by the deal custom field's exact name.
	Addfields map[string]string `json:"addfields,omitempty"`
}

// MessageParams is the "message" section of messages/send.
type MessageParams struct {
	Email     string `json:"email,omitempty"`
	Transport string `json:"transport,omitempty"` // email | sms | telegram
	MailingID Flex   `json:"mailing_id,omitempty"`
	// Params are the mailing's template variables.
	Params map[string]string `json:"params,omitempty"`
}

// Enumerations the service accepts. Values outside them are answered with a validation error by
// the service, so the mapping package checks them before anything is sent.
var (
	DealStatuses = []string{"new", "payed", "cancelled", "false", "in_work", "payment_waiting",
		"part_payed", "waiting_for_return", "not_confirmed", "pending"}
	PaymentStatuses = []string{"expected", "accepted", "returned", "tobalance", "frombalance",
		"returned_to_balance"}
	PaymentTypes = []string{"2CO", "ALFA", "BILL", "CARD", "CARD_TERMINAL", "CASH", "cloud_payments",
		"cloud_payments_kz", "fondy", "hutki_grosh", "interkassa", "INTERNAL", "justclick", "kvit",
		"OTHER", "payanyway", "PAYPAL", "perfect_money", "PERFECTMONEY", "QIWI", "qiwi_kassa",
		"QUICKTRANSFER", "RBK", "rbkmoney", "rbkmoney_new", "ROBOKASSA", "SBER", "sberbank", "tinkoff",
		"tinkoffcredit", "VIRTUAL", "walletone", "wayforpay", "WEBMONEY", "yandex_kassa", "YANDEXMONEY",
		"ZPAYMENT", "bepaid", "mandarinpay", "platim", "stripe", "ebanx", "swedbank", "prodamus"}
	DealCurrencies = []string{"RUB", "USD", "EUR", "GBP", "BYR", "BYN", "KZT", "UAH", "AUD", "DKK", "CHF",
		"SEK", "ZAR", "AMD", "RON", "BRL", "ILS", "MYR", "SGD", "KGS", "CAD", "MXN", "JPY", "UZS", "PLN",
		"AZN", "AED", "TRY", "INR", "RSD", "CZK", "MNT", "NZD"}
	UserStatuses = []string{"active", "deactivated", "banned", "invited", "in_base"}
	// MessageTransports are the transports of messages/send.
	MessageTransports = []string{"email", "sms", "telegram"}
)

// MarshalJSON writes a group as the service takes it: "Name" alone, or ["Name", "join time"].
func (g Group) MarshalJSON() ([]byte, error) {
	if g.JoinedAt == "" {
		return json.Marshal(g.Name)
	}
	return json.Marshal([2]string{g.Name, g.JoinedAt})
}

// UnmarshalJSON accepts both forms that MarshalJSON writes.
func (g *Group) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*g = Group{Name: name}
		return nil
	}
	var pair []string
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("group_name entry: want a name or [name, time], got %.40s", b)
	}
	if len(pair) == 0 || len(pair) > 2 {
		return fmt.Errorf("group_name entry: want [name] or [name, time], got %d items", len(pair))
	}
	*g = Group{Name: pair[0]}
	if len(pair) == 2 {
		g.JoinedAt = pair[1]
	}
	return nil
}
