package order

import (
	"context"
	"fmt"
	"time"
)

// reservationFinder finds an order among the reservations of the sales
// that may still have some in flight: an order the worker has not
// written yet. An order read (Purchases) and a payment (Payments) fall
// back on it when MySQL does not hold the order.
type reservationFinder struct {
	sales openSales
	stock interface {
		Lookup(ctx context.Context, saleIDs []int64, orderNo string) (Reservation, error)
	}
	now func() time.Time
}

// openSales lists the sales that may still hold reservations in flight
// (Repository.OpenSales).
type openSales interface {
	OpenSales(ctx context.Context, since time.Time) ([]Sale, error)
}

// reservation finds orderNo's reservation; ErrOrderNotFound when no open
// sale holds it.
func (f *reservationFinder) reservation(ctx context.Context, orderNo string) (Reservation, error) {
	sales, err := f.sales.OpenSales(ctx, f.now().Add(-24*time.Hour))
	if err != nil {
		return Reservation{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ids := make([]int64, len(sales))
	for i, sale := range sales {
		ids[i] = sale.ID
	}
	return f.stock.Lookup(ctx, ids, orderNo)
}
