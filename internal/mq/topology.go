package mq

import (
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultDeliveryLimit is how many times the broker hands out one message
// without success before it dead-letters it.
const DefaultDeliveryLimit = 5

// Topology names the exchanges and queues of the order flow. Publisher and
// Source both declare it on every connect; declaring is idempotent as long as
// every process uses the same Topology.
type Topology struct {
	// Exchange is the durable topic exchange orders are published to.
	Exchange string
	// RoutingKey is the key of order.created messages; Queue is bound with it.
	RoutingKey string
	// Queue is the quorum queue the worker consumes.
	Queue string
	// DeadExchange is the fanout exchange the broker dead-letters to
	// (rejects, delivery limit).
	DeadExchange string
	// DeadQueue holds the broker's dead letters until the worker's mover
	// records them in MySQL.
	DeadQueue string
	// DeliveryLimit is the quorum queue's x-delivery-limit.
	DeliveryLimit int
}

// DefaultTopology is the topology under the fixed names above.
func DefaultTopology() Topology {
	return Topology{
		Exchange:      Exchange,
		RoutingKey:    RoutingCreated,
		Queue:         PersistQueue,
		DeadExchange:  DeadExchange,
		DeadQueue:     DeadQueue,
		DeliveryLimit: DefaultDeliveryLimit,
	}
}

// WithPrefix returns t with prefix put in front of every exchange and queue
// name (not the routing key), so that tests and side-by-side deployments on
// one broker do not share entities.
func (t Topology) WithPrefix(prefix string) Topology {
	t.Exchange = prefix + t.Exchange
	t.Queue = prefix + t.Queue
	t.DeadExchange = prefix + t.DeadExchange
	t.DeadQueue = prefix + t.DeadQueue
	return t
}

func (t Topology) validate() error {
	if t.Exchange == "" || t.RoutingKey == "" || t.Queue == "" || t.DeadExchange == "" || t.DeadQueue == "" {
		return fmt.Errorf("topology %+v: every name is required", t)
	}
	if t.DeliveryLimit <= 0 {
		return fmt.Errorf("topology: delivery limit %d must be positive", t.DeliveryLimit)
	}
	return nil
}

// persistArgs are the arguments of the persist queue:
//   - quorum, replicated on a cluster;
//   - x-delivery-limit: a message handed out that many times without an
//     ack (a worker killed while holding it) is dead-lettered;
//   - x-dead-letter-exchange with x-dead-letter-strategy at-least-once:
//     the broker keeps a dead-lettered message until the dead queue has
//     confirmed it, so none is lost on the way;
//   - x-overflow reject-publish, which at-least-once requires: a full
//     queue refuses new messages (the publisher gets a nack) instead of
//     dropping its oldest;
//   - x-single-active-consumer: one worker at a time consumes, in queue
//     order, so a stock rebuild's fence passes only after every order
//     published before it.
func (t Topology) persistArgs() amqp.Table {
	return amqp.Table{
		amqp.QueueTypeArg:            amqp.QueueTypeQuorum,
		"x-delivery-limit":           int64(t.DeliveryLimit),
		"x-dead-letter-exchange":     t.DeadExchange,
		"x-dead-letter-strategy":     "at-least-once",
		amqp.QueueOverflowArg:        amqp.QueueOverflowRejectPublish,
		amqp.SingleActiveConsumerArg: true,
	}
}

// declareFailed explains a failed queue declaration. PRECONDITION_FAILED
// means the queue exists with other arguments, which a redeclaration
// cannot change: the operator has to drain and delete it.
func declareFailed(queue string, err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
		return fmt.Errorf("declare queue %s: it exists with other arguments than this version declares (%s); "+
			"let the workers drain it, delete it (rabbitmqctl delete_queue %s --if-empty) and start again: %w",
			queue, ae.Reason, queue, err)
	}
	return fmt.Errorf("declare queue %s: %w", queue, err)
}

// declare creates the exchanges, queues and bindings, or checks that they
// exist with the same arguments. A mismatch closes ch with PRECONDITION_FAILED.
func (t Topology) declare(ch *amqp.Channel) error {
	if err := ch.ExchangeDeclare(t.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.Exchange, err)
	}
	if err := ch.ExchangeDeclare(t.DeadExchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.DeadExchange, err)
	}
	if _, err := ch.QueueDeclare(t.DeadQueue, true, false, false, false, amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum,
	}); err != nil {
		return declareFailed(t.DeadQueue, err)
	}
	if err := ch.QueueBind(t.DeadQueue, "", t.DeadExchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s: %w", t.DeadQueue, t.DeadExchange, err)
	}
	if _, err := ch.QueueDeclare(t.Queue, true, false, false, false, t.persistArgs()); err != nil {
		return declareFailed(t.Queue, err)
	}
	if err := ch.QueueBind(t.Queue, t.RoutingKey, t.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s with %s: %w", t.Queue, t.Exchange, t.RoutingKey, err)
	}
	return nil
}
