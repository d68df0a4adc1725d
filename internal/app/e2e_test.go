package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/order"
)

// forEachKind runs a test against every kind of system.
func forEachKind(t *testing.T, f func(t *testing.T, s *system)) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { f(t, newSystem(t, kind)) })
	}
}

// TestFlashSale: 2,000 distinct users on 100 units through HTTP. Exactly
// 100 win, the rest are told sold out, and once the worker drains the queue
// MySQL holds exactly those 100 orders and the books balance.
func TestFlashSale(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		const users, stock = 2000, 100
		s.startWorker()
		sale := s.createSale(t, stock, 0)
		tokens := make([]string, users)
		for i := range tokens {
			tok, err := s.api.Tokens.Mint(int64(1000+i), 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			tokens[i] = tok
		}

		var (
			mu       sync.Mutex
			statuses = map[string]int{}
			accepted = map[string]int64{} // order_no → user
			gate     = make(chan struct{})
			wg       sync.WaitGroup
			next     = make(chan int, users)
		)
		for i := range users {
			next <- i
		}
		close(next)
		for range 128 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				for i := range next {
					r := s.buy(t, sale, tokens[i])
					key := fmt.Sprintf("%d %s", r.status, r.errorCode())
					mu.Lock()
					statuses[key]++
					if r.status == http.StatusAccepted {
						accepted[r.str("order_no")] = int64(1000 + i)
					}
					mu.Unlock()
				}
			}()
		}
		close(gate)
		wg.Wait()
		t.Logf("%s: %v", s.kind, statuses)
		if statuses["202 "] != stock || statuses["409 sold_out"] != users-stock || len(statuses) != 2 {
			t.Fatalf("want exactly %d×202 and %d×409 sold_out, got %v", stock, users-stock, statuses)
		}
		if len(accepted) != stock {
			t.Fatalf("%d distinct order numbers accepted, want %d", len(accepted), stock)
		}

		rec := s.drained(t, sale)
		if !rec.Consistent || rec.Persisted != stock || rec.Remaining != 0 || rec.Gap != 0 {
			t.Fatalf("after drain: %+v", rec)
		}
		ctx := context.Background()
		orders, err := s.api.Repo.SaleOrders(ctx, sale)
		if err != nil {
			t.Fatal(err)
		}
		seenUser := map[int64]bool{}
		seenNo := map[string]bool{}
		for _, o := range orders {
			if seenUser[o.UserID] || seenNo[o.OrderNo] {
				t.Fatalf("duplicate order in MySQL: %+v", o)
			}
			seenUser[o.UserID], seenNo[o.OrderNo] = true, true
			if accepted[o.OrderNo] != o.UserID {
				t.Fatalf("MySQL holds an order nobody was told about: %+v", o)
			}
		}
		if len(orders) != stock {
			t.Fatalf("MySQL holds %d orders, want %d", len(orders), stock)
		}
		sl, err := s.api.Repo.Sale(ctx, sale)
		if err != nil {
			t.Fatal(err)
		}
		if sl.Sold != stock {
			t.Fatalf("sales.sold = %d, want %d", sl.Sold, stock)
		}
		if rem, err := s.api.Stock.Remaining(ctx, sale); err != nil || rem != 0 {
			t.Fatalf("stock backend remaining = %d, %v; want 0", rem, err)
		}
		v := do(t, "GET", fmt.Sprintf("%s/api/v1/sales/%d", s.public.URL, sale), "", nil)
		if v.status != http.StatusOK || v.str("status") != "sold_out" || v.num("remaining") != 0 {
			t.Fatalf("sale read after sell-out: %d %s", v.status, v.raw)
		}
	})
}

// TestSameUserTwice: a second purchase is 409 already_purchased carrying the
// first order number, and it takes no second unit.
func TestSameUserTwice(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		sale := s.createSale(t, 5, 0)
		tok := s.token(t, 7)
		first := s.buy(t, sale, tok)
		if first.status != http.StatusAccepted || first.str("status") != "pending" {
			t.Fatalf("first purchase: %d %s", first.status, first.raw)
		}
		second := s.buy(t, sale, tok)
		e, _ := second.body["error"].(map[string]any)
		if second.status != http.StatusConflict || second.errorCode() != "already_purchased" ||
			e["order_no"] != first.str("order_no") {
			t.Fatalf("second purchase: %d %s, want 409 already_purchased with %s", second.status, second.raw, first.str("order_no"))
		}
		if rem, _ := s.api.Stock.Remaining(context.Background(), sale); rem != 4 {
			t.Fatalf("remaining = %d, want 4", rem)
		}
	})
}

// TestOrderStatus: pending while only reserved, created once the worker has
// written it; another user's order does not exist for them.
func TestOrderStatus(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		sale := s.createSale(t, 5, 0)
		owner, other := s.token(t, 11), s.token(t, 12)
		r := s.buy(t, sale, owner)
		if r.status != http.StatusAccepted {
			t.Fatalf("purchase: %d %s", r.status, r.raw)
		}
		no := r.str("order_no")
		url := s.public.URL + "/api/v1/orders/" + no
		if got := do(t, "GET", url, owner, nil); got.status != http.StatusOK || got.str("status") != "pending" ||
			got.num("sale_id") != sale || got.num("user_id") != 11 || got.str("created_at") == "" {
			t.Fatalf("before the worker: %d %s, want 200 pending", got.status, got.raw)
		}
		if got := do(t, "GET", url, other, nil); got.status != http.StatusNotFound || got.errorCode() != "order_not_found" {
			t.Fatalf("another user's pending order: %d %s, want 404 order_not_found", got.status, got.raw)
		}
		s.startWorker()
		s.drained(t, sale)
		if got := do(t, "GET", url, owner, nil); got.status != http.StatusOK || got.str("status") != "created" {
			t.Fatalf("after the worker: %d %s, want 200 created", got.status, got.raw)
		}
		if got := do(t, "GET", url, other, nil); got.status != http.StatusNotFound || got.errorCode() != "order_not_found" {
			t.Fatalf("another user's created order: %d %s, want 404", got.status, got.raw)
		}
		if got := do(t, "GET", url, "", nil); got.status != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", got.status)
		}
		if got := do(t, "GET", s.public.URL+"/api/v1/orders/not-an-order", owner, nil); got.status != http.StatusNotFound {
			t.Fatalf("malformed order number: %d, want 404", got.status)
		}
	})
}

// TestUnroutable: with the queue's binding removed the broker returns the
// message; the client gets 503 and the unit goes back exactly once.
func TestUnroutable(t *testing.T) {
	for _, kind := range []string{"redis", "memcache"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind)
			sale := s.createSale(t, 3, 0)
			_, ch := dialBroker(t)
			top := s.topology
			if err := ch.QueueUnbind(top.Queue, top.RoutingKey, top.Exchange, nil); err != nil {
				t.Fatal(err)
			}
			tok := s.token(t, 21)
			r := s.buy(t, sale, tok)
			if r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
				t.Fatalf("unroutable purchase: %d %s, want 503 unavailable", r.status, r.raw)
			}
			ctx := context.Background()
			snap, err := s.api.Stock.Snapshot(ctx, sale)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Remaining != 3 || len(snap.Reservations) != 1 {
				t.Fatalf("after the return: remaining %d, %d reservations; want 3 and 1 cancelled", snap.Remaining, len(snap.Reservations))
			}
			for no, res := range snap.Reservations {
				if res.State != order.Cancelled {
					t.Fatalf("reservation %s is %s, want CANCELLED", no, res.State)
				}
				// A second release must not give the unit back again.
				if again, err := s.api.Stock.Release(ctx, sale, no); again || err != nil {
					t.Fatalf("second release = %v, %v; want false", again, err)
				}
			}
			if rem, _ := s.api.Stock.Remaining(ctx, sale); rem != 3 {
				t.Fatalf("remaining after a repeated release = %d, want 3", rem)
			}
			// The buyer is free again once the route is back.
			if err := ch.QueueBind(top.Queue, top.RoutingKey, top.Exchange, false, nil); err != nil {
				t.Fatal(err)
			}
			if r := s.buy(t, sale, tok); r.status != http.StatusAccepted {
				t.Fatalf("purchase after rebinding: %d %s", r.status, r.raw)
			}
			if rec := s.reconcile(t, sale); !rec.Consistent || rec.Remaining != 2 || rec.ReservedInFlight != 1 {
				t.Fatalf("reconcile: %+v", rec)
			}
		})
	}
}

// TestBadInput: every malformed request gets its documented code and
// changes nothing.
func TestBadInput(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		sale := s.createSale(t, 10, 0)
		later := s.createSale(t, 10, time.Hour)
		tok := s.token(t, 31)
		secret := []byte(s.api.Config.JWTSecret)
		signed := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
			v, err := jwt.NewWithClaims(m, claims).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		future := time.Now().Add(time.Hour).Unix()
		expired := signed(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "31", "exp": time.Now().Add(-time.Hour).Unix()})
		none := signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "31", "exp": future})
		noExp := signed(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "31"})
		buyURL := fmt.Sprintf("%s/api/v1/sales/%d/orders", s.public.URL, sale)

		tests := []struct {
			name   string
			url    string
			token  string
			body   string
			status int
			code   string
		}{
			{"no token", buyURL, "", "", 401, "unauthorized"},
			{"expired token", buyURL, expired, "", 401, "unauthorized"},
			{"alg none", buyURL, none, "", 401, "unauthorized"},
			{"no exp", buyURL, noExp, "", 401, "unauthorized"},
			{"2 MB body", buyURL, tok, `{"x":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "payload_too_large"},
			{"trailing bytes", buyURL, tok, `{} trailing`, 400, "invalid_request"},
			{"unknown field", buyURL, tok, `{"user_id":99}`, 400, "invalid_request"},
			{"not json", buyURL, tok, `<xml/>`, 400, "invalid_request"},
			{"unknown sale", s.public.URL + "/api/v1/sales/999999/orders", tok, "", 404, "sale_not_found"},
			{"sale id not a number", s.public.URL + "/api/v1/sales/abc/orders", tok, "", 404, "sale_not_found"},
			{"not started", fmt.Sprintf("%s/api/v1/sales/%d/orders", s.public.URL, later), tok, "", 403, "sale_not_started"},
		}
		ctx := context.Background()
		before, err := s.api.Stock.Snapshot(ctx, sale)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var r response
				if tt.body == "" {
					r = do(t, "POST", tt.url, tt.token, nil)
				} else {
					r = do(t, "POST", tt.url, tt.token, strings.NewReader(tt.body))
				}
				if r.status != tt.status || r.errorCode() != tt.code {
					t.Fatalf("got %d %q (%.200s), want %d %q", r.status, r.errorCode(), r.raw, tt.status, tt.code)
				}
				e, _ := r.body["error"].(map[string]any)
				if msg, _ := e["message"].(string); msg == "" {
					t.Fatalf("error without a message: %s", r.raw)
				}
			})
		}
		after, err := s.api.Stock.Snapshot(ctx, sale)
		if err != nil {
			t.Fatal(err)
		}
		if after.Remaining != before.Remaining || len(after.Reservations) != len(before.Reservations) || after.Remaining != 10 {
			t.Fatalf("bad input changed the stock: before %+v after %+v", before, after)
		}
		if rem, _ := s.api.Stock.Remaining(ctx, later); rem != 10 {
			t.Fatalf("a not-started sale lost stock: %d", rem)
		}
		// A valid purchase still works afterwards: nothing was poisoned.
		if r := s.buy(t, sale, tok); r.status != http.StatusAccepted {
			t.Fatalf("valid purchase after bad input: %d %s", r.status, r.raw)
		}
		badAdminInput(t, s)
	})
}

// badAdminInput: the admin listener refuses a malformed body with a 400
// whose message names the field and its form in the API's words, and a
// sale created without payment_window_seconds shows the default.
func badAdminInput(t *testing.T, s *system) {
	now := time.Now().UTC()
	starts, ends := now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	tests := []struct{ name, path, body, want string }{
		{"stock as a string", "/admin/v1/sales",
			`{"name":"x","price_cents":1,"total_stock":"10","starts_at":"` + starts + `","ends_at":"` + ends + `"}`,
			"total_stock must be an integer"},
		{"time not RFC 3339", "/admin/v1/sales",
			`{"name":"x","price_cents":1,"total_stock":10,"starts_at":"tomorrow","ends_at":"` + ends + `"}`,
			"starts_at must be a time in RFC 3339, e.g. 2026-11-28T10:00:00Z"},
		{"no price", "/admin/v1/sales",
			`{"name":"x","total_stock":10,"starts_at":"` + starts + `","ends_at":"` + ends + `"}`,
			"price_cents is required: the price in cents, an integer of 0 or more"},
		{"ended", "/admin/v1/sales",
			`{"name":"x","price_cents":1,"total_stock":10,"starts_at":"2020-01-01T00:00:00Z","ends_at":"2020-01-02T00:00:00Z"}`,
			"ends_at must be in the future"},
		{"token user as a string", "/admin/v1/tokens", `{"user_id":"7"}`, "user_id must be an integer"},
		{"replay neither", "/admin/v1/dead-letters/replay", `{}`,
			`give either ids, a list of dead-letter ids, or "all": true, not both`},
	}
	for _, tt := range tests {
		t.Run("admin "+tt.name, func(t *testing.T) {
			r := do(t, "POST", s.admin.URL+tt.path, "", strings.NewReader(tt.body))
			e, _ := r.body["error"].(map[string]any)
			if msg, _ := e["message"].(string); r.status != http.StatusBadRequest || msg != tt.want {
				t.Fatalf("got %d %s, want 400 %q", r.status, r.raw, tt.want)
			}
		})
	}
	r := do(t, "POST", s.admin.URL+"/admin/v1/sales", "", strings.NewReader(
		`{"name":"free","price_cents":0,"total_stock":1,"starts_at":"`+starts+`","ends_at":"`+ends+`"}`))
	if r.status != http.StatusCreated || r.num("payment_window_seconds") != httpapi.DefaultPaymentWindowSeconds || r.num("price_cents") != 0 {
		t.Fatalf("sale without a payment window: %d %s, want 201 with payment_window_seconds %d",
			r.status, r.raw, httpapi.DefaultPaymentWindowSeconds)
	}
}

// TestRateLimit: past the per-user burst, and past the per-IP burst, 429
// with Retry-After and no unit taken.
func TestRateLimit(t *testing.T) {
	s := newSystem(t, "embedded", func(c *config.API) {
		c.UserRate, c.UserBurst = 0.001, 2
		c.IPRate, c.IPBurst = 0.001, 5
	})
	sale := s.createSale(t, 10, 0)
	tok := s.token(t, 41)
	var codes []int
	for range 3 {
		codes = append(codes, s.buy(t, sale, tok).status)
	}
	r := s.buy(t, sale, tok)
	if codes[0] != 202 || codes[1] != 409 || codes[2] != 429 || r.status != 429 || r.errorCode() != "rate_limited" {
		t.Fatalf("statuses %v then %d %s; want 202, 409, 429, 429 rate_limited", codes, r.status, r.raw)
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("429 without a usable Retry-After: %q", ra)
	}
	// Other users from the same address share its bucket: 5 in all. The
	// per-IP bucket comes before the token is read, so the two requests
	// the user bucket refused took from it as well.
	if r := s.buy(t, sale, s.token(t, 42)); r.status != 202 {
		t.Fatalf("user 42: %d %s", r.status, r.raw)
	}
	if r := s.buy(t, sale, s.token(t, 43)); r.status != 429 || r.errorCode() != "rate_limited" {
		t.Fatalf("past the per-IP burst: %d %s, want 429", r.status, r.raw)
	}
	if r := do(t, "POST", fmt.Sprintf("%s/api/v1/sales/%d/orders", s.public.URL, sale), "not-a-token", nil); r.status != 429 {
		t.Fatalf("garbage token past the per-IP burst: %d %s, want 429 before the token is read", r.status, r.raw)
	}
	if rem, _ := s.api.Stock.Remaining(context.Background(), sale); rem != 8 {
		t.Fatalf("remaining = %d, want 8: a limited request took stock", rem)
	}
}

// TestRedeliveredOrderStoredOnce: on the real broker, the worker receives
// one order twice — the broker redelivers a message a consumer died holding,
// and a duplicate copy of it was published as well. MySQL holds one row and
// every copy is acked: nothing is left in the queue.
func TestRedeliveredOrderStoredOnce(t *testing.T) {
	s := newSystem(t, "redis")
	sale := s.createSale(t, 5, 0)
	r := s.buy(t, sale, s.token(t, 51))
	if r.status != http.StatusAccepted {
		t.Fatalf("purchase: %d %s", r.status, r.raw)
	}
	conn, ch := dialBroker(t)
	top := s.topology
	// A consumer takes the message and dies without an ack (a consumer,
	// not basic.get, which a single-active-consumer queue refuses)...
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(top.Queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	var d amqp.Delivery
	select {
	case d = <-deliveries:
	case <-time.After(30 * time.Second):
		t.Fatal("no message in the persist queue")
	}
	// ...after a second copy of it reached the queue.
	if err := ch.Publish(top.Exchange, top.RoutingKey, false, false, amqp.Publishing{
		ContentType: d.ContentType, DeliveryMode: amqp.Persistent, MessageId: d.MessageId, Body: d.Body,
	}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}

	s.startWorker()
	rec := s.drained(t, sale)
	orders, err := s.api.Repo.SaleOrders(context.Background(), sale)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 1 || orders[0].OrderNo != r.str("order_no") || rec.Persisted != 1 || !rec.Consistent {
		t.Fatalf("after two deliveries of one order: %d rows %+v, reconcile %+v", len(orders), orders, rec)
	}
	// Wait until the worker has taken both copies off the queue, stop it the
	// way a shutdown does, then look: a copy it took but did not ack would
	// be back in the queue.
	depth := func() int {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive(top.Queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		if err != nil {
			t.Fatal(err)
		}
		return q.Messages
	}
	for deadline := time.Now().Add(30 * time.Second); depth() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the worker never took the second copy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stopWorker()
	if n := depth(); n != 0 {
		t.Fatalf("%d messages back in the queue after the worker stopped: a delivery was not acked", n)
	}
	sl, err := s.api.Repo.Sale(context.Background(), sale)
	if err != nil || sl.Sold != 1 {
		t.Fatalf("sales.sold = %d, %v; want 1", sl.Sold, err)
	}
}

// TestHealth: liveness always, readiness once every backend answers.
func TestHealth(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := do(t, "GET", s.public.URL+path, "", nil); r.status != http.StatusOK || r.str("status") != "ok" {
				t.Fatalf("%s: %d %s", path, r.status, r.raw)
			}
		}
		if r := do(t, "GET", s.admin.URL+"/metrics", "", nil); r.status != http.StatusOK || !strings.Contains(string(r.raw), "seckill_purchases_total") {
			t.Fatalf("/metrics on the admin listener: %d", r.status)
		}
		if r := do(t, "GET", s.public.URL+"/metrics", "", nil); r.status != http.StatusNotFound {
			t.Fatalf("/metrics on the public listener: %d, want 404", r.status)
		}
	})
}

// TestLostStockFailsClosed: when the stock backend loses a sale (evicted,
// restarted), purchases are 503 and sell nothing, reconcile says so, and a
// warm-up rebuilds the stock from MySQL's orders.
func TestLostStockFailsClosed(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		s.startWorker()
		sale := s.createSale(t, 5, 0)
		first := s.buy(t, sale, s.token(t, 61))
		if first.status != http.StatusAccepted {
			t.Fatalf("purchase: %d %s", first.status, first.raw)
		}
		s.drained(t, sale)
		if err := s.api.Stock.Forget(context.Background(), sale); err != nil {
			t.Fatal(err)
		}
		if r := s.buy(t, sale, s.token(t, 62)); r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
			t.Fatalf("purchase with the stock lost: %d %s, want 503 unavailable", r.status, r.raw)
		}
		if rec := s.reconcile(t, sale); rec.StockLoaded || rec.Consistent || rec.Persisted != 1 {
			t.Fatalf("reconcile with the stock lost: %+v, want not loaded, not consistent", rec)
		}
		w := do(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/warmup", s.admin.URL, sale), "", nil)
		if w.status != http.StatusOK || w.num("remaining") != 4 {
			t.Fatalf("warmup: %d %s, want 200 with 4 remaining", w.status, w.raw)
		}
		// The persisted buyer is a buyer again; a new one gets a unit.
		again := s.buy(t, sale, s.token(t, 61))
		e, _ := again.body["error"].(map[string]any)
		if again.status != http.StatusConflict || e["order_no"] != first.str("order_no") {
			t.Fatalf("persisted buyer after warmup: %d %s", again.status, again.raw)
		}
		if r := s.buy(t, sale, s.token(t, 62)); r.status != http.StatusAccepted {
			t.Fatalf("purchase after warmup: %d %s", r.status, r.raw)
		}
		if rec := s.drained(t, sale); !rec.Consistent || rec.Persisted != 2 || rec.Remaining != 3 {
			t.Fatalf("reconcile after warmup: %+v", rec)
		}
	})
}
