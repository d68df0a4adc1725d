package stocktest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

// The contract of Warm: loading, rebuilding and merging a sale.

func testWarm(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	persisted := []order.Order{
		{OrderNo: "p-1", SaleID: 1, UserID: 1, Status: order.StatusCreated},
		{OrderNo: "p-2", SaleID: 1, UserID: 2, Status: order.StatusPaid},
		{OrderNo: "p-3", SaleID: 1, UserID: 3, Status: order.StatusCancelled},
	}

	t.Run("rebuild after loss", func(t *testing.T) {
		s := newStock(t) // an empty backend is one that lost everything
		mustWarm(t, s, sale(1, 5, persisted...))

		if got := mustRemaining(t, s, 1); got != 3 {
			t.Fatalf("remaining = %d, want 5 - 2 persisted", got)
		}
		assertAlreadyPurchased(t, s.Reserve(t.Context(), reservation(1, 1, "o-again"), during), "p-1")
		assertAlreadyPurchased(t, s.Reserve(t.Context(), reservation(1, 2, "o-again"), during), "p-2")
		mustReserve(t, s, 1, 3, "o-3") // the cancelled order does not hold its user
		assertLookup(t, s, "p-1", order.Reserved, 1)
		assertLookup(t, s, "p-3", order.Cancelled, 3)
		assertConsistent(t, s, 1, 5)
	})
	t.Run("twice is idempotent", func(t *testing.T) {
		s := newStock(t)
		mustWarm(t, s, sale(1, 5, persisted...))
		mustReserve(t, s, 1, 9, "o-9")
		before := state(t, s, 1)
		mustWarm(t, s, sale(1, 5, persisted...))
		assertUnchanged(t, s, 1, before)
		if got := mustRemaining(t, s, 1); got != 2 {
			t.Fatalf("remaining = %d, want 2", got)
		}
	})
	t.Run("keeps in-flight reservations", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 10)
		for u := int64(1); u <= 3; u++ {
			mustReserve(t, s, 1, u, fmt.Sprintf("o-%d", u))
		}
		// o-1 reached the store; o-2 and o-3 are still in flight.
		mustWarm(t, s, sale(1, 10, order.Order{OrderNo: "o-1", SaleID: 1, UserID: 1, Status: order.StatusCreated}))

		if got := mustRemaining(t, s, 1); got != 7 {
			t.Fatalf("remaining = %d, want 10 - 3", got)
		}
		assertAlreadyPurchased(t, s.Reserve(t.Context(), reservation(1, 2, "o-new"), during), "o-2")
		assertConsistent(t, s, 1, 10)
	})
	t.Run("store cancellation returns the unit", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 2)
		mustReserve(t, s, 1, 1, "o-1")
		mustWarm(t, s, sale(1, 2, order.Order{OrderNo: "o-1", SaleID: 1, UserID: 1, Status: order.StatusCancelled}))

		if got := mustRemaining(t, s, 1); got != 2 {
			t.Fatalf("remaining = %d, want 2", got)
		}
		assertLookup(t, s, "o-1", order.Cancelled, 1)
		mustReserve(t, s, 1, 1, "o-1b")
	})
	t.Run("never revives a cancellation", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 2)
		mustReserve(t, s, 1, 1, "o-1")
		mustRelease(t, s, 1, "o-1")
		// The store has not seen the cancellation yet.
		mustWarm(t, s, sale(1, 2, order.Order{OrderNo: "o-1", SaleID: 1, UserID: 1, Status: order.StatusCreated}))

		if got := mustRemaining(t, s, 1); got != 2 {
			t.Fatalf("remaining = %d, want 2", got)
		}
		assertLookup(t, s, "o-1", order.Cancelled, 1)
	})
	t.Run("changes the window", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 2)
		mustWarm(t, s, order.StockSale{ID: 1, TotalStock: 2, StartsAt: startsAt, EndsAt: during, Rebuild: true})
		if err := s.Reserve(t.Context(), reservation(1, 1, "o-1"), during); !errors.Is(err, order.ErrEnded) {
			t.Fatalf("Reserve after the window moved = %v, want ErrEnded", err)
		}
	})
	t.Run("large sale", func(t *testing.T) {
		const n = 2500
		s := newStock(t)
		orders := make([]order.Order, n)
		for i := range orders {
			orders[i] = order.Order{OrderNo: fmt.Sprintf("p-%d", i), SaleID: 1, UserID: int64(i + 1), Status: order.StatusCreated}
		}
		mustWarm(t, s, sale(1, n+10, orders...))
		if got := mustRemaining(t, s, 1); got != 10 {
			t.Fatalf("remaining = %d, want 10", got)
		}
		assertAlreadyPurchased(t, s.Reserve(t.Context(), reservation(1, n, "o-again"), during), fmt.Sprintf("p-%d", n-1))
		assertConsistent(t, s, 1, n+10)
	})
}

// testWarmLostSale: a warm-up loads a sale the backend does not hold only
// as a rebuild (every order outside the backend accounted for), and never
// writes a negative stock: more live orders than units keep the sale
// closed.
func testWarmLostSale(t *testing.T, s order.Stock) {
	ctx := t.Context()
	live := []order.Order{
		{OrderNo: "o-1", SaleID: 4, UserID: 1, Status: order.StatusCreated},
		{OrderNo: "o-2", SaleID: 4, UserID: 2, Status: order.StatusCreated},
	}
	merge := sale(4, 3, live...)
	merge.Rebuild = false
	if err := s.Warm(ctx, merge); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("Warm of a sale not loaded without Rebuild = %v, want ErrStockNotLoaded", err)
	}
	if _, err := s.Remaining(ctx, 4); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("after a refused warm-up: %v, want still not loaded", err)
	}
	if err := s.Warm(ctx, sale(4, 1, live...)); !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("rebuild of 2 live orders into 1 unit = %v, want ErrUnavailable", err)
	}
	if _, err := s.Remaining(ctx, 4); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("after an oversold rebuild: %v, want still not loaded", err)
	}
	mustWarm(t, s, sale(4, 3, live...))
	if got := mustRemaining(t, s, 4); got != 1 {
		t.Fatalf("rebuilt remaining = %d, want 3 - 2 = 1", got)
	}
	// Loaded now: a merge needs no Rebuild.
	if err := s.Warm(ctx, merge); err != nil {
		t.Fatalf("merge into a loaded sale: %v", err)
	}
}
