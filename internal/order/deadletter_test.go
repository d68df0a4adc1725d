package order_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// TestDiscardDuringRebuildKeepsUnit: the stock of a sale is lost while a
// dead letter holds one of its orders, and the dead letter is discarded
// while a rebuild has counted the order as taken but not yet written it
// to the stock backend. The discard must not record the unit as released:
// the rebuild brings the reservation back, and the expiry sweep returns
// its unit. Afterwards the books balance.
func TestDiscardDuringRebuildKeepsUnit(t *testing.T) {
	for _, backend := range realStocks() {
		t.Run(backend.name, func(t *testing.T) {
			ctx := context.Background()
			log, st, repo, q, stk := newStrandRig(t, backend.open)
			uc := order.New(stk, q, repo, log, order.WithDeadLetters(st),
				order.WithRebuilds(st, fencePassesAtOnce{st}, repo, 0))

			now := time.Now()
			sale, err := uc.Catalog.CreateSale(ctx, order.NewSale{Name: "strand", TotalStock: 3,
				StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			kept, err := uc.Purchases.Place(ctx, sale.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			dead, err := uc.Purchases.Place(ctx, sale.ID, 2)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.PersistBatch(ctx, []order.Order{kept}); err != nil {
				t.Fatal(err)
			}
			id, err := st.RecordDeadLetter(ctx, order.DeadLetter{Reason: order.DeadInvalid, DeadAt: now, Orders: []order.Order{dead}})
			if err != nil {
				t.Fatal(err)
			}
			if err := stk.Forget(ctx, sale.ID); err != nil { // the stock is lost
				t.Fatal(err)
			}

			repo.afterHeld = func() {
				if n, err := uc.DeadLetterDesk.Discard(ctx, []int64{id}); err != nil || n != 1 {
					t.Errorf("discard during the rebuild = %d, %v; want 1", n, err)
				}
			}
			if _, err := uc.Catalog.Warmup(ctx, sale.ID); err != nil {
				t.Fatalf("warm-up: %v", err)
			}
			if _, err := uc.Payments.ExpireDue(ctx, now); err != nil {
				t.Fatalf("sweep after the rebuild: %v", err)
			}
			rec, err := uc.Catalog.Reconcile(ctx, sale.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Consistent || rec.Remaining != 2 || rec.Persisted != 1 || rec.Cancelled != 1 {
				t.Fatalf("reconcile: %+v (gap %d), want consistent with the discarded unit back", rec, rec.Gap())
			}
		})
	}
}

// TestDeadLetterDeskChecksFirst: the desk refuses a malformed request
// before it reads anything, and a desk without a store answers
// ErrUnavailable, not a panic, to a well-formed one.
func TestDeadLetterDeskChecksFirst(t *testing.T) {
	desk := order.New(nil, nil, nil, slog.New(slog.DiscardHandler)).DeadLetterDesk
	ctx := context.Background()
	tooMany := make([]int64, order.MaxDeadLetterIDs+1)
	for i := range tooMany {
		tooMany[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"list nothing", func() error { _, _, err := desk.List(ctx, 0); return err }, order.ErrInvalid},
		{"list too many", func() error { _, _, err := desk.List(ctx, order.MaxDeadLetterIDs+1); return err }, order.ErrInvalid},
		{"list", func() error { _, _, err := desk.List(ctx, 1); return err }, order.ErrUnavailable},
		{"replay neither ids nor all", func() error { _, err := desk.Replay(ctx, nil, false); return err }, order.ErrInvalid},
		{"replay ids and all", func() error { _, err := desk.Replay(ctx, []int64{1}, true); return err }, order.ErrInvalid},
		{"replay id 0", func() error { _, err := desk.Replay(ctx, []int64{0}, false); return err }, order.ErrInvalid},
		{"replay too many", func() error { _, err := desk.Replay(ctx, tooMany, false); return err }, order.ErrInvalid},
		{"replay all", func() error { _, err := desk.Replay(ctx, nil, true); return err }, order.ErrUnavailable},
		{"discard no ids", func() error { _, err := desk.Discard(ctx, nil); return err }, order.ErrInvalid},
		{"discard a negative id", func() error { _, err := desk.Discard(ctx, []int64{-1}); return err }, order.ErrInvalid},
		{"discard", func() error { _, err := desk.Discard(ctx, []int64{1}); return err }, order.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
