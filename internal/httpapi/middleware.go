package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/metrics"
)

// observe counts every request by route template and status class and times
// it. Unmatched routes share one label so paths cannot grow the series.
func observe(m *metrics.Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		code := strconv.Itoa(c.Writer.Status()/100) + "xx"
		m.HTTPRequests.WithLabelValues(route, c.Request.Method, code).Inc()
		m.HTTPDuration.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
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

func newEngine(log *slog.Logger, m *metrics.Metrics) *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(recoverJSON(log), observe(m))
	e.NoRoute(notFound)
	e.NoMethod(methodNotAllowed)
	return e
}
