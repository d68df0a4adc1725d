package order_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
)

// instance is one api's service over a shared in-process Redis.
type instance struct {
	svc *order.Service
}

func newInstances(t *testing.T, n int) (*miniredis.Miniredis, []instance) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mr := miniredis.RunT(t)
	repo, err := store.OpenSQLite(context.Background(), t.TempDir()+"/sk.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	q := mq.NewMemory()
	t.Cleanup(func() { _ = q.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	out := make([]instance, n)
	done := make(chan struct{}, n)
	for i := range out {
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		bus := stock.NewRedisBus(rdb, "sk", log)
		svc := order.NewService(stock.NewRedis(rdb), q, repo, log, order.WithSoldOutBus(bus))
		go func() { _ = bus.Run(ctx, svc.Announced); done <- struct{}{} }()
		out[i] = instance{svc: svc}
		t.Cleanup(func() { _ = rdb.Close() })
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			<-done
		}
	})
	// Let the subscriptions settle before anything is announced.
	for deadline := time.Now().Add(5 * time.Second); len(mr.PubSubNumSub("sk:soldout")) == 0 || mr.PubSubNumSub("sk:soldout")["sk:soldout"] < n; {
		if time.Now().After(deadline) {
			t.Fatal("subscriptions never appeared")
		}
		time.Sleep(time.Millisecond)
	}
	return mr, out
}

// quietPlace places and reports whether the stock backend was left alone.
func quietPlace(mr *miniredis.Miniredis, svc *order.Service, sale, user int64) (quiet bool, err error) {
	before := mr.CommandCount()
	_, err = svc.Place(context.Background(), sale, user)
	return mr.CommandCount() == before, err
}

// waitQuiet waits until a sold-out answer no longer touches the backend.
func waitQuiet(t *testing.T, mr *miniredis.Miniredis, svc *order.Service, sale, user int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		quiet, err := quietPlace(mr, svc, sale, user)
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

func TestSoldOutFlag(t *testing.T) {
	mr, in := newInstances(t, 2)
	a, b := in[0].svc, in[1].svc
	ctx := context.Background()
	now := time.Now()
	sale, err := a.CreateSale(ctx, order.NewSale{Name: "flag", PriceCents: 1, TotalStock: 2,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Place(ctx, sale.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Place(ctx, sale.ID, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Place(ctx, sale.ID, 3); !errors.Is(err, order.ErrSoldOut) {
		t.Fatalf("third buyer: %v, want sold out", err)
	}

	// Instance a learnt it from the backend, instance b from a's
	// announcement: both now answer without the backend.
	waitQuiet(t, mr, a, sale.ID, 4)
	waitQuiet(t, mr, b, sale.ID, 5)

	// A buyer asking again still hears already_purchased with the order.
	quiet, err := quietPlace(mr, b, sale.ID, 1)
	var ap *order.AlreadyPurchasedError
	if !errors.As(err, &ap) || ap.OrderNo != first.OrderNo || !quiet {
		t.Fatalf("buyer again: %v (quiet %v), want already purchased %s without the backend", err, quiet, first.OrderNo)
	}

	// Units back (a warm-up on instance a) clears the flag everywhere.
	if _, err := a.Warmup(ctx, sale.ID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		quiet, err := quietPlace(mr, b, sale.ID, 6)
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
