package httpapi

import (
	"encoding/json"
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

const adminToken = "admin-token-0123456789abcdef-0123"

// TestAdminToken: with a token set, every route of both admin listeners
// but /healthz — /metrics and pprof included, unknown paths too — answers
// 401 with the standard error body unless the request carries
// "Authorization: Bearer <token>"; without a token everything is open.
func TestAdminToken(t *testing.T) {
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	build := map[string]func(token string) http.Handler{
		"api": func(token string) http.Handler {
			reg := prometheus.NewRegistry()
			return NewAdmin(AdminConfig{
				Tokens: NewTokens(testSecret), Token: token, BodyLimit: 1 << 10,
				Gatherer: reg, Log: log, Metrics: metrics.New(reg),
			})
		},
		"worker": func(token string) http.Handler {
			reg := prometheus.NewRegistry()
			return NewOps(reg, token, log, metrics.New(reg))
		},
	}
	type req struct{ method, path, body string }
	guarded := []req{
		{http.MethodGet, "/metrics", ""},
		{http.MethodGet, "/debug/pprof/", ""},
		{http.MethodGet, "/debug/pprof/cmdline", ""},
		{http.MethodGet, "/debug/pprof/goroutine?debug=1", ""},
		{http.MethodGet, "/no/such/path", ""},
	}
	apiOnly := []req{{http.MethodPost, "/admin/v1/tokens", `{"user_id":42,"ttl_seconds":60}`}}
	for name, newHandler := range build {
		t.Run(name, func(t *testing.T) {
			h := newHandler(adminToken)
			open := newHandler("")
			send := func(h http.Handler, r req, auth string) *httptest.ResponseRecorder {
				hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
				if auth != "" {
					hr.Header.Set("Authorization", auth)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, hr)
				return w
			}
			routes := guarded
			if name == "api" {
				routes = append(routes, apiOnly...)
			}
			for _, r := range routes {
				for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Bearer " + adminToken + "x",
					"Bearer " + adminToken[:len(adminToken)-1], "bearer " + adminToken, "Basic " + adminToken, adminToken} {
					w := send(h, r, auth)
					if w.Code != http.StatusUnauthorized {
						t.Fatalf("%s %s with %q: %d, want 401", r.method, r.path, auth, w.Code)
					}
					var body ErrorBody
					if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != CodeUnauthorized || body.Error.Message == "" {
						t.Fatalf("%s %s with %q: body %s, want the error body with code unauthorized", r.method, r.path, auth, w.Body)
					}
					if !strings.Contains(w.Body.String(), "<SECKILL_ADMIN_TOKEN>") {
						t.Fatalf("%s %s: body %s does not name SECKILL_ADMIN_TOKEN as written", r.method, r.path, w.Body)
					}
					if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
						t.Fatalf("%s %s: no WWW-Authenticate challenge", r.method, r.path)
					}
				}
				want := http.StatusOK
				if r.path == "/no/such/path" {
					want = http.StatusNotFound
				}
				if w := send(h, r, "Bearer "+adminToken); w.Code != want {
					t.Fatalf("%s %s with the token: %d %s, want %d", r.method, r.path, w.Code, w.Body, want)
				}
				if w := send(open, r, ""); w.Code != want {
					t.Fatalf("%s %s without a token configured: %d, want %d", r.method, r.path, w.Code, want)
				}
			}
			if w := send(h, req{http.MethodGet, "/metrics", ""}, "Bearer "+adminToken); !strings.Contains(w.Body.String(), "seckill_") {
				t.Fatalf("/metrics with the token has no seckill_ series: %s", w.Body)
			}
			if w := send(h, req{http.MethodGet, "/healthz", ""}, ""); w.Code != http.StatusOK {
				t.Fatalf("/healthz without the token: %d, want 200", w.Code)
			}
		})
	}
}
