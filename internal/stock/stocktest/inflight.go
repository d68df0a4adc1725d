package stocktest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

// The contract of the in-flight index: Due, Postpone and MarkPersisted, and
// how every other call keeps the index in step.

// testInFlightIndex checks Due, Postpone and MarkPersisted. Every
// reservation is made at the time its UUIDv7 order number carries, as the
// a purchase does.
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
	t.Run("mark persisted drops it and keeps the unit", func(t *testing.T) {
		s := newStock(t)
		warm(t, s, 1, 5)
		a := reserveAt(t, s, 1, 1, t0)
		b := reserveAt(t, s, 1, 2, t0.Add(time.Second))
		mustMarkPersisted(t, s, 1, a)

		assertDue(t, s, 1, far, 10, b)
		if got := mustRemaining(t, s, 1); got != 3 {
			t.Fatalf("remaining after MarkPersisted = %d, want 3: a persisted reservation keeps its unit", got)
		}
		assertLookup(t, s, a, order.Reserved, 1)
		if snap := assertConsistent(t, s, 1, 5); snap.Reservations[a].State != order.Reserved {
			t.Fatalf("Snapshot holds %s as %+v, want RESERVED", a, snap.Reservations[a])
		}
		assertAlreadyPurchased(t, s.Reserve(t.Context(), reservation(1, 1, orderNoAt(t, t0)), t0), a)

		before := state(t, s, 1)
		mustMarkPersisted(t, s, 1, a) // idempotent: writes nothing
		assertUnchanged(t, s, 1, before)

		mustPostpone(t, s, 1, t0, a) // a persisted reservation stays out
		assertDue(t, s, 1, far, 10, b)
		if ok := mustRelease(t, s, 1, a); !ok {
			t.Fatal("Release of a persisted reservation = false, want true")
		}
		if got := mustRemaining(t, s, 1); got != 4 {
			t.Fatalf("remaining after releasing the persisted reservation = %d, want 4", got)
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
		// Marked persisted, yet not among the persisted orders (persisted
		// after MySQL was read): it keeps the bit.
		marked := reserveAt(t, s, 1, 3, t0.Add(2*time.Second))
		mustMarkPersisted(t, s, 1, marked)
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
		mustMarkPersisted(t, s, 1, nos...)
		mustPostpone(t, s, 1, far, nos...)
		assertUnchanged(t, s, 1, empty)

		warm(t, s, 1, 5)
		a := reserveAt(t, s, 1, 1, t0)
		before := state(t, s, 1)
		mustMarkPersisted(t, s, 1, nos...)
		mustPostpone(t, s, 1, far, nos...)
		mustMarkPersisted(t, s, 1)
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

func mustMarkPersisted(tb testing.TB, s order.Stock, saleID int64, orderNos ...string) {
	tb.Helper()
	if err := s.MarkPersisted(context.Background(), saleID, orderNos); err != nil {
		tb.Fatalf("MarkPersisted(sale %d, %v): %v", saleID, orderNos, err)
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
