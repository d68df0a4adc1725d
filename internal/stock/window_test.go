package stock_test

import (
	"context"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// The sale window the tests of both backends use, far from the wall clock.
var (
	startsAt = time.Date(2031, 3, 14, 10, 0, 0, 0, time.UTC)
	endsAt   = startsAt.Add(time.Hour)
	during   = startsAt.Add(time.Minute)
)

func reservation(saleID, userID int64, orderNo string) order.Reservation {
	return order.Reservation{OrderNo: orderNo, SaleID: saleID, UserID: userID, State: order.Reserved}
}

// sale is a sale in the test window, loaded as a rebuild.
func sale(id, total int64, persisted ...order.Order) order.StockSale {
	return order.StockSale{ID: id, TotalStock: total, StartsAt: startsAt, EndsAt: endsAt, Persisted: persisted, Rebuild: true}
}

// warm loads sale saleID with total units and no orders.
func warm(tb testing.TB, s order.Stock, saleID, total int64) {
	tb.Helper()
	if err := s.Warm(context.Background(), sale(saleID, total)); err != nil {
		tb.Fatalf("Warm: %v", err)
	}
}
