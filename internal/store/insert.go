package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// orderInsertCols are the columns insertOrders writes: every column of a
// new order row but the generated ones (id, live_user_id) and those a new
// row leaves NULL (paid_at, released_at).
const orderInsertCols = "order_no, sale_id, user_id, status, reason, created_at, persisted_at, updated_at"

// orderInsertSQL caches the multi-row INSERT statement for each row count.
var orderInsertSQL sync.Map // int → string

func orderInsertStatement(n int) string {
	if q, ok := orderInsertSQL.Load(n); ok {
		return q.(string)
	}
	var b strings.Builder
	b.Grow(64 + n*len("(?, ?, ?, ?, ?, ?, ?, ?), "))
	b.WriteString("INSERT INTO orders (" + orderInsertCols + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	q := b.String()
	orderInsertSQL.Store(n, q)
	return q
}

// execer runs a statement: a *sql.Tx, or the ConnPool of a GORM
// transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertOrders writes rows with multi-row INSERTs of at most chunk rows,
// straight on the transaction ex: the hot path of the worker pays no
// reflection per row. Errors are the driver's, so a unique key
// conflict is still recognised by needsSorting.
func insertOrders(ctx context.Context, ex execer, rows []orderRow, chunkRows int) error {
	for _, part := range chunk(rows, chunkRows) {
		args := make([]any, 0, 8*len(part))
		for _, r := range part {
			var reason any
			if r.Reason != nil {
				reason = *r.Reason
			}
			args = append(args, r.OrderNo, r.SaleID, r.UserID, r.Status, reason, r.CreatedAt, r.PersistedAt, r.UpdatedAt)
		}
		if _, err := ex.ExecContext(ctx, orderInsertStatement(len(part)), args...); err != nil {
			return fmt.Errorf("insert orders: %w", err)
		}
	}
	return nil
}
