// Package httpapi is seckill's HTTP edge: the public listener (the
// storefront page, purchases, order status, sale reads, health) and the
// admin listener (sales, tokens, reconciliation, metrics, pprof). Handlers
// decode and validate, call the domain, and map its errors in one place.
//
// It imports the domain (order, admission), metrics, the OpenAPI document (api), the
// log throttle, gin, JWT, and x/time/rate with an LRU for the rate limits;
// never an adapter (stock, store, mq, cache): the wiring hands each
// handler set the domain's use case it drives (order.UseCases).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// Purchaser is what the purchase and order-read routes drive:
// order.Purchases implements it.
type Purchaser interface {
	// KnownSoldOut answers a purchase without the backends when it can (a sale
	// known to be sold out); nil means Place must decide.
	KnownSoldOut(saleID, userID int64) error
	Place(ctx context.Context, saleID, userID int64) (order.Order, error)
	Order(ctx context.Context, userID int64, orderNo string) (order.Order, error)
}

// Payer is what the payment route drives: order.Payments implements it.
type Payer interface {
	// Pay pays the user's order; paying a paid order answers it again.
	Pay(ctx context.Context, userID int64, orderNo string) (order.Order, error)
}

// SaleReader serves sale reads. order.Catalog implements it, reading a
// sale's static fields through the memcached cache when one is configured
// (order.WithSaleCache) and its remaining stock from the stock backend.
type SaleReader interface {
	Sale(ctx context.Context, id int64) (order.SaleView, error)
}

// Check is one readiness probe: a backend that must answer.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// PublicConfig is what the public listener needs.
type PublicConfig struct {
	Orders    Purchaser
	Payments  Payer
	Sales     SaleReader
	Tokens    *Tokens
	UserLimit *Limiter[int64]  // nil: no per-user limit
	IPLimit   *Limiter[string] // nil: no per-IP limit
	BodyLimit int64
	Checks    []Check
	// ReadyTTL is how long an answer of GET /readyz is served again before
	// the backends are pinged anew: 0 is DefaultReadyTTL, below 0 pings on
	// every probe.
	ReadyTTL time.Duration
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (CIDRs or addresses); nil trusts none, so the client is the peer.
	TrustedProxies []string
	// Catalog serves the listing of open sales and a sale's live counts.
	Catalog SaleCatalog
	// Storefront serves the storefront page at GET /.
	Storefront bool
	// DemoTokens serves POST /api/v1/demo/token, which hands anyone a
	// token for a fresh random user: for the embedded mode only.
	DemoTokens bool
	// Admission is the door in front of sales: challenges, the waiting
	// room and the tickets purchases need. Nil: no sale has admission.
	Admission Admitter
}

type public struct {
	PublicConfig
	purchases children[string, prometheus.Counter] // by result
	listing   listingMemo
	ready     readyMemo
	demoLimit *Limiter[string] // demo tokens per client address
}

// NewPublic builds the public listener's handler.
func NewPublic(cfg PublicConfig) http.Handler {
	h := &public{PublicConfig: cfg}
	h.ready.ttl = cfg.ReadyTTL
	if h.ready.ttl == 0 {
		h.ready.ttl = DefaultReadyTTL
	}
	h.ready.log.Interval = readyLogInterval
	h.purchases.make = func(result string) prometheus.Counter { return cfg.Metrics.Purchases.WithLabelValues(result) }
	e := newEngine(cfg.Log, cfg.Metrics)
	trustProxies(e, cfg.TrustedProxies)
	if cfg.Storefront {
		e.GET("/", h.storefront)
	}
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", h.readyz)
	v1 := e.Group("/api/v1")
	v1.GET("/sales", h.listSales)
	v1.GET("/sales/:sale_id", h.sale)
	v1.GET("/sales/:sale_id/stats", h.saleStats)
	v1.POST("/sales/:sale_id/orders", h.purchase)
	if cfg.Admission != nil {
		v1.POST("/sales/:sale_id/challenge", h.challenge)
		v1.POST("/sales/:sale_id/admission", h.admit)
	}
	v1.GET("/openapi.yaml", h.openAPI)
	v1.GET("/orders/:order_no", h.order)
	v1.POST("/orders/:order_no/pay", h.pay)
	if cfg.DemoTokens {
		h.demoLimit = NewLimiter[string](demoTokenRate, demoTokenBurst, demoTokenKeys)
		v1.POST("/demo/token", h.demoToken)
	}
	return e
}

// SaleJSON is a sale as the API shows it.
type SaleJSON struct {
	ID                   int64     `json:"id"`
	Name                 string    `json:"name"`
	PriceCents           int64     `json:"price_cents"`
	TotalStock           int64     `json:"total_stock"`
	Remaining            int64     `json:"remaining"`
	StartsAt             time.Time `json:"starts_at"`
	EndsAt               time.Time `json:"ends_at"`
	Status               string    `json:"status"`
	PaymentWindowSeconds int64     `json:"payment_window_seconds"`
	// Admission is how buyers get in: 0 for off in either field.
	Admission AdmissionJSON `json:"admission"`
}

func saleJSON(v order.SaleView) SaleJSON {
	return SaleJSON{
		ID: v.ID, Name: v.Name, PriceCents: v.PriceCents, TotalStock: v.TotalStock, Remaining: v.Remaining,
		StartsAt: v.StartsAt.UTC(), EndsAt: v.EndsAt.UTC(), Status: string(v.Status),
		PaymentWindowSeconds: int64(v.PaymentWindow / time.Second),
		Admission:            AdmissionJSON{RatePerSecond: v.Admission.RatePerSecond, PowBits: v.Admission.PowBits},
	}
}

// OrderJSON is an order as its owner sees it.
type OrderJSON struct {
	OrderNo   string     `json:"order_no"`
	SaleID    int64      `json:"sale_id"`
	UserID    int64      `json:"user_id"`
	Status    string     `json:"status"`
	CreatedAt *time.Time `json:"created_at"`
	// Reason says why a cancelled order was cancelled: expired,
	// sold_out, duplicate_buyer, discarded or not_queued.
	Reason string `json:"reason,omitempty"`
}

func (h *public) sale(c *gin.Context) {
	_, v, ok := callForSale(c, h.Log, "sale_id", h.Sales.Sale)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, saleJSON(v))
}

func (h *public) purchase(c *gin.Context) {
	err := h.tryPurchase(c)
	h.purchases.get(purchaseResult(err)).Inc()
	if err != nil {
		writeError(c, h.Log, err)
	}
}

// tryPurchase runs the checks of a purchase cheapest first, so that a
// crowd is turned away before it costs anything:
//
//  1. the per-IP bucket, keyed on the client address (the TCP peer unless
//     it is a trusted proxy; its /64 for IPv6, see clientKey): a map
//     lookup, and nothing else has been read yet, so garbage tokens from
//     one address cannot buy signature checks;
//  2. the token, then the body;
//  3. the admission ticket, for a sale that asks for one: a signature
//     check, no backend call;
//  4. the local sold-out flag: it costs no backend call, so a known
//     sold-out sale is answered without spending a per-user token (it needs
//     the user, who may hold an order and gets its number);
//  5. the per-user bucket, then the stock backend and the queue.
func (h *public) tryPurchase(c *gin.Context) error {
	if err := h.limitIP(c); err != nil {
		return err
	}
	saleID, err := parseID(c.Param("sale_id"))
	if err != nil {
		return order.ErrSaleNotFound
	}
	userID, err := h.Tokens.UserFromHeader(c.GetHeader("Authorization"))
	if err != nil {
		return err
	}
	var body struct{}
	if err := decodeStrict(c.Request, h.BodyLimit, &body, true); err != nil {
		return err
	}
	if h.Admission != nil {
		if err := h.Admission.Check(c.Request.Context(), saleID, userID, c.GetHeader(TicketHeader)); err != nil {
			h.countRefusal(err)
			return err
		}
	}
	if err := h.Orders.KnownSoldOut(saleID, userID); err != nil {
		h.Metrics.SoldOutFlagAnswers.Inc()
		return err
	}
	if err := h.limitUser(c, userID); err != nil {
		return err
	}
	o, err := h.Orders.Place(c.Request.Context(), saleID, userID)
	if err != nil {
		return err
	}
	// Built by hand: the hottest reply of a sale, and order_no is a UUID
	// that needs no escaping.
	out := make([]byte, 0, 80)
	out = append(out, `{"order_no":"`...)
	out = append(out, o.OrderNo...)
	out = append(out, `","status":"pending"}`...)
	c.Data(http.StatusAccepted, jsonType, out)
	return nil
}

// limitIP takes a token from the client address's bucket, if there is a
// per-IP limit. It runs before the token is read.
func (h *public) limitIP(c *gin.Context) error {
	if h.IPLimit == nil {
		return nil
	}
	return limit(c, h.IPLimit, clientKey(c))
}

// limitUser takes a token from the user's bucket, if there is a per-user
// limit.
func (h *public) limitUser(c *gin.Context, userID int64) error {
	if h.UserLimit == nil {
		return nil
	}
	return limit(c, h.UserLimit, userID)
}

// orderOwner is the user of a request on one of their orders, met with
// the purchases' buckets: the per-IP one before the token is read, then
// the per-user one.
func (h *public) orderOwner(c *gin.Context) (int64, error) {
	if err := h.limitIP(c); err != nil {
		return 0, err
	}
	userID, err := h.Tokens.UserFromHeader(c.GetHeader("Authorization"))
	if err != nil {
		return 0, err
	}
	return userID, h.limitUser(c, userID)
}

// openAPI serves the OpenAPI document to the public, under the per-IP
// limit: it is the largest answer of the listener.
func (h *public) openAPI(c *gin.Context) {
	if err := h.limitIP(c); err != nil {
		writeError(c, h.Log, err)
		return
	}
	openAPI(c)
}

// limit takes a token from key's bucket in l and, when there is none,
// sets Retry-After.
func limit[K comparable](c *gin.Context, l *Limiter[K], key K) error {
	if ok, wait := l.Allow(key); !ok {
		c.Header("Retry-After", strconv.Itoa(retryAfter(wait)))
		return order.ErrRateLimited
	}
	return nil
}

func (h *public) order(c *gin.Context) {
	userID, err := h.orderOwner(c)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	o, err := h.Orders.Order(c.Request.Context(), userID, c.Param("order_no"))
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	out := OrderJSON{OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID, Status: string(o.Status)}
	if o.Status == order.StatusCancelled {
		out.Reason = o.Reason
	}
	if !o.CreatedAt.IsZero() {
		t := o.CreatedAt.UTC()
		out.CreatedAt = &t
	}
	c.JSON(http.StatusOK, out)
}

// PaymentJSON is the answer to a payment.
type PaymentJSON struct {
	OrderNo string `json:"order_no"`
	Status  string `json:"status"`
}

func (h *public) pay(c *gin.Context) {
	userID, err := h.orderOwner(c)
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	var body struct{}
	if err := decodeStrict(c.Request, h.BodyLimit, &body, true); err != nil {
		writeError(c, h.Log, err)
		return
	}
	o, err := h.Payments.Pay(c.Request.Context(), userID, c.Param("order_no"))
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	c.JSON(http.StatusOK, PaymentJSON{OrderNo: o.OrderNo, Status: string(o.Status)})
}

var errBadID = errors.New("not a positive integer id")

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q: %w", s, errBadID)
	}
	return id, nil
}

// callForSale opens a handler of one sale: it reads the sale's id from the
// path parameter param (a malformed one is an unknown sale) and calls call
// with it. ok is false when the request has been answered already, with
// the error either step met.
func callForSale[T any](c *gin.Context, log *slog.Logger, param string,
	call func(ctx context.Context, id int64) (T, error)) (id int64, v T, ok bool) {
	id, err := parseID(c.Param(param))
	if err != nil {
		writeError(c, log, order.ErrSaleNotFound)
		return 0, v, false
	}
	if v, err = call(c.Request.Context(), id); err != nil {
		writeError(c, log, err)
		return id, v, false
	}
	return id, v, true
}
