package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// settler runs the service's settle pass every interval until its context
// ends: stale reservations are settled, republished or released, and lost
// stock is rebuilt. Every api runs one; the passes are idempotent, so
// replicas settling at once do no harm.
type settler struct {
	service  *order.Service
	m        *metrics.Metrics
	log      *slog.Logger
	interval time.Duration
	failing  bool
}

func (s *settler) run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.pass(ctx)
	}
}

// pass runs one settle pass, bounded so that a stuck backend cannot pile
// passes up; what it did not finish the next one does.
func (s *settler) pass(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, max(6*s.interval, time.Minute))
	defer cancel()
	res, err := s.service.Settle(pctx, time.Now())
	s.m.SettleOrders.WithLabelValues("settled").Add(float64(res.Settled))
	s.m.SettleOrders.WithLabelValues("republished").Add(float64(res.Republished))
	s.m.SettleOrders.WithLabelValues("released").Add(float64(res.Released))
	s.m.SettleOrders.WithLabelValues("failed").Add(float64(res.Failed))
	s.m.StockRebuilds.Add(float64(res.Rebuilds))
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// Shutdown: the next start settles the rest.
	case err != nil:
		s.m.SettleFailures.Inc()
		if !s.failing {
			s.failing = true
			s.log.WarnContext(ctx, "settle pass failed; retrying every interval", "interval", s.interval, "err", err)
		}
	case s.failing:
		s.failing = false
		s.log.InfoContext(ctx, "settle pass succeeded again")
	}
	if res.Republished > 0 || res.Released > 0 || res.Rebuilds > 0 {
		s.log.InfoContext(ctx, "settle pass", "settled", res.Settled, "republished", res.Republished,
			"released", res.Released, "failed", res.Failed, "rebuilds", res.Rebuilds)
	}
}
