package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// releaseStock answers Release with fixed results; the rest of order.Stock
// is never called.
type releaseStock struct {
	order.Stock
	released bool
	err      error
}

func (s releaseStock) Release(context.Context, int64, string) (bool, error) { return s.released, s.err }

func TestCountReleases(t *testing.T) {
	m := metrics.Discard()
	initAPISeries(m, config.BackendRedis)
	for _, tc := range []struct {
		stock   releaseStock
		outcome string
	}{
		{releaseStock{released: true}, compensationReleased},
		{releaseStock{released: false}, compensationNoop},
		{releaseStock{err: errors.New("redis down")}, compensationError},
		{releaseStock{released: true}, compensationReleased},
	} {
		s := countReleases(tc.stock, m)
		got, err := s.Release(context.Background(), 1, "o-1")
		if got != tc.stock.released || !errors.Is(err, tc.stock.err) {
			t.Fatalf("Release = %v, %v; want the wrapped stock's %v, %v", got, err, tc.stock.released, tc.stock.err)
		}
	}
	for outcome, want := range map[string]float64{compensationReleased: 2, compensationNoop: 1, compensationError: 1} {
		if got := value(t, m.Compensations.WithLabelValues(outcome)); got != want {
			t.Errorf("compensations{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

type batchStore struct{ err error }

func (s batchStore) PersistBatch(context.Context, []order.Order) (order.BatchResult, error) {
	return order.BatchResult{}, s.err
}

func (s batchStore) RecordDeadLetter(context.Context, order.DeadLetter) (int64, error) {
	return 0, s.err
}

func (s batchStore) PassFence(context.Context, string, time.Time) error { return s.err }

func TestLastBatchStore(t *testing.T) {
	m := metrics.Discard()
	failing := lastBatchStore{BatchStore: batchStore{err: errors.New("deadlock")}, m: m}
	if _, err := failing.PersistBatch(context.Background(), nil); err == nil {
		t.Fatal("the wrapped store's error was lost")
	}
	if got := value(t, m.WorkerLastBatch); got != 0 {
		t.Fatalf("a failed batch set the last-batch time to %v", got)
	}
	before := float64(time.Now().Unix())
	ok := lastBatchStore{BatchStore: batchStore{}, m: m}
	if _, err := ok.PersistBatch(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := value(t, m.WorkerLastBatch); got < before {
		t.Fatalf("last-batch time %v is before the batch (%v)", got, before)
	}
}

// gaugeAPI is an embedded api whose background loops are not started, so
// that a test drives the gauges itself.
func gaugeAPI(t *testing.T) (*API, *slog.Logger) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := NewAPI(context.Background(), config.API{
		JWTSecret: "observe-test-secret-0123456789abcdef", BodyLimit: 4096, ConfirmWindow: 16,
		ShutdownTimeout: 5 * time.Second, DemoStock: 10, WorkerBatch: 16,
	}, log, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	return a, log
}

// TestSaleGauges runs the refresher's step against the embedded backends:
// an open sale gets its gauges, a sale long over does not, and the series
// of a sale that left the window are dropped.
func TestSaleGauges(t *testing.T) {
	ctx := context.Background()
	a, log := gaugeAPI(t)

	now := time.Now().UTC()
	open, err := a.UseCases.Catalog.CreateSale(ctx, order.NewSale{Name: "open", TotalStock: 7, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	old, err := a.UseCases.Catalog.CreateSale(ctx, order.NewSale{Name: "old", TotalStock: 3, StartsAt: now.Add(-3 * time.Hour), EndsAt: now.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.UseCases.Purchases.Place(ctx, open.ID, 42); err != nil {
		t.Fatal(err)
	}

	g := &saleGauges{catalog: a.UseCases.Catalog, repo: a.Repo, m: a.Metrics, log: log, shown: map[int64]bool{old.ID: true}}
	setSaleGauges(a.Metrics, order.Reconciliation{SaleID: old.ID, TotalStock: 3, Remaining: 3})
	g.refresh(ctx)

	label := func(id int64) string { return strconv.FormatInt(id, 10) }
	if got := value(t, a.Metrics.SaleRemaining.WithLabelValues(label(open.ID))); got != 6 {
		t.Errorf("remaining of the open sale = %v, want 6", got)
	}
	// The embedded worker is not running: the order is reserved, in flight.
	if got := value(t, a.Metrics.ReconcileInFlight.WithLabelValues(label(open.ID))); got != 1 {
		t.Errorf("in flight = %v, want 1", got)
	}
	if got := value(t, a.Metrics.ReconcileGap.WithLabelValues(label(open.ID))); got != 0 {
		t.Errorf("gap = %v, want 0", got)
	}
	if n := series(a.Metrics.SaleRemaining); n != 1 {
		t.Errorf("%d remaining series, want only the open sale's (the old one's must be dropped)", n)
	}
	if n := series(a.Metrics.ReconcileGap); n != 1 {
		t.Errorf("%d gap series, want 1", n)
	}
}

// TestSaleGaugesBigSaleFirstSeen: a sale above fullReconcileUnits that the
// gauges see for the first time (a new sale, or an api just started) is not
// reconciled in full at once, which would read all its orders and
// reservations mid-rush, nor at the first quiet tick right after the rush:
// the counts stand until a quiet tick fullReconcileEvery after it was
// first seen, which reconciles it.
func TestSaleGaugesBigSaleFirstSeen(t *testing.T) {
	ctx := context.Background()
	a, log := gaugeAPI(t)

	now := time.Now().UTC()
	big, err := a.UseCases.Catalog.CreateSale(ctx, order.NewSale{Name: "big", TotalStock: fullReconcileUnits + 1, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.UseCases.Purchases.Place(ctx, big.ID, 42); err != nil {
		t.Fatal(err)
	}
	g := &saleGauges{catalog: a.UseCases.Catalog, repo: a.Repo, m: a.Metrics, log: log}
	counts := [2]int64{fullReconcileUnits, 0} // remaining, sold: the worker is not running
	label := strconv.FormatInt(big.ID, 10)

	g.refresh(ctx)
	if got := g.seen[big.ID].fullAt; got == counts {
		t.Fatalf("first tick reconciled the big sale in full (at %v); want the counts only", got)
	}
	if got := value(t, a.Metrics.ReconcileInFlight.WithLabelValues(label)); got != 1 {
		t.Errorf("in flight after the first tick = %v, want 1", got)
	}

	g.refresh(ctx) // nothing moved, but it was first seen just now
	if got := g.seen[big.ID].fullAt; got == counts {
		t.Fatalf("a quiet tick right after the first reconciled the big sale in full; want it to wait %v", fullReconcileEvery)
	}

	seen := g.seen[big.ID]
	seen.full = seen.full.Add(-fullReconcileEvery) // as if first seen that long ago
	g.seen[big.ID] = seen
	g.refresh(ctx)
	if got := g.seen[big.ID].fullAt; got != counts {
		t.Errorf("quiet tick %v after the first: last full reconciliation at %v, want one at %v", fullReconcileEvery, got, counts)
	}
	if got := value(t, a.Metrics.ReconcileInFlight.WithLabelValues(label)); got != 1 {
		t.Errorf("in flight after the full reconciliation = %v, want 1", got)
	}
}

// value reads one counter or gauge.
func value(tb testing.TB, m prometheus.Metric) float64 {
	tb.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		tb.Fatal(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

// series counts the series a collector exports.
func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
