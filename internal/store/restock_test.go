package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

// TestAddStock: total_stock grows by add once per request id, however
// often and however concurrently the request comes; an id reused for
// another change is refused and changes nothing.
func TestAddStock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				got, err := s.AddStock(ctx, sale.ID, 5, "req-1", t0)
				if err == nil && got.TotalStock != 15 {
					err = errors.New("total_stock not 15 after request req-1")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("add 5 under req-1: %v", err)
			}
		}
		if got, err := s.AddStock(ctx, sale.ID, 2, "", t0); err != nil || got.TotalStock != 17 {
			t.Fatalf("add 2 without a request id = %+v, %v; want total_stock 17", got, err)
		}
		for _, tt := range []struct {
			name      string
			sale, add int64
			id        string
			want      error
		}{
			{"another add", sale.ID, 6, "req-1", order.ErrRequestReused},
			{"another sale", sale.ID + 1000, 5, "req-1", order.ErrRequestReused},
			{"unknown sale", sale.ID + 1000, 5, "req-2", order.ErrSaleNotFound},
			{"nothing to add", sale.ID, 0, "req-3", order.ErrInvalid},
		} {
			if _, err := s.AddStock(ctx, tt.sale, tt.add, tt.id, t0); !errors.Is(err, tt.want) {
				t.Fatalf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
		if got, err := s.Sale(ctx, sale.ID); err != nil || got.TotalStock != 17 {
			t.Fatalf("sale = %+v, %v; want total_stock 17", got, err)
		}
		// req-2 was refused with the unknown sale: it is free for a real one.
		if got, err := s.AddStock(ctx, sale.ID, 1, "req-2", t0); err != nil || got.TotalStock != 18 {
			t.Fatalf("add 1 under req-2 = %+v, %v; want total_stock 18", got, err)
		}
	})
}

// TestSalesNewestFirst: Sales lists the newest sales first, up to limit.
func TestSalesNewestFirst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		a, b := newSale(t, s, 1), newSale(t, s, 2)
		got, err := s.Sales(context.Background(), 2)
		if err != nil || len(got) != 2 || got[0].ID != b.ID || got[1].ID != a.ID {
			t.Fatalf("Sales(2) = %+v, %v; want sales %d then %d", got, err, b.ID, a.ID)
		}
	})
}

// TestCreateSaleRequestID: creates racing under one request id, on two
// stores sharing one MySQL database (two replicas, or one before and
// after a restart), store one sale; the id reused for another sale is
// refused and creates nothing.
func TestCreateSaleRequestID(t *testing.T) {
	dsn := storetest.MySQLDSN(t)
	stores := make([]*store.Store, 2)
	for i := range stores {
		s, err := store.OpenMySQL(t.Context(), dsn, storetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	n := order.NewSale{Name: "retried", PriceCents: 1, TotalStock: 4, StartsAt: t0, EndsAt: t0.Add(time.Hour),
		RequestID: "create-1"}
	type result struct {
		sale    order.Sale
		created bool
		err     error
	}
	results := make(chan result, 8)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			sale, created, err := stores[i%2].CreateSale(t.Context(), n)
			results <- result{sale, created, err}
		})
	}
	wg.Wait()
	close(results)
	var id int64
	created := 0
	for r := range results {
		if r.err != nil || (id != 0 && r.sale.ID != id) {
			t.Fatalf("CreateSale = %+v, %v; want one sale for every call", r.sale, r.err)
		}
		id = r.sale.ID
		if r.created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d calls created the sale, want exactly 1", created)
	}

	other := n
	other.TotalStock = 5
	if _, _, err := stores[1].CreateSale(t.Context(), other); !errors.Is(err, order.ErrRequestReused) {
		t.Fatalf("request id reused for another sale: %v, want ErrRequestReused", err)
	}
	if list, err := stores[0].Sales(t.Context(), 10); err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("sales = %+v, %v; want sale %d alone", list, err, id)
	}
}

// TestRemoveSale: a sale without orders goes with its request id, which a
// new create may then use; a sale with orders stays.
func TestRemoveSale(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		n := order.NewSale{Name: "gone", TotalStock: 2, StartsAt: t0, EndsAt: t0.Add(time.Hour), RequestID: "create-gone"}
		sale, _, err := s.CreateSale(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveSale(ctx, sale.ID); err != nil {
			t.Fatalf("RemoveSale: %v", err)
		}
		if _, err := s.Sale(ctx, sale.ID); !errors.Is(err, order.ErrSaleNotFound) {
			t.Fatalf("removed sale: %v, want ErrSaleNotFound", err)
		}
		if err := s.RemoveSale(ctx, sale.ID); !errors.Is(err, order.ErrSaleNotFound) {
			t.Fatalf("RemoveSale again: %v, want ErrSaleNotFound", err)
		}
		again, created, err := s.CreateSale(ctx, n)
		if err != nil || !created || again.ID == sale.ID {
			t.Fatalf("create under the freed request id = %+v, %v, %v; want a new sale", again, created, err)
		}
		persist(t, s, newOrders(t, again.ID, 1, 1))
		if err := s.RemoveSale(ctx, again.ID); err == nil {
			t.Fatal("RemoveSale of a sale with an order succeeded")
		}
		if got := sold(t, s, again.ID); got != 1 {
			t.Fatalf("sold = %d after a refused removal, want 1", got)
		}
	})
}
