package store_test

import (
	"context"
	"strings"
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
