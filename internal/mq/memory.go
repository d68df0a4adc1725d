package mq

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/seckill/seckill/internal/order"
)

var (
	_ order.Publisher = (*Memory)(nil)
	_ order.Source    = (*Memory)(nil)
)

// Dead-letter reasons Memory records for the messages it dead-letters itself.
const (
	ReasonRejected      = "rejected"
	ReasonDeliveryLimit = "delivery_limit"
)

// Memory is the in-process queue of the embedded mode. It is both the
// api's Publisher and the worker's Source, with the semantics of the
// RabbitMQ topology that matter to them:
//
//   - a message leaves the queue only when it is acked;
//   - a message not acked when its consumer stops goes back to the head of
//     the queue, flagged Redelivered, for the next Consume;
//   - Reject(true) puts it back (at the tail), flagged Redelivered;
//   - Reject(false), and a message given back more than the delivery limit
//     allows, goes to the dead list;
//   - at most prefetch deliveries are unacked at once.
//
// Bodies go through Encode and Decode like RabbitMQ's. Nothing survives the
// process.
type Memory struct {
	prefetch      int
	deliveryLimit int

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced whenever a consumer may proceed
	ready   []*memMessage
	unacked map[uint64]*memMessage // by delivery tag
	dead    []DeadMessage
	nextTag uint64
	closed  bool

	consuming     bool
	consumeCtx    context.Context // the running Consume's; ended once it is stopping
	consumeCancel context.CancelFunc
	consumeDone   chan struct{}
}

type memMessage struct {
	id          string
	body        []byte
	returns     int // deliveries that ended without an ack
	redelivered bool
	tag         uint64 // while unacked
}

// DeadMessage is a message in Memory's dead list.
type DeadMessage struct {
	MessageID string
	Body      []byte
	Reason    string
}

// MemoryStats counts Memory's messages by state.
type MemoryStats struct {
	Ready   int
	Unacked int
	Dead    int
}

// MemoryOption configures a Memory.
type MemoryOption func(*Memory)

// WithMemoryPrefetch bounds the unacked deliveries (default DefaultPrefetch).
func WithMemoryPrefetch(n int) MemoryOption { return func(m *Memory) { m.prefetch = n } }

// WithMemoryDeliveryLimit sets how many deliveries of one message may end
// without an ack before it is dead-lettered (default DefaultDeliveryLimit).
func WithMemoryDeliveryLimit(n int) MemoryOption { return func(m *Memory) { m.deliveryLimit = n } }

// NewMemory returns an empty in-process queue.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		prefetch:      DefaultPrefetch,
		deliveryLimit: DefaultDeliveryLimit,
		wake:          make(chan struct{}),
		unacked:       make(map[uint64]*memMessage),
	}
	for _, o := range opts {
		o(m)
	}
	if m.prefetch <= 0 {
		m.prefetch = 1
	}
	if m.deliveryLimit <= 0 {
		m.deliveryLimit = 1
	}
	return m
}

// signal wakes the consumer. Callers hold m.mu.
func (m *Memory) signal() {
	close(m.wake)
	m.wake = make(chan struct{})
}

// Ready reports whether Publish can succeed: true until Close.
func (m *Memory) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.closed
}

// Publish enqueues one order under MessageId = its order_no.
func (m *Memory) Publish(ctx context.Context, o order.Order) error {
	return m.publish(ctx, o.OrderNo, []order.Order{o})
}

// PublishBatch enqueues several orders as one message.
func (m *Memory) PublishBatch(ctx context.Context, orders []order.Order) error {
	id, err := batchID(orders)
	if err != nil {
		return err
	}
	return m.publish(ctx, id, orders)
}

// PublishFence enqueues a stock rebuild's fence behind every message
// published before it.
func (m *Memory) PublishFence(ctx context.Context, f order.Fence) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: not sent: %w", order.ErrUnavailable, err)
	}
	if f.ID == "" || f.SaleID <= 0 {
		return fmt.Errorf("%w: fence without id or sale", order.ErrInvalid)
	}
	body, err := EncodeFence(f)
	if err != nil {
		return fmt.Errorf("%w: %w", order.ErrInvalid, err)
	}
	return m.enqueue(f.ID, body)
}

func (m *Memory) publish(ctx context.Context, id string, orders []order.Order) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: not sent: %w", order.ErrUnavailable, err)
	}
	body, err := encodeOrders(id, orders)
	if err != nil {
		return err
	}
	return m.enqueue(id, body)
}

// enqueue appends a raw body to the queue.
func (m *Memory) enqueue(id string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("%w: queue closed", order.ErrUnavailable)
	}
	m.ready = append(m.ready, &memMessage{id: id, body: body})
	m.signal()
	return nil
}

// Consume delivers messages until ctx ends. Deliveries not acked by then
// stay unacked (their Ack still works) until the next Consume puts them
// back at the head of the queue, flagged Redelivered. One Consume runs at
// a time; another returns ErrConsuming, unless the running one's context
// has ended: it waits for that one to stop, as a consumer cancelled on a
// broker is gone once the broker has processed the cancel.
func (m *Memory) Consume(ctx context.Context) (<-chan order.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.consuming && m.consumeCtx.Err() != nil && !m.closed {
		done := m.consumeDone
		m.mu.Unlock()
		<-done
		m.mu.Lock()
	}
	if m.closed {
		return nil, fmt.Errorf("%w: queue closed", order.ErrUnavailable)
	}
	if m.consuming {
		return nil, ErrConsuming
	}
	m.requeueUnacked()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	m.consuming, m.consumeCtx, m.consumeCancel, m.consumeDone = true, ctx, cancel, done
	out := make(chan order.Delivery)
	go m.consume(ctx, out, done)
	return out, nil
}

// requeueUnacked puts every unacked message back at the head of the queue
// in delivery order, as a closing AMQP channel does. Callers hold m.mu.
func (m *Memory) requeueUnacked() {
	if len(m.unacked) == 0 {
		return
	}
	back := make([]*memMessage, 0, len(m.unacked))
	for _, msg := range m.unacked {
		back = append(back, msg)
	}
	slices.SortFunc(back, func(a, b *memMessage) int { return cmp.Compare(a.tag, b.tag) })
	clear(m.unacked)
	kept := back[:0]
	for _, msg := range back {
		if m.giveBack(msg) {
			kept = append(kept, msg)
		}
	}
	m.ready = append(kept, m.ready...)
}

// giveBack counts a delivery that ended without an ack and reports whether
// the message may be delivered again; if not, it is dead-lettered. Callers
// hold m.mu.
func (m *Memory) giveBack(msg *memMessage) bool {
	msg.returns++
	msg.redelivered = true
	msg.tag = 0
	if msg.returns > m.deliveryLimit {
		m.dead = append(m.dead, DeadMessage{MessageID: msg.id, Body: msg.body, Reason: ReasonDeliveryLimit})
		return false
	}
	return true
}

func (m *Memory) consume(ctx context.Context, out chan<- order.Delivery, done chan struct{}) {
	defer func() {
		m.mu.Lock()
		m.consumeCancel()
		m.consuming, m.consumeCtx, m.consumeCancel, m.consumeDone = false, nil, nil, nil
		m.mu.Unlock()
		close(out)
		close(done)
	}()
	for {
		msg, ok := m.next(ctx)
		if !ok {
			return
		}
		d := m.delivery(msg)
		select {
		case out <- d:
		case <-ctx.Done():
			// Never handed out: back to the head, as if never delivered.
			m.mu.Lock()
			if m.unacked[msg.tag] == msg {
				delete(m.unacked, msg.tag)
				msg.tag = 0
				m.ready = append([]*memMessage{msg}, m.ready...)
			}
			m.mu.Unlock()
			return
		}
	}
}

// next waits for a message the prefetch allows and takes it as unacked.
func (m *Memory) next(ctx context.Context) (*memMessage, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.ready) == 0 || len(m.unacked) >= m.prefetch {
		wake := m.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		m.mu.Lock()
		if ctx.Err() != nil {
			return nil, false
		}
	}
	if ctx.Err() != nil {
		return nil, false
	}
	msg := m.ready[0]
	m.ready[0] = nil
	m.ready = m.ready[1:]
	m.nextTag++
	msg.tag = m.nextTag
	m.unacked[msg.tag] = msg
	return msg, true
}

func (m *Memory) delivery(msg *memMessage) order.Delivery {
	d := order.Delivery{MessageID: msg.id, Redelivered: msg.redelivered}
	if decoded, orders, err := Decode(msg.body); err != nil {
		d.DecodeErr, d.Body = err, msg.body
	} else {
		d.Orders, d.Fence = orders, decoded.fence()
	}
	tag := msg.tag
	var settled atomic.Bool
	d.Ack = func() error {
		if !settled.CompareAndSwap(false, true) {
			return ErrSettled
		}
		return m.settle(tag, func(*memMessage) {})
	}
	d.Reject = func(requeue bool) error {
		if !settled.CompareAndSwap(false, true) {
			return ErrSettled
		}
		return m.settle(tag, func(msg *memMessage) {
			switch {
			case !requeue:
				m.dead = append(m.dead, DeadMessage{MessageID: msg.id, Body: msg.body, Reason: ReasonRejected})
			case m.giveBack(msg):
				m.ready = append(m.ready, msg)
			}
		})
	}
	return d
}

// settle removes the unacked message tag and runs then on it under m.mu.
func (m *Memory) settle(tag uint64, then func(*memMessage)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, ok := m.unacked[tag]
	if !ok {
		return fmt.Errorf("%w: delivery %d was requeued to a later consumer", ErrSettled, tag)
	}
	delete(m.unacked, tag)
	then(msg)
	m.signal()
	return nil
}

// Dead returns a copy of the dead list, oldest first.
func (m *Memory) Dead() []DeadMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.dead)
}

// Stats counts the messages by state.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoryStats{Ready: len(m.ready), Unacked: len(m.unacked), Dead: len(m.dead)}
}

// Close stops a running Consume and refuses further publishes. Messages
// still queued are dropped with the process.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	cancel, done := m.consumeCancel, m.consumeDone
	m.signal()
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}
