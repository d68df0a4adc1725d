package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/seckill/seckill/internal/order"
)

// stockAdditionRow is a row of stock_additions: one stock addition made
// under a request id.
type stockAdditionRow struct {
	RequestID string `gorm:"primaryKey"`
	SaleID    int64
	Added     int64
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
}

func (stockAdditionRow) TableName() string { return "stock_additions" }

// Sales lists up to limit sales, newest (highest id) first.
func (s *Store) Sales(ctx context.Context, limit int) ([]order.Sale, error) {
	var rows []saleRow
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list sales: %w", err)
	}
	out := make([]order.Sale, len(rows))
	for i, r := range rows {
		out[i] = r.sale()
	}
	return out, nil
}

// AddStock raises the sale's total_stock by add; see order.Repository. The
// audit entry ctx may carry (order.WithAuditNote) is written in its
// transaction. The request id, when given, is recorded in the same transaction, so that a
// retry finds it and changes nothing. Two calls racing with one request id
// meet on its primary key: the loser's attempt is retried and finds the
// winner's row.
func (s *Store) AddStock(ctx context.Context, saleID, add int64, requestID string, at time.Time) (order.Sale, error) {
	if add < 1 {
		return order.Sale{}, order.Invalid("add must be 1 or more")
	}
	if len(requestID) > order.MaxRequestIDLen {
		return order.Sale{}, order.Invalidf("request_id must be at most %d bytes", order.MaxRequestIDLen)
	}
	var (
		row      saleRow
		note     *order.AuditNote
		replayed bool
	)
	err := s.withRetry(ctx, func() error {
		replayed = false
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) (err error) {
			// The change is recorded in the audit trail in its
			// transaction; a retry that changed nothing records nothing.
			defer func() {
				if err == nil && !replayed {
					note, err = auditInTx(ctx, tx, row.sale())
				}
			}()
			if requestID != "" {
				var prev stockAdditionRow
				err := tx.Where("request_id = ?", requestID).Take(&prev).Error
				switch {
				case err == nil:
					if prev.SaleID != saleID || prev.Added != add {
						return order.RequestReused(requestID, fmt.Sprintf("to add %d units to sale %d", prev.Added, prev.SaleID))
					}
					replayed = true
					return takeSale(tx, saleID, &row)
				case !errors.Is(err, gorm.ErrRecordNotFound):
					return err
				}
			}
			res := tx.Model(&saleRow{}).Where("id = ?", saleID).Updates(map[string]any{
				"total_stock": gorm.Expr("total_stock + ?", add),
				"updated_at":  utc(at),
			})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return order.ErrSaleNotFound
			}
			if requestID != "" {
				rec := stockAdditionRow{RequestID: requestID, SaleID: saleID, Added: add, CreatedAt: utc(at)}
				if err := tx.Create(&rec).Error; err != nil {
					return err
				}
			}
			return takeSale(tx, saleID, &row)
		})
	})
	if err != nil {
		return order.Sale{}, fmt.Errorf("add %d units to sale %d: %w", add, saleID, err)
	}
	switch n := order.AuditNoteFrom(ctx); {
	case replayed && n != nil:
		n.MarkReplayed()
	case note != nil:
		note.MarkWritten()
	}
	return row.sale(), nil
}

// takeSale reads the sale saleID into row; order.ErrSaleNotFound when
// there is none.
func takeSale(tx *gorm.DB, saleID int64, row *saleRow) error {
	err := tx.Where("id = ?", saleID).Take(row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return order.ErrSaleNotFound
	}
	return err
}
