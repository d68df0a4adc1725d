package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// Worker is the batching loop: it gathers deliveries from a Source into
// batches, persists each batch in one Store transaction and settles every
// delivery of the batch after the commit.
type Worker struct {
	src Source
	st  Store
	log *slog.Logger
	m   *metrics.Metrics

	batchSize      int
	batchWait      time.Duration
	persistTimeout time.Duration
	drainTimeout   time.Duration
	requeueMin     time.Duration
	requeueMax     time.Duration

	// failures counts consecutive failed batches; only Run's goroutine
	// touches it.
	failures int
}

// Option configures a Worker.
type Option func(*Worker)

// WithBatchSize sets how many orders a batch gathers before it is persisted
// without waiting (default 128). A message is never split, so a batch may
// exceed it by the orders of its last message.
func WithBatchSize(n int) Option {
	return func(w *Worker) {
		if n > 0 {
			w.batchSize = n
		}
	}
}

// WithBatchWait sets how long a batch lingers for more deliveries after its
// first one (default 20ms). Zero persists whatever has arrived at once.
func WithBatchWait(d time.Duration) Option {
	return func(w *Worker) {
		if d >= 0 {
			w.batchWait = d
		}
	}
}

// WithMetrics records the worker metrics in m. A nil m records nothing.
func WithMetrics(m *metrics.Metrics) Option { return func(w *Worker) { w.m = m } }

// WithPersistTimeout bounds the work on one batch: the transaction and the
// dead-lettering of its rejected orders (default 30s). The bound holds
// during shutdown too, where it is the only one.
func WithPersistTimeout(d time.Duration) Option {
	return func(w *Worker) {
		if d > 0 {
			w.persistTimeout = d
		}
	}
}

// WithDrainTimeout bounds how long Run waits, once its context has ended,
// for the Source to close its channel (default 30s).
func WithDrainTimeout(d time.Duration) Option {
	return func(w *Worker) {
		if d > 0 {
			w.drainTimeout = d
		}
	}
}

// WithRequeueBackoff sets how long a failed batch waits before its
// deliveries go back to the broker: min after the first failure, doubling
// for each further failure in a row, up to max (defaults 200ms and 10s). The
// wait keeps a database outage from burning through the queue's delivery
// limit.
func WithRequeueBackoff(minDelay, maxDelay time.Duration) Option {
	return func(w *Worker) {
		if minDelay >= 0 && maxDelay >= minDelay {
			w.requeueMin, w.requeueMax = minDelay, maxDelay
		}
	}
}

// New builds a Worker that takes deliveries from src and persists them
// with st.
func New(src Source, st Store, log *slog.Logger, opts ...Option) *Worker {
	w := &Worker{
		src: src, st: st, log: log,
		batchSize:      128,
		batchWait:      20 * time.Millisecond,
		persistTimeout: 30 * time.Second,
		drainTimeout:   30 * time.Second,
		requeueMin:     200 * time.Millisecond,
		requeueMax:     10 * time.Second,
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Run consumes until ctx ends and the Source has closed its channel, then
// returns nil. Each batch is settled after its transaction:
//   - persisted and duplicate orders: the delivery is acked;
//   - rejected orders (oversell, unknown sale, second order of a buyer):
//     sent to Source.DeadLetter, then the delivery is acked;
//   - an undecodable delivery: Reject(false), so the broker dead-letters it;
//   - a failed transaction: after a backoff, Reject(true), so the broker
//     redelivers; the queue's delivery limit ends a poison message.
//
// When ctx ends, the batch being gathered is persisted at once with a
// context that is not ctx (bounded by the persist timeout), so whatever is
// committed is acked; deliveries still arriving until the Source closes its
// channel are handled the same way. Run returns an error when Consume fails,
// when the channel closes while ctx is live, or when the Source does not
// close it within the drain timeout.
func (w *Worker) Run(ctx context.Context) error {
	deliveries, err := w.src.Consume(ctx)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}

	var (
		batch []Delivery
		size  int // orders in batch
		done  = ctx.Done()
		drain <-chan time.Time
	)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	var lingerC <-chan time.Time

	flush := func() {
		linger.Stop()
		lingerC = nil
		if len(batch) > 0 {
			w.handle(ctx, batch, size)
		}
		batch, size = nil, 0
	}

	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				flush()
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("consume: %w: the source closed its channel", order.ErrUnavailable)
			}
			if !w.accept(ctx, d) {
				continue
			}
			batch = append(batch, d)
			size += len(d.Orders)
			switch {
			case size >= w.batchSize:
				flush()
			case len(batch) == 1:
				linger.Reset(w.batchWait)
				lingerC = linger.C
			}

		case <-lingerC:
			flush()

		case <-done:
			// Stop waiting for company: the source is closing its channel.
			done = nil
			flush()
			t := time.NewTimer(w.drainTimeout)
			defer t.Stop()
			drain = t.C

		case <-drain:
			flush()
			return fmt.Errorf("consume: the source did not close its channel within %v of shutdown", w.drainTimeout)
		}
	}
}

// accept counts a delivery and settles it at once when it has no orders to
// persist. It reports whether the delivery joins the batch.
func (w *Worker) accept(ctx context.Context, d Delivery) bool {
	w.metric(func(m *metrics.Metrics) {
		m.WorkerDeliveries.Inc()
		if d.Redelivered {
			m.WorkerRedeliveries.Inc()
		}
	})
	if d.DecodeErr == nil && len(d.Orders) > 0 {
		return true
	}
	cause := d.DecodeErr
	if cause == nil {
		cause = errors.New("message carries no orders")
	}
	w.log.ErrorContext(ctx, "undecodable message; dead-lettering it",
		"message_id", d.MessageID, "redelivered", d.Redelivered, "err", cause)
	if err := d.Reject(false); err != nil {
		w.log.WarnContext(ctx, "reject of an undecodable message failed; the broker will redeliver it",
			"message_id", d.MessageID, "err", err)
		return false
	}
	w.metric(func(m *metrics.Metrics) { m.WorkerDeadLettered.Inc() })
	return false
}

// handle persists one batch and settles its deliveries.
func (w *Worker) handle(ctx context.Context, batch []Delivery, size int) {
	orders := make([]order.Order, 0, size)
	for _, d := range batch {
		orders = append(orders, d.Orders...)
	}
	// Not ctx: a batch that has started is finished and acked even when
	// shutdown begins halfway through it.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.persistTimeout)
	defer cancel()

	start := time.Now()
	res, err := w.st.PersistBatch(pctx, orders)
	w.metric(func(m *metrics.Metrics) {
		m.WorkerPersistDuration.Observe(time.Since(start).Seconds())
		m.WorkerBatchSize.Observe(float64(len(orders)))
	})
	if err != nil {
		w.failures++
		delay := w.backoff()
		w.log.ErrorContext(ctx, "persist batch failed; requeueing its messages",
			"messages", len(batch), "orders", len(orders), "failures_in_a_row", w.failures, "requeue_in", delay, "err", err)
		w.requeue(ctx, batch, delay)
		return
	}
	w.failures = 0
	w.metric(func(m *metrics.Metrics) {
		m.WorkerOrders.WithLabelValues("inserted").Add(float64(len(res.Inserted)))
		m.WorkerOrders.WithLabelValues("duplicate").Add(float64(len(res.Duplicate)))
	})

	held := w.deadLetter(pctx, batch, res)
	var requeue []Delivery
	for i, d := range batch {
		if held[i] {
			requeue = append(requeue, d)
			continue
		}
		if err := d.Ack(); err != nil {
			// The commit stands; a redelivery will find every order stored.
			w.log.WarnContext(ctx, "ack after commit failed; the broker will redeliver and the store will report duplicates",
				"message_id", d.MessageID, "err", err)
		}
	}
	if len(requeue) > 0 {
		w.requeue(ctx, requeue, w.requeueMin)
	}
}

// deadLetter sends the rejected orders of a batch to the Source's
// dead-letter queue, one call per reason. It returns the indexes of the
// deliveries holding an order that could not be dead-lettered: they must
// not be acked, or the order would be lost.
func (w *Worker) deadLetter(ctx context.Context, batch []Delivery, res BatchResult) map[int]bool {
	if len(res.Rejected) == 0 {
		return nil
	}
	var (
		reasons []string
		byWhy   = make(map[string][]order.Order)
	)
	for _, o := range res.Rejected {
		why := res.Reason(o.OrderNo)
		if _, ok := byWhy[why]; !ok {
			reasons = append(reasons, why)
		}
		byWhy[why] = append(byWhy[why], o)
		w.log.ErrorContext(ctx, "order rejected by the store; dead-lettering it",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "user_id", o.UserID, "reason", why)
	}

	var held map[int]bool
	for _, why := range reasons {
		rejected := byWhy[why]
		w.metric(func(m *metrics.Metrics) {
			m.WorkerOrders.WithLabelValues(why + "_rejected").Add(float64(len(rejected)))
		})
		if err := w.src.DeadLetter(ctx, rejected, why); err != nil {
			w.log.ErrorContext(ctx, "dead-letter failed; requeueing the messages holding these orders",
				"reason", why, "orders", len(rejected), "err", err)
			nos := make(map[string]bool, len(rejected))
			for _, o := range rejected {
				nos[o.OrderNo] = true
			}
			for i, d := range batch {
				for _, o := range d.Orders {
					if nos[o.OrderNo] {
						if held == nil {
							held = make(map[int]bool)
						}
						held[i] = true
					}
				}
			}
			continue
		}
		w.metric(func(m *metrics.Metrics) { m.WorkerDeadLettered.Add(float64(len(rejected))) })
	}
	return held
}

// requeue hands deliveries back to the broker after delay; once shutdown
// has begun it does not wait.
func (w *Worker) requeue(ctx context.Context, ds []Delivery, delay time.Duration) {
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	for _, d := range ds {
		if err := d.Reject(true); err != nil {
			w.log.WarnContext(ctx, "requeue failed; the broker redelivers unacked messages when the channel closes",
				"message_id", d.MessageID, "err", err)
		}
	}
}

// backoff is the requeue delay after w.failures failed batches in a row.
func (w *Worker) backoff() time.Duration {
	d := w.requeueMin
	for i := 1; i < w.failures && d < w.requeueMax; i++ {
		d *= 2
	}
	return min(d, w.requeueMax)
}

func (w *Worker) metric(f func(m *metrics.Metrics)) {
	if w.m != nil {
		f(w.m)
	}
}
