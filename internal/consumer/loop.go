// Package consumer holds the loop of the worker process: it takes order
// messages from an order.Source, persists them in batches through an
// order.BatchStore, one transaction each, and acks a message only once what
// it carries is durable.
//
// It imports the domain (order), metrics and libraries; never an adapter
// (store, mq): the worker's wiring hands it one of each.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// Loop is the batching loop: it gathers deliveries from an order.Source
// into batches, persists each batch in one order.BatchStore transaction and
// acks every delivery of the batch after the commit.
type Loop struct {
	src order.Source
	st  order.BatchStore
	log *slog.Logger
	m   *metrics.Metrics

	batchSize      int
	batchWait      time.Duration
	persistTimeout time.Duration
	drainTimeout   time.Duration
	retryMin       time.Duration
	retryMax       time.Duration
	ackDelay       time.Duration
	ackMax         int
}

// Option configures a Loop.
type Option func(*Loop)

// WithBatchSize sets how many orders a batch gathers before it is persisted
// without waiting (default 128). A message is never split, so a batch may
// exceed it by the orders of its last message.
func WithBatchSize(n int) Option {
	return func(l *Loop) {
		if n > 0 {
			l.batchSize = n
		}
	}
}

// WithBatchWait sets how long a batch lingers for more deliveries after its
// first one (default 20ms). Zero persists whatever has arrived at once.
func WithBatchWait(d time.Duration) Option {
	return func(l *Loop) {
		if d >= 0 {
			l.batchWait = d
		}
	}
}

// WithAckDelay lets the loop hold the ack of committed batches for up to
// d, and for at most n deliveries, so that one frame acks several batches
// (default 0: each batch is acked at once). Only batches the source can
// ack in one frame (order.Delivery.AckThrough) are held; the held ack
// goes out when either bound is reached, when the loop stops, and before
// Run returns. On a quorum queue every ack is an entry of the replicated,
// fsynced log, as costly to the broker as a publish; the price is that a
// worker that dies while holding an ack has those messages redelivered,
// and the store reports their orders as duplicates. n must stay below the
// source's prefetch, or the broker stops delivering until d has passed.
func WithAckDelay(d time.Duration, n int) Option {
	return func(l *Loop) {
		if d >= 0 && n > 0 {
			l.ackDelay, l.ackMax = d, n
		}
	}
}

// WithMetrics records the worker metrics in m. A nil m records nothing.
func WithMetrics(m *metrics.Metrics) Option { return func(l *Loop) { l.m = m } }

// WithPersistTimeout bounds one attempt of one store call: a batch's
// transaction, the record of a dead letter, a fence (default 30s). The
// bound holds during shutdown too, where it is the only one.
func WithPersistTimeout(d time.Duration) Option {
	return func(l *Loop) {
		if d > 0 {
			l.persistTimeout = d
		}
	}
}

// WithDrainTimeout bounds how long Run waits, once its context has ended,
// for the Source to close its channel (default 30s).
func WithDrainTimeout(d time.Duration) Option {
	return func(l *Loop) {
		if d > 0 {
			l.drainTimeout = d
		}
	}
}

// WithRetryBackoff sets how long the loop waits before it retries a
// failed store call: first after the first failure, doubling (with
// jitter) for each further one, up to longest (defaults 200ms and 5s). It
// retries until the call succeeds or the loop stops, however long that
// is, and takes no new delivery meanwhile.
func WithRetryBackoff(first, longest time.Duration) Option {
	return func(l *Loop) {
		if first >= 0 && longest >= first {
			l.retryMin, l.retryMax = first, longest
		}
	}
}

// New builds a Loop that takes deliveries from src and persists them
// with st.
func New(src order.Source, st order.BatchStore, log *slog.Logger, opts ...Option) *Loop {
	l := &Loop{
		src: src, st: st, log: log,
		batchSize:      128,
		batchWait:      20 * time.Millisecond,
		persistTimeout: 30 * time.Second,
		drainTimeout:   30 * time.Second,
		retryMin:       200 * time.Millisecond,
		retryMax:       5 * time.Second,
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Run consumes until ctx ends and the Source has closed its channel, then
// returns nil. Every delivery is acked once what it carries is durable
// (with WithAckDelay, up to that delay later), and never handed back to
// the broker:
//   - orders: persisted in a batch; inserted, duplicate and tombstoned
//     orders are settled by the commit, and orders the store can neither
//     persist nor tombstone (an unknown sale, an invalid order) are
//     recorded as dead letters before the ack;
//   - an undecodable message: recorded as a dead letter with its body;
//   - a fence: the batch being gathered is persisted first, so everything
//     delivered before the fence is committed or recorded, then the fence
//     is recorded as passed.
//
// A failed store call (database down, timeout, read-only) is retried with
// a capped exponential backoff until it succeeds; meanwhile the loop
// holds its deliveries unacked and takes no new one, so an outage never
// spends the queue's delivery limit.
//
// When ctx ends, the batch being gathered is persisted at once with a
// context that is not ctx (bounded by the persist timeout), so whatever is
// committed is acked, and only then is the Source told to stop (its
// Consume context ends); deliveries still arriving until it closes its
// channel are handled the same way. A store call that fails after ctx has
// ended is not retried: its deliveries stay unacked and the broker
// redelivers them once the channel closes. Run returns an error when
// Consume fails, when the channel closes while ctx is live, or when the
// Source does not close it within the drain timeout.
func (l *Loop) Run(ctx context.Context) error {
	// The source stops only once the batch in hand is committed and acked:
	// with a standby consumer waiting on the queue (single active
	// consumer), stopping first would hand later messages, a fence among
	// them, to the standby while this batch is still uncommitted.
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsuming()
	deliveries, err := l.src.Consume(consumeCtx)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}

	var (
		batch []order.Delivery
		size  int // orders in batch
		done  = ctx.Done()
		drain <-chan time.Time
		// drainTimer bounds the wait for the source once ctx has ended.
		drainTimer *time.Timer
		// held is set once a delivery was left unacked because shutdown
		// cut a store retry short; no later fence may pass after it.
		held bool
	)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	var lingerC <-chan time.Time
	acks := newHeldAck(l.ackDelay, l.ackMax)
	defer acks.send(ctx, l.log)

	flush := func() {
		linger.Stop()
		lingerC = nil
		if len(batch) > 0 && !l.handle(ctx, batch, size, !held, acks) {
			held = true
		}
		batch, size = nil, 0
	}

	stopping := func() {
		// Stop waiting for company, then stop the source.
		done = nil
		flush()
		acks.send(ctx, l.log)
		stopConsuming()
		t := time.NewTimer(l.drainTimeout)
		drainTimer = t
		drain = t.C
	}
	defer func() {
		if drainTimer != nil {
			drainTimer.Stop()
		}
	}()

	for {
		// Shutdown goes first: a delivery offered while a batch was being
		// persisted is left to the source to requeue.
		if done != nil && ctx.Err() != nil {
			stopping()
		}
		select {
		case d, ok := <-deliveries:
			if !ok {
				flush()
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("consume: %w: the source closed its channel", order.ErrUnavailable)
			}
			l.count(d)
			switch {
			case d.Fence != nil && d.DecodeErr == nil:
				flush()
				if held || !l.passFence(ctx, d) {
					held = true
				}
				continue
			case d.DecodeErr != nil || len(d.Orders) == 0:
				if !l.undecodable(ctx, d) {
					held = true
				}
				continue
			}
			batch = append(batch, d)
			size += len(d.Orders)
			switch {
			case size >= l.batchSize:
				flush()
			case len(batch) == 1:
				linger.Reset(l.batchWait)
				lingerC = linger.C
			}

		case <-lingerC:
			flush()

		case <-acks.due():
			acks.send(ctx, l.log)

		case <-done:
			stopping()

		case <-drain:
			flush()
			return fmt.Errorf("consume: the source did not close its channel within %v of shutdown", l.drainTimeout)
		}
	}
}

func (l *Loop) count(d order.Delivery) {
	l.metric(func(m *metrics.Metrics) {
		m.WorkerDeliveries.Inc()
		if d.Redelivered {
			m.WorkerRedeliveries.Inc()
		}
	})
}

// undecodable records a delivery that carries neither orders nor a fence
// as a dead letter, with its body, and acks it. It reports false when
// shutdown left it unacked.
func (l *Loop) undecodable(ctx context.Context, d order.Delivery) bool {
	cause := d.DecodeErr
	if cause == nil {
		cause = errors.New("message carries neither orders nor a fence")
	}
	l.log.ErrorContext(ctx, "undecodable message; recording it as a dead letter",
		"message_id", d.MessageID, "redelivered", d.Redelivered, "err", cause)
	dl := order.DeadLetter{MessageID: d.MessageID, Reason: order.DeadUndecodable, Detail: cause.Error(), Body: d.Body}
	if !l.hold(ctx, metrics.StoreDeadLetter, func(ctx context.Context) error {
		_, err := l.st.RecordDeadLetter(ctx, dl)
		return err
	}, "message_id", d.MessageID) {
		return false
	}
	l.metric(func(m *metrics.Metrics) { m.WorkerDeadLettered.Inc() })
	l.ack(ctx, d)
	return true
}

// passFence records a fence as passed and acks it. The caller has settled
// every delivery received before it. It reports false when shutdown left
// it unacked.
func (l *Loop) passFence(ctx context.Context, d order.Delivery) bool {
	f := *d.Fence
	if !l.hold(ctx, metrics.StoreFence, func(ctx context.Context) error {
		return l.st.PassFence(ctx, f.ID, time.Now())
	}, "fence_id", f.ID, "sale_id", f.SaleID) {
		return false
	}
	l.log.InfoContext(ctx, "stock rebuild fence passed", "fence_id", f.ID, "sale_id", f.SaleID)
	l.ack(ctx, d)
	return true
}

// handle persists one batch, records the orders the store could neither
// persist nor tombstone as dead letters, and acks the deliveries. It
// reports false when shutdown left any delivery unacked. earlierSettled
// says every delivery taken before the batch is settled: the batch may
// then be acked in one frame (AckThrough), which saves the broker a
// settlement per message, and that frame may be held in acks with those
// of the next batches.
func (l *Loop) handle(ctx context.Context, batch []order.Delivery, size int, earlierSettled bool, acks *heldAck) bool {
	orders := make([]order.Order, 0, size)
	for _, d := range batch {
		orders = append(orders, d.Orders...)
	}
	var res order.BatchResult
	if !l.hold(ctx, metrics.StorePersist, func(ctx context.Context) error {
		start := time.Now()
		r, err := l.st.PersistBatch(ctx, orders)
		if err != nil {
			return err
		}
		res = r
		l.metric(func(m *metrics.Metrics) {
			m.WorkerPersistDuration.Observe(time.Since(start).Seconds())
			m.WorkerBatchSize.Observe(float64(len(orders)))
		})
		return nil
	}, "messages", len(batch), "orders", len(orders)) {
		return false
	}
	l.metric(func(m *metrics.Metrics) {
		m.WorkerOrders.WithLabelValues("inserted").Add(float64(len(res.Inserted)))
		m.WorkerOrders.WithLabelValues("duplicate").Add(float64(len(res.Duplicate)))
		for _, o := range res.Tombstoned {
			m.WorkerOrders.WithLabelValues(o.Reason + "_cancelled").Inc()
		}
	})
	for _, o := range res.Tombstoned {
		l.log.ErrorContext(ctx, "order refused by the store; recorded cancelled, its unit goes back to the stock backend",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "user_id", o.UserID, "reason", o.Reason)
	}

	if last := batch[len(batch)-1]; len(res.Rejected) == 0 && earlierSettled && last.AckThrough != nil {
		acks.hold(ctx, l.log, last.AckThrough, len(batch))
		return true
	}
	rejected := make(map[string]string, len(res.Rejected)) // order_no → reason, until recorded
	for _, o := range res.Rejected {
		rejected[o.OrderNo] = res.Reason(o.OrderNo)
	}
	settled := true
	for _, d := range batch {
		if len(rejected) > 0 && !l.deadLetter(ctx, d, rejected, settled) {
			settled = false
			continue
		}
		l.ack(ctx, d)
	}
	return settled
}

// deadLetter records the rejected orders of one delivery, one dead letter
// per reason, and removes them from rejected; an order that several
// deliveries of the batch carry is recorded once. try false means shutdown
// already cut a store retry short: a delivery that still has orders to
// record is left unacked without another attempt. It reports whether the
// delivery may be acked.
func (l *Loop) deadLetter(ctx context.Context, d order.Delivery, rejected map[string]string, try bool) bool {
	var (
		reasons []string
		byWhy   = make(map[string][]order.Order)
	)
	for _, o := range d.Orders {
		why, ok := rejected[o.OrderNo]
		if !ok {
			continue
		}
		if _, seen := byWhy[why]; !seen {
			reasons = append(reasons, why)
		}
		byWhy[why] = append(byWhy[why], o)
	}
	if len(reasons) == 0 {
		return true
	}
	if !try {
		return false
	}
	for _, why := range reasons {
		group := byWhy[why]
		for _, o := range group {
			l.log.ErrorContext(ctx, "order the store can neither persist nor cancel; recording it as a dead letter",
				"sale_id", o.SaleID, "order_no", o.OrderNo, "user_id", o.UserID, "reason", why, "message_id", d.MessageID)
		}
		dl := order.DeadLetter{MessageID: d.MessageID, Reason: why, Detail: deadDetail(why), Orders: group}
		if !l.hold(ctx, metrics.StoreDeadLetter, func(ctx context.Context) error {
			_, err := l.st.RecordDeadLetter(ctx, dl)
			return err
		}, "message_id", d.MessageID, "reason", why, "orders", len(group)) {
			return false
		}
		for _, o := range group {
			delete(rejected, o.OrderNo)
		}
		l.metric(func(m *metrics.Metrics) {
			m.WorkerOrders.WithLabelValues(why + "_dead_lettered").Add(float64(len(group)))
			m.WorkerDeadLettered.Add(float64(len(group)))
		})
	}
	return true
}

// deadDetail explains a dead letter's reason to an operator.
func deadDetail(why string) string {
	switch why {
	case order.DeadUnknownSale:
		return "the store holds no sale with this id"
	case order.DeadInvalid:
		return "the store cannot hold the order as it is (empty or over-long order_no, non-positive id)"
	}
	return ""
}

func (l *Loop) ack(ctx context.Context, d order.Delivery) {
	if err := d.Ack(); err != nil {
		// What it carries is durable; a redelivery finds it stored.
		l.log.WarnContext(ctx, "ack after commit failed; the broker will redeliver and the store will report duplicates",
			"message_id", d.MessageID, "err", err)
	}
}

// hold runs the store call op until it succeeds, waiting a capped,
// jittered exponential backoff between attempts, and reports true; or
// false when ctx ends first. Each attempt runs under a context of its own
// (not ctx, so an attempt started is finished during shutdown), bounded by
// the persist timeout. Every error counts as an infrastructure failure:
// the caller's deliveries stay unacked meanwhile, and Run takes no new one.
func (l *Loop) hold(ctx context.Context, operation string, op func(context.Context) error, attrs ...any) bool {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     l.retryMin,
		RandomizationFactor: 0.2,
		Multiplier:          2,
		MaxInterval:         l.retryMax,
	}
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.persistTimeout)
		defer cancel()
		return struct{}{}, op(actx)
	},
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			l.metric(func(m *metrics.Metrics) {
				m.WorkerStoreRetries.WithLabelValues(operation).Inc()
				m.WorkerStoreUp.Set(0)
			})
			l.log.ErrorContext(ctx, "store call failed; holding the messages unacked and retrying",
				append([]any{"operation", operation, "attempt", attempt, "retry_in", next, "err", err}, attrs...)...)
		}),
	)
	if err != nil {
		l.log.WarnContext(ctx, "shutdown while a store call was failing; its messages stay unacked and the broker redelivers them",
			append([]any{"operation", operation, "attempts", attempt, "err", err}, attrs...)...)
		return false
	}
	if attempt > 1 {
		l.log.InfoContext(ctx, "store call succeeded after retries",
			append([]any{"operation", operation, "attempts", attempt}, attrs...)...)
	}
	l.metric(func(m *metrics.Metrics) { m.WorkerStoreUp.Set(1) })
	return true
}

func (l *Loop) metric(f func(m *metrics.Metrics)) {
	if l.m != nil {
		f(l.m)
	}
}
