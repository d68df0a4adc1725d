package stock

import (
	"errors"
	"testing"

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
