package stock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/order"
)

// TestCombinersDecideEachSaleInBatches: concurrent reservations of a sale
// are decided in batches of at most combineLimit, one batch of a sale at a
// time, each of its sale and at its own time, and every caller gets its
// own reservation's decision.
func TestCombinersDecideEachSaleInBatches(t *testing.T) {
	const sales, perSale = 2, 3000
	var (
		mu       sync.Mutex
		inFlight = map[int64]int{}
		calls    atomic.Int32
	)
	var cs combiners
	cs.decide = func(_ context.Context, saleID int64, rs []order.Reservation, nows []time.Time) []error {
		calls.Add(1)
		mu.Lock()
		inFlight[saleID]++
		n := inFlight[saleID]
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight[saleID]--
			mu.Unlock()
		}()
		if n > 1 {
			t.Errorf("sale %d: %d batches decided at once", saleID, n)
		}
		if len(rs) > combineLimit || len(rs) != len(nows) {
			t.Errorf("sale %d: a batch of %d reservations and %d times", saleID, len(rs), len(nows))
		}
		time.Sleep(100 * time.Microsecond)
		errs := make([]error, len(rs))
		for i, r := range rs {
			if r.SaleID != saleID || nows[i].UnixMilli() != r.UserID {
				t.Errorf("sale %d decided %+v at %v", saleID, r, nows[i])
			}
			errs[i] = fmt.Errorf("decided %s", r.OrderNo)
		}
		return errs
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for s := int64(1); s <= sales; s++ {
		for u := int64(1); u <= perSale; u++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				no := fmt.Sprintf("s%d-u%d", s, u)
				err := cs.reserve(context.Background(), order.Reservation{OrderNo: no, SaleID: s, UserID: u}, time.UnixMilli(u))
				if err == nil || err.Error() != "decided "+no {
					t.Errorf("%s: got %v", no, err)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if c := int(calls.Load()); c >= sales*perSale {
		t.Fatalf("%d decisions for %d reservations: nothing was combined", c, sales*perSale)
	}
}

// TestCombinersSalesDoNotWaitForEachOther: a sale whose batch is stuck
// holds up no other sale.
func TestCombinersSalesDoNotWaitForEachOther(t *testing.T) {
	gate := make(chan struct{})
	var cs combiners
	cs.decide = func(_ context.Context, saleID int64, rs []order.Reservation, _ []time.Time) []error {
		if saleID == 1 {
			<-gate
		}
		return make([]error, len(rs))
	}
	stuck := make(chan error, 1)
	go func() {
		stuck <- cs.reserve(context.Background(), order.Reservation{OrderNo: "a", SaleID: 1, UserID: 1}, time.Now())
	}()
	other := make(chan error, 1)
	go func() {
		other <- cs.reserve(context.Background(), order.Reservation{OrderNo: "b", SaleID: 2, UserID: 1}, time.Now())
	}()
	select {
	case err := <-other:
		if err != nil {
			t.Fatalf("sale 2: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sale 2 waited for sale 1")
	}
	close(gate)
	if err := <-stuck; err != nil {
		t.Fatalf("sale 1: %v", err)
	}
}

// TestReserveLingerReachesTheBatcher: WithReserveLinger gives each sale's
// batcher the linger, and without it there is none.
func TestReserveLingerReachesTheBatcher(t *testing.T) {
	if got := newConfig(nil).batchOpts; got != nil {
		t.Fatalf("no option: %d linger options", len(got))
	}
	if got := newConfig([]Option{WithReserveLinger(time.Millisecond, 8)}).batchOpts; len(got) != 1 {
		t.Fatalf("WithReserveLinger: %d linger options, want 1", len(got))
	}
}

// TestCombinersForgetIdleSales: a sale's batcher lives while reservations
// of the sale are queued or being decided, and no longer, so that
// reservations for any number of sale ids (most of them unknown, from a
// hostile client) leave no state behind.
func TestCombinersForgetIdleSales(t *testing.T) {
	const ids = 5000
	var cs combiners
	cs.decide = func(_ context.Context, _ int64, rs []order.Reservation, _ []time.Time) []error {
		errs := make([]error, len(rs))
		for i := range errs {
			errs[i] = order.ErrStockNotLoaded
		}
		return errs
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := int64(w + 1); id <= ids; id += 8 {
				res := order.Reservation{OrderNo: fmt.Sprint(id), SaleID: id, UserID: 1}
				if err := cs.reserve(context.Background(), res, time.Now()); !errors.Is(err, order.ErrStockNotLoaded) {
					t.Errorf("sale %d: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := cs.len(); n != 0 {
		t.Fatalf("%d sale batchers kept after reservations for %d sale ids ended, want 0", n, ids)
	}
}

// TestRedisReserveUnknownSalesKeepsNoBatcher: reservations for sale ids
// the backend never warmed fail closed and leave no batcher behind.
func TestRedisReserveUnknownSalesKeepsNoBatcher(t *testing.T) {
	srv := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	r := NewRedis(client)
	for id := int64(1000); id < 1500; id++ {
		res := order.Reservation{OrderNo: fmt.Sprintf("o-%d", id), SaleID: id, UserID: 7}
		if err := r.Reserve(context.Background(), res, time.Now()); !errors.Is(err, order.ErrStockNotLoaded) {
			t.Fatalf("sale %d: %v, want ErrStockNotLoaded", id, err)
		}
	}
	if n := r.combined.len(); n != 0 {
		t.Fatalf("%d sale batchers kept after 500 unknown sales, want 0", n)
	}
}
