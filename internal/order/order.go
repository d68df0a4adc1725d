package order

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// SaleStatus is what a client sees of a sale's life cycle.
type SaleStatus string

// Sale statuses, as exposed by GET /api/v1/sales/{id}.
const (
	SaleUpcoming SaleStatus = "upcoming"
	SaleActive   SaleStatus = "active"
	SaleSoldOut  SaleStatus = "sold_out"
	SaleEnded    SaleStatus = "ended"
)

// Sale is a flash sale: TotalStock units sold between StartsAt and EndsAt.
type Sale struct {
	ID            int64
	Name          string
	PriceCents    int64
	TotalStock    int64
	Sold          int64 // orders persisted and not cancelled, as counted by MySQL
	StartsAt      time.Time
	EndsAt        time.Time
	PaymentWindow time.Duration
	// Admission is the door in front of the sale: off unless set.
	Admission Admission
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Admission is how buyers are let in to a sale: a waiting room that admits
// RatePerSecond buyers a second in arrival order, and a proof of work of
// PowBits leading zero bits per try. Zero turns either off; with either on,
// a purchase needs an admission ticket.
type Admission struct {
	RatePerSecond int64
	PowBits       int
}

// Bounds of an admission setting.
const (
	MaxAdmissionRate = 1_000_000
	MaxPowBits       = 26
)

// On tells whether purchases need a ticket.
func (a Admission) On() bool { return a.RatePerSecond > 0 || a.PowBits > 0 }

// Validate reports a setting out of bounds, wrapped in ErrInvalid.
func (a Admission) Validate() error {
	switch {
	case a.RatePerSecond < 0 || a.RatePerSecond > MaxAdmissionRate:
		return Invalid(fmt.Sprintf("admission.rate_per_second must be an integer from 0 (no waiting room) to %d", MaxAdmissionRate))
	case a.PowBits < 0 || a.PowBits > MaxPowBits:
		return Invalid(fmt.Sprintf("admission.pow_bits must be an integer from 0 (no proof of work) to %d", MaxPowBits))
	}
	return nil
}

// StatusAt tells the sale's status at now given the live remaining stock.
func (s Sale) StatusAt(now time.Time, remaining int64) SaleStatus {
	switch {
	case now.Before(s.StartsAt):
		return SaleUpcoming
	case !now.Before(s.EndsAt):
		return SaleEnded
	case remaining <= 0:
		return SaleSoldOut
	default:
		return SaleActive
	}
}

// MaxRequestIDLen bounds the request id of an admin change.
const MaxRequestIDLen = 100

// NewSale is what an operator supplies to open a sale.
type NewSale struct {
	Name          string
	PriceCents    int64
	TotalStock    int64
	StartsAt      time.Time
	EndsAt        time.Time
	PaymentWindow time.Duration
	Admission     Admission
	// RequestID, when set, names this create: a repeat with the same
	// RequestID and the same sale creates nothing and answers the sale
	// the first one created.
	RequestID string
}

// Fingerprint identifies the sale a create asks for, RequestID aside:
// two creates under one RequestID must have the same fingerprint to be
// the same request. It is the SHA-256 (hex) of the sale's fields as JSON,
// times in UTC.
func (n NewSale) Fingerprint() string {
	n.RequestID = ""
	n.StartsAt, n.EndsAt = n.StartsAt.UTC(), n.EndsAt.UTC()
	b, err := json.Marshal(n)
	if err != nil { // a struct of plain values always encodes
		panic(fmt.Sprintf("order: encode new sale: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Validate reports the first problem with a new sale, wrapped in ErrInvalid.
func (n NewSale) Validate() error {
	switch {
	case n.Name == "":
		return Invalid("name is required")
	case len(n.Name) > 200:
		return Invalid("name is longer than 200 bytes")
	case n.PriceCents < 0:
		return Invalid("price_cents must not be negative")
	case n.TotalStock <= 0:
		return Invalid("total_stock must be positive")
	case n.StartsAt.IsZero() || n.EndsAt.IsZero():
		return Invalid("starts_at and ends_at are required")
	case !n.EndsAt.After(n.StartsAt):
		return Invalid("ends_at must be after starts_at")
	case n.PaymentWindow < 0:
		return Invalid("payment_window_seconds must not be negative")
	case len(n.RequestID) > MaxRequestIDLen:
		return Invalidf("request_id is longer than %d bytes", MaxRequestIDLen)
	}
	return n.Admission.Validate()
}

// Status is an order's state as a client sees it.
type Status string

// Order statuses. Pending means reserved in the stock backend and handed to
// the queue but not yet in MySQL; created means persisted.
const (
	StatusPending   Status = "pending"
	StatusCreated   Status = "created"
	StatusPaid      Status = "paid"
	StatusCancelled Status = "cancelled"
)

// PaymentDue is the one rule of the payment window: an order created at
// createdAt can no longer be paid, and is due for expiry, once now is past
// createdAt + window. A window of 0 never closes.
func PaymentDue(createdAt time.Time, window time.Duration, now time.Time) bool {
	return window > 0 && now.After(createdAt.Add(window))
}

// Order is one unit of one sale held by one user.
type Order struct {
	OrderNo   string
	SaleID    int64
	UserID    int64
	Status    Status
	CreatedAt time.Time
	// Reason says why a cancelled order was cancelled (one of the Reason…
	// values); empty for any other status.
	Reason string
}

// Why an order was cancelled: the values of Order.Reason, shown to the
// buyer and carried by order.cancelled events.
const (
	// ReasonExpired: not paid within the sale's payment window.
	ReasonExpired = "expired"
	// ReasonSoldOut: the store's stock guard found no unit left for it
	// (the stock backend had accepted more than the sale holds, e.g. after
	// losing its state).
	ReasonSoldOut = "sold_out"
	// ReasonDuplicateBuyer: the store already holds another live order of
	// the same buyer for the sale.
	ReasonDuplicateBuyer = "duplicate_buyer"
	// ReasonDiscarded: an operator discarded it from the dead letters.
	ReasonDiscarded = "discarded"
	// ReasonNotQueued: the broker refused the order before it was queued
	// (the buyer was answered 503, not 202); the unit went back.
	ReasonNotQueued = "not_queued"
)

// Reconciliation is the per-sale stock invariant check, served as GET
// /admin/v1/sales/{id}/reconcile: TotalStock = Remaining +
// ReservedInFlight + Persisted.
type Reconciliation struct {
	SaleID           int64
	TotalStock       int64
	Remaining        int64
	ReservedInFlight int64
	Persisted        int64
	Cancelled        int64
	// StockLoaded is false when the stock backend holds no stock for the
	// sale (evicted, restarted, never warmed); the sale then fails closed.
	StockLoaded bool
	// Orphans are orders in MySQL that the stock backend has no reservation
	// for; any orphan makes the sale inconsistent.
	Orphans    int64
	Consistent bool
	// OldestReservedAt is the reservation time of the oldest reservation
	// in flight (zero when none); Judge turns it into OldestInFlight.
	OldestReservedAt time.Time
	// OldestInFlight is the age of the oldest reservation in flight at the
	// time of Judge; Stuck says it is past the settle bound.
	OldestInFlight time.Duration
	Stuck          bool
}

// Judge ages the oldest reservation in flight at now: past bound (the
// settler's SettleAfter plus one pass) it is stuck and the sale is not
// consistent.
func (r *Reconciliation) Judge(now time.Time, bound time.Duration) {
	if r.OldestReservedAt.IsZero() {
		return
	}
	r.OldestInFlight = max(0, now.Sub(r.OldestReservedAt))
	if r.OldestInFlight > bound {
		r.Stuck = true
		r.Consistent = false
	}
}

// Gap is TotalStock − (Remaining + ReservedInFlight + Persisted): zero when
// the invariant holds, positive when units are missing, negative when oversold.
func (r Reconciliation) Gap() int64 {
	return r.TotalStock - (r.Remaining + r.ReservedInFlight + r.Persisted)
}

// OrderTime is the time an order number was made, read from the UUIDv7
// itself; zero for an order number that is not a UUIDv7.
func OrderTime(orderNo string) time.Time {
	id, err := uuid.Parse(orderNo)
	if err != nil || id.Version() != 7 {
		return time.Time{}
	}
	sec, nsec := id.Time().UnixTime()
	return time.Unix(sec, nsec)
}
