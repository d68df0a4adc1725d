package order

import "time"

// DeadLetter is a message the worker could not persist, kept in MySQL for
// an operator to see, replay or discard. Its orders (none for a message
// that could not be decoded) hold their units until then.
type DeadLetter struct {
	ID        int64
	MessageID string
	// Reason is one of the Dead… values.
	Reason string
	// Detail is a human explanation (a decode error, the store's refusal).
	Detail string
	// Body is the raw message, kept when it could not be decoded.
	Body   []byte
	DeadAt time.Time
	Orders []Order
}

// Why a message was dead-lettered: the values of DeadLetter.Reason.
const (
	// DeadUndecodable: the body is not an order message this code reads.
	DeadUndecodable = "undecodable"
	// DeadDeliveryLimit: the broker gave up on it after its delivery limit
	// (a worker died holding it too often).
	DeadDeliveryLimit = "delivery_limit"
	// DeadUnknownSale: it names a sale MySQL does not hold.
	DeadUnknownSale = "unknown_sale"
	// DeadInvalid: an order MySQL cannot store as it is.
	DeadInvalid = "invalid"
)
