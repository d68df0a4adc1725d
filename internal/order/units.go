package order

import (
	"context"
	"time"
)

// unitReturner gives the units of cancelled orders back to the stock
// backend and records them released. The expiry sweep, the settler and a
// dead letter's discard all return units through it, so each one reopens
// a sold-out sale on every instance the same way.
type unitReturner struct {
	stock interface {
		Release(ctx context.Context, saleID int64, orderNo string) (bool, error)
	}
	repo interface {
		MarkReleased(ctx context.Context, orderNos []string, now time.Time) error
	}
	flags *soldOutFlags
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
func (u *unitReturner) returnUnits(ctx context.Context, saleID int64, orderNos []string, now time.Time) (unitsBack, error) {
	var back unitsBack
	released := make([]string, 0, len(orderNos))
	for _, no := range orderNos {
		moved, err := u.stock.Release(ctx, saleID, no)
		if err != nil {
			back.failed++
			if back.releaseErr == nil {
				back.releaseErr = err
			}
			continue
		}
		if moved {
			back.returned++
		}
		released = append(released, no)
	}
	if back.returned > 0 {
		u.flags.available(ctx, saleID, true)
	}
	if len(released) > 0 {
		if err := u.repo.MarkReleased(ctx, released, now); err != nil {
			return back, err
		}
	}
	return back, nil
}
