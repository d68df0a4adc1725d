package order

import (
	"context"
	"time"
)

// StockSale is what a stock backend needs to decide a reservation on its own:
// the sale's window and its total, plus the orders MySQL already holds so
// that a warm-up can rebuild buyers and reservations after a loss.
type StockSale struct {
	ID         int64
	TotalStock int64
	StartsAt   time.Time
	EndsAt     time.Time
	// Persisted are the orders MySQL holds for the sale (any status). A warm-up
	// adds the ones the backend does not know: not-cancelled ones as held
	// reservations with their buyer, cancelled ones as cancelled.
	Persisted []Order
	// Rebuild says Persisted accounts for every order of the sale outside
	// the backend (a new sale, or a rebuild whose fence has passed): only
	// then may Warm load a sale the backend does not hold. Without it, Warm
	// of a sale that is not loaded is ErrStockNotLoaded and writes nothing.
	Rebuild bool
}

// ReservationState is the state of one reservation in the stock backend.
type ReservationState string

// Reservation states. A reservation moves RESERVED → CANCELLED at most once
// and the unit goes back to stock only on that move.
const (
	Reserved  ReservationState = "RESERVED"
	Cancelled ReservationState = "CANCELLED"
)

// Reservation is one unit held in the stock backend for one user.
type Reservation struct {
	OrderNo string
	SaleID  int64
	UserID  int64
	State   ReservationState
	// ReservedAt is when the unit was reserved, where the backend knows it
	// (Due always sets it); zero otherwise.
	ReservedAt time.Time
}

// StockSnapshot is a backend's view of one sale, for reconciliation.
type StockSnapshot struct {
	Loaded    bool
	Remaining int64
	// Reservations maps order_no to its reservation, in any state.
	Reservations map[string]Reservation
}

// Stock decides atomically whether a user gets a unit. Every method fails
// closed: an error never means a unit was sold.
//
// Invariant kept by every implementation: remaining + |RESERVED| = total.
type Stock interface {
	// Warm loads the sale's window and rebuilds remaining stock as
	// total − |RESERVED| after adding s.Persisted. It never guesses: a sale
	// that is not loaded is loaded only when s.Rebuild says so.
	Warm(ctx context.Context, s StockSale) error
	// Reserve takes one unit for r.UserID under r.OrderNo at now. Errors:
	// ErrStockNotLoaded, ErrNotStarted, ErrEnded, ErrSoldOut,
	// *AlreadyPurchasedError, ErrUnavailable (backend unreachable; the
	// reservation was not made). A call whose reply was lost is resolved
	// before Reserve returns: nil when the reservation stands, and
	// ErrReserveUnknown with ErrUnavailable when the backend could not be
	// asked again, so the reservation may stand.
	Reserve(ctx context.Context, r Reservation, now time.Time) error
	// Release moves the reservation RESERVED → CANCELLED, returns the unit
	// and frees the buyer; it reports whether this call made the move.
	// ErrStockNotLoaded when the backend does not hold the sale: its
	// reservations may come back with a rebuild, so the caller must not
	// count the unit as returned, and tries again once the sale is loaded.
	Release(ctx context.Context, saleID int64, orderNo string) (bool, error)
	// Remaining is the live number of units left; ErrStockNotLoaded when the
	// backend holds nothing for the sale.
	Remaining(ctx context.Context, saleID int64) (int64, error)
	// Lookup finds orderNo among the given sales' reservations.
	// ErrOrderNotFound when none holds it.
	Lookup(ctx context.Context, saleIDs []int64, orderNo string) (Reservation, error)
	// Snapshot returns the backend's whole view of one sale.
	Snapshot(ctx context.Context, saleID int64) (StockSnapshot, error)
	// Forget removes everything the backend holds for a sale. It is used
	// for a sale MySQL has just created (whatever the backend holds under
	// that id belongs to an earlier database and must not be merged) and by
	// a fenced rebuild, which then warms the sale from MySQL alone.
	Forget(ctx context.Context, saleID int64) error
	// Restock raises the sale's total to total and its remaining stock by
	// as much, only when the backend's total is below it: a repeat, or a
	// total already reached, changes nothing. It returns the remaining
	// stock after the call and whether this call raised it;
	// ErrStockNotLoaded when the sale is not loaded (a warm-up loads it
	// with MySQL's total).
	Restock(ctx context.Context, saleID, total int64) (int64, bool, error)

	// The in-flight index: every reservation is in it from Reserve until
	// MarkPersisted (MySQL holds its order) or Release. It is what the settler
	// reads, so a sale of millions of reservations is never scanned whole.

	// Due lists up to limit indexed reservations of the sale whose next
	// check is due before before, oldest first. A reservation's first check
	// is due at its reservation time; Postpone moves it. Every one listed
	// is RESERVED; ReservedAt is its reservation time.
	Due(ctx context.Context, saleID int64, before time.Time, limit int) ([]Reservation, error)
	// Postpone moves the next check of these reservations to at (their
	// orders were just republished). Unknown order numbers are ignored.
	Postpone(ctx context.Context, saleID int64, orderNos []string, at time.Time) error
	// MarkPersisted drops these reservations from the index: MySQL holds
	// their orders. They stay RESERVED and keep their units. Unknown order
	// numbers are ignored.
	MarkPersisted(ctx context.Context, saleID int64, orderNos []string) error
}

// UnitLimit is implemented by a stock backend that holds at most
// MaxUnits units per sale (memcached keeps a sale in one item); the
// wiring hands the limit to the catalog (WithUnitLimit).
type UnitLimit interface {
	MaxUnits() int64
}

// Publisher hands accepted orders to the queue. Publish returns nil only once
// the broker has confirmed the message (routed, persisted).
type Publisher interface {
	// Publish errors: ErrPublishFailed (nack or unroutable: definitely not
	// queued), ErrUnavailable (not sent: disconnected), ErrPublishUnconfirmed
	// (sent, outcome unknown: never compensate blindly).
	Publish(ctx context.Context, o Order) error
	// Ready reports whether a publish can be attempted now.
	Ready() bool
}

// DeadlinePublisher is a Publisher that can take a publish's deadline as
// a value instead of from its context: Publish(ctx, o) under ctx with
// that deadline, without the timer a context deadline starts. A purchase
// uses it when the queue offers it (the coalescer does): one timer less
// per order on the hot path.
type DeadlinePublisher interface {
	PublishBy(ctx context.Context, o Order, deadline time.Time) error
}

// Repository is the durable store as the API sees it.
type Repository interface {
	// CreateSale stores a new sale and reports true. With n.RequestID set
	// and already recorded, it creates nothing and returns the sale that
	// request created and false when n has the same Fingerprint, a
	// *RequestReusedError when not.
	CreateSale(ctx context.Context, n NewSale) (Sale, bool, error)
	// RemoveSale deletes a sale that holds no order, with its request id,
	// and records the removal in the audit trail when ctx carries the
	// create's AuditNote: the undoing of a create whose stock could not
	// be loaded. A sale that holds orders is left as it is (an error).
	RemoveSale(ctx context.Context, id int64) error
	// Sale returns ErrSaleNotFound for an unknown id.
	Sale(ctx context.Context, id int64) (Sale, error)
	// Sales lists up to limit sales, newest (highest id) first.
	Sales(ctx context.Context, limit int) ([]Sale, error)
	// AddStock raises the sale's total_stock by add and returns the sale.
	// A non-empty requestID is recorded with the change in the same
	// transaction: a call with a request id already recorded for the same
	// sale and add changes nothing and returns the sale as it is now;
	// recorded for another sale or add, it is ErrRequestReused.
	// ErrSaleNotFound for an unknown sale.
	AddStock(ctx context.Context, saleID, add int64, requestID string, now time.Time) (Sale, error)
	// OpenSales lists sales whose reservations may still be in flight: not
	// ended before since.
	OpenSales(ctx context.Context, since time.Time) ([]Sale, error)
	// Order returns ErrOrderNotFound for an unknown order_no.
	Order(ctx context.Context, orderNo string) (Order, error)
	// OrdersByNo returns the orders MySQL holds among orderNos, by order_no.
	OrdersByNo(ctx context.Context, orderNos []string) (map[string]Order, error)
	// SaleOrders lists every order of a sale, any status.
	SaleOrders(ctx context.Context, saleID int64) ([]Order, error)
	// Pay moves userID's order created → paid at now and returns it; a paid
	// order is returned as it is. ErrOrderNotFound for an unknown order or
	// another user's; ErrNotPayable for a cancelled one or once PaymentDue.
	// It races ExpireDue on a guarded status change: exactly one wins.
	Pay(ctx context.Context, userID int64, orderNo string, now time.Time) (Order, error)
	// ExpireDue cancels up to limit created (unpaid) orders of the sale
	// created before dueBefore, lowers sales.sold by as many and returns
	// them. The units stay held in the stock backend until released.
	ExpireDue(ctx context.Context, saleID int64, dueBefore time.Time, limit int) ([]Order, error)
	// Unreleased lists up to limit cancelled orders of the sale whose unit
	// is not yet recorded as back in the stock backend.
	Unreleased(ctx context.Context, saleID int64, limit int) ([]Order, error)
	// MarkReleased records that the stock backend has these orders' units.
	MarkReleased(ctx context.Context, orderNos []string, now time.Time) error
	Ping(ctx context.Context) error
}
