package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// settler runs the settle pass every interval until its context ends:
// stale reservations are settled, republished or released, and lost
// stock is rebuilt. Every api runs one; the passes are idempotent, so
// replicas settling at once do no harm.
func settler(s *order.Settler, m *metrics.Metrics, log *slog.Logger, interval time.Duration) *periodic {
	return &periodic{
		name: "settle pass", interval: interval, timeout: max(6*interval, time.Minute),
		failures: m.SettleFailures, log: log,
		pass: func(ctx context.Context) error {
			res, err := s.Settle(ctx, time.Now())
			// "settled" is the published name of the persisted outcome, which
			// dashboards and alerts read: it stays.
			m.SettleOrders.WithLabelValues("settled").Add(float64(res.Persisted))
			m.SettleOrders.WithLabelValues("republished").Add(float64(res.Republished))
			m.SettleOrders.WithLabelValues("released").Add(float64(res.Released))
			m.SettleOrders.WithLabelValues("failed").Add(float64(res.Failed))
			m.SettleOrders.WithLabelValues("deferred").Add(float64(res.Deferred))
			m.StockRebuilds.Add(float64(res.Rebuilds))
			if res.Republished > 0 || res.Released > 0 || res.Rebuilds > 0 || res.Deferred > 0 {
				log.InfoContext(ctx, "settle pass", "settled", res.Persisted, "republished", res.Republished,
					"released", res.Released, "failed", res.Failed, "deferred", res.Deferred, "rebuilds", res.Rebuilds)
			}
			return err
		},
	}
}
