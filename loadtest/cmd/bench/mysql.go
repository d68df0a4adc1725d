package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/seckill/seckill/internal/redact"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// orderCounter counts sales' rows in the run's orders table.
type orderCounter struct{ db *sql.DB }

func openOrderCounter(server, db string) (*orderCounter, error) {
	conn, err := sql.Open("mysql", scratch.DSN(server, db))
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", redact.Error(err, server))
	}
	conn.SetMaxOpenConns(1)
	return &orderCounter{db: conn}, nil
}

// count is the rows of the sales, together.
func (o *orderCounter) count(ctx context.Context, saleIDs []int64) (int64, error) {
	args := make([]any, len(saleIDs))
	for i, id := range saleIDs {
		args[i] = id
	}
	q := "SELECT COUNT(*) FROM orders WHERE sale_id IN (?" + strings.Repeat(",?", max(len(saleIDs)-1, 0)) + ")"
	var n int64
	if err := o.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count orders of sales %v: %w", saleIDs, err)
	}
	return n, nil
}

// sold is the sale's sales.sold: the units its persisted orders took.
func (o *orderCounter) sold(ctx context.Context, saleID int64) (int64, error) {
	var n int64
	if err := o.db.QueryRowContext(ctx, "SELECT sold FROM sales WHERE id = ?", saleID).Scan(&n); err != nil {
		return 0, fmt.Errorf("read sold of sale %d: %w", saleID, err)
	}
	return n, nil
}

func (o *orderCounter) close() error { return o.db.Close() }

// rowWait is how a sale's rows reached MySQL, timed from a start.
type rowWait struct {
	Count     int64         // rows at the last poll
	Seen      bool          // whether a poll saw a row
	First     time.Duration // when a poll first saw a row
	FirstRows int64         // rows that poll saw
	Done      bool          // whether a poll saw every row awaited
	Last      time.Duration // when a poll first saw them all
}

// observe records a poll at at that counted n rows of the want awaited,
// and reports whether they are all in.
func (w *rowWait) observe(at time.Duration, n, want int64) bool {
	w.Count = n
	if n > 0 && !w.Seen {
		w.Seen, w.First, w.FirstRows = true, at, n
	}
	if n >= want && !w.Done {
		w.Done, w.Last = true, at
	}
	return w.Done
}

// waitRows polls the sales' rows in MySQL every countEvery until there are
// want of them, -drain-timeout passes or a worker exits, and returns when
// (since start) rows were first seen and first complete.
func (b *bench) waitRows(ctx context.Context, saleIDs []int64, want int64, start time.Time) (rowWait, error) {
	var w rowWait
	oc, err := openOrderCounter(b.o.mysqlServer, b.o.mysqlDB)
	if err != nil {
		return w, err
	}
	defer oc.close()
	deadline := time.Now().Add(b.o.drainTimeout)
	for {
		n, err := oc.count(ctx, saleIDs)
		at := time.Since(start)
		if err != nil {
			return w, err
		}
		if w.observe(at, n, want) || time.Now().After(deadline) {
			return w, nil
		}
		if err := b.exitedWorker(); err != nil {
			return w, fmt.Errorf("%d of %d rows in MySQL: %w", n, want, err)
		}
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(countEvery):
		}
	}
}
