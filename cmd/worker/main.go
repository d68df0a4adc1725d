// Command worker persists accepted orders: it consumes the quorum queue
// seckill.orders.persist, writes batches of orders to MySQL in one
// transaction each, and acks only after the commit.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
)

func main() {
	level := new(slog.LevelVar)
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	if err := run(context.Background(), log, level); err != nil {
		log.Error("fatal", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, level *slog.LevelVar) error {
	cfg, err := config.LoadWorker()
	if err != nil {
		return err
	}
	level.Set(config.LevelFrom(cfg.LogLevel))
	gin.SetMode(gin.ReleaseMode)
	log.Info("starting seckill worker", "config", cfg)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	w, err := app.NewWorker(ctx, cfg, log, app.OverridesFrom(cfg.Names))
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
