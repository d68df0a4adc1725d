package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

func recordDead(tb testing.TB, s *store.Store, d order.DeadLetter) int64 {
	tb.Helper()
	id, err := s.RecordDeadLetter(context.Background(), d)
	if err != nil {
		tb.Fatalf("record dead letter: %v", err)
	}
	if id <= 0 {
		tb.Fatalf("dead letter id = %d, want > 0", id)
	}
	return id
}

func TestRecordDeadLetter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		orders := newOrders(t, sale.ID, 1, 2)
		deadAt := t0.Add(time.Minute)
		first := recordDead(t, s, order.DeadLetter{
			MessageID: "m-1", Reason: order.DeadInvalid, Detail: "refused", DeadAt: deadAt, Orders: orders,
		})
		second := recordDead(t, s, order.DeadLetter{
			Reason: order.DeadUndecodable, Detail: strings.Repeat("é", 1500), Body: []byte("{not json"),
		})
		if second <= first {
			t.Fatalf("ids %d then %d, want increasing", first, second)
		}

		got, total, err := s.DeadLetters(ctx, 10)
		if err != nil {
			t.Fatalf("dead letters: %v", err)
		}
		if total != 2 || len(got) != 2 {
			t.Fatalf("dead letters: %d listed, total %d; want 2, 2", len(got), total)
		}
		if got[0].ID != second || got[1].ID != first {
			t.Fatalf("dead letters ids = %d, %d; want newest first %d, %d", got[0].ID, got[1].ID, second, first)
		}
		undecodable := got[0]
		if string(undecodable.Body) != "{not json" || len(undecodable.Orders) != 0 ||
			undecodable.DeadAt.IsZero() || len([]rune(undecodable.Detail)) != 1000 {
			t.Errorf("undecodable dead letter = body %q, %d orders, dead at %v, detail of %d characters",
				undecodable.Body, len(undecodable.Orders), undecodable.DeadAt, len([]rune(undecodable.Detail)))
		}
		refused := got[1]
		if refused.MessageID != "m-1" || refused.Reason != order.DeadInvalid || refused.Detail != "refused" ||
			!refused.DeadAt.Equal(deadAt) {
			t.Errorf("refused dead letter = %+v", refused)
		}
		if len(refused.Orders) != 2 {
			t.Fatalf("refused dead letter holds %d orders, want 2", len(refused.Orders))
		}
		for _, o := range refused.Orders {
			var want order.Order
			for _, w := range orders {
				if w.OrderNo == o.OrderNo {
					want = w
				}
			}
			if o.SaleID != want.SaleID || o.UserID != want.UserID || !o.CreatedAt.Equal(want.CreatedAt) {
				t.Errorf("dead order %+v, want %+v", o, want)
			}
		}

		limited, total, err := s.DeadLetters(ctx, 1)
		if err != nil || total != 2 || len(limited) != 1 || limited[0].ID != second {
			t.Errorf("dead letters limit 1 = %d listed, total %d, err %v; want the newest of 2", len(limited), total, err)
		}
	})
}

func TestRecordDeadLetterKeepsUnstorableOrdersOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 10)
		good := newOrder(t, sale.ID, 1)
		bad := []order.Order{
			good,
			{OrderNo: strings.Repeat("x", 200), SaleID: sale.ID, UserID: 2},
			{OrderNo: "", SaleID: sale.ID, UserID: 3},
		}
		id := recordDead(t, s, order.DeadLetter{Reason: order.DeadInvalid, Orders: bad})
		got, err := s.DeadLettersByID(context.Background(), []int64{id})
		if err != nil || len(got) != 1 {
			t.Fatalf("dead letter %d: %d found, err %v", id, len(got), err)
		}
		if len(got[0].Orders) != 1 || got[0].Orders[0].OrderNo != good.OrderNo {
			t.Errorf("orders = %+v, want only %s", got[0].Orders, good.OrderNo)
		}
		if !strings.Contains(got[0].Detail, "2 order(s)") {
			t.Errorf("detail = %q, want it to count the 2 orders left out", got[0].Detail)
		}
	})
}

func TestCloseDeadLetterOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		id := recordDead(t, s, order.DeadLetter{Reason: order.DeadInvalid, Orders: newOrders(t, sale.ID, 1, 1)})
		other := recordDead(t, s, order.DeadLetter{Reason: order.DeadUndecodable, Body: []byte("x")})

		// Two operators close the same dead letter at once: one wins.
		var (
			wg   sync.WaitGroup
			wins atomic.Int32
		)
		for _, how := range []string{order.ClosedReplayed, order.ClosedDiscarded, order.ClosedReplayed} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.CloseDeadLetter(ctx, id, how, t0)
				if err != nil {
					t.Errorf("close %d as %s: %v", id, how, err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Fatalf("%d closings of one dead letter succeeded, want 1", got)
		}
		if ok, err := s.CloseDeadLetter(ctx, 999_999, order.ClosedDiscarded, t0); ok || err != nil {
			t.Errorf("close unknown id = %v, %v; want false, nil", ok, err)
		}
		if _, err := s.CloseDeadLetter(ctx, other, "forgotten", t0); !errors.Is(err, order.ErrInvalid) {
			t.Errorf("close as an unknown outcome: err = %v, want ErrInvalid", err)
		}

		list, total, err := s.DeadLetters(ctx, 10)
		if err != nil || total != 1 || len(list) != 1 || list[0].ID != other {
			t.Errorf("after closing %d: listed %+v, total %d, err %v; want only %d", id, list, total, err, other)
		}
		byID, err := s.DeadLettersByID(ctx, []int64{id, other, other, 424242})
		if err != nil || len(byID) != 1 || byID[0].ID != other {
			t.Errorf("by id = %+v, err %v; want only the open %d", byID, err, other)
		}
		all, err := s.OpenDeadLetters(ctx)
		if err != nil || len(all) != 1 || all[0].ID != other {
			t.Errorf("open = %+v, err %v; want only %d", all, err, other)
		}
	})
}

func TestSaleDeadOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 10)
		otherSale := newSale(t, s, 10)
		held := newOrders(t, sale.ID, 1, 3)
		// held[0] reached MySQL after all (a replay): no longer held by the dead letter.
		persist(t, s, held[:1])
		recordDead(t, s, order.DeadLetter{Reason: order.DeadDeliveryLimit, Orders: held})
		// The same message dead a second time counts its orders once.
		recordDead(t, s, order.DeadLetter{Reason: order.DeadDeliveryLimit, Orders: held[1:2]})
		recordDead(t, s, order.DeadLetter{Reason: order.DeadInvalid, Orders: newOrders(t, otherSale.ID, 1, 1)})
		closed := recordDead(t, s, order.DeadLetter{Reason: order.DeadInvalid, Orders: newOrders(t, sale.ID, 10, 1)})
		if ok, err := s.CloseDeadLetter(ctx, closed, order.ClosedDiscarded, t0); !ok || err != nil {
			t.Fatalf("close: %v, %v", ok, err)
		}

		got, err := s.SaleDeadOrders(ctx, sale.ID)
		if err != nil {
			t.Fatalf("sale dead orders: %v", err)
		}
		want := orderNos(held[1:])
		slices.Sort(want)
		if !slices.Equal(orderNos(got), want) {
			t.Fatalf("sale dead orders = %v, want %v", orderNos(got), want)
		}
		for _, o := range got {
			if o.SaleID != sale.ID || o.UserID == 0 || o.CreatedAt.IsZero() {
				t.Errorf("dead order %+v lacks its sale, user or time", o)
			}
		}
	})
}

func TestTombstone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 2)
		live := newOrder(t, sale.ID, 1)
		persist(t, s, []order.Order{live})
		dead := newOrder(t, sale.ID, 2)
		sameBuyer := newOrder(t, sale.ID, 1) // a second order of a buyer with a live one
		unknownSale := newOrder(t, sale.ID+1000, 3)
		notAnOrderNo := order.Order{OrderNo: strings.Repeat("z", 40), SaleID: sale.ID, UserID: 4}

		batch := []order.Order{live, dead, sameBuyer, unknownSale, notAnOrderNo, dead}
		written, err := s.Tombstone(ctx, batch, order.ReasonDiscarded, t0)
		if err != nil {
			t.Fatalf("tombstone: %v", err)
		}
		want := []string{dead.OrderNo, sameBuyer.OrderNo}
		if !slices.Equal(written, want) {
			t.Fatalf("written = %v, want %v", written, want)
		}
		for _, no := range want {
			got, err := s.Order(ctx, no)
			if err != nil {
				t.Fatalf("order %s: %v", no, err)
			}
			if got.Status != order.StatusCancelled || got.Reason != order.ReasonDiscarded {
				t.Errorf("order %s = %s (%q), want cancelled (discarded)", no, got.Status, got.Reason)
			}
		}
		if got := orderStatus(t, s, live.OrderNo); got != order.StatusCreated {
			t.Errorf("live order = %s, want it left created", got)
		}
		if got := sold(t, s, sale.ID); got != 1 {
			t.Errorf("sold = %d, want 1: tombstones take no unit", got)
		}
		unreleased, err := s.Unreleased(ctx, sale.ID, 10)
		if err != nil || !slices.Equal(orderNos(unreleased), want) {
			t.Errorf("unreleased = %v, %v; want %v: the stock backend still holds their units", orderNos(unreleased), err, want)
		}

		// Again: everything is in MySQL now, nothing is written.
		again, err := s.Tombstone(ctx, batch, order.ReasonDiscarded, t0)
		if err != nil || len(again) != 0 {
			t.Errorf("tombstone again = %v, %v; want nothing written", again, err)
		}
		// A late copy of a tombstoned order is a duplicate to the worker.
		res := persist(t, s, []order.Order{dead})
		if len(res.Inserted) != 0 || orderStatus(t, s, dead.OrderNo) != order.StatusCancelled {
			t.Errorf("late copy: inserted %v, status %s; want a duplicate, still cancelled", res.Inserted, orderStatus(t, s, dead.OrderNo))
		}
	})
}
