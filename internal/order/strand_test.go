package order_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/testenv"
)

// readHook is a repository that runs a function once, right after the
// next read of a sale's orders (after) or of the orders its dead letters
// hold (afterHeld): what another replica does between a rebuild's read of
// MySQL and its write to the stock backend.
type readHook struct {
	*store.Store
	mu               sync.Mutex
	after, afterHeld func()
}

func (r *readHook) SaleOrders(ctx context.Context, saleID int64) ([]order.Order, error) {
	orders, err := r.Store.SaleOrders(ctx, saleID)
	r.run(&r.after)
	return orders, err
}

func (r *readHook) SaleDeadOrders(ctx context.Context, saleID int64) ([]order.Order, error) {
	orders, err := r.Store.SaleDeadOrders(ctx, saleID)
	r.run(&r.afterHeld)
	return orders, err
}

func (r *readHook) run(f *func()) {
	r.mu.Lock()
	g := *f
	*f = nil
	r.mu.Unlock()
	if g != nil {
		g()
	}
}

// fencePassesAtOnce sends fences through an empty queue: each one is
// recorded passed as it is sent.
type fencePassesAtOnce struct{ st *store.Store }

func (f fencePassesAtOnce) PublishFence(ctx context.Context, fence order.Fence) error {
	return f.st.PassFence(ctx, fence.ID, time.Now())
}

// realStocks are the stock backends on the test servers, each under a
// prefix of its own.
func realStocks() []struct {
	name string
	open func(tb testing.TB) order.Stock
} {
	return []struct {
		name string
		open func(tb testing.TB) order.Stock
	}{
		{"redis", func(tb testing.TB) order.Stock {
			tb.Helper()
			testenv.Listening(tb, "redis", "127.0.0.1:6379")
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
			tb.Cleanup(func() { _ = rdb.Close() })
			return stock.NewRedis(rdb, stock.WithPrefix(redistest.Prefix(tb, rdb)))
		}},
		{"memcache", func(tb testing.TB) order.Stock {
			tb.Helper()
			testenv.Listening(tb, "memcached", "127.0.0.1:11211")
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
			tb.Cleanup(func() { _ = rdb.Close() })
			m, err := stock.NewMemcached("127.0.0.1:11211", stock.WithPrefix(redistest.Prefix(tb, rdb)))
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = m.Close() })
			return m
		}},
	}
}

// newStrandRig opens what a lost-sale race runs on: SQLite behind the read
// hook, the in-process queue and one of the real stock backends.
func newStrandRig(t *testing.T, open func(tb testing.TB) order.Stock) (*slog.Logger, *store.Store, *readHook, *mq.Memory, order.Stock) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenSQLite(context.Background(), t.TempDir()+"/sk.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	q := mq.NewMemory()
	t.Cleanup(func() { _ = q.Close() })
	return log, st, &readHook{Store: st}, q, open(t)
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
