package stock

import (
	"context"
	"sync"
	"time"

	"github.com/seckill/seckill/internal/groupcommit"
	"github.com/seckill/seckill/internal/order"
)

// combineLimit bounds the reservations one combined script call decides.
const combineLimit = 256

// combiners group the concurrent reservations of each sale (group commit):
// while one batch of a sale is being decided, later callers queue, and the
// first of them decides the whole queue in the next call. One call per
// batch instead of one per caller is what lets a hot sale go faster than
// the backend's round trip. Each sale has its own groupcommit.Batcher with
// one batch in flight, so the batches of a sale are decided one after
// another.
type combiners struct {
	// decide settles a batch of one sale, each reservation at its own time,
	// in order; one error per reservation.
	decide func(ctx context.Context, saleID int64, rs []order.Reservation, nows []time.Time) []error
	sales  sync.Map // sale id → *groupcommit.Batcher[timedReservation]
	opts   []groupcommit.Option
}

// timedReservation is a reservation and the time its caller asked at.
type timedReservation struct {
	res order.Reservation
	now time.Time
}

// reserve queues res behind the sale's batch in flight and returns its
// decision. Once queued, a reservation is decided even if ctx ends: the
// caller cannot know whether it has been, so it waits for the answer.
func (cs *combiners) reserve(ctx context.Context, res order.Reservation, now time.Time) error {
	v, ok := cs.sales.Load(res.SaleID)
	if !ok {
		v, _ = cs.sales.LoadOrStore(res.SaleID, cs.newSale(res.SaleID))
	}
	return v.(*groupcommit.Batcher[timedReservation]).Do(ctx, timedReservation{res: res, now: now})
}

// newSale returns the batcher of one sale.
func (cs *combiners) newSale(saleID int64) *groupcommit.Batcher[timedReservation] {
	return groupcommit.New(combineLimit, 1, func(ctx context.Context, batch []timedReservation) []error {
		rs := make([]order.Reservation, len(batch))
		nows := make([]time.Time, len(batch))
		for i, w := range batch {
			rs[i], nows[i] = w.res, w.now
		}
		return cs.decide(ctx, saleID, rs, nows)
	}, cs.opts...)
}
