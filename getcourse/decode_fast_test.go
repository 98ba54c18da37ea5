package getcourse

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"reflect"
	"testing"
)

// decodeSlow is the general path alone, for comparison.
func decodeSlow(body []byte) (*envelope, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	return &env, nil
}

var fastCases = []struct {
	body string
	fast bool // decodeFast takes it (otherwise it must leave it to encoding/json)
}{
	{`{"success":true,"action":"add","result":{"success":true,"user_id":1040001,"user_status":"added","error_message":"","error":false}}`, true},
	{`{"success":"true","action":"add","result":{"success":"true","user_id":"123","user_status":"active","error":"false","error_message":""}}`, true},
	{` { "Success" : 1 , "RESULT" : { "deal_id" : -7.0e0 , "deal_number" : 1001 } } `, true},
	{`{"success":false,"error":true,"error_message":"Файл еще не создан","error_code":909}`, true},
	{`{"success":true,"info":"x","unknown":null,"result":null}`, true},
	{`{"result":{"success":true},"result":"later"}`, true},
	{`{}`, true},
	{`{"success":true,"info":{"export_id":7}}`, false},    // nested beyond result
	{`{"success":true,"result":{"groups":[1,2]}}`, false}, // array
	{`{"success":true,"error_message":"a\"b"}`, false},    // escape
	{`{"ſuccess":false}`, false},                          // non-ASCII name
	{`{"success":true,}`, false},                          // malformed
	{`{"success":01}`, false},                             // malformed number
	{`{"success":tru}`, false},                            // malformed literal
	{`{"success":true} x`, false},                         // trailing text
	{`{"result":{"user_id":{"a":1}}}`, false},             // two levels
	{`{"success":"x"}`, false},                            // a field error: the general path reports it
	{"{\"error_message\":\"a\x01b\"}", false},             // control character
}

func TestDecodeFastAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range fastCases {
		t.Run(tt.body, func(t *testing.T) {
			env, ok := decodeFast([]byte(tt.body))
			if ok != tt.fast {
				t.Fatalf("decodeFast ok = %v, want %v", ok, tt.fast)
			}
			if ok {
				slow, err := decodeSlow([]byte(tt.body))
				if err != nil {
					t.Fatalf("the fast path took an answer encoding/json refuses: %v", err)
				}
				if !reflect.DeepEqual(env, slow) {
					t.Fatalf("fast %+v\nslow %+v", env, slow)
				}
			}
		})
	}
}

// FuzzDecodeFast: whatever the fast path accepts, encoding/json accepts and decodes the same.
func FuzzDecodeFast(f *testing.F) {
	for _, tt := range fastCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, ok := decodeFast(body)
		if !ok {
			return
		}
		slow, err := decodeSlow(body)
		if err != nil {
			t.Fatalf("the fast path took %q, which encoding/json refuses: %v", body, err)
		}
		if !reflect.DeepEqual(env, slow) {
			t.Fatalf("%q: fast %+v, slow %+v", body, env, slow)
		}
	})
}

func TestAppendFormMatchesEncode(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	params := [][]byte{nil, {}, {'{'}, []byte("{}"), []byte(`{"user":{"email":"a@b.cd"}}`)}
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		params = append(params, b)
	}
	forms := []url.Values{
		{"action": {"add"}},
		{},
		{"z": {"a b", "ü&="}, "a": {""}, "key": {"ignored"}, "m": {"-_.~!*'()"}},
	}
	for _, form := range forms {
		for _, p := range params {
			want := url.Values{}
			for k, v := range form {
				want[k] = v
			}
			want.Set("key", "k+y/é")
			if p != nil {
				want.Set("params", base64.StdEncoding.EncodeToString(p))
			}
			if got := string(appendForm(callSpec{form: form, params: p}, "k+y/é")); got != want.Encode() {
				t.Errorf("appendForm = %q, want %q", got, want.Encode())
			}
		}
	}
}
