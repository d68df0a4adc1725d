package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/consumer"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
)

// openEmbedded starts the embedded mode's backends in this process: an
// in-process Redis running the same Lua scripts, an in-process queue behind
// the publisher and consumer interfaces, SQLite through GORM, and the worker
// loop and event relay as background work.
func openEmbedded(ctx context.Context, cfg config.API, log *slog.Logger, m *metrics.Metrics, ov Overrides, c *closers) (backends, error) {
	var b backends
	path := cfg.SQLitePath
	if path == "" {
		dir, err := os.MkdirTemp("", "seckill-embedded-")
		if err != nil {
			return b, fmt.Errorf("embedded sqlite: %w", err)
		}
		c.add("sqlite dir", func(context.Context) error { return os.RemoveAll(dir) })
		path = filepath.Join(dir, "seckill.db")
	}
	st, err := store.OpenSQLite(ctx, path, log, store.WithMetrics(m))
	if err != nil {
		return b, err
	}
	c.add("sqlite", func(context.Context) error { return st.Close() })
	b.repo = st

	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return b, fmt.Errorf("embedded redis: %w", err)
	}
	c.add("embedded redis", func(context.Context) error { mr.Close(); return nil })
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), PoolSize: 64})
	c.add("embedded redis client", func(context.Context) error { return rdb.Close() })
	if b.stock, b.bus, err = openStock(rdb, cfg, log, m, ov, c); err != nil {
		return b, err
	}
	b.room = stock.NewRoom(rdb, stockPrefix(ov))

	q := mq.NewMemory()
	c.add("embedded queue", func(context.Context) error { return q.Close() })
	b.pub, b.fencer = q, q
	initWorkerSeries(m)
	loop := consumer.New(q, st, log,
		consumer.WithBatchSize(cfg.WorkerBatch), consumer.WithBatchWait(5*time.Millisecond), consumer.WithMetrics(m))
	// No broker for other systems to bind to: the events are kept in
	// memory (the newest 1,000 messages), relayed like the worker's.
	b.events = mq.NewEventLog(1000, m)
	b.background = []func(ctx context.Context) error{
		func(ctx context.Context) error {
			if err := loop.Run(ctx); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
		newEventRelay(st, b.events, m, log, orDefault(cfg.EventRelayInterval, defaultEventRelayInterval)).run,
	}
	b.checks = []httpapi.Check{
		{Name: "sqlite", Ping: st.Ping},
		{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		{Name: "queue", Ping: func(context.Context) error {
			if !q.Ready() {
				return errors.New("closed")
			}
			return nil
		}},
	}
	return b, nil
}
