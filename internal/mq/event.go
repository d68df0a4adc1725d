package mq

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// EventMessage is the JSON body of an order.paid or order.cancelled
// message: one or several orders that changed, each with the id of its
// event, so a consumer that receives an event twice (relaying is at least
// once) can drop the repeat.
type EventMessage struct {
	Schema    int          `json:"schema"`
	MessageID string       `json:"message_id"`
	Event     string       `json:"event"`
	Orders    []EventOrder `json:"orders"`
}

// EventOrder is one order inside an EventMessage, after its change.
type EventOrder struct {
	EventID   int64     `json:"event_id"`
	OrderNo   string    `json:"order_no"`
	SaleID    int64     `json:"sale_id"`
	UserID    int64     `json:"user_id"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	At        time.Time `json:"at"`
}

// EncodeEvents builds the body of one message carrying events, which all
// have the kind kind.
func EncodeEvents(messageID, kind string, events []order.Event) ([]byte, error) {
	m := EventMessage{Schema: SchemaVersion, MessageID: messageID, Event: kind, Orders: make([]EventOrder, len(events))}
	for i, e := range events {
		if e.Kind != kind {
			return nil, fmt.Errorf("event %d is %s in a message of %s", e.ID, e.Kind, kind)
		}
		eo := EventOrder{
			EventID: e.ID, OrderNo: e.Order.OrderNo, SaleID: e.Order.SaleID, UserID: e.Order.UserID,
			Status: string(e.Order.Status), CreatedAt: e.Order.CreatedAt.UTC(), At: e.At.UTC(),
		}
		if e.Order.Reason != "" {
			eo.Reason = order.EventReason(e.Order.Reason)
			if eo.Reason != e.Order.Reason {
				eo.Detail = e.Order.Reason
			}
		}
		m.Orders[i] = eo
	}
	return json.Marshal(m)
}

// eachMessage encodes events as messages, one per run of one kind in
// their order, each under a new UUIDv7 message id, and hands each to
// deliver with its kind as routing key; once deliver took a message, its
// events count in m's EventsRelayed (m may be nil). It stops at the first
// error.
func eachMessage(events []order.Event, m *metrics.Metrics, deliver func(kind, id string, body []byte) error) error {
	for i := 0; i < len(events); {
		j := i + 1
		for j < len(events) && events[j].Kind == events[i].Kind {
			j++
		}
		run, kind := events[i:j], events[i].Kind
		i = j
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("%w: message id: %w", order.ErrUnavailable, err)
		}
		body, err := EncodeEvents(id.String(), kind, run)
		if err != nil {
			return fmt.Errorf("%w: %w", order.ErrInvalid, err)
		}
		if err := deliver(kind, id.String(), body); err != nil {
			return err
		}
		if m != nil {
			m.EventsRelayed.WithLabelValues(kind).Add(float64(len(run)))
		}
	}
	return nil
}

// PublishEvents publishes events to the order exchange, one message per
// run of one kind under that kind as routing key, persistent, each
// confirmed before the next is sent. Unlike orders, events are not
// mandatory: an exchange with nobody bound to a key is not an error.
// nil means the broker confirmed every message.
func (p *Publisher) PublishEvents(ctx context.Context, events []order.Event) error {
	return eachMessage(events, p.cfg.metrics, func(kind, id string, body []byte) error {
		return p.sendTo(ctx, kind, false, id, body, nil)
	})
}

// EventLog is where the embedded mode, which has no broker for other
// systems to bind to, relays its events: it keeps the newest ones in
// memory, encoded as the broker would carry them.
type EventLog struct {
	mu     sync.Mutex
	keep   int
	bodies [][]byte
	keys   []string
	m      *metrics.Metrics
}

// NewEventLog returns an EventLog that keeps the keep newest messages.
func NewEventLog(keep int, m *metrics.Metrics) *EventLog {
	return &EventLog{keep: max(keep, 1), m: m}
}

// PublishEvents encodes events as PublishEvents does and keeps them.
func (l *EventLog) PublishEvents(_ context.Context, events []order.Event) error {
	return eachMessage(events, l.m, func(kind, _ string, body []byte) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.keys = append(l.keys, kind)
		l.bodies = append(l.bodies, body)
		if over := len(l.bodies) - l.keep; over > 0 {
			l.keys = slices.Delete(l.keys, 0, over)
			l.bodies = slices.Delete(l.bodies, 0, over)
		}
		return nil
	})
}

// Messages returns the kept messages, oldest first, as routing key and body.
func (l *EventLog) Messages() (keys []string, bodies [][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.keys), slices.Clone(l.bodies)
}
