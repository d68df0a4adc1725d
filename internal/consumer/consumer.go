// Package consumer is the worker: it takes order messages from a queue,
// persists them in batches in one transaction each, and acks only after the
// commit.
package consumer

import (
	"context"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// Delivery is one message as the worker sees it, whatever the queue.
type Delivery struct {
	MessageID string
	Orders    []order.Order // nil when the body could not be decoded or is a fence
	DecodeErr error         // why Orders is nil
	// Fence is set, and Orders nil, for a stock rebuild's fence: the
	// worker records it as passed once everything delivered before it is
	// committed.
	Fence *order.Fence
	// Body is the raw message, kept for the dead-letter record of a
	// message that cannot be decoded.
	Body        []byte
	Redelivered bool
	// Ack confirms the message is done. Reject(false) sends it to the
	// broker's dead-letter queue; Reject(true) puts it back for another
	// try. The worker only ever acks: a message it cannot settle yet stays
	// unacked until it can, or until the channel closes.
	Ack    func() error
	Reject func(requeue bool) error
}

// Source delivers messages until ctx is cancelled.
type Source interface {
	// Consume returns a channel of deliveries. The source reconnects on its
	// own; the channel is closed once ctx is cancelled and the source has
	// stopped taking new messages (in-flight ones can still be acked).
	Consume(ctx context.Context) (<-chan Delivery, error)
}

// BatchResult says what happened to each order of a batch. Every order of
// the batch is in exactly one of its lists (a second copy of an order in
// the same batch counts as Duplicate).
type BatchResult struct {
	Inserted  []string // order_no newly written
	Duplicate []string // already in MySQL (persisted or tombstoned before): success
	// Tombstoned were refused by the store's rules — no unit left for them
	// in MySQL, or a second live order of the same buyer — and are
	// recorded cancelled under their own order_no, Status and Reason
	// (order.ReasonSoldOut, order.ReasonDuplicateBuyer) set. sold is not
	// raised for them; the expiry sweep gives their unit back to the stock
	// backend. They are settled, like Inserted.
	Tombstoned []order.Order
	// Rejected can be neither persisted nor tombstoned (an unknown sale, an
	// invalid order); nothing was written for them and the worker records
	// them as dead letters.
	Rejected []order.Order
	// Reasons maps the order_no of each rejected order to why it was
	// rejected, order.DeadUnknownSale or order.DeadInvalid.
	Reasons map[string]string
}

// Reason returns why the rejected order orderNo was rejected; an order
// missing from Reasons counts as order.DeadInvalid.
func (r BatchResult) Reason(orderNo string) string {
	if why, ok := r.Reasons[orderNo]; ok {
		return why
	}
	return order.DeadInvalid
}

// Store is the worker's durable store. Any error it returns is taken for
// an infrastructure failure (connection refused, timeout, read-only): the
// worker keeps the messages unacked and retries the same call until it
// succeeds.
type Store interface {
	// PersistBatch persists a batch in one transaction: insert the new
	// orders, raise sales.sold with the guarded UPDATE, tombstone the
	// refused ones, commit.
	PersistBatch(ctx context.Context, orders []order.Order) (BatchResult, error)
	// RecordDeadLetter keeps a message the worker cannot persist, with its
	// orders, and returns its id.
	RecordDeadLetter(ctx context.Context, d order.DeadLetter) (int64, error)
	// PassFence records that the fence fenceID went through the queue at
	// at. An unknown fence is not an error.
	PassFence(ctx context.Context, fenceID string, at time.Time) error
}
