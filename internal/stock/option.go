package stock

import "github.com/seckill/seckill/internal/metrics"

// DefaultPrefix starts every key a backend writes unless WithPrefix says
// otherwise.
const DefaultPrefix = "sk"

type config struct {
	prefix  string
	metrics *metrics.Metrics
}

func newConfig(opts []Option) config {
	c := config{prefix: DefaultPrefix}
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
