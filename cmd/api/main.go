// Command api is seckill's HTTP front: purchases, order status, sale reads
// and health on the public listener; sales, tokens, reconciliation, metrics
// and pprof on the admin listener. With none of SECKILL_REDIS_URL,
// SECKILL_AMQP_URL and SECKILL_MYSQL_DSN set it runs the whole system in one
// process (embedded mode).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
)

func main() {
	// The embedded mode is read by a person in a terminal; real deployments
	// feed a log pipeline.
	log, level := app.NewLogger(os.Stdout, config.EmbeddedFromEnv())
	if err := run(context.Background(), log, level); err != nil {
		log.Error("fatal", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, level *slog.LevelVar) error {
	cfg, err := config.LoadAPI()
	if err != nil {
		return err
	}
	ctx, stop := app.Start(ctx, log, level, "api", cfg.LogLevel, cfg)
	defer stop()

	a, err := app.NewAPI(ctx, cfg, log, app.OverridesFrom(cfg.Names))
	if err != nil {
		return err
	}
	bound, err := app.Bind(a.Listeners()...)
	if err != nil {
		_ = a.Close(context.WithoutCancel(ctx))
		return err
	}
	if cfg.Embedded() {
		if err := app.Welcome(ctx, a, bound, log); err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
			return fmt.Errorf("embedded demo: %w", err)
		}
	}
	return a.Run(ctx, bound)
}
