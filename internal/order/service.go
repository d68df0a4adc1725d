package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Service is the purchase decision and the reads around it.
type Service struct {
	stock Stock
	pub   Publisher
	repo  Repository
	log   *slog.Logger
	now   func() time.Time

	// flags are the local per-sale sold-out flags: once the stock backend
	// has said "sold out" for a sale, later requests skip it until a unit
	// comes back.
	flags soldOutFlags

	// deadLetters keeps what the worker could not persist (WithDeadLetters).
	deadLetters DeadLetters

	// sales serves the static fields of the public sale read, in front of
	// repo (WithSaleCache); nil reads repo.
	sales SaleCache

	// onUnconfirmed is called for publishes whose outcome was unknown;
	// their reservations stay held until the settler settles them.
	onUnconfirmed func(o Order, err error)

	// settleAfter is the age past which Settle handles a reservation;
	// settleEvery is how often Settle runs.
	settleAfter, settleEvery time.Duration
	// backlog and republishBound hold a settle pass's republishing back
	// while the queue holds orders (WithSettleBacklog).
	backlog        Backlog
	republishBound int
	// publishWithin bounds a publish, counted from its reservation
	// (WithPublishDeadline); 0: unbounded.
	publishWithin time.Duration
	// The fenced rebuild of lost stock (WithRebuilds); without it a lost
	// sale is warmed from MySQL and the backend alone.
	rebuilds     Rebuilds
	fencer       Fencer
	held         HeldOrders
	rebuildQuiet time.Duration

	// maxUnits bounds a sale's total_stock (WithUnitLimit); 0 is no bound.
	maxUnits int64
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithSoldOutBus shares sold-out flags with other instances. Their
// announcements reach this one through Service.Announced.
func WithSoldOutBus(b SoldOutBus) Option { return func(s *Service) { s.flags.bus = b } }

// SaleCache keeps sales' static fields (not Sold, which moves with every
// order) in front of the repository, for the public read of a sale. The
// Service tells it when a sale changed.
type SaleCache interface {
	// Sale errors: ErrSaleNotFound, ErrUnavailable.
	Sale(ctx context.Context, id int64) (Sale, error)
	// Invalidate drops the cached copy of sale id.
	Invalidate(ctx context.Context, id int64) error
}

// WithSaleCache serves Service.Sale's static fields from c, and drops a
// sale from c when it is created, gets stock or is warmed.
func WithSaleCache(c SaleCache) Option { return func(s *Service) { s.sales = c } }

// WithPublishDeadline gives every publish one deadline, d after its
// reservation (the settler's: d after it read the reservation), that
// bounds every wait on the way (a coalescer's queue, a confirm-window
// slot) and the confirm: an order not sent by then is given up as not
// sent and its unit goes back. No deadline by default. The fenced
// rebuild's quiet time (WithRebuilds) is raised to cover it: by then
// every publish started before a loss has been sent or given up.
func WithPublishDeadline(d time.Duration) Option { return func(s *Service) { s.publishWithin = d } }

// publishRouteMargin is what the rebuild's quiet time adds to the publish
// deadline: the time for a message sent at its deadline to reach its
// queue.
const publishRouteMargin = time.Second

// publishContext is ctx with the deadline of a publish whose reservation
// (or settler's read) was made at start; cancel releases it.
func (s *Service) publishContext(ctx context.Context, start time.Time) (context.Context, context.CancelFunc) {
	if s.publishWithin <= 0 {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, start.Add(s.publishWithin))
}

// WithUnitLimit refuses, before MySQL is written, a sale created with or
// raised to more than most units: the most the stock backend holds per
// sale (UnitLimit).
func WithUnitLimit(most int64) Option { return func(s *Service) { s.maxUnits = most } }

// WithUnconfirmedHook is called for every publish with an unknown outcome.
func WithUnconfirmedHook(f func(o Order, err error)) Option {
	return func(s *Service) { s.onUnconfirmed = f }
}

// NewService builds a Service over its adapters.
func NewService(stock Stock, pub Publisher, repo Repository, log *slog.Logger, opts ...Option) *Service {
	s := &Service{stock: stock, pub: pub, repo: repo, log: log, now: time.Now,
		settleAfter: DefaultSettleAfter, settleEvery: DefaultSettleInterval, republishBound: DefaultRepublishBound}
	s.flags = soldOutFlags{stock: stock, log: log, maxBuyers: 1 << 20}
	for _, o := range opts {
		o(s)
	}
	s.flags.now = s.now
	if s.publishWithin > 0 {
		s.rebuildQuiet = max(s.rebuildQuiet, s.publishWithin+publishRouteMargin)
	}
	return s
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
func (s *Service) KnownSoldOut(saleID, userID int64) error {
	held, out := s.flags.check(saleID, userID)
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
func (s *Service) Place(ctx context.Context, saleID, userID int64) (Order, error) {
	if saleID <= 0 || userID <= 0 {
		return Order{}, ErrInvalid
	}
	if err := s.KnownSoldOut(saleID, userID); err != nil {
		return Order{}, err
	}
	if !s.pub.Ready() {
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
	now := s.now()
	start := time.Now() // the publish deadline is counted from here, in real time
	r := Reservation{OrderNo: orderNo, SaleID: saleID, UserID: userID, State: Reserved}
	o := Order{OrderNo: orderNo, SaleID: saleID, UserID: userID, Status: StatusPending, CreatedAt: now}
	if err := s.stock.Reserve(ctx, r, now); err != nil {
		var held *AlreadyPurchasedError
		switch {
		case errors.As(err, &held) && held.OrderNo == orderNo:
			// The buyer holds this very order number: an attempt of this
			// reservation whose reply was lost ran, and the client sent it
			// again. It stands.
		case errors.Is(err, ErrSoldOut):
			s.flags.soldOut(ctx, saleID, true)
			return Order{}, err
		case errors.Is(err, ErrStockNotLoaded):
			return Order{}, s.notLoaded(ctx, saleID, err)
		case errors.Is(err, ErrReserveUnknown):
			return Order{}, s.reserveUnknown(ctx, o, err)
		default:
			return Order{}, err
		}
	}
	pctx, cancel := s.publishContext(ctx, start)
	defer cancel()
	if err := s.pub.Publish(pctx, o); err != nil {
		return Order{}, s.publishFailed(ctx, o, err)
	}
	return o, nil
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
func (s *Service) reserveUnknown(ctx context.Context, o Order, cause error) error {
	answer := &OutcomeUnknownError{OrderNo: o.OrderNo, Err: cause}
	if s.deadLetters == nil {
		s.log.ErrorContext(ctx, "reservation outcome unknown and no store to record it cancelled; the settler may publish it",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", cause)
		return answer
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.deadLetters.Tombstone(mctx, []Order{o}, ReasonNotQueued, s.now()); err != nil {
		s.log.ErrorContext(ctx, "reservation outcome unknown and recording it cancelled failed; the settler may publish it",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", cause, "record_err", err)
		return answer
	}
	s.log.WarnContext(ctx, "reservation outcome unknown; recorded cancelled, the settler returns its unit if it holds one",
		"sale_id", o.SaleID, "order_no", o.OrderNo, "err", cause)
	return answer
}

// notLoaded tells an unknown sale (404) from a known one whose stock is
// missing (fail closed, 503).
func (s *Service) notLoaded(ctx context.Context, saleID int64, cause error) error {
	if _, err := s.repo.Sale(ctx, saleID); err != nil {
		if errors.Is(err, ErrSaleNotFound) {
			return ErrSaleNotFound
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.log.ErrorContext(ctx, "stock not loaded for an existing sale; failing closed", "sale_id", saleID)
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}

// publishFailed compensates a definite failure and leaves an unknown one for
// reconciliation. Either way the client gets ErrUnavailable.
func (s *Service) publishFailed(ctx context.Context, o Order, err error) error {
	if errors.Is(err, ErrPublishUnconfirmed) {
		s.log.ErrorContext(ctx, "publish outcome unknown; reservation kept, the settler republishes it if MySQL never gets it",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", err)
		if s.onUnconfirmed != nil {
			s.onUnconfirmed(o, err)
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Definite failure (nack, unroutable, not sent): return the unit once.
	// A fresh context: the request's may be cancelled, the unit must go back.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	released, rerr := s.stock.Release(rctx, o.SaleID, o.OrderNo)
	if rerr != nil {
		s.log.ErrorContext(ctx, "release after failed publish failed; the settler republishes the order",
			"sale_id", o.SaleID, "order_no", o.OrderNo, "err", rerr)
	} else if released {
		s.flags.available(rctx, o.SaleID, true)
	}
	s.log.WarnContext(ctx, "publish failed; reservation released",
		"sale_id", o.SaleID, "order_no", o.OrderNo, "released", released, "err", err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Order returns userID's order orderNo: created/paid/cancelled once in
// MySQL, pending while only reserved. Another user's order is not found.
func (s *Service) Order(ctx context.Context, userID int64, orderNo string) (Order, error) {
	id, err := uuid.Parse(orderNo)
	if err != nil {
		return Order{}, ErrOrderNotFound
	}
	o, err := s.repo.Order(ctx, orderNo)
	switch {
	case err == nil:
		if o.UserID != userID {
			return Order{}, ErrOrderNotFound
		}
		return o, nil
	case !errors.Is(err, ErrOrderNotFound):
		return Order{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	r, err := s.lookupReservation(ctx, orderNo)
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

// SaleView is a sale with its live remaining stock and status.
type SaleView struct {
	Sale
	Remaining int64
	Status    SaleStatus
	// StockLoaded is false when the stock backend holds nothing for the
	// sale (lost, or not warmed yet); Remaining is then 0 and Status
	// follows MySQL's count, total_stock − sold.
	StockLoaded bool
	// Replayed says the call repeated an earlier one under its request
	// id and changed nothing.
	Replayed bool
}

// Sale returns a sale with its remaining stock read live from the stock
// backend; its static fields come through the sale cache when there is one.
func (s *Service) Sale(ctx context.Context, id int64) (SaleView, error) {
	var sale Sale
	var err error
	if s.sales != nil {
		sale, err = s.sales.Sale(ctx, id)
	} else {
		sale, err = s.repo.Sale(ctx, id)
	}
	if err != nil {
		return SaleView{}, err
	}
	return s.view(ctx, sale)
}

// StoredSale returns a sale as MySQL holds it now (its sold count
// included), never through the sale cache, with its remaining stock read
// live from the stock backend: for live counts, which a cached copy would
// hold still.
func (s *Service) StoredSale(ctx context.Context, id int64) (SaleView, error) {
	sale, err := s.repo.Sale(ctx, id)
	if err != nil {
		return SaleView{}, err
	}
	return s.view(ctx, sale)
}

// changed drops the cached copy of a sale that just changed. A failure
// leaves the copy to expire on its own.
func (s *Service) changed(ctx context.Context, id int64) {
	if s.sales == nil {
		return
	}
	if err := s.sales.Invalidate(ctx, id); err != nil {
		s.log.WarnContext(ctx, "sale cache invalidation failed; the entry expires on its own", "sale_id", id, "err", err)
	}
}

func (s *Service) view(ctx context.Context, sale Sale) (SaleView, error) {
	rem, err := s.stock.Remaining(ctx, sale.ID)
	if err != nil {
		return SaleView{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return SaleView{Sale: sale, Remaining: rem, Status: sale.StatusAt(s.now(), rem), StockLoaded: true}, nil
}

// CreateSale stores a new sale and warms its stock. A repeat of an
// earlier create under its request id (n.RequestID) answers the sale that
// one created, Replayed, and changes nothing.
func (s *Service) CreateSale(ctx context.Context, n NewSale) (SaleView, error) {
	if err := n.Validate(); err != nil {
		return SaleView{}, err
	}
	if most := s.maxUnits; most > 0 && n.TotalStock > most {
		return SaleView{}, Invalid(fmt.Sprintf("total_stock must be at most %d: the stock backend holds no larger sale", most))
	}
	sale, created, err := s.repo.CreateSale(ctx, n)
	if err != nil {
		return SaleView{}, err
	}
	if !created {
		v, err := s.view(ctx, sale)
		v.Replayed = true
		return v, err
	}
	s.changed(ctx, sale.ID) // a lookup of the id before it existed may be cached
	if err := s.load(ctx, sale); err != nil {
		// Nothing was sold: the sale goes, so that neither the settler nor
		// a warm-up brings it live later, and a retry creates it anew.
		ctx := context.WithoutCancel(ctx)
		if rerr := s.repo.RemoveSale(ctx, sale.ID); rerr != nil {
			s.log.ErrorContext(ctx, "a sale whose stock could not be loaded was not removed; the settler may load it later",
				"sale_id", sale.ID, "err", rerr)
		} else {
			s.log.WarnContext(ctx, "the stock backend could not load a new sale; removed it", "sale_id", sale.ID, "err", err)
		}
		s.changed(ctx, sale.ID)
		return SaleView{}, err
	}
	return s.view(ctx, sale)
}

// load puts a sale MySQL has just created into the stock backend.
func (s *Service) load(ctx context.Context, sale Sale) error {
	if snap, err := s.stock.Snapshot(ctx, sale.ID); err == nil && (snap.Loaded || len(snap.Reservations) > 0) {
		s.log.WarnContext(ctx, "the stock backend held state for a sale id MySQL just created (left from an earlier database); discarding it",
			"sale_id", sale.ID, "reservations", len(snap.Reservations))
		if err := s.stock.Forget(ctx, sale.ID); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	// A new sale: nothing of it can be in flight anywhere.
	return s.warm(ctx, sale, true)
}

// rebuildWait is how long a warm-up request waits for a rebuild's fence
// beyond the quiet time before it answers ErrRebuildPending.
const rebuildWait = 2 * time.Second

// Warmup re-derives a sale's stock. A loaded sale merges what MySQL holds
// into the backend (exact: the reservations in flight are there). A sale
// whose stock is lost is rebuilt behind a fence through the order queue, so
// that no order still in flight is forgotten; the call waits for it a
// while and answers ErrRebuildPending if the queue has not delivered the
// fence by then (a worker is down, or a backlog): the rebuild then
// finishes on its own.
func (s *Service) Warmup(ctx context.Context, id int64) (SaleView, error) {
	sale, err := s.repo.Sale(ctx, id)
	if err != nil {
		return SaleView{}, err
	}
	err = s.warm(ctx, sale, false)
	if errors.Is(err, ErrStockNotLoaded) {
		_, err = s.rebuild(ctx, sale, s.rebuildQuiet+rebuildWait)
	}
	if err != nil {
		return SaleView{}, err
	}
	s.changed(ctx, sale.ID)
	return s.view(ctx, sale)
}

// warm loads the sale's persisted orders into the stock backend. rebuild
// says every order outside the backend is accounted for (a new sale, or a
// fence that passed): the orders dead letters hold are then counted as
// taken, and a sale that is not loaded may be loaded.
func (s *Service) warm(ctx context.Context, sale Sale, rebuild bool) error {
	orders, err := s.repo.SaleOrders(ctx, sale.ID)
	if err != nil {
		return fmt.Errorf("%w: warm sale %d: %w", ErrUnavailable, sale.ID, err)
	}
	if rebuild && s.held != nil {
		held, err := s.held.SaleDeadOrders(ctx, sale.ID)
		if err != nil {
			return fmt.Errorf("%w: warm sale %d: %w", ErrUnavailable, sale.ID, err)
		}
		for _, o := range held {
			o.Status = StatusCreated
			orders = append(orders, o)
		}
	}
	err = s.stock.Warm(ctx, StockSale{
		ID: sale.ID, TotalStock: sale.TotalStock,
		StartsAt: sale.StartsAt, EndsAt: sale.EndsAt, Persisted: orders, Rebuild: rebuild,
	})
	if err != nil {
		return fmt.Errorf("warm sale %d: %w", sale.ID, err)
	}
	s.flags.available(ctx, sale.ID, true)
	return nil
}

// Reconcile checks the stock invariant (see Reconciliation) for one sale.
func (s *Service) Reconcile(ctx context.Context, id int64) (Reconciliation, error) {
	sale, err := s.repo.Sale(ctx, id)
	if err != nil {
		return Reconciliation{}, err
	}
	orders, err := s.repo.SaleOrders(ctx, id)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	snap, err := s.stock.Snapshot(ctx, id)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rec := Reconcile(sale, orders, snap)
	rec.Judge(s.now(), s.settleAfter+s.settleInterval())
	return rec, nil
}

// settleInterval is the settler's period as the bound of reconciliation
// counts it: a reservation may wait SettleAfter plus one pass.
func (s *Service) settleInterval() time.Duration { return s.settleEvery }

// Reconcile computes the reconciliation of one sale from MySQL's orders and
// the stock backend's snapshot.
func Reconcile(sale Sale, orders []Order, snap StockSnapshot) Reconciliation {
	rec := Reconciliation{SaleID: sale.ID, TotalStock: sale.TotalStock, StockLoaded: snap.Loaded, Remaining: snap.Remaining}
	inMySQL := make(map[string]bool, len(orders))
	for _, o := range orders {
		inMySQL[o.OrderNo] = true
		if o.Status == StatusCancelled {
			rec.Cancelled++
			continue
		}
		rec.Persisted++
		if r, ok := snap.Reservations[o.OrderNo]; !ok || r.State != Reserved {
			rec.Orphans++
		}
	}
	for no, r := range snap.Reservations {
		if r.State == Reserved && !inMySQL[no] {
			rec.ReservedInFlight++
			if at := OrderTime(no); !at.IsZero() && (rec.OldestReservedAt.IsZero() || at.Before(rec.OldestReservedAt)) {
				rec.OldestReservedAt = at
			}
		}
	}
	rec.Consistent = snap.Loaded && rec.Remaining >= 0 && rec.Orphans == 0 && rec.Gap() == 0
	return rec
}
