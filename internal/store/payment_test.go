package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

// The sales of newSale have a 15-minute payment window and orders of
// newOrder are created at t0 + userID ms.
const window = 15 * time.Minute

func orderStatus(tb testing.TB, s *store.Store, orderNo string) order.Status {
	tb.Helper()
	o, err := s.Order(context.Background(), orderNo)
	if err != nil {
		tb.Fatalf("order %s: %v", orderNo, err)
	}
	return o.Status
}

func TestPay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		o := newOrder(t, sale.ID, 1)
		persist(t, s, []order.Order{o})

		paid, err := s.Pay(ctx, 1, o.OrderNo, t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("pay: %v", err)
		}
		if paid.Status != order.StatusPaid || paid.OrderNo != o.OrderNo || paid.UserID != 1 || paid.SaleID != sale.ID {
			t.Fatalf("pay = %+v, want the order paid", paid)
		}
		if got := orderStatus(t, s, o.OrderNo); got != order.StatusPaid {
			t.Fatalf("status after pay = %s, want paid", got)
		}
		// Paying again, even after the window, answers the paid order.
		again, err := s.Pay(ctx, 1, o.OrderNo, t0.Add(time.Hour))
		if err != nil || again.Status != order.StatusPaid {
			t.Fatalf("second pay = %+v, %v; want paid, nil", again, err)
		}
		if got := sold(t, s, sale.ID); got != 1 {
			t.Fatalf("sold = %d, want 1 (paying changes nothing)", got)
		}
	})
}

func TestPayRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		orders := newOrders(t, sale.ID, 1, 4)
		persist(t, s, orders)
		// Every order of the sale is cancelled by expiry.
		if got, err := s.ExpireDue(ctx, sale.ID, orders[3].CreatedAt.Add(time.Microsecond), 10); err != nil || len(got) != 4 {
			t.Fatalf("expire: %v, %v", got, err)
		}
		fresh := newSale(t, s, 10)
		live := newOrder(t, fresh.ID, 1)
		persist(t, s, []order.Order{live})
		noWindow, _, err := s.CreateSale(ctx, order.NewSale{Name: "free", TotalStock: 1, StartsAt: t0, EndsAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		forever := newOrder(t, noWindow.ID, 1)
		persist(t, s, []order.Order{forever})

		deadline := live.CreatedAt.Add(window)
		tests := []struct {
			name    string
			user    int64
			orderNo string
			now     time.Time
			want    error
		}{
			{"unknown order", 1, "01890000-0000-7000-8000-000000000000", t0, order.ErrOrderNotFound},
			{"another user's order", 2, live.OrderNo, t0, order.ErrOrderNotFound},
			{"cancelled", 4, orders[3].OrderNo, t0, order.ErrNotPayable},
			{"after the window", 1, live.OrderNo, deadline.Add(time.Microsecond), order.ErrNotPayable},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.Pay(ctx, tt.user, tt.orderNo, tt.now)
				if !errors.Is(err, tt.want) {
					t.Fatalf("pay: err = %v, want %v", err, tt.want)
				}
			})
		}
		if got := orderStatus(t, s, live.OrderNo); got != order.StatusCreated {
			t.Fatalf("a refused payment changed the order: %s", got)
		}
		// At the deadline itself the order is still payable.
		if _, err := s.Pay(ctx, 1, live.OrderNo, deadline); err != nil {
			t.Fatalf("pay at the deadline: %v", err)
		}
		// A sale without a window never closes.
		if _, err := s.Pay(ctx, 1, forever.OrderNo, t0.Add(24*365*time.Hour)); err != nil {
			t.Fatalf("pay in a sale without a window: %v", err)
		}
	})
}

func TestExpireDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		other := newSale(t, s, 10)
		orders := newOrders(t, sale.ID, 1, 5) // created t0+1ms … t0+5ms
		persist(t, s, orders)
		persist(t, s, newOrders(t, other.ID, 1, 2))
		if _, err := s.Pay(ctx, 2, orders[1].OrderNo, t0); err != nil {
			t.Fatalf("pay: %v", err)
		}

		// Due: created before t0+4ms, i.e. users 1–3; user 2 has paid.
		dueBefore := t0.Add(4 * time.Millisecond)
		got, err := s.ExpireDue(ctx, sale.ID, dueBefore, 100)
		if err != nil {
			t.Fatalf("expire: %v", err)
		}
		want := []string{orders[0].OrderNo, orders[2].OrderNo}
		if !slices.Equal(orderNos(got), want) {
			t.Fatalf("expired %v, want %v", orderNos(got), want)
		}
		for _, o := range got {
			if o.Status != order.StatusCancelled || o.SaleID != sale.ID {
				t.Fatalf("expired order = %+v, want cancelled of sale %d", o, sale.ID)
			}
		}
		wantStatus := []order.Status{order.StatusCancelled, order.StatusPaid, order.StatusCancelled, order.StatusCreated, order.StatusCreated}
		for i, o := range orders {
			if st := orderStatus(t, s, o.OrderNo); st != wantStatus[i] {
				t.Errorf("order of user %d: %s, want %s", o.UserID, st, wantStatus[i])
			}
		}
		if n := sold(t, s, sale.ID); n != 3 {
			t.Fatalf("sold = %d, want 3", n)
		}
		if n := sold(t, s, other.ID); n != 2 {
			t.Fatalf("sold of the other sale = %d, want 2 (untouched)", n)
		}
		// A second sweep finds nothing more; the limit is kept.
		if again, err := s.ExpireDue(ctx, sale.ID, dueBefore, 100); err != nil || len(again) != 0 {
			t.Fatalf("second expire = %v, %v; want nothing", orderNos(again), err)
		}
		late := t0.Add(time.Hour)
		first, err := s.ExpireDue(ctx, sale.ID, late, 1)
		if err != nil || len(first) != 1 || first[0].OrderNo != orders[3].OrderNo {
			t.Fatalf("expire with limit 1 = %v, %v; want the oldest due", orderNos(first), err)
		}
		rest, err := s.ExpireDue(ctx, sale.ID, late, 100)
		if err != nil || len(rest) != 1 || rest[0].OrderNo != orders[4].OrderNo {
			t.Fatalf("expire the rest = %v, %v", orderNos(rest), err)
		}
		if n := sold(t, s, sale.ID); n != 1 {
			t.Fatalf("sold = %d, want 1 (the paid order)", n)
		}
		if st := orderStatus(t, s, orders[1].OrderNo); st != order.StatusPaid {
			t.Fatalf("a paid order was expired: %s", st)
		}
	})
}

// TestRebuyAfterExpiry: a buyer whose unpaid order expired may hold a new
// order of the same sale; a second live one is still refused.
func TestRebuyAfterExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		first := newOrder(t, sale.ID, 7)
		persist(t, s, []order.Order{first})
		if got, err := s.ExpireDue(ctx, sale.ID, t0.Add(time.Hour), 10); err != nil || len(got) != 1 {
			t.Fatalf("expire: %v, %v", got, err)
		}
		second := newOrder(t, sale.ID, 7)
		if res := persist(t, s, []order.Order{second}); !slices.Equal(res.Inserted, []string{second.OrderNo}) {
			t.Fatalf("rebuy after expiry: %+v, want inserted", res)
		}
		third := newOrder(t, sale.ID, 7)
		res := persist(t, s, []order.Order{third})
		if len(res.Tombstoned) != 1 || res.Tombstoned[0].OrderNo != third.OrderNo {
			t.Fatalf("a second live order of one buyer: %+v, want tombstoned", res)
		}
		if n := sold(t, s, sale.ID); n != 1 {
			t.Fatalf("sold = %d, want 1", n)
		}
	})
}

// TestPayRacesExpiry: a payment and an expiry of the same order at once,
// many rounds: exactly one of them changes the order, and sold agrees.
func TestPayRacesExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const rounds = 40
		sale := newSale(t, s, rounds)
		orders := newOrders(t, sale.ID, 1, rounds)
		persist(t, s, orders)
		// The sweeper's and the payer's clocks both say the window has
		// just closed for the sweeper and not yet for the payer: the race
		// is decided by the row, not by the clocks.
		paidN, expiredN := 0, 0
		for i, o := range orders {
			var (
				wg      sync.WaitGroup
				payErr  error
				expired []order.Order
				expErr  error
				start   = make(chan struct{})
			)
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, payErr = s.Pay(ctx, o.UserID, o.OrderNo, o.CreatedAt)
			}()
			go func() {
				defer wg.Done()
				<-start
				if i%2 == 1 { // let the payment start first in half the rounds
					time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
				}
				expired, expErr = s.ExpireDue(ctx, sale.ID, o.CreatedAt.Add(time.Microsecond), 1)
			}()
			close(start)
			wg.Wait()
			if expErr != nil {
				t.Fatalf("expire: %v", expErr)
			}
			paid := payErr == nil
			if payErr != nil && !errors.Is(payErr, order.ErrNotPayable) {
				t.Fatalf("pay: %v", payErr)
			}
			gone := len(expired) == 1 && expired[0].OrderNo == o.OrderNo
			if paid == gone {
				t.Fatalf("order %s: paid=%v expired=%v, want exactly one", o.OrderNo, paid, gone)
			}
			want := order.StatusCancelled
			if paid {
				want = order.StatusPaid
				paidN++
			} else {
				expiredN++
			}
			if st := orderStatus(t, s, o.OrderNo); st != want {
				t.Fatalf("order %s is %s, want %s", o.OrderNo, st, want)
			}
		}
		t.Logf("%d paid, %d expired", paidN, expiredN)
		if n := sold(t, s, sale.ID); n != int64(paidN) {
			t.Fatalf("sold = %d, want %d paid", n, paidN)
		}
	})
}

func TestUnreleased(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		orders := newOrders(t, sale.ID, 1, 4)
		persist(t, s, orders)
		if got, err := s.Unreleased(ctx, sale.ID, 10); err != nil || len(got) != 0 {
			t.Fatalf("unreleased before any expiry = %v, %v", got, err)
		}
		if _, err := s.ExpireDue(ctx, sale.ID, t0.Add(3*time.Millisecond), 10); err != nil {
			t.Fatal(err)
		}
		got, err := s.Unreleased(ctx, sale.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := orderNos(orders[:2]); !slices.Equal(orderNos(got), want) {
			t.Fatalf("unreleased = %v, want %v", orderNos(got), want)
		}
		if got, _ := s.Unreleased(ctx, sale.ID, 1); len(got) != 1 {
			t.Fatalf("unreleased with limit 1 = %v", orderNos(got))
		}
		// Marking a live order, or an unknown one, changes nothing.
		if err := s.MarkReleased(ctx, []string{orders[0].OrderNo, orders[3].OrderNo, "nope"}, t0); err != nil {
			t.Fatal(err)
		}
		got, err = s.Unreleased(ctx, sale.ID, 10)
		if err != nil || !slices.Equal(orderNos(got), orderNos(orders[1:2])) {
			t.Fatalf("unreleased after marking = %v, %v; want %v", orderNos(got), err, orderNos(orders[1:2]))
		}
		if err := s.MarkReleased(ctx, orderNos(orders), t0); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Unreleased(ctx, sale.ID, 10); err != nil || len(got) != 0 {
			t.Fatalf("unreleased after marking all = %v, %v", orderNos(got), err)
		}
		if err := s.MarkReleased(ctx, nil, t0); err != nil {
			t.Fatalf("mark nothing: %v", err)
		}
	})
}

// TestMigrationVersion: a fresh database carries every migration.
func TestMigrationVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		v, err := s.SchemaVersion(context.Background())
		if err != nil || v != 9 {
			t.Fatalf("schema version = %d, %v; want 9", v, err)
		}
	})
}
