package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

const (
	// saleGaugeInterval is how often the api refreshes the per-sale gauges
	// (remaining stock, reconcile gap) of its open sales.
	saleGaugeInterval = 5 * time.Second
	// saleGaugeWindow keeps a sale's gauges this long after it ends, so
	// the queue draining after a sale is still watched.
	saleGaugeWindow = time.Hour
	// queueProbeInterval is how often the worker asks the broker for the
	// depth of its queues.
	queueProbeInterval = 5 * time.Second
)

// Compensation outcomes, the values of metrics.Compensations' outcome label.
const (
	compensationReleased = "released"
	compensationNoop     = "noop"
	compensationError    = "error"
)

// countedStock counts every guarded release (the compensation of a
// definitely failed publish) by outcome.
type countedStock struct {
	order.Stock
	m *metrics.Metrics
}

// countReleases wraps s so that Release outcomes land in m.Compensations.
func countReleases(s order.Stock, m *metrics.Metrics) order.Stock {
	return countedStock{Stock: s, m: m}
}

func (s countedStock) Release(ctx context.Context, saleID int64, orderNo string) (bool, error) {
	released, err := s.Stock.Release(ctx, saleID, orderNo)
	outcome := compensationNoop
	switch {
	case err != nil:
		outcome = compensationError
	case released:
		outcome = compensationReleased
	}
	s.m.Compensations.WithLabelValues(outcome).Inc()
	return released, err
}

// lastBatchStore records the time of every committed batch.
type lastBatchStore struct {
	order.BatchStore
	m *metrics.Metrics
}

func (s lastBatchStore) PersistBatch(ctx context.Context, orders []order.Order) (order.BatchResult, error) {
	res, err := s.BatchStore.PersistBatch(ctx, orders)
	if err == nil {
		s.m.WorkerLastBatch.SetToCurrentTime()
	}
	return res, err
}

// purchaseRoute is the gin route template of POST /api/v1/sales/{id}/orders,
// the value of the route label the recording and alerting rules select.
const purchaseRoute = "/api/v1/sales/:sale_id/orders"

// initAPISeries creates the api's labelled series at zero, so that rates,
// quantiles and alerts see a counter or histogram from its first scrape:
// a series born in the middle of a spike has no earlier sample, and rate()
// would miss the spike that created it.
func initAPISeries(m *metrics.Metrics, stockBackend string) {
	backend := config.BackendRedis // the embedded mode runs the Redis scripts
	if stockBackend == config.BackendMemcache {
		backend = config.BackendMemcache
	}
	m.ReserveDuration.WithLabelValues(backend)
	m.HTTPDuration.WithLabelValues(purchaseRoute, http.MethodPost)
	for _, class := range []string{"2xx", "4xx", "5xx"} {
		m.HTTPRequests.WithLabelValues(purchaseRoute, http.MethodPost, class)
	}
	for _, r := range metrics.PurchaseResults {
		m.Purchases.WithLabelValues(r)
	}
	for _, k := range []string{metrics.PublishNack, metrics.PublishReturned, metrics.PublishTimeout, metrics.PublishDisconnected} {
		m.PublishFailures.WithLabelValues(k)
	}
	for _, o := range []string{compensationReleased, compensationNoop, compensationError} {
		m.Compensations.WithLabelValues(o)
	}
	for _, o := range []string{"settled", "republished", "released", "failed"} {
		m.SettleOrders.WithLabelValues(o)
	}
}

// initWorkerSeries does the same for the worker's outcomes and store
// retries. The store answered when the worker opened it, so it starts up.
func initWorkerSeries(m *metrics.Metrics) {
	m.WorkerOrders.WithLabelValues("inserted")
	m.WorkerOrders.WithLabelValues("duplicate")
	for _, why := range []string{order.ReasonSoldOut, order.ReasonDuplicateBuyer} {
		m.WorkerOrders.WithLabelValues(why + "_cancelled")
	}
	for _, why := range []string{order.DeadUnknownSale, order.DeadInvalid} {
		m.WorkerOrders.WithLabelValues(why + "_dead_lettered")
	}
	for _, op := range []string{metrics.StorePersist, metrics.StoreDeadLetter, metrics.StoreFence} {
		m.WorkerStoreRetries.WithLabelValues(op)
	}
	m.WorkerStoreUp.Set(1)
}

// saleGauges keeps the per-sale gauges current: every interval it
// reconciles each sale that has not been over for longer than
// saleGaugeWindow and drops the series of sales that left the window.
//
// A full reconciliation reads every order and every reservation of a sale,
// which is cheap for a small sale and heavy for a big one in full swing. So
// a sale above fullReconcileUnits gets the counts-only view each tick
// (remaining from the stock backend, persisted from sales.sold, in flight
// as the difference) and a full reconciliation — which alone can see a gap
// or an orphan — once it has been quiet for a tick, at most every
// fullReconcileEvery. That holds from the first tick that sees the sale
// (a new sale, or any sale after the api starts), which may come in the
// middle of its rush: its first full reconciliation comes at a quiet tick
// at least fullReconcileEvery later.
type saleGauges struct {
	catalog *order.Catalog
	repo    order.Repository
	m       *metrics.Metrics
	log     *slog.Logger
	shown   map[int64]bool
	failing bool
	seen    map[int64]saleSeen
}

type saleSeen struct {
	remaining int64
	full      time.Time // last full reconciliation
	// fullAt are the remaining and sold counts that full reconciliation saw:
	// a quiet sale whose counts have not moved since needs no other.
	fullAt [2]int64
}

const (
	fullReconcileUnits = 10_000
	fullReconcileEvery = time.Minute
	// fullReconcileIdle re-checks even a sale whose counts never moved.
	fullReconcileIdle = 15 * time.Minute
)

func (g *saleGauges) run(ctx context.Context) error {
	t := time.NewTicker(saleGaugeInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, saleGaugeInterval)
		g.refresh(rctx)
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (g *saleGauges) refresh(ctx context.Context) {
	sales, err := g.repo.OpenSales(ctx, time.Now().Add(-saleGaugeWindow))
	if err != nil {
		g.failed(ctx, 0, err)
		return
	}
	seen := make(map[int64]bool, len(sales))
	var firstErr error
	if g.seen == nil {
		g.seen = map[int64]saleSeen{}
	}
	for _, s := range sales {
		seen[s.ID] = true
		if err := g.refreshSale(ctx, s); err != nil && firstErr == nil {
			firstErr = err
			g.failed(ctx, s.ID, err)
		}
	}
	for id := range g.seen {
		if !seen[id] {
			delete(g.seen, id)
		}
	}
	for id := range g.shown {
		if !seen[id] {
			deleteSaleGauges(g.m, id)
		}
	}
	g.shown = seen
	if firstErr == nil && g.failing {
		g.failing = false
		g.log.InfoContext(ctx, "sale gauges refreshed again", "sales", len(sales))
	}
}

func (g *saleGauges) refreshSale(ctx context.Context, s order.Sale) error {
	prev, known := g.seen[s.ID]
	v, err := g.catalog.Sale(ctx, s.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	if !known {
		// As if reconciled now, at counts it never saw: its first full
		// reconciliation waits for a quiet tick fullReconcileEvery from now,
		// as every later one does.
		prev = saleSeen{remaining: -1, full: now, fullAt: [2]int64{-1, -1}}
	}
	quiet := prev.remaining == v.Remaining
	moved := prev.fullAt != [2]int64{v.Remaining, v.Sold}
	since := now.Sub(prev.full)
	if v.TotalStock <= fullReconcileUnits || (quiet && moved && since >= fullReconcileEvery) || since >= fullReconcileIdle {
		r, err := g.catalog.Reconcile(ctx, s.ID)
		if err != nil {
			return err
		}
		setSaleGauges(g.m, r)
		g.seen[s.ID] = saleSeen{remaining: r.Remaining, full: now, fullAt: [2]int64{v.Remaining, v.Sold}}
		return nil
	}
	label := strconv.FormatInt(s.ID, 10)
	g.m.SaleRemaining.WithLabelValues(label).Set(float64(v.Remaining))
	g.m.ReconcilePersisted.WithLabelValues(label).Set(float64(v.Sold))
	g.m.ReconcileInFlight.WithLabelValues(label).Set(float64(v.TotalStock - v.Remaining - v.Sold))
	if !known {
		g.m.ReconcileGap.WithLabelValues(label).Set(0) // until the first full reconciliation
	}
	g.seen[s.ID] = saleSeen{remaining: v.Remaining, full: prev.full, fullAt: prev.fullAt}
	return nil
}

// failed logs the first failure of a run of them; a cancelled ctx is
// shutdown, not a failure.
func (g *saleGauges) failed(ctx context.Context, saleID int64, err error) {
	if g.failing || errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	g.failing = true
	g.log.WarnContext(ctx, "sale gauges not refreshed; they keep their last values", "sale_id", saleID, "err", err)
}

func setSaleGauges(m *metrics.Metrics, r order.Reconciliation) {
	label := strconv.FormatInt(r.SaleID, 10)
	m.ReconcileGap.WithLabelValues(label).Set(float64(r.Gap()))
	m.ReconcileInFlight.WithLabelValues(label).Set(float64(r.ReservedInFlight))
	m.ReconcilePersisted.WithLabelValues(label).Set(float64(r.Persisted))
	m.SaleRemaining.WithLabelValues(label).Set(float64(r.Remaining))
	m.ReconcileOldestInFly.WithLabelValues(label).Set(r.OldestInFlight.Seconds())
}

func deleteSaleGauges(m *metrics.Metrics, saleID int64) {
	label := strconv.FormatInt(saleID, 10)
	m.ReconcileGap.DeleteLabelValues(label)
	m.ReconcileInFlight.DeleteLabelValues(label)
	m.ReconcilePersisted.DeleteLabelValues(label)
	m.SaleRemaining.DeleteLabelValues(label)
	m.ReconcileOldestInFly.DeleteLabelValues(label)
}

// watchQueues publishes the depth of the worker's queues every
// queueProbeInterval until ctx ends; the returned function waits for it to
// stop.
func (w *Worker) watchQueues(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	src := w.source
	go func() {
		defer close(done)
		t := time.NewTicker(queueProbeInterval)
		defer t.Stop()
		failing := false
		for {
			pctx, cancel := context.WithTimeout(ctx, queueProbeInterval)
			depths, err := src.Depths(pctx)
			cancel()
			for _, d := range depths {
				w.Metrics.QueueMessages.WithLabelValues(d.Queue, d.Role).Set(float64(d.Messages))
				w.Metrics.QueueConsumers.WithLabelValues(d.Queue, d.Role).Set(float64(d.Consumers))
			}
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				failing = true
				w.log.Warn("queue depth not read; the gauges keep their last values", "err", err)
			case err == nil && failing:
				failing = false
				w.log.Info("queue depth read again")
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { <-done }
}
