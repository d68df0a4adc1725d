// Package mq carries accepted orders from the api to the worker: a RabbitMQ
// adapter (publisher confirms, quorum queue, dead letters) and an in-process
// queue with the same semantics for the embedded mode. It also relays the
// lifecycle events (order.paid, order.cancelled) to the same exchange.
//
// It imports the domain (order), metrics, redact, the group-commit
// primitive (groupcommit) and amqp091-go; never the packages that use it
// (consumer, httpapi, app).
package mq

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

// SchemaVersion is the version of the message body written by this code.
const SchemaVersion = 1

// Names of the topology, fixed: deployments and outside consumers rely on
// them (docs/design.md); tests use a prefix.
const (
	Exchange       = "seckill.orders"
	RoutingCreated = "order.created"
	PersistQueue   = "seckill.orders.persist"
	DeadExchange   = "seckill.orders.dlx"
	DeadQueue      = "seckill.orders.dead"
)

// Message is the JSON body of an order.created message. It may carry one
// order or several accepted together; each carries its own order_no. A
// stock rebuild's fence travels the same way with a fence and no orders.
type Message struct {
	Schema    int            `json:"schema"`
	MessageID string         `json:"message_id"`
	Orders    []MessageOrder `json:"orders,omitempty"`
	Fence     *MessageFence  `json:"fence,omitempty"`
}

// MessageFence is the fence of a stock rebuild inside a Message.
type MessageFence struct {
	ID     string `json:"id"`
	SaleID int64  `json:"sale_id"`
}

// MessageOrder is one order inside a Message.
type MessageOrder struct {
	OrderNo    string    `json:"order_no"`
	SaleID     int64     `json:"sale_id"`
	UserID     int64     `json:"user_id"`
	ReservedAt time.Time `json:"reserved_at"`
}

// Encode builds the body for orders under messageID.
func Encode(messageID string, orders []order.Order) ([]byte, error) {
	m := Message{Schema: SchemaVersion, MessageID: messageID, Orders: make([]MessageOrder, len(orders))}
	for i, o := range orders {
		m.Orders[i] = MessageOrder{OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID, ReservedAt: o.CreatedAt.UTC()}
	}
	return marshal(&m)
}

// marshal is json.Marshal(m), through the canonical codec when it can.
func marshal(m *Message) ([]byte, error) {
	// An order takes about 130 bytes.
	if b, ok := appendCanonical(make([]byte, 0, 64+136*len(m.Orders)), m); ok {
		return b, nil
	}
	return json.Marshal(m)
}

// batchID is the message id of orders published together: the order
// number of a lone order, as Publish uses, else a new UUIDv7.
func batchID(orders []order.Order) (string, error) {
	switch len(orders) {
	case 0:
		return "", fmt.Errorf("%w: empty batch", order.ErrInvalid)
	case 1:
		return orders[0].OrderNo, nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("%w: message id: %w", order.ErrUnavailable, err)
	}
	return id.String(), nil
}

// encodeOrders is Encode with the errors of a publish: a message without
// an id, or orders that cannot be encoded, are order.ErrInvalid.
func encodeOrders(id string, orders []order.Order) ([]byte, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: order without order_no", order.ErrInvalid)
	}
	body, err := Encode(id, orders)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", order.ErrInvalid, err)
	}
	return body, nil
}

// EncodeFence builds the body of fence f: no orders, message id f.ID.
func EncodeFence(f order.Fence) ([]byte, error) {
	return marshal(&Message{Schema: SchemaVersion, MessageID: f.ID, Fence: &MessageFence{ID: f.ID, SaleID: f.SaleID}})
}

// fence returns the fence a decoded message carries, or nil.
func (m Message) fence() *order.Fence {
	if m.Fence == nil {
		return nil
	}
	return &order.Fence{ID: m.Fence.ID, SaleID: m.Fence.SaleID}
}

// Decode parses a body: a message with orders, or a fence (Message.Fence
// set, no orders). A body it cannot use is an error: the caller
// dead-letters it rather than retrying forever.
func Decode(body []byte) (Message, []order.Order, error) {
	m, ok := decodeCanonical(body)
	if !ok {
		if err := json.Unmarshal(body, &m); err != nil {
			return Message{}, nil, fmt.Errorf("decode message: %w", err)
		}
	}
	if m.Schema != SchemaVersion {
		return Message{}, nil, fmt.Errorf("decode message: unsupported schema %d", m.Schema)
	}
	if m.Fence != nil {
		switch {
		case len(m.Orders) > 0:
			return Message{}, nil, fmt.Errorf("decode message %s: a fence with orders", m.MessageID)
		case m.Fence.ID == "" || m.Fence.SaleID <= 0:
			return Message{}, nil, fmt.Errorf("decode message %s: fence incomplete", m.MessageID)
		}
		return m, nil, nil
	}
	if len(m.Orders) == 0 {
		return Message{}, nil, fmt.Errorf("decode message %s: neither orders nor a fence", m.MessageID)
	}
	out := make([]order.Order, len(m.Orders))
	for i, o := range m.Orders {
		if o.OrderNo == "" || o.SaleID <= 0 || o.UserID <= 0 {
			return Message{}, nil, fmt.Errorf("decode message %s: order %d incomplete", m.MessageID, i)
		}
		out[i] = order.Order{OrderNo: o.OrderNo, SaleID: o.SaleID, UserID: o.UserID, Status: order.StatusCreated, CreatedAt: o.ReservedAt}
	}
	return m, out, nil
}
