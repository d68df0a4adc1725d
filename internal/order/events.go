package order

import (
	"context"
	"time"
)

// Lifecycle events, one per order and change, for other systems to follow
// an order after it was accepted. The routing keys of the topic exchange:
// order.created is the accepted order itself (the message the worker
// persists); order.paid and order.cancelled are recorded by the store in
// the transaction that makes the change and relayed afterwards, so they
// are published at least once and never for a change that rolled back.
const (
	EventCreated   = "order.created"
	EventPaid      = "order.paid"
	EventCancelled = "order.cancelled"
)

// Why an order was cancelled, as order.cancelled events say it: the
// stored Order.Reason grouped for outside consumers. The stored reason
// travels beside it as the event's detail.
const (
	EventReasonExpired   = "expired"
	EventReasonRejected  = "rejected"
	EventReasonDiscarded = "discarded"
)

// EventReason is the event reason of a cancelled order's stored reason:
// the store's refusals (sold_out, duplicate_buyer) are "rejected"; any
// other reason is passed on as it is.
func EventReason(stored string) string {
	switch stored {
	case ReasonSoldOut, ReasonDuplicateBuyer:
		return EventReasonRejected
	default:
		return stored
	}
}

// Event is one order's lifecycle change as recorded with it.
type Event struct {
	// ID is the event's sequence number in the store: unique, stable
	// across redeliveries, so consumers can drop repeats.
	ID int64
	// Kind is the routing key: EventPaid or EventCancelled.
	Kind string
	// Order is the order after the change (Status, Reason set).
	Order Order
	// At is when the change was committed.
	At time.Time
}

// Outbox hands out the events the store recorded with their changes.
type Outbox interface {
	// RelayEvents passes up to limit events not relayed yet, oldest first,
	// to publish, and marks them relayed only when publish returns nil.
	// Callers running at once get disjoint events. When publish fails, or
	// the process dies before the mark is committed, the events are handed
	// out again: at least once. It returns how many events were relayed.
	RelayEvents(ctx context.Context, limit int, publish func(context.Context, []Event) error) (int, error)
}

// EventPublisher delivers events to other systems; nil means every event
// was handed over (confirmed by the broker).
type EventPublisher interface {
	PublishEvents(ctx context.Context, events []Event) error
}

// RelayBatch is how many events one relay step hands to the publisher.
const RelayBatch = 500

// RelayEvents moves every recorded event to pub, RelayBatch at a time,
// until the outbox is empty or a step fails. It returns how many it moved.
func RelayEvents(ctx context.Context, box Outbox, pub EventPublisher) (int, error) {
	total := 0
	for {
		n, err := box.RelayEvents(ctx, RelayBatch, pub.PublishEvents)
		total += n
		if err != nil || n < RelayBatch {
			return total, err
		}
	}
}
