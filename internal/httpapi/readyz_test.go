package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
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
		Tokens: NewTokens(testSecret), BodyLimit: 1 << 10,
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
