package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// catalog is a SaleCatalog over fixed sales, newest first; it counts the
// listings it serves.
type catalog struct {
	sales    []order.SaleView
	err      error
	listings atomic.Int64
}

func (c *catalog) ListSales(_ context.Context, limit int) ([]order.SaleView, error) {
	c.listings.Add(1)
	if c.err != nil {
		return nil, c.err
	}
	return c.sales[:min(limit, len(c.sales))], nil
}

func (c *catalog) StoredSale(_ context.Context, id int64) (order.SaleView, error) {
	if c.err != nil {
		return order.SaleView{}, c.err
	}
	for _, v := range c.sales {
		if v.ID == id {
			return v, nil
		}
	}
	return order.SaleView{}, order.ErrSaleNotFound
}

func catalogSale(id int64, status order.SaleStatus, total, sold, remaining int64, loaded bool) order.SaleView {
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	return order.SaleView{
		Sale: order.Sale{
			ID: id, Name: fmt.Sprintf("sale %d", id), PriceCents: 100, TotalStock: total, Sold: sold,
			StartsAt: start, EndsAt: start.Add(time.Hour), PaymentWindow: time.Minute,
		},
		Remaining: remaining, Status: status, StockLoaded: loaded,
	}
}

func newCatalogPublic(tb testing.TB, c SaleCatalog, cfg PublicConfig) http.Handler {
	tb.Helper()
	gin.SetMode(gin.TestMode)
	cfg.Catalog = c
	cfg.Tokens = NewTokens(testSecret)
	cfg.BodyLimit = 1 << 10
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Metrics = metrics.New(prometheus.NewRegistry())
	return NewPublic(cfg)
}

func serve(h http.Handler, method, path, peer string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, http.NoBody)
	if peer != "" {
		r.RemoteAddr = peer
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestPublicSalesListing: GET /api/v1/sales lists the sales not ended,
// newest first, at most 50, a sale whose stock is not loaded with the
// database's count as remaining.
func TestPublicSalesListing(t *testing.T) {
	c := &catalog{}
	for id := int64(80); id >= 1; id-- {
		status := order.SaleActive
		switch {
		case id%3 == 0:
			status = order.SaleEnded
		case id == 79:
			status = order.SaleUpcoming
		}
		c.sales = append(c.sales, catalogSale(id, status, 10, 4, 7, id != 80))
	}
	h := newCatalogPublic(t, c, PublicConfig{})
	w := serve(h, http.MethodGet, "/api/v1/sales", "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/sales: %d %s", w.Code, w.Body)
	}
	var got PublicSalesJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Sales) != publicSalesListed {
		t.Fatalf("%d sales listed, want %d", len(got.Sales), publicSalesListed)
	}
	for i, s := range got.Sales {
		if s.Status == string(order.SaleEnded) {
			t.Errorf("sale %d is listed though it ended", s.ID)
		}
		if i > 0 && s.ID >= got.Sales[i-1].ID {
			t.Errorf("sale %d listed after %d: want newest first", s.ID, got.Sales[i-1].ID)
		}
	}
	if first := got.Sales[0]; first.ID != 80 || first.Remaining != 6 {
		t.Errorf("first listed: sale %d remaining %d; want sale 80 with total 10 − sold 4 = 6 (stock not loaded)", first.ID, first.Remaining)
	}
	if second := got.Sales[1]; second.ID != 79 || second.Remaining != 7 || second.Status != "upcoming" {
		t.Errorf("second listed: %+v; want sale 79, upcoming, remaining 7 from the stock backend", second)
	}
}

// TestPublicSalesListingMemo: a listing is served again within a second,
// read again after it; an error is not kept.
func TestPublicSalesListingMemo(t *testing.T) {
	var m listingMemo
	reads := 0
	read := func() ([]byte, error) { reads++; return fmt.Appendf(nil, "%d", reads), nil }
	t0 := time.Now()
	for _, step := range []struct {
		at   time.Duration
		want string
	}{
		{0, "1"}, {500 * time.Millisecond, "1"}, {publicListingTTL, "2"}, {publicListingTTL + 10*time.Millisecond, "2"},
		{-time.Second, "3"}, // a clock that went back reads again
	} {
		b, err := m.get(t0.Add(step.at), read)
		if err != nil || string(b) != step.want {
			t.Fatalf("at %v: %q, %v; want %q", step.at, b, err, step.want)
		}
	}
	boom := errors.New("boom")
	if _, err := m.get(t0.Add(time.Hour), func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("a failed read answered %v, want its error", err)
	}
	if b, _ := m.get(t0.Add(time.Hour), read); string(b) != "4" {
		t.Fatalf("after a failed read: %q, want a fresh read", b)
	}

	c := &catalog{sales: []order.SaleView{catalogSale(1, order.SaleActive, 3, 0, 3, true)}}
	h := newCatalogPublic(t, c, PublicConfig{})
	for range 5 {
		if w := serve(h, http.MethodGet, "/api/v1/sales", ""); w.Code != http.StatusOK {
			t.Fatalf("GET /api/v1/sales: %d %s", w.Code, w.Body)
		}
	}
	if n := c.listings.Load(); n != 1 {
		t.Fatalf("5 requests within a second read the store %d times, want once", n)
	}
}

// TestSaleStats: accepted is total − remaining, persisted the database's
// sold count; unknown sales are 404 and a backend failure 503.
func TestSaleStats(t *testing.T) {
	c := &catalog{sales: []order.SaleView{catalogSale(5, order.SaleActive, 10, 3, 6, true)}}
	h := newCatalogPublic(t, c, PublicConfig{})
	w := serve(h, http.MethodGet, "/api/v1/sales/5/stats", "")
	if w.Code != http.StatusOK {
		t.Fatalf("stats: %d %s", w.Code, w.Body)
	}
	var got SaleStatsJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := SaleStatsJSON{SaleID: 5, TotalStock: 10, Remaining: 6, Accepted: 4, Persisted: 3, Status: "active"}
	if got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
	for path, code := range map[string]int{"/api/v1/sales/6/stats": 404, "/api/v1/sales/x/stats": 404} {
		if w := serve(h, http.MethodGet, path, ""); w.Code != code {
			t.Errorf("GET %s: %d %s, want %d", path, w.Code, w.Body, code)
		}
	}
	c.err = fmt.Errorf("%w: redis down", order.ErrUnavailable)
	if w := serve(h, http.MethodGet, "/api/v1/sales/5/stats", ""); w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "redis down") {
		t.Errorf("stats with the backend down: %d %s, want 503 without the internal error", w.Code, w.Body)
	}
}

// TestDemoTokens: POST /api/v1/demo/token is served only when asked for
// (the embedded mode), hands out a working token for a fresh user each
// time, and is limited per client address.
func TestDemoTokens(t *testing.T) {
	off := newCatalogPublic(t, &catalog{}, PublicConfig{})
	if w := serve(off, http.MethodPost, "/api/v1/demo/token", ""); w.Code != http.StatusNotFound {
		t.Fatalf("without demo tokens: %d %s, want 404", w.Code, w.Body)
	}
	tokens := NewTokens(testSecret)
	h := newCatalogPublic(t, &catalog{}, PublicConfig{DemoTokens: true})
	users := map[int64]bool{}
	for i := range demoTokenBurst {
		w := serve(h, http.MethodPost, "/api/v1/demo/token", "192.0.2.1:1000")
		if w.Code != http.StatusOK {
			t.Fatalf("demo token %d: %d %s", i, w.Code, w.Body)
		}
		var got DemoTokenJSON
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		user, err := tokens.UserFromHeader("Bearer " + got.Token)
		if err != nil || user != got.UserID {
			t.Fatalf("the token is for user %d (%v), the answer says %d", user, err, got.UserID)
		}
		if got.UserID < demoUserFirst || got.UserID >= 1<<53 {
			t.Fatalf("user %d outside [%d, 2^53)", got.UserID, int64(demoUserFirst))
		}
		users[got.UserID] = true
	}
	if len(users) != demoTokenBurst {
		t.Fatalf("%d tokens went to %d users, want a fresh user each", demoTokenBurst, len(users))
	}
	limited := 0
	for range 20 {
		w := serve(h, http.MethodPost, "/api/v1/demo/token", "192.0.2.1:1000")
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") != "" {
			limited++
		}
	}
	// Tokens come back at demoTokenRate a second: the loop would have to
	// take seconds for more than a few to pass.
	if limited < 15 {
		t.Fatalf("%d of 20 requests past the burst were limited, want nearly all", limited)
	}
	if w := serve(h, http.MethodPost, "/api/v1/demo/token", "192.0.2.2:1000"); w.Code != http.StatusOK {
		t.Fatalf("another address: %d %s, want its own bucket", w.Code, w.Body)
	}
}

// TestStorefrontSwitch: GET / is served only when the storefront is on.
func TestStorefrontSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := newCatalogPublic(t, &catalog{}, PublicConfig{Storefront: on})
		w := serve(h, http.MethodGet, "/", "")
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if w.Code != want {
			t.Errorf("storefront on=%v: GET / answered %d, want %d", on, w.Code, want)
		}
	}
}
