package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

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
func (s *Service) Pay(ctx context.Context, userID int64, orderNo string) (Order, error) {
	if _, err := uuid.Parse(orderNo); err != nil || userID <= 0 {
		return Order{}, ErrOrderNotFound
	}
	o, err := s.repo.Pay(ctx, userID, orderNo, s.now())
	switch {
	case err == nil:
		return o, nil
	case errors.Is(err, ErrNotPayable):
		return Order{}, err
	case !errors.Is(err, ErrOrderNotFound):
		return Order{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Not in MySQL: it may be a reservation the worker has not written yet.
	r, err := s.lookupReservation(ctx, orderNo)
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

// lookupReservation finds orderNo among the reservations of the sales that
// may still have some in flight.
func (s *Service) lookupReservation(ctx context.Context, orderNo string) (Reservation, error) {
	sales, err := s.repo.OpenSales(ctx, s.now().Add(-24*time.Hour))
	if err != nil {
		return Reservation{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ids := make([]int64, len(sales))
	for i, sale := range sales {
		ids[i] = sale.ID
	}
	return s.stock.Lookup(ctx, ids, orderNo)
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
func (s *Service) ExpireDue(ctx context.Context, now time.Time) (ExpiryResult, error) {
	sales, err := s.repo.OpenSales(ctx, now.Add(-expiryHorizon))
	if err != nil {
		return ExpiryResult{}, fmt.Errorf("expiry sweep: %w", err)
	}
	var res ExpiryResult
	err = eachSale(ctx, sales, func(sale Sale) error {
		r, err := s.expireSale(ctx, sale, now)
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

func (s *Service) expireSale(ctx context.Context, sale Sale, now time.Time) (ExpiryResult, error) {
	var res ExpiryResult
	if sale.PaymentWindow > 0 {
		dueBefore := now.Add(-sale.PaymentWindow)
		for range expiryBatches {
			expired, err := s.repo.ExpireDue(ctx, sale.ID, dueBefore, expiryBatch)
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
		n, pending, more, err := s.releaseCancelled(ctx, sale.ID, now)
		res.Returned += n
		res.Pending += pending
		if err != nil || !more {
			s.expired(ctx, sale.ID, res)
			return res, err
		}
	}
	s.expired(ctx, sale.ID, res)
	return res, nil
}

// releaseCancelled releases one batch of the sale's cancelled orders not
// yet released, and records the ones the stock backend settled. It reports
// the units returned, the releases that failed, and whether a full batch
// was settled (more may wait).
func (s *Service) releaseCancelled(ctx context.Context, saleID int64, now time.Time) (returned, pending int, more bool, err error) {
	orders, err := s.repo.Unreleased(ctx, saleID, expiryBatch)
	if err != nil || len(orders) == 0 {
		return 0, 0, false, err
	}
	nos := make([]string, len(orders))
	for i, o := range orders {
		nos[i] = o.OrderNo
	}
	back, err := s.returnUnits(ctx, saleID, nos, now)
	returned, pending = back.returned, back.failed
	switch {
	case errors.Is(back.releaseErr, ErrStockNotLoaded):
		s.log.InfoContext(ctx, "the stock backend does not hold the sale; its cancelled orders' units go back after its rebuild",
			"sale_id", saleID, "pending", pending)
	case back.releaseErr != nil:
		s.log.WarnContext(ctx, "release of cancelled orders failed; the next sweep retries",
			"sale_id", saleID, "failed", pending, "err", back.releaseErr)
	}
	if err != nil {
		return returned, pending, false, err
	}
	return returned, pending, pending == 0 && len(orders) == expiryBatch, nil
}

// unitsBack is what returnUnits did.
type unitsBack struct {
	returned   int   // units the backend got back by this call
	failed     int   // releases that failed; their orders stay unreleased
	releaseErr error // the first of those failures
}

// returnUnits gives back the units of these cancelled orders of one sale
// through the guarded Release, once each, and records with MarkReleased
// the ones the backend now holds (released by this call or an earlier
// one: a retry after a crash, another instance). A sale the backend does
// not hold (ErrStockNotLoaded) records nothing: a rebuild may bring the
// reservations back, and a later call releases them. When units came back,
// every instance stops answering sold_out. The error is MarkReleased's; a
// failed release is counted in failed and left for the next sweep.
func (s *Service) returnUnits(ctx context.Context, saleID int64, orderNos []string, now time.Time) (unitsBack, error) {
	var back unitsBack
	settled := make([]string, 0, len(orderNos))
	for _, no := range orderNos {
		released, err := s.stock.Release(ctx, saleID, no)
		if err != nil {
			back.failed++
			if back.releaseErr == nil {
				back.releaseErr = err
			}
			continue
		}
		if released {
			back.returned++
		}
		settled = append(settled, no)
	}
	if back.returned > 0 {
		s.flags.available(ctx, saleID, true)
	}
	if len(settled) > 0 {
		if err := s.repo.MarkReleased(ctx, settled, now); err != nil {
			return back, err
		}
	}
	return back, nil
}

func (s *Service) expired(ctx context.Context, saleID int64, r ExpiryResult) {
	if r.Expired == 0 && r.Returned == 0 {
		return
	}
	s.log.InfoContext(ctx, "unpaid orders expired and their stock returned",
		"sale_id", saleID, "expired", r.Expired, "units_returned", r.Returned, "release_pending", r.Pending)
}
