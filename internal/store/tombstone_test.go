package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "github.com/glebarez/sqlite" // the "sqlite" database/sql driver

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

// TestTombstones: an order the store refuses is recorded cancelled with a
// reason under its own order_no, sold is not raised, its unit shows among
// the unreleased orders for the expiry sweep, and a late copy of it is a
// duplicate that writes nothing.
func TestTombstones(t *testing.T) {
	tests := []struct {
		name string
		// refuse persists what makes the store refuse the returned order.
		refuse func(tb testing.TB, s *store.Store, saleID int64) order.Order
		reason string
	}{
		{
			name: "stock guard",
			refuse: func(tb testing.TB, s *store.Store, saleID int64) order.Order {
				persist(tb, s, newOrders(tb, saleID, 1, 2)) // the sale's whole stock
				return newOrder(tb, saleID, 3)
			},
			reason: order.ReasonSoldOut,
		},
		{
			name: "second live order of a buyer",
			refuse: func(tb testing.TB, s *store.Store, saleID int64) order.Order {
				persist(tb, s, []order.Order{newOrder(tb, saleID, 1)})
				return newOrder(tb, saleID, 1)
			},
			reason: order.ReasonDuplicateBuyer,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				ctx := context.Background()
				sale := newSale(t, s, 2)
				refused := tt.refuse(t, s, sale.ID)
				soldBefore := sold(t, s, sale.ID)
				rowsBefore := len(saleOrders(t, s, sale.ID))

				res := persist(t, s, []order.Order{refused})
				if len(res.Tombstoned) != 1 || len(res.Inserted)+len(res.Duplicate)+len(res.Rejected) != 0 {
					t.Fatalf("result = %+v, want one tombstone", res)
				}
				if ts := res.Tombstoned[0]; ts.OrderNo != refused.OrderNo || ts.Status != order.StatusCancelled || ts.Reason != tt.reason {
					t.Errorf("tombstone = %+v, want %s cancelled with reason %q", ts, refused.OrderNo, tt.reason)
				}
				got, err := s.Order(ctx, refused.OrderNo)
				if err != nil {
					t.Fatalf("order: %v", err)
				}
				if got.Status != order.StatusCancelled || got.Reason != tt.reason || got.UserID != refused.UserID ||
					!got.CreatedAt.Equal(refused.CreatedAt) {
					t.Errorf("stored = %+v, want cancelled with reason %q", got, tt.reason)
				}
				if n := sold(t, s, sale.ID); n != soldBefore {
					t.Errorf("sold = %d, want %d: a tombstone holds no unit", n, soldBefore)
				}

				unreleased, err := s.Unreleased(ctx, sale.ID, 10)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(orderNos(unreleased), []string{refused.OrderNo}) {
					t.Errorf("unreleased = %v, want the tombstone %s", orderNos(unreleased), refused.OrderNo)
				}

				// A late copy, alone and with a new order.
				late := persist(t, s, []order.Order{refused})
				if !slices.Equal(late.Duplicate, []string{refused.OrderNo}) || len(late.Tombstoned)+len(late.Inserted) != 0 {
					t.Errorf("late copy: %+v, want a duplicate", late)
				}
				if n := len(saleOrders(t, s, sale.ID)); n != rowsBefore+1 {
					t.Errorf("rows = %d, want %d", n, rowsBefore+1)
				}
				if n := sold(t, s, sale.ID); n != soldBefore {
					t.Errorf("sold after the late copy = %d, want %d", n, soldBefore)
				}

				if err := s.MarkReleased(ctx, []string{refused.OrderNo}, t0); err != nil {
					t.Fatal(err)
				}
				if got, err := s.Unreleased(ctx, sale.ID, 10); err != nil || len(got) != 0 {
					t.Errorf("unreleased after release = %v, %v; want none", orderNos(got), err)
				}
			})
		})
	}
}

// TestTombstonesInABatch: within one batch the orders that fit are kept in
// arrival order, the rest and a buyer's second order become tombstones,
// and a tombstone does not stop its buyer from holding a live order.
func TestTombstonesInABatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 3)
		batch := newOrders(t, sale.ID, 1, 3)
		twin := newOrder(t, sale.ID, 2)
		over := newOrder(t, sale.ID, 9)
		res := persist(t, s, append(slices.Clone(batch), twin, over))
		if !slices.Equal(res.Inserted, orderNos(batch)) {
			t.Errorf("inserted = %v, want %v", res.Inserted, orderNos(batch))
		}
		want := map[string]string{twin.OrderNo: order.ReasonDuplicateBuyer, over.OrderNo: order.ReasonSoldOut}
		if len(res.Tombstoned) != 2 {
			t.Fatalf("tombstoned = %+v, want 2", res.Tombstoned)
		}
		for _, o := range res.Tombstoned {
			if want[o.OrderNo] != o.Reason {
				t.Errorf("tombstone %s has reason %q, want %q", o.OrderNo, o.Reason, want[o.OrderNo])
			}
		}
		if n := sold(t, s, sale.ID); n != 3 {
			t.Errorf("sold = %d, want 3", n)
		}
	})
}

// TestRejectedOrdersWriteNothing: an unknown sale and an invalid order
// cannot be tombstoned; they are rejected with their dead-letter reason.
func TestRejectedOrdersWriteNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 5)
		ghost := newOrder(t, sale.ID+1000, 1)
		bad := order.Order{OrderNo: "", SaleID: sale.ID, UserID: 2}
		res := persist(t, s, []order.Order{ghost, bad})
		if len(res.Rejected) != 2 || len(res.Tombstoned) != 0 {
			t.Fatalf("result = %+v, want two rejected", res)
		}
		if got := res.Reason(ghost.OrderNo); got != order.DeadUnknownSale {
			t.Errorf("reason of the unknown sale's order = %q, want %q", got, order.DeadUnknownSale)
		}
		if got := res.Reason(""); got != order.DeadInvalid {
			t.Errorf("reason of the invalid order = %q, want %q", got, order.DeadInvalid)
		}
		if _, err := s.Order(context.Background(), ghost.OrderNo); err == nil {
			t.Errorf("the unknown sale's order was written")
		}
	})
}

func TestExpiredOrderHasReason(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 5)
		o := newOrder(t, sale.ID, 1)
		persist(t, s, []order.Order{o})
		expired, err := s.ExpireDue(ctx, sale.ID, t0.Add(time.Hour), 10)
		if err != nil || len(expired) != 1 || expired[0].Reason != order.ReasonExpired {
			t.Fatalf("expire = %+v, %v; want one with reason %q", expired, err, order.ReasonExpired)
		}
		got, err := s.Order(ctx, o.OrderNo)
		if err != nil || got.Status != order.StatusCancelled || got.Reason != order.ReasonExpired {
			t.Fatalf("stored = %+v, %v; want cancelled with reason %q", got, err, order.ReasonExpired)
		}
		persist(t, s, []order.Order{newOrder(t, sale.ID, 2)})
		live, err := s.Order(ctx, o.OrderNo)
		if err != nil {
			t.Fatal(err)
		}
		if live.Reason != order.ReasonExpired {
			t.Errorf("reason = %q, want it kept", live.Reason)
		}
	})
}

// rawBackend opens a Store and a plain database handle on the same
// database, for rows no Store method writes.
type rawBackend struct {
	name string
	open func(tb testing.TB) (*store.Store, *sql.DB)
}

func rawBackends() []rawBackend {
	return []rawBackend{
		{"sqlite", func(tb testing.TB) (*store.Store, *sql.DB) {
			path := filepath.Join(tb.TempDir(), "seckill.db")
			s, err := store.OpenSQLite(context.Background(), path, storetest.Logger(tb))
			if err != nil {
				tb.Fatalf("open sqlite: %v", err)
			}
			tb.Cleanup(func() { _ = s.Close() })
			return s, rawDB(tb, "sqlite", path+"?_pragma=busy_timeout(10000)")
		}},
		{"mysql", func(tb testing.TB) (*store.Store, *sql.DB) {
			dsn := storetest.MySQLDSN(tb)
			s, err := store.OpenMySQL(context.Background(), dsn, storetest.Logger(tb))
			if err != nil {
				tb.Fatalf("open mysql: %v", err)
			}
			tb.Cleanup(func() { _ = s.Close() })
			return s, rawDB(tb, "mysql", dsn)
		}},
	}
}

func rawDB(tb testing.TB, driver, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", driver, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func TestPassFence(t *testing.T) {
	for _, b := range rawBackends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s, db := b.open(t)
			const fence = "0195f0a4-0000-7000-8000-000000000001"
			if _, err := db.ExecContext(ctx,
				"INSERT INTO stock_rebuilds (sale_id, fence_id, requested_at) VALUES (?, ?, ?)", 1, fence, t0); err != nil {
				t.Fatalf("insert rebuild: %v", err)
			}
			passedAt := func() sql.NullTime {
				var at sql.NullTime
				if err := db.QueryRowContext(ctx, "SELECT passed_at FROM stock_rebuilds WHERE fence_id = ?", fence).Scan(&at); err != nil {
					t.Fatalf("read passed_at: %v", err)
				}
				return at
			}
			if at := passedAt(); at.Valid {
				t.Fatalf("passed_at = %v before the fence passed", at.Time)
			}
			first := t0.Add(time.Minute)
			if err := s.PassFence(ctx, fence, first); err != nil {
				t.Fatalf("pass fence: %v", err)
			}
			if at := passedAt(); !at.Valid || !at.Time.Equal(first) {
				t.Fatalf("passed_at = %v, want %v", at, first)
			}
			// A redelivered fence keeps the first time; an unknown one is fine.
			if err := s.PassFence(ctx, fence, first.Add(time.Minute)); err != nil {
				t.Fatalf("pass fence again: %v", err)
			}
			if at := passedAt(); !at.Time.Equal(first) {
				t.Errorf("passed_at = %v after a second pass, want %v", at.Time, first)
			}
			if err := s.PassFence(ctx, "0195f0a4-0000-7000-8000-00000000ffff", first); err != nil {
				t.Errorf("pass unknown fence: %v", err)
			}
		})
	}
}
