package stock

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/order"
)

func TestStatusErr(t *testing.T) {
	tests := []struct {
		status, detail string
		want           error
	}{
		{statusOK, "", nil},
		{statusNotLoaded, "", order.ErrStockNotLoaded},
		{statusNotStarted, "", order.ErrNotStarted},
		{statusEnded, "", order.ErrEnded},
		{statusSoldOut, "", order.ErrSoldOut},
		{statusDup, "o-1", order.ErrAlreadyPurchased},
		{statusOrderUsed, "o-1", order.ErrInvalid},
		{statusConflict, "o-1", order.ErrInvalid},
		{"SOMETHING_NEW", "", order.ErrUnavailable},
		{"", "", order.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			err := statusErr(tt.status, tt.detail)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("statusErr(%q) = %v, want %v", tt.status, err, tt.want)
			}
		})
	}
	var ap *order.AlreadyPurchasedError
	if err := statusErr(statusDup, "o-7"); !errors.As(err, &ap) || ap.OrderNo != "o-7" {
		t.Fatalf("statusErr(DUP) = %v, want *AlreadyPurchasedError for o-7", err)
	}
}

func TestParseReservation(t *testing.T) {
	tests := []struct {
		value string
		want  order.Reservation
		ok    bool
	}{
		{"R:7", order.Reservation{OrderNo: "o", SaleID: 3, UserID: 7, State: order.Reserved}, true},
		{"C:7", order.Reservation{OrderNo: "o", SaleID: 3, UserID: 7, State: order.Cancelled}, true},
		{"X:7", order.Reservation{}, false},
		{"R:", order.Reservation{}, false},
		{"R:0", order.Reservation{}, false},
		{"R7", order.Reservation{}, false},
		{"", order.Reservation{}, false},
	}
	for _, tt := range tests {
		got, err := parseReservation(3, "o", tt.value)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseReservation(%q) = %+v, %v; want %+v, ok=%v", tt.value, got, err, tt.want, tt.ok)
		}
	}
}

// TestReserveReply: the short reply of a call whose every reservation is
// OK reads as n OK pairs; anything that does not fit the call is an error,
// so the reservations are resolved, never taken as decided.
func TestReserveReply(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		val   any
		err   error
		n     int
		want  []string
		fails bool
	}{
		{name: "all OK", val: int64(2), n: 2, want: []string{statusOK, "", statusOK, ""}},
		{name: "pairs", val: []any{statusOK, "", statusDup, "o-1"}, n: 2, want: []string{statusOK, "", statusDup, "o-1"}},
		{name: "count of another call", val: int64(3), n: 2, fails: true},
		{name: "pairs of another call", val: []any{statusOK, ""}, n: 2, fails: true},
		{name: "not a string", val: []any{statusOK, int64(1)}, n: 1, fails: true},
		{name: "a string", val: statusOK, n: 1, fails: true},
		{name: "error", err: boom, n: 1, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := redis.NewCmd(context.Background())
			cmd.SetVal(tt.val)
			cmd.SetErr(tt.err)
			got, err := reserveReply(cmd, tt.n)
			if (err != nil) != tt.fails || !slices.Equal(got, tt.want) {
				t.Fatalf("reserveReply = %q, %v; want %q, fails %v", got, err, tt.want, tt.fails)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}
