package app

import (
	"context"
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
func expirySweeper(payments *order.Payments, m *metrics.Metrics, log *slog.Logger, interval time.Duration) *periodic {
	return &periodic{
		name: "expiry sweep", interval: interval, timeout: max(10*interval, 30*time.Second),
		failures: m.ExpirySweepFailures, log: log,
		pass: func(ctx context.Context) error {
			res, err := payments.ExpireDue(ctx, time.Now())
			m.OrdersExpired.Add(float64(res.Expired))
			m.ExpiryUnitsReturned.Add(float64(res.Returned))
			return err
		},
	}
}
