// Package httpapi is seckill's HTTP edge: the public listener (purchases,
// order status, sale reads, health) and the admin listener (sales, tokens,
// reconciliation, metrics, pprof). Handlers decode and validate, call the
// domain, and map its errors in one place.
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

// Purchaser is the part of the domain the public listener drives.
type Purchaser interface {
	// Settled answers a purchase without the backends when it can (a sale
	// known to be sold out); nil means Place must decide.
	Settled(saleID, userID int64) error
	Place(ctx context.Context, saleID, userID int64) (order.Order, error)
	Order(ctx context.Context, userID int64, orderNo string) (order.Order, error)
	// Pay pays the user's order; paying a paid order answers it again.
	Pay(ctx context.Context, userID int64, orderNo string) (order.Order, error)
}

// SaleReader serves sale reads; the read-through cache implements it too.
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
	Sales     SaleReader
	Tokens    *Tokens
	UserLimit *Limiter // nil: no per-user limit
	IPLimit   *Limiter // nil: no per-IP limit
	BodyLimit int64
	Checks    []Check
	Log       *slog.Logger
	Metrics   *metrics.Metrics
}

type public struct {
	PublicConfig
	purchases children[string, prometheus.Counter] // by result
}

// NewPublic builds the public listener's handler.
func NewPublic(cfg PublicConfig) http.Handler {
	h := &public{PublicConfig: cfg}
	h.purchases.make = func(result string) prometheus.Counter { return cfg.Metrics.Purchases.WithLabelValues(result) }
	e := newEngine(cfg.Log, cfg.Metrics)
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", h.readyz)
	v1 := e.Group("/api/v1")
	v1.GET("/sales/:sale_id", h.sale)
	v1.POST("/sales/:sale_id/orders", h.purchase)
	v1.GET("/orders/:order_no", h.order)
	v1.POST("/orders/:order_no/pay", h.pay)
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
	PaymentWindowSeconds int64     `json:"payment_window_seconds,omitempty"`
}

func saleJSON(v order.SaleView) SaleJSON {
	return SaleJSON{
		ID: v.ID, Name: v.Name, PriceCents: v.PriceCents, TotalStock: v.TotalStock, Remaining: v.Remaining,
		StartsAt: v.StartsAt.UTC(), EndsAt: v.EndsAt.UTC(), Status: string(v.Status),
		PaymentWindowSeconds: int64(v.PaymentWindow / time.Second),
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

func (h *public) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	failed := map[string]string{}
	for _, ch := range h.Checks {
		if err := ch.Ping(ctx); err != nil {
			failed[ch.Name] = err.Error()
		}
	}
	if len(failed) > 0 {
		c.JSON(http.StatusServiceUnavailable, gin.H{
			"status": "unavailable", "failed": failed,
			"error": ErrorDetail{Code: CodeUnavailable, Message: "a backend does not answer"},
		})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (h *public) sale(c *gin.Context) {
	id, err := parseID(c.Param("sale_id"))
	if err != nil {
		writeError(c, h.Log, order.ErrSaleNotFound)
		return
	}
	v, err := h.Sales.Sale(c.Request.Context(), id)
	if err != nil {
		writeError(c, h.Log, err)
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

func (h *public) tryPurchase(c *gin.Context) error {
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
	// A sold-out answer touches no backend, so it spends no rate-limit
	// token: the crowd after the sell-out is answered at the edge.
	if err := h.Orders.Settled(saleID, userID); err != nil {
		return err
	}
	if err := h.limit(c, userID); err != nil {
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

// limit applies the per-user then the per-IP bucket and sets Retry-After.
func (h *public) limit(c *gin.Context, userID int64) error {
	ok, wait := h.UserLimit.Allow(strconv.FormatInt(userID, 10))
	if ok {
		ok, wait = h.IPLimit.Allow(c.ClientIP())
	}
	if ok {
		return nil
	}
	c.Header("Retry-After", strconv.Itoa(retryAfter(wait)))
	return order.ErrRateLimited
}

func (h *public) order(c *gin.Context) {
	userID, err := h.Tokens.UserFromHeader(c.GetHeader("Authorization"))
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
	userID, err := h.Tokens.UserFromHeader(c.GetHeader("Authorization"))
	if err != nil {
		writeError(c, h.Log, err)
		return
	}
	var body struct{}
	if err := decodeStrict(c.Request, h.BodyLimit, &body, true); err != nil {
		writeError(c, h.Log, err)
		return
	}
	o, err := h.Orders.Pay(c.Request.Context(), userID, c.Param("order_no"))
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
