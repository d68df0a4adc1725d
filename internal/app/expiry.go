package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// defaultExpiryInterval is the sweep interval when the configuration sets
// none (a config.API built in code).
const defaultExpiryInterval = time.Second

// expirySweeper cancels unpaid orders whose payment window closed and
// returns their units, every interval, until its context ends. Every api
// runs one: the sweeps are guarded UPDATEs in MySQL and the guarded
// Release in the stock backend, so replicas sweeping at once cancel each
// order once and return each unit once.
type expirySweeper struct {
	service  *order.Service
	m        *metrics.Metrics
	log      *slog.Logger
	interval time.Duration
	failing  bool
}

func (e *expirySweeper) run(ctx context.Context) error {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		e.sweep(ctx)
	}
}

// sweep runs one sweep, bounded so that a stuck backend cannot pile up
// sweeps; what it did not finish the next one does.
func (e *expirySweeper) sweep(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, max(10*e.interval, 30*time.Second))
	defer cancel()
	res, err := e.service.ExpireDue(sctx, time.Now())
	e.m.OrdersExpired.Add(float64(res.Expired))
	e.m.ExpiryUnitsReturned.Add(float64(res.Returned))
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// Shutdown: the next start finishes the sweep.
	case err != nil:
		e.m.ExpirySweepFailures.Inc()
		if !e.failing {
			e.failing = true
			e.log.WarnContext(ctx, "expiry sweep failed; retrying every interval", "interval", e.interval, "err", err)
		}
	case e.failing:
		e.failing = false
		e.log.InfoContext(ctx, "expiry sweep succeeded again")
	}
}
