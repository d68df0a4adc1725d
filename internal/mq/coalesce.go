package mq

import (
	"context"
	"fmt"
	"time"

	"github.com/seckill/seckill/internal/groupcommit"
	"github.com/seckill/seckill/internal/order"
)

// BatchPublisher publishes several orders in one confirmed message. The
// RabbitMQ Publisher and the in-process Memory queue both are one.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, orders []order.Order) error
	Ready() bool
}

// Coalescer is an order.Publisher that carries orders accepted at the same
// time in one message. Callers queue their orders; whenever one of the
// in-flight slots is free, the whole queue (up to the batch limit) leaves
// as one message, published by one of its callers. With a free slot an
// order leaves at once; under load the queue fills while the slots are
// busy, so the broker sees one message and one confirm per batch instead
// of per order. Each caller still returns only once its own order's
// message is confirmed, and gets that message's outcome: a definite
// failure or an unknown outcome applies to every order in it. The queue
// and its slots are a groupcommit.Batcher.
//
// A caller's deadline (its context's) holds while its order waits: an order
// whose deadline has passed when its batch is taken is left out, unsent,
// with order.ErrUnavailable, and a message is published under the earliest
// deadline of the orders it carries, so no order is ever sent after its
// own deadline.
type Coalescer struct {
	next    BatchPublisher
	batches []*groupcommit.Batcher[timedOrder] // one per persist partition
	of      func(saleID int64) int
}

// timedOrder is a queued order and its caller's deadline (zero: none).
type timedOrder struct {
	o        order.Order
	deadline time.Time
}

var (
	_ order.Publisher         = (*Coalescer)(nil)
	_ order.DeadlinePublisher = (*Coalescer)(nil)
)

// Partitioned is a BatchPublisher whose messages each go to one of
// several persist partitions: a message must carry orders of one
// partition only.
type Partitioned interface {
	Partitions() int
	PartitionOf(saleID int64) int
}

// NewCoalescer publishes through next with at most inFlight messages
// awaiting a confirm (more with groupcommit.WithBurst among opts) and at
// most maxBatch orders per message. When next is Partitioned, each
// partition has a queue and in-flight slots of its own, so a message
// never mixes partitions.
func NewCoalescer(next BatchPublisher, inFlight, maxBatch int, opts ...groupcommit.Option) *Coalescer {
	run := func(ctx context.Context, items []timedOrder) []error {
		// The message speaks for every order in it: it is published to its
		// end even if the request of the caller publishing it is gone (the
		// context has no cancellation), but not past the earliest deadline
		// of its orders.
		errs := make([]error, len(items))
		orders := make([]order.Order, 0, len(items))
		var at []int
		var deadline time.Time
		now := time.Now()
		for i, it := range items {
			switch {
			case it.deadline.IsZero():
			case !now.Before(it.deadline):
				errs[i] = fmt.Errorf("%w: not sent: its publish deadline passed while it waited to be sent", order.ErrUnavailable)
				continue
			case deadline.IsZero() || it.deadline.Before(deadline):
				deadline = it.deadline
			}
			orders = append(orders, it.o)
			at = append(at, i)
		}
		if len(orders) == 0 {
			return errs
		}
		if !deadline.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		if err := next.PublishBatch(ctx, orders); err != nil {
			for _, i := range at {
				errs[i] = err
			}
		}
		return errs
	}
	c := &Coalescer{next: next, of: func(int64) int { return 0 }}
	n := 1
	if p, ok := next.(Partitioned); ok && p.Partitions() > 1 {
		n, c.of = p.Partitions(), p.PartitionOf
	}
	for range n {
		c.batches = append(c.batches, groupcommit.New(maxBatch, inFlight, run, opts...))
	}
	return c
}

// Ready reports whether the underlying publisher can publish now.
func (c *Coalescer) Ready() bool { return c.next.Ready() }

// Publish queues o and returns the outcome of the message that carried it,
// or order.ErrUnavailable when ctx's deadline passed before a message could
// take it.
func (c *Coalescer) Publish(ctx context.Context, o order.Order) error {
	deadline, _ := ctx.Deadline()
	return c.PublishBy(ctx, o, deadline)
}

// PublishBy is Publish under deadline (zero: none) instead of ctx's: a
// queued order's deadline is a value its batch checks, so a caller need
// not start a context timer for it (order.DeadlinePublisher).
func (c *Coalescer) PublishBy(ctx context.Context, o order.Order, deadline time.Time) error {
	return c.batches[c.of(o.SaleID)].Do(ctx, timedOrder{o: o, deadline: deadline})
}
