package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/seckill/seckill/internal/order"
)

// eventRow is a row of order_events, the outbox of lifecycle events.
type eventRow struct {
	ID        int64 `gorm:"primaryKey"`
	Kind      string
	OrderNo   string
	SaleID    int64
	UserID    int64
	Status    string
	Reason    string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	At        time.Time
}

func (eventRow) TableName() string { return "order_events" }

// recordEvents writes one kind event per order inside tx, the
// transaction that made the change: the event commits exactly when the
// change does. orders carry their status and reason after the change.
func (s *Store) recordEvents(tx *gorm.DB, kind string, orders []order.Order, at time.Time) error {
	if len(orders) == 0 {
		return nil
	}
	rows := make([]eventRow, len(orders))
	for i, o := range orders {
		rows[i] = eventRow{
			Kind: kind, OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID,
			Status: string(o.Status), Reason: o.Reason, CreatedAt: utc(o.CreatedAt), At: at,
		}
	}
	if err := tx.CreateInBatches(&rows, s.insertChunk).Error; err != nil {
		return fmt.Errorf("record %s events: %w", kind, err)
	}
	return nil
}

// RelayEvents hands up to limit recorded events, oldest first, to publish
// and deletes them when it returns nil; see order.Outbox.
//
// One transaction: the rows are read (on MySQL locked FOR UPDATE SKIP
// LOCKED, so relays in several workers take disjoint rows and none waits
// for another's publish), published, then deleted. A failed publish rolls
// back and leaves them for the next call; a process that dies after the
// broker confirmed but before the commit publishes them again later.
func (s *Store) RelayEvents(ctx context.Context, limit int, publish func(context.Context, []order.Event) error) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	relayed := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		relayed = 0
		q := tx.Order("id").Limit(limit)
		if s.dialect == dialectMySQL {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
		}
		var rows []eventRow
		if err := q.Find(&rows).Error; err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		events := make([]order.Event, len(rows))
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
			events[i] = order.Event{
				ID: r.ID, Kind: r.Kind, At: utc(r.At),
				Order: order.Order{
					OrderNo: r.OrderNo, SaleID: r.SaleID, UserID: r.UserID,
					Status: order.Status(r.Status), Reason: r.Reason, CreatedAt: utc(r.CreatedAt),
				},
			}
		}
		if err := publish(ctx, events); err != nil {
			return err
		}
		for _, part := range chunk(ids, inChunk) {
			if err := tx.Where("id IN ?", part).Delete(&eventRow{}).Error; err != nil {
				return fmt.Errorf("delete relayed events: %w", err)
			}
		}
		relayed = len(rows)
		return nil
	}, s.txOptions())
	if err != nil {
		return 0, fmt.Errorf("relay events: %w", err)
	}
	return relayed, nil
}

// PendingEvents counts the recorded events not relayed yet.
func (s *Store) PendingEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&eventRow{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}
