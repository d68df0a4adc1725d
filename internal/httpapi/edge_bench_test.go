package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// soldOutSale answers every purchase as a sale known to be sold out does:
// from the local flag, without a backend.
type soldOutSale struct{}

func (soldOutSale) KnownSoldOut(int64, int64) error { return order.ErrSoldOut }
func (soldOutSale) Place(context.Context, int64, int64) (order.Order, error) {
	return order.Order{}, order.ErrSoldOut
}
func (soldOutSale) Order(context.Context, int64, string) (order.Order, error) {
	return order.Order{}, order.ErrOrderNotFound
}

// BenchmarkEdge is the cost of the HTTP edge in-process, without sockets:
// a sold-out purchase by a new user against a bare gin handler doing
// nothing, the baseline the load benchmark compares with.
func BenchmarkEdge(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	tok := NewTokens(testSecret)
	headers := bearerHeaders(b, tok, 1<<14)
	hello := gin.New()
	hello.POST("/hello", func(c *gin.Context) { c.JSON(http.StatusAccepted, gin.H{"ok": true}) })
	api := NewPublic(PublicConfig{
		Orders: soldOutSale{}, Tokens: tok, BodyLimit: 1 << 10,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
	})
	for _, tc := range []struct {
		name, path string
		h          http.Handler
		want       int
	}{
		{"hello", "/hello", hello, http.StatusAccepted},
		{"sold-out", "/api/v1/sales/7/orders", api, http.StatusConflict},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, tc.path, http.NoBody)
				r.Header.Set("Authorization", headers[i%len(headers)])
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, r)
				if w.Code != tc.want {
					b.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
				}
				i++
			}
		})
	}
}
