package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Payments pays orders and expires the unpaid ones once their payment
// window has closed, returning their units.
type Payments struct {
	repo  paymentRepo
	find  *reservationFinder
	units *unitReturner
	log   *slog.Logger
	now   func() time.Time
}

// paymentRepo is what payment and expiry need of MySQL (Repository).
type paymentRepo interface {
	Pay(ctx context.Context, userID int64, orderNo string, now time.Time) (Order, error)
	OpenSales(ctx context.Context, since time.Time) ([]Sale, error)
	ExpireDue(ctx context.Context, saleID int64, dueBefore time.Time, limit int) ([]Order, error)
	Unreleased(ctx context.Context, saleID int64, limit int) ([]Order, error)
}

// expiryHorizon is how long after a sale ended the sweeper still looks at
// it: an order created just before the end expires a payment window later,
// and a release interrupted by a crash is finished within this time.
const expiryHorizon = 7 * 24 * time.Hour

// expiryBatch bounds the orders one repository call cancels or releases;
// expiryBatches bounds the calls per sale in one sweep, so one sale with a
// large backlog cannot hold a sweep for long (the next sweep continues).
const (
	expiryBatch   = 500
	expiryBatches = 20
)

// Pay pays userID's order orderNo. Paying a paid order answers it again.
// An order only reserved (not yet written by the worker) is not payable
// yet: ErrNotPayable asking to retry. Another user's order is not found.
func (p *Payments) Pay(ctx context.Context, userID int64, orderNo string) (Order, error) {
	if _, err := uuid.Parse(orderNo); err != nil || userID <= 0 {
		return Order{}, ErrOrderNotFound
	}
	o, err := p.repo.Pay(ctx, userID, orderNo, p.now())
	switch {
	case err == nil:
		return o, nil
	case errors.Is(err, ErrNotPayable):
		return Order{}, err
	case !errors.Is(err, ErrOrderNotFound):
		return Order{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Not in MySQL: it may be a reservation the worker has not written yet.
	r, err := p.find.reservation(ctx, orderNo)
	if err != nil {
		return Order{}, err
	}
	switch {
	case r.UserID != userID:
		return Order{}, ErrOrderNotFound
	case r.State == Cancelled:
		return Order{}, ErrPaymentCancelled
	}
	return Order{}, ErrPaymentPending
}

// ExpiryResult is what one expiry sweep did.
type ExpiryResult struct {
	// Expired counts the unpaid orders cancelled in MySQL.
	Expired int
	// Returned counts the units that went back to the stock backend (the
	// expired orders', and any left unreleased by an earlier sweep).
	Returned int
	// Pending counts cancelled orders whose release failed this time; the
	// next sweep tries again.
	Pending int
}

// ExpireDue runs one expiry sweep at now. For every sale that can still
// hold unpaid orders it cancels, in MySQL first, the created orders whose
// payment window has closed (ExpireDue of the repository), then gives the
// unit of every cancelled order not yet released back to the stock backend
// through the guarded Release, and records it. A unit goes back only once
// MySQL can no longer let its order be paid; Release returns a unit at most
// once, so several api instances may sweep at the same time, and a sweep
// cut short between the two steps is finished by the next one.
//
// It returns the first error met but sweeps every sale regardless.
func (p *Payments) ExpireDue(ctx context.Context, now time.Time) (ExpiryResult, error) {
	sales, err := p.repo.OpenSales(ctx, now.Add(-expiryHorizon))
	if err != nil {
		return ExpiryResult{}, fmt.Errorf("expiry sweep: %w", err)
	}
	var res ExpiryResult
	err = eachSale(ctx, sales, func(sale Sale) error {
		r, err := p.expireSale(ctx, sale, now)
		res.Expired += r.Expired
		res.Returned += r.Returned
		res.Pending += r.Pending
		if err != nil {
			return fmt.Errorf("expiry sweep of sale %d: %w", sale.ID, err)
		}
		return nil
	})
	return res, err
}

func (p *Payments) expireSale(ctx context.Context, sale Sale, now time.Time) (ExpiryResult, error) {
	var res ExpiryResult
	if sale.PaymentWindow > 0 {
		dueBefore := now.Add(-sale.PaymentWindow)
		for range expiryBatches {
			expired, err := p.repo.ExpireDue(ctx, sale.ID, dueBefore, expiryBatch)
			if err != nil {
				return res, err
			}
			res.Expired += len(expired)
			if len(expired) < expiryBatch {
				break
			}
		}
	}
	for range expiryBatches {
		n, pending, more, err := p.releaseCancelled(ctx, sale.ID, now)
		res.Returned += n
		res.Pending += pending
		if err != nil || !more {
			p.expired(ctx, sale.ID, res)
			return res, err
		}
	}
	p.expired(ctx, sale.ID, res)
	return res, nil
}

// releaseCancelled releases one batch of the sale's cancelled orders not
// yet released, and records the ones the stock backend released. It
// reports the units returned, the releases that failed, and whether a
// full batch was released (more may wait).
func (p *Payments) releaseCancelled(ctx context.Context, saleID int64, now time.Time) (returned, pending int, more bool, err error) {
	orders, err := p.repo.Unreleased(ctx, saleID, expiryBatch)
	if err != nil || len(orders) == 0 {
		return 0, 0, false, err
	}
	nos := make([]string, len(orders))
	for i, o := range orders {
		nos[i] = o.OrderNo
	}
	back, err := p.units.returnUnits(ctx, saleID, nos, now)
	returned, pending = back.returned, back.failed
	switch {
	case errors.Is(back.releaseErr, ErrStockNotLoaded):
		p.log.InfoContext(ctx, "the stock backend does not hold the sale; its cancelled orders' units go back after its rebuild",
			"sale_id", saleID, "pending", pending)
	case back.releaseErr != nil:
		p.log.WarnContext(ctx, "release of cancelled orders failed; the next sweep retries",
			"sale_id", saleID, "failed", pending, "err", back.releaseErr)
	}
	if err != nil {
		return returned, pending, false, err
	}
	return returned, pending, pending == 0 && len(orders) == expiryBatch, nil
}

func (p *Payments) expired(ctx context.Context, saleID int64, r ExpiryResult) {
	if r.Expired == 0 && r.Returned == 0 {
		return
	}
	p.log.InfoContext(ctx, "unpaid orders expired and their stock returned",
		"sale_id", saleID, "expired", r.Expired, "units_returned", r.Returned, "release_pending", r.Pending)
}
