package httpapi

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

func TestDecodeStrict(t *testing.T) {
	type in struct {
		UserID int64 `json:"user_id"`
	}
	tests := []struct {
		name       string
		body       string
		allowEmpty bool
		want       error
	}{
		{"empty allowed", "", true, nil},
		{"empty not allowed", "", false, order.ErrInvalid},
		{"object", `{"user_id":1}`, false, nil},
		{"whitespace after", "{\"user_id\":1}\n ", false, nil},
		{"unknown field", `{"user":1}`, false, order.ErrInvalid},
		{"trailing object", `{"user_id":1}{}`, false, order.ErrInvalid},
		{"trailing garbage", `{"user_id":1}x`, false, order.ErrInvalid},
		{"not an object", `[1]`, false, order.ErrInvalid},
		{"too large", `{"user_id":1` + strings.Repeat(" ", 100) + `}`, false, errPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var v in
			err := decodeStrict(r, 64, &v, tt.allowEmpty)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("decodeStrict(%q) = %v, want %v", tt.body, err, tt.want)
			}
		})
	}
}
