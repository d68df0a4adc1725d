// Package consumer is the worker: it takes order messages from a queue,
// persists them in batches in one transaction each, and acks only after the
// commit.
package consumer

import (
	"context"

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
	// dead-letter queue; Reject(true) puts it back for another try.
	Ack    func() error
	Reject func(requeue bool) error
}

// Source delivers messages until ctx is cancelled.
type Source interface {
	// Consume returns a channel of deliveries. The source reconnects on its
	// own; the channel is closed once ctx is cancelled and the source has
	// stopped taking new messages (in-flight ones can still be acked).
	Consume(ctx context.Context) (<-chan Delivery, error)
	// DeadLetter sends orders that can never be persisted to the dead-letter
	// queue with a reason, and returns once the broker has them.
	DeadLetter(ctx context.Context, orders []order.Order, reason string) error
}

// BatchResult says what happened to each order of a batch.
type BatchResult struct {
	Inserted  []string // order_no newly written
	Duplicate []string // already in MySQL: done before, success
	// Rejected would have made the sale hold more orders than its stock
	// (or references an unknown sale); nothing was written for them.
	Rejected []order.Order
	// Reasons maps the order_no of each rejected order to why it was
	// rejected, one of the Reject… values; a rejected order missing from
	// it counts as RejectOversell.
	Reasons map[string]string
}

// Why a Store rejected an order: the values of BatchResult.Reasons. Each
// is also the reason given to Source.DeadLetter.
const (
	// RejectOversell: the sale has no stock left in MySQL for the order.
	RejectOversell = "oversell"
	// RejectUnknownSale: the order names a sale MySQL does not hold.
	RejectUnknownSale = "unknown_sale"
	// RejectDuplicateBuyer: MySQL already holds another order of the same
	// user for the same sale.
	RejectDuplicateBuyer = "duplicate_buyer"
	// RejectInvalid: the order cannot be stored as it is (an empty or
	// over-long order_no, a non-positive id).
	RejectInvalid = "invalid"
)

// Reason returns why orderNo was rejected.
func (r BatchResult) Reason(orderNo string) string {
	if why, ok := r.Reasons[orderNo]; ok {
		return why
	}
	return RejectOversell
}

// Store persists a batch in one transaction: insert the new orders, raise
// sales.sold with the guarded UPDATE, commit.
type Store interface {
	PersistBatch(ctx context.Context, orders []order.Order) (BatchResult, error)
}
