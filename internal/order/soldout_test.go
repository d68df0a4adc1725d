package order_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
)

// instance is one api's use cases with their own Redis client.
type instance struct {
	uc order.UseCases
}

// redisServers are the Redis servers the sold-out bus is proven on: an
// in-process Redis and the local Redis Cluster, where a PUBLISH reaches the
// subscribers of every node. connect opens one instance's client; prefix
// names the run's keys and bus channel.
var redisServers = []struct {
	name string
	open func(tb testing.TB) (connect func() redis.UniversalClient, prefix string)
}{
	{"miniredis", func(tb testing.TB) (func() redis.UniversalClient, string) {
		return miniConnect(tb, miniredis.RunT(tb)), "sk"
	}},
	{"cluster", func(tb testing.TB) (func() redis.UniversalClient, string) {
		prefix := redistest.Prefix(tb, redistest.Cluster(tb))
		return func() redis.UniversalClient { return redistest.Cluster(tb) }, prefix
	}},
}

// miniConnect opens clients of an in-process Redis, closed in cleanup.
func miniConnect(tb testing.TB, mr *miniredis.Miniredis) func() redis.UniversalClient {
	return func() redis.UniversalClient {
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		tb.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
}

// commandCounter counts the commands the instances send to Redis.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// subscribers counts the subscribers of channel on every node of a cluster
// (each node knows only its own), or on the one server.
func subscribers(ctx context.Context, rdb redis.UniversalClient, channel string) (int64, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		n, err := rdb.PubSubNumSub(ctx, channel).Result()
		return n[channel], err
	}
	var total atomic.Int64
	err := cc.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
		n, err := node.PubSubNumSub(ctx, channel).Result()
		total.Add(n[channel])
		return err
	})
	return total.Load(), err
}

// newInstances starts n instances' use cases, each on its own client of the server,
// sharing one store, one queue and the sold-out bus.
func newInstances(t *testing.T, n int, connect func() redis.UniversalClient, prefix string) (*commandCounter, []instance) {
	t.Helper()
	log, repo, q := openLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	count := &commandCounter{}
	out := make([]instance, n)
	done := make(chan struct{}, n)
	var rdb redis.UniversalClient
	for i := range out {
		rdb = connect()
		rdb.AddHook(count)
		bus := stock.NewRedisBus(rdb, prefix, log)
		uc := order.New(stock.NewRedis(rdb, stock.WithPrefix(prefix)), q, repo, log, order.WithSoldOutBus(bus))
		go func() { _ = bus.Run(ctx, uc.Purchases.Announced); done <- struct{}{} }()
		out[i] = instance{uc: uc}
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			<-done
		}
	})
	// Let the subscriptions settle before anything is announced.
	for deadline := time.Now().Add(5 * time.Second); ; {
		subs, err := subscribers(ctx, rdb, prefix+":soldout")
		if err == nil && subs >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriptions never appeared: %d of %d, %v", subs, n, err)
		}
		time.Sleep(time.Millisecond)
	}
	return count, out
}

// quietPlace places and reports whether the stock backend was left alone.
func quietPlace(count *commandCounter, uc order.UseCases, sale, user int64) (quiet bool, err error) {
	before := count.n.Load()
	_, err = uc.Purchases.Place(context.Background(), sale, user)
	return count.n.Load() == before, err
}

// waitQuiet waits until a sold-out answer no longer touches the backend.
func waitQuiet(t *testing.T, count *commandCounter, uc order.UseCases, sale, user int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		quiet, err := quietPlace(count, uc, sale, user)
		if !errors.Is(err, order.ErrSoldOut) {
			t.Fatalf("place: %v, want sold out", err)
		}
		if quiet {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("sold-out answers still reach the stock backend")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSoldOutFlag runs two instances on two clients of each server: what one
// learns about a sale running out (or getting units back) reaches the other
// over the bus.
func TestSoldOutFlag(t *testing.T) {
	for _, srv := range redisServers {
		t.Run(srv.name, func(t *testing.T) {
			connect, prefix := srv.open(t)
			testSoldOutFlag(t, connect, prefix)
		})
	}
}

func testSoldOutFlag(t *testing.T, connect func() redis.UniversalClient, prefix string) {
	count, in := newInstances(t, 2, connect, prefix)
	a, b := in[0].uc, in[1].uc
	ctx := context.Background()
	now := time.Now()
	sale, err := a.Catalog.CreateSale(ctx, order.NewSale{Name: "flag", PriceCents: 1, TotalStock: 2,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Purchases.Place(ctx, sale.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Purchases.Place(ctx, sale.ID, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Purchases.Place(ctx, sale.ID, 3); !errors.Is(err, order.ErrSoldOut) {
		t.Fatalf("third buyer: %v, want sold out", err)
	}

	// Instance a learnt it from the backend, instance b from a's
	// announcement: both now answer without the backend.
	waitQuiet(t, count, a, sale.ID, 4)
	waitQuiet(t, count, b, sale.ID, 5)

	// A buyer asking again still hears already_purchased with the order.
	quiet, err := quietPlace(count, b, sale.ID, 1)
	var ap *order.AlreadyPurchasedError
	if !errors.As(err, &ap) || ap.OrderNo != first.OrderNo || !quiet {
		t.Fatalf("buyer again: %v (quiet %v), want already purchased %s without the backend", err, quiet, first.OrderNo)
	}

	// Units back (a warm-up on instance a) clears the flag everywhere.
	if _, err := a.Catalog.Warmup(ctx, sale.ID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		quiet, err := quietPlace(count, b, sale.ID, 6)
		if !quiet {
			if !errors.Is(err, order.ErrSoldOut) {
				t.Fatalf("after the warm-up: %v, want sold out from the backend", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("instance b kept its flag after units-back was announced")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
