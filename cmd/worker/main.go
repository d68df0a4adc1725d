// Command worker persists accepted orders: it consumes the quorum queue
// seckill.orders.persist, writes batches of orders to MySQL in one
// transaction each, and acks only after the commit.
package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
)

func main() {
	log, level := app.NewLogger(os.Stdout, false)
	if err := run(context.Background(), log, level); err != nil {
		log.Error("fatal", "err", err)
		os.Exit(1)
	}
}

// gcPercent is the worker's GOGC unless the environment sets one. Its live
// heap is a few megabytes, so at the default of 100 it collected after
// every few megabytes allocated: a fifth of its CPU under load. At 400 the
// heap grows to five times the live one, tens of megabytes.
const gcPercent = 400

func run(ctx context.Context, log *slog.Logger, level *slog.LevelVar) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	cfg, err := config.LoadWorker()
	if err != nil {
		return err
	}
	ctx, stop := app.Start(ctx, log, level, "worker", cfg.LogLevel, cfg)
	defer stop()

	w, err := app.NewWorker(ctx, cfg, log, app.OverridesFrom(cfg.Names))
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
