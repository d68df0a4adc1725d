package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/order"
)

// quickSettle makes reservations settle within seconds: a 1s confirm
// timeout, settled after 2s, passes every 200ms.
func quickSettle(c *config.API) {
	c.ConfirmTimeout = time.Second
	c.SettleAfter = 2 * time.Second
	c.SettleInterval = 200 * time.Millisecond
}

// settled waits until the sale reconciles with nothing in flight; the bound
// is a guard against a hang, not a performance assertion.
func (s *system) settled(tb testing.TB, sale int64) httpapi.ReconcileJSON {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rec := s.reconcile(tb, sale)
		if rec.ReservedInFlight == 0 && rec.Consistent && rec.StockLoaded {
			return rec
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sale %d did not settle: %+v", sale, rec)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStrandedReservationSettles: a unit reserved by an api that died
// before publishing (nothing in the queue) is not stuck: the settler
// republishes its order under the original order_no, the worker writes it,
// and the buyer sees it created.
func TestStrandedReservationSettles(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind, quickSettle)
			sale := s.createSale(t, 3, -time.Minute)
			s.startWorker()
			s.startBackground()
			ctx := context.Background()

			no, err := order.NewOrderNo()
			if err != nil {
				t.Fatal(err)
			}
			res := order.Reservation{OrderNo: no, SaleID: sale, UserID: 41, State: order.Reserved}
			if err := s.api.Stock.Reserve(ctx, res, time.Now()); err != nil {
				t.Fatal(err)
			}
			tok := s.token(t, 41)
			if got := s.orderStatus(t, no, tok); got != "pending" {
				t.Fatalf("stranded order reads %q, want pending", got)
			}
			if r := s.buy(t, sale, s.token(t, 42)); r.status != http.StatusAccepted {
				t.Fatalf("buy: %d %s", r.status, r.raw)
			}
			rec := s.settled(t, sale)
			if rec.Persisted != 2 || rec.Remaining != 1 || rec.OldestInFlightSeconds != 0 {
				t.Fatalf("after settling: %+v, want both orders persisted", rec)
			}
			if got := s.orderStatus(t, no, tok); got != "created" {
				t.Fatalf("stranded order reads %q after settling, want created", got)
			}
		})
	}
}

// TestLostStockRebuildsBehindQueuedOrders: the stock of a sale is lost
// while accepted orders wait in the queue (no worker). The sale fails
// closed, a warm-up answers 409 rebuild_pending instead of forgetting the
// queued orders, and once a worker runs the rebuild completes on its own
// with those orders counted: never more units sold than exist.
func TestLostStockRebuildsBehindQueuedOrders(t *testing.T) {
	for _, kind := range []string{"redis", "memcache"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind, quickSettle)
			sale := s.createSale(t, 5, -time.Minute)
			s.startBackground()
			for u := int64(1); u <= 3; u++ {
				if r := s.buy(t, sale, s.token(t, u)); r.status != http.StatusAccepted {
					t.Fatalf("buy %d: %d %s", u, r.status, r.raw)
				}
			}
			if err := s.api.Stock.Forget(context.Background(), sale); err != nil {
				t.Fatal(err)
			}
			if r := s.buy(t, sale, s.token(t, 9)); r.status != http.StatusServiceUnavailable {
				t.Fatalf("buy with the stock lost: %d %s, want 503", r.status, r.raw)
			}
			r := do(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/warmup", s.admin.URL, sale), "", nil)
			if r.status != http.StatusConflict || r.errorCode() != httpapi.CodeRebuildPending {
				t.Fatalf("warm-up with orders queued: %d %s, want 409 rebuild_pending", r.status, r.raw)
			}
			if rec := s.reconcile(t, sale); rec.StockLoaded {
				t.Fatalf("stock loaded before the queued orders were written: %+v", rec)
			}
			s.startWorker()
			rec := s.settled(t, sale)
			if rec.Persisted != 3 || rec.Remaining != 2 {
				t.Fatalf("after the rebuild: %+v, want 3 persisted and 2 left", rec)
			}
			accepted := 0
			for u := int64(10); u <= 14; u++ {
				if r := s.buy(t, sale, s.token(t, u)); r.status == http.StatusAccepted {
					accepted++
				}
			}
			if accepted != 2 {
				t.Fatalf("%d purchases accepted after the rebuild, want the 2 units left", accepted)
			}
			if rec := s.settled(t, sale); rec.Persisted != 5 || rec.Remaining != 0 {
				t.Fatalf("after selling out: %+v", rec)
			}
		})
	}
}
