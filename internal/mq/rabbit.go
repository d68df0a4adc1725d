package mq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redact"
)

// Defaults of the RabbitMQ adapter.
const (
	DefaultWindow         = 1024
	DefaultConfirmTimeout = 5 * time.Second
	DefaultPrefetch       = 128
	defaultMinBackoff     = 100 * time.Millisecond
	defaultMaxBackoff     = 10 * time.Second
	defaultDialTimeout    = 10 * time.Second
	defaultCloseTimeout   = 5 * time.Second
	// returnsBuffer is the capacity of the basic.return channel. The listener
	// only marks a map, so the buffer just smooths bursts of returns.
	returnsBuffer = 256
)

// config is what Options set. Not every field applies to every type: the
// window and metrics are the Publisher's, prefetch and consumer tag the
// Source's.
type config struct {
	topology       Topology
	metrics        *metrics.Metrics
	window         int
	confirmTimeout time.Duration
	prefetch       int
	consumerTag    string
	partition      int
	minBackoff     time.Duration
	maxBackoff     time.Duration
	dialTimeout    time.Duration
	connName       string

	// beforeDial, when set, runs before every dial and aborts it with its
	// error; tests use it to hold an adapter disconnected.
	beforeDial func() error
}

// Option configures a Publisher or a Source.
type Option func(*config)

// WithTopology sets the names to declare and use (default DefaultTopology).
func WithTopology(t Topology) Option { return func(c *config) { c.topology = t } }

// WithMetrics sets the collectors the Publisher updates; nil disables them.
func WithMetrics(m *metrics.Metrics) Option { return func(c *config) { c.metrics = m } }

// WithWindow bounds how many publishes wait for a broker confirm at once
// (default DefaultWindow). Further publishes wait for a free slot.
func WithWindow(n int) Option { return func(c *config) { c.window = n } }

// WithConfirmTimeout bounds the wait for one broker confirm (default
// DefaultConfirmTimeout). A publish still unconfirmed then has an unknown
// outcome.
func WithConfirmTimeout(d time.Duration) Option { return func(c *config) { c.confirmTimeout = d } }

// WithPrefetch sets the Source's Qos prefetch count (default DefaultPrefetch).
func WithPrefetch(n int) Option { return func(c *config) { c.prefetch = n } }

// WithPartition makes a Source consume persist partition k's queue
// (default 0, the only one without partitions).
func WithPartition(k int) Option { return func(c *config) { c.partition = k } }

// WithConsumerTag sets the Source's consumer tag (default a unique one).
func WithConsumerTag(tag string) Option { return func(c *config) { c.consumerTag = tag } }

// WithReconnectBackoff sets the first and the longest wait between two
// reconnect attempts; the wait doubles, with jitter, up to max.
func WithReconnectBackoff(first, max time.Duration) Option {
	return func(c *config) { c.minBackoff, c.maxBackoff = first, max }
}

// WithConnectionName sets the connection name the broker shows.
func WithConnectionName(name string) Option { return func(c *config) { c.connName = name } }

func newConfig(role string, opts []Option) (*config, error) {
	c := &config{
		topology:       DefaultTopology(),
		window:         DefaultWindow,
		confirmTimeout: DefaultConfirmTimeout,
		prefetch:       DefaultPrefetch,
		consumerTag:    "seckill-" + role + "-" + uuid.NewString(),
		minBackoff:     defaultMinBackoff,
		maxBackoff:     defaultMaxBackoff,
		dialTimeout:    defaultDialTimeout,
		connName:       "seckill-" + role,
	}
	for _, o := range opts {
		o(c)
	}
	if err := c.topology.validate(); err != nil {
		return nil, err
	}
	switch {
	case c.window <= 0:
		return nil, fmt.Errorf("mq: window %d must be positive", c.window)
	case c.confirmTimeout <= 0:
		return nil, fmt.Errorf("mq: confirm timeout %v must be positive", c.confirmTimeout)
	case c.prefetch <= 0 || c.prefetch > 65535:
		return nil, fmt.Errorf("mq: prefetch %d must be in 1..65535", c.prefetch)
	case c.partition < 0 || c.partition >= c.topology.partitions():
		return nil, fmt.Errorf("mq: partition %d of %d", c.partition, c.topology.partitions())
	case c.consumerTag == "":
		return nil, errors.New("mq: consumer tag must not be empty")
	case c.minBackoff <= 0 || c.maxBackoff < c.minBackoff:
		return nil, fmt.Errorf("mq: reconnect backoff %v..%v is not a range", c.minBackoff, c.maxBackoff)
	}
	return c, nil
}

// link is one live AMQP connection and the raw socket under it.
type link struct {
	conn *amqp.Connection
	raw  net.Conn
}

// dial opens a connection to url. The TCP dial honours ctx; the AMQP
// handshake is bounded by the dial timeout.
func (c *config) dial(ctx context.Context, url string) (link, error) {
	if c.beforeDial != nil {
		if err := c.beforeDial(); err != nil {
			return link{}, err
		}
	}
	var (
		mu  sync.Mutex
		raw net.Conn
	)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(c.connName)
	conn, err := amqp.DialConfig(url, amqp.Config{
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: c.dialTimeout}
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The library clears the deadline once the handshake is done.
			if err := nc.SetDeadline(time.Now().Add(c.dialTimeout)); err != nil {
				nc.Close()
				return nil, err
			}
			mu.Lock()
			raw = nc
			mu.Unlock()
			return nc, nil
		},
	})
	if err != nil {
		// url.Parse's errors quote the whole URL, password included.
		return link{}, fmt.Errorf("dial amqp: %w", redact.Error(err, url))
	}
	mu.Lock()
	defer mu.Unlock()
	return link{conn: conn, raw: raw}, nil
}

// close closes the connection gracefully, bounded by a deadline. It is safe
// on a connection that is already closed.
func (l link) close() {
	if l.conn == nil {
		return
	}
	_ = l.conn.CloseDeadline(time.Now().Add(defaultCloseTimeout))
}

// retry runs connect until it succeeds or ctx ends, waiting a capped,
// jittered exponential backoff between attempts and logging each failure.
// It reports false when ctx ended first.
func retry[S any](ctx context.Context, c *config, log *slog.Logger, what string, connect func(context.Context) (S, error)) (S, bool) {
	attempt := 0
	s, err := backoff.Retry(ctx, func() (S, error) {
		attempt++
		return connect(ctx)
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     c.minBackoff,
			RandomizationFactor: 0.2,
			Multiplier:          2,
			MaxInterval:         c.maxBackoff,
		}),
		backoff.WithMaxElapsedTime(0), // no limit: only ctx ends the attempts
		backoff.WithNotify(func(err error, wait time.Duration) {
			log.Warn("amqp reconnect failed", "what", what, "attempt", attempt, "retry_in", wait, "err", err)
		}),
	)
	if err != nil {
		var zero S
		return zero, false
	}
	return s, true
}

// closeReason describes why a connection or channel went away.
func closeReason(what string, e *amqp.Error, ok bool) error {
	if !ok || e == nil {
		return fmt.Errorf("%s closed", what)
	}
	return fmt.Errorf("%s closed: %w", what, e)
}

// waitConfirm waits for dc, the confirm timeout, or ctx, and classifies a
// confirm that did not come as an ack: a nack on a channel that is still
// open is a definite failure; everything else has an unknown outcome. kind
// is the metrics label of a failure, empty on an ack.
func waitConfirm(ctx context.Context, ch *amqp.Channel, dc *amqp.DeferredConfirmation, timeout time.Duration) (kind string, err error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-dc.Done():
	case <-t.C:
		return metrics.PublishTimeout, fmt.Errorf("%w: no confirm within %v", order.ErrPublishUnconfirmed, timeout)
	case <-ctx.Done():
		return metrics.PublishTimeout, fmt.Errorf("%w: waiting for confirm: %w", order.ErrPublishUnconfirmed, ctx.Err())
	}
	if dc.Acked() {
		return "", nil
	}
	// The library completes every outstanding confirmation as not acked
	// when the channel shuts down, and it marks the channel closed before
	// doing so: a not-acked confirm seen on an open channel is a real
	// basic.nack. A nack followed closely by a close is reported unknown,
	// which is the safe side.
	if ch.IsClosed() {
		return metrics.PublishDisconnected, fmt.Errorf("%w: channel closed before the confirm", order.ErrPublishUnconfirmed)
	}
	return metrics.PublishNack, fmt.Errorf("%w: broker nacked the message", order.ErrPublishFailed)
}

// sendFailed classifies an error from publishing a message onto the wire.
// ErrClosed means at least one frame of the message was never written, so
// the broker cannot have it; any other write error may have left a whole
// message in the socket and is unknown.
func sendFailed(err error) (kind string, _ error) {
	switch {
	case errors.Is(err, amqp.ErrClosed):
		return metrics.PublishDisconnected, fmt.Errorf("%w: channel closed: %w", order.ErrUnavailable, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return metrics.PublishTimeout, fmt.Errorf("%w: not sent: %w", order.ErrUnavailable, err)
	default:
		return metrics.PublishDisconnected, fmt.Errorf("%w: send: %w", order.ErrPublishUnconfirmed, err)
	}
}
