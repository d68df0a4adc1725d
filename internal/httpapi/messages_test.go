package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// echoSales creates every sale it is given, as sale 5 with all its stock.
type echoSales struct{}

func (echoSales) CreateSale(_ context.Context, n order.NewSale) (order.SaleView, error) {
	if err := n.Validate(); err != nil {
		return order.SaleView{}, err
	}
	s := order.Sale{ID: 5, Name: n.Name, PriceCents: n.PriceCents, TotalStock: n.TotalStock,
		StartsAt: n.StartsAt, EndsAt: n.EndsAt, PaymentWindow: n.PaymentWindow}
	return order.SaleView{Sale: s, Remaining: n.TotalStock, Status: order.SaleActive}, nil
}

func (echoSales) Warmup(context.Context, int64) (order.SaleView, error) {
	return order.SaleView{}, order.ErrSaleNotFound
}

func (echoSales) Reconcile(context.Context, int64) (order.Reconciliation, error) {
	return order.Reconciliation{}, order.ErrSaleNotFound
}

func (echoSales) ListSales(context.Context, int) ([]order.SaleView, error) { return nil, nil }

// AddStock checks add as the domain does, then answers sale 5 with the
// units added.
func (echoSales) AddStock(ctx context.Context, id, add int64, requestID string) (order.SaleView, error) {
	if add < 1 || add > order.MaxStockAdd {
		return order.New(nil, nil, nil, slog.New(slog.DiscardHandler)).Catalog.AddStock(ctx, id, add, requestID)
	}
	return order.SaleView{Sale: order.Sale{ID: id, TotalStock: 10 + add}, Remaining: add, Status: order.SaleActive}, nil
}

func newMessageAdmin(tb testing.TB) http.Handler {
	tb.Helper()
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	return NewAdmin(AdminConfig{
		Sales: echoSales{}, Tokens: NewTokens(testSecret), BodyLimit: 1 << 12,
		Gatherer: reg, Log: log, Metrics: metrics.New(reg),
		// The domain checks dead-letter ids before it reads anything.
		DeadLetters: order.New(nil, nil, nil, log).DeadLetterDesk,
	})
}

// TestBodyMessages: every body the admin listener refuses is a 400
// invalid_request whose message names the field and the form it takes, in
// the API's words: no Go type, struct or time layout.
func TestBodyMessages(t *testing.T) {
	h := newMessageAdmin(t)
	now := time.Now().UTC()
	sale := func(mutate func(map[string]any)) string {
		m := map[string]any{
			"name": "s", "price_cents": 100, "total_stock": 10,
			"starts_at": now.Format(time.RFC3339), "ends_at": now.Add(time.Hour).Format(time.RFC3339),
		}
		mutate(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const salesPath, tokensPath = "/admin/v1/sales", "/admin/v1/tokens"
	const replayPath, discardPath = "/admin/v1/dead-letters/replay", "/admin/v1/dead-letters/discard"
	const stockPath = "/admin/v1/sales/5/stock"
	tests := []struct {
		name, path, body, want string
	}{
		{"stock as a string", salesPath, sale(func(m map[string]any) { m["total_stock"] = "10" }),
			"total_stock must be an integer"},
		{"stock as a fraction", salesPath, sale(func(m map[string]any) { m["total_stock"] = 1.5 }),
			"total_stock must be an integer"},
		{"price as a string", salesPath, sale(func(m map[string]any) { m["price_cents"] = "free" }),
			"price_cents must be an integer"},
		{"name as a number", salesPath, sale(func(m map[string]any) { m["name"] = 7 }),
			"name must be a string"},
		{"starts_at not RFC 3339", salesPath, sale(func(m map[string]any) { m["starts_at"] = "2026-11-28 10:00" }),
			"starts_at must be a time in RFC 3339, e.g. 2026-11-28T10:00:00Z"},
		{"ends_at a number", salesPath, sale(func(m map[string]any) { m["ends_at"] = 1700000000 }),
			"ends_at must be a time in RFC 3339, e.g. 2026-11-28T10:00:00Z"},
		{"window as a string", salesPath, sale(func(m map[string]any) { m["payment_window_seconds"] = "15m" }),
			"payment_window_seconds must be an integer"},
		{"unknown field", salesPath, sale(func(m map[string]any) { m["foo"] = 1 }),
			`unknown field "foo"; the fields are name, price_cents, total_stock, starts_at, ends_at, payment_window_seconds, admission, request_id`},
		{"no name", salesPath, sale(func(m map[string]any) { delete(m, "name") }),
			"name is required: a string of 1 to 200 bytes"},
		{"no price", salesPath, sale(func(m map[string]any) { delete(m, "price_cents") }),
			"price_cents is required: the price in cents, an integer of 0 or more"},
		{"null price", salesPath, sale(func(m map[string]any) { m["price_cents"] = nil }),
			"price_cents is required: the price in cents, an integer of 0 or more"},
		{"no stock", salesPath, sale(func(m map[string]any) { delete(m, "total_stock") }),
			"total_stock is required: the units on sale, an integer of 1 or more"},
		{"no starts_at", salesPath, sale(func(m map[string]any) { delete(m, "starts_at") }),
			"starts_at is required: a time in RFC 3339, e.g. 2026-11-28T10:00:00Z"},
		{"no ends_at", salesPath, sale(func(m map[string]any) { delete(m, "ends_at") }),
			"ends_at is required: a time in RFC 3339, e.g. 2026-11-28T10:00:00Z"},
		{"no fields", salesPath, `{}`,
			"these fields are required: name (a string of 1 to 200 bytes), price_cents (the price in cents, an integer of 0 or more), " +
				"total_stock (the units on sale, an integer of 1 or more), starts_at (a time in RFC 3339, e.g. 2026-11-28T10:00:00Z), " +
				"ends_at (a time in RFC 3339, e.g. 2026-11-28T10:00:00Z)"},
		{"no name and no stock", salesPath, sale(func(m map[string]any) { delete(m, "name"); delete(m, "total_stock") }),
			"these fields are required: name (a string of 1 to 200 bytes), total_stock (the units on sale, an integer of 1 or more)"},
		{"ends in the past", salesPath, sale(func(m map[string]any) {
			m["starts_at"] = now.Add(-2 * time.Hour).Format(time.RFC3339)
			m["ends_at"] = now.Add(-time.Hour).Format(time.RFC3339)
		}), "ends_at must be in the future"},
		{"negative window", salesPath, sale(func(m map[string]any) { m["payment_window_seconds"] = -1 }),
			"payment_window_seconds must be an integer from 0 (unpaid orders never expire) to 2592000 (30 days)"},
		{"negative admission rate", salesPath, sale(func(m map[string]any) { m["admission"] = map[string]any{"rate_per_second": -1} }),
			"admission.rate_per_second must be an integer from 0 (no waiting room) to 1000000"},
		{"too much work", salesPath, sale(func(m map[string]any) { m["admission"] = map[string]any{"pow_bits": 27} }),
			"admission.pow_bits must be an integer from 0 (no proof of work) to 26"},
		{"negative price", salesPath, sale(func(m map[string]any) { m["price_cents"] = -1 }),
			"price_cents must not be negative"},
		{"not json", salesPath, `name=s&total_stock=10`, "the body is not valid JSON (at byte 2)"},
		{"cut short", salesPath, `{"name":"s"`, "the body is not valid JSON: it ends before the object does"},
		{"a list", salesPath, `[1,2]`, "the body must be a JSON object"},
		{"empty", salesPath, ``, "the body must be a JSON object"},
		{"trailing data", salesPath, sale(func(map[string]any) {}) + ` {}`, "the body must be one JSON object with nothing after it"},

		{"token: no user", tokensPath, `{"ttl_seconds":60}`, "user_id is required: the user's id, an integer of 1 or more"},
		{"token: user as a string", tokensPath, `{"user_id":"42"}`, "user_id must be an integer"},
		{"token: user zero", tokensPath, `{"user_id":0}`, "user_id must be an integer of 1 or more"},
		{"token: ttl too long", tokensPath, `{"user_id":1,"ttl_seconds":9223372036854775807}`, "ttl_seconds must be an integer from 1 to 2592000 (30 days)"},
		{"token: ttl zero", tokensPath, `{"user_id":1,"ttl_seconds":0}`, "ttl_seconds must be an integer from 1 to 2592000 (30 days)"},
		{"token: unknown field", tokensPath, `{"user":1}`, `unknown field "user"; the fields are user_id, ttl_seconds`},

		{"replay: neither", replayPath, `{}`, `give either ids, a list of dead-letter ids, or "all": true, not both`},
		{"replay: both", replayPath, `{"ids":[1],"all":true}`, `give either ids, a list of dead-letter ids, or "all": true, not both`},
		{"replay: ids of strings", replayPath, `{"ids":["1"]}`, "ids must be a list of integers"},
		{"replay: ids not a list", replayPath, `{"ids":1}`, "ids must be a list of integers"},
		{"replay: all as a string", replayPath, `{"all":"yes"}`, "all must be true or false"},
		{"replay: zero id", replayPath, `{"ids":[0]}`, "ids must be a list of dead-letter ids, integers of 1 or more"},
		{"discard: no ids", discardPath, `{}`, "ids is required: a list of dead-letter ids"},
		{"discard: all", discardPath, `{"all":true}`, `unknown field "all"; the fields are ids`},

		{"stock: no add", stockPath, `{}`, "add is required: the units to add, an integer from 1 to 1000000"},
		{"stock: add as a string", stockPath, `{"add":"5"}`, "add must be an integer"},
		{"stock: add zero", stockPath, `{"add":0}`, "add must be an integer from 1 to 1000000"},
		{"stock: add too many", stockPath, `{"add":1000001}`, "add must be an integer from 1 to 1000000"},
		{"stock: request id too long", stockPath, `{"add":1,"request_id":"` + strings.Repeat("r", 101) + `"}`,
			"request_id must be 1 to 100 letters, digits or . _ : -"},
		{"stock: request id with a space", stockPath, `{"add":1,"request_id":"a b"}`,
			"request_id must be 1 to 100 letters, digits or . _ : -"},
		{"stock: unknown field", stockPath, `{"n":1}`, `unknown field "n"; the fields are add, request_id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body)))
			var got ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%d %s: %v", w.Code, w.Body, err)
			}
			if w.Code != http.StatusBadRequest || got.Error.Code != CodeInvalidRequest {
				t.Fatalf("got %d %q, want 400 invalid_request: %s", w.Code, got.Error.Code, w.Body)
			}
			if got.Error.Message != tt.want {
				t.Fatalf("message %q\n                 want %q", got.Error.Message, tt.want)
			}
		})
	}
}

// TestPurchaseBodyMessages: the purchase takes no fields and says so.
func TestPurchaseBodyMessages(t *testing.T) {
	e := newEdge(t, openSale{}, nil)
	for body, want := range map[string]string{
		`{"user_id":99}`: `unknown field "user_id"; the body takes no fields`,
		`<xml/>`:         "the body is not valid JSON (at byte 1)",
		`{} trailing`:    "the body must be one JSON object with nothing after it",
		`"x"`:            "the body must be a JSON object",
	} {
		w := e.buy(t, "192.0.2.1:1", e.bearer(t, 42), "", body)
		var got ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusBadRequest || got.Error.Message != want {
			t.Errorf("body %s: %d %s, want 400 %q", body, w.Code, w.Body, want)
		}
	}
}

// TestNewSaleDefaults: price_cents 0 is a price; a sale without
// payment_window_seconds gets the default, and every sale answer shows it.
func TestNewSaleDefaults(t *testing.T) {
	h := newMessageAdmin(t)
	now := time.Now().UTC()
	create := func(extra string) map[string]any {
		t.Helper()
		body := `{"name":"free","price_cents":0,"total_stock":3,"starts_at":"` + now.Format(time.RFC3339) +
			`","ends_at":"` + now.Add(time.Hour).Format(time.RFC3339) + `"` + extra + `}`
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/admin/v1/sales", strings.NewReader(body)))
		if w.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", body, w.Code, w.Body)
		}
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := create(""); got["payment_window_seconds"] != float64(DefaultPaymentWindowSeconds) || got["price_cents"] != float64(0) {
		t.Fatalf("without a window: %v, want payment_window_seconds %d and price_cents 0", got, DefaultPaymentWindowSeconds)
	}
	if got := create(`,"payment_window_seconds":0`); got["payment_window_seconds"] != float64(0) {
		t.Fatalf("window 0: %v, want payment_window_seconds present and 0", got)
	}
	if got := create(`,"payment_window_seconds":60`); got["payment_window_seconds"] != float64(60) {
		t.Fatalf("window 60: %v", got)
	}
}

// TestUnauthorizedMessages: a refused token is told in a sentence of its
// own; the code says it is unauthorized, the message says why.
func TestUnauthorizedMessages(t *testing.T) {
	e := newEdge(t, openSale{}, nil)
	for auth, want := range map[string]string{
		"":                 "missing bearer token",
		"Bearer not.a.jwt": "invalid token",
	} {
		w := e.buy(t, "192.0.2.1:1", auth, "", "")
		var got ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusUnauthorized || got.Error.Message != want {
			t.Errorf("Authorization %q: %d %s, want 401 %q", auth, w.Code, w.Body, want)
		}
	}
}

// TestOutcomeUnknownNamesTheOrder: a purchase whose reservation's outcome
// could not be learned is a 503 unavailable that names the order number,
// where the 409 already_purchased names it, so the client can poll it.
func TestOutcomeUnknownNamesTheOrder(t *testing.T) {
	const no = "01937a4e-8f2b-7c3d-9e4f-5a6b7c8d9e0f"
	e := newEdge(t, openSale{err: fmt.Errorf("place: %w", &order.OutcomeUnknownError{OrderNo: no, Err: order.ErrReserveUnknown})}, nil)
	w := e.buy(t, "192.0.2.1:1", e.bearer(t, 42), "", "")
	var got ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusServiceUnavailable || got.Error.Code != CodeUnavailable || got.OrderNo != no || got.Error.OrderNo != no ||
		!strings.Contains(got.Error.Message, "/api/v1/orders/"+no) {
		t.Errorf("answer %d %s, want 503 unavailable naming order %s and how to poll it", w.Code, w.Body, no)
	}
	if w := e.buy(t, "192.0.2.2:1", e.bearer(t, 43), "", ""); w.Code != http.StatusServiceUnavailable {
		t.Errorf("second answer %d", w.Code)
	}
}
