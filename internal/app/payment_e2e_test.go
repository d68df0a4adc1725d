package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/order"
)

// fastSweep makes the expiry sweeper run every 100ms.
func fastSweep(c *config.API) { c.ExpiryInterval = 100 * time.Millisecond }

// forEachKindSweeping runs a test against every kind of system with a fast
// expiry sweeper.
func forEachKindSweeping(t *testing.T, f func(t *testing.T, s *system)) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { f(t, newSystem(t, kind, fastSweep)) })
	}
}

func (s *system) pay(tb testing.TB, orderNo, token string) response {
	tb.Helper()
	return do(tb, "POST", s.public.URL+"/api/v1/orders/"+orderNo+"/pay", token, nil)
}

func (s *system) orderStatus(tb testing.TB, orderNo, token string) string {
	tb.Helper()
	r := do(tb, "GET", s.public.URL+"/api/v1/orders/"+orderNo, token, nil)
	if r.status != http.StatusOK {
		tb.Fatalf("order %s: %d %s", orderNo, r.status, r.raw)
	}
	return r.str("status")
}

func (s *system) remaining(tb testing.TB, sale int64) int64 {
	tb.Helper()
	r := do(tb, "GET", fmt.Sprintf("%s/api/v1/sales/%d", s.public.URL, sale), "", nil)
	if r.status != http.StatusOK {
		tb.Fatalf("sale %d: %d %s", sale, r.status, r.raw)
	}
	return r.num("remaining")
}

// eventually polls cond until it holds; the bound guards against a hang and
// is no performance assertion.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// released waits until every cancelled order of the sale has its unit
// recorded back in the stock backend (the sweep's last step).
func (s *system) released(tb testing.TB, sale int64) {
	tb.Helper()
	eventually(tb, "cancelled orders are released", func() bool {
		left, err := s.api.Repo.Unreleased(context.Background(), sale, 10)
		if err != nil {
			tb.Fatal(err)
		}
		return len(left) == 0
	})
}

func (s *system) buyOK(tb testing.TB, sale int64, token string) string {
	tb.Helper()
	r := s.buy(tb, sale, token)
	if r.status != http.StatusAccepted || r.str("order_no") == "" {
		tb.Fatalf("purchase: %d %s, want 202", r.status, r.raw)
	}
	return r.str("order_no")
}

// TestPay: an order is payable by its owner once the worker has written it;
// paying again is 200 again, and nobody else can pay it.
func TestPay(t *testing.T) {
	forEachKindSweeping(t, func(t *testing.T, s *system) {
		sale := s.createSale(t, 5, 0)
		owner, other := s.token(t, 31), s.token(t, 32)
		no := s.buyOK(t, sale, owner)

		// Only reserved: not payable yet, and the answer says why.
		r := s.pay(t, no, owner)
		if r.status != http.StatusConflict || r.errorCode() != "order_not_payable" || !strings.Contains(string(r.raw), "retry") {
			t.Fatalf("pay before the worker wrote the order: %d %s, want 409 order_not_payable asking to retry", r.status, r.raw)
		}
		if r := s.pay(t, no, other); r.status != http.StatusNotFound || r.errorCode() != "order_not_found" {
			t.Fatalf("another user pays a pending order: %d %s, want 404", r.status, r.raw)
		}

		s.startWorker()
		s.startBackground()
		s.drained(t, sale)
		if r := s.pay(t, no, ""); r.status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
			t.Fatalf("pay with no token: %d %s, want 401", r.status, r.raw)
		}
		if r := s.pay(t, no, other); r.status != http.StatusNotFound || r.errorCode() != "order_not_found" {
			t.Fatalf("another user pays the order: %d %s, want 404", r.status, r.raw)
		}
		if r := s.pay(t, "0190f7a2-0000-7000-8000-000000000000", owner); r.status != http.StatusNotFound {
			t.Fatalf("pay an unknown order: %d %s, want 404", r.status, r.raw)
		}
		if r := s.pay(t, "not-an-order", owner); r.status != http.StatusNotFound {
			t.Fatalf("pay a malformed order number: %d %s, want 404", r.status, r.raw)
		}
		bad := do(t, "POST", s.public.URL+"/api/v1/orders/"+no+"/pay", owner, strings.NewReader(`{"amount":1}`))
		if bad.status != http.StatusBadRequest || bad.errorCode() != "invalid_request" {
			t.Fatalf("pay with an unknown field: %d %s, want 400", bad.status, bad.raw)
		}
		if got := s.orderStatus(t, no, owner); got != "created" {
			t.Fatalf("refused payments changed the order: %s", got)
		}

		for i, body := range []string{"", "{}"} {
			r := do(t, "POST", s.public.URL+"/api/v1/orders/"+no+"/pay", owner, strings.NewReader(body))
			if r.status != http.StatusOK || r.str("order_no") != no || r.str("status") != "paid" {
				t.Fatalf("payment %d (body %q): %d %s, want 200 paid", i+1, body, r.status, r.raw)
			}
		}
		if got := s.orderStatus(t, no, owner); got != "paid" {
			t.Fatalf("order after payment: %s, want paid", got)
		}
		if rec := s.reconcile(t, sale); !rec.Consistent || rec.Persisted != 1 || rec.Cancelled != 0 || rec.Remaining != 4 {
			t.Fatalf("reconcile after payment: %+v", rec)
		}
	})
}

// shortWindow is the payment window, in seconds, of the sales whose orders
// these tests let expire. Short, so the tests wait little; long enough that
// an order paid as soon as the worker has written it is paid in time on a
// loaded machine running the race detector.
const shortWindow = 3

// TestExpiry: an order not paid within its window is cancelled, its unit
// goes back (the sale is no longer sold out), its buyer may buy again, and
// the books balance with the cancelled order counted as such.
func TestExpiry(t *testing.T) {
	forEachKindSweeping(t, func(t *testing.T, s *system) {
		sale := s.createSaleWindow(t, 1, 0, shortWindow)
		first, second := s.token(t, 41), s.token(t, 42)
		s.startWorker()
		s.startBackground()

		old := s.buyOK(t, sale, first)
		if r := s.buy(t, sale, second); r.status != http.StatusConflict || r.errorCode() != "sold_out" {
			t.Fatalf("second buyer of one unit: %d %s, want 409 sold_out", r.status, r.raw)
		}
		// The order is written, then cancelled once its window closes.
		eventually(t, "the unpaid order is cancelled", func() bool { return s.orderStatus(t, old, first) == "cancelled" })
		s.released(t, sale)
		if got := s.remaining(t, sale); got != 1 {
			t.Fatalf("remaining after expiry = %d, want the unit back", got)
		}
		if r := s.pay(t, old, first); r.status != http.StatusConflict || r.errorCode() != "order_not_payable" {
			t.Fatalf("pay after expiry: %d %s, want 409 order_not_payable", r.status, r.raw)
		}
		rec := s.reconcile(t, sale)
		if !rec.Consistent || rec.Cancelled != 1 || rec.Persisted != 0 || rec.Remaining != 1 || rec.ReservedInFlight != 0 {
			t.Fatalf("reconcile after expiry: %+v", rec)
		}

		// The same buyer buys again; this time they pay in time.
		again := s.buyOK(t, sale, first)
		if again == old {
			t.Fatal("the new purchase reused the expired order number")
		}
		if r := s.buy(t, sale, second); r.status != http.StatusConflict || r.errorCode() != "sold_out" {
			t.Fatalf("after the re-purchase: %d %s, want 409 sold_out", r.status, r.raw)
		}
		eventually(t, "the new order is payable", func() bool {
			r := s.pay(t, again, first)
			if r.status == http.StatusConflict && strings.Contains(string(r.raw), "retry") {
				return false // still being recorded
			}
			if r.status != http.StatusOK || r.str("status") != "paid" {
				t.Fatalf("pay the new order: %d %s, want 200 paid", r.status, r.raw)
			}
			return true
		})
		// A paid order never expires: well past its window it stays paid.
		time.Sleep(shortWindow*time.Second + 1500*time.Millisecond)
		if got := s.orderStatus(t, again, first); got != "paid" {
			t.Fatalf("paid order after its window: %s, want paid", got)
		}
		if got := s.orderStatus(t, old, first); got != "cancelled" {
			t.Fatalf("expired order: %s, want cancelled", got)
		}
		rec = s.drained(t, sale)
		if !rec.Consistent || rec.Cancelled != 1 || rec.Persisted != 1 || rec.Remaining != 0 {
			t.Fatalf("reconcile after the re-purchase: %+v", rec)
		}
	})
}

// TestExpiryReturnsUnitToNewBuyer: a unit freed by expiry goes to whoever
// asks next.
func TestExpiryReturnsUnitToNewBuyer(t *testing.T) {
	forEachKindSweeping(t, func(t *testing.T, s *system) {
		sale := s.createSaleWindow(t, 1, 0, shortWindow)
		first, second := s.token(t, 51), s.token(t, 52)
		s.startWorker()
		s.startBackground()
		old := s.buyOK(t, sale, first)
		eventually(t, "the unpaid order is cancelled", func() bool { return s.orderStatus(t, old, first) == "cancelled" })
		s.released(t, sale)
		no := s.buyOK(t, sale, second)
		eventually(t, "the new buyer's order is written", func() bool { return s.orderStatus(t, no, second) == "created" })
		if r := s.pay(t, no, second); r.status != http.StatusOK {
			t.Fatalf("new buyer pays: %d %s", r.status, r.raw)
		}
		rec := s.drained(t, sale)
		if !rec.Consistent || rec.Cancelled != 1 || rec.Persisted != 1 || rec.Remaining != 0 {
			t.Fatalf("reconcile: %+v", rec)
		}
	})
}

// TestExpiryRepairsUnreleased: an order cancelled in MySQL whose unit never
// went back (a crash between the two steps of a sweep) is released by the
// next sweep, though its sale's window is far from closing.
func TestExpiryRepairsUnreleased(t *testing.T) {
	forEachKindSweeping(t, func(t *testing.T, s *system) {
		ctx := context.Background()
		sale := s.createSale(t, 2, 0) // a ten-minute window: no sweep expires anything
		owner := s.token(t, 61)
		no := s.buyOK(t, sale, owner)
		s.startWorker()
		s.drained(t, sale)

		// The first step of a sweep, by hand: cancelled in MySQL only.
		got, err := s.api.Repo.ExpireDue(ctx, sale, time.Now().Add(time.Hour), 10)
		if err != nil || len(got) != 1 || got[0].OrderNo != no {
			t.Fatalf("cancel in the store: %v, %v", got, err)
		}
		if s.kind != "embedded" { // the embedded sweeper already runs with the worker
			if rem, err := s.api.Stock.Remaining(ctx, sale); err != nil || rem != 1 {
				t.Fatalf("remaining before the repair = %d, %v; want 1 (the unit still held)", rem, err)
			}
		}
		s.startBackground()
		s.released(t, sale)
		if rem, err := s.api.Stock.Remaining(ctx, sale); err != nil || rem != 2 {
			t.Fatalf("remaining after the repair = %d, %v; want 2", rem, err)
		}
		rec := s.reconcile(t, sale)
		if !rec.Consistent || rec.Cancelled != 1 || rec.Persisted != 0 || rec.Remaining != 2 {
			t.Fatalf("reconcile after the repair: %+v", rec)
		}
		// The buyer was freed with the unit.
		s.buyOK(t, sale, owner)
	})
}

// TestBackgroundStops: the api's background work runs — the embedded
// worker writes an order and the expiry sweeper cancels it once its window
// has closed — then stops with its stop function and leaves no goroutine
// behind once the api is closed.
func TestBackgroundStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	a, err := app.NewAPI(ctx, config.API{
		HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", StockBackend: config.BackendRedis,
		BodyLimit: 4096, ConfirmWindow: 16, ShutdownTimeout: 5 * time.Second, DemoStock: 10,
		WorkerBatch: 16, PublishBatch: 1, PublishInFlight: 1, ExpiryInterval: 10 * time.Millisecond,
	}, testLog(t), app.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	sale, err := a.UseCases.Catalog.CreateSale(ctx, order.NewSale{
		Name: "background", PriceCents: 100, TotalStock: 1,
		StartsAt: now.Add(-time.Second), EndsAt: now.Add(time.Hour), PaymentWindow: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := a.StartBackground(ctx)
	const buyer = 7
	placed, err := a.UseCases.Purchases.Place(ctx, sale.ID, buyer)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a sweep cancels the unpaid order", func() bool {
		o, err := a.UseCases.Purchases.Order(ctx, buyer, placed.OrderNo)
		return err == nil && o.Status == order.StatusCancelled && o.Reason == order.ReasonExpired
	})
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}
