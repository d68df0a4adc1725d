package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 123456000, time.UTC)

func newSale(tb testing.TB, s *store.Store, stock int64) order.Sale {
	tb.Helper()
	sale, _, err := s.CreateSale(context.Background(), order.NewSale{
		Name: "phone", PriceCents: 99_900, TotalStock: stock,
		StartsAt: t0, EndsAt: t0.Add(time.Hour), PaymentWindow: 15 * time.Minute,
	})
	if err != nil {
		tb.Fatalf("create sale: %v", err)
	}
	return sale
}

func newOrder(tb testing.TB, saleID, userID int64) order.Order {
	tb.Helper()
	no, err := order.NewOrderNo()
	if err != nil {
		tb.Fatal(err)
	}
	return order.Order{OrderNo: no, SaleID: saleID, UserID: userID, Status: order.StatusCreated,
		CreatedAt: t0.Add(time.Duration(userID) * time.Millisecond)}
}

func newOrders(tb testing.TB, saleID int64, firstUser, n int) []order.Order {
	tb.Helper()
	out := make([]order.Order, n)
	for i := range out {
		out[i] = newOrder(tb, saleID, int64(firstUser+i))
	}
	return out
}

func persist(tb testing.TB, s *store.Store, orders []order.Order) order.BatchResult {
	tb.Helper()
	res, err := s.PersistBatch(context.Background(), orders)
	if err != nil {
		tb.Fatalf("persist batch: %v", err)
	}
	return res
}

func sold(tb testing.TB, s *store.Store, saleID int64) int64 {
	tb.Helper()
	sale, err := s.Sale(context.Background(), saleID)
	if err != nil {
		tb.Fatalf("sale %d: %v", saleID, err)
	}
	return sale.Sold
}

func saleOrders(tb testing.TB, s *store.Store, saleID int64) []order.Order {
	tb.Helper()
	got, err := s.SaleOrders(context.Background(), saleID)
	if err != nil {
		tb.Fatalf("sale orders: %v", err)
	}
	return got
}

func orderNos(orders []order.Order) []string {
	out := make([]string, len(orders))
	for i, o := range orders {
		out[i] = o.OrderNo
	}
	return out
}

func TestSale(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		created := newSale(t, s, 10)
		if created.ID <= 0 {
			t.Fatalf("sale id = %d, want > 0", created.ID)
		}
		got, err := s.Sale(ctx, created.ID)
		if err != nil {
			t.Fatalf("sale: %v", err)
		}
		want := order.Sale{
			ID: created.ID, Name: "phone", PriceCents: 99_900, TotalStock: 10, Sold: 0,
			StartsAt: t0, EndsAt: t0.Add(time.Hour), PaymentWindow: 15 * time.Minute,
			CreatedAt: created.CreatedAt, UpdatedAt: created.UpdatedAt,
		}
		if !got.StartsAt.Equal(want.StartsAt) || !got.EndsAt.Equal(want.EndsAt) ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Errorf("times = %v %v %v %v, want %v %v %v %v", got.StartsAt, got.EndsAt, got.CreatedAt, got.UpdatedAt,
				want.StartsAt, want.EndsAt, want.CreatedAt, want.UpdatedAt)
		}
		got.StartsAt, got.EndsAt, got.CreatedAt, got.UpdatedAt = want.StartsAt, want.EndsAt, want.CreatedAt, want.UpdatedAt
		if got != want {
			t.Errorf("sale = %+v, want %+v", got, want)
		}
		if got.CreatedAt.IsZero() || got.CreatedAt.Location() != time.UTC {
			t.Errorf("created_at = %v, want a UTC time", got.CreatedAt)
		}
	})
}

func TestCreateSaleInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		_, _, err := s.CreateSale(context.Background(), order.NewSale{Name: "x", TotalStock: 0, StartsAt: t0, EndsAt: t0.Add(time.Hour)})
		if !errors.Is(err, order.ErrInvalid) {
			t.Fatalf("create sale with no stock: err = %v, want ErrInvalid", err)
		}
	})
}

func TestNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"sale", func() error { _, err := s.Sale(ctx, 424242); return err }, order.ErrSaleNotFound},
			{"order", func() error { _, err := s.Order(ctx, "01900000-0000-7000-8000-000000000000"); return err }, order.ErrOrderNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.call(); !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
		if got := saleOrders(t, s, 424242); len(got) != 0 {
			t.Errorf("orders of an unknown sale = %v, want none", got)
		}
	})
}

func TestOpenSales(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newSale(t, s, 1) // ends t0+1h
		b, _, err := s.CreateSale(ctx, order.NewSale{Name: "later", TotalStock: 1, StartsAt: t0, EndsAt: t0.Add(3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			since time.Time
			want  []int64
		}{
			{t0, []int64{a.ID, b.ID}},
			{t0.Add(time.Hour - time.Microsecond), []int64{a.ID, b.ID}},
			{t0.Add(time.Hour), []int64{b.ID}},
			{t0.Add(2 * time.Hour).In(time.FixedZone("UTC+8", 8*3600)), []int64{b.ID}},
			{t0.Add(3 * time.Hour), nil},
		}
		for _, tt := range tests {
			sales, err := s.OpenSales(ctx, tt.since)
			if err != nil {
				t.Fatalf("open sales: %v", err)
			}
			var got []int64
			for _, sale := range sales {
				got = append(got, sale.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("OpenSales(%v) = %v, want %v", tt.since, got, tt.want)
			}
		}
	})
}

func TestPersistBatchInserts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		batch := newOrders(t, sale.ID, 1, 3)
		res := persist(t, s, batch)
		if !slices.Equal(res.Inserted, orderNos(batch)) || len(res.Duplicate) != 0 || len(res.Rejected) != 0 {
			t.Fatalf("result = %+v, want all 3 inserted", res)
		}
		if got := sold(t, s, sale.ID); got != 3 {
			t.Errorf("sold = %d, want 3", got)
		}
		got, err := s.Order(ctx, batch[1].OrderNo)
		if err != nil {
			t.Fatalf("order: %v", err)
		}
		if got.OrderNo != batch[1].OrderNo || got.SaleID != sale.ID || got.UserID != 2 ||
			got.Status != order.StatusCreated || !got.CreatedAt.Equal(batch[1].CreatedAt) {
			t.Errorf("order = %+v, want %+v with status created", got, batch[1])
		}
		if all := saleOrders(t, s, sale.ID); !slices.Equal(orderNos(all), orderNos(batch)) {
			t.Errorf("sale orders = %v, want %v", orderNos(all), orderNos(batch))
		}
	})
}

// TestPersistBatchLarge: batches of several INSERT statements (on MySQL
// prepared ones of a few row counts, the last rows as text) store every
// order with its own values, on the insert-first path and on the sorting
// one, tombstones included.
func TestPersistBatchLarge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 600)
		first := newOrders(t, sale.ID, 1, 301)
		if res := persist(t, s, first); len(res.Inserted) != 301 {
			t.Fatalf("new batch: %d inserted, want 301", len(res.Inserted))
		}
		// Half of it again behind 150 new ones: a unique key trips inside
		// a statement, and the batch is sorted.
		second := append(newOrders(t, sale.ID, 1001, 150), first[:150]...)
		res := persist(t, s, second)
		if !slices.Equal(res.Inserted, orderNos(second[:150])) || !slices.Equal(res.Duplicate, orderNos(first[:150])) {
			t.Fatalf("mixed batch: %d inserted, %d duplicates; want 150 and 150", len(res.Inserted), len(res.Duplicate))
		}
		// 149 units left for 160 orders: 11 tombstones.
		third := newOrders(t, sale.ID, 2001, 160)
		res = persist(t, s, third)
		if len(res.Inserted) != 149 || len(res.Tombstoned) != 11 {
			t.Fatalf("batch over the stock: %d inserted, %d tombstoned; want 149 and 11", len(res.Inserted), len(res.Tombstoned))
		}
		if got := sold(t, s, sale.ID); got != 600 {
			t.Errorf("sold = %d, want 600", got)
		}
		all := append(append(slices.Clone(first), second[:150]...), third...)
		if got := saleOrders(t, s, sale.ID); len(got) != len(all) {
			t.Fatalf("sale holds %d orders, want %d", len(got), len(all))
		}
		for i, o := range all {
			got, err := s.Order(ctx, o.OrderNo)
			if err != nil {
				t.Fatalf("order %d: %v", i, err)
			}
			wantStatus := order.StatusCreated
			if i >= len(all)-11 {
				wantStatus = order.StatusCancelled
			}
			if got.UserID != o.UserID || got.SaleID != sale.ID || got.Status != wantStatus || !got.CreatedAt.Equal(o.CreatedAt) {
				t.Fatalf("order %d = %+v, want %+v with status %s", i, got, o, wantStatus)
			}
		}
	})
}

// TestPersistBatchSortsOnlyWhenNeeded: a batch of new orders that fit is
// written insert-first; a redelivered batch, a buyer already stored and a
// batch larger than the stock left are sorted order by order, with the
// outcomes of the sorting path.
func TestPersistBatchSortsOnlyWhenNeeded(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			m := metrics.Discard()
			s := b.Open(t, store.WithMetrics(m))
			sorted := func() float64 {
				var d dto.Metric
				if err := m.WorkerSortedBatches.Write(&d); err != nil {
					t.Fatal(err)
				}
				return d.GetCounter().GetValue()
			}
			sale := newSale(t, s, 5)
			first := newOrders(t, sale.ID, 1, 3)
			if res := persist(t, s, first); len(res.Inserted) != 3 || sorted() != 0 {
				t.Fatalf("new orders: %+v, sorted batches %v; want 3 inserted insert-first", res, sorted())
			}
			if res := persist(t, s, first); len(res.Duplicate) != 3 || len(res.Inserted) != 0 || sorted() != 1 {
				t.Fatalf("redelivery: %+v, sorted batches %v; want 3 duplicates, sorted", res, sorted())
			}
			again := newOrder(t, sale.ID, 2) // user 2 holds first[1]
			if res := persist(t, s, []order.Order{again}); len(res.Tombstoned) != 1 || sorted() != 2 {
				t.Fatalf("second order of a buyer: %+v, sorted batches %v; want tombstoned, sorted", res, sorted())
			}
			over := newOrders(t, sale.ID, 10, 3) // 2 units left
			res := persist(t, s, over)
			if len(res.Inserted) != 2 || len(res.Tombstoned) != 1 || sorted() != 3 {
				t.Fatalf("batch over the stock: %+v, sorted batches %v; want 2 inserted, 1 tombstoned, sorted", res, sorted())
			}
			if got := sold(t, s, sale.ID); got != 5 {
				t.Errorf("sold = %d, want 5", got)
			}
		})
	}
}

// TestPersistBatchOutcomes runs sequences of batches and checks what each
// order became and what sold ends at.
func TestPersistBatchOutcomes(t *testing.T) {
	type want struct {
		inserted, duplicate int
		tombstoned          map[string]int // order.Reason… → count
		rejected            map[string]int // order.Dead… → count
	}
	tests := []struct {
		name  string
		stock int64
		// batches builds the batches from the sale's id; o holds orders
		// made once per test so batches can repeat them.
		batches  func(tb testing.TB, saleID int64) [][]order.Order
		want     []want
		wantSold int64
		wantRows int
	}{
		{
			name:  "same batch twice is idempotent",
			stock: 10,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				b := newOrders(tb, id, 1, 4)
				return [][]order.Order{b, b}
			},
			want:     []want{{inserted: 4}, {duplicate: 4}},
			wantSold: 4, wantRows: 4,
		},
		{
			name:  "duplicate within a batch",
			stock: 10,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				b := newOrders(tb, id, 1, 3)
				return [][]order.Order{{b[0], b[1], b[0], b[2], b[1]}}
			},
			want:     []want{{inserted: 3, duplicate: 2}},
			wantSold: 3, wantRows: 3,
		},
		{
			name:  "oversell guard",
			stock: 5,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				return [][]order.Order{newOrders(tb, id, 1, 8), newOrders(tb, id, 100, 2)}
			},
			want: []want{
				{inserted: 5, tombstoned: map[string]int{order.ReasonSoldOut: 3}},
				{tombstoned: map[string]int{order.ReasonSoldOut: 2}},
			},
			wantSold: 5, wantRows: 10,
		},
		{
			name:  "redelivered batch after oversell: the tombstone is a duplicate",
			stock: 2,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				b := newOrders(tb, id, 1, 3)
				return [][]order.Order{b, b}
			},
			want: []want{
				{inserted: 2, tombstoned: map[string]int{order.ReasonSoldOut: 1}},
				{duplicate: 3},
			},
			wantSold: 2, wantRows: 3,
		},
		{
			name:  "same user with another order number in one batch",
			stock: 10,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				return [][]order.Order{{newOrder(tb, id, 7), newOrder(tb, id, 7), newOrder(tb, id, 8)}}
			},
			want:     []want{{inserted: 2, tombstoned: map[string]int{order.ReasonDuplicateBuyer: 1}}},
			wantSold: 2, wantRows: 3,
		},
		{
			name:  "same user with another order number in a later batch",
			stock: 10,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				return [][]order.Order{{newOrder(tb, id, 7)}, {newOrder(tb, id, 7), newOrder(tb, id, 8)}}
			},
			want: []want{
				{inserted: 1},
				{inserted: 1, tombstoned: map[string]int{order.ReasonDuplicateBuyer: 1}},
			},
			wantSold: 2, wantRows: 3,
		},
		{
			name:  "unknown sale and invalid orders",
			stock: 10,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				ghost := newOrder(tb, id+1000, 1)
				long := newOrder(tb, id, 2)
				long.OrderNo += "-too-long"
				return [][]order.Order{{ghost, long, newOrder(tb, id, 3), {OrderNo: "", SaleID: id, UserID: 4}}}
			},
			want: []want{{inserted: 1, rejected: map[string]int{
				order.DeadUnknownSale: 1, order.DeadInvalid: 2,
			}}},
			wantSold: 1, wantRows: 1,
		},
		{
			name:  "empty batch",
			stock: 1,
			batches: func(tb testing.TB, id int64) [][]order.Order {
				return [][]order.Order{nil}
			},
			want: []want{{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				sale := newSale(t, s, tt.stock)
				batches := tt.batches(t, sale.ID)
				for i, b := range batches {
					res := persist(t, s, b)
					got := want{inserted: len(res.Inserted), duplicate: len(res.Duplicate)}
					for _, o := range res.Tombstoned {
						if got.tombstoned == nil {
							got.tombstoned = map[string]int{}
						}
						if o.Status != order.StatusCancelled {
							t.Errorf("batch %d: tombstone %s has status %q", i, o.OrderNo, o.Status)
						}
						got.tombstoned[o.Reason]++
					}
					for _, o := range res.Rejected {
						if got.rejected == nil {
							got.rejected = map[string]int{}
						}
						got.rejected[res.Reason(o.OrderNo)]++
					}
					if fmt.Sprint(got) != fmt.Sprint(tt.want[i]) {
						t.Errorf("batch %d: got %+v, want %+v", i, got, tt.want[i])
					}
					if n := len(res.Inserted) + len(res.Duplicate) + len(res.Tombstoned) + len(res.Rejected); n != len(b) {
						t.Errorf("batch %d: %d outcomes for %d orders", i, n, len(b))
					}
				}
				if got := sold(t, s, sale.ID); got != tt.wantSold {
					t.Errorf("sold = %d, want %d", got, tt.wantSold)
				}
				if got := saleOrders(t, s, sale.ID); len(got) != tt.wantRows {
					t.Errorf("rows = %d, want %d", len(got), tt.wantRows)
				}
			})
		})
	}
}

func TestPersistBatchOversellKeepsArrivalOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 5)
		batch := newOrders(t, sale.ID, 1, 8)
		res := persist(t, s, batch)
		if want := orderNos(batch[:5]); !slices.Equal(res.Inserted, want) {
			t.Errorf("inserted = %v, want the first five %v", res.Inserted, want)
		}
		if want := orderNos(batch[5:]); !slices.Equal(orderNos(res.Tombstoned), want) {
			t.Errorf("tombstoned = %v, want the last three %v", orderNos(res.Tombstoned), want)
		}
	})
}

func TestPersistBatchSeveralSales(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		a, b := newSale(t, s, 2), newSale(t, s, 3)
		batch := append(newOrders(t, a.ID, 1, 3), newOrders(t, b.ID, 1, 3)...)
		res := persist(t, s, batch)
		if len(res.Inserted) != 5 || len(res.Tombstoned) != 1 || res.Tombstoned[0].SaleID != a.ID {
			t.Fatalf("result = %+v, want 5 inserted and one of sale %d tombstoned", res, a.ID)
		}
		if got := sold(t, s, a.ID); got != 2 {
			t.Errorf("sold of a = %d, want 2", got)
		}
		if got := sold(t, s, b.ID); got != 3 {
			t.Errorf("sold of b = %d, want 3", got)
		}
	})
}

// TestPersistBatchConcurrent persists 200 distinct orders of one sale with
// stock 50 from 8 goroutines at once: exactly 50 live rows and 150
// tombstones, sold 50, no error.
func TestPersistBatchConcurrent(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			m := metrics.Discard()
			s := b.Open(t, store.WithMetrics(m))
			sale := newSale(t, s, 50)
			all := newOrders(t, sale.ID, 1, 200)

			const workers = 8
			results := make([]order.BatchResult, workers)
			errs := make([]error, workers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					<-start
					// Each goroutine persists its share in a few batches.
					share := all[w*25 : (w+1)*25]
					var agg order.BatchResult
					for part := range slices.Chunk(share, 9) {
						res, err := s.PersistBatch(context.Background(), part)
						if err != nil {
							errs[w] = err
							return
						}
						agg.Inserted = append(agg.Inserted, res.Inserted...)
						agg.Duplicate = append(agg.Duplicate, res.Duplicate...)
						agg.Tombstoned = append(agg.Tombstoned, res.Tombstoned...)
						agg.Rejected = append(agg.Rejected, res.Rejected...)
					}
					results[w] = agg
				})
			}
			close(start)
			wg.Wait()

			var inserted, tombstoned int
			for w := range workers {
				if errs[w] != nil {
					t.Errorf("worker %d: %v", w, errs[w])
				}
				inserted += len(results[w].Inserted)
				tombstoned += len(results[w].Tombstoned)
				if len(results[w].Duplicate) != 0 || len(results[w].Rejected) != 0 {
					t.Errorf("worker %d: duplicates %v, rejected %v, want none", w, results[w].Duplicate, results[w].Rejected)
				}
			}
			if inserted != 50 || tombstoned != 150 {
				t.Errorf("inserted %d, tombstoned %d; want 50 and 150", inserted, tombstoned)
			}
			live := 0
			for _, o := range saleOrders(t, s, sale.ID) {
				if o.Status != order.StatusCancelled {
					live++
				}
			}
			if live != 50 {
				t.Errorf("live rows = %d, want 50", live)
			}
			if got := sold(t, s, sale.ID); got != 50 {
				t.Errorf("sold = %d, want 50", got)
			}
			var retries dto.Metric
			if err := m.WorkerRetries.Write(&retries); err != nil {
				t.Fatal(err)
			}
			t.Logf("transaction retries: %v", retries.GetCounter().GetValue())
		})
	}
}

// TestPersistBatchConcurrentSameBatch has 8 goroutines persist the very same
// orders at once, as redeliveries racing each other would: each order is
// stored once and sold is raised once.
func TestPersistBatchConcurrentSameBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 100)
		batch := newOrders(t, sale.ID, 1, 30)
		// Half of them also try a second order number for the same user.
		var twins []order.Order
		for _, o := range batch[:15] {
			twins = append(twins, newOrder(t, sale.ID, o.UserID))
		}

		const workers = 8
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			inserted = map[string]int{}
			start    = make(chan struct{})
		)
		for w := range workers {
			wg.Go(func() {
				<-start
				b := slices.Clone(batch)
				if w%2 == 1 {
					b = append(slices.Clone(twins), b...)
				}
				res, err := s.PersistBatch(context.Background(), b)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, no := range res.Inserted {
					inserted[no]++
				}
			})
		}
		close(start)
		wg.Wait()

		for no, n := range inserted {
			if n != 1 {
				t.Errorf("order %s inserted %d times", no, n)
			}
		}
		var rows []order.Order // live; the losing twins are tombstones
		for _, o := range saleOrders(t, s, sale.ID) {
			if o.Status != order.StatusCancelled {
				rows = append(rows, o)
			}
		}
		if len(rows) != 30 || len(inserted) != 30 {
			t.Errorf("live rows = %d, inserted = %d; want 30 (one per user)", len(rows), len(inserted))
		}
		users := map[int64]int{}
		for _, o := range rows {
			users[o.UserID]++
		}
		for u, n := range users {
			if n != 1 {
				t.Errorf("user %d holds %d orders", u, n)
			}
		}
		if got := sold(t, s, sale.ID); got != int64(len(rows)) {
			t.Errorf("sold = %d, want %d", got, len(rows))
		}
	})
}

func TestPersistBatchCancelledContext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 5)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.PersistBatch(ctx, newOrders(t, sale.ID, 1, 2)); err == nil {
			t.Fatal("persist with a cancelled context: want an error")
		}
		if got := sold(t, s, sale.ID); got != 0 {
			t.Errorf("sold = %d, want 0", got)
		}
	})
}

func TestReopenSQLiteKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "reopen.db")
	log := storetest.Logger(t)
	s, err := store.OpenSQLite(ctx, path, log)
	if err != nil {
		t.Fatal(err)
	}
	sale := newSale(t, s, 3)
	persist(t, s, newOrders(t, sale.ID, 1, 2))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = store.OpenSQLite(ctx, path, log)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if v, err := s.SchemaVersion(ctx); err != nil || v < 1 {
		t.Errorf("schema version = %d, %v; want >= 1", v, err)
	}
	if got := sold(t, s, sale.ID); got != 2 {
		t.Errorf("sold after reopen = %d, want 2", got)
	}
}

func TestPing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("ping: %v", err)
		}
	})
}
