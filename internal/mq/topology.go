package mq

import (
	"errors"
	"fmt"
	"strconv"

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
	// Partitions splits the persist stage (1, the default, is Queue alone
	// bound with RoutingKey). With n > 1 the queues are Queue.0 … Queue.n-1;
	// a message still goes to Exchange with RoutingKey, so outside
	// consumers see every order, and names its partition's own key in a
	// BCC header, which the broker routes with and strips. A sale always
	// maps to the same partition (PartitionOf).
	Partitions int
}

// partitionKeyPrefix starts the routing key of each persist partition.
// It is outside order.*: an outside consumer bound to order.# never
// matches it (and a queue bound to # gets a message once whatever the keys).
const partitionKeyPrefix = "seckill.persist."

// partitions is t.Partitions with the zero value read as 1.
func (t Topology) partitions() int { return max(t.Partitions, 1) }

// PartitionOf is the persist partition of saleID's orders and fences.
func (t Topology) PartitionOf(saleID int64) int {
	n := int64(t.partitions())
	return int(((saleID % n) + n) % n)
}

// PartitionQueue is the name of partition k's queue.
func (t Topology) PartitionQueue(k int) string {
	if t.partitions() == 1 {
		return t.Queue
	}
	return t.Queue + "." + strconv.Itoa(k)
}

// PersistQueues are the names of every persist partition's queue.
func (t Topology) PersistQueues() []string {
	out := make([]string, t.partitions())
	for k := range out {
		out[k] = t.PartitionQueue(k)
	}
	return out
}

// PartitionKey is the routing key partition k's queue is bound with.
func (t Topology) PartitionKey(k int) string {
	if t.partitions() == 1 {
		return t.RoutingKey
	}
	return partitionKeyPrefix + strconv.Itoa(k)
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
		Partitions:    1,
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
	if t.Partitions < 0 {
		return fmt.Errorf("topology: %d partitions", t.Partitions)
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
//   - x-single-active-consumer: one worker at a time consumes each queue
//     (partition), in queue order, so a stock rebuild's fence passes only
//     after every order of its sale published before it.
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
	for k, q := range t.PersistQueues() {
		if _, err := ch.QueueDeclare(q, true, false, false, false, t.persistArgs()); err != nil {
			return declareFailed(q, err)
		}
		if err := ch.QueueBind(q, t.PartitionKey(k), t.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %s to %s with %s: %w", q, t.Exchange, t.PartitionKey(k), err)
		}
	}
	return nil
}
