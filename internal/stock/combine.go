package stock

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// combineLimit bounds the reservations one combined script call decides.
const combineLimit = 256

// errLead tells a queued caller that it now decides the queue.
var errLead = errors.New("stock: lead the next batch")

// combiners group the concurrent reservations of each sale (group commit):
// while one batch of a sale is being decided, later callers queue, and the
// first of them decides the whole queue in the next call. One call per
// batch instead of one per caller is what lets a hot sale go faster than
// the backend's round trip.
type combiners struct {
	// decide settles a batch of one sale, each reservation at its own time,
	// in order; one error per reservation.
	decide func(ctx context.Context, saleID int64, rs []order.Reservation, nows []time.Time) []error
	sales  sync.Map // sale id → *combiner
}

type combiner struct {
	mu      sync.Mutex
	queue   []*waiting
	leading bool
}

type waiting struct {
	res  order.Reservation
	now  time.Time
	done chan error // the decision, or errLead
}

// reserve queues res behind the sale's batch in flight and returns its
// decision. Once queued, a reservation is decided even if ctx ends: the
// caller cannot know whether it has been, so it waits for the answer.
func (cs *combiners) reserve(ctx context.Context, res order.Reservation, now time.Time) error {
	v, ok := cs.sales.Load(res.SaleID)
	if !ok {
		v, _ = cs.sales.LoadOrStore(res.SaleID, &combiner{})
	}
	c := v.(*combiner)
	w := &waiting{res: res, now: now, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	lead := !c.leading
	c.leading = true
	c.mu.Unlock()
	if lead {
		cs.lead(ctx, res.SaleID, c)
	}
	for {
		err := <-w.done
		if err != errLead { //nolint:errorlint // errLead is a private marker, never wrapped
			return err
		}
		cs.lead(ctx, res.SaleID, c)
	}
}

// lead decides the head of the queue, delivers every decision, and hands
// the lead to the next queued caller if there is one.
func (cs *combiners) lead(ctx context.Context, saleID int64, c *combiner) {
	c.mu.Lock()
	n := min(len(c.queue), combineLimit)
	batch := make([]*waiting, n)
	copy(batch, c.queue)
	c.queue = append(c.queue[:0:0], c.queue[n:]...)
	c.mu.Unlock()

	rs := make([]order.Reservation, n)
	nows := make([]time.Time, n)
	for i, w := range batch {
		rs[i], nows[i] = w.res, w.now
	}
	// The batch decides for every caller in it: it runs to its end even when
	// the leader's own request is cancelled.
	errs := cs.decide(context.WithoutCancel(ctx), saleID, rs, nows)
	for i, w := range batch {
		w.done <- errs[i]
	}

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.leading = false
	} else {
		c.queue[0].done <- errLead
	}
	c.mu.Unlock()
}
