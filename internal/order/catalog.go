package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Catalog reads sales and carries out the admin's changes to them:
// creating a sale, adding stock, warming and reconciling its stock.
type Catalog struct {
	stock  catalogStock
	repo   catalogRepo
	sales  *saleCache
	warmer *stockWarmer
	flags  *soldOutFlags
	// maxUnits bounds a sale's total_stock (WithUnitLimit); 0 is no bound.
	maxUnits int64
	// settleBound is how long a reservation may stay in flight before
	// reconciliation calls it stuck: SettleAfter plus one settle pass.
	settleBound time.Duration
	log         *slog.Logger
	now         func() time.Time
}

// catalogStock is what the catalog needs of the stock backend (Stock);
// loading stock goes through the warmer.
type catalogStock interface {
	Remaining(ctx context.Context, saleID int64) (int64, error)
	Snapshot(ctx context.Context, saleID int64) (StockSnapshot, error)
	Forget(ctx context.Context, saleID int64) error
	Restock(ctx context.Context, saleID, total int64) (int64, bool, error)
}

// catalogRepo is what the catalog needs of MySQL (Repository).
type catalogRepo interface {
	CreateSale(ctx context.Context, n NewSale) (Sale, bool, error)
	RemoveSale(ctx context.Context, id int64) error
	Sale(ctx context.Context, id int64) (Sale, error)
	Sales(ctx context.Context, limit int) ([]Sale, error)
	AddStock(ctx context.Context, saleID, add int64, requestID string, now time.Time) (Sale, error)
	SaleOrders(ctx context.Context, saleID int64) ([]Order, error)
}

// WithUnitLimit refuses, before MySQL is written, a sale created with or
// raised to more than most units: the most the stock backend holds per
// sale (UnitLimit).
func WithUnitLimit(most int64) Option { return func(c *config) { c.maxUnits = most } }

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
func (c *Catalog) Sale(ctx context.Context, id int64) (SaleView, error) {
	sale, err := c.sales.sale(ctx, id)
	if err != nil {
		return SaleView{}, err
	}
	return c.view(ctx, sale)
}

// StoredSale returns a sale as MySQL holds it now (its sold count
// included), never through the sale cache, with its remaining stock read
// live from the stock backend: for live counts, which a cached copy would
// hold still.
func (c *Catalog) StoredSale(ctx context.Context, id int64) (SaleView, error) {
	sale, err := c.repo.Sale(ctx, id)
	if err != nil {
		return SaleView{}, err
	}
	return c.view(ctx, sale)
}

func (c *Catalog) view(ctx context.Context, sale Sale) (SaleView, error) {
	rem, err := c.stock.Remaining(ctx, sale.ID)
	if err != nil {
		return SaleView{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return SaleView{Sale: sale, Remaining: rem, Status: sale.StatusAt(c.now(), rem), StockLoaded: true}, nil
}

// CreateSale stores a new sale and warms its stock. A repeat of an
// earlier create under its request id (n.RequestID) answers the sale that
// one created, Replayed, and changes nothing.
func (c *Catalog) CreateSale(ctx context.Context, n NewSale) (SaleView, error) {
	if err := n.Validate(); err != nil {
		return SaleView{}, err
	}
	if most := c.maxUnits; most > 0 && n.TotalStock > most {
		return SaleView{}, Invalid(fmt.Sprintf("total_stock must be at most %d: the stock backend holds no larger sale", most))
	}
	sale, created, err := c.repo.CreateSale(ctx, n)
	if err != nil {
		return SaleView{}, err
	}
	if !created {
		v, err := c.view(ctx, sale)
		v.Replayed = true
		return v, err
	}
	c.sales.changed(ctx, sale.ID) // a lookup of the id before it existed may be cached
	if err := c.load(ctx, sale); err != nil {
		// Nothing was sold: the sale goes, so that neither the settler nor
		// a warm-up brings it live later, and a retry creates it anew.
		ctx := context.WithoutCancel(ctx)
		if rerr := c.repo.RemoveSale(ctx, sale.ID); rerr != nil {
			c.log.ErrorContext(ctx, "a sale whose stock could not be loaded was not removed; the settler may load it later",
				"sale_id", sale.ID, "err", rerr)
		} else {
			c.log.WarnContext(ctx, "the stock backend could not load a new sale; removed it", "sale_id", sale.ID, "err", err)
		}
		c.sales.changed(ctx, sale.ID)
		return SaleView{}, err
	}
	return c.view(ctx, sale)
}

// load puts a sale MySQL has just created into the stock backend.
func (c *Catalog) load(ctx context.Context, sale Sale) error {
	if snap, err := c.stock.Snapshot(ctx, sale.ID); err == nil && (snap.Loaded || len(snap.Reservations) > 0) {
		c.log.WarnContext(ctx, "the stock backend held state for a sale id MySQL just created (left from an earlier database); discarding it",
			"sale_id", sale.ID, "reservations", len(snap.Reservations))
		if err := c.stock.Forget(ctx, sale.ID); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	// A new sale: nothing of it can be in flight anywhere.
	return c.warmer.warm(ctx, sale, true)
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
func (c *Catalog) Warmup(ctx context.Context, id int64) (SaleView, error) {
	sale, err := c.repo.Sale(ctx, id)
	if err != nil {
		return SaleView{}, err
	}
	err = c.warmer.warm(ctx, sale, false)
	if errors.Is(err, ErrStockNotLoaded) {
		_, err = c.warmer.rebuild(ctx, sale, c.warmer.quiet+rebuildWait)
	}
	if err != nil {
		return SaleView{}, err
	}
	c.sales.changed(ctx, sale.ID)
	return c.view(ctx, sale)
}

// Reconcile checks the stock invariant (see Reconciliation) for one sale.
func (c *Catalog) Reconcile(ctx context.Context, id int64) (Reconciliation, error) {
	sale, err := c.repo.Sale(ctx, id)
	if err != nil {
		return Reconciliation{}, err
	}
	orders, err := c.repo.SaleOrders(ctx, id)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	snap, err := c.stock.Snapshot(ctx, id)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rec := Reconcile(sale, orders, snap)
	rec.Judge(c.now(), c.settleBound)
	return rec, nil
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
			if at := OrderTime(no); !at.IsZero() && (rec.OldestReservedAt.IsZero() || at.Before(rec.OldestReservedAt)) {
				rec.OldestReservedAt = at
			}
		}
	}
	rec.Consistent = snap.Loaded && rec.Remaining >= 0 && rec.Orphans == 0 && rec.Gap() == 0
	return rec
}
