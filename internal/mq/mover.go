package mq

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/order"
)

// DeadRecorder keeps a dead letter durably; the store implements it.
type DeadRecorder interface {
	RecordDeadLetter(ctx context.Context, d order.DeadLetter) (int64, error)
}

// moverPrefetch bounds the dead letters the mover holds unacked at once.
const moverPrefetch = 16

// Mover empties the dead-letter queue into MySQL. The broker dead-letters a
// message of the persist queue on its own when a worker died holding it
// too often (the delivery limit); the mover records each such message as
// a dead letter (reason order.DeadDeliveryLimit, its orders when the body
// decodes, the body otherwise) and acks it only once the row is committed.
// A store that fails is retried with a capped backoff, holding the
// message, until it answers or the mover stops.
type Mover struct {
	url string
	log *slog.Logger
	cfg *config
	rec DeadRecorder

	recordTimeout time.Duration
}

// NewMover builds a Mover of the topology given by opts (WithTopology,
// WithReconnectBackoff, WithConnectionName). It connects in Run.
func NewMover(url string, rec DeadRecorder, log *slog.Logger, opts ...Option) (*Mover, error) {
	cfg, err := newConfig("dead-mover", opts)
	if err != nil {
		return nil, err
	}
	return &Mover{url: url, log: log.With("component", "mq.mover"), cfg: cfg, rec: rec, recordTimeout: 30 * time.Second}, nil
}

// Run moves dead letters until ctx ends, reconnecting whenever the
// connection is lost. Messages it holds when ctx ends go back to the dead
// queue as the connection closes. It returns nil once ctx has ended.
func (m *Mover) Run(ctx context.Context) error {
	for {
		l, ok := retry(ctx, m.cfg, m.log, "dead-letter mover", func(ctx context.Context) (link, error) {
			return m.cfg.dial(ctx, m.url)
		})
		if !ok {
			return nil
		}
		err := m.session(ctx, l)
		l.close()
		select {
		case <-ctx.Done():
			return nil
		default:
		}
		m.log.Warn("dead-letter mover disconnected; reconnecting", "err", err)
	}
}

// session consumes the dead queue on one connection until it closes or
// ctx ends.
func (m *Mover) session(ctx context.Context, l link) error {
	ch, err := l.conn.Channel()
	if err != nil {
		return err
	}
	if err := m.cfg.topology.declare(ch); err != nil {
		return err
	}
	if err := ch.Qos(moverPrefetch, 0, false); err != nil {
		return fmt.Errorf("qos: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, m.cfg.topology.DeadQueue, m.cfg.consumerTag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", m.cfg.topology.DeadQueue, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("consumer of %s ended", m.cfg.topology.DeadQueue)
			}
			if !m.record(ctx, d) {
				return nil
			}
			if err := d.Ack(false); err != nil {
				// The row stands; a redelivery records it again.
				return fmt.Errorf("ack dead letter %s: %w", d.MessageId, err)
			}
		}
	}
}

// record commits d as a dead letter, retrying until it succeeds (true) or
// ctx ends (false).
func (m *Mover) record(ctx context.Context, d amqp.Delivery) bool {
	dl := deadLetterOf(d)
	b := &backoff.ExponentialBackOff{
		InitialInterval:     m.cfg.minBackoff,
		RandomizationFactor: 0.2,
		Multiplier:          2,
		MaxInterval:         min(m.cfg.maxBackoff, 5*time.Second),
	}
	attempt := 0
	_, err := backoff.Retry(ctx, func() (int64, error) {
		attempt++
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.recordTimeout)
		defer cancel()
		return m.rec.RecordDeadLetter(rctx, dl)
	},
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			m.log.Error("recording a dead letter failed; holding it and retrying",
				"message_id", dl.MessageID, "attempt", attempt, "retry_in", next, "err", err)
		}),
	)
	if err != nil {
		return false
	}
	m.log.Error("message dead-lettered by the broker recorded in MySQL",
		"message_id", dl.MessageID, "orders", len(dl.Orders), "detail", dl.Detail)
	return true
}

// deadLetterOf turns a message of the dead queue into a dead letter.
func deadLetterOf(d amqp.Delivery) order.DeadLetter {
	dl := order.DeadLetter{MessageID: d.MessageId, Reason: order.DeadDeliveryLimit}
	why, _ := d.Headers["x-first-death-reason"].(string)
	queue, _ := d.Headers["x-first-death-queue"].(string)
	dl.Detail = fmt.Sprintf("dead-lettered by the broker (%s) from queue %s", why, queue)
	msg, orders, err := Decode(d.Body)
	switch {
	case err != nil:
		dl.Body = d.Body
		dl.Detail += "; " + err.Error()
	case msg.Fence != nil:
		dl.Body = d.Body
		dl.Detail += "; a stock rebuild fence"
	default:
		dl.Orders = orders
	}
	if dl.MessageID == "" {
		dl.MessageID = msg.MessageID
	}
	return dl
}
