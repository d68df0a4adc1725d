package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
)

// TestIPv6ClientsKeyedBySlash64: an IPv6 client owns a whole /64, so every
// address of one /64 shares the per-IP bucket, and another /64 has its own;
// IPv4 clients are keyed by their address.
func TestIPv6ClientsKeyedBySlash64(t *testing.T) {
	tests := []struct {
		name    string
		peer    func(i int) string
		limited int
	}{
		{"addresses of one /64", func(i int) string { return fmt.Sprintf("[2001:db8:1:2:%x::%x]:4000", i, i+1) }, 55},
		{"one address per /64", func(i int) string { return fmt.Sprintf("[2001:db8:1:%x::1]:4000", i) }, 0},
		{"IPv4 addresses", func(i int) string { return fmt.Sprintf("198.51.100.%d:4000", i+1) }, 0},
		{"IPv4-mapped IPv6 addresses", func(i int) string { return fmt.Sprintf("[::ffff:198.51.100.%d]:4000", i+1) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdge(t, openSale{}, nil)
			limited := 0
			for i := range 60 {
				w := e.buy(t, tt.peer(i), e.bearer(t, int64(i+1)), "", "")
				if w.Code == http.StatusTooManyRequests {
					limited++
				}
			}
			if limited != tt.limited {
				t.Fatalf("%d of 60 purchases limited, want %d", limited, tt.limited)
			}
		})
	}
}

// TestDemoTokensKeyedBySlash64: the demo-token bucket of a client is its
// /64 too, so rotating addresses inside it gets no more tokens.
func TestDemoTokensKeyedBySlash64(t *testing.T) {
	h := NewPublic(PublicConfig{
		Tokens: NewTokens(testSecret), BodyLimit: 1 << 10, DemoTokens: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
	})
	codes := map[int]int{}
	for i := range demoTokenBurst + 10 {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/demo/token", http.NoBody)
		r.RemoteAddr = fmt.Sprintf("[2001:db8:7:7:%x::1]:4000", i)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes[w.Code]++
	}
	// The bucket refills at demoTokenRate a second while the loop runs: a
	// token or two more may pass, never ten.
	if codes[http.StatusOK] < demoTokenBurst || codes[http.StatusOK] > demoTokenBurst+2*demoTokenRate {
		t.Fatalf("%v from one /64, want about %d tokens and the rest 429", codes, demoTokenBurst)
	}
}
