package order

import (
	"errors"
	"fmt"
)

// Domain errors. Adapters wrap them with %w; the HTTP edge maps them to
// status codes in one function with errors.Is / errors.As.
var (
	ErrSaleNotFound       = errors.New("sale not found")
	ErrOrderNotFound      = errors.New("order not found")
	ErrNotStarted         = errors.New("sale has not started")
	ErrEnded              = errors.New("sale has ended")
	ErrSoldOut            = errors.New("sold out")
	ErrAlreadyPurchased   = errors.New("already purchased")
	ErrNotPayable         = errors.New("order is not payable")
	ErrInvalid            = errors.New("invalid request")
	ErrRateLimited        = errors.New("rate limited")
	ErrUnauthorized       = errors.New("unauthorized")
	ErrUnavailable        = errors.New("service unavailable")
	ErrStockNotLoaded     = errors.New("stock not loaded for sale")
	ErrPublishFailed      = errors.New("publish definitely failed")
	ErrPublishUnconfirmed = errors.New("publish outcome unknown")
	// ErrAdmissionRequired: the sale lets buyers in through its admission
	// (waiting room, proof of work) and the purchase carries no ticket.
	ErrAdmissionRequired = errors.New("admission ticket required")
	// ErrAdmissionInvalid: a ticket, challenge, proof or queue token that
	// is forged, expired, spent, or another user's or sale's.
	ErrAdmissionInvalid = errors.New("admission refused")
	// ErrReserveUnknown: a reservation reached the stock backend but its
	// outcome could not be learned (the reply was lost and the backend did
	// not answer again): it may hold a unit. Stock adapters wrap it
	// together with ErrUnavailable.
	ErrReserveUnknown = errors.New("reservation outcome unknown")
	// ErrRequestReused: a request_id already names another change.
	ErrRequestReused = errors.New("request_id reused")
)

// OutcomeUnknownError is a purchase refused while its reservation's
// outcome is unknown: the buyer is told it failed, and OrderNo is recorded
// cancelled so that the settler gives back the unit the reservation may
// hold instead of publishing its order. The buyer may poll OrderNo. It
// matches ErrUnavailable with errors.Is.
type OutcomeUnknownError struct {
	OrderNo string
	Err     error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("purchase %s: outcome unknown: %v", e.OrderNo, e.Err)
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// AlreadyPurchasedError carries the order number the user already holds.
// It matches ErrAlreadyPurchased with errors.Is.
type AlreadyPurchasedError struct {
	OrderNo string
}

func (e *AlreadyPurchasedError) Error() string {
	return fmt.Sprintf("already purchased: order %s", e.OrderNo)
}

// Is makes errors.Is(err, ErrAlreadyPurchased) true.
func (e *AlreadyPurchasedError) Is(target error) bool { return target == ErrAlreadyPurchased }

// NotPayableError says why an order cannot be paid. It matches
// ErrNotPayable with errors.Is; Reason is meant for the client.
type NotPayableError struct {
	Reason string
}

func (e *NotPayableError) Error() string { return "order is not payable: " + e.Reason }

// Is makes errors.Is(err, ErrNotPayable) true.
func (e *NotPayableError) Is(target error) bool { return target == ErrNotPayable }

// Reasons an order cannot be paid.
var (
	ErrPaymentCancelled = &NotPayableError{Reason: "the order was cancelled"}
	ErrPaymentClosed    = &NotPayableError{Reason: "the payment window has closed"}
	ErrPaymentPending   = &NotPayableError{Reason: "the order is still being recorded; retry shortly"}
)

// RequestError is a request refused for the client's mistake: Kind is
// ErrInvalid, ErrUnauthorized or ErrRequestReused, which it matches with
// errors.Is, and Message says what was wrong in the API's words, for the
// client as it stands. Error puts Kind in front of it, for logs.
type RequestError struct {
	Kind    error
	Message string
}

func (e *RequestError) Error() string { return e.Kind.Error() + ": " + e.Message }

// Unwrap returns Kind.
func (e *RequestError) Unwrap() error { return e.Kind }

// Invalid is ErrInvalid with msg for the client.
func Invalid(msg string) error { return &RequestError{Kind: ErrInvalid, Message: msg} }

// Invalidf is Invalid with a message formatted as fmt.Sprintf does.
func Invalidf(format string, args ...any) error { return Invalid(fmt.Sprintf(format, args...)) }

// Unauthorized is ErrUnauthorized with msg for the client.
func Unauthorized(msg string) error { return &RequestError{Kind: ErrUnauthorized, Message: msg} }

// RequestReused is ErrRequestReused for requestID, already used for the
// change used describes (e.g. "to add 10 units to sale 2"), with a
// message for the client.
func RequestReused(requestID, used string) error {
	return &RequestError{Kind: ErrRequestReused,
		Message: fmt.Sprintf("request_id %q was already used %s; send a new request_id for a different change", requestID, used)}
}
