package stock_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/stock/stocktest"
)

// TestRedisReplicaWaitContract runs the contract on the Redis Cluster with
// every reservation waiting for its replica: the script on a pinned
// connection decides exactly as through the cluster client.
func TestRedisReplicaWaitContract(t *testing.T) {
	open := backends[2].open
	open(t) // skip the whole suite at once without the cluster
	stocktest.Run(t, func(tb testing.TB) order.Stock {
		return open(tb, stock.WithReplicaWait(1, time.Second))
	})
}

// shortWaits is the value of seckill_redis_wait_short_total in reg.
func shortWaits(tb testing.TB, reg *prometheus.Registry) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "seckill_redis_wait_short_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	tb.Fatal("seckill_redis_wait_short_total not registered")
	return 0
}

// TestRedisReplicaWait reserves with a wait for replicas on servers with
// enough replicas and with too few: the reservations stand either way, and
// only the calls that granted a unit without enough acknowledgements are
// counted short. Each server's master of the sale has one replica on the
// cluster, none on the single Redis and in miniredis.
func TestRedisReplicaWait(t *testing.T) {
	tests := []struct {
		backend  int // index in backends
		replicas int
		timeout  time.Duration
		short    bool // whether every granting call comes short
	}{
		// A generous timeout: a busy machine must not make the replica late.
		{backend: 2, replicas: 1, timeout: time.Second, short: false},
		{backend: 2, replicas: 2, timeout: 20 * time.Millisecond, short: true},
		{backend: 0, replicas: 1, timeout: 10 * time.Millisecond, short: true},
		{backend: 1, replicas: 1, timeout: 10 * time.Millisecond, short: true},
	}
	for _, tt := range tests {
		b := backends[tt.backend]
		t.Run(fmt.Sprintf("%s/wait=%d", b.name, tt.replicas), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			s := b.open(t, stock.WithMetrics(metrics.New(reg)), stock.WithReplicaWait(tt.replicas, tt.timeout))
			warm(t, s, 1, 3)

			// Three granting calls: two alone, one batch of two (one granted,
			// one a duplicate buyer).
			for u := int64(1); u <= 2; u++ {
				if err := s.Reserve(t.Context(), reservation(1, u, fmt.Sprint("o-", u)), during); err != nil {
					t.Fatalf("Reserve user %d: %v", u, err)
				}
			}
			errs := s.ReserveBatch(t.Context(), 1, []order.Reservation{reservation(1, 3, "o-3"), reservation(1, 1, "o-1b")}, during)
			if errs[0] != nil || errs[1] == nil {
				t.Fatalf("ReserveBatch = %v, want the first reserved and the second refused", errs)
			}
			// A call that grants nothing is never short.
			if err := s.Reserve(t.Context(), reservation(1, 4, "o-4"), during); err == nil {
				t.Fatal("Reserve past the stock succeeded")
			}

			if rem, err := s.Remaining(t.Context(), 1); err != nil || rem != 0 {
				t.Fatalf("Remaining = %d, %v; want 0", rem, err)
			}
			for _, no := range []string{"o-1", "o-2", "o-3"} {
				if res, err := s.Lookup(t.Context(), []int64{1}, no); err != nil || res.State != order.Reserved {
					t.Errorf("Lookup %s = %+v, %v; want it reserved", no, res, err)
				}
			}
			want := 0.0
			if tt.short {
				want = 3
			}
			if got := shortWaits(t, reg); got != want {
				t.Fatalf("seckill_redis_wait_short_total = %v, want %v", got, want)
			}
		})
	}
}

// TestRedisReplicaWaitScriptFlushed reserves with a wait after the master
// forgot the script: the pipeline's EVALSHA misses and EVAL runs it.
func TestRedisReplicaWaitScriptFlushed(t *testing.T) {
	for _, b := range []int{1, 2} {
		be := backends[b]
		t.Run(be.name, func(t *testing.T) {
			var client redis.UniversalClient
			var s *stock.Redis
			if be.name == "cluster" {
				c := redistest.Cluster(t)
				client = c
				s = stock.NewRedis(c, stock.WithPrefix(redistest.Prefix(t, c)), stock.WithReplicaWait(1, time.Second))
			} else {
				c, _ := memRedis(t)
				client = c
				s = stock.NewRedis(c, stock.WithReplicaWait(1, time.Millisecond))
			}
			warm(t, s, 1, 5)
			flush := func() {
				t.Helper()
				key := fmt.Sprint("{s", 1, "}") // any key of the sale's slot
				var err error
				if cc, ok := client.(*redis.ClusterClient); ok {
					var m *redis.Client
					if m, err = cc.MasterForKey(t.Context(), key); err == nil {
						err = m.ScriptFlush(t.Context()).Err()
					}
				} else {
					err = client.ScriptFlush(t.Context()).Err()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			for u := int64(1); u <= 2; u++ {
				flush()
				if err := s.Reserve(t.Context(), reservation(1, u, fmt.Sprint("o-", u)), during); err != nil {
					t.Fatalf("Reserve after SCRIPT FLUSH: %v", err)
				}
			}
			if rem, err := s.Remaining(t.Context(), 1); err != nil || rem != 3 {
				t.Fatalf("Remaining = %d, %v; want 3", rem, err)
			}
		})
	}
}

// records collects the log records of a test.
type records struct {
	mu   sync.Mutex
	msgs []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r)
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// TestRedisReplicaWaitLogsRarely comes short on every call: each is
// counted, one is logged.
func TestRedisReplicaWaitLogsRarely(t *testing.T) {
	client, _ := memRedis(t)
	reg := prometheus.NewRegistry()
	h := &records{}
	s := stock.NewRedis(client, stock.WithMetrics(metrics.New(reg)), stock.WithLogger(slog.New(h)), stock.WithReplicaWait(1, time.Millisecond))
	warm(t, s, 1, 10)
	for u := int64(1); u <= 5; u++ {
		if err := s.Reserve(t.Context(), reservation(1, u, fmt.Sprint("o-", u)), during); err != nil {
			t.Fatal(err)
		}
	}
	if got := shortWaits(t, reg); got != 5 {
		t.Fatalf("seckill_redis_wait_short_total = %v, want 5", got)
	}
	if len(h.msgs) != 1 || h.msgs[0].Level != slog.LevelWarn {
		t.Fatalf("%d log records (%v), want one warning", len(h.msgs), h.msgs)
	}
}

func TestNewRedisRejectsImpossibleWait(t *testing.T) {
	client, _ := memRedis(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { _ = ring.Close() })
	tests := []struct {
		name     string
		client   redis.UniversalClient
		replicas int
		timeout  time.Duration
	}{
		{"negative", client, -1, time.Second},
		{"forever", client, 1, 0},
		{"under a millisecond", client, 1, time.Microsecond},
		{"ring", ring, 1, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("NewRedis accepted a wait for %d replicas within %v on %T", tt.replicas, tt.timeout, tt.client)
				}
			}()
			stock.NewRedis(tt.client, stock.WithReplicaWait(tt.replicas, tt.timeout))
		})
	}
	stock.NewRedis(client, stock.WithReplicaWait(0, 0)) // off: nothing to check
}
