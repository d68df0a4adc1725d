package stocktest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

// The contract of Release and Forget.

func testRelease(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	t.Run("once", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 3)
		mustReserve(t, s, 1, 7, "o-7")

		if ok := mustRelease(t, s, 1, "o-7"); !ok {
			t.Fatal("first Release = false, want true")
		}
		if got := mustRemaining(t, s, 1); got != 3 {
			t.Fatalf("remaining after release = %d, want 3", got)
		}
		before := state(t, s, 1)
		if ok := mustRelease(t, s, 1, "o-7"); ok {
			t.Fatal("second Release = true, want false: a unit goes back once")
		}
		assertUnchanged(t, s, 1, before)
		if got := mustRemaining(t, s, 1); got != 3 {
			t.Fatalf("remaining after second release = %d, want 3", got)
		}
		got, err := s.Lookup(t.Context(), []int64{1}, "o-7")
		if err != nil || got.State != order.Cancelled || got.UserID != 7 {
			t.Fatalf("Lookup = %+v, %v; want cancelled for user 7", got, err)
		}
	})
	t.Run("frees the buyer", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 1)
		mustReserve(t, s, 1, 7, "o-a")
		mustRelease(t, s, 1, "o-a")

		mustReserve(t, s, 1, 7, "o-b")
		err := s.Reserve(t.Context(), reservation(1, 7, "o-c"), during)
		assertAlreadyPurchased(t, err, "o-b")
		if ok := mustRelease(t, s, 1, "o-a"); ok {
			t.Fatal("release of the old order = true after the user bought again")
		}
		err = s.Reserve(t.Context(), reservation(1, 7, "o-d"), during)
		assertAlreadyPurchased(t, err, "o-b")
		if got := mustRemaining(t, s, 1); got != 0 {
			t.Fatalf("remaining = %d, want 0", got)
		}
	})
	t.Run("cancelled order number is not reused", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 2)
		mustReserve(t, s, 1, 7, "o-a")
		mustRelease(t, s, 1, "o-a")
		before := state(t, s, 1)
		if err := s.Reserve(t.Context(), reservation(1, 7, "o-a"), during); err == nil {
			t.Fatal("Reserve under a cancelled order number succeeded")
		}
		assertUnchanged(t, s, 1, before)
	})
	t.Run("unknown order", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 2)
		mustReserve(t, s, 1, 7, "o-7")
		before := state(t, s, 1)
		if ok := mustRelease(t, s, 1, "o-unknown"); ok {
			t.Fatal("Release of an unknown order = true")
		}
		assertUnchanged(t, s, 1, before)
	})
	t.Run("never warmed", func(t *testing.T) {
		s := newStock(t)
		before := state(t, s, 1)
		if ok, err := s.Release(t.Context(), 1, "o-unknown"); ok || !errors.Is(err, order.ErrStockNotLoaded) {
			t.Fatalf("Release on a sale never warmed = %v, %v; want ErrStockNotLoaded", ok, err)
		}
		assertUnchanged(t, s, 1, before)
		if _, err := s.Remaining(t.Context(), 1); !errors.Is(err, order.ErrStockNotLoaded) {
			t.Fatalf("Remaining after release on a sale never warmed = %v, want ErrStockNotLoaded", err)
		}
	})
}

func testReleaseConcurrently(t *testing.T, s order.Stock) {
	const tries = 20
	warm(t, s, 1, 3)
	mustReserve(t, s, 1, 7, "o-7")

	gate := make(chan struct{})
	released := make([]bool, tries)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			<-gate
			released[i], errs[i] = s.Release(context.Background(), 1, "o-7")
		})
	}
	close(gate)
	wg.Wait()

	n := 0
	for i := range tries {
		if errs[i] != nil {
			t.Fatalf("Release: %v", errs[i])
		}
		if released[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d concurrent releases returned the unit, want exactly 1", n)
	}
	if got := mustRemaining(t, s, 1); got != 3 {
		t.Fatalf("remaining = %d, want 3", got)
	}
}

func testForget(t *testing.T, s order.Stock) {
	ctx := t.Context()
	warm(t, s, 1, 3)
	warm(t, s, 2, 3)
	mustReserve(t, s, 1, 7, "o-7")
	mustReserve(t, s, 2, 8, "o-8")
	if err := s.Forget(ctx, 1); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	if _, err := s.Remaining(ctx, 1); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("Remaining after Forget: %v, want ErrStockNotLoaded", err)
	}
	if snap := mustSnapshot(t, s, 1); snap.Loaded || len(snap.Reservations) != 0 {
		t.Fatalf("Snapshot after Forget = %+v, want nothing", snap)
	}
	if err := s.Reserve(ctx, reservation(1, 9, "o-9"), during); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("Reserve after Forget: %v, want fail closed", err)
	}
	// The reservation went with the sale and may come back with a
	// rebuild: its unit cannot be counted as returned.
	if ok, err := s.Release(ctx, 1, "o-7"); ok || !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("Release after Forget = %v, %v; want ErrStockNotLoaded", ok, err)
	}
	// Warmed again, the sale starts from nothing; the other sale is untouched.
	warm(t, s, 1, 3)
	mustReserve(t, s, 1, 7, "o-7b")
	if got := mustRemaining(t, s, 1); got != 2 {
		t.Fatalf("remaining after re-warm = %d, want 2", got)
	}
	if got := mustRemaining(t, s, 2); got != 2 {
		t.Fatalf("another sale lost stock: remaining %d, want 2", got)
	}
	if err := s.Forget(ctx, 99); err != nil {
		t.Fatalf("Forget of an unknown sale: %v, want nil", err)
	}
}
