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
	log, st, q := openLocal(t)
	return log, st, &readHook{Store: st}, q, open(t)
}

// openLocal opens the embedded mode's store (SQLite in the test's
// directory) and queue, closed when the test ends, with a quiet log.
func openLocal(t *testing.T) (*slog.Logger, *store.Store, *mq.Memory) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenSQLite(context.Background(), t.TempDir()+"/sk.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	q := mq.NewMemory()
	t.Cleanup(func() { _ = q.Close() })
	return log, st, q
}
