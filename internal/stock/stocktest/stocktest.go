// Package stocktest is the contract of order.Stock as a test suite. Every
// stock backend runs the same suite against a fresh, empty instance per
// subtest:
//
//	func TestContract(t *testing.T) {
//		stocktest.Run(t, func(tb testing.TB) order.Stock { return newBackend(tb) })
//	}
//
// A backend that also implements Inspector lets the suite check that every
// rejection leaves all of the sale's raw keys untouched; without it the
// suite compares what the order.Stock methods can see.
//
// It imports the domain (order) only; the stock backends' tests import it.
package stocktest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

// Inspector is an optional interface of a backend under test: Dump returns
// every raw key and value the backend holds for a sale, in any naming, and
// an empty map for a sale it holds nothing of.
type Inspector interface {
	Dump(ctx context.Context, saleID int64) (map[string]string, error)
}

// The sale window every subtest uses, far from the wall clock so that no
// backend can pass by reading its own clock instead of now.
var (
	startsAt = time.Date(2031, 3, 14, 10, 0, 0, 0, time.UTC)
	endsAt   = startsAt.Add(time.Hour)
	during   = startsAt.Add(time.Minute)
)

// Run runs the contract suite. newStock returns an empty backend, isolated
// from every other one it returned, and registers its own cleanup on tb.
func Run(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	t.Run("ReserveSuccess", func(t *testing.T) { testReserveSuccess(t, newStock(t)) })
	t.Run("ReserveAtWindowStart", func(t *testing.T) { testReserveAtWindowStart(t, newStock(t)) })
	t.Run("AlreadyPurchased", func(t *testing.T) { testAlreadyPurchased(t, newStock(t)) })
	t.Run("Rejections", func(t *testing.T) { testRejections(t, newStock) })
	t.Run("StartGate", func(t *testing.T) { testStartGate(t, newStock(t)) })
	t.Run("SameUserConcurrently", func(t *testing.T) { testSameUserConcurrently(t, newStock(t)) })
	t.Run("Release", func(t *testing.T) { testRelease(t, newStock) })
	t.Run("ReleaseConcurrently", func(t *testing.T) { testReleaseConcurrently(t, newStock(t)) })
	t.Run("Warm", func(t *testing.T) { testWarm(t, newStock) })
	t.Run("Lookup", func(t *testing.T) { testLookup(t, newStock(t)) })
	t.Run("Snapshot", func(t *testing.T) { testSnapshot(t, newStock) })
	t.Run("Forget", func(t *testing.T) { testForget(t, newStock(t)) })
	t.Run("InFlightIndex", func(t *testing.T) { testInFlightIndex(t, newStock) })
	t.Run("WarmLostSale", func(t *testing.T) { testWarmLostSale(t, newStock(t)) })
	t.Run("Restock", func(t *testing.T) { testRestock(t, newStock) })
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

func testReserveSuccess(t *testing.T, s order.Stock) {
	ctx := t.Context()
	warm(t, s, 1, 3)
	mustReserve(t, s, 1, 7, "o-7")

	if got := mustRemaining(t, s, 1); got != 2 {
		t.Fatalf("remaining after one reservation = %d, want 2", got)
	}
	want := order.Reservation{OrderNo: "o-7", SaleID: 1, UserID: 7, State: order.Reserved}
	got, err := s.Lookup(ctx, []int64{1}, "o-7")
	if err != nil || got != want {
		t.Fatalf("Lookup = %+v, %v; want %+v", got, err, want)
	}
	snap := mustSnapshot(t, s, 1)
	if !snap.Loaded || snap.Remaining != 2 || len(snap.Reservations) != 1 || snap.Reservations["o-7"] != want {
		t.Fatalf("Snapshot = %+v, want loaded, remaining 2, only %+v", snap, want)
	}
}

func testReserveAtWindowStart(t *testing.T, s order.Stock) {
	warm(t, s, 1, 3)
	if err := s.Reserve(t.Context(), reservation(1, 1, "o-1"), startsAt); err != nil {
		t.Fatalf("Reserve at exactly starts_at: %v, want success (the window is [starts, ends))", err)
	}
	if err := s.Reserve(t.Context(), reservation(1, 2, "o-2"), endsAt.Add(-time.Millisecond)); err != nil {
		t.Fatalf("Reserve 1ms before ends_at: %v, want success", err)
	}
}

func testAlreadyPurchased(t *testing.T, s order.Stock) {
	warm(t, s, 1, 5)
	mustReserve(t, s, 1, 7, "o-first")
	before := state(t, s, 1)

	err := s.Reserve(t.Context(), reservation(1, 7, "o-second"), during)
	assertAlreadyPurchased(t, err, "o-first")
	assertUnchanged(t, s, 1, before)
	if got := mustRemaining(t, s, 1); got != 4 {
		t.Fatalf("remaining = %d, want 4: only the first reservation takes a unit", got)
	}
}

func testRejections(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	tests := []struct {
		name   string
		warmed bool
		total  int64
		taken  []int64 // users holding a unit before the attempt
		user   int64
		now    time.Time
		want   error
	}{
		{name: "sold out", warmed: true, total: 2, taken: []int64{1, 2}, user: 3, now: during, want: order.ErrSoldOut},
		{name: "zero stock", warmed: true, total: 0, user: 3, now: during, want: order.ErrSoldOut},
		{name: "not started", warmed: true, total: 2, user: 3, now: startsAt.Add(-time.Millisecond), want: order.ErrNotStarted},
		{name: "ended at ends_at", warmed: true, total: 2, user: 3, now: endsAt, want: order.ErrEnded},
		{name: "ended after", warmed: true, total: 2, user: 3, now: endsAt.Add(time.Hour), want: order.ErrEnded},
		{name: "never warmed", user: 3, now: during, want: order.ErrStockNotLoaded},
		{name: "buyer of a sold-out sale", warmed: true, total: 2, taken: []int64{1, 2}, user: 2, now: during, want: order.ErrAlreadyPurchased},
		{name: "buyer after the end", warmed: true, total: 2, taken: []int64{2}, user: 2, now: endsAt, want: order.ErrEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStock(t)
			if tt.warmed {
				warm(t, s, 1, tt.total)
			}
			for _, u := range tt.taken {
				mustReserve(t, s, 1, u, fmt.Sprintf("o-%d", u))
			}
			before := state(t, s, 1)

			err := s.Reserve(t.Context(), reservation(1, tt.user, "o-new"), tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Reserve = %v, want %v", err, tt.want)
			}
			assertUnchanged(t, s, 1, before)
			if _, err := s.Lookup(t.Context(), []int64{1}, "o-new"); !errors.Is(err, order.ErrOrderNotFound) {
				t.Fatalf("Lookup of the rejected order = %v, want ErrOrderNotFound", err)
			}
		})
	}
}

// testStartGate releases 500 buyers at once on 10 units.
func testStartGate(t *testing.T, s order.Stock) {
	const total, buyers = 10, 500
	warm(t, s, 1, total)

	gate := make(chan struct{})
	errs := make([]error, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			<-gate
			errs[i] = s.Reserve(context.Background(), reservation(1, int64(i+1), fmt.Sprintf("o-%d", i+1)), during)
		})
	}
	close(gate)
	wg.Wait()

	winners := map[int64]bool{}
	soldOut := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners[int64(i+1)] = true
		case errors.Is(err, order.ErrSoldOut):
			soldOut++
		default:
			t.Errorf("buyer %d: unexpected error %v", i+1, err)
		}
	}
	if len(winners) != total || soldOut != buyers-total {
		t.Fatalf("%d distinct winners and %d sold out, want %d and %d", len(winners), soldOut, total, buyers-total)
	}
	if got := mustRemaining(t, s, 1); got != 0 {
		t.Fatalf("remaining = %d, want 0", got)
	}
	snap := mustSnapshot(t, s, 1)
	held := map[int64]bool{}
	for _, r := range snap.Reservations {
		if r.State == order.Reserved {
			held[r.UserID] = true
		}
	}
	if !maps.Equal(held, winners) {
		t.Fatalf("reserved users %v, want the winners %v", held, winners)
	}
}

// testSameUserConcurrently sends one user's requests at once: one wins, the
// others learn the winner's order number.
func testSameUserConcurrently(t *testing.T, s order.Stock) {
	const tries = 50
	warm(t, s, 1, 5)

	gate := make(chan struct{})
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			<-gate
			errs[i] = s.Reserve(context.Background(), reservation(1, 42, fmt.Sprintf("o-%d", i)), during)
		})
	}
	close(gate)
	wg.Wait()

	winner := ""
	for i, err := range errs {
		if err == nil {
			if winner != "" {
				t.Fatalf("both %s and o-%d reserved for the same user", winner, i)
			}
			winner = fmt.Sprintf("o-%d", i)
		}
	}
	if winner == "" {
		t.Fatal("no request of the user won")
	}
	for _, err := range errs {
		if err != nil {
			assertAlreadyPurchased(t, err, winner)
		}
	}
	if got := mustRemaining(t, s, 1); got != 4 {
		t.Fatalf("remaining = %d, want 4", got)
	}
}

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
		if ok := mustRelease(t, s, 1, "o-unknown"); ok {
			t.Fatal("Release on a sale never warmed = true")
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

// testInFlightIndex checks Due, Postpone and Settle. Every reservation is
// made at the time its UUIDv7 order number carries, as the service does.
func testInFlightIndex(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	t0 := during
	far := endsAt.Add(time.Hour) // a before past every reservation of the suite

	t.Run("due once its time has passed", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 5)
		warm(t, s, 2, 5)
		a := reserveAt(t, s, 1, 7, t0)
		b := reserveAt(t, s, 2, 8, t0)

		before := state(t, s, 1)
		assertDue(t, s, 1, t0.Add(-time.Hour), 10)
		assertDue(t, s, 1, t0, 10) // due strictly before before
		assertDue(t, s, 1, t0.Add(time.Millisecond), 10, a)
		assertDue(t, s, 2, far, 10, b)
		assertUnchanged(t, s, 1, before) // Due only reads
		assertDue(t, s, 3, far, 10)      // a sale never warmed
	})
	t.Run("reserved only, oldest first, up to limit", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 10)
		a := reserveAt(t, s, 1, 1, t0.Add(3*time.Second))
		b := reserveAt(t, s, 1, 2, t0.Add(time.Second))
		c := reserveAt(t, s, 1, 3, t0.Add(2*time.Second))
		d := reserveAt(t, s, 1, 4, t0)
		mustRelease(t, s, 1, d)

		assertDue(t, s, 1, far, 10, b, c, a)
		assertDue(t, s, 1, far, 2, b, c)
		assertDue(t, s, 1, t0.Add(2*time.Second), 10, b)
	})
	t.Run("postpone hides it until at", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 5)
		a := reserveAt(t, s, 1, 1, t0)
		b := reserveAt(t, s, 1, 2, t0.Add(time.Second))
		at := t0.Add(time.Minute)
		mustPostpone(t, s, 1, at, a)

		assertDue(t, s, 1, t0.Add(10*time.Second), 10, b)
		assertDue(t, s, 1, at, 10, b)
		// Ordered by the next check; ReservedAt stays the reservation time.
		assertDue(t, s, 1, at.Add(time.Millisecond), 10, b, a)

		later := t0.Add(2 * time.Minute)
		mustPostpone(t, s, 1, later, a, b)
		assertDue(t, s, 1, at.Add(time.Millisecond), 10)
		assertDue(t, s, 1, later.Add(time.Millisecond), 10, a, b)
	})
	t.Run("settle drops it and keeps the unit", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 5)
		a := reserveAt(t, s, 1, 1, t0)
		b := reserveAt(t, s, 1, 2, t0.Add(time.Second))
		mustSettle(t, s, 1, a)

		assertDue(t, s, 1, far, 10, b)
		if got := mustRemaining(t, s, 1); got != 3 {
			t.Fatalf("remaining after settle = %d, want 3: a settled reservation keeps its unit", got)
		}
		assertLookup(t, s, a, order.Reserved, 1)
		if snap := assertConsistent(t, s, 1, 5); snap.Reservations[a].State != order.Reserved {
			t.Fatalf("Snapshot holds %s as %+v, want RESERVED", a, snap.Reservations[a])
		}
		assertAlreadyPurchased(t, s.Reserve(t.Context(), reservation(1, 1, orderNoAt(t, t0)), t0), a)

		before := state(t, s, 1)
		mustSettle(t, s, 1, a) // idempotent: writes nothing
		assertUnchanged(t, s, 1, before)

		mustPostpone(t, s, 1, t0, a) // a settled reservation stays out
		assertDue(t, s, 1, far, 10, b)
		if ok := mustRelease(t, s, 1, a); !ok {
			t.Fatal("Release of a settled reservation = false, want true")
		}
		if got := mustRemaining(t, s, 1); got != 4 {
			t.Fatalf("remaining after releasing the settled reservation = %d, want 4", got)
		}
		assertDue(t, s, 1, far, 10, b)
	})
	t.Run("release drops it", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 5)
		a := reserveAt(t, s, 1, 1, t0)
		b := reserveAt(t, s, 1, 2, t0.Add(time.Second))
		mustPostpone(t, s, 1, t0.Add(time.Minute), b)
		mustRelease(t, s, 1, a)
		mustRelease(t, s, 1, b)

		assertDue(t, s, 1, far, 10)
		mustPostpone(t, s, 1, t0, a, b)
		assertDue(t, s, 1, far, 10)
	})
	t.Run("forget drops it", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 5)
		a := reserveAt(t, s, 1, 1, t0)
		mustPostpone(t, s, 1, t0.Add(time.Minute), a)
		if err := s.Forget(t.Context(), 1); err != nil {
			t.Fatalf("Forget: %v", err)
		}
		assertDue(t, s, 1, far, 10)
		warm(t, s, 1, 5)
		assertDue(t, s, 1, far, 10)
		b := reserveAt(t, s, 1, 1, t0.Add(time.Second))
		assertDue(t, s, 1, far, 10, b)
	})
	t.Run("warm", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 10)
		inFlight := reserveAt(t, s, 1, 1, t0)
		stored := reserveAt(t, s, 1, 2, t0.Add(time.Second)) // reached MySQL
		// Settled, yet not among the persisted orders (persisted after
		// MySQL was read): it stays settled.
		settled := reserveAt(t, s, 1, 3, t0.Add(2*time.Second))
		mustSettle(t, s, 1, settled)
		postponed := reserveAt(t, s, 1, 4, t0.Add(3*time.Second))
		at := t0.Add(time.Minute)
		mustPostpone(t, s, 1, at, postponed)
		persisted := []order.Order{
			{OrderNo: stored, SaleID: 1, UserID: 2, Status: order.StatusCreated},
			{OrderNo: orderNoAt(t, t0.Add(4*time.Second)), SaleID: 1, UserID: 5, Status: order.StatusCreated},
			{OrderNo: orderNoAt(t, t0.Add(5*time.Second)), SaleID: 1, UserID: 6, Status: order.StatusPaid},
			{OrderNo: orderNoAt(t, t0.Add(6*time.Second)), SaleID: 1, UserID: 7, Status: order.StatusCancelled},
		}
		mustWarm(t, s, sale(1, 10, persisted...))

		if got := mustRemaining(t, s, 1); got != 4 {
			t.Fatalf("remaining = %d, want 10 - 6 reserved", got)
		}
		assertConsistent(t, s, 1, 10)
		assertDue(t, s, 1, t0.Add(30*time.Second), 10, inFlight)
		assertDue(t, s, 1, at.Add(time.Millisecond), 10, inFlight, postponed)

		rebuilt := newStock(t) // lost everything: only the persisted orders
		mustWarm(t, rebuilt, sale(1, 10, persisted...))
		assertDue(t, rebuilt, 1, far, 10)
	})
	t.Run("unknown orders are no-ops", func(t *testing.T) {
		s := newStock(t)
		ctx := t.Context()
		unknown := orderNoAt(t, t0.Add(time.Second))
		nos := []string{unknown, "o-unknown"}

		empty := state(t, s, 1)
		mustSettle(t, s, 1, nos...)
		mustPostpone(t, s, 1, far, nos...)
		assertUnchanged(t, s, 1, empty)

		warm(t, s, 1, 5)
		a := reserveAt(t, s, 1, 1, t0)
		before := state(t, s, 1)
		mustSettle(t, s, 1, nos...)
		mustPostpone(t, s, 1, far, nos...)
		mustSettle(t, s, 1)
		mustPostpone(t, s, 1, far)
		assertUnchanged(t, s, 1, before)

		// The postponement of an order number not yet known left nothing.
		if err := s.Reserve(ctx, reservation(1, 2, unknown), t0.Add(time.Second)); err != nil {
			t.Fatalf("Reserve(%s): %v", unknown, err)
		}
		assertDue(t, s, 1, t0.Add(time.Second+time.Millisecond), 10, a, unknown)
	})
	t.Run("rejections add nothing", func(t *testing.T) {
		s := newStock(t)
		ctx := t.Context()
		warm(t, s, 1, 1)
		a := reserveAt(t, s, 1, 1, t0)
		before := state(t, s, 1)

		at := t0.Add(time.Second)
		assertAlreadyPurchased(t, s.Reserve(ctx, reservation(1, 1, orderNoAt(t, at)), at), a)
		if err := s.Reserve(ctx, reservation(1, 2, orderNoAt(t, at)), at); !errors.Is(err, order.ErrSoldOut) {
			t.Fatalf("Reserve on a sold-out sale = %v, want ErrSoldOut", err)
		}
		early := startsAt.Add(-time.Millisecond)
		if err := s.Reserve(ctx, reservation(1, 3, orderNoAt(t, early)), early); !errors.Is(err, order.ErrNotStarted) {
			t.Fatalf("Reserve before the start = %v, want ErrNotStarted", err)
		}
		assertUnchanged(t, s, 1, before)
		assertDue(t, s, 1, far, 10, a)
	})
}

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

// orderNoAt returns a new UUIDv7 order number that carries the time t, to
// the millisecond, as order.NewOrderNo would have made it at t.
func orderNoAt(tb testing.TB, t time.Time) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatalf("uuid: %v", err)
	}
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id.String()
}

// reserveAt reserves a unit at t under a new order number made at t, and
// returns the order number, or fails tb.
func reserveAt(tb testing.TB, s order.Stock, saleID, userID int64, t time.Time) string {
	tb.Helper()
	no := orderNoAt(tb, t)
	if err := s.Reserve(context.Background(), reservation(saleID, userID, no), t); err != nil {
		tb.Fatalf("Reserve(sale %d, user %d, %s at %s): %v", saleID, userID, no, t, err)
	}
	return no
}

func mustPostpone(tb testing.TB, s order.Stock, saleID int64, at time.Time, orderNos ...string) {
	tb.Helper()
	if err := s.Postpone(context.Background(), saleID, orderNos, at); err != nil {
		tb.Fatalf("Postpone(sale %d, %v, %s): %v", saleID, orderNos, at, err)
	}
}

func mustSettle(tb testing.TB, s order.Stock, saleID int64, orderNos ...string) {
	tb.Helper()
	if err := s.Settle(context.Background(), saleID, orderNos); err != nil {
		tb.Fatalf("Settle(sale %d, %v): %v", saleID, orderNos, err)
	}
}

// assertDue checks that Due lists exactly want, in that order, each one
// RESERVED as Lookup sees it and with its order number's time as
// ReservedAt.
func assertDue(tb testing.TB, s order.Stock, saleID int64, before time.Time, limit int, want ...string) {
	tb.Helper()
	got, err := s.Due(context.Background(), saleID, before, limit)
	if err != nil {
		tb.Fatalf("Due(sale %d, before %s, limit %d): %v", saleID, before, limit, err)
	}
	nos := make([]string, len(got))
	for i, r := range got {
		nos[i] = r.OrderNo
	}
	if fmt.Sprint(nos) != fmt.Sprint(want) {
		tb.Fatalf("Due(sale %d, before %s, limit %d) = %v, want %v", saleID, before, limit, nos, want)
	}
	for _, r := range got {
		if !r.ReservedAt.Equal(order.OrderTime(r.OrderNo)) {
			tb.Fatalf("Due lists %s reserved at %s, want %s", r.OrderNo, r.ReservedAt, order.OrderTime(r.OrderNo))
		}
		held, err := s.Lookup(context.Background(), []int64{saleID}, r.OrderNo)
		r.ReservedAt = time.Time{}
		if err != nil || held != r || r.State != order.Reserved {
			tb.Fatalf("Due lists %+v, Lookup says %+v, %v; want the same RESERVED reservation", r, held, err)
		}
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

func assertAlreadyPurchased(tb testing.TB, err error, orderNo string) {
	tb.Helper()
	var ap *order.AlreadyPurchasedError
	if !errors.As(err, &ap) || !errors.Is(err, order.ErrAlreadyPurchased) {
		tb.Fatalf("error = %v, want *order.AlreadyPurchasedError", err)
	}
	if ap.OrderNo != orderNo {
		tb.Fatalf("already purchased with order %q, want %q", ap.OrderNo, orderNo)
	}
}

func assertLookup(tb testing.TB, s order.Stock, orderNo string, st order.ReservationState, userID int64) {
	tb.Helper()
	r, err := s.Lookup(context.Background(), []int64{1}, orderNo)
	if err != nil || r.State != st || r.UserID != userID {
		tb.Fatalf("Lookup(%s) = %+v, %v; want %s of user %d", orderNo, r, err, st, userID)
	}
}

// assertConsistent checks remaining + |RESERVED| = total and returns the
// snapshot it checked.
func assertConsistent(tb testing.TB, s order.Stock, saleID, total int64) order.StockSnapshot {
	tb.Helper()
	snap := mustSnapshot(tb, s, saleID)
	var reserved int64
	users := map[int64]string{}
	for no, r := range snap.Reservations {
		if r.OrderNo != no || r.SaleID != saleID {
			tb.Fatalf("reservation under %s is %+v", no, r)
		}
		if r.State != order.Reserved {
			continue
		}
		reserved++
		if other, dup := users[r.UserID]; dup {
			tb.Fatalf("user %d holds both %s and %s", r.UserID, other, no)
		}
		users[r.UserID] = no
	}
	if !snap.Loaded || snap.Remaining+reserved != total {
		tb.Fatalf("Snapshot loaded=%v remaining %d + reserved %d != total %d", snap.Loaded, snap.Remaining, reserved, total)
	}
	if got := mustRemaining(tb, s, saleID); got != snap.Remaining {
		tb.Fatalf("Remaining = %d, Snapshot says %d", got, snap.Remaining)
	}
	return snap
}

// view is everything the suite compares to prove that a call wrote nothing.
type view struct {
	raw       map[string]string // from Inspector, nil without it
	snapshot  order.StockSnapshot
	remaining string
}

func state(tb testing.TB, s order.Stock, saleID int64) view {
	tb.Helper()
	ctx := context.Background()
	var v view
	if in, ok := s.(Inspector); ok {
		raw, err := in.Dump(ctx, saleID)
		if err != nil {
			tb.Fatalf("Dump(sale %d): %v", saleID, err)
		}
		v.raw = raw
	}
	v.snapshot = mustSnapshot(tb, s, saleID)
	n, err := s.Remaining(ctx, saleID)
	v.remaining = fmt.Sprint(n, err)
	return v
}

func assertUnchanged(tb testing.TB, s order.Stock, saleID int64, before view) {
	tb.Helper()
	after := state(tb, s, saleID)
	if before.raw != nil && !maps.Equal(before.raw, after.raw) {
		tb.Fatalf("raw keys changed:\nbefore %v\nafter  %v", before.raw, after.raw)
	}
	if before.remaining != after.remaining ||
		before.snapshot.Loaded != after.snapshot.Loaded ||
		before.snapshot.Remaining != after.snapshot.Remaining ||
		!maps.Equal(before.snapshot.Reservations, after.snapshot.Reservations) {
		tb.Fatalf("stock changed:\nbefore %+v\nafter  %+v", before, after)
	}
}
