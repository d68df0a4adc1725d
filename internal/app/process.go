package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/config"
)

// NewLogger returns the logger of a binary, writing to w, and the level it
// logs at (info until Start sets the configured one). It writes JSON lines
// for a log pipeline, or text when a person reads it in a terminal.
func NewLogger(w io.Writer, text bool) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	opts := &slog.HandlerOptions{Level: level}
	if text {
		return slog.New(slog.NewTextHandler(w, opts)), level
	}
	return slog.New(slog.NewJSONHandler(w, opts)), level
}

// Start is what every server binary does once its configuration is loaded:
// it sets the log level named by logLevel, puts gin in release mode, logs
// the configuration under "starting seckill <name>", and returns a context
// that ends on SIGINT or SIGTERM (stop releases the signal handler).
func Start(ctx context.Context, log *slog.Logger, level *slog.LevelVar, name, logLevel string, cfg any) (_ context.Context, stop context.CancelFunc) {
	level.Set(config.LevelFrom(logLevel))
	gin.SetMode(gin.ReleaseMode)
	log.Info("starting seckill "+name, "config", cfg)
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
