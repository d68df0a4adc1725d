package order

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Settler settles the reservations in flight: it marks those MySQL holds
// persisted, republishes those it does not, returns the units of those it
// holds cancelled, and rebuilds the stock of sales the backend lost. Every
// api runs its passes in the background.
type Settler struct {
	stock settleStock
	pub   publisher
	repo  settleRepo
	// backlog and republishBound hold a pass's republishing back while
	// the queue holds orders (WithSettleBacklog).
	backlog        Backlog
	republishBound int
	// settleAfter is the age past which a pass handles a reservation.
	settleAfter time.Duration
	deadline    publishDeadline
	warmer      *stockWarmer
	units       *unitReturner
	flags       *soldOutFlags
	log         *slog.Logger
}

// settleStock is what a settle pass needs of the stock backend (Stock).
type settleStock interface {
	Remaining(ctx context.Context, saleID int64) (int64, error)
	Due(ctx context.Context, saleID int64, before time.Time, limit int) ([]Reservation, error)
	Postpone(ctx context.Context, saleID int64, orderNos []string, at time.Time) error
	MarkPersisted(ctx context.Context, saleID int64, orderNos []string) error
	Restock(ctx context.Context, saleID, total int64) (int64, bool, error)
}

// settleRepo is what a settle pass needs of MySQL (Repository).
type settleRepo interface {
	OpenSales(ctx context.Context, since time.Time) ([]Sale, error)
	OrdersByNo(ctx context.Context, orderNos []string) (map[string]Order, error)
}

// DefaultSettleAfter is how old an in-flight reservation gets before the
// settler looks at it.
const DefaultSettleAfter = 30 * time.Second

// settleBatch bounds the reservations one settle step reads from the
// in-flight index and looks up in MySQL; settleBatches bounds the steps per
// sale in one pass, so a sale with a large backlog cannot hold a pass for
// long (the next pass continues).
const (
	settleBatch     = 500
	settleBatches   = 20
	republishAtOnce = 64
)

// SettleResult is what one settle pass did.
type SettleResult struct {
	// Persisted counts reservations whose orders MySQL holds: they were
	// marked persisted and left the in-flight index.
	Persisted int
	// Republished counts orders missing from MySQL that were handed to the
	// queue again under their own order_no.
	Republished int
	// Released counts units given back for orders MySQL holds as
	// cancelled (refused by the store, discarded).
	Released int
	// Failed counts reservations left for the next pass (a republish or a
	// release that failed).
	Failed int
	// Deferred counts orders missing from MySQL not republished in this
	// pass because the queue already held enough for their sale (see
	// WithSettleBacklog); a later pass republishes them.
	Deferred int
	// Rebuilds counts stock rebuilds started or finished.
	Rebuilds int
}

func (r *SettleResult) add(o SettleResult) {
	r.Persisted += o.Persisted
	r.Republished += o.Republished
	r.Released += o.Released
	r.Failed += o.Failed
	r.Deferred += o.Deferred
	r.Rebuilds += o.Rebuilds
}

// WithSettleAfter sets the age past which the settler handles an
// in-flight reservation (default DefaultSettleAfter).
func WithSettleAfter(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.settleAfter = d
		}
	}
}

// Backlog reports what the order queue already holds for a sale's orders:
// messages published and not yet persisted (waiting in the sale's persist
// queue, or in a worker's hands), plus publishes of this process still
// waiting for their confirm. Errors: ErrUnavailable.
type Backlog interface {
	Backlog(ctx context.Context, saleID int64) (int, error)
}

// DefaultRepublishBound bounds what the queue may hold for a sale before
// a settle pass republishes more of its orders (WithSettleBacklog).
const DefaultRepublishBound = 2000

// WithSettleBacklog makes the settler republish a sale's orders only while
// the queue holds fewer than bound for it, as b reports, and never more
// than the difference in one pass: when the worker lags, the orders it has
// not persisted yet are mostly the ones a pass would republish, and every
// copy is more work for it. The rest wait for a later pass (counted in
// SettleResult.Deferred). Without b, a pass republishes at most
// DefaultRepublishBound orders of a sale.
func WithSettleBacklog(b Backlog, bound int) Option {
	return func(c *config) {
		c.backlog = b
		if bound > 0 {
			c.republishBound = bound
		}
	}
}

// DefaultSettleInterval is how often the api runs a settle pass.
const DefaultSettleInterval = 5 * time.Second

// WithSettleInterval tells the use cases how often Settle runs, which
// reconciliation (Catalog.Reconcile) adds to SettleAfter as the bound a
// reservation may stay in flight (default DefaultSettleInterval).
func WithSettleInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.settleEvery = d
		}
	}
}

// Settle runs one settle pass at now: for each sale that may still hold
// reservations in flight, the ones older than SettleAfter are looked up in
// MySQL and marked persisted, given their unit back (cancelled there) or
// republished under their own order_no (missing there; held back while
// the queue holds enough for the sale, WithSettleBacklog). A sale whose
// stock is not loaded gets its fenced rebuild started or moved on. Every
// step is idempotent, so replicas may settle at once; the first error is
// returned but every sale is passed. docs/design.md (Every reservation
// settles on its own) tells the whole of it.
func (s *Settler) Settle(ctx context.Context, now time.Time) (SettleResult, error) {
	sales, err := s.repo.OpenSales(ctx, now.Add(-expiryHorizon))
	if err != nil {
		return SettleResult{}, fmt.Errorf("settle: %w", err)
	}
	var res SettleResult
	firstErr := eachSale(ctx, sales, func(sale Sale) error {
		r, err := s.settleSale(ctx, sale, now)
		if err == nil {
			err = s.finishRestock(ctx, sale)
		}
		res.add(r)
		if err != nil {
			return fmt.Errorf("settle sale %d: %w", sale.ID, err)
		}
		return nil
	})
	if n, err := s.warmer.advance(ctx, now); err != nil && firstErr == nil {
		firstErr = err
	} else {
		res.Rebuilds += n
	}
	return res, firstErr
}

func (s *Settler) settleSale(ctx context.Context, sale Sale, now time.Time) (SettleResult, error) {
	var res SettleResult
	remaining, err := s.stock.Remaining(ctx, sale.ID)
	if errors.Is(err, ErrStockNotLoaded) {
		started, err := s.warmer.rebuild(ctx, sale, 0)
		if started {
			res.Rebuilds++
		}
		if errors.Is(err, ErrRebuildPending) {
			err = nil
		}
		return res, err
	}
	if err != nil {
		return res, err
	}
	due := now.Add(-s.settleAfter)
	budget := republishBudget{left: -1}
	for range settleBatches {
		rs, err := s.stock.Due(ctx, sale.ID, due, settleBatch)
		if err != nil {
			return res, err
		}
		r, err := s.settleBatch(ctx, sale.ID, rs, now, &budget)
		res.add(r)
		if err != nil {
			return res, err
		}
		// Deferred reservations stay due: the next read would list them
		// again.
		if len(rs) < settleBatch || r.Deferred > 0 {
			break
		}
	}
	merged, err := s.mergeLost(ctx, sale, remaining)
	if merged {
		res.Rebuilds++
	}
	return res, err
}

// mergeLost repairs a loaded sale whose stock backend lost acknowledged
// reservations in a failover: remaining + MySQL's sold above the total
// shows it without reading the sale whole, since a live order always holds
// its reservation otherwise. It merges MySQL into the backend as a warm-up
// of a loaded sale does (idempotent, so a spurious merge changes nothing)
// and reports whether it merged; until then MySQL's guard refuses the
// excess. docs/design.md (A failover that drops acknowledged writes).
func (s *Settler) mergeLost(ctx context.Context, sale Sale, remaining int64) (bool, error) {
	if remaining+sale.Sold <= sale.TotalStock {
		return false, nil
	}
	if err := s.warmer.warm(ctx, sale, false); err != nil && !errors.Is(err, ErrStockNotLoaded) {
		return false, err
	}
	s.log.WarnContext(ctx, "the stock backend counted units MySQL has sold (acknowledged reservations lost, as by a failover); merged MySQL's orders into it",
		"sale_id", sale.ID, "remaining", remaining, "sold", sale.Sold, "total", sale.TotalStock)
	return true, nil
}

// republishBudget is how many orders of one sale a settle pass may still
// republish; left < 0 until it is first needed.
type republishBudget struct {
	left int
}

// takeRepublish returns how many of want orders of the sale may be
// republished now, and counts them as spent from b. The first call of a
// pass asks the backlog: the bound less what the queue holds for the
// sale. A backlog that cannot be read allows nothing (the broker is
// likely unreachable, and a publish would fail anyway).
func (s *Settler) takeRepublish(ctx context.Context, saleID int64, b *republishBudget, want int) int {
	if b.left < 0 {
		b.left = s.republishBound
		if s.backlog != nil {
			held, err := s.backlog.Backlog(ctx, saleID)
			if err != nil {
				s.log.WarnContext(ctx, "queue backlog not read; republishing nothing of the sale this pass",
					"sale_id", saleID, "err", err)
				held = b.left
			}
			b.left = max(0, b.left-held)
		}
	}
	n := min(want, b.left)
	b.left -= n
	return n
}

func (s *Settler) settleBatch(ctx context.Context, saleID int64, rs []Reservation, now time.Time, budget *republishBudget) (SettleResult, error) {
	var res SettleResult
	nos := make([]string, len(rs))
	for i, r := range rs {
		nos[i] = r.OrderNo
	}
	held, err := s.repo.OrdersByNo(ctx, nos)
	if err != nil {
		return res, err
	}
	var (
		persisted, cancelled []string
		missing              []Reservation
		firstErr             error
	)
	for _, r := range rs {
		o, ok := held[r.OrderNo]
		switch {
		case !ok:
			missing = append(missing, r)
		case o.Status != StatusCancelled:
			persisted = append(persisted, r.OrderNo)
		default:
			cancelled = append(cancelled, r.OrderNo)
		}
	}
	if len(persisted) > 0 {
		if err := s.stock.MarkPersisted(ctx, saleID, persisted); err != nil {
			return res, err
		}
		res.Persisted = len(persisted)
	}
	if len(cancelled) > 0 {
		back, err := s.units.returnUnits(ctx, saleID, cancelled, now)
		res.Released, res.Failed = back.returned, back.failed
		firstErr = cmp.Or(back.releaseErr, err)
	}
	if n := s.takeRepublish(ctx, saleID, budget, len(missing)); n < len(missing) {
		res.Deferred = len(missing) - n
		missing = missing[:n]
	}
	if len(missing) > 0 {
		ok, failed := s.republish(ctx, missing)
		res.Republished += len(ok)
		res.Failed += failed
		if len(ok) > 0 {
			if err := s.stock.Postpone(ctx, saleID, ok, now); err != nil && firstErr == nil {
				firstErr = err
			}
			s.log.WarnContext(ctx, "reservations whose orders MySQL does not hold were published again",
				"sale_id", saleID, "orders", len(ok), "failed", failed)
		}
	}
	return res, firstErr
}

// republish hands the orders of rs to the queue again, several at once so
// that a coalescing publisher carries them together. It returns the order
// numbers the broker confirmed and how many failed.
func (s *Settler) republish(ctx context.Context, rs []Reservation) (ok []string, failed int) {
	// One deadline for the lot, counted from now: the reservations were
	// just read.
	ctx, cancel := s.deadline.context(ctx, time.Now())
	defer cancel()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, republishAtOnce)
	)
	for _, r := range rs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			o := Order{OrderNo: r.OrderNo, SaleID: r.SaleID, UserID: r.UserID, Status: StatusPending, CreatedAt: r.ReservedAt}
			err := s.pub.Publish(ctx, o)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			ok = append(ok, r.OrderNo)
		}()
	}
	wg.Wait()
	return ok, failed
}

// finishRestock raises the backend's total to MySQL's when an AddStock
// died between its two steps. A sale the backend does not hold is left to
// the rebuild.
func (s *Settler) finishRestock(ctx context.Context, sale Sale) error {
	_, raised, err := s.stock.Restock(ctx, sale.ID, sale.TotalStock)
	switch {
	case errors.Is(err, ErrStockNotLoaded):
		return nil
	case err != nil:
		return err
	}
	if raised {
		s.log.WarnContext(ctx, "stock added in MySQL had not reached the stock backend; raised it", "sale_id", sale.ID,
			"total_stock", sale.TotalStock)
		s.flags.available(ctx, sale.ID, true)
	}
	return nil
}
