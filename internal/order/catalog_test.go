package order_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/seckill/seckill/internal/order"
)

// TestCreateSaleDiscardsLeftovers: a stock backend that still holds a sale
// id from an earlier database must not lend its reservations to the new
// sale MySQL just created under the same id.
func TestCreateSaleDiscardsLeftovers(t *testing.T) {
	mr := miniredis.RunT(t)
	_, in := newInstances(t, 1, miniConnect(t, mr), "sk")
	uc := in[0].uc
	ctx := context.Background()
	// Leftovers of an old sale 1: two held units and a buyer.
	mr.Set("sk:{s1}:stock", "3")
	mr.HSet("sk:{s1}:resv", "old-1", "R:1", "old-2", "R:2")
	mr.HSet("sk:{s1}:buyers", "1", "old-1", "2", "old-2")
	mr.HSet("sk:{s1}:meta", "starts_at_ms", "0", "ends_at_ms", "9999999999999", "total", "5")

	now := time.Now()
	v, err := uc.Catalog.CreateSale(ctx, order.NewSale{Name: "fresh", TotalStock: 5, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != 1 || v.Remaining != 5 {
		t.Fatalf("new sale %d has %d remaining, want sale 1 with all 5", v.ID, v.Remaining)
	}
	if _, err := uc.Purchases.Place(ctx, 1, 1); err != nil {
		t.Fatalf("user 1 of the old database cannot buy: %v", err)
	}
	rec, err := uc.Catalog.Reconcile(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Consistent || rec.Remaining != 4 || rec.ReservedInFlight+rec.Persisted != 1 {
		t.Fatalf("reconcile after a fresh start: %+v", rec)
	}
}
