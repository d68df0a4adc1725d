package stocktest

import (
	"context"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

// The sales and reservations the suite builds, and calls that fail the
// test when the backend does.

// sale returns a sale in the suite's window.
func sale(id, total int64, persisted ...order.Order) order.StockSale {
	return order.StockSale{ID: id, TotalStock: total, StartsAt: startsAt, EndsAt: endsAt, Persisted: persisted, Rebuild: true}
}

func reservation(saleID, userID int64, orderNo string) order.Reservation {
	return order.Reservation{OrderNo: orderNo, SaleID: saleID, UserID: userID, State: order.Reserved}
}

func warm(tb testing.TB, s order.Stock, saleID, total int64) {
	tb.Helper()
	mustWarm(tb, s, sale(saleID, total))
}

// mustWarm warms s or fails tb.
func mustWarm(tb testing.TB, s order.Stock, sale order.StockSale) {
	tb.Helper()
	if err := s.Warm(context.Background(), sale); err != nil {
		tb.Fatalf("Warm(sale %d): %v", sale.ID, err)
	}
}

// mustReserve reserves a unit inside the suite's sale window or fails tb.
func mustReserve(tb testing.TB, s order.Stock, saleID, userID int64, orderNo string) {
	tb.Helper()
	if err := s.Reserve(context.Background(), reservation(saleID, userID, orderNo), during); err != nil {
		tb.Fatalf("Reserve(sale %d, user %d, %s): %v", saleID, userID, orderNo, err)
	}
}

// mustRemaining returns the remaining units or fails tb.
func mustRemaining(tb testing.TB, s order.Stock, saleID int64) int64 {
	tb.Helper()
	n, err := s.Remaining(context.Background(), saleID)
	if err != nil {
		tb.Fatalf("Remaining(sale %d): %v", saleID, err)
	}
	return n
}

func mustRelease(tb testing.TB, s order.Stock, saleID int64, orderNo string) bool {
	tb.Helper()
	ok, err := s.Release(context.Background(), saleID, orderNo)
	if err != nil {
		tb.Fatalf("Release(sale %d, %s): %v", saleID, orderNo, err)
	}
	return ok
}

func mustSnapshot(tb testing.TB, s order.Stock, saleID int64) order.StockSnapshot {
	tb.Helper()
	snap, err := s.Snapshot(context.Background(), saleID)
	if err != nil {
		tb.Fatalf("Snapshot(sale %d): %v", saleID, err)
	}
	return snap
}
