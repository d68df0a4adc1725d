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

var _ order.DeadLetters = (*Store)(nil)

// Widths of the dead_letters columns (MySQL refuses longer values).
const (
	maxMessageIDLen     = 100
	maxDeadReasonLen    = 64
	maxDeadDetailLen    = 1000
	maxDeadOrderNoBytes = 128
)

// deadLetterRow is a row of the dead_letters table. Closed is NULL while
// the dead letter is open: an operator has not replayed or discarded it.
// Closed and ClosedAt map the stored columns settled and settled_at: the
// schema keeps those names (the queries below use them), only Go says
// closed.
type deadLetterRow struct {
	ID        int64 `gorm:"primaryKey"`
	MessageID string
	Reason    string
	Detail    string
	Body      []byte
	DeadAt    time.Time
	Closed    *string    `gorm:"column:settled"`
	ClosedAt  *time.Time `gorm:"column:settled_at"`
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

// DeadLetters lists up to limit open dead letters, newest first, with
// their orders, and how many open dead letters there are in all.
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

// DeadLettersByID returns the open dead letters among ids, by id, with
// their orders. Ids that name no dead letter, or one already closed, are
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

// OpenDeadLetters returns every open dead letter, oldest first, with its
// orders.
func (s *Store) OpenDeadLetters(ctx context.Context) ([]order.DeadLetter, error) {
	var rows []deadLetterRow
	if err := s.db.WithContext(ctx).Where("settled IS NULL").Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("open dead letters: %w", err)
	}
	out, err := s.withDeadOrders(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("open dead letters: %w", err)
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

// CloseDeadLetter marks dead letter id closed as how
// (order.ClosedReplayed or order.ClosedDiscarded) at now. The UPDATE is
// guarded by settled IS NULL (the column of Closed), so of two operators
// closing one dead letter exactly one gets true; false also means no dead
// letter has that id.
func (s *Store) CloseDeadLetter(ctx context.Context, id int64, how string, now time.Time) (bool, error) {
	if how != order.ClosedReplayed && how != order.ClosedDiscarded {
		return false, fmt.Errorf("close dead letter %d as %q: %w", id, how, order.ErrInvalid)
	}
	r := s.db.WithContext(ctx).Model(&deadLetterRow{}).Where("id = ? AND settled IS NULL", id).
		Updates(map[string]any{"settled": how, "settled_at": utc(now)})
	if r.Error != nil {
		return false, fmt.Errorf("close dead letter %d: %w", id, r.Error)
	}
	return r.RowsAffected == 1, nil
}

// SaleDeadOrders lists the orders of saleID that open dead letters
// hold and the orders table does not, each once, by order number. Their
// units are still taken: a stock rebuild counts them as held.
func (s *Store) SaleDeadOrders(ctx context.Context, saleID int64) ([]order.Order, error) {
	var rows []deadLetterOrderRow
	err := s.db.WithContext(ctx).Table("dead_letter_orders AS dlo").
		Select("dlo.order_no, dlo.sale_id, dlo.user_id, dlo.created_at").
		Joins("JOIN dead_letters dl ON dl.id = dlo.dead_letter_id").
		Where("dlo.sale_id = ? AND dl.settled IS NULL", saleID).
		Where("NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_no = dlo.order_no)").
		Order("dlo.order_no").Order("dlo.dead_letter_id").
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("dead orders of sale %d: %w", saleID, err)
	}
	out := make([]order.Order, 0, len(rows))
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].OrderNo == r.OrderNo {
			continue // held by several dead letters (a message dead twice)
		}
		out = append(out, order.Order{
			OrderNo: r.OrderNo, SaleID: r.SaleID, UserID: r.UserID,
			Status: order.StatusPending, CreatedAt: r.CreatedAt.UTC(),
		})
	}
	return out, nil
}

// Tombstone writes the orders MySQL does not hold yet as cancelled with
// reason, released_at NULL (their units are still taken in the stock
// backend), and returns the order numbers it wrote. An order MySQL already
// holds, in any status, is left as it is; so is one it cannot hold (an
// order number that is not one, a sale it does not know). Cancelled rows do
// not count against one live order per buyer, nor against sales.sold, and
// a later copy of a tombstoned order is a duplicate to the worker.
func (s *Store) Tombstone(ctx context.Context, orders []order.Order, reason string, now time.Time) ([]string, error) {
	now = utc(now)
	var written []string
	err := s.withRetry(ctx, func() error {
		written = nil
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			rows, cancelled, err := s.tombstoneRows(tx, orders, reason, now)
			if err != nil || len(rows) == 0 {
				return err
			}
			for _, part := range chunk(rows, s.insertChunk) {
				if err := tx.Table("orders").Create(part).Error; err != nil {
					return err
				}
			}
			written = make([]string, len(cancelled))
			for i, o := range cancelled {
				written[i] = o.OrderNo
			}
			return s.recordEvents(tx, order.EventCancelled, cancelled, now)
		}, s.txOptions())
	})
	if err != nil {
		return nil, fmt.Errorf("tombstone %d orders: %w", len(orders), err)
	}
	return written, nil
}

// tombstoneRows builds the rows Tombstone inserts: one per order whose
// number fits the orders table, whose sale exists and which MySQL does not
// hold yet; cancelled are those orders as the rows record them.
func (s *Store) tombstoneRows(tx *gorm.DB, orders []order.Order, reason string, now time.Time) (rows []map[string]any, cancelled []order.Order, _ error) {
	var (
		nos     []string
		saleIDs []int64
		seen    = make(map[string]bool, len(orders))
	)
	for _, o := range orders {
		if o.OrderNo == "" || len(o.OrderNo) > maxOrderNoLen || !storableOrderNo(o.OrderNo) || seen[o.OrderNo] {
			continue
		}
		seen[o.OrderNo] = true
		nos = append(nos, o.OrderNo)
		saleIDs = append(saleIDs, o.SaleID)
	}
	if len(nos) == 0 {
		return nil, nil, nil
	}
	stored := make(map[string]bool, len(nos))
	for _, part := range chunk(nos, inChunk) {
		var got []string
		if err := tx.Model(&orderRow{}).Where("order_no IN ?", part).Pluck("order_no", &got).Error; err != nil {
			return nil, nil, fmt.Errorf("stored orders: %w", err)
		}
		for _, no := range got {
			stored[no] = true
		}
	}
	slices.Sort(saleIDs)
	saleIDs = slices.Compact(saleIDs)
	sales := make(map[int64]bool, len(saleIDs))
	for _, part := range chunk(saleIDs, inChunk) {
		var got []int64
		if err := tx.Model(&saleRow{}).Where("id IN ?", part).Pluck("id", &got).Error; err != nil {
			return nil, nil, fmt.Errorf("sales of tombstones: %w", err)
		}
		for _, id := range got {
			sales[id] = true
		}
	}
	rows = make([]map[string]any, 0, len(nos))
	cancelled = make([]order.Order, 0, len(nos))
	for _, o := range orders {
		if !seen[o.OrderNo] || stored[o.OrderNo] || !sales[o.SaleID] {
			continue
		}
		stored[o.OrderNo] = true // once, whatever repeats follow
		created := utc(o.CreatedAt)
		if o.CreatedAt.IsZero() {
			created = now
		}
		rows = append(rows, map[string]any{
			"order_no": o.OrderNo, "sale_id": o.SaleID, "user_id": o.UserID,
			"status": string(order.StatusCancelled), "reason": reason,
			"created_at": created, "persisted_at": now, "updated_at": now,
		})
		cancelled = append(cancelled, order.Order{
			OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID,
			Status: order.StatusCancelled, Reason: reason, CreatedAt: created,
		})
	}
	return rows, cancelled, nil
}
