package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/seckill/seckill/internal/cache"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
	"github.com/seckill/seckill/internal/testenv"
)

const memcachedAddr = "127.0.0.1:11211"

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memcachedClient returns a client of the real server, or skips the test
// (fails it with SECKILL_REQUIRE_SERVICES=1) when it does not answer.
func memcachedClient(tb testing.TB) *memcache.Client {
	tb.Helper()
	c := memcache.New(memcachedAddr)
	c.Timeout = 2 * time.Second
	c.MaxIdleConns = 64
	if err := c.Ping(); err != nil {
		_ = c.Close()
		testenv.Need(tb, "memcached at "+memcachedAddr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// countingRepo is the real store, counting the sale reads that reach it.
type countingRepo struct {
	*store.Store
	reads atomic.Int64
	gate  chan struct{} // when set, reads wait for it to close
}

func (r *countingRepo) Sale(ctx context.Context, id int64) (order.Sale, error) {
	r.reads.Add(1)
	if r.gate != nil {
		<-r.gate
	}
	return r.Store.Sale(ctx, id)
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a cache over a real SQLite store and a memcached stock
// backend, with one active sale warmed with 10 units.
type fixture struct {
	repo  *countingRepo
	stock *stock.Memcached
	sale  order.Sale
	clock *clock
	mc    *memcache.Client
	pre   string
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	mc := memcachedClient(tb)
	pre := "skct-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	repo := &countingRepo{Store: storetest.SQLite(tb)}
	now := time.Now().UTC().Truncate(time.Second)
	sale, _, err := repo.CreateSale(context.Background(), order.NewSale{
		Name: "lamp", PriceCents: 1999, TotalStock: 10,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), PaymentWindow: 15 * time.Minute,
	})
	if err != nil {
		tb.Fatalf("create sale: %v", err)
	}
	st, err := stock.NewMemcached(memcachedAddr, stock.WithPrefix(pre))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = mc.Delete(st.Key(sale.ID))
		_ = st.Close()
	})
	if err := st.Warm(context.Background(), order.StockSale{ID: sale.ID, TotalStock: 10, StartsAt: sale.StartsAt, EndsAt: sale.EndsAt, Rebuild: true}); err != nil {
		tb.Fatalf("warm: %v", err)
	}
	return &fixture{repo: repo, stock: st, sale: sale, clock: &clock{now: now}, mc: mc, pre: pre}
}

// reader is a Sales in front of the fixture's repository, read through
// the catalog that builds the view (live remaining, status), as the api
// wires it: its Sale is the catalog's.
type reader struct {
	*cache.Sales
	catalog *order.Catalog
}

func (r reader) Sale(ctx context.Context, id int64) (order.SaleView, error) {
	return r.catalog.Sale(ctx, id)
}

// behind puts c in front of the fixture's repository for a catalog on the
// fixture's stock and clock.
func (f *fixture) behind(c *cache.Sales) reader {
	uc := order.New(f.stock, nil, f.repo, slog.New(slog.DiscardHandler),
		order.WithClock(f.clock.Now), order.WithSaleCache(c))
	return reader{Sales: c, catalog: uc.Catalog}
}

// cache returns a Sales of the fixture behind its catalog; cleanup removes
// the entries of the given sale ids.
func (f *fixture) cache(tb testing.TB, ids []int64, opts ...cache.Option) reader {
	tb.Helper()
	opts = append([]cache.Option{cache.WithPrefix(f.pre), cache.WithClock(f.clock.Now)}, opts...)
	c := cache.NewSales(f.mc, f.repo, slog.New(slog.DiscardHandler), opts...)
	tb.Cleanup(func() {
		for _, id := range ids {
			_ = f.mc.Delete(c.Key(id))
		}
	})
	return f.behind(c)
}

func mustSale(tb testing.TB, c reader, id int64) order.SaleView {
	tb.Helper()
	v, err := c.Sale(context.Background(), id)
	if err != nil {
		tb.Fatalf("Sale(%d): %v", id, err)
	}
	return v
}

func assertReads(tb testing.TB, r *countingRepo, want int64) {
	tb.Helper()
	if got := r.reads.Load(); got != want {
		tb.Fatalf("%d repository reads, want %d", got, want)
	}
}

func TestSalesView(t *testing.T) {
	f := newFixture(t)
	c := f.cache(t, []int64{f.sale.ID})
	for range 2 { // a miss, then a hit
		v := mustSale(t, c, f.sale.ID)
		s := f.sale
		if v.ID != s.ID || v.Name != s.Name || v.PriceCents != s.PriceCents || v.TotalStock != s.TotalStock ||
			!v.StartsAt.Equal(s.StartsAt) || !v.EndsAt.Equal(s.EndsAt) || v.PaymentWindow != s.PaymentWindow ||
			!v.CreatedAt.Equal(s.CreatedAt) {
			t.Fatalf("Sale = %+v, want the static fields of %+v", v.Sale, s)
		}
		if v.Remaining != 10 || v.Status != order.SaleActive {
			t.Fatalf("remaining %d, status %s; want 10, active", v.Remaining, v.Status)
		}
	}
	assertReads(t, f.repo, 1)
}

// TestSalesStampede: 1,000 concurrent reads of a cold sale cost one
// repository query.
func TestSalesStampede(t *testing.T) {
	const readers = 1000
	f := newFixture(t)
	c := f.cache(t, []int64{f.sale.ID})
	f.repo.gate = make(chan struct{})

	var entered atomic.Int64
	start := make(chan struct{})
	errs := make([]error, readers)
	views := make([]order.SaleView, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			<-start
			if entered.Add(1) == readers {
				close(f.repo.gate) // the first read is held until everyone is in
			}
			views[i], errs[i] = c.Sale(context.Background(), f.sale.ID)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil || views[i].ID != f.sale.ID || views[i].Remaining != 10 {
			t.Fatalf("reader %d: %+v, %v", i, views[i], err)
		}
	}
	assertReads(t, f.repo, 1)
}

func TestSalesTTLAndInvalidate(t *testing.T) {
	f := newFixture(t)
	c := f.cache(t, []int64{f.sale.ID}, cache.WithTTL(5*time.Second))
	id := f.sale.ID

	steps := []struct {
		name  string
		do    func()
		reads int64
	}{
		{"cold read loads", func() {}, 1},
		{"read within the TTL is a hit", func() { f.clock.Add(4 * time.Second) }, 1},
		{"read at the TTL loads again", func() { f.clock.Add(time.Second) }, 2},
		{"fresh entry is a hit", func() {}, 2},
		{"invalidated entry loads again", func() {
			if err := c.Invalidate(t.Context(), id); err != nil {
				t.Fatalf("Invalidate: %v", err)
			}
		}, 3},
		{"invalidating a missing entry is fine", func() {
			if err := c.Invalidate(t.Context(), id); err != nil {
				t.Fatalf("Invalidate: %v", err)
			}
			if err := c.Invalidate(t.Context(), id); err != nil {
				t.Fatalf("second Invalidate: %v", err)
			}
		}, 4},
	}
	for _, st := range steps {
		st.do()
		mustSale(t, c, id)
		if got := f.repo.reads.Load(); got != st.reads {
			t.Fatalf("%s: %d repository reads, want %d", st.name, got, st.reads)
		}
	}
}

func TestSalesUnknownSale(t *testing.T) {
	f := newFixture(t)
	const unknown = 999_999
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	c := f.cache(t, []int64{unknown}, cache.WithNegativeTTL(time.Second), cache.WithMetrics(m))

	for i, want := range []int64{1, 1} {
		if _, err := c.Sale(t.Context(), unknown); !errors.Is(err, order.ErrSaleNotFound) {
			t.Fatalf("read %d = %v, want ErrSaleNotFound", i, err)
		}
		assertReads(t, f.repo, want)
	}
	f.clock.Add(time.Second)
	if _, err := c.Sale(t.Context(), unknown); !errors.Is(err, order.ErrSaleNotFound) {
		t.Fatalf("read after the negative TTL = %v, want ErrSaleNotFound", err)
	}
	assertReads(t, f.repo, 2)
	for _, id := range []int64{0, -1} {
		if _, err := c.Sale(t.Context(), id); !errors.Is(err, order.ErrSaleNotFound) {
			t.Fatalf("Sale(%d) = %v, want ErrSaleNotFound", id, err)
		}
	}
	assertReads(t, f.repo, 2)
	if hit, miss := cacheRequests(t, reg, "hit"), cacheRequests(t, reg, "miss"); hit != 1 || miss != 2 {
		t.Fatalf("cache requests hit %v, miss %v; want 1 and 2", hit, miss)
	}
}

// TestSalesMemcachedOutage points the cache at a port nobody listens on:
// reads are served by the repository, counted as errors, logged once.
func TestSalesMemcachedOutage(t *testing.T) {
	f := newFixture(t)
	down := memcache.New("127.0.0.1:1")
	defer down.Close()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	var logs countingHandler
	c := f.behind(cache.NewSales(down, f.repo, slog.New(&logs),
		cache.WithClock(f.clock.Now), cache.WithMetrics(m), cache.WithBypass(time.Second), cache.WithLogInterval(time.Minute)))

	const reads = 50
	for i := range reads {
		v := mustSale(t, c, f.sale.ID)
		if v.Remaining != 10 || v.Name != f.sale.Name {
			t.Fatalf("read %d = %+v", i, v)
		}
		if i%10 == 9 {
			f.clock.Add(time.Second) // past the bypass: memcached is tried again
		}
	}
	assertReads(t, f.repo, reads)
	if got := cacheRequests(t, reg, "error"); got != reads {
		t.Fatalf("%v cache errors counted, want %d", got, reads)
	}
	if n := logs.n.Load(); n != 1 {
		t.Fatalf("%d log records in one interval, want 1", n)
	}
	if err := c.Invalidate(t.Context(), f.sale.ID); err == nil {
		t.Fatal("Invalidate with memcached down succeeded")
	}
}

// TestSalesRemainingIsLive reserves a unit after the sale was cached: the
// next read shows it at once, without a repository read.
func TestSalesRemainingIsLive(t *testing.T) {
	f := newFixture(t)
	c := f.cache(t, []int64{f.sale.ID})
	if v := mustSale(t, c, f.sale.ID); v.Remaining != 10 {
		t.Fatalf("remaining %d, want 10", v.Remaining)
	}
	no, _ := order.NewOrderNo()
	if err := f.stock.Reserve(t.Context(), order.Reservation{OrderNo: no, SaleID: f.sale.ID, UserID: 7}, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if v := mustSale(t, c, f.sale.ID); v.Remaining != 9 || v.Status != order.SaleActive {
		t.Fatalf("remaining %d, status %s; want 9, active", v.Remaining, v.Status)
	}
	assertReads(t, f.repo, 1)
}

func TestSalesStatus(t *testing.T) {
	f := newFixture(t)
	c := f.cache(t, []int64{f.sale.ID}, cache.WithTTL(time.Hour))
	tests := []struct {
		name string
		at   time.Time
		want order.SaleStatus
	}{
		{"before the start", f.sale.StartsAt.Add(-time.Second), order.SaleUpcoming},
		{"during", f.sale.StartsAt, order.SaleActive},
		{"at the end", f.sale.EndsAt, order.SaleEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.mu.Lock()
			f.clock.now = tt.at
			f.clock.mu.Unlock()
			if v := mustSale(t, c, f.sale.ID); v.Status != tt.want {
				t.Fatalf("status %s, want %s", v.Status, tt.want)
			}
		})
	}
	t.Run("sold out", func(t *testing.T) {
		f.clock.mu.Lock()
		f.clock.now = f.sale.StartsAt
		f.clock.mu.Unlock()
		for u := int64(1); u <= 10; u++ {
			no, _ := order.NewOrderNo()
			if err := f.stock.Reserve(t.Context(), order.Reservation{OrderNo: no, SaleID: f.sale.ID, UserID: u}, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if v := mustSale(t, c, f.sale.ID); v.Status != order.SaleSoldOut || v.Remaining != 0 {
			t.Fatalf("status %s, remaining %d; want sold_out, 0", v.Status, v.Remaining)
		}
	})
}

// TestSalesBackendErrors: a stock backend without the sale or a failing
// repository is ErrUnavailable, never a made-up view.
func TestSalesBackendErrors(t *testing.T) {
	t.Run("stock not loaded", func(t *testing.T) {
		f := newFixture(t)
		c := f.cache(t, []int64{f.sale.ID})
		if err := f.mc.Delete(f.stock.Key(f.sale.ID)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Sale(t.Context(), f.sale.ID)
		if !errors.Is(err, order.ErrUnavailable) || !errors.Is(err, order.ErrStockNotLoaded) {
			t.Fatalf("Sale = %v, want ErrUnavailable wrapping ErrStockNotLoaded", err)
		}
	})
	t.Run("repository closed", func(t *testing.T) {
		f := newFixture(t)
		c := f.cache(t, []int64{f.sale.ID})
		if err := f.repo.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := c.Sale(t.Context(), f.sale.ID)
		if !errors.Is(err, order.ErrUnavailable) {
			t.Fatalf("Sale = %v, want ErrUnavailable", err)
		}
	})
}

// countingHandler counts the log records at Warn and above.
type countingHandler struct{ n atomic.Int64 }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// cacheRequests reads seckill_cache_requests_total{result} from reg.
func cacheRequests(tb testing.TB, reg *prometheus.Registry, result string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "seckill_cache_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
