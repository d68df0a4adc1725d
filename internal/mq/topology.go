package mq

import (
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
	// DeadExchange is the fanout exchange dead letters go to, from the broker
	// (rejects, delivery limit) and from Source.DeadLetter.
	DeadExchange string
	// DeadQueue holds dead letters for inspection.
	DeadQueue string
	// DeliveryLimit is the quorum queue's x-delivery-limit.
	DeliveryLimit int
}

// DefaultTopology is the topology of DESIGN §4.
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
		return fmt.Errorf("declare queue %s: %w", t.DeadQueue, err)
	}
	if err := ch.QueueBind(t.DeadQueue, "", t.DeadExchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s: %w", t.DeadQueue, t.DeadExchange, err)
	}
	if _, err := ch.QueueDeclare(t.Queue, true, false, false, false, amqp.Table{
		amqp.QueueTypeArg:        amqp.QueueTypeQuorum,
		"x-delivery-limit":       int64(t.DeliveryLimit),
		"x-dead-letter-exchange": t.DeadExchange,
		"x-dead-letter-strategy": "at-most-once",
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.Queue, err)
	}
	if err := ch.QueueBind(t.Queue, t.RoutingKey, t.Exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s with %s: %w", t.Queue, t.Exchange, t.RoutingKey, err)
	}
	return nil
}
