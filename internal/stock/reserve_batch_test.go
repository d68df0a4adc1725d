package stock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// batchReserver is a backend that decides a batch of one sale's
// reservations in one call: Redis and Memcached.
type batchReserver interface {
	order.Stock
	ReserveBatch(ctx context.Context, saleID int64, rs []order.Reservation, now time.Time) []error
}

// testReserveBatch checks ReserveBatch on fresh backends from open: each
// reservation is decided in order, as Reserve would one after the other,
// and an invalid member is rejected alone.
func testReserveBatch(t *testing.T, open func(tb testing.TB) batchReserver) {
	// want per reservation: no err for success, else the error it must match.
	type want struct {
		err     error
		orderNo string // for already purchased
	}
	tests := []struct {
		name      string
		total     int64
		batch     []order.Reservation
		want      []want
		remaining int64
	}{
		{
			name:  "same user twice, stock runs out mid-batch",
			total: 3,
			batch: []order.Reservation{
				reservation(1, 1, "a"), reservation(1, 2, "b"), reservation(1, 1, "c"),
				reservation(1, 3, "d"), reservation(1, 4, "e"), reservation(1, 4, "f"), reservation(1, 5, "g"),
			},
			want: []want{
				{}, {}, {err: order.ErrAlreadyPurchased, orderNo: "a"},
				{}, {err: order.ErrSoldOut}, {err: order.ErrSoldOut}, {err: order.ErrSoldOut},
			},
		},
		{
			name:      "order number twice",
			total:     3,
			batch:     []order.Reservation{reservation(1, 1, "a"), reservation(1, 2, "a")},
			want:      []want{{}, {err: order.ErrInvalid}},
			remaining: 2,
		},
		{
			name:  "invalid members rejected alone",
			total: 3,
			batch: []order.Reservation{
				reservation(2, 1, "other-sale"), reservation(1, 0, "no-user"), reservation(1, 1, ""), reservation(1, 2, "ok"),
			},
			want:      []want{{err: order.ErrInvalid}, {err: order.ErrInvalid}, {err: order.ErrInvalid}, {}},
			remaining: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			warm(t, s, 1, tt.total)
			errs := s.ReserveBatch(t.Context(), 1, tt.batch, during)
			if len(errs) != len(tt.batch) {
				t.Fatalf("%d errors for %d reservations", len(errs), len(tt.batch))
			}
			for i, w := range tt.want {
				if !errors.Is(errs[i], w.err) || (w.err == nil) != (errs[i] == nil) {
					t.Errorf("reservation %d (%+v): %v, want %v", i, tt.batch[i], errs[i], w.err)
				}
				var ap *order.AlreadyPurchasedError
				isAP := errors.As(errs[i], &ap)
				switch {
				case w.orderNo != "" && !isAP:
					t.Errorf("reservation %d: %v, want already purchased with %s", i, errs[i], w.orderNo)
				case isAP && ap.OrderNo != w.orderNo:
					t.Errorf("reservation %d: already purchased with %q, want %q", i, ap.OrderNo, w.orderNo)
				}
			}
			rem, err := s.Remaining(t.Context(), 1)
			if err != nil || rem != tt.remaining {
				t.Fatalf("Remaining = %d, %v; want %d", rem, err, tt.remaining)
			}
		})
	}
}
