package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/seckill/seckill/internal/order"
)

// OrdersByNo returns the orders MySQL holds among orderNos, by order_no.
func (s *Store) OrdersByNo(ctx context.Context, orderNos []string) (map[string]order.Order, error) {
	out := make(map[string]order.Order, len(orderNos))
	for _, part := range chunk(orderNos, inChunk) {
		var rows []orderRow
		if err := s.db.WithContext(ctx).Where("order_no IN ?", part).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("orders by number: %w", err)
		}
		for _, r := range rows {
			o, err := r.order()
			if err != nil {
				return nil, fmt.Errorf("orders by number: %w", err)
			}
			out[o.OrderNo] = o
		}
	}
	return out, nil
}

// rebuildRow is a row of stock_rebuilds.
type rebuildRow struct {
	ID          int64 `gorm:"primaryKey"`
	SaleID      int64
	FenceID     string
	RequestedAt time.Time
	FenceSentAt *time.Time
	PassedAt    *time.Time
	DoneAt      *time.Time
}

func (rebuildRow) TableName() string { return "stock_rebuilds" }

func (r rebuildRow) rebuild() order.Rebuild {
	at := func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return t.UTC()
	}
	return order.Rebuild{
		ID: r.ID, SaleID: r.SaleID, FenceID: r.FenceID, RequestedAt: r.RequestedAt.UTC(),
		FenceSentAt: at(r.FenceSentAt), PassedAt: at(r.PassedAt), DoneAt: at(r.DoneAt),
	}
}

var _ order.Rebuilds = (*Store)(nil)

// OpenRebuild returns the sale's oldest rebuild not done, or records a new
// one under fenceID at now.
func (s *Store) OpenRebuild(ctx context.Context, saleID int64, fenceID string, now time.Time) (order.Rebuild, error) {
	var row rebuildRow
	err := s.db.WithContext(ctx).Where("sale_id = ? AND done_at IS NULL", saleID).Order("id").First(&row).Error
	switch {
	case err == nil:
		return row.rebuild(), nil
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return order.Rebuild{}, fmt.Errorf("open rebuild of sale %d: %w", saleID, err)
	}
	row = rebuildRow{SaleID: saleID, FenceID: fenceID, RequestedAt: utc(now)}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return order.Rebuild{}, fmt.Errorf("open rebuild of sale %d: %w", saleID, err)
	}
	return row.rebuild(), nil
}

// FenceSent records when the rebuild's fence was (last) sent; a rebuild
// whose fence passed is left as it is.
func (s *Store) FenceSent(ctx context.Context, id int64, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&rebuildRow{}).Where("id = ? AND passed_at IS NULL", id).
		Update("fence_sent_at", utc(now)).Error
	if err != nil {
		return fmt.Errorf("rebuild %d: fence sent: %w", id, err)
	}
	return nil
}

// RebuildByID reads one rebuild.
func (s *Store) RebuildByID(ctx context.Context, id int64) (order.Rebuild, error) {
	var row rebuildRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).First(&row).Error; err != nil {
		return order.Rebuild{}, fmt.Errorf("rebuild %d: %w", id, err)
	}
	return row.rebuild(), nil
}

// FinishRebuild records the rebuild done.
func (s *Store) FinishRebuild(ctx context.Context, id int64, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&rebuildRow{}).Where("id = ? AND done_at IS NULL", id).
		Update("done_at", utc(now)).Error
	if err != nil {
		return fmt.Errorf("rebuild %d: finish: %w", id, err)
	}
	return nil
}

// OpenRebuilds lists the rebuilds not done, oldest first.
func (s *Store) OpenRebuilds(ctx context.Context) ([]order.Rebuild, error) {
	var rows []rebuildRow
	if err := s.db.WithContext(ctx).Where("done_at IS NULL").Order("id").Limit(1000).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("open rebuilds: %w", err)
	}
	out := make([]order.Rebuild, len(rows))
	for i, r := range rows {
		out[i] = r.rebuild()
	}
	return out, nil
}
