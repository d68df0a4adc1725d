package load

import (
	"strings"
	"testing"
)

func TestReadCode(t *testing.T) {
	long := `{"error":{"code":"invalid_request","message":"` + strings.Repeat("x", 2000) + `"}}`
	for _, tc := range []struct{ body, want string }{
		{`{"error":{"code":"sold_out","message":"the sale is sold out"}}`, "sold_out"},
		{`{"error":{"code":"rate_limited","message":"slow down"}}`, "rate_limited"},
		{`{"error":{"code":"already_purchased","message":"one per user","order_no":"0190"}}`, "already_purchased"},
		{`{"error": {"code": "sold_out"}}`, "sold_out"},
		{`{"error":{"code":"sold_outX","message":""}}`, "sold_outX"},
		{long, "invalid_request"},
		{`not json`, ""},
		{``, ""},
	} {
		got, err := readCode(strings.NewReader(tc.body))
		if err != nil || got != tc.want {
			t.Errorf("readCode(%.40q) = %q, %v; want %q", tc.body, got, err, tc.want)
		}
	}
}
