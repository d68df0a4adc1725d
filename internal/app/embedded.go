package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/consumer"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
)

// openEmbedded starts the embedded mode's backends in this process: an
// in-process Redis running the same Lua scripts, an in-process queue behind
// the publisher and consumer interfaces, SQLite through GORM, and the worker
// loop.
func (a *API) openEmbedded(ctx context.Context, ov Overrides) (order.Publisher, []httpapi.Check, error) {
	cfg := a.Config
	path := cfg.SQLitePath
	if path == "" {
		dir, err := os.MkdirTemp("", "seckill-embedded-")
		if err != nil {
			return nil, nil, fmt.Errorf("embedded sqlite: %w", err)
		}
		a.onClose("sqlite dir", func(context.Context) error { return os.RemoveAll(dir) })
		path = filepath.Join(dir, "seckill.db")
	}
	st, err := store.OpenSQLite(ctx, path, a.log, store.WithMetrics(a.Metrics))
	if err != nil {
		return nil, nil, err
	}
	a.onClose("sqlite", func(context.Context) error { return st.Close() })
	a.Repo = st

	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, nil, fmt.Errorf("embedded redis: %w", err)
	}
	a.onClose("embedded redis", func(context.Context) error { mr.Close(); return nil })
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), PoolSize: 64})
	a.onClose("embedded redis client", func(context.Context) error { return rdb.Close() })
	if err := a.openStock(rdb, ov); err != nil {
		return nil, nil, err
	}

	q := mq.NewMemory()
	a.onClose("embedded queue", func(context.Context) error { return q.Close() })
	initWorkerSeries(a.Metrics)
	loop := consumer.New(q, st, a.log,
		consumer.WithBatchSize(cfg.WorkerBatch), consumer.WithBatchWait(5*time.Millisecond), consumer.WithMetrics(a.Metrics))
	a.background = append(a.background, func(ctx context.Context) error {
		err := loop.Run(ctx)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	// No broker for other systems to bind to: the events are kept in
	// memory (the newest 1,000 messages), relayed like the worker's.
	relayEvery := cfg.EventRelayInterval
	if relayEvery <= 0 {
		relayEvery = defaultEventRelayInterval
	}
	a.Events = mq.NewEventLog(1000, a.Metrics)
	a.background = append(a.background, newEventRelay(st, a.Events, a.Metrics, a.log, relayEvery).run)
	checks := []httpapi.Check{
		{Name: "sqlite", Ping: st.Ping},
		{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		{Name: "queue", Ping: func(context.Context) error {
			if !q.Ready() {
				return errors.New("closed")
			}
			return nil
		}},
	}
	return q, checks, nil
}
