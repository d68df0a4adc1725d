package app_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
)

// BenchmarkPurchase is the api's own cost of a contended purchase: a new
// user each time buying one unit of a sale far larger than the run, the
// public handler called in process (no sockets, no load generator) on the
// real Redis and RabbitMQ, with the publish and reservation batching of
// the api's defaults. 64 purchases run at once, so reservations and
// publishes are shared as under a crowd. No worker runs: the messages
// wait in the run's queue, deleted at the end.
//
// The allocations per purchase are the figure to compare between two
// commits (`go test -run '^$' -bench Purchase -benchmem ./internal/app/`);
// the time per purchase includes the waits on the servers, and the
// servers' CPU is not in it.
func BenchmarkPurchase(b *testing.B) {
	var defaults config.API
	if err := env.ParseWithOptions(&defaults, env.Options{Environment: map[string]string{}}); err != nil {
		b.Fatal(err)
	}
	s := newSystem(b, "redis", func(c *config.API) {
		c.PublishBatch, c.PublishInFlight, c.PublishMaxInFlight = defaults.PublishBatch, defaults.PublishInFlight, defaults.PublishMaxInFlight
		c.PublishLinger, c.PublishFill = defaults.PublishLinger, defaults.PublishFill
		c.ReserveLinger, c.ReserveFill = defaults.ReserveLinger, defaults.ReserveFill
	})
	sale := s.createSale(b, 1<<40, -time.Minute)
	url := "/api/v1/sales/" + strconv.FormatInt(sale, 10) + "/orders"
	tokens := httpapi.NewTokens([]byte(s.cfg.JWTSecret))
	headers := make([]string, b.N)
	for i := range headers {
		tok, err := tokens.Mint(int64(i+1), time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		headers[i] = "Bearer " + tok
	}
	var next atomic.Int64
	var failed atomic.Value
	b.SetParallelism(32) // 64 at once on this machine's 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, url, http.NoBody)
			r.Header.Set("Authorization", headers[next.Add(1)-1])
			w := httptest.NewRecorder()
			s.api.Public.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				failed.CompareAndSwap(nil, strconv.Itoa(w.Code)+" "+w.Body.String())
			}
		}
	})
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatalf("a purchase was answered %s, want 202", f)
	}
}
