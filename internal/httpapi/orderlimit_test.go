package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
)

// TestOrderRoutesAreLimited: reading and paying an order meet the per-IP
// bucket before the token is read (garbage tokens past the burst get 429,
// not 401) and the per-user bucket after it, both with Retry-After.
func TestOrderRoutesAreLimited(t *testing.T) {
	routes := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/orders/o-1"},
		{http.MethodPost, "/api/v1/orders/o-1/pay"},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			ip, user := NewLimiter[string](5, 5, 1024), NewLimiter[int64](3, 3, 1024)
			frozen := time.Now()
			ip.now = func() time.Time { return frozen }
			user.now = ip.now
			tok := NewTokens(testSecret)
			h := NewPublic(PublicConfig{
				Orders: openSale{}, Payments: openSale{}, Tokens: tok, IPLimit: ip, UserLimit: user, BodyLimit: 1 << 10,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
			})
			send := func(peer, auth string) *httptest.ResponseRecorder {
				r := httptest.NewRequest(rt.method, rt.path, http.NoBody)
				r.RemoteAddr = peer
				r.Header.Set("Authorization", auth)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
					t.Fatalf("429 without Retry-After: %s", w.Body)
				}
				return w
			}
			codes := map[int]int{}
			for i := range 40 {
				codes[send("203.0.113.9:4000", fmt.Sprintf("Bearer garbage.%d.token", i)).Code]++
			}
			if codes[http.StatusUnauthorized] != 5 || codes[http.StatusTooManyRequests] != 35 {
				t.Fatalf("40 requests from one address: %v, want 5×401 and 35×429", codes)
			}
			mint, err := tok.Mint(42, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			codes = map[int]int{}
			for i := range 10 { // one user from ten addresses
				codes[send(fmt.Sprintf("198.51.100.%d:4000", i+1), "Bearer "+mint).Code]++
			}
			if codes[http.StatusNotFound] != 3 || codes[http.StatusTooManyRequests] != 7 {
				t.Fatalf("10 requests of one user: %v, want 3×404 and 7×429", codes)
			}
		})
	}
}
