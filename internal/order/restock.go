package order

import (
	"context"
	"errors"
	"fmt"
)

// MaxStockAdd bounds the units one AddStock call adds.
const MaxStockAdd = 1_000_000

// MaxSalesListed bounds the sales one ListSales call returns.
const MaxSalesListed = 1000

// ListSales returns up to limit sales, newest first, each with its
// remaining stock read live from the stock backend. A sale the backend does
// not hold is listed with StockLoaded false.
func (c *Catalog) ListSales(ctx context.Context, limit int) ([]SaleView, error) {
	if limit < 1 || limit > MaxSalesListed {
		return nil, Invalidf("limit must be an integer from 1 to %d", MaxSalesListed)
	}
	sales, err := c.repo.Sales(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	now := c.now()
	out := make([]SaleView, 0, len(sales))
	for _, sale := range sales {
		rem, err := c.stock.Remaining(ctx, sale.ID)
		switch {
		case errors.Is(err, ErrStockNotLoaded):
			out = append(out, SaleView{Sale: sale, Status: sale.StatusAt(now, sale.TotalStock-sale.Sold)})
			continue
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		out = append(out, SaleView{Sale: sale, Remaining: rem, Status: sale.StatusAt(now, rem), StockLoaded: true})
	}
	return out, nil
}

// AddStock raises a sale's total_stock by add and makes the units sellable
// at once: MySQL records the new total (and requestID, when given, in the
// same transaction), then the stock backend is raised to that total by a
// guarded step that never adds twice, and every instance is told units are
// back. A retry with the same requestID adds nothing more and finishes a
// call that died between the two steps; so does the settler's next pass
// (Settler.finishRestock) or a warm-up.
func (c *Catalog) AddStock(ctx context.Context, id, add int64, requestID string) (SaleView, error) {
	if add < 1 || add > MaxStockAdd {
		return SaleView{}, Invalidf("add must be an integer from 1 to %d", MaxStockAdd)
	}
	if most := c.maxUnits; most > 0 {
		sale, err := c.repo.Sale(ctx, id)
		switch {
		case errors.Is(err, ErrSaleNotFound):
			return SaleView{}, err
		case err != nil:
			return SaleView{}, fmt.Errorf("%w: add stock to sale %d: %w", ErrUnavailable, id, err)
		case sale.TotalStock+add > most:
			return SaleView{}, Invalid(fmt.Sprintf("add %d would raise total_stock to %d, above the %d units the stock backend holds per sale",
				add, sale.TotalStock+add, most))
		}
	}
	sale, err := c.repo.AddStock(ctx, id, add, requestID, c.now())
	switch {
	case errors.Is(err, ErrSaleNotFound), errors.Is(err, ErrInvalid), errors.Is(err, ErrRequestReused):
		return SaleView{}, err
	case err != nil:
		return SaleView{}, fmt.Errorf("%w: add stock to sale %d: %w", ErrUnavailable, id, err)
	}
	// MySQL holds the new total: the backend step must not be cut short
	// by the request's end (a retry or the settler would finish it, later).
	ctx = context.WithoutCancel(ctx)
	c.sales.changed(ctx, sale.ID)
	rem, raised, err := c.stock.Restock(ctx, sale.ID, sale.TotalStock)
	if err != nil {
		if errors.Is(err, ErrStockNotLoaded) {
			c.log.WarnContext(ctx, "stock added in MySQL but the stock backend does not hold the sale; a warm-up loads it with the new total",
				"sale_id", sale.ID, "total_stock", sale.TotalStock)
		}
		return SaleView{}, fmt.Errorf("%w: add stock to sale %d: %w", ErrUnavailable, sale.ID, err)
	}
	if raised {
		c.flags.available(ctx, sale.ID, true)
	}
	return SaleView{Sale: sale, Remaining: rem, Status: sale.StatusAt(c.now(), rem), StockLoaded: true}, nil
}
