// Command worker persists accepted orders: it consumes the quorum queue
// seckill.orders.persist, writes batches of orders to MySQL in one
// transaction each, and acks only after the commit.
package main

import (
	"context"
	"log/slog"
	"os"

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

func run(ctx context.Context, log *slog.Logger, level *slog.LevelVar) error {
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
