package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/throttle"
)

// TestReadyzNamesBackends: /readyz answers 503 naming the backends that do
// not answer, without their error text (that goes to the log), and 200
// once every one answers.
func TestReadyzNamesBackends(t *testing.T) {
	gin.SetMode(gin.TestMode)
	const detail = "dial tcp 10.9.8.7:6379: i/o timeout (user seckill:hunter2)"
	down := map[string]bool{"redis": true, "rabbitmq": true}
	ping := func(name string) func(context.Context) error {
		return func(context.Context) error {
			if down[name] {
				return errors.New(detail)
			}
			return nil
		}
	}
	var logged bytes.Buffer
	h := NewPublic(PublicConfig{
		Tokens: NewTokens(testSecret), BodyLimit: 1 << 10, ReadyTTL: -1, // every probe pings
		Checks: []Check{{Name: "mysql", Ping: ping("mysql")}, {Name: "redis", Ping: ping("redis")}, {Name: "rabbitmq", Ping: ping("rabbitmq")}},
		Log:    slog.New(slog.NewTextHandler(&logged, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
	})
	get := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", http.NoBody))
		return w
	}
	w := get()
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with two backends down: %d, want 503", w.Code)
	}
	var body ReadyJSON
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"redis": "does not answer", "rabbitmq": "does not answer"}
	if !maps.Equal(body.Failed, want) || body.Error.Code != CodeUnavailable ||
		!strings.Contains(body.Error.Message, "redis, rabbitmq") {
		t.Fatalf("body %s, want redis and rabbitmq named", w.Body)
	}
	for _, leak := range []string{"10.9.8.7", "hunter2", "timeout"} {
		if strings.Contains(w.Body.String(), leak) {
			t.Fatalf("body %s carries the internal error text %q", w.Body, leak)
		}
	}
	if !strings.Contains(logged.String(), "backend=redis") || !strings.Contains(logged.String(), "10.9.8.7") {
		t.Fatalf("the failing check is not logged with its error:\n%s", logged.String())
	}

	clear(down)
	if w := get(); w.Code != http.StatusOK {
		t.Fatalf("/readyz with every backend up: %d %s", w.Code, w.Body)
	}
}

// TestReadyzAnswersFromAShortMemo: a flood of probes pings each backend
// once per ReadyTTL, not once per probe, and a 503's log line is not
// repeated for every probe either.
func TestReadyzAnswersFromAShortMemo(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var pings atomic.Int64
	var logged bytes.Buffer
	h := NewPublic(PublicConfig{
		Tokens: NewTokens(testSecret), BodyLimit: 1 << 10, ReadyTTL: 200 * time.Millisecond,
		Checks: []Check{{Name: "redis", Ping: func(context.Context) error { pings.Add(1); return errors.New("refused") }}},
		Log:    slog.New(slog.NewTextHandler(&logged, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
	})
	probe := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", http.NoBody))
		return w.Code
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c := probe(); c != http.StatusServiceUnavailable {
				t.Errorf("/readyz: %d, want 503", c)
			}
		}()
	}
	wg.Wait()
	if n := pings.Load(); n != 1 {
		t.Fatalf("50 probes at once pinged the backend %d times, want 1", n)
	}
	time.Sleep(250 * time.Millisecond) // past ReadyTTL: the next probe pings again
	probe()
	if n := pings.Load(); n != 2 {
		t.Fatalf("a probe after ReadyTTL: %d pings in all, want 2", n)
	}
	if n := strings.Count(logged.String(), "not ready"); n != 1 {
		t.Fatalf("%d \"not ready\" lines for two failed pings within the log interval, want 1:\n%s", n, logged.String())
	}
}

// TestUnavailableLogThrottled: a crowd answered 503 while a backend is
// down leaves one log line per interval, not one per request.
func TestUnavailableLogThrottled(t *testing.T) {
	saved := unavailableLog
	unavailableLog = &throttle.Log{Interval: time.Hour}
	t.Cleanup(func() { unavailableLog = saved })
	var logged bytes.Buffer
	tok := NewTokens(testSecret)
	h := NewPublic(PublicConfig{
		Orders: openSale{err: fmt.Errorf("%w: redis: connection refused", order.ErrUnavailable)}, Tokens: tok, BodyLimit: 1 << 10,
		Log: slog.New(slog.NewTextHandler(&logged, nil)), Metrics: metrics.New(prometheus.NewRegistry()),
	})
	s, err := tok.Mint(42, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/sales/7/orders", http.NoBody)
		r.Header.Set("Authorization", "Bearer "+s)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("purchase with the backend down: %d %s, want 503", w.Code, w.Body)
		}
	}
	if n := strings.Count(logged.String(), "request unavailable"); n != 1 {
		t.Fatalf("%d \"request unavailable\" lines for 100 answers within the interval, want 1", n)
	}
}
