package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
)

// TestWorkersSharePartitions: two workers on four persist partitions both
// persist, each order exactly once, and when one stops the other takes
// its partitions over and persists what arrives next.
func TestWorkersSharePartitions(t *testing.T) {
	s := newSystem(t, "redis", func(c *config.API) { c.PersistPartitions = 4 })
	ctx := context.Background()
	type running struct {
		w    *app.Worker
		stop func() error
	}
	start := func() running {
		w, err := app.NewWorker(ctx, config.Worker{
			AMQPURL: amqpURL, MySQLDSN: s.dsn, AdminAddr: "127.0.0.1:0",
			BatchSize: 64, BatchWait: 10 * time.Millisecond, Prefetch: 128, ShutdownTimeout: 10 * time.Second,
		}, testLog(t), app.Overrides{Topology: &s.topology})
		if err != nil {
			t.Fatalf("NewWorker: %v", err)
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		var (
			once    sync.Once
			stopErr error
		)
		r := running{w: w, stop: func() error {
			once.Do(func() { cancel(); stopErr = <-done })
			return stopErr
		}}
		t.Cleanup(func() { _ = r.stop() })
		return r
	}
	inserted := func(r running) float64 {
		var d dto.Metric
		if err := r.w.Metrics.WorkerOrders.WithLabelValues("inserted").Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetCounter().GetValue()
	}
	w1, w2 := start(), start()

	// Both workers hold two partitions each once they have heard of each
	// other (a heartbeat a second, a rebalance a second); a loaded machine
	// may take longer.
	held := func(r running) float64 {
		var d dto.Metric
		if err := r.w.Metrics.WorkerPartitions.Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetGauge().GetValue()
	}
	for deadline := time.Now().Add(30 * time.Second); held(w1) != 2 || held(w2) != 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("partitions held after 30s: worker 1 %v, worker 2 %v; want 2 each", held(w1), held(w2))
		}
	}
	var sales []int64
	for range 4 {
		sales = append(sales, s.createSale(t, 100, 0))
	}
	user := int64(1)
	buy := func(n int) {
		for _, sale := range sales {
			for range n {
				if r := s.buy(t, sale, s.token(t, user)); r.status != 202 {
					t.Fatalf("buy: %d %v", r.status, r.body)
				}
				user++
			}
		}
	}
	buy(5)
	for _, sale := range sales {
		if rec := s.drained(t, sale); rec.Persisted != 5 || !rec.Consistent {
			t.Fatalf("sale %d: %+v", sale, rec)
		}
	}
	for i, r := range []running{w1, w2} {
		var d dto.Metric
		if err := r.w.Metrics.WorkerPartitions.Write(&d); err != nil {
			t.Fatal(err)
		}
		if got := d.GetGauge().GetValue(); got != 2 {
			t.Errorf("worker %d holds %v partitions, want 2", i+1, got)
		}
	}
	a, b := inserted(w1), inserted(w2)
	// A batch whose commit answer was lost is retried and found persisted
	// (a duplicate), so the two may count fewer than 20 between them.
	if a == 0 || b == 0 || a+b > 20 {
		t.Fatalf("inserted: worker 1 %v, worker 2 %v; want both persisting, at most 20 in all", a, b)
	}

	// One leaves: the other takes every partition over.
	if err := w2.stop(); err != nil {
		t.Fatalf("stop worker 2: %v", err)
	}
	buy(5)
	for _, sale := range sales {
		if rec := s.drained(t, sale); rec.Persisted != 10 || !rec.Consistent {
			t.Fatalf("sale %d after a worker left: %+v", sale, rec)
		}
	}
	if got := inserted(w1) + inserted(w2); got != 40 {
		t.Fatalf("inserted %v in all, want 40", got)
	}
}
