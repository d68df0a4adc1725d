package httpapi

import (
	"context"
	"errors"
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
	dto "github.com/prometheus/client_model/go"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// openSale accepts every purchase, or fails each with err when set.
type openSale struct{ err error }

func (openSale) KnownSoldOut(int64, int64) error { return nil }
func (s openSale) Place(_ context.Context, saleID, userID int64) (order.Order, error) {
	if s.err != nil {
		return order.Order{}, s.err
	}
	return order.Order{OrderNo: fmt.Sprintf("o-%d-%d", saleID, userID), SaleID: saleID, UserID: userID}, nil
}
func (openSale) Order(context.Context, int64, string) (order.Order, error) {
	return order.Order{}, order.ErrOrderNotFound
}
func (openSale) Pay(context.Context, int64, string) (order.Order, error) {
	return order.Order{}, order.ErrOrderNotFound
}

// edge is a public listener over orders with a per-IP bucket of 5 a
// second (burst 5) whose clock stands still, so a run empties it for good.
type edge struct {
	h       http.Handler
	tokens  *Tokens
	metrics *metrics.Metrics
}

func newEdge(tb testing.TB, orders Purchaser, proxies []string) *edge {
	tb.Helper()
	gin.SetMode(gin.TestMode)
	ip := NewLimiter[string](5, 5, 1024)
	frozen := time.Now()
	ip.now = func() time.Time { return frozen }
	tok := NewTokens(testSecret)
	m := metrics.New(prometheus.NewRegistry())
	h := NewPublic(PublicConfig{
		Orders: orders, Tokens: tok, IPLimit: ip, BodyLimit: 1 << 10,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m, TrustedProxies: proxies,
	})
	return &edge{h: h, tokens: tok, metrics: m}
}

// buy sends a purchase from peer (host:port) with the given headers.
func (e *edge) buy(tb testing.TB, peer, auth, forwarded, body string) *httptest.ResponseRecorder {
	tb.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(http.MethodPost, "/api/v1/sales/7/orders", http.NoBody)
	} else {
		r = httptest.NewRequest(http.MethodPost, "/api/v1/sales/7/orders", strings.NewReader(body))
	}
	r.RemoteAddr = peer
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if forwarded != "" {
		r.Header.Set("X-Forwarded-For", forwarded)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *edge) bearer(tb testing.TB, user int64) string {
	tb.Helper()
	s, err := e.tokens.Mint(user, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return "Bearer " + s
}

// TestForgedForwardedForIsIgnored: 60 purchases by 60 users from one peer,
// each claiming another address in X-Forwarded-For, share the peer's
// bucket: 5 pass and 55 get 429 with Retry-After.
func TestForgedForwardedForIsIgnored(t *testing.T) {
	e := newEdge(t, openSale{}, nil)
	codes := map[int]int{}
	for i := range 60 {
		w := e.buy(t, "203.0.113.9:4000", e.bearer(t, int64(i+1)), fmt.Sprintf("198.51.100.%d", i+1), "")
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After: %s", w.Body)
		}
	}
	if codes[http.StatusAccepted] != 5 || codes[http.StatusTooManyRequests] != 55 {
		t.Fatalf("statuses %v, want 5×202 and 55×429: X-Forwarded-For from an untrusted peer was believed", codes)
	}
	if got := e.purchases(t, metrics.ResultRateLimited); got != 55 {
		t.Fatalf("rate_limited purchases = %v, want 55", got)
	}
}

// TestGarbageTokensAreLimitedFirst: the per-IP bucket runs before the token
// is read, so past the burst garbage tokens get 429, not 401: no signature
// is checked for them.
func TestGarbageTokensAreLimitedFirst(t *testing.T) {
	e := newEdge(t, openSale{}, nil)
	var codes []int
	for i := range 60 {
		codes = append(codes, e.buy(t, "203.0.113.9:4000", fmt.Sprintf("Bearer garbage.%d.token", i), "", "").Code)
	}
	for i, c := range codes {
		want := http.StatusTooManyRequests
		if i < 5 {
			want = http.StatusUnauthorized
		}
		if c != want {
			t.Fatalf("request %d: status %d, want %d (all: %v)", i, c, want, codes)
		}
	}
	for result, want := range map[string]float64{metrics.ResultUnauthorized: 5, metrics.ResultRateLimited: 55, metrics.ResultError: 0} {
		if got := e.purchases(t, result); got != want {
			t.Errorf("purchases{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// TestTrustedProxyForwardedFor: behind a trusted proxy each client has its
// own bucket, named by X-Forwarded-For; one client behind it still meets
// its limit, and a peer outside the trusted range is keyed on itself.
func TestTrustedProxyForwardedFor(t *testing.T) {
	e := newEdge(t, openSale{}, []string{"10.0.0.0/8"})
	for i := range 60 {
		w := e.buy(t, "10.1.2.3:4000", e.bearer(t, int64(i+1)), fmt.Sprintf("198.51.100.%d", i+1), "")
		if w.Code != http.StatusAccepted {
			t.Fatalf("client %d behind the trusted proxy: %d %s", i, w.Code, w.Body)
		}
	}
	limited := 0
	for i := range 10 {
		w := e.buy(t, "10.1.2.3:4000", e.bearer(t, int64(100+i)), "192.0.2.50, 10.9.9.9", "")
		if w.Code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 5 {
		t.Fatalf("one client behind the proxy: %d of 10 limited, want 5", limited)
	}
	limited = 0
	for i := range 10 {
		w := e.buy(t, "203.0.113.9:4000", e.bearer(t, int64(200+i)), fmt.Sprintf("198.51.100.%d", 200+i), "")
		if w.Code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 5 {
		t.Fatalf("untrusted peer with X-Forwarded-For: %d of 10 limited, want 5", limited)
	}
}

// TestPurchaseResults: every purchase lands in one result of a fixed set;
// client mistakes have their own, and error means a server-side failure.
func TestPurchaseResults(t *testing.T) {
	tests := []struct {
		name   string
		orders Purchaser
		path   string
		auth   bool
		body   string
		status int
		result string
	}{
		{"accepted", openSale{}, "", true, "", 202, metrics.ResultAccepted},
		{"no token", openSale{}, "", false, "", 401, metrics.ResultUnauthorized},
		{"unknown field", openSale{}, "", true, `{"x":1}`, 400, metrics.ResultInvalidRequest},
		{"not json", openSale{}, "", true, `<xml/>`, 400, metrics.ResultInvalidRequest},
		{"sale id not a number", openSale{}, "/api/v1/sales/abc/orders", true, "", 404, metrics.ResultNotFound},
		{"unknown sale", openSale{err: order.ErrSaleNotFound}, "", true, "", 404, metrics.ResultNotFound},
		{"body too large", openSale{}, "", true, `{"x":"` + strings.Repeat("a", 2<<10) + `"}`, 413, metrics.ResultPayloadTooLarge},
		{"sold out", soldOutSale{}, "", true, "", 409, metrics.ResultSoldOut},
		{"not started", openSale{err: order.ErrNotStarted}, "", true, "", 403, metrics.ResultNotActive},
		{"backend down", openSale{err: fmt.Errorf("%w: redis", order.ErrUnavailable)}, "", true, "", 503, metrics.ResultUnavailable},
		{"bug", openSale{err: errors.New("boom")}, "", true, "", 500, metrics.ResultError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdge(t, tt.orders, nil)
			path := tt.path
			if path == "" {
				path = "/api/v1/sales/7/orders"
			}
			var body io.Reader = http.NoBody
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(http.MethodPost, path, body)
			if tt.auth {
				r.Header.Set("Authorization", e.bearer(t, 42))
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			for _, res := range metrics.PurchaseResults {
				want := 0.0
				if res == tt.result {
					want = 1
				}
				if got := e.purchases(t, res); got != want {
					t.Errorf("purchases{result=%q} = %v, want %v", res, got, want)
				}
			}
			// Only the sold-out flag's own answer counts as one; a sold out
			// the backend decided would not.
			wantFlag := 0.0
			if _, ok := tt.orders.(soldOutSale); ok {
				wantFlag = 1
			}
			var fm dto.Metric
			if err := e.metrics.SoldOutFlagAnswers.Write(&fm); err != nil {
				t.Fatal(err)
			}
			if got := fm.GetCounter().GetValue(); got != wantFlag {
				t.Errorf("soldout flag answers = %v, want %v", got, wantFlag)
			}
		})
	}
}

// purchases reads seckill_purchases_total{result}.
func (e *edge) purchases(tb testing.TB, result string) float64 {
	tb.Helper()
	var m dto.Metric
	if err := e.metrics.Purchases.WithLabelValues(result).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
