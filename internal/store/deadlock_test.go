package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

// TestPersistBatchRetriesDeadlock makes InnoDB pick PersistBatch as the
// victim of a real deadlock and checks that the batch is retried and
// committed once, with the retry counted.
func TestPersistBatchRetriesDeadlock(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	ctx := context.Background()
	m := metrics.Discard()
	s, err := store.OpenMySQL(ctx, dsn, storetest.Logger(t), store.WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })

	a, b, c := newSale(t, s, 10), newSale(t, s, 10), newSale(t, s, 10)

	// The blocker changes b and c first, so it weighs more than the batch
	// and InnoDB rolls the batch back when the two deadlock.
	blocker, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback() }()
	for _, id := range []int64{c.ID, b.ID} {
		if _, err := blocker.ExecContext(ctx, "UPDATE sales SET updated_at = NOW(6) WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
	}

	// The batch locks a, then waits for b.
	type outcome struct {
		res order.BatchResult
		err error
	}
	done := make(chan outcome, 1)
	batch := []order.Order{newOrder(t, a.ID, 1), newOrder(t, b.ID, 1)}
	go func() {
		res, err := s.PersistBatch(ctx, batch)
		done <- outcome{res, err}
	}()
	waitForLockWait(t, raw)

	// Closing the cycle: the blocker now wants a, which the batch holds.
	if _, err := blocker.ExecContext(ctx, "UPDATE sales SET updated_at = NOW(6) WHERE id = ?", a.ID); err != nil {
		t.Fatalf("blocker was chosen as the deadlock victim (%v); the batch should have been", err)
	}
	if err := blocker.Commit(); err != nil {
		t.Fatal(err)
	}

	got := <-done
	if got.err != nil {
		t.Fatalf("persist batch: %v", got.err)
	}
	if len(got.res.Inserted) != 2 {
		t.Errorf("result = %+v, want both inserted", got.res)
	}
	for _, id := range []int64{a.ID, b.ID} {
		if n := sold(t, s, id); n != 1 {
			t.Errorf("sold of sale %d = %d, want 1", id, n)
		}
	}
	var retries dto.Metric
	if err := m.WorkerRetries.Write(&retries); err != nil {
		t.Fatal(err)
	}
	if retries.GetCounter().GetValue() < 1 {
		t.Errorf("retries = %v, want at least 1", retries.GetCounter().GetValue())
	}
}

// waitForLockWait returns once a transaction of this database waits for a
// row lock. InnoDB refreshes INNODB_TRX only when it has not been read for
// 100ms, so the polls are spaced wider than that.
func waitForLockWait(tb testing.TB, db *sql.DB) {
	tb.Helper()
	const q = `SELECT COUNT(*) FROM information_schema.INNODB_TRX t
		JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
		WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()`
	for range 150 {
		time.Sleep(200 * time.Millisecond)
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			tb.Fatalf("look for lock waits: %v", err)
		}
		if n > 0 {
			return
		}
	}
	tb.Fatal("the batch never waited for the blocker's lock")
}
