package stocktest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

// The contract of the reads: Lookup and Snapshot.

func testLookup(t *testing.T, s order.Stock) {
	ctx := t.Context()
	warm(t, s, 1, 2)
	warm(t, s, 2, 2)
	mustReserve(t, s, 1, 7, "o-a")
	mustReserve(t, s, 2, 8, "o-b")
	mustRelease(t, s, 2, "o-b")

	tests := []struct {
		name    string
		sales   []int64
		orderNo string
		want    order.Reservation
		err     error
	}{
		{name: "reserved", sales: []int64{1, 2}, orderNo: "o-a", want: order.Reservation{OrderNo: "o-a", SaleID: 1, UserID: 7, State: order.Reserved}},
		{name: "cancelled, second sale", sales: []int64{1, 2}, orderNo: "o-b", want: order.Reservation{OrderNo: "o-b", SaleID: 2, UserID: 8, State: order.Cancelled}},
		{name: "sale not listed", sales: []int64{2, 3}, orderNo: "o-a", err: order.ErrOrderNotFound},
		{name: "unknown order", sales: []int64{1, 2}, orderNo: "o-zzz", err: order.ErrOrderNotFound},
		{name: "no sales", orderNo: "o-a", err: order.ErrOrderNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Lookup(ctx, tt.sales, tt.orderNo)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Lookup = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func testSnapshot(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	t.Run("consistent", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 10)
		for u := int64(1); u <= 6; u++ {
			mustReserve(t, s, 1, u, fmt.Sprintf("o-%d", u))
		}
		mustRelease(t, s, 1, "o-2")
		mustRelease(t, s, 1, "o-5")
		snap := assertConsistent(t, s, 1, 10)
		if snap.Remaining != 6 || len(snap.Reservations) != 6 {
			t.Fatalf("Snapshot remaining %d with %d reservations, want 6 and 6", snap.Remaining, len(snap.Reservations))
		}
		for no, r := range snap.Reservations {
			got, err := s.Lookup(t.Context(), []int64{1}, no)
			if err != nil || got != r {
				t.Fatalf("Lookup(%s) = %+v, %v; Snapshot says %+v", no, got, err, r)
			}
		}
	})
	t.Run("never warmed", func(t *testing.T) {
		s := newStock(t)
		snap := mustSnapshot(t, s, 1)
		if snap.Loaded || len(snap.Reservations) != 0 {
			t.Fatalf("Snapshot of a sale never warmed = %+v, want not loaded and empty", snap)
		}
		if _, err := s.Remaining(t.Context(), 1); !errors.Is(err, order.ErrStockNotLoaded) {
			t.Fatalf("Remaining = %v, want ErrStockNotLoaded", err)
		}
	})
}
