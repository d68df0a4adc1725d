package stocktest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

// What the suite asserts about a backend's state.

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
