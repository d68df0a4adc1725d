package order_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
)

// TestReplicasSweepOnce: several api replicas sweeping the same sale at
// once cancel every due unpaid order once and return every unit once; paid
// orders stay, and the books balance.
func TestReplicasSweepOnce(t *testing.T) {
	const units, paid, replicas = 60, 15, 4
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	mr := miniredis.RunT(t)
	repo, err := store.OpenSQLite(ctx, t.TempDir()+"/sk.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	q := mq.NewMemory()
	t.Cleanup(func() { _ = q.Close() })
	ucs := make([]order.UseCases, replicas)
	for i := range ucs {
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		ucs[i] = order.New(stock.NewRedis(rdb), q, repo, log)
	}
	now := time.Now()
	sale, err := ucs[0].Catalog.CreateSale(ctx, order.NewSale{Name: "sweep", TotalStock: units,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), PaymentWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var orders []order.Order
	for u := range int64(units) {
		o, err := ucs[0].Purchases.Place(ctx, sale.ID, u+1)
		if err != nil {
			t.Fatalf("place: %v", err)
		}
		orders = append(orders, o)
	}
	// Before the worker wrote it an order is not payable yet.
	if _, err := ucs[1].Payments.Pay(ctx, 1, orders[0].OrderNo); !errors.Is(err, order.ErrPaymentPending) {
		t.Fatalf("pay a pending order: %v, want ErrPaymentPending", err)
	}
	if _, err := ucs[1].Payments.Pay(ctx, 2, orders[0].OrderNo); !errors.Is(err, order.ErrOrderNotFound) {
		t.Fatalf("pay another user's pending order: %v, want ErrOrderNotFound", err)
	}
	if _, err := repo.PersistBatch(ctx, orders); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders[:paid] {
		if _, err := ucs[o.UserID%replicas].Payments.Pay(ctx, o.UserID, o.OrderNo); err != nil {
			t.Fatalf("pay: %v", err)
		}
	}
	// Nothing is due yet.
	if res, err := ucs[0].Payments.ExpireDue(ctx, now); err != nil || res != (order.ExpiryResult{}) {
		t.Fatalf("sweep before the window closed: %+v, %v", res, err)
	}

	later := now.Add(2 * time.Minute)
	var (
		mu    sync.Mutex
		total order.ExpiryResult
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for _, uc := range ucs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 3 {
				res, err := uc.Payments.ExpireDue(ctx, later)
				if err != nil {
					t.Errorf("sweep: %v", err)
				}
				mu.Lock()
				total.Expired += res.Expired
				total.Returned += res.Returned
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if want := units - paid; total.Expired != want || total.Returned != want {
		t.Fatalf("replicas expired %d and returned %d units, want %d each", total.Expired, total.Returned, want)
	}
	rec, err := ucs[0].Catalog.Reconcile(ctx, sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Consistent || rec.Remaining != units-paid || rec.Persisted != paid || rec.Cancelled != units-paid {
		t.Fatalf("reconcile after the sweeps: %+v", rec)
	}
	if got, _ := repo.Sale(ctx, sale.ID); got.Sold != paid {
		t.Fatalf("sold = %d, want %d", got.Sold, paid)
	}
	if _, err := ucs[0].Payments.Pay(ctx, orders[paid].UserID, orders[paid].OrderNo); !errors.Is(err, order.ErrNotPayable) {
		t.Fatalf("pay an expired order: %v, want ErrNotPayable", err)
	}
}

// TestExpiryDuringRebuildKeepsUnit: the stock of a sale is lost, and an
// expiry sweep cancels an order while a rebuild has read the order from
// MySQL as live but not yet written it to the stock backend (the
// settler's rebuild here; a warm-up's is the same). The sweep
// must not record the unit as released (the backend holds nothing to
// release it from): the rebuild brings the reservation back, and only a
// later sweep can return its unit. Afterwards the books balance.
func TestExpiryDuringRebuildKeepsUnit(t *testing.T) {
	for _, backend := range realStocks() {
		t.Run(backend.name, func(t *testing.T) {
			ctx := context.Background()
			log, st, repo, q, stk := newStrandRig(t, backend.open)
			uc := order.New(stk, q, repo, log)

			now := time.Now()
			sale, err := uc.Catalog.CreateSale(ctx, order.NewSale{Name: "strand", TotalStock: 3,
				StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), PaymentWindow: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			var orders []order.Order
			for user := range int64(2) {
				o, err := uc.Purchases.Place(ctx, sale.ID, user+1)
				if err != nil {
					t.Fatalf("place: %v", err)
				}
				orders = append(orders, o)
			}
			if _, err := st.PersistBatch(ctx, orders); err != nil {
				t.Fatal(err)
			}
			if err := stk.Forget(ctx, sale.ID); err != nil { // the stock is lost
				t.Fatal(err)
			}

			later := now.Add(2 * time.Minute)
			var swept order.ExpiryResult
			repo.after = func() {
				var err error
				if swept, err = uc.Payments.ExpireDue(ctx, later); err != nil {
					t.Errorf("sweep during the rebuild: %v", err)
				}
			}
			// The settler finds the stock lost and rebuilds it.
			if res, err := uc.Settler.Settle(ctx, now); err != nil || res.Rebuilds != 1 {
				t.Fatalf("settle = %+v, %v; want the sale rebuilt", res, err)
			}
			if swept.Expired != 2 {
				t.Fatalf("sweep during the rebuild: %+v, want both orders expired", swept)
			}
			if _, err := uc.Payments.ExpireDue(ctx, later); err != nil {
				t.Fatalf("sweep after the rebuild: %v", err)
			}
			rec, err := uc.Catalog.Reconcile(ctx, sale.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Consistent || rec.Remaining != 3 || rec.Persisted != 0 || rec.ReservedInFlight != 0 {
				t.Fatalf("reconcile: %+v (gap %d), want consistent with all 3 units back", rec, rec.Gap())
			}
		})
	}
}
