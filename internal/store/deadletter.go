package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/seckill/seckill/internal/order"
)

// Widths of the dead_letters columns (MySQL refuses longer values).
const (
	maxMessageIDLen     = 100
	maxDeadReasonLen    = 64
	maxDeadDetailLen    = 1000
	maxDeadOrderNoBytes = 128
)

// deadLetterRow is a row of the dead_letters table. Settled is NULL while
// an operator has not replayed or discarded it.
type deadLetterRow struct {
	ID        int64 `gorm:"primaryKey"`
	MessageID string
	Reason    string
	Detail    string
	Body      []byte
	DeadAt    time.Time
	Settled   *string
	SettledAt *time.Time
}

func (deadLetterRow) TableName() string { return "dead_letters" }

// deadLetterOrderRow is a row of dead_letter_orders: one order a dead
// letter carries.
type deadLetterOrderRow struct {
	DeadLetterID int64
	OrderNo      string
	SaleID       int64
	UserID       int64
	CreatedAt    time.Time `gorm:"autoCreateTime:false"`
}

func (deadLetterOrderRow) TableName() string { return "dead_letter_orders" }

// RecordDeadLetter stores d and its orders in one transaction and returns
// the new dead letter's id. DeadAt defaults to now. Message id, reason and
// detail are cut to the widths of their columns; an order whose number
// cannot be stored (empty, longer than 128 bytes, not ASCII) or repeats
// one already in d is left out of the order rows and counted in the
// detail, so the message is never refused for what made it dead.
func (s *Store) RecordDeadLetter(ctx context.Context, d order.DeadLetter) (int64, error) {
	deadAt := utc(d.DeadAt)
	if d.DeadAt.IsZero() {
		deadAt = now()
	}
	orders, skipped := deadLetterOrders(d.Orders, deadAt)
	detail := d.Detail
	if skipped > 0 {
		note := fmt.Sprintf("%d order(s) with an order number that cannot be stored left out", skipped)
		if detail != "" {
			detail += "; "
		}
		detail += note
	}
	row := deadLetterRow{
		MessageID: truncate(d.MessageID, maxMessageIDLen),
		Reason:    truncate(d.Reason, maxDeadReasonLen),
		Detail:    truncate(detail, maxDeadDetailLen),
		Body:      d.Body,
		DeadAt:    deadAt,
	}
	err := s.withRetry(ctx, func() error {
		row.ID = 0
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			if len(orders) == 0 {
				return nil
			}
			for i := range orders {
				orders[i].DeadLetterID = row.ID
			}
			return tx.CreateInBatches(orders, s.insertChunk).Error
		})
	})
	if err != nil {
		return 0, fmt.Errorf("record dead letter (%s, %d orders): %w", d.Reason, len(d.Orders), err)
	}
	return row.ID, nil
}

// deadLetterOrders turns a dead letter's orders into rows, leaving out the
// ones whose order number cannot be a key; it returns how many it left out.
func deadLetterOrders(orders []order.Order, deadAt time.Time) ([]deadLetterOrderRow, int) {
	rows := make([]deadLetterOrderRow, 0, len(orders))
	seen := make(map[string]bool, len(orders))
	skipped := 0
	for _, o := range orders {
		if !storableOrderNo(o.OrderNo) || seen[o.OrderNo] {
			skipped++
			continue
		}
		seen[o.OrderNo] = true
		created := utc(o.CreatedAt)
		if o.CreatedAt.IsZero() {
			created = deadAt
		}
		rows = append(rows, deadLetterOrderRow{
			OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID, CreatedAt: created,
		})
	}
	return rows, skipped
}

func storableOrderNo(no string) bool {
	if no == "" || len(no) > maxDeadOrderNoBytes {
		return false
	}
	for i := 0; i < len(no); i++ {
		if no[i] < 0x20 || no[i] > 0x7e {
			return false
		}
	}
	return true
}

// truncate cuts s to at most n characters, on a character boundary, and
// replaces bytes that are not UTF-8.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// DeadLetters lists up to limit unsettled dead letters, newest first, with
// their orders, and how many unsettled dead letters there are in all.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]order.DeadLetter, int64, error) {
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Model(&deadLetterRow{}).Where("settled IS NULL").Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count dead letters: %w", err)
	}
	if limit <= 0 || total == 0 {
		return nil, total, nil
	}
	var rows []deadLetterRow
	if err := db.Where("settled IS NULL").Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list dead letters: %w", err)
	}
	out, err := s.withDeadOrders(ctx, rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list dead letters: %w", err)
	}
	return out, total, nil
}

// DeadLettersByID returns the unsettled dead letters among ids, by id, with
// their orders. Ids that name no dead letter, or one already settled, are
// left out.
func (s *Store) DeadLettersByID(ctx context.Context, ids []int64) ([]order.DeadLetter, error) {
	var rows []deadLetterRow
	for _, part := range chunk(ids, inChunk) {
		var got []deadLetterRow
		if err := s.db.WithContext(ctx).Where("id IN ? AND settled IS NULL", part).Find(&got).Error; err != nil {
			return nil, fmt.Errorf("dead letters by id: %w", err)
		}
		rows = append(rows, got...)
	}
	slices.SortFunc(rows, func(a, b deadLetterRow) int { return cmp.Compare(a.ID, b.ID) })
	rows = slices.CompactFunc(rows, func(a, b deadLetterRow) bool { return a.ID == b.ID })
	out, err := s.withDeadOrders(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("dead letters by id: %w", err)
	}
	return out, nil
}

// UnsettledDeadLetters returns every unsettled dead letter, oldest first,
// with its orders.
func (s *Store) UnsettledDeadLetters(ctx context.Context) ([]order.DeadLetter, error) {
	var rows []deadLetterRow
	if err := s.db.WithContext(ctx).Where("settled IS NULL").Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("unsettled dead letters: %w", err)
	}
	out, err := s.withDeadOrders(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("unsettled dead letters: %w", err)
	}
	return out, nil
}

// withDeadOrders turns rows into dead letters, in the same order, with
// their orders read from dead_letter_orders (each dead letter's orders by
// order number).
func (s *Store) withDeadOrders(ctx context.Context, rows []deadLetterRow) ([]order.DeadLetter, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	byLetter := make(map[int64][]order.Order, len(rows))
	for _, part := range chunk(ids, inChunk) {
		var orows []deadLetterOrderRow
		err := s.db.WithContext(ctx).Where("dead_letter_id IN ?", part).
			Order("dead_letter_id").Order("order_no").Find(&orows).Error
		if err != nil {
			return nil, fmt.Errorf("orders of dead letters: %w", err)
		}
		for _, o := range orows {
			byLetter[o.DeadLetterID] = append(byLetter[o.DeadLetterID], order.Order{
				OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID,
				Status: order.StatusPending, CreatedAt: o.CreatedAt.UTC(),
			})
		}
	}
	out := make([]order.DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = order.DeadLetter{
			ID: r.ID, MessageID: r.MessageID, Reason: r.Reason, Detail: r.Detail,
			Body: r.Body, DeadAt: r.DeadAt.UTC(), Orders: byLetter[r.ID],
		}
	}
	return out, nil
}
