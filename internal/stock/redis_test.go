package stock_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/stock/stocktest"
	"github.com/seckill/seckill/internal/testenv"
)

const redisAddr = "127.0.0.1:6379"

// realRedis returns a client of the Redis server on this machine and a key
// prefix of its own (see redistest.Prefix).
// Without a server the test skips, or fails when SECKILL_REQUIRE_SERVICES=1.
func realRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	// A pool large enough for the start-gate test's burst, with a patient
	// pool timeout: a slow shared machine must not turn into errors.
	client := redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 64, PoolTimeout: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		testenv.Need(tb, "redis at "+redisAddr, err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	return client, redistest.Prefix(tb, client)
}

// memRedis returns a client of a fresh in-process Redis.
func memRedis(tb testing.TB) (*redis.Client, *miniredis.Miniredis) {
	tb.Helper()
	srv := miniredis.RunT(tb)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	tb.Cleanup(func() { _ = client.Close() })
	return client, srv
}

// backends are the Redis servers every test here runs on: a single server,
// an in-process Redis and the local Redis Cluster.
var backends = []struct {
	name string
	open func(tb testing.TB, opts ...stock.Option) *stock.Redis
}{
	{"redis", func(tb testing.TB, opts ...stock.Option) *stock.Redis {
		tb.Helper()
		client, prefix := realRedis(tb)
		return stock.NewRedis(client, append([]stock.Option{stock.WithPrefix(prefix)}, opts...)...)
	}},
	{"miniredis", func(tb testing.TB, opts ...stock.Option) *stock.Redis {
		tb.Helper()
		client, _ := memRedis(tb)
		return stock.NewRedis(client, opts...)
	}},
	{"cluster", func(tb testing.TB, opts ...stock.Option) *stock.Redis {
		tb.Helper()
		client := redistest.Cluster(tb)
		return stock.NewRedis(client, append([]stock.Option{stock.WithPrefix(redistest.Prefix(tb, client))}, opts...)...)
	}},
}

func TestRedisContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.open(t) // skip the whole suite at once without a server
			stocktest.Run(t, func(tb testing.TB) order.Stock { return b.open(tb) })
		})
	}
}

func TestRedisReserveBatch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			testReserveBatch(t, func(tb testing.TB) batchReserver { return b.open(tb) })
		})
	}
}

// TestRedisReserveBatchChunks sends a batch larger than one script call
// takes: the calls stay in order, so the later duplicate sees the earlier.
func TestRedisReserveBatchChunks(t *testing.T) {
	s := backends[1].open(t)
	const n = 1200
	warm(t, s, 1, n)
	batch := make([]order.Reservation, 0, n+1)
	for i := range n {
		batch = append(batch, reservation(1, int64(i+1), fmt.Sprintf("o-%d", i)))
	}
	batch = append(batch, reservation(1, 1, "o-dup"))
	errs := s.ReserveBatch(t.Context(), 1, batch, during)
	for i, err := range errs[:n] {
		if err != nil {
			t.Fatalf("reservation %d: %v", i, err)
		}
	}
	var ap *order.AlreadyPurchasedError
	if !errors.As(errs[n], &ap) || ap.OrderNo != "o-0" {
		t.Fatalf("last reservation: %v, want already purchased with o-0", errs[n])
	}
	if rem, err := s.Remaining(t.Context(), 1); err != nil || rem != 0 {
		t.Fatalf("Remaining = %d, %v; want 0", rem, err)
	}
}

func TestRedisKeyLayout(t *testing.T) {
	client, srv := memRedis(t)
	s := stock.NewRedis(client, stock.WithPrefix("shop"))
	warm(t, s, 42, 2)
	if err := s.Reserve(t.Context(), reservation(42, 7, "o-1"), during); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"shop:{s42}:stock":  "string",
		"shop:{s42}:buyers": "hash",
		"shop:{s42}:resv":   "hash",
		"shop:{s42}:meta":   "hash",
		"shop:{s42}:pend":   "zset",
	}
	keys := srv.Keys()
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for _, k := range keys {
		if want[k] != srv.Type(k) {
			t.Errorf("key %s of type %s, want %q", k, srv.Type(k), want[k])
		}
	}
	if got, _ := srv.Get("shop:{s42}:stock"); got != "1" {
		t.Errorf("stock = %q, want 1", got)
	}
	if got := srv.HGet("shop:{s42}:buyers", "7"); got != "o-1" {
		t.Errorf("buyers[7] = %q, want o-1", got)
	}
	if got := srv.HGet("shop:{s42}:resv", "o-1"); got != "R:7" {
		t.Errorf("resv[o-1] = %q, want R:7", got)
	}
	meta := map[string]string{
		"starts_at_ms": fmt.Sprint(startsAt.UnixMilli()),
		"ends_at_ms":   fmt.Sprint(endsAt.UnixMilli()),
		"total":        "2",
	}
	for f, v := range meta {
		if got := srv.HGet("shop:{s42}:meta", f); got != v {
			t.Errorf("meta[%s] = %q, want %q", f, got, v)
		}
	}
}

// TestRedisFailsClosedOnPartialLoss removes one key of a loaded sale: every
// decision that needs it refuses and writes nothing.
func TestRedisFailsClosedOnPartialLoss(t *testing.T) {
	for _, lost := range []string{"stock", "meta"} {
		t.Run(lost, func(t *testing.T) {
			client, srv := memRedis(t)
			s := stock.NewRedis(client)
			warm(t, s, 1, 5)
			if err := s.Reserve(t.Context(), reservation(1, 1, "o-1"), during); err != nil {
				t.Fatal(err)
			}
			srv.Del("sk:{s1}:" + lost)
			before, err := s.Dump(t.Context(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Reserve(t.Context(), reservation(1, 2, "o-2"), during); !errors.Is(err, order.ErrStockNotLoaded) {
				t.Fatalf("Reserve = %v, want ErrStockNotLoaded", err)
			}
			released, err := s.Release(t.Context(), 1, "o-1")
			if lost == "stock" && (released || !errors.Is(err, order.ErrStockNotLoaded)) {
				t.Fatalf("Release without a stock key = %v, %v; want false, ErrStockNotLoaded", released, err)
			}
			if lost == "stock" {
				after, err := s.Dump(t.Context(), 1)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("state changed:\nbefore %v\nafter  %v", before, after)
				}
			}
			// A warm-up recomputes the sale from what it can see: o-1 still
			// held without a stock key, released when only the window was lost.
			want := int64(4)
			if lost == "meta" {
				want = 5
			}
			warm(t, s, 1, 5)
			if rem, err := s.Remaining(t.Context(), 1); err != nil || rem != want {
				t.Fatalf("Remaining after warm-up = %d, %v; want %d", rem, err, want)
			}
		})
	}
}

func TestRedisWarmConflict(t *testing.T) {
	client, _ := memRedis(t)
	s := stock.NewRedis(client)
	warm(t, s, 1, 5)
	if err := s.Reserve(t.Context(), reservation(1, 1, "o-1"), during); err != nil {
		t.Fatal(err)
	}
	before, err := s.Dump(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Warm(t.Context(), order.StockSale{ID: 1, TotalStock: 5, StartsAt: startsAt, EndsAt: endsAt, Rebuild: true,
		Persisted: []order.Order{
			{OrderNo: "o-9", SaleID: 1, UserID: 9, Status: order.StatusCreated},
			{OrderNo: "o-1", SaleID: 1, UserID: 2, Status: order.StatusCreated},
		}})
	if !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("Warm with an order held by another user = %v, want ErrInvalid", err)
	}
	after, err := s.Dump(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused warm-up wrote:\nbefore %v\nafter  %v", before, after)
	}
}

func TestRedisWarmInvalid(t *testing.T) {
	client, srv := memRedis(t)
	s := stock.NewRedis(client)
	tests := []struct {
		name string
		sale order.StockSale
	}{
		{"no id", order.StockSale{TotalStock: 1, StartsAt: startsAt, EndsAt: endsAt}},
		{"negative total", order.StockSale{ID: 1, TotalStock: -1, StartsAt: startsAt, EndsAt: endsAt}},
		{"empty window", order.StockSale{ID: 1, TotalStock: 1, StartsAt: endsAt, EndsAt: startsAt}},
		{"order of another sale", order.StockSale{ID: 1, TotalStock: 1, StartsAt: startsAt, EndsAt: endsAt,
			Persisted: []order.Order{{OrderNo: "o", SaleID: 2, UserID: 1}}}},
		{"order without user", order.StockSale{ID: 1, TotalStock: 1, StartsAt: startsAt, EndsAt: endsAt,
			Persisted: []order.Order{{OrderNo: "o", SaleID: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Warm(t.Context(), tt.sale); !errors.Is(err, order.ErrInvalid) {
				t.Fatalf("Warm = %v, want ErrInvalid", err)
			}
			if keys := srv.Keys(); len(keys) != 0 {
				t.Fatalf("keys written: %v", keys)
			}
		})
	}
}

// TestRedisUnavailable stops the server: every method fails closed with
// ErrUnavailable.
func TestRedisUnavailable(t *testing.T) {
	srv := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	s := stock.NewRedis(client)
	warm(t, s, 1, 5)
	srv.Close()
	ctx := t.Context()

	calls := stockCalls(ctx, s)
	_, dumpErr := s.Dump(ctx, 1)
	calls = append(calls,
		call{"ReserveBatch", s.ReserveBatch(ctx, 1, []order.Reservation{reservation(1, 1, "o-1")}, during)[0]},
		call{"Dump", dumpErr})
	assertUnavailable(t, calls)
}

// TestRedisScriptCacheFlushed runs the scripts after the server forgot
// them: EVALSHA misses and the script is sent again.
func TestRedisScriptCacheFlushed(t *testing.T) {
	client, _ := memRedis(t)
	s := stock.NewRedis(client)
	warm(t, s, 1, 5)
	if err := client.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(t.Context(), reservation(1, 1, "o-1"), during); err != nil {
		t.Fatalf("Reserve after SCRIPT FLUSH: %v", err)
	}
	if err := client.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Release(t.Context(), 1, "o-1"); !ok || err != nil {
		t.Fatalf("Release after SCRIPT FLUSH = %v, %v", ok, err)
	}
}

func TestRedisMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	s := backends[1].open(t, stock.WithMetrics(m))
	warm(t, s, 1, 5)
	for u := int64(1); u <= 3; u++ {
		_ = s.Reserve(t.Context(), reservation(1, u, fmt.Sprint("o-", u)), during)
	}
	s.ReserveBatch(t.Context(), 1, []order.Reservation{reservation(1, 8, "o-8"), reservation(1, 9, "o-9")}, during)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var observed, batches uint64
	var batched float64
	for _, f := range families {
		switch f.GetName() {
		case "seckill_stock_reserve_duration_seconds":
			for _, m := range f.GetMetric() {
				if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "backend" || m.GetLabel()[0].GetValue() != "redis" {
					t.Errorf("reserve duration labels %v, want backend=redis only", m.GetLabel())
				}
				observed += m.GetHistogram().GetSampleCount()
			}
		case "seckill_stock_reserve_batch_size":
			h := f.GetMetric()[0].GetHistogram()
			batches, batched = h.GetSampleCount(), h.GetSampleSum()
		}
	}
	if observed != 4 {
		t.Errorf("%d reserve durations observed, want one per call (4)", observed)
	}
	if batches != 4 || batched != 5 {
		t.Errorf("%d batches of %v reservations observed, want 4 of 5", batches, batched)
	}
}

func TestNewRedisRejectsTaggedPrefix(t *testing.T) {
	client, _ := memRedis(t)
	for _, p := range []string{"", "a{b", "a}b"} {
		t.Run(fmt.Sprintf("%q", p), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("NewRedis accepted prefix %q", p)
				}
			}()
			stock.NewRedis(client, stock.WithPrefix(p))
		})
	}
}
