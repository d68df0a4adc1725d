package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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

// insertRungs are the row counts of the prepared INSERTs, largest first:
// a batch is written as the largest that fit, then the next, so a few
// statements of a few shapes (kept prepared on each connection) carry any
// batch; the last rows, fewer than the smallest rung, go as text.
var insertRungs = []int{256, 128, 64, 32, 16, 8}

// insertStatements holds the prepared multi-row INSERT of each rung,
// prepared on first use. database/sql prepares each again on every
// connection that runs it, once.
type insertStatements struct {
	db *sql.DB

	mu    sync.Mutex
	stmts map[int]*sql.Stmt
}

func newInsertStatements(db *sql.DB) *insertStatements {
	return &insertStatements{db: db, stmts: make(map[int]*sql.Stmt, len(insertRungs))}
}

// get returns the prepared INSERT of n rows.
func (p *insertStatements) get(ctx context.Context, n int) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[n]; ok {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, orderInsertStatement(n)) //nolint:sqlclosecheck // kept for the store's life; close closes it
	if err != nil {
		return nil, fmt.Errorf("prepare insert of %d orders: %w", n, err)
	}
	p.stmts[n] = st
	return st, nil
}

// close closes the prepared statements.
func (p *insertStatements) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for n, st := range p.stmts {
		errs = append(errs, st.Close())
		delete(p.stmts, n)
	}
	return errors.Join(errs...)
}

// insertOrders writes rows with multi-row INSERTs straight on the
// transaction ex: the hot path of the worker pays no reflection per row.
// With prepared statements (not nil) and ex a *sql.Tx, rows go in the
// prepared rungs' shapes, sent with the binary protocol, which spares the
// server parsing every value as text (about 15% of MariaDB's cost per
// row); otherwise, and for the rows left below the smallest rung, as text
// INSERTs of at most chunkRows rows. Errors are the driver's, so a unique
// key conflict is still recognised by needsSorting.
func insertOrders(ctx context.Context, ex execer, rows []orderRow, chunkRows int, prepared *insertStatements) error {
	tx, _ := ex.(*sql.Tx)
	for len(rows) > 0 {
		n, rung := min(len(rows), chunkRows), false
		if tx != nil && prepared != nil {
			if i := slices.IndexFunc(insertRungs, func(r int) bool { return r <= len(rows) }); i >= 0 {
				n, rung = insertRungs[i], true
			}
		}
		part := rows[:n]
		rows = rows[n:]
		args := make([]any, 0, 8*len(part))
		for _, r := range part {
			var reason any
			if r.Reason != nil {
				reason = *r.Reason
			}
			args = append(args, r.OrderNo, r.SaleID, r.UserID, r.Status, reason, r.CreatedAt, r.PersistedAt, r.UpdatedAt)
		}
		var err error
		if rung {
			var st *sql.Stmt
			if st, err = prepared.get(ctx, n); err == nil {
				err = execIn(ctx, tx, st, args)
			}
		} else {
			_, err = ex.ExecContext(ctx, orderInsertStatement(n), args...)
		}
		if err != nil {
			return fmt.Errorf("insert orders: %w", err)
		}
	}
	return nil
}

// execIn runs the prepared statement st inside tx. The transaction's copy
// of st would close with the transaction; closing it here releases it as
// soon as it has run.
func execIn(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args []any) (err error) {
	ts := tx.StmtContext(ctx, st)
	defer func() { err = errors.Join(err, ts.Close()) }()
	_, err = ts.ExecContext(ctx, args...)
	return err
}
