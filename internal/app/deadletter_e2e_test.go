package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/order"
)

// deadLetterOf records a dead letter holding the reserved order orderNo,
// as the worker does for an order it cannot persist, and returns its id.
func (s *system) deadLetterOf(tb testing.TB, sale int64, user int64, orderNo string) int64 {
	tb.Helper()
	id, err := s.api.Repo.RecordDeadLetter(context.Background(), order.DeadLetter{
		MessageID: "e2e", Reason: order.DeadDeliveryLimit, Detail: "delivered too often",
		Orders: []order.Order{{OrderNo: orderNo, SaleID: sale, UserID: user, CreatedAt: time.Now()}},
	})
	if err != nil {
		tb.Fatalf("record dead letter: %v", err)
	}
	return id
}

func (s *system) deadLetters(tb testing.TB, query string) httpapi.DeadLettersJSON {
	tb.Helper()
	r := do(tb, "GET", s.admin.URL+"/admin/v1/dead-letters"+query, "", nil)
	if r.status != http.StatusOK {
		tb.Fatalf("list dead letters: %d %s", r.status, r.raw)
	}
	var out httpapi.DeadLettersJSON
	if err := json.Unmarshal(r.raw, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestDeadLetterDiscard: a dead letter holding a reserved order is listed;
// discarding it cancels the order (reason discarded), gives its unit back
// once, and leaves the sale consistent. A second discard changes nothing.
func TestDeadLetterDiscard(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		const user = 71
		sale := s.createSale(t, 3, 0)
		owner := s.token(t, user)
		no := s.buyOK(t, sale, owner) // reserved; no worker runs to persist it
		if got := s.remaining(t, sale); got != 2 {
			t.Fatalf("remaining after the purchase = %d, want 2", got)
		}
		id := s.deadLetterOf(t, sale, user, no)

		list := s.deadLetters(t, "?limit=10")
		if list.Total != 1 || len(list.DeadLetters) != 1 {
			t.Fatalf("dead letters = %+v, want the one recorded", list)
		}
		d := list.DeadLetters[0]
		if d.ID != id || d.Reason != order.DeadDeliveryLimit || d.DeadAt.IsZero() ||
			len(d.Orders) != 1 || d.Orders[0] != (httpapi.DeadOrderJSON{OrderNo: no, SaleID: sale, UserID: user}) {
			t.Fatalf("dead letter = %+v", d)
		}

		r := do(t, "POST", s.admin.URL+"/admin/v1/dead-letters/discard", "", strings.NewReader(fmt.Sprintf(`{"ids":[%d]}`, id)))
		if r.status != http.StatusOK || r.num("discarded") != 1 {
			t.Fatalf("discard: %d %s, want 200 discarded 1", r.status, r.raw)
		}
		o := do(t, "GET", s.public.URL+"/api/v1/orders/"+no, owner, nil)
		if o.status != http.StatusOK || o.str("status") != "cancelled" || o.str("reason") != order.ReasonDiscarded {
			t.Fatalf("order after discard: %d %s, want cancelled (discarded)", o.status, o.raw)
		}
		if got := s.remaining(t, sale); got != 3 {
			t.Fatalf("remaining after discard = %d, want 3 (the unit back)", got)
		}
		rec := s.reconcile(t, sale)
		if !rec.Consistent || rec.Remaining != 3 || rec.Persisted != 0 || rec.Cancelled != 1 {
			t.Fatalf("reconcile after discard: %+v", rec)
		}
		if left := s.deadLetters(t, ""); left.Total != 0 || len(left.DeadLetters) != 0 {
			t.Fatalf("dead letters after discard = %+v, want none", left)
		}

		// Closed once: discarding again counts nothing and returns no unit.
		r = do(t, "POST", s.admin.URL+"/admin/v1/dead-letters/discard", "", strings.NewReader(fmt.Sprintf(`{"ids":[%d]}`, id)))
		if r.status != http.StatusOK || r.num("discarded") != 0 {
			t.Fatalf("second discard: %d %s, want 200 discarded 0", r.status, r.raw)
		}
		if got := s.remaining(t, sale); got != 3 {
			t.Fatalf("remaining after a second discard = %d, want 3", got)
		}
		// The buyer is free again.
		s.buyOK(t, sale, owner)
	})
}

// TestDeadLetterReplay: replaying a dead letter republishes its order under
// the same order number; the worker persists it and it reads created.
func TestDeadLetterReplay(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		const user = 72
		ctx := context.Background()
		sale := s.createSale(t, 3, 0)
		owner := s.token(t, user)
		// A unit reserved whose message only the dead letter still holds:
		// nothing but the replay can bring it to the worker.
		no, err := order.NewOrderNo()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.api.Stock.Reserve(ctx, order.Reservation{OrderNo: no, SaleID: sale, UserID: user}, time.Now()); err != nil {
			t.Fatalf("reserve: %v", err)
		}
		id := s.deadLetterOf(t, sale, user, no)
		// Undecodable: nothing to replay, so it is not counted and stays.
		junk, err := s.api.Repo.RecordDeadLetter(ctx, order.DeadLetter{
			Reason: order.DeadUndecodable, Detail: "not JSON", Body: []byte("%%%"),
		})
		if err != nil {
			t.Fatal(err)
		}

		r := do(t, "POST", s.admin.URL+"/admin/v1/dead-letters/replay", "", strings.NewReader(`{"all":true}`))
		if r.status != http.StatusOK || r.num("replayed") != 1 {
			t.Fatalf("replay: %d %s, want 200 replayed 1", r.status, r.raw)
		}
		s.startWorker()
		eventually(t, "the replayed order is created", func() bool {
			return s.orderStatus(t, no, owner) == string(order.StatusCreated)
		})
		left := s.deadLetters(t, "")
		if left.Total != 1 || len(left.DeadLetters) != 1 || left.DeadLetters[0].ID != junk {
			t.Fatalf("dead letters after replay = %+v, want only the undecodable %d", left, junk)
		}
		if left.DeadLetters[0].ID == id {
			t.Fatalf("replayed dead letter %d still listed", id)
		}
		got := s.drained(t, sale)
		if !got.Consistent || got.Persisted != 1 || got.Remaining != 2 {
			t.Fatalf("reconcile after replay: %+v", got)
		}
	})
}

// TestDeadLetterBadInput: the dead-letter routes refuse what they cannot
// act on with 400 invalid_request.
func TestDeadLetterBadInput(t *testing.T) {
	s := newSystem(t, "embedded")
	tests := []struct {
		name, method, path, body string
	}{
		{"limit not a number", "GET", "/admin/v1/dead-letters?limit=ten", ""},
		{"limit zero", "GET", "/admin/v1/dead-letters?limit=0", ""},
		{"limit too large", "GET", "/admin/v1/dead-letters?limit=1001", ""},
		{"replay nothing", "POST", "/admin/v1/dead-letters/replay", `{}`},
		{"replay ids and all", "POST", "/admin/v1/dead-letters/replay", `{"ids":[1],"all":true}`},
		{"replay unknown field", "POST", "/admin/v1/dead-letters/replay", `{"id":1}`},
		{"discard no ids", "POST", "/admin/v1/dead-letters/discard", `{"ids":[]}`},
		{"discard all", "POST", "/admin/v1/dead-letters/discard", `{"all":true}`},
		{"discard negative id", "POST", "/admin/v1/dead-letters/discard", `{"ids":[-1]}`},
		{"no body", "POST", "/admin/v1/dead-letters/discard", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" || tt.method == "POST" {
				body = strings.NewReader(tt.body)
			}
			var r response
			if body != nil {
				r = do(t, tt.method, s.admin.URL+tt.path, "", body)
			} else {
				r = do(t, tt.method, s.admin.URL+tt.path, "", nil)
			}
			if r.status != http.StatusBadRequest || r.errorCode() != httpapi.CodeInvalidRequest {
				t.Fatalf("%s %s %s: %d %s, want 400 invalid_request", tt.method, tt.path, tt.body, r.status, r.raw)
			}
		})
	}
}
