package main

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/go-sql-driver/mysql" // the database/sql driver of MySQL

	"github.com/seckill/seckill/loadtest/internal/scratch"

	"github.com/seckill/seckill/internal/redact"
)

// orderCounter counts a sale's rows in the run's orders table.
type orderCounter struct{ db *sql.DB }

func openOrderCounter(server, db string) (*orderCounter, error) {
	conn, err := sql.Open("mysql", scratch.DSN(server, db))
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", redact.Error(err, server))
	}
	conn.SetMaxOpenConns(1)
	return &orderCounter{db: conn}, nil
}

func (o *orderCounter) count(ctx context.Context, saleID int64) (int64, error) {
	var n int64
	if err := o.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE sale_id = ?", saleID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count orders of sale %d: %w", saleID, err)
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
