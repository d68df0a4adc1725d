package stocktest

import (
	"errors"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

// testRestock: Restock raises a loaded sale's total and its stock by the
// same amount, only upwards and only once, keeps every reservation, and
// reopens a sold-out sale.
func testRestock(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	t.Run("raises total and remaining", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 3)
		mustReserve(t, s, 1, 1, "o-1")
		rem, raised := mustRestock(t, s, 1, 8)
		if rem != 7 || !raised {
			t.Fatalf("Restock(8) = %d, %v; want 7, raised", rem, raised)
		}
		snap := assertConsistent(t, s, 1, 8)
		if snap.Remaining != 7 || len(snap.Reservations) != 1 || snap.Reservations["o-1"].State != order.Reserved {
			t.Fatalf("Snapshot = %+v, want remaining 7 and o-1 still reserved", snap)
		}
	})
	t.Run("a repeat or a lower total changes nothing", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 3)
		mustReserve(t, s, 1, 1, "o-1")
		mustRestock(t, s, 1, 5)
		before := state(t, s, 1)
		for _, total := range []int64{5, 4, 1, 0} {
			rem, raised := mustRestock(t, s, 1, total)
			if rem != 4 || raised {
				t.Fatalf("Restock(%d) after Restock(5) = %d, %v; want 4, not raised", total, rem, raised)
			}
			assertUnchanged(t, s, 1, before)
		}
	})
	t.Run("reopens a sold-out sale", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 1)
		mustReserve(t, s, 1, 1, "o-1")
		if err := s.Reserve(t.Context(), reservation(1, 2, "o-2"), during); !errors.Is(err, order.ErrSoldOut) {
			t.Fatalf("Reserve on a sold-out sale = %v, want ErrSoldOut", err)
		}
		mustRestock(t, s, 1, 3)
		mustReserve(t, s, 1, 2, "o-2")
		mustReserve(t, s, 1, 3, "o-3")
		if err := s.Reserve(t.Context(), reservation(1, 4, "o-4"), during); !errors.Is(err, order.ErrSoldOut) {
			t.Fatalf("Reserve past the added units = %v, want ErrSoldOut: exactly 2 more", err)
		}
		assertAlreadyPurchased(t, s.Reserve(t.Context(), reservation(1, 1, "o-5"), during), "o-1")
		assertConsistent(t, s, 1, 3)
	})
	t.Run("a warm-up after it keeps the count", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 2)
		mustReserve(t, s, 1, 1, "o-1")
		mustRestock(t, s, 1, 4)
		merge := sale(1, 4)
		merge.Rebuild = false
		mustWarm(t, s, merge)
		if got := mustRemaining(t, s, 1); got != 3 {
			t.Fatalf("remaining after a warm-up at the new total = %d, want 3", got)
		}
	})
	t.Run("not loaded", func(t *testing.T) {
		s := newStock(t)
		before := state(t, s, 9)
		if _, _, err := s.Restock(t.Context(), 9, 5); !errors.Is(err, order.ErrStockNotLoaded) {
			t.Fatalf("Restock of a sale never warmed = %v, want ErrStockNotLoaded", err)
		}
		assertUnchanged(t, s, 9, before)
	})
}

// mustRestock raises the sale's total to total or fails tb.
func mustRestock(tb testing.TB, s order.Stock, saleID, total int64) (int64, bool) {
	tb.Helper()
	rem, raised, err := s.Restock(tb.Context(), saleID, total)
	if err != nil {
		tb.Fatalf("Restock(sale %d, %d): %v", saleID, total, err)
	}
	return rem, raised
}
