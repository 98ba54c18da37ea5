package getcourse

import (
	"testing"
)

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	type want struct {
		bad        bool // the call failed
		code       int
		msg        string
		resOK      bool // result present and not failed
		resMsg     string
		userID     int64
		dealID     int64
		userStatus string
		dealNumber string
	}
	cases := []struct {
		name    string
		body    string
		wantErr bool
		want    want
	}{
		{
			name: "seed strings",
			body: `{"success":"true","action":"add","result":{"success":"true","user_id":"123","user_status":"active","error":"false","error_message":""}}`,
			want: want{resOK: true, userID: 123, userStatus: "active"},
		},
		{
			name: "real booleans and numbers",
			body: `{"success":true,"action":"add","result":{"success":true,"deal_id":121161653,"deal_number":"","user_id":189870964,"user_status":"added","error_message":"","error":false,"payment_link":""}}`,
			want: want{resOK: true, userID: 189870964, dealID: 121161653, userStatus: "added"},
		},
		{
			name: "flags as 1 and \"1\", ids as strings with spaces",
			body: `{"success":1,"result":{"success":"1","user_id":" 42 ","deal_id":"7","error":0,"deal_number":1001}}`,
			want: want{resOK: true, userID: 42, dealID: 7, dealNumber: "1001"},
		},
		{
			name: "two levels: object refused inside a successful call",
			body: `{"success":true,"action":"add","result":{"success":false,"error":true,"error_message":"Не указан ни эл. адрес, ни телефон"}}`,
			want: want{resMsg: "Не указан ни эл. адрес, ни телефон"},
		},
		{
			name: "two levels, seed strings",
			body: `{"success":"true","result":{"success":"false","error":"true","error_message":"Offer not found"}}`,
			want: want{resMsg: "Offer not found"},
		},
		{
			name: "call-level failure with a string error",
			body: `{"success":false,"error":"Неавторизованное API-обращение"}`,
			want: want{bad: true, msg: "Неавторизованное API-обращение"},
		},
		{
			name: "export envelope failure",
			body: `{"success":false,"error":true,"error_message":"Файл еще не создан","error_code":909}`,
			want: want{bad: true, code: 909, msg: "Файл еще не создан"},
		},
		{
			name: "export envelope with string code",
			body: `{"success":"false","error":"true","error_message":"Уже запущен один экспорт, попробуйте позднее","error_code":"905"}`,
			want: want{bad: true, code: 905, msg: "Уже запущен один экспорт, попробуйте позднее"},
		},
		{
			name: "seed error shape",
			body: `{"success": "false", "error": "true", "error_message": "Invalid API key"}`,
			want: want{bad: true, msg: "Invalid API key"},
		},
		{
			name: "float id from PHP",
			body: `{"success":true,"result":{"success":true,"user_id":123.0}}`,
			want: want{resOK: true, userID: 123},
		},
		{
			name: "null members",
			body: `{"success":true,"error":null,"error_code":null,"result":{"success":true,"user_id":null,"error_message":null}}`,
			want: want{resOK: true},
		},
		{
			name: "result that is not an object is ignored",
			body: `{"success":true,"result":"ok"}`,
			want: want{},
		},
		{name: "not JSON", body: `<html><body>Bad gateway</body></html>`, wantErr: true},
		{name: "empty", body: ``, wantErr: true},
		{name: "array", body: `[1,2]`, wantErr: true},
		{name: "truncated", body: `{"success":true,"result":{"user_id":1`, wantErr: true},
		{name: "unknown flag word", body: `{"success":"maybe"}`, wantErr: true},
		{name: "fractional id", body: `{"success":true,"result":{"user_id":1.5}}`, wantErr: true},
		{name: "boolean id", body: `{"success":true,"result":{"user_id":true}}`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, err := decodeResponse([]byte(tc.body))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("decodeResponse(%q) = nil error, want one", tc.body)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeResponse: %v", err)
			}
			bad, code, msg := env.failed()
			if bad != tc.want.bad || code != tc.want.code || msg != tc.want.msg {
				t.Errorf("failed() = %v, %d, %q; want %v, %d, %q", bad, code, msg, tc.want.bad, tc.want.code, tc.want.msg)
			}
			if tc.want.bad {
				return
			}
			r := env.Result.resultBody
			if tc.want.resOK || tc.want.resMsg != "" {
				if r == nil {
					t.Fatal("Result = nil")
				}
				rbad, rmsg := r.failed()
				if rbad == tc.want.resOK || rmsg != tc.want.resMsg {
					t.Errorf("result failed() = %v, %q; want %v, %q", rbad, rmsg, !tc.want.resOK, tc.want.resMsg)
				}
				if int64(r.UserID) != tc.want.userID || int64(r.DealID) != tc.want.dealID ||
					string(r.UserStatus) != tc.want.userStatus || string(r.DealNumber) != tc.want.dealNumber {
					t.Errorf("result = %+v, want user %d deal %d status %q number %q", r, tc.want.userID, tc.want.dealID, tc.want.userStatus, tc.want.dealNumber)
				}
			} else if r != nil {
				t.Errorf("Result = %+v, want nil", r)
			}
		})
	}
}
