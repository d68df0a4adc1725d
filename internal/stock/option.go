package stock

import (
	"log/slog"
	"time"

	"github.com/seckill/seckill/internal/groupcommit"
	"github.com/seckill/seckill/internal/metrics"
)

// DefaultPrefix starts every key a backend writes unless WithPrefix says
// otherwise.
const DefaultPrefix = "sk"

type config struct {
	prefix       string
	metrics      *metrics.Metrics
	log          *slog.Logger
	waitReplicas int
	waitTimeout  time.Duration
	// batchOpts configure each sale's reservation batcher.
	batchOpts []groupcommit.Option
}

func newConfig(opts []Option) config {
	c := config{prefix: DefaultPrefix, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Option configures a stock backend.
type Option func(*config)

// WithPrefix sets the first segment of every key, so that several
// deployments or tests share one server without seeing each other's sales.
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithMetrics records reservation latency and batch sizes in m. A nil m
// records nothing.
func WithMetrics(m *metrics.Metrics) Option { return func(c *config) { c.metrics = m } }

// WithLogger sets where a backend reports what it does not return to a
// caller, such as replicas that fell behind. Without it nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithReplicaWait makes the Redis backend wait, after each reservation
// script call that granted a reservation, until n replicas of the sale's
// master acknowledged the write or timeout passed (Redis WAIT, sent on the
// script's own connection). The reservations stand either way: a shortfall
// is counted and logged, never turned into an error. n = 0 (the default)
// waits for nothing. The timeout must be at least a millisecond (WAIT's
// unit; 0 would wait forever) and well below the client's read timeout.
// The memcached backend ignores it.
func WithReplicaWait(n int, timeout time.Duration) Option {
	return func(c *config) { c.waitReplicas, c.waitTimeout = n, timeout }
}

// WithReserveLinger lets a sale's reservation batch wait up to d for fill
// reservations before its script call, while the sale is under load (see
// groupcommit.WithLinger): fewer, fuller calls cost the backend less per
// reservation. d <= 0 (the default) sends each batch at once.
func WithReserveLinger(d time.Duration, fill int) Option {
	return func(c *config) { c.batchOpts = append(c.batchOpts, groupcommit.WithLinger(d, fill)) }
}
