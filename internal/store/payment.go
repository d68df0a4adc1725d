package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/seckill/seckill/internal/order"
)

// errStatusMoved means a guarded status UPDATE changed fewer rows than the
// transaction had locked: something moved an order outside the lock. The
// transaction is retried from the start.
var errStatusMoved = errors.New("order status moved under the row lock")

// Pay marks userID's order orderNo paid at now; see order.Repository.
//
// One transaction: the order row is read with its sale's payment window
// (locked FOR UPDATE on MySQL; an SQLite transaction holds the write lock
// from BEGIN), checked, and moved created → paid by an UPDATE guarded by
// status = 'created'. ExpireDue cancels with the same guard and the same
// window rule (due once now > created_at + window), so of a payment and
// an expiry racing on one order exactly one changes it.
func (s *Store) Pay(ctx context.Context, userID int64, orderNo string, now time.Time) (order.Order, error) {
	now = utc(now)
	var out order.Order
	err := s.withRetry(ctx, func() error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var row orderRow
			q := tx.Where("order_no = ?", orderNo)
			if s.dialect == dialectMySQL {
				q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
			}
			err := q.Take(&row).Error
			switch {
			case errors.Is(err, gorm.ErrRecordNotFound):
				return order.ErrOrderNotFound
			case err != nil:
				return err
			}
			if row.UserID != userID {
				return order.ErrOrderNotFound
			}
			o, err := row.order()
			if err != nil {
				return err
			}
			switch o.Status {
			case order.StatusPaid:
				out = o
				return nil
			case order.StatusCancelled:
				return order.ErrPaymentCancelled
			}
			var window int64
			if err := tx.Model(&saleRow{}).Where("id = ?", row.SaleID).
				Pluck("payment_window_seconds", &window).Error; err != nil {
				return fmt.Errorf("payment window of sale %d: %w", row.SaleID, err)
			}
			if order.PaymentDue(row.CreatedAt, time.Duration(window)*time.Second, now) {
				return order.ErrPaymentClosed
			}
			r := tx.Model(&orderRow{}).Where("id = ? AND status = ?", row.ID, string(order.StatusCreated)).
				Updates(map[string]any{"status": string(order.StatusPaid), "paid_at": now, "updated_at": now})
			if r.Error != nil {
				return r.Error
			}
			if r.RowsAffected != 1 {
				return errStatusMoved
			}
			o.Status = order.StatusPaid
			out = o
			return s.recordEvents(tx, order.EventPaid, []order.Order{o}, now)
		}, s.txOptions())
	})
	if err != nil {
		return order.Order{}, fmt.Errorf("pay order %s: %w", orderNo, err)
	}
	return out, nil
}

// ExpireDue cancels up to limit orders of saleID still created (unpaid)
// that were created before dueBefore, lowers sales.sold by as many, and
// returns them; see order.Repository.
//
// One transaction (read committed on MySQL, so no gap locks stall the
// worker's inserts): the due orders are locked oldest first, moved
// created → cancelled by an UPDATE guarded by status = 'created', and
// sales.sold is lowered with UPDATE … WHERE sold >= n. A payment that
// committed first leaves its order out of the due set; one that comes
// after finds the order cancelled. Several sweepers at once serialise on
// the row locks and cancel each order once.
func (s *Store) ExpireDue(ctx context.Context, saleID int64, dueBefore time.Time, limit int) ([]order.Order, error) {
	if limit <= 0 {
		return nil, nil
	}
	dueBefore = utc(dueBefore)
	var out []order.Order
	err := s.withRetry(ctx, func() error {
		out = nil
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var rows []orderRow
			q := tx.Where("sale_id = ? AND status = ? AND created_at < ?", saleID, string(order.StatusCreated), dueBefore).
				Order("created_at").Order("id").Limit(limit)
			if s.dialect == dialectMySQL {
				q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
			}
			if err := q.Find(&rows).Error; err != nil {
				return err
			}
			if len(rows) == 0 {
				return nil
			}
			ids := make([]int64, len(rows))
			for i, r := range rows {
				ids[i] = r.ID
			}
			t := now()
			r := tx.Model(&orderRow{}).Where("id IN ? AND status = ?", ids, string(order.StatusCreated)).
				Updates(map[string]any{"status": string(order.StatusCancelled), "reason": order.ReasonExpired, "updated_at": t})
			if r.Error != nil {
				return r.Error
			}
			if r.RowsAffected != int64(len(rows)) {
				return errStatusMoved
			}
			if err := s.lowerSold(ctx, tx, saleID, len(rows), t); err != nil {
				return err
			}
			out = make([]order.Order, len(rows))
			for i, row := range rows {
				o, err := row.order()
				if err != nil {
					return err
				}
				o.Status, o.Reason = order.StatusCancelled, order.ReasonExpired
				out[i] = o
			}
			return s.recordEvents(tx, order.EventCancelled, out, t)
		}, s.txOptions())
	})
	if err != nil {
		return nil, fmt.Errorf("expire due orders of sale %d: %w", saleID, err)
	}
	return out, nil
}

// lowerSold lowers sales.sold by n, never below 0. A sold smaller than n
// means MySQL counted fewer orders than it holds: it is logged loudly and
// sold stops at 0 rather than failing the cancellation.
func (s *Store) lowerSold(ctx context.Context, tx *gorm.DB, saleID int64, n int, t time.Time) error {
	r := tx.Model(&saleRow{}).Where("id = ? AND sold >= ?", saleID, n).
		Updates(map[string]any{"sold": gorm.Expr("sold - ?", n), "updated_at": t})
	if r.Error != nil {
		return fmt.Errorf("lower sold of sale %d by %d: %w", saleID, n, r.Error)
	}
	if r.RowsAffected == 1 {
		return nil
	}
	s.log.ErrorContext(ctx, "sales.sold is lower than the orders being cancelled; setting it to 0",
		"sale_id", saleID, "cancelled", n)
	if err := tx.Model(&saleRow{}).Where("id = ?", saleID).
		Updates(map[string]any{"sold": 0, "updated_at": t}).Error; err != nil {
		return fmt.Errorf("lower sold of sale %d to 0: %w", saleID, err)
	}
	return nil
}

// Unreleased lists up to limit cancelled orders of saleID whose unit the
// stock backend has not been confirmed to hold again, oldest first: the
// expired ones and the tombstones of orders the worker's store refused.
func (s *Store) Unreleased(ctx context.Context, saleID int64, limit int) ([]order.Order, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows []orderRow
	err := s.db.WithContext(ctx).
		Where("sale_id = ? AND status = ? AND released_at IS NULL", saleID, string(order.StatusCancelled)).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("unreleased orders of sale %d: %w", saleID, err)
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		o, err := r.order()
		if err != nil {
			return nil, fmt.Errorf("unreleased orders of sale %d: %w", saleID, err)
		}
		out[i] = o
	}
	return out, nil
}

// MarkReleased records that the stock backend holds the units of these
// cancelled orders again. Orders already marked keep their first time.
func (s *Store) MarkReleased(ctx context.Context, orderNos []string, now time.Time) error {
	now = utc(now)
	for _, part := range chunk(orderNos, inChunk) {
		err := s.db.WithContext(ctx).Model(&orderRow{}).
			Where("order_no IN ? AND status = ? AND released_at IS NULL", part, string(order.StatusCancelled)).
			Update("released_at", now).Error
		if err != nil {
			return fmt.Errorf("mark %d orders released: %w", len(orderNos), err)
		}
	}
	return nil
}
