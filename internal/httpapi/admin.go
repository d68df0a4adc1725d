package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seckill/seckill/api"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// SaleAdmin is what the admin's sale routes drive: order.Catalog
// implements it.
type SaleAdmin interface {
	CreateSale(ctx context.Context, n order.NewSale) (order.SaleView, error)
	Warmup(ctx context.Context, id int64) (order.SaleView, error)
	Reconcile(ctx context.Context, id int64) (order.Reconciliation, error)
	ListSales(ctx context.Context, limit int) ([]order.SaleView, error)
	AddStock(ctx context.Context, id, add int64, requestID string) (order.SaleView, error)
}

// AdminConfig is what the api's admin listener needs.
type AdminConfig struct {
	Sales     SaleAdmin
	Tokens    *Tokens
	Token     string // optional bearer token for /admin and pprof; its actor is "admin"
	BodyLimit int64
	Gatherer  prometheus.Gatherer
	Log       *slog.Logger
	Metrics   *metrics.Metrics
	// DeadLetters serves the dead-letter routes.
	DeadLetters DeadLetterAdmin
	// TrustedProxies are the peers whose X-Forwarded-For names the client;
	// nil trusts none.
	TrustedProxies []string
	// NamedTokens are further bearer tokens by actor name; the name of the
	// token a request carries is the actor of its audit entries.
	NamedTokens map[string]string
	// Audit keeps the audit trail of every change; nil records nothing and
	// leaves GET /admin/v1/audit out.
	Audit order.AuditLog
}

type admin struct{ AdminConfig }

// NewAdmin builds the api's admin listener: the admin API, /metrics,
// /healthz and pprof.
func NewAdmin(cfg AdminConfig) http.Handler {
	h := &admin{cfg}
	e := newOps(cfg.Gatherer, adminTokens(cfg.Token, cfg.NamedTokens), cfg.Log, cfg.Metrics)
	trustProxies(e, cfg.TrustedProxies)
	v1 := e.Group("/admin/v1") // behind the token with everything NewOps guards
	v1.GET("/sales", h.listSales)
	v1.POST("/sales", h.createSale)
	v1.POST("/sales/:id/stock", h.addStock)
	v1.POST("/sales/:id/warmup", h.warmup)
	v1.GET("/sales/:id/reconcile", h.reconcile)
	v1.POST("/tokens", h.mintToken)
	if cfg.DeadLetters != nil {
		v1.GET("/dead-letters", h.listDeadLetters)
		v1.POST("/dead-letters/replay", h.replayDeadLetters)
		v1.POST("/dead-letters/discard", h.discardDeadLetters)
	}
	if cfg.Audit != nil {
		v1.GET("/audit", h.listAudit)
	}
	v1.GET("/openapi.yaml", openAPI)
	return e
}

// openAPI serves the OpenAPI document of every route (api/openapi.yaml).
func openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", api.OpenAPI())
}

// NewOps builds the operations listener every binary has: /healthz,
// /metrics and pprof. With a token set, every route but /healthz — /metrics,
// pprof, the routes added to the engine later (NewAdmin's) and the answers
// to unknown paths — requires "Authorization: Bearer <token>".
func NewOps(g prometheus.Gatherer, token string, log *slog.Logger, m *metrics.Metrics) *gin.Engine {
	return newOps(g, adminTokens(token, nil), log, m)
}

// adminTokens are the bearer tokens of an admin listener by actor name:
// token as ActorAdmin, when set, and the named ones.
func adminTokens(token string, named map[string]string) map[string]string {
	out := make(map[string]string, len(named)+1)
	if token != "" {
		out[ActorAdmin] = token
	}
	for name, t := range named {
		out[name] = t
	}
	return out
}

// newOps is NewOps guarded by any of tokens (actor name to token).
func newOps(g prometheus.Gatherer, tokens map[string]string, log *slog.Logger, m *metrics.Metrics) *gin.Engine {
	e := newEngine(log, m)
	// Probes carry no token: /healthz is added before the guard, which
	// gin's Use puts in front of the routes added after it only (and of
	// the 404 and 405 answers).
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.Use(bearer(tokens))
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: false})))
	dbg := e.Group("/debug/pprof")
	dbg.GET("/", gin.WrapF(pprof.Index))
	dbg.GET("/cmdline", gin.WrapF(pprof.Cmdline))
	dbg.GET("/profile", gin.WrapF(pprof.Profile))
	dbg.POST("/symbol", gin.WrapF(pprof.Symbol))
	dbg.GET("/symbol", gin.WrapF(pprof.Symbol))
	dbg.GET("/trace", gin.WrapF(pprof.Trace))
	dbg.GET("/:name", func(c *gin.Context) { pprof.Handler(c.Param("name")).ServeHTTP(c.Writer, c.Request) })
	return e
}

// bearer requires "Authorization: Bearer <token>" with one of tokens (actor
// name to token) when any is set, and names the matching token's actor in
// the request (ActorAnonymous when none is set). The presented token is
// compared with every configured one as SHA-256 digests in constant time,
// without stopping at a match, so neither their bytes nor their lengths
// nor which one matched show in the time an answer takes.
func bearer(tokens map[string]string) gin.HandlerFunc {
	if len(tokens) == 0 {
		return func(c *gin.Context) { c.Set(actorKey, ActorAnonymous) }
	}
	type digest struct {
		actor string
		sum   [sha256.Size]byte
	}
	want := make([]digest, 0, len(tokens))
	for name, t := range tokens {
		want = append(want, digest{actor: name, sum: sha256.Sum256([]byte(t))})
	}
	return func(c *gin.Context) {
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		matched := ""
		for _, w := range want {
			if subtle.ConstantTimeCompare(sum[:], w.sum[:]) == 1 {
				matched = w.actor
			}
		}
		if matched != "" && ok {
			c.Set(actorKey, matched)
		}
		if matched == "" || !ok {
			c.Header("WWW-Authenticate", `Bearer realm="seckill admin"`)
			// PureJSON: the message's <…> reads as written, not as \u003c…\u003e.
			c.Abort()
			c.PureJSON(http.StatusUnauthorized, ErrorBody{Error: ErrorDetail{
				Code: CodeUnauthorized, Message: "admin token required: send Authorization: Bearer <SECKILL_ADMIN_TOKEN>",
			}})
		}
	}
}

// NewSaleJSON is the body of POST /admin/v1/sales. Every field is required
// but payment_window_seconds (DefaultPaymentWindowSeconds when left out;
// 0 lets unpaid orders stand for good) and request_id (a retry under the
// same one answers the sale the first call created, 200).
type NewSaleJSON struct {
	Name                 string         `json:"name"`
	PriceCents           int64          `json:"price_cents"`
	TotalStock           int64          `json:"total_stock"`
	StartsAt             time.Time      `json:"starts_at"`
	EndsAt               time.Time      `json:"ends_at"`
	PaymentWindowSeconds int64          `json:"payment_window_seconds"`
	Admission            *AdmissionJSON `json:"admission,omitempty"`
	RequestID            string         `json:"request_id,omitempty"`
}

// DefaultPaymentWindowSeconds is the payment window of a sale created
// without payment_window_seconds: 15 minutes.
const DefaultPaymentWindowSeconds = 900

// maxPaymentWindowSeconds bounds payment_window_seconds: 30 days.
const maxPaymentWindowSeconds = 30 * 24 * 3600

// newSaleBody is NewSaleJSON as it is decoded: a field left out stays nil,
// so that a missing field is told from a zero.
type newSaleBody struct {
	Name                 *string  `json:"name"`
	PriceCents           *int64   `json:"price_cents"`
	TotalStock           *int64   `json:"total_stock"`
	StartsAt             *apiTime `json:"starts_at"`
	EndsAt               *apiTime `json:"ends_at"`
	PaymentWindowSeconds *int64   `json:"payment_window_seconds"`
	// Admission is optional: both fields 0 (or absent) lets everyone in.
	Admission *AdmissionJSON `json:"admission"`
	RequestID *string        `json:"request_id"`
}

// newSale checks that every required field is there and that the sale
// ends after now, and turns the body into the domain's NewSale; the domain
// checks the other values.
func (b newSaleBody) newSale(now time.Time) (order.NewSale, error) {
	var missing []field
	for _, f := range []struct {
		absent bool
		field
	}{
		{b.Name == nil, field{"name", "a string of 1 to 200 bytes"}},
		{b.PriceCents == nil, field{"price_cents", "the price in cents, an integer of 0 or more"}},
		{b.TotalStock == nil, field{"total_stock", "the units on sale, an integer of 1 or more"}},
		{b.StartsAt == nil, field{"starts_at", timeForm}},
		{b.EndsAt == nil, field{"ends_at", timeForm}},
	} {
		if f.absent {
			missing = append(missing, f.field)
		}
	}
	if len(missing) > 0 {
		return order.NewSale{}, required(missing...)
	}
	if !b.EndsAt.After(now) {
		return order.NewSale{}, order.Invalid("ends_at must be in the future")
	}
	window := int64(DefaultPaymentWindowSeconds)
	if b.PaymentWindowSeconds != nil {
		window = *b.PaymentWindowSeconds
	}
	if window < 0 || window > maxPaymentWindowSeconds {
		return order.NewSale{}, order.Invalidf("payment_window_seconds must be an integer from 0 (unpaid orders never expire) to %d (30 days)", maxPaymentWindowSeconds)
	}
	n := order.NewSale{
		Name: *b.Name, PriceCents: *b.PriceCents, TotalStock: *b.TotalStock,
		StartsAt: b.StartsAt.Time, EndsAt: b.EndsAt.Time, PaymentWindow: time.Duration(window) * time.Second,
	}
	if b.Admission != nil {
		n.Admission = order.Admission{RatePerSecond: b.Admission.RatePerSecond, PowBits: b.Admission.PowBits}
	}
	return n, nil
}

// field is a body field and the form it takes, in the API's words.
type field struct{ name, form string }

// required is the error of required fields left out, naming each of them.
func required(missing ...field) error {
	if len(missing) == 1 {
		return order.Invalidf("%s is required: %s", missing[0].name, missing[0].form)
	}
	named := make([]string, len(missing))
	for i, f := range missing {
		named[i] = f.name + " (" + f.form + ")"
	}
	return order.Invalid("these fields are required: " + strings.Join(named, ", "))
}

func (h *admin) createSale(c *gin.Context) {
	var in newSaleBody
	if err := decodeStrict(c.Request, h.BodyLimit, &in, false); err != nil {
		writeError(c, h.Log, err)
		return
	}
	n, err := in.newSale(time.Now())
	if err == nil {
		n.RequestID, err = requestIDOf(in.RequestID)
	}
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	// The entry is written in the transaction that stores the sale.
	ctx, note := h.auditNote(c, order.AuditSaleCreated, func(e *order.AuditEntry, v order.Sale) {
		e.Target = order.SaleTarget(v.ID)
		e.Detail = fmt.Sprintf("name %q, price_cents %d, total_stock %d, starts_at %s, ends_at %s",
			v.Name, v.PriceCents, v.TotalStock, v.StartsAt.UTC().Format(time.RFC3339), v.EndsAt.UTC().Format(time.RFC3339))
		if v.Admission.On() {
			e.Detail += fmt.Sprintf(", admission rate_per_second %d, pow_bits %d", v.Admission.RatePerSecond, v.Admission.PowBits)
		}
	})
	v, err := h.Sales.CreateSale(ctx, n)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	if v.Replayed { // a retry: the first request created the sale
		c.JSON(http.StatusOK, saleJSON(v))
		return
	}
	h.Log.InfoContext(c.Request.Context(), "sale created", "sale_id", v.ID, "total_stock", v.TotalStock,
		"starts_at", v.StartsAt, "ends_at", v.EndsAt, "request_id", n.RequestID)
	h.auditUnlessWritten(c, note, v.Sale)
	c.JSON(http.StatusCreated, saleJSON(v))
}

func (h *admin) warmup(c *gin.Context) {
	id, v, ok := callForSale(c, h.Log, "id", h.Sales.Warmup)
	if !ok {
		return
	}
	h.Log.InfoContext(c.Request.Context(), "sale stock warmed", "sale_id", id, "remaining", v.Remaining)
	h.audit(c, order.AuditSaleWarmed, order.SaleTarget(v.ID), fmt.Sprintf("remaining %d", v.Remaining))
	c.JSON(http.StatusOK, saleJSON(v))
}

// ReconcileJSON is the body of GET /admin/v1/sales/{id}/reconcile.
type ReconcileJSON struct {
	SaleID           int64 `json:"sale_id"`
	TotalStock       int64 `json:"total_stock"`
	Remaining        int64 `json:"remaining"`
	ReservedInFlight int64 `json:"reserved_in_flight"`
	Persisted        int64 `json:"persisted"`
	Cancelled        int64 `json:"cancelled"`
	Consistent       bool  `json:"consistent"`
	StockLoaded      bool  `json:"stock_loaded"`
	Orphans          int64 `json:"orphans"`
	Gap              int64 `json:"gap"`
	// OldestInFlightSeconds is the age of the oldest reservation whose
	// order MySQL does not hold yet (0 when none); past the settle bound
	// the sale is not consistent.
	OldestInFlightSeconds float64 `json:"oldest_in_flight_seconds"`
}

func (h *admin) reconcile(c *gin.Context) {
	id, r, ok := callForSale(c, h.Log, "id", h.Sales.Reconcile)
	if !ok {
		return
	}
	label := strconv.FormatInt(id, 10)
	h.Metrics.ReconcileGap.WithLabelValues(label).Set(float64(r.Gap()))
	h.Metrics.ReconcileInFlight.WithLabelValues(label).Set(float64(r.ReservedInFlight))
	h.Metrics.ReconcilePersisted.WithLabelValues(label).Set(float64(r.Persisted))
	h.Metrics.SaleRemaining.WithLabelValues(label).Set(float64(r.Remaining))
	if !r.Consistent {
		h.Log.WarnContext(c.Request.Context(), "sale inconsistent", "sale_id", id, "gap", r.Gap(),
			"stock_loaded", r.StockLoaded, "orphans", r.Orphans, "oldest_in_flight", r.OldestInFlight)
	}
	c.JSON(http.StatusOK, ReconcileJSON{
		SaleID: r.SaleID, TotalStock: r.TotalStock, Remaining: r.Remaining, ReservedInFlight: r.ReservedInFlight,
		Persisted: r.Persisted, Cancelled: r.Cancelled, Consistent: r.Consistent,
		StockLoaded: r.StockLoaded, Orphans: r.Orphans, Gap: r.Gap(),
		OldestInFlightSeconds: r.OldestInFlight.Seconds(),
	})
}

// TokenRequest is the body of POST /admin/v1/tokens.
type TokenRequest struct {
	UserID     int64 `json:"user_id"`
	TTLSeconds int64 `json:"ttl_seconds"`
}

// defaultTokenTTLSeconds is the lifetime of a token minted without
// ttl_seconds: an hour.
const defaultTokenTTLSeconds = 3600

// maxTokenTTLSeconds bounds ttl_seconds: 30 days.
const maxTokenTTLSeconds = 30 * 24 * 3600

// tokenBody is TokenRequest as it is decoded.
type tokenBody struct {
	UserID     *int64 `json:"user_id"`
	TTLSeconds *int64 `json:"ttl_seconds"`
}

func (h *admin) mintToken(c *gin.Context) {
	var in tokenBody
	if err := decodeStrict(c.Request, h.BodyLimit, &in, false); err != nil {
		writeError(c, h.Log, err)
		return
	}
	if in.UserID == nil {
		writeError(c, h.Log, required(field{"user_id", "the user's id, an integer of 1 or more"}))
		return
	}
	ttl := int64(defaultTokenTTLSeconds)
	if in.TTLSeconds != nil {
		ttl = *in.TTLSeconds
	}
	if ttl < 1 || ttl > maxTokenTTLSeconds {
		writeError(c, h.Log, order.Invalidf("ttl_seconds must be an integer from 1 to %d (30 days)", maxTokenTTLSeconds))
		return
	}
	tok, err := h.Tokens.Mint(*in.UserID, time.Duration(ttl)*time.Second)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	h.auditCounted(c, order.AuditTokensMinted, "user tokens", "minted user tokens")
	c.JSON(http.StatusOK, gin.H{"token": tok})
}
