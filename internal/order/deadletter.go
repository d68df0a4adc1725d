package order

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"
)

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

// How an operator closed a dead letter. A dead letter is open until an
// operator replays or discards it, closed for good afterwards.
const (
	// ClosedReplayed: its orders went back to the order queue.
	ClosedReplayed = "replayed"
	// ClosedDiscarded: its orders were cancelled and their units returned.
	ClosedDiscarded = "discarded"
)

// MaxDeadLetterIDs bounds the ids one replay or discard names, and the
// dead letters one list returns.
const MaxDeadLetterIDs = 1000

// DeadLetters keeps the worker's dead letters. Every method fails with the
// store's error when the store does not answer.
type DeadLetters interface {
	// DeadLetters lists up to limit open dead letters, newest first,
	// with their orders, and how many open ones there are in all.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, int64, error)
	// DeadLettersByID returns the open dead letters among ids, by id;
	// unknown and closed ids are left out.
	DeadLettersByID(ctx context.Context, ids []int64) ([]DeadLetter, error)
	// OpenDeadLetters returns every open dead letter, oldest first.
	OpenDeadLetters(ctx context.Context) ([]DeadLetter, error)
	// CloseDeadLetter marks one closed (ClosedReplayed or
	// ClosedDiscarded) at now; false when it was closed already, so of
	// two operators exactly one closes it.
	CloseDeadLetter(ctx context.Context, id int64, how string, now time.Time) (bool, error)
	// Tombstone records the orders MySQL does not hold yet as cancelled
	// for reason, their units not yet released, and returns the order
	// numbers it wrote. Orders MySQL holds already are left as they are.
	Tombstone(ctx context.Context, orders []Order, reason string, now time.Time) ([]string, error)
}

// WithDeadLetters lets the dead-letter desk list, replay and discard dead
// letters kept in d. Without it those calls are ErrUnavailable. Place
// also records through d's Tombstone the purchases whose reservation's
// outcome is unknown (see OutcomeUnknownError).
func WithDeadLetters(d DeadLetters) Option { return func(c *config) { c.deadLetters = d } }

// DeadLetterDesk is the operator's desk for dead letters: it lists the
// open ones, replays their orders or discards them, closing each.
type DeadLetterDesk struct {
	store DeadLetters // nil: every call is ErrUnavailable
	pub   publisher
	units *unitReturner
	log   *slog.Logger
	now   func() time.Time
}

// List lists up to limit (1 to MaxDeadLetterIDs) open dead letters,
// newest first, and how many there are in all.
func (desk *DeadLetterDesk) List(ctx context.Context, limit int) ([]DeadLetter, int64, error) {
	if limit < 1 || limit > MaxDeadLetterIDs {
		return nil, 0, Invalidf("limit must be between 1 and %d", MaxDeadLetterIDs)
	}
	if desk.store == nil {
		return nil, 0, errNoDeadLetters
	}
	list, total, err := desk.store.DeadLetters(ctx, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return list, total, nil
}

// Replay publishes every order of the named dead letters (all
// open ones when all is set) again under its original order number,
// then marks each replayed; it returns how many it replayed. The worker
// is idempotent per order number and MySQL guards stock, so an order that
// reached MySQL meanwhile is a duplicate and one that no longer fits is
// refused and recorded cancelled. A dead letter without orders (a message
// that could not be decoded) has nothing to replay: it is left open,
// not counted, for an operator to discard. Unknown and already closed
// ids are not counted either. When a publish fails the replay stops with
// ErrUnavailable; what was published before stays published, and
// replaying again is safe.
func (desk *DeadLetterDesk) Replay(ctx context.Context, ids []int64, all bool) (int, error) {
	if all == (len(ids) > 0) {
		return 0, Invalid(`give either ids, a list of dead-letter ids, or "all": true, not both`)
	}
	letters, err := desk.pickDeadLetters(ctx, ids, all)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range letters {
		if len(d.Orders) == 0 {
			desk.log.WarnContext(ctx, "dead letter holds no order to replay; discard it instead",
				"dead_letter_id", d.ID, "reason", d.Reason)
			continue
		}
		for _, o := range d.Orders {
			o.Status, o.Reason = StatusPending, ""
			if err := desk.pub.Publish(ctx, o); err != nil {
				return n, fmt.Errorf("%w: replay dead letter %d, order %s: %w", ErrUnavailable, d.ID, o.OrderNo, err)
			}
		}
		ok, err := desk.store.CloseDeadLetter(ctx, d.ID, ClosedReplayed, desk.now())
		if err != nil {
			return n, fmt.Errorf("%w: mark dead letter %d replayed: %w", ErrUnavailable, d.ID, err)
		}
		if ok {
			n++
			desk.log.InfoContext(ctx, "dead letter replayed", "dead_letter_id", d.ID,
				"reason", d.Reason, "orders", len(d.Orders))
		}
	}
	return n, nil
}

// Discard closes the named dead letters for good and returns
// how many it discarded. Each order MySQL does not hold is recorded
// cancelled (ReasonDiscarded) under its own order number, so a late copy
// is a duplicate, and its unit goes back through the guarded release,
// once. An order MySQL already holds (replayed meanwhile, or refused and
// recorded by the worker) is left as it is. A release that fails is left
// to the expiry sweep, which releases every cancelled order not yet
// released. Unknown and already closed ids are not counted.
func (desk *DeadLetterDesk) Discard(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, Invalid("ids is required: a list of dead-letter ids")
	}
	letters, err := desk.pickDeadLetters(ctx, ids, false)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range letters {
		now := desk.now()
		written, err := desk.store.Tombstone(ctx, d.Orders, ReasonDiscarded, now)
		if err != nil {
			return n, fmt.Errorf("%w: discard dead letter %d: %w", ErrUnavailable, d.ID, err)
		}
		returned := desk.releaseDiscarded(ctx, d, written, now)
		ok, err := desk.store.CloseDeadLetter(ctx, d.ID, ClosedDiscarded, now)
		if err != nil {
			return n, fmt.Errorf("%w: mark dead letter %d discarded: %w", ErrUnavailable, d.ID, err)
		}
		if ok {
			n++
			desk.log.InfoContext(ctx, "dead letter discarded", "dead_letter_id", d.ID, "reason", d.Reason,
				"orders", len(d.Orders), "cancelled", len(written), "units_returned", returned)
		}
	}
	return n, nil
}

// releaseDiscarded gives back the units of the orders of d just recorded
// cancelled, records the releases, and returns how many units came back.
// A release or record that fails is left to the expiry sweep, which
// releases every cancelled order not yet released.
func (desk *DeadLetterDesk) releaseDiscarded(ctx context.Context, d DeadLetter, written []string, now time.Time) int {
	sales := make(map[string]int64, len(d.Orders))
	for _, o := range d.Orders {
		sales[o.OrderNo] = o.SaleID
	}
	bySale := make(map[int64][]string)
	for _, no := range written {
		bySale[sales[no]] = append(bySale[sales[no]], no)
	}
	returned := 0
	for saleID, nos := range bySale {
		back, err := desk.units.returnUnits(ctx, saleID, nos, now)
		returned += back.returned
		if err = cmp.Or(back.releaseErr, err); err != nil {
			desk.log.WarnContext(ctx, "release of discarded orders failed; the expiry sweep retries",
				"dead_letter_id", d.ID, "sale_id", saleID, "failed", back.failed, "err", err)
		}
	}
	return returned
}

// pickDeadLetters checks ids and reads the open dead letters they
// name (every open one when all is set).
func (desk *DeadLetterDesk) pickDeadLetters(ctx context.Context, ids []int64, all bool) ([]DeadLetter, error) {
	if len(ids) > MaxDeadLetterIDs {
		return nil, Invalidf("ids must name at most %d dead letters", MaxDeadLetterIDs)
	}
	for _, id := range ids {
		if id <= 0 {
			return nil, Invalid("ids must be a list of dead-letter ids, integers of 1 or more")
		}
	}
	if desk.store == nil {
		return nil, errNoDeadLetters
	}
	var (
		letters []DeadLetter
		err     error
	)
	if all {
		letters, err = desk.store.OpenDeadLetters(ctx)
	} else {
		letters, err = desk.store.DeadLettersByID(ctx, ids)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read dead letters: %w", ErrUnavailable, err)
	}
	return letters, nil
}

// errNoDeadLetters answers the calls of a dead-letter desk built without
// WithDeadLetters.
var errNoDeadLetters = fmt.Errorf("%w: dead letters are not kept by this service", ErrUnavailable)
