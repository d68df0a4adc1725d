package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
)

// TestObserveBoundsSeries: requests are counted per route template, method
// and status class, and neither made-up paths nor made-up methods add
// series.
func TestObserveBoundsSeries(t *testing.T) {
	gin.SetMode(gin.TestMode)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	h := NewPublic(PublicConfig{
		Orders: soldOutSale{}, Tokens: NewTokens(testSecret), BodyLimit: 1 << 10,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: m,
	})
	send := func(method, path string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, http.NoBody))
	}
	for i := range 50 {
		send("BREW"+strings.Repeat("X", i), "/api/v1/sales/7")
		send(http.MethodGet, "/no/such/path/"+strings.Repeat("y", i))
		send(http.MethodGet, "/healthz")
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "seckill_http_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["route"]+" "+labels["method"]+" "+labels["code"]] = mt.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"/healthz GET 2xx":    50,
		"unmatched GET 4xx":   50,
		"unmatched other 4xx": 50,
	}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("series %q = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
