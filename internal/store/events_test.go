package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

// drain relays every recorded event and returns them in relay order.
func drain(tb testing.TB, s *store.Store) []order.Event {
	tb.Helper()
	var got []order.Event
	for {
		n, err := s.RelayEvents(context.Background(), 3, func(_ context.Context, ev []order.Event) error {
			got = append(got, ev...)
			return nil
		})
		if err != nil {
			tb.Fatalf("relay: %v", err)
		}
		if n == 0 {
			return got
		}
	}
}

// payAll pays every one of orders, by its buyer, at t0.
func payAll(tb testing.TB, s *store.Store, orders []order.Order) {
	tb.Helper()
	for _, o := range orders {
		if _, err := s.Pay(context.Background(), o.UserID, o.OrderNo, t0); err != nil {
			tb.Fatalf("pay %s: %v", o.OrderNo, err)
		}
	}
}

// eventsOf tells each event as "kind order_no status reason".
func eventsOf(events []order.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Kind + " " + e.Order.OrderNo + " " + string(e.Order.Status) + " " + e.Order.Reason
	}
	return out
}

// TestEventsRecordedWithChanges: each status change writes its event in
// its own transaction — payment, expiry, a refused order, a discard — and
// a change that does not happen writes none.
func TestEventsRecordedWithChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 3)
		orders := newOrders(t, sale.ID, 1, 4) // the 4th does not fit
		persist(t, s, orders)
		if got := drain(t, s); !slices.Equal(eventsOf(got), []string{"order.cancelled " + orders[3].OrderNo + " cancelled sold_out"}) {
			t.Fatalf("after a batch with one order too many: %v", eventsOf(got))
		}

		if _, err := s.Pay(ctx, 1, orders[0].OrderNo, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pay(ctx, 1, orders[0].OrderNo, t0); err != nil { // paid again: no change
			t.Fatal(err)
		}
		if _, err := s.Pay(ctx, 4, orders[3].OrderNo, t0); !errors.Is(err, order.ErrNotPayable) { // refused: no change
			t.Fatalf("pay a cancelled order: %v, want not payable", err)
		}
		if _, err := s.ExpireDue(ctx, sale.ID, t0.Add(time.Hour), 100); err != nil {
			t.Fatal(err)
		}
		lost := newOrder(t, sale.ID, 9)
		if _, err := s.Tombstone(ctx, []order.Order{lost, orders[1]}, order.ReasonDiscarded, t0); err != nil {
			t.Fatal(err)
		}
		got := drain(t, s)
		want := []string{
			"order.paid " + orders[0].OrderNo + " paid ",
			"order.cancelled " + orders[1].OrderNo + " cancelled expired",
			"order.cancelled " + orders[2].OrderNo + " cancelled expired",
			"order.cancelled " + lost.OrderNo + " cancelled discarded",
		}
		if !slices.Equal(eventsOf(got), want) {
			t.Fatalf("events\n got %v\nwant %v", eventsOf(got), want)
		}
		for i, e := range got {
			if e.Order.SaleID != sale.ID || e.Order.UserID == 0 || e.At.IsZero() || e.Order.CreatedAt.IsZero() {
				t.Errorf("event %d = %+v: sale, user and times must be set", i, e)
			}
			if i > 0 && e.ID <= got[i-1].ID {
				t.Errorf("event ids not increasing: %d after %d", e.ID, got[i-1].ID)
			}
		}
		if n, err := s.PendingEvents(ctx); err != nil || n != 0 {
			t.Fatalf("pending after relaying all = %d, %v", n, err)
		}
	})
}

// TestRelayAtLeastOnce: a publish that fails keeps the events for the next
// relay, in the same order under the same ids; a relay that published but
// died before its commit hands them out
// again too.
func TestRelayAtLeastOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sale := newSale(t, s, 5)
		orders := newOrders(t, sale.ID, 1, 5)
		persist(t, s, orders)
		payAll(t, s, orders)
		broken := errors.New("broker gone")
		var first []order.Event
		n, err := s.RelayEvents(ctx, 10, func(_ context.Context, ev []order.Event) error {
			first = ev
			return broken
		})
		if !errors.Is(err, broken) || n != 0 || len(first) != 5 {
			t.Fatalf("failed relay = %d, %v (saw %d); want 0 and the publish error", n, err, len(first))
		}

		// The process dies after the broker confirmed, before the delete
		// commits: a panic unwinds through the transaction as a crash would
		// end it, without committing.
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the relay did not reach its publish")
				}
			}()
			_, _ = s.RelayEvents(ctx, 10, func(context.Context, []order.Event) error { panic("killed") })
		}()
		if pending, err := s.PendingEvents(ctx); err != nil || pending != 5 {
			t.Fatalf("pending after two failed relays = %d, %v; want 5", pending, err)
		}
		again := drain(t, s)
		if !slices.Equal(eventsOf(again), eventsOf(first)) {
			t.Fatalf("relayed again %v, want %v", eventsOf(again), eventsOf(first))
		}
		for i := range again {
			if again[i].ID != first[i].ID {
				t.Fatalf("event %d id %d, first handed out as %d: ids must be stable", i, again[i].ID, first[i].ID)
			}
		}
	})
}

// TestRelaysTakeDisjointEvents: on MySQL two relays at once never hand out
// the same event, and the second does not wait for the first's publish.
func TestRelaysTakeDisjointEvents(t *testing.T) {
	s := storetest.MySQL(t)
	ctx := context.Background()
	sale := newSale(t, s, 6)
	orders := newOrders(t, sale.ID, 1, 6)
	persist(t, s, orders)
	payAll(t, s, orders)
	inside, release := make(chan []order.Event), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := s.RelayEvents(ctx, 3, func(_ context.Context, ev []order.Event) error {
			inside <- ev
			<-release
			return nil
		})
		done <- err
	}()
	held := <-inside
	var other []order.Event
	if _, err := s.RelayEvents(ctx, 10, func(_ context.Context, ev []order.Event) error {
		other = ev
		return nil
	}); err != nil {
		t.Fatalf("second relay: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first relay: %v", err)
	}
	if len(held) != 3 || len(other) != 3 {
		t.Fatalf("relays took %d and %d events, want 3 and 3", len(held), len(other))
	}
	for _, a := range held {
		for _, b := range other {
			if a.ID == b.ID {
				t.Fatalf("event %d handed to both relays", a.ID)
			}
		}
	}
}
