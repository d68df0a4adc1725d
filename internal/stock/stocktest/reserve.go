package stocktest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// The contract of Reserve: success, the window, one unit per buyer, the
// rejections that write nothing, and concurrent buyers.

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
