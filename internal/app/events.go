package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
)

// defaultEventRelayInterval is the relay interval of a configuration that
// sets none (SECKILL_EVENT_RELAY_INTERVAL's default).
const defaultEventRelayInterval = 500 * time.Millisecond

// newEventRelay moves the lifecycle events MySQL recorded to pub every
// interval, until the outbox is empty, and reports how many are left.
// Every worker runs one; the store hands each its own events.
func newEventRelay(st *store.Store, pub order.EventPublisher, m *metrics.Metrics, log *slog.Logger, interval time.Duration) *periodic {
	return &periodic{
		name: "event relay", interval: interval, timeout: max(20*interval, 30*time.Second),
		failures: m.EventRelayFailures, log: log,
		pass: func(ctx context.Context) error {
			_, err := order.RelayEvents(ctx, st, pub)
			if n, cerr := st.PendingEvents(ctx); cerr == nil {
				m.EventsOutboxPending.Set(float64(n))
			}
			return err
		},
	}
}
