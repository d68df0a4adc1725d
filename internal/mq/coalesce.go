package mq

import (
	"context"
	"slices"

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
// time in one message. A caller queues its order; the first caller in the
// queue waits for one of the in-flight slots and then publishes the whole
// queue (up to the batch limit) as one message, handing the lead to whoever
// queued next. With a free slot an order leaves at once; under load the
// queue fills while the slots are busy, so the broker sees one message and
// one confirm per batch instead of per order. Each caller still returns
// only once its own order's message is confirmed, and gets that message's
// outcome: a definite failure or an unknown outcome applies to every order
// in it. The queue and its lead are a groupcommit.Batcher.
type Coalescer struct {
	next    BatchPublisher
	batches []*groupcommit.Batcher[order.Order] // one per persist partition
	of      func(saleID int64) int
}

var _ order.Publisher = (*Coalescer)(nil)

// Partitioned is a BatchPublisher whose messages each go to one of
// several persist partitions: a message must carry orders of one
// partition only.
type Partitioned interface {
	Partitions() int
	PartitionOf(saleID int64) int
}

// NewCoalescer publishes through next with at most inFlight messages
// awaiting a confirm and at most maxBatch orders per message. When next
// is Partitioned, each partition has a queue, a lead and in-flight slots
// of its own, so a message never mixes partitions.
func NewCoalescer(next BatchPublisher, inFlight, maxBatch int, opts ...groupcommit.Option) *Coalescer {
	run := func(ctx context.Context, orders []order.Order) []error {
		// The message speaks for every order in it: it is published to its
		// end even if the leader's own request is gone (the context has no
		// cancellation).
		if err := next.PublishBatch(ctx, orders); err != nil {
			return slices.Repeat([]error{err}, len(orders))
		}
		return nil
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

// Publish queues o and returns the outcome of the message that carried it.
func (c *Coalescer) Publish(ctx context.Context, o order.Order) error {
	return c.batches[c.of(o.SaleID)].Do(ctx, o)
}
