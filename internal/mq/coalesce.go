package mq

import (
	"context"
	"errors"
	"sync"

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
// in it.
type Coalescer struct {
	next     BatchPublisher
	slots    chan struct{}
	maxBatch int

	mu      sync.Mutex
	queue   []*queuedOrder
	leading bool
}

var _ order.Publisher = (*Coalescer)(nil)

type queuedOrder struct {
	o    order.Order
	done chan error // the message's outcome, or errLeadPublish
}

var errLeadPublish = errors.New("mq: lead the next message")

// NewCoalescer publishes through next with at most inFlight messages
// awaiting a confirm and at most maxBatch orders per message.
func NewCoalescer(next BatchPublisher, inFlight, maxBatch int) *Coalescer {
	return &Coalescer{next: next, slots: make(chan struct{}, max(1, inFlight)), maxBatch: max(1, maxBatch)}
}

// Ready reports whether the underlying publisher can publish now.
func (c *Coalescer) Ready() bool { return c.next.Ready() }

// Publish queues o and returns the outcome of the message that carried it.
func (c *Coalescer) Publish(ctx context.Context, o order.Order) error {
	q := &queuedOrder{o: o, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, q)
	lead := !c.leading
	c.leading = true
	c.mu.Unlock()
	if lead {
		c.lead(ctx)
	}
	for {
		err := <-q.done
		if err != errLeadPublish { //nolint:errorlint // a private marker, never wrapped
			return err
		}
		c.lead(ctx)
	}
}

// lead waits for a slot, takes the head of the queue as one message, passes
// the lead on, publishes, and tells every order in the message the outcome.
func (c *Coalescer) lead(ctx context.Context) {
	c.slots <- struct{}{}
	c.mu.Lock()
	n := min(len(c.queue), c.maxBatch)
	batch := make([]*queuedOrder, n)
	copy(batch, c.queue)
	c.queue = append(c.queue[:0:0], c.queue[n:]...)
	if len(c.queue) > 0 {
		c.queue[0].done <- errLeadPublish
	} else {
		c.leading = false
	}
	c.mu.Unlock()

	orders := make([]order.Order, n)
	for i, q := range batch {
		orders[i] = q.o
	}
	// The message speaks for every order in it: it is published to its end
	// even if the leader's own request is gone.
	err := c.next.PublishBatch(context.WithoutCancel(ctx), orders)
	<-c.slots
	for _, q := range batch {
		q.done <- err
	}
}
