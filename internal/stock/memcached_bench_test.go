package stock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/testenv"
)

// benchSaleUnits is the stock of each hot sale. When one sells out the
// callers move on to a fresh one, so a benchmark of any length measures
// reservations, never sold-out answers.
const benchSaleUnits = 10000

// benchBackend opens the replicas of one stock backend for a benchmark
// (API processes sharing one server) and reports their summed CAS counts
// (zero for a backend without CAS).
type benchBackend struct {
	name string
	open func(b *testing.B) ([]order.Stock, func() stock.CASStats)
}

var benchBackends = []benchBackend{
	{"redis-lua", func(b *testing.B) ([]order.Stock, func() stock.CASStats) {
		client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", PoolSize: 128, PoolTimeout: 30 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := client.Ping(ctx).Err(); err != nil {
			_ = client.Close()
			testenv.Need(b, "redis at 127.0.0.1:6379", err)
		}
		prefix := "skbench-" + strings.ReplaceAll(uuid.NewString(), "-", "")
		b.Cleanup(func() {
			defer client.Close()
			ctx := context.Background()
			iter := client.Scan(ctx, 0, prefix+":*", 100).Iterator()
			for iter.Next(ctx) {
				_ = client.Unlink(ctx, iter.Val()).Err()
			}
		})
		return []order.Stock{stock.NewRedis(client, stock.WithPrefix(prefix))}, func() stock.CASStats { return stock.CASStats{} }
	}},
	{"redis-cluster", func(b *testing.B) ([]order.Stock, func() stock.CASStats) {
		return clusterBench(b)
	}},
	{"redis-cluster-wait1", func(b *testing.B) ([]order.Stock, func() stock.CASStats) {
		return clusterBench(b, stock.WithReplicaWait(1, 50*time.Millisecond))
	}},
	{"memcache-cas", func(b *testing.B) ([]order.Stock, func() stock.CASStats) {
		s := newMemcached(b)
		return []order.Stock{s}, s.CASStats
	}},
	{"memcache-cas-4procs", func(b *testing.B) ([]order.Stock, func() stock.CASStats) {
		first := newMemcached(b)
		replicas := []*stock.Memcached{first.Memcached}
		for range 3 {
			r, err := stock.NewMemcached(memcachedAddr, stock.WithPrefix(mcPrefix(first.Memcached)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = r.Close() })
			replicas = append(replicas, r)
		}
		out := []order.Stock{first}
		for _, r := range replicas[1:] {
			out = append(out, r)
		}
		return out, func() stock.CASStats {
			var sum stock.CASStats
			for _, r := range replicas {
				st := r.CASStats()
				sum.Writes += st.Writes
				sum.Conflicts += st.Conflicts
			}
			return sum
		}
	}},
}

// clusterBench opens the Redis backend on the local Redis Cluster, whose
// masters have one replica each.
func clusterBench(b *testing.B, opts ...stock.Option) ([]order.Stock, func() stock.CASStats) {
	client := redistest.Cluster(b)
	opts = append([]stock.Option{stock.WithPrefix(redistest.Prefix(b, client))}, opts...)
	return []order.Stock{stock.NewRedis(client, opts...)}, func() stock.CASStats { return stock.CASStats{} }
}

// hotSale is the sale every caller reserves on, replaced by a fresh one
// when it sells out.
type hotSale struct {
	s   order.Stock
	mu  sync.Mutex
	cur atomic.Int64
}

func (h *hotSale) current() int64 { return h.cur.Load() }

// advance warms the next sale unless another caller already replaced
// soldOut.
func (h *hotSale) advance(tb testing.TB, soldOut int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur.Load() != soldOut {
		return
	}
	now := time.Now()
	next := soldOut + 1
	err := h.s.Warm(context.Background(), order.StockSale{ID: next, TotalStock: benchSaleUnits, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(24 * time.Hour), Rebuild: true})
	if err != nil {
		tb.Fatalf("warm sale %d: %v", next, err)
	}
	h.cur.Store(next)
}

// BenchmarkReserveHotSale reserves units of one hot sale for distinct
// users from 1, 8 and 64 concurrent callers, on Redis (one Lua script per
// reservation; a single server, the Redis Cluster, and the cluster with
// each granting call waiting for its replica) and on memcached (gets + cas): from one process, whose
// concurrent reservations share CAS writes, and from four processes
// (backends with their own clients) that race each other's CAS. It reports
// throughput in ops/s; for memcached also the share of cas writes that lost
// a race (conflicts/cas) and the reservations that gave up
// (unavailable/op).
func BenchmarkReserveHotSale(b *testing.B) {
	for _, be := range benchBackends {
		for _, callers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", be.name, callers), func(b *testing.B) {
				replicas, stats := be.open(b)
				hot := &hotSale{s: replicas[0]}
				hot.advance(b, 0)
				base := stats()
				var next, users, unavailable atomic.Int64
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for c := range callers {
					s := replicas[c%len(replicas)]
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							for {
								id := hot.current()
								no, _ := order.NewOrderNo()
								err := s.Reserve(context.Background(), order.Reservation{OrderNo: no, SaleID: id, UserID: users.Add(1), State: order.Reserved}, time.Now())
								if errors.Is(err, order.ErrSoldOut) {
									hot.advance(b, id)
									continue
								}
								if err != nil {
									unavailable.Add(1)
								}
								break
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
				if st := stats(); st.Writes > base.Writes {
					b.ReportMetric(float64(st.Conflicts-base.Conflicts)/float64(st.Writes-base.Writes), "conflicts/cas")
					b.ReportMetric(float64(unavailable.Load())/float64(b.N), "unavailable/op")
				}
			})
		}
	}
}
