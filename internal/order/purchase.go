package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Purchases is the purchase decision and the buyer's read of their order:
// the hot path of a flash sale, and all the public listener asks of the
// domain besides sale reads and payment.
type Purchases struct {
	stock purchaseStock
	pub   Publisher
	repo  purchaseRepo
	// tombstones records a purchase whose reservation's outcome is unknown
	// as cancelled (WithDeadLetters); nil leaves it to the settler.
	tombstones tombstoner
	flags      *soldOutFlags
	find       *reservationFinder
	deadline   publishDeadline
	// onUnconfirmed is called for publishes whose outcome was unknown;
	// their reservations stay held until the settler settles them.
	onUnconfirmed func(o Order, err error)
	log           *slog.Logger
	now           func() time.Time
}

// purchaseStock is what a purchase needs of the stock backend (Stock).
type purchaseStock interface {
	Reserve(ctx context.Context, r Reservation, now time.Time) error
	Release(ctx context.Context, saleID int64, orderNo string) (bool, error)
}

// purchaseRepo is what a purchase and an order read need of MySQL
// (Repository).
type purchaseRepo interface {
	Sale(ctx context.Context, id int64) (Sale, error)
	Order(ctx context.Context, orderNo string) (Order, error)
}

// tombstoner records orders MySQL does not hold as cancelled
// (DeadLetters.Tombstone).
type tombstoner interface {
	Tombstone(ctx context.Context, orders []Order, reason string, now time.Time) ([]string, error)
}

// WithUnconfirmedHook is called for every publish with an unknown outcome.
func WithUnconfirmedHook(f func(o Order, err error)) Option {
	return func(c *config) { c.onUnconfirmed = f }
}

// NewOrderNo returns a new order number: a UUIDv7, sortable by time.
func NewOrderNo() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("order number: %w", err)
	}
	return id.String(), nil
}

// KnownSoldOut answers from the local sold-out flag alone: ErrSoldOut, or an
// *AlreadyPurchasedError for a buyer, when this instance knows the sale is
// sold out; nil when the stock backend has to decide. It costs no backend
// call, so the HTTP edge asks it before spending a rate-limit token.
func (p *Purchases) KnownSoldOut(saleID, userID int64) error {
	held, out := p.flags.check(saleID, userID)
	switch {
	case !out:
		return nil
	case held != "":
		return &AlreadyPurchasedError{OrderNo: held}
	}
	return ErrSoldOut
}

// Place decides whether userID gets a unit of saleID and, if so, hands the
// order to the queue. A nil error means the broker confirmed the order.
func (p *Purchases) Place(ctx context.Context, saleID, userID int64) (Order, error) {
	if saleID <= 0 || userID <= 0 {
		return Order{}, ErrInvalid
	}
	if err := p.KnownSoldOut(saleID, userID); err != nil {
		return Order{}, err
	}
	if !p.pub.Ready() {
		return Order{}, fmt.Errorf("%w: queue not connected", ErrUnavailable)
	}
	// From here on the request's cancellation must not cut a decision in
	// half: a reservation whose reply is lost, or a publish whose confirm
	// nobody waits for, would leave a unit held for nobody. The backends'
	// own timeouts bound the work instead.
	ctx = context.WithoutCancel(ctx)
	orderNo, err := NewOrderNo()
	if err != nil {
		return Order{}, err
	}
	now := p.now()
	start := time.Now() // the publish deadline is counted from here, in real time
	r := Reservation{OrderNo: orderNo, SaleID: saleID, UserID: userID, State: Reserved}
	o := Order{OrderNo: orderNo, SaleID: saleID, UserID: userID, Status: StatusPending, CreatedAt: now}
	if err := p.stock.Reserve(ctx, r, now); err != nil {
		var held *AlreadyPurchasedError
		switch {
		case errors.As(err, &held) && held.OrderNo == orderNo:
			// The buyer holds this very order number: an attempt of this
			// reservation whose reply was lost ran, and the client sent it
			// again. It stands.
		case errors.Is(err, ErrSoldOut):
			p.flags.soldOut(ctx, saleID, true)
			return Order{}, err
		case errors.Is(err, ErrStockNotLoaded):
			return Order{}, p.notLoaded(ctx, saleID, err)
		case errors.Is(err, ErrReserveUnknown):
			return Order{}, p.reserveUnknown(ctx, o, err)
		default:
			return Order{}, err
		}
	}
	if err := p.publish(ctx, o, start); err != nil {
		return Order{}, p.publishFailed(ctx, o, err)
	}
	return o, nil
}

// publish hands o to the queue under the publish deadline counted from
// start: as a value when the queue takes one, else as ctx's deadline.
func (p *Purchases) publish(ctx context.Context, o Order, start time.Time) error {
	if by, ok := p.pub.(DeadlinePublisher); ok && p.deadline > 0 {
		return by.PublishBy(ctx, o, start.Add(time.Duration(p.deadline)))
	}
	pctx, cancel := p.deadline.context(ctx, start)
	defer cancel()
	return p.pub.Publish(pctx, o)
}

// reserveUnknown answers a purchase whose reservation may hold a unit
// though nobody could learn whether it does. The buyer is told it failed,
// so the order must never be published: it is recorded cancelled
// (ReasonNotQueued) under its own order number before the answer. The
// settler, finding it cancelled in MySQL, gives the unit back through the
// guarded release instead of republishing it (and so does the expiry
// sweep, which releases every cancelled order not yet released), and so
// it does for a reservation a late copy of the lost call makes after the
// record. If the record fails too, the settler may publish the order after
// SettleAfter: the answer names the order number for the buyer to poll.
func (p *Purchases) reserveUnknown(ctx context.Context, o Order, cause error) error {
	answer := &OutcomeUnknownError{OrderNo: o.OrderNo, Err: cause}
	if p.tombstones == nil {
		p.log.ErrorContext(ctx, "reservation outcome unknown and no store to record it cancelled; the settler may publish it",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", cause)
		return answer
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := p.tombstones.Tombstone(mctx, []Order{o}, ReasonNotQueued, p.now()); err != nil {
		p.log.ErrorContext(ctx, "reservation outcome unknown and recording it cancelled failed; the settler may publish it",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", cause, "record_err", err)
		return answer
	}
	p.log.WarnContext(ctx, "reservation outcome unknown; recorded cancelled, the settler returns its unit if it holds one",
		"sale_id", o.SaleID, "order_no", o.OrderNo, "err", cause)
	return answer
}

// notLoaded tells an unknown sale (404) from a known one whose stock is
// missing (fail closed, 503).
func (p *Purchases) notLoaded(ctx context.Context, saleID int64, cause error) error {
	if _, err := p.repo.Sale(ctx, saleID); err != nil {
		if errors.Is(err, ErrSaleNotFound) {
			return ErrSaleNotFound
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	p.log.ErrorContext(ctx, "stock not loaded for an existing sale; failing closed", "sale_id", saleID)
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}

// publishFailed compensates a definite failure and leaves an unknown one for
// reconciliation. Either way the client gets ErrUnavailable.
func (p *Purchases) publishFailed(ctx context.Context, o Order, err error) error {
	if errors.Is(err, ErrPublishUnconfirmed) {
		p.log.ErrorContext(ctx, "publish outcome unknown; reservation kept, the settler republishes it if MySQL never gets it",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", err)
		if p.onUnconfirmed != nil {
			p.onUnconfirmed(o, err)
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Definite failure (nack, unroutable, not sent): return the unit once.
	// A fresh context: the request's may be cancelled, the unit must go back.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	released, rerr := p.stock.Release(rctx, o.SaleID, o.OrderNo)
	if rerr != nil {
		p.log.ErrorContext(ctx, "release after failed publish failed; the settler republishes the order",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", rerr)
	} else if released {
		p.flags.available(rctx, o.SaleID, true)
	}
	p.log.WarnContext(ctx, "publish failed; reservation released",
		"sale_id", o.SaleID, "order_no", o.OrderNo, "released", released, "err", err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Order returns userID's order orderNo: created/paid/cancelled once in
// MySQL, pending while only reserved. Another user's order is not found.
func (p *Purchases) Order(ctx context.Context, userID int64, orderNo string) (Order, error) {
	id, err := uuid.Parse(orderNo)
	if err != nil {
		return Order{}, ErrOrderNotFound
	}
	o, err := p.repo.Order(ctx, orderNo)
	switch {
	case err == nil:
		if o.UserID != userID {
			return Order{}, ErrOrderNotFound
		}
		return o, nil
	case !errors.Is(err, ErrOrderNotFound):
		return Order{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	r, err := p.find.reservation(ctx, orderNo)
	if err != nil {
		return Order{}, err
	}
	if r.UserID != userID {
		return Order{}, ErrOrderNotFound
	}
	st := StatusPending
	if r.State == Cancelled {
		st = StatusCancelled
	}
	// The reservation time is the order number's own: UUIDv7 carries it.
	sec, nsec := id.Time().UnixTime()
	o = Order{OrderNo: r.OrderNo, SaleID: r.SaleID, UserID: r.UserID, Status: st, CreatedAt: time.Unix(sec, nsec)}
	if st == StatusCancelled {
		// Only a definite publish failure cancels an order MySQL never saw.
		o.Reason = ReasonNotQueued
	}
	return o, nil
}

// Announced applies an announcement from any instance (this one included).
func (p *Purchases) Announced(ctx context.Context, saleID int64, soldOut bool) {
	if soldOut {
		p.flags.soldOut(ctx, saleID, false)
		return
	}
	p.flags.available(ctx, saleID, false)
}
