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
//
// A sale's batcher lives only while callers of the sale are in it: the
// last to leave drops it. So the state kept is bounded by the callers in
// flight, whatever sale ids clients send (a reservation comes before the
// sale is known to exist), and a quiet sale costs nothing.
type combiners struct {
	// decide rules on a batch of one sale, each reservation at its own time,
	// in order; one error per reservation.
	decide func(ctx context.Context, saleID int64, rs []order.Reservation, nows []time.Time) []error
	opts   []groupcommit.Option

	mu    sync.Mutex
	sales map[int64]*saleBatcher
}

// saleBatcher is a sale's batcher and the number of callers in it.
type saleBatcher struct {
	*groupcommit.Batcher[timedReservation]
	callers int
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
	b := cs.enter(res.SaleID)
	defer cs.leave(res.SaleID, b)
	return b.Do(ctx, timedReservation{res: res, now: now})
}

// enter returns the sale's batcher, made when the sale has none, counting
// the caller in.
func (cs *combiners) enter(saleID int64) *saleBatcher {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	b := cs.sales[saleID]
	if b == nil {
		if cs.sales == nil {
			cs.sales = make(map[int64]*saleBatcher)
		}
		b = &saleBatcher{Batcher: cs.newSale(saleID)}
		cs.sales[saleID] = b
	}
	b.callers++
	return b
}

// leave counts a caller out of the sale's batcher and drops the batcher
// when it was the last one.
func (cs *combiners) leave(saleID int64, b *saleBatcher) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if b.callers--; b.callers == 0 {
		delete(cs.sales, saleID)
	}
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

// len returns the number of sales that have a batcher.
func (cs *combiners) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.sales)
}
