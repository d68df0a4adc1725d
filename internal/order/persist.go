package order

import (
	"context"
	"time"
)

// The ports of the persisting side: accepted orders come back out of the
// queue as Deliveries from a Source, and a BatchStore writes them to MySQL
// in batches. The loop between the two (package consumer) acks a delivery
// only once what it carries is durable.

// Delivery is one message taken from the order queue, whatever the queue.
type Delivery struct {
	MessageID string
	Orders    []Order // nil when the body could not be decoded or is a fence
	DecodeErr error   // why Orders is nil
	// Fence is set, and Orders nil, for a stock rebuild's fence: it is
	// recorded as passed once everything delivered before it is committed.
	Fence *Fence
	// Body is the raw message, kept for the dead-letter record of a
	// message that cannot be decoded.
	Body        []byte
	Redelivered bool
	// Ack confirms the message is done. Reject(false) sends it to the
	// broker's dead-letter queue; Reject(true) puts it back for another
	// try. Either fails when the delivery was acked or rejected already
	// (with the queue's own error) and with ErrUnavailable when the queue
	// cannot be told; the message is then redelivered.
	Ack    func() error
	Reject func(requeue bool) error
	// AckThrough, when the source offers it (nil otherwise), acks this
	// delivery and every earlier one of the same broker channel that is
	// still unacked, in one frame: the caller uses it only when it has
	// acked or rejected every earlier delivery it took. Errors as Ack's.
	AckThrough func() error
}

// Source delivers the order queue's messages until ctx is cancelled.
type Source interface {
	// Consume returns a channel of deliveries. The source reconnects on its
	// own; the channel is closed once ctx is cancelled and the source has
	// stopped taking new messages (in-flight ones can still be acked).
	// Errors: ErrUnavailable once the source is closed; a source may
	// refuse a second Consume while one runs.
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
	// (ReasonSoldOut, ReasonDuplicateBuyer) set. sold is not raised for
	// them; the expiry sweep gives their unit back to the stock backend.
	// Like Inserted, they are done: their message may be acked.
	Tombstoned []Order
	// Rejected can be neither persisted nor tombstoned (an unknown sale, an
	// invalid order); nothing was written for them and they are to be
	// recorded as dead letters.
	Rejected []Order
	// Reasons maps the order_no of each rejected order to why it was
	// rejected, DeadUnknownSale or DeadInvalid.
	Reasons map[string]string
}

// Reason returns why the rejected order orderNo was rejected; an order
// missing from Reasons counts as DeadInvalid.
func (r BatchResult) Reason(orderNo string) string {
	if why, ok := r.Reasons[orderNo]; ok {
		return why
	}
	return DeadInvalid
}

// BatchStore is the durable store of the persisting side. Every error it
// returns is an infrastructure failure (connection refused, timeout,
// read-only, lock conflicts past the store's own retries), never a verdict
// on the orders: the caller keeps the messages unacked and makes the same
// call again until it succeeds.
type BatchStore interface {
	// PersistBatch persists a batch in one transaction: insert the new
	// orders, raise sales.sold with the guarded UPDATE, tombstone the
	// refused ones, commit. Orders it can neither persist nor tombstone are
	// in the result's Rejected, never an error. Running the same batch
	// again writes nothing more: what the first run stored is Duplicate.
	PersistBatch(ctx context.Context, orders []Order) (BatchResult, error)
	// RecordDeadLetter keeps a message that cannot be persisted, with its
	// orders, and returns its id.
	RecordDeadLetter(ctx context.Context, d DeadLetter) (int64, error)
	// PassFence records that the fence fenceID went through the queue at
	// at. An unknown fence is not an error; a fence passes once.
	PassFence(ctx context.Context, fenceID string, at time.Time) error
}
