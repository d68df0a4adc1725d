package order

import (
	"context"
	"log/slog"
)

// SaleCache keeps sales' static fields (not Sold, which moves with every
// order) in front of the repository, for the public read of a sale. The
// catalog tells it when a sale changed.
type SaleCache interface {
	// Sale errors: ErrSaleNotFound, ErrUnavailable.
	Sale(ctx context.Context, id int64) (Sale, error)
	// Invalidate drops the cached copy of sale id.
	Invalidate(ctx context.Context, id int64) error
}

// WithSaleCache serves Catalog.Sale's static fields from c, and drops a
// sale from c when it is created, gets stock or is warmed.
func WithSaleCache(c SaleCache) Option { return func(cfg *config) { cfg.sales = c } }

// saleCache reads a sale's static fields through the SaleCache when there
// is one, the repository otherwise, and drops a sale that changed from the
// cache.
type saleCache struct {
	cache SaleCache // nil: no cache
	repo  interface {
		Sale(ctx context.Context, id int64) (Sale, error)
	}
	log *slog.Logger
}

func (c *saleCache) sale(ctx context.Context, id int64) (Sale, error) {
	if c.cache != nil {
		return c.cache.Sale(ctx, id)
	}
	return c.repo.Sale(ctx, id)
}

// changed drops the cached copy of a sale that just changed. A failure
// leaves the copy to expire on its own.
func (c *saleCache) changed(ctx context.Context, id int64) {
	if c.cache == nil {
		return
	}
	if err := c.cache.Invalidate(ctx, id); err != nil {
		c.log.WarnContext(ctx, "sale cache invalidation failed; the entry expires on its own", "sale_id", id, "err", err)
	}
}
