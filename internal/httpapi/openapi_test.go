package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/api"
	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// TestOpenAPIRoutes checks api/openapi.yaml against the routers, both ways
// and per listener: every route an engine registers is documented for that
// listener (under the path's servers), and every operation the document
// gives a listener is a route of its engine.
func TestOpenAPIRoutes(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("load api/openapi.yaml: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New(prometheus.NewRegistry())
	listeners := []struct {
		name   string
		server string // the listener's URL in the document's servers
		engine http.Handler
	}{
		// Everything on: the storefront page and the embedded mode's demo
		// tokens are routes of the document's public listener too.
		{"public", "http://127.0.0.1:8080", NewPublic(PublicConfig{Log: log, Metrics: m, Storefront: true, DemoTokens: true,
			Admission: admission.New([]byte("openapi"), nil, nil)})},
		{"api admin", "http://127.0.0.1:9090", NewAdmin(AdminConfig{
			Log: log, Metrics: m, Gatherer: prometheus.NewRegistry(), DeadLetters: noDeadLetters{},
			Audit: &memAudit{},
		})},
		{"worker admin", "http://127.0.0.1:9091", NewOps(prometheus.NewRegistry(), "", log, m)},
	}
	checked := 0
	for _, l := range listeners {
		t.Run(l.name, func(t *testing.T) {
			engine, ok := l.engine.(*gin.Engine)
			if !ok {
				t.Fatalf("the %s handler is a %T, not a gin engine", l.name, l.engine)
			}
			var registered []string
			for _, r := range engine.Routes() {
				registered = append(registered, r.Method+" "+ginToOpenAPI(r.Path))
			}
			documented := documentedOn(doc, l.server)
			for _, r := range registered {
				if !slices.Contains(documented, r) {
					t.Errorf("%s serves %s, which api/openapi.yaml does not document for %s", l.name, r, l.server)
				}
			}
			for _, d := range documented {
				if !slices.Contains(registered, d) {
					t.Errorf("api/openapi.yaml documents %s on %s, which the %s listener does not serve", d, l.server, l.name)
				}
			}
			checked += len(registered)
			t.Logf("%s: %d routes registered, %d operations documented", l.name, len(registered), len(documented))
		})
	}
	t.Logf("%d routes checked against api/openapi.yaml across %d listeners", checked, len(listeners))
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// ginToOpenAPI writes a gin route template the way OpenAPI does:
// /sales/:id becomes /sales/{id}.
func ginToOpenAPI(path string) string { return ginParam.ReplaceAllString(path, "{$1}") }

// documentedOn lists "METHOD /path" of every operation the document gives
// the server: the path's own servers, or the document's when it has none.
func documentedOn(doc *openapi3.T, server string) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		servers := doc.Servers
		if len(item.Servers) > 0 {
			servers = item.Servers
		}
		if !slices.ContainsFunc(servers, func(s *openapi3.Server) bool { return s.URL == server }) {
			continue
		}
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	return out
}

// noDeadLetters makes NewAdmin register the dead-letter routes.
type noDeadLetters struct{}

func (noDeadLetters) List(context.Context, int) ([]order.DeadLetter, int64, error) {
	return nil, 0, nil
}

func (noDeadLetters) Replay(context.Context, []int64, bool) (int, error) { return 0, nil }

func (noDeadLetters) Discard(context.Context, []int64) (int, error) { return 0, nil }
