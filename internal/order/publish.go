package order

import (
	"context"
	"time"
)

// publisher is what the settler's republish and a dead letter's replay
// need of the queue: the send alone, without Publisher's readiness.
type publisher interface {
	Publish(ctx context.Context, o Order) error
}

// WithPublishDeadline gives every publish one deadline, d after its
// reservation (the settler's: d after it read the reservation), that
// bounds every wait on the way (a coalescer's queue, a confirm-window
// slot) and the confirm: an order not sent by then is given up as not
// sent and its unit goes back. No deadline by default. The fenced
// rebuild's quiet time (WithRebuilds) is raised to cover it: by then
// every publish started before a loss has been sent or given up.
func WithPublishDeadline(d time.Duration) Option { return func(c *config) { c.publishWithin = d } }

// publishRouteMargin is what the rebuild's quiet time adds to the publish
// deadline: the time for a message sent at its deadline to reach its
// queue.
const publishRouteMargin = time.Second

// publishDeadline bounds a publish, counted from its reservation
// (WithPublishDeadline); 0 is unbounded. Purchases and the settler share
// it.
type publishDeadline time.Duration

// context is ctx with the deadline of a publish whose reservation (or
// settler's read) was made at start; cancel releases it.
func (d publishDeadline) context(ctx context.Context, start time.Time) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, start.Add(time.Duration(d)))
}
