package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/seckill/seckill/internal/order"
)

// maxOrderNoLen is the width of orders.order_no (a UUID in text form).
const maxOrderNoLen = 36

// inChunk bounds the number of values in one IN (...) list.
const inChunk = 500

// errGuardMoved means the guarded UPDATE of sales.sold changed no row even
// though the transaction holds the sale's row: something raised sold
// outside the lock. The transaction is retried from the start.
var errGuardMoved = errors.New("sales.sold moved under the row lock")

type buyerKey struct{ saleID, userID int64 }

// PersistBatch writes a batch of orders in one transaction and says what
// became of each; see order.BatchStore. Running the same batch again inserts
// nothing and reports every order as Duplicate; sold is raised once.
//
// The transaction locks the batch's sales rows in id order first (SELECT …
// FOR UPDATE on MySQL; SQLite transactions take the write lock at BEGIN),
// so every later read sees all orders committed for those sales and two
// batches of one sale never race on the unique keys. Then, in arrival order:
// an order_no already stored (live or tombstoned) is a Duplicate; an
// unknown sale is rejected, with nothing written (orders.sale_id must name
// a sale); a user who already holds another live order of the sale gets a
// tombstone; per sale the first total_stock − sold orders are kept, sold is
// raised for them with
// UPDATE … SET sold = sold + n WHERE id = ? AND sold + n <= total_stock, and
// the rest get tombstones. A tombstone is the order's row, status
// cancelled with a reason (order.ReasonDuplicateBuyer,
// order.ReasonSoldOut), released_at NULL and sold not raised: the expiry
// sweep finds it among the unreleased orders and gives its unit back to the
// stock backend, and a late copy of it is a Duplicate. Invalid orders
// (empty or over-long order_no, a non-positive id) are rejected without a
// transaction. Deadlocks, lock wait timeouts and a busy SQLite retry the
// whole transaction with a short jittered backoff (withRetry).
//
// Most batches are all new orders that fit; insertFirstTx writes those
// without the reads above and only hands the batch to the sorting
// transaction when its guards or unique keys say it must.
func (s *Store) PersistBatch(ctx context.Context, orders []order.Order) (order.BatchResult, error) {
	var (
		batch   []order.Order
		copies  []string
		invalid []order.Order
		seen    = make(map[string]bool, len(orders))
	)
	for _, o := range orders {
		switch {
		case o.OrderNo == "" || len(o.OrderNo) > maxOrderNoLen || o.SaleID <= 0 || o.UserID <= 0:
			invalid = append(invalid, o)
		case seen[o.OrderNo]:
			copies = append(copies, o.OrderNo)
		default:
			seen[o.OrderNo] = true
			batch = append(batch, o)
		}
	}

	var res order.BatchResult
	if len(batch) > 0 {
		err := s.withRetry(ctx, func() error {
			var err error
			if res, err = s.insertFirstTx(ctx, batch); err == nil || !needsSorting(err) {
				return err // done, or a lock conflict to retry, or a failure
			}
			if s.metrics != nil {
				s.metrics.WorkerSortedBatches.Inc()
			}
			res, err = s.persistTx(ctx, batch)
			return err
		})
		if err != nil {
			return order.BatchResult{}, fmt.Errorf("persist batch of %d orders: %w", len(orders), err)
		}
	}
	// A second copy of an order in the same batch is the same order: it is
	// settled by whatever happened to the first.
	res.Duplicate = append(res.Duplicate, copies...)
	for _, o := range invalid {
		s.log.ErrorContext(ctx, "order cannot be stored; rejecting",
			"sale_id", o.SaleID, "user_id", o.UserID, "order_no", o.OrderNo)
		reject(&res, o, order.DeadInvalid)
	}
	return res, nil
}

func reject(res *order.BatchResult, o order.Order, why string) {
	res.Rejected = append(res.Rejected, o)
	if res.Reasons == nil {
		res.Reasons = make(map[string]string)
	}
	res.Reasons[o.OrderNo] = why
}

// persistTx runs one attempt of PersistBatch's transaction over orders with
// distinct, valid order numbers.
func (s *Store) persistTx(ctx context.Context, batch []order.Order) (order.BatchResult, error) {
	var res order.BatchResult
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res = order.BatchResult{}

		sales, err := s.lockSales(tx, batch)
		if err != nil {
			return err
		}
		stored, err := storedOrderNos(tx, batch)
		if err != nil {
			return err
		}
		buyers, err := storedBuyers(tx, batch, stored)
		if err != nil {
			return err
		}

		// Classify in arrival order.
		t := now()
		var (
			perSale    = make(map[int64][]order.Order)
			tombstones = make(map[string]orderRow)
		)
		for _, o := range batch {
			key := buyerKey{o.SaleID, o.UserID}
			if stored[o.OrderNo] {
				res.Duplicate = append(res.Duplicate, o.OrderNo)
				continue
			}
			if _, ok := sales[o.SaleID]; !ok {
				s.log.ErrorContext(ctx, "order for an unknown sale; rejecting",
					"sale_id", o.SaleID, "user_id", o.UserID, "order_no", o.OrderNo)
				reject(&res, o, order.DeadUnknownSale)
				continue
			}
			if held, ok := buyers[key]; ok {
				s.log.ErrorContext(ctx, "second order for one buyer of a sale; recording it cancelled, the stock backend let a buyer through twice",
					"sale_id", o.SaleID, "user_id", o.UserID, "order_no", o.OrderNo, "held_order_no", held)
				tombstones[o.OrderNo] = newTombstoneRow(o, t, order.ReasonDuplicateBuyer)
				continue
			}
			buyers[key] = o.OrderNo
			perSale[o.SaleID] = append(perSale[o.SaleID], o)
		}

		var rows []orderRow
		for _, id := range slices.Sorted(maps.Keys(perSale)) {
			want := perSale[id]
			sale := sales[id]
			fit := int(max(sale.TotalStock-sale.Sold, 0))
			keep := want[:min(len(want), fit)]
			if len(keep) > 0 {
				if err := raiseSold(ctx, tx.Statement.ConnPool, id, len(keep), t); err != nil {
					return err
				}
			}
			for _, o := range want[len(keep):] {
				s.log.ErrorContext(ctx, "no unit left in MySQL for an order; recording it cancelled, the stock backend accepted more than the sale holds",
					"sale_id", o.SaleID, "user_id", o.UserID, "order_no", o.OrderNo)
				tombstones[o.OrderNo] = newTombstoneRow(o, t, order.ReasonSoldOut)
			}
			for _, o := range keep {
				rows = append(rows, newOrderRow(o, t))
			}
		}
		// Report inserts and tombstones in arrival order.
		inserted := make(map[string]bool, len(rows))
		for _, r := range rows {
			inserted[r.OrderNo] = true
		}
		for _, o := range batch {
			if inserted[o.OrderNo] {
				res.Inserted = append(res.Inserted, o.OrderNo)
			}
			if r, ok := tombstones[o.OrderNo]; ok {
				rows = append(rows, r)
				o.Status, o.Reason = order.StatusCancelled, *r.Reason
				res.Tombstoned = append(res.Tombstoned, o)
			}
		}
		if err := insertOrders(ctx, tx.Statement.ConnPool, rows, s.insertChunk, s.inserts); err != nil {
			return err
		}
		return s.recordEvents(tx, order.EventCancelled, res.Tombstoned, t)
	}, s.txOptions())
	return res, err
}

// insertFirstTx is the transaction of a batch in which every order is new:
// the common case, written without reading anything first. Per sale, in id
// order, the guarded UPDATE raises sold by the sale's whole share of the
// batch (and locks its row, as lockSales would); then every row is
// inserted. It commits only if every guard held and no insert hit a unique
// key — exactly when persistTx would have inserted the whole batch, with the
// same rows and the same sold. Anything else (a redelivered order, a buyer
// already stored, a sale short of stock or unknown, any error) rolls back
// and returns an error; when the error says some order is not new or does
// not fit (needsSorting), the batch goes through persistTx, which sorts out
// each order. Lock conflicts go back to withRetry like persistTx's own. It
// reads nothing, so it runs at the server's default isolation: one round
// trip fewer than setting read committed first.
func (s *Store) insertFirstTx(ctx context.Context, batch []order.Order) (order.BatchResult, error) {
	perSale := make(map[int64]int, 1)
	for _, o := range batch {
		perSale[o.SaleID]++
	}
	t := now()
	rows := make([]orderRow, len(batch))
	for i, o := range batch {
		rows[i] = newOrderRow(o, t)
	}
	// Straight on database/sql: two statements need none of GORM's
	// statement building, and the worker runs this once per batch.
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return order.BatchResult{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	for _, id := range slices.Sorted(maps.Keys(perSale)) {
		if err := raiseSold(ctx, tx, id, perSale[id], t); err != nil {
			return order.BatchResult{}, err
		}
	}
	if err := insertOrders(ctx, tx, rows, s.insertChunk, s.inserts); err != nil {
		return order.BatchResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return order.BatchResult{}, fmt.Errorf("commit: %w", err)
	}
	res := order.BatchResult{Inserted: make([]string, len(batch))}
	for i, o := range batch {
		res.Inserted[i] = o.OrderNo
	}
	return res, nil
}

// newOrderRow is the row of a persisted order: created, reserved at the
// order's CreatedAt (t when it has none), persisted at t.
func newOrderRow(o order.Order, t time.Time) orderRow {
	reserved := utc(o.CreatedAt)
	if o.CreatedAt.IsZero() {
		reserved = t
	}
	return orderRow{
		OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID,
		Status:    string(order.StatusCreated),
		CreatedAt: reserved, PersistedAt: t, UpdatedAt: t,
	}
}

// newTombstoneRow is the row of an order the store refused: cancelled for
// reason, its unit not yet released.
func newTombstoneRow(o order.Order, t time.Time, reason string) orderRow {
	r := newOrderRow(o, t)
	r.Status = string(order.StatusCancelled)
	r.Reason = &reason
	return r
}

// txOptions are the options of the batch transactions. Read committed on
// MySQL: once the sales rows are locked, plain reads see every order
// committed under those locks, and InnoDB takes no gap locks on the
// inserts.
func (s *Store) txOptions() *sql.TxOptions {
	if s.dialect != dialectMySQL {
		return nil
	}
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

// lockSales reads, and on MySQL locks in id order, the sales of the batch.
func (s *Store) lockSales(tx *gorm.DB, batch []order.Order) (map[int64]saleRow, error) {
	ids := make([]int64, 0, 4)
	for _, o := range batch {
		ids = append(ids, o.SaleID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	out := make(map[int64]saleRow, len(ids))
	for _, part := range chunk(ids, inChunk) {
		q := tx.Model(&saleRow{}).Select("id", "total_stock", "sold").Where("id IN ?", part).Order("id")
		if s.dialect == dialectMySQL {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
		}
		var rows []saleRow
		if err := q.Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("lock sales: %w", err)
		}
		for _, r := range rows {
			out[r.ID] = r
		}
	}
	return out, nil
}

// storedOrderNos returns which order numbers of the batch are stored.
func storedOrderNos(tx *gorm.DB, batch []order.Order) (map[string]bool, error) {
	nos := make([]string, len(batch))
	for i, o := range batch {
		nos[i] = o.OrderNo
	}
	out := make(map[string]bool)
	for _, part := range chunk(nos, inChunk) {
		var found []string
		if err := tx.Model(&orderRow{}).Where("order_no IN ?", part).Pluck("order_no", &found).Error; err != nil {
			return nil, fmt.Errorf("find stored orders: %w", err)
		}
		for _, no := range found {
			out[no] = true
		}
	}
	return out, nil
}

// storedBuyers returns, for the buyers of the batch's new orders, the order
// number each already holds live (not cancelled) in the same sale: a buyer
// whose unpaid order expired may buy again.
func storedBuyers(tx *gorm.DB, batch []order.Order, stored map[string]bool) (map[buyerKey]string, error) {
	users := make(map[int64][]int64)
	for _, o := range batch {
		if !stored[o.OrderNo] {
			users[o.SaleID] = append(users[o.SaleID], o.UserID)
		}
	}
	out := make(map[buyerKey]string)
	for _, saleID := range slices.Sorted(maps.Keys(users)) {
		for _, part := range chunk(users[saleID], inChunk) {
			var rows []orderRow
			err := tx.Model(&orderRow{}).Select("order_no", "sale_id", "user_id").
				Where("sale_id = ? AND user_id IN ? AND status <> ?", saleID, part, string(order.StatusCancelled)).
				Find(&rows).Error
			if err != nil {
				return nil, fmt.Errorf("find stored buyers: %w", err)
			}
			for _, r := range rows {
				out[buyerKey{r.SaleID, r.UserID}] = r.OrderNo
			}
		}
	}
	return out, nil
}

// raiseSoldSQL is raiseSold's statement: the guard in its WHERE.
const raiseSoldSQL = "UPDATE sales SET sold = sold + ?, updated_at = ? WHERE id = ? AND sold + ? <= total_stock"

// raiseSold raises sales.sold by n with the guarded UPDATE (sold + n <=
// total_stock), so MySQL never holds more orders than stock. ex is the
// transaction (a *sql.Tx, or a GORM transaction's ConnPool).
func raiseSold(ctx context.Context, ex execer, saleID int64, n int, t time.Time) error {
	r, err := ex.ExecContext(ctx, raiseSoldSQL, n, t, saleID, n)
	if err != nil {
		return fmt.Errorf("raise sold of sale %d by %d: %w", saleID, n, err)
	}
	if affected, err := r.RowsAffected(); err != nil || affected != 1 {
		return fmt.Errorf("raise sold of sale %d by %d: %w", saleID, n, errors.Join(errGuardMoved, err))
	}
	return nil
}

// needsSorting tells the failures of insertFirstTx that mean "not every
// order of this batch is new and fits" — a sales guard that did not hold, a
// unique key already taken — from the ones a retry or nobody can cure.
func needsSorting(err error) bool {
	if errors.Is(err, errGuardMoved) {
		return true
	}
	var my *mysqldrv.MySQLError
	if errors.As(err, &my) {
		return my.Number == mysqlDupEntry
	}
	var lite interface{ Code() int }
	return errors.As(err, &lite) && lite.Code()&0xff == sqliteConstraint
}

func chunk[T any](xs []T, n int) [][]T {
	var out [][]T
	for len(xs) > n {
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	if len(xs) > 0 {
		out = append(out, xs)
	}
	return out
}
