package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
)

// observe counts every request by route template and status class and times
// it. Unmatched routes share one label and unknown methods another, so
// clients cannot grow the series.
func observe(m *metrics.Metrics) gin.HandlerFunc {
	series := children[httpSeries, httpMetrics]{make: func(k httpSeries) httpMetrics {
		class := strconv.Itoa(k.class) + "xx"
		return httpMetrics{
			requests: m.HTTPRequests.WithLabelValues(k.route, k.method, class),
			duration: m.HTTPDuration.WithLabelValues(k.route, k.method),
		}
	}}
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s := series.get(httpSeries{route: route, method: methodLabel(c.Request.Method), class: c.Writer.Status() / 100})
		s.requests.Inc()
		s.duration.Observe(time.Since(start).Seconds())
	}
}

// methodLabel keeps the method label to the standard methods: a client
// can send any token as its method, and each would be a new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// httpSeries are the labels of one request's series; httpMetrics its
// counter and histogram.
type httpSeries struct {
	route, method string
	class         int
}

type httpMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// children remembers the children of metric vectors by their label values,
// so a request looks its series up in a map instead of hashing its labels
// into the vector. Keys come from small fixed sets (routes, methods, status
// classes, results), so the map stays small.
type children[K comparable, M any] struct {
	make func(K) M
	mu   sync.RWMutex
	m    map[K]M
}

func (c *children[K, M]) get(k K) M {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		return v
	}
	if c.m == nil {
		c.m = make(map[K]M)
	}
	v = c.make(k)
	c.m[k] = v
	return v
}

// recoverJSON turns a panic into a logged 500 with the error body.
func recoverJSON(log *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		log.ErrorContext(c.Request.Context(), "panic in handler", "route", c.FullPath(), "panic", rec)
		c.AbortWithStatusJSON(http.StatusInternalServerError,
			ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "internal error"}})
	})
}

func notFound(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusNotFound, ErrorBody{Error: ErrorDetail{Code: CodeNotFound, Message: "no such route"}})
}

func methodNotAllowed(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: "method_not_allowed", Message: "method not allowed"}})
}

// newEngine builds an engine that trusts no proxy: c.ClientIP() is the TCP
// peer until trustProxies names the peers whose X-Forwarded-For counts.
func newEngine(log *slog.Logger, m *metrics.Metrics) *gin.Engine {
	e := gin.New()
	trustProxies(e, nil)
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(recoverJSON(log), observe(m))
	e.NoRoute(notFound)
	e.NoMethod(methodNotAllowed)
	return e
}

// trustProxies makes c.ClientIP() believe X-Forwarded-For (and X-Real-IP)
// from the peers in proxies (CIDRs or addresses, as
// config.ParseTrustedProxies writes them) and from nobody else. gin trusts
// every peer unless told otherwise, which would let any client pick the
// address its per-IP bucket is keyed on.
func trustProxies(e *gin.Engine, proxies []string) {
	if len(proxies) == 0 {
		proxies = nil // an empty list would still be a list to gin
	}
	if err := e.SetTrustedProxies(proxies); err != nil {
		// The configuration checks every entry before a listener is built.
		panic(fmt.Sprintf("httpapi: trusted proxies %q: %v", proxies, err))
	}
}
