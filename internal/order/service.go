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

	// Unconfirmed counts publishes whose outcome was unknown; their
	// reservations stay held until reconciliation settles them.
	onUnconfirmed func(o Order, err error)
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithSoldOutBus shares sold-out flags with other instances. Their
// announcements reach this one through Service.Announced.
func WithSoldOutBus(b SoldOutBus) Option { return func(s *Service) { s.flags.bus = b } }

// WithUnconfirmedHook is called for every publish with an unknown outcome.
func WithUnconfirmedHook(f func(o Order, err error)) Option {
	return func(s *Service) { s.onUnconfirmed = f }
}

// NewService builds a Service over its adapters.
func NewService(stock Stock, pub Publisher, repo Repository, log *slog.Logger, opts ...Option) *Service {
	s := &Service{stock: stock, pub: pub, repo: repo, log: log, now: time.Now}
	s.flags = soldOutFlags{stock: stock, log: log, maxBuyers: 1 << 20}
	for _, o := range opts {
		o(s)
	}
	s.flags.now = s.now
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

// Settled answers from the local sold-out flag alone: ErrSoldOut, or an
// *AlreadyPurchasedError for a buyer, when this instance knows the sale is
// sold out; nil when the stock backend has to decide. It costs no backend
// call, so the HTTP edge asks it before spending a rate-limit token.
func (s *Service) Settled(saleID, userID int64) error {
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
	if err := s.Settled(saleID, userID); err != nil {
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
	r := Reservation{OrderNo: orderNo, SaleID: saleID, UserID: userID, State: Reserved}
	if err := s.stock.Reserve(ctx, r, now); err != nil {
		switch {
		case errors.Is(err, ErrSoldOut):
			s.flags.soldOut(ctx, saleID, true)
			return Order{}, err
		case errors.Is(err, ErrStockNotLoaded):
			return Order{}, s.notLoaded(ctx, saleID, err)
		}
		return Order{}, err
	}
	o := Order{OrderNo: orderNo, SaleID: saleID, UserID: userID, Status: StatusPending, CreatedAt: now}
	if err := s.pub.Publish(ctx, o); err != nil {
		return Order{}, s.publishFailed(ctx, o, err)
	}
	return o, nil
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
		s.log.ErrorContext(ctx, "publish outcome unknown; reservation kept for reconciliation",
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
		s.log.ErrorContext(ctx, "release after failed publish failed; reconciliation will settle it",
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
	return Order{OrderNo: r.OrderNo, SaleID: r.SaleID, UserID: r.UserID, Status: st, CreatedAt: time.Unix(sec, nsec)}, nil
}

// SaleView is a sale with its live remaining stock and status.
type SaleView struct {
	Sale
	Remaining int64
	Status    SaleStatus
}

// Sale returns a sale with its remaining stock read live from the stock
// backend.
func (s *Service) Sale(ctx context.Context, id int64) (SaleView, error) {
	sale, err := s.repo.Sale(ctx, id)
	if err != nil {
		return SaleView{}, err
	}
	return s.view(ctx, sale)
}

func (s *Service) view(ctx context.Context, sale Sale) (SaleView, error) {
	rem, err := s.stock.Remaining(ctx, sale.ID)
	if err != nil {
		return SaleView{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return SaleView{Sale: sale, Remaining: rem, Status: sale.StatusAt(s.now(), rem)}, nil
}

// CreateSale stores a new sale and warms its stock.
func (s *Service) CreateSale(ctx context.Context, n NewSale) (SaleView, error) {
	if err := n.Validate(); err != nil {
		return SaleView{}, err
	}
	sale, err := s.repo.CreateSale(ctx, n)
	if err != nil {
		return SaleView{}, err
	}
	if snap, err := s.stock.Snapshot(ctx, sale.ID); err == nil && (snap.Loaded || len(snap.Reservations) > 0) {
		s.log.WarnContext(ctx, "the stock backend held state for a sale id MySQL just created (left from an earlier database); discarding it",
			"sale_id", sale.ID, "reservations", len(snap.Reservations))
		if err := s.stock.Forget(ctx, sale.ID); err != nil {
			return SaleView{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if err := s.warm(ctx, sale); err != nil {
		return SaleView{}, err
	}
	return s.view(ctx, sale)
}

// Warmup re-derives a sale's stock from MySQL and the backend's in-flight
// reservations.
func (s *Service) Warmup(ctx context.Context, id int64) (SaleView, error) {
	sale, err := s.repo.Sale(ctx, id)
	if err != nil {
		return SaleView{}, err
	}
	if err := s.warm(ctx, sale); err != nil {
		return SaleView{}, err
	}
	return s.view(ctx, sale)
}

func (s *Service) warm(ctx context.Context, sale Sale) error {
	orders, err := s.repo.SaleOrders(ctx, sale.ID)
	if err != nil {
		return fmt.Errorf("warm sale %d: %w", sale.ID, err)
	}
	err = s.stock.Warm(ctx, StockSale{
		ID: sale.ID, TotalStock: sale.TotalStock,
		StartsAt: sale.StartsAt, EndsAt: sale.EndsAt, Persisted: orders,
	})
	if err != nil {
		return fmt.Errorf("warm sale %d: %w", sale.ID, err)
	}
	s.flags.available(ctx, sale.ID, true)
	return nil
}

// Reconcile checks the invariant of DESIGN §2.6 for one sale.
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
	return Reconcile(sale, orders, snap), nil
}

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
		}
	}
	rec.Consistent = snap.Loaded && rec.Remaining >= 0 && rec.Orphans == 0 && rec.Gap() == 0
	return rec
}
