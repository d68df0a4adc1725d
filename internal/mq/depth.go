package mq

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/order"
)

// Queue roles, the values of QueueDepth.Role.
const (
	RolePersist = "persist"
	RoleDead    = "dead"
)

// QueueDepth is what the broker reports about one queue.
type QueueDepth struct {
	Queue string
	Role  string // RolePersist or RoleDead
	// Messages are ready for delivery; deliveries a consumer holds unacked
	// are not counted.
	Messages  int
	Consumers int
}

// Depths asks the broker how many messages wait in each persist queue and
// the dead-letter queue of the source's topology. Each question goes on a
// short-lived channel of the source's connection with a passive declare,
// which changes nothing and, should a queue be missing, closes only that
// channel; the consuming channel is never touched.
func (s *Source) Depths(ctx context.Context) ([]QueueDepth, error) {
	sess := s.current()
	if sess == nil {
		return nil, fmt.Errorf("%w: not connected to the broker", order.ErrUnavailable)
	}
	t := s.cfg.topology
	var queues []QueueDepth
	for _, q := range t.PersistQueues() {
		queues = append(queues, QueueDepth{Queue: q, Role: RolePersist})
	}
	queues = append(queues, QueueDepth{Queue: t.DeadQueue, Role: RoleDead})
	out := make([]QueueDepth, 0, len(queues))
	for _, q := range queues {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		got, err := passiveDeclare(sess.conn, q.Queue)
		if err != nil {
			return out, fmt.Errorf("%w: inspect queue %s: %w", order.ErrUnavailable, q.Queue, err)
		}
		q.Messages, q.Consumers = got.Messages, got.Consumers
		out = append(out, q)
	}
	return out, nil
}

func passiveDeclare(conn *amqp.Connection, name string) (amqp.Queue, error) {
	ch, err := conn.Channel()
	if err != nil {
		return amqp.Queue{}, err
	}
	defer func() { _ = ch.Close() }()
	return ch.QueueDeclarePassive(name, true, false, false, false, nil)
}

// Backlog is what the order queue holds for saleID's orders: the messages
// waiting in the persist queue of the sale's partition, as the broker
// counts them (deliveries a worker holds unacked are not counted), plus
// this publisher's publishes waiting for their confirm. It asks with a
// passive declare on a short-lived channel of the publishing connection;
// see order.Backlog.
func (p *Publisher) Backlog(ctx context.Context, saleID int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", order.ErrUnavailable, err)
	}
	p.mu.RLock()
	sess := p.sess
	p.mu.RUnlock()
	if sess == nil {
		return 0, fmt.Errorf("%w: not connected to the broker", order.ErrUnavailable)
	}
	t := p.cfg.topology
	name := t.PartitionQueue(t.PartitionOf(saleID))
	q, err := passiveDeclare(sess.conn, name)
	if err != nil {
		return 0, fmt.Errorf("%w: inspect queue %s: %w", order.ErrUnavailable, name, err)
	}
	return q.Messages + len(p.window), nil
}

// Backlog is every message the in-process queue holds, waiting or in a
// consumer's hands: it has one queue for every sale. See order.Backlog.
func (m *Memory) Backlog(context.Context, int64) (int, error) {
	s := m.Stats()
	return s.Ready + s.Unacked, nil
}
