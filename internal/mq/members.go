package mq

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Default timing of Members.
const (
	DefaultHeartbeat = time.Second
	// membersTTL heartbeats missed in a row make a member dead.
	membersTTL = 4
)

// Members tells which workers of a topology are alive, so that they can
// share the persist partitions between them. Each one sends its id to the
// fanout exchange <Exchange>.members every heartbeat and hears everyone's
// on an exclusive queue of its own; a member not heard for four heartbeats
// is gone. Nothing it sends is persistent or confirmed: a lost heartbeat
// only delays a rebalance, and the partitions' single active consumer keeps
// each partition in order whatever two members believe.
type Members struct {
	url   string
	log   *slog.Logger
	cfg   *config
	self  string
	every time.Duration

	mu   sync.Mutex
	seen map[string]time.Time
}

// NewMembers prepares a member under a fresh id; Run takes part.
func NewMembers(url string, log *slog.Logger, every time.Duration, opts ...Option) (*Members, error) {
	cfg, err := newConfig("worker", opts)
	if err != nil {
		return nil, err
	}
	if every <= 0 {
		every = DefaultHeartbeat
	}
	return &Members{url: url, log: log.With("component", "mq.members"), cfg: cfg,
		self: uuid.NewString(), every: every, seen: map[string]time.Time{}}, nil
}

// Self is this member's id.
func (m *Members) Self() string { return m.self }

// Live returns the ids of the members heard lately, this one always among
// them, sorted.
func (m *Members) Live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	cutoff := time.Now().Add(-membersTTL * m.every)
	out := []string{m.self}
	for id, at := range m.seen {
		switch {
		case at.Before(cutoff):
			delete(m.seen, id)
		case id != m.self:
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Heartbeat is how often Run announces this member.
func (m *Members) Heartbeat() time.Duration { return m.every }

func (m *Members) exchange() string { return m.cfg.topology.Exchange + ".members" }

// Run announces this member and listens to the others until ctx ends,
// reconnecting on its own. It returns nil once ctx ends.
func (m *Members) Run(ctx context.Context) error {
	for {
		err := m.session(ctx)
		select {
		case <-ctx.Done():
			return nil
		default:
		}
		m.log.Warn("amqp members session ended; reconnecting", "err", err, "retry_in", m.every)
		select {
		case <-time.After(m.every):
		case <-ctx.Done():
			return nil
		}
	}
}

// session is one connection: declare, listen, announce, until an error
// or ctx ends.
func (m *Members) session(ctx context.Context) error {
	l, err := m.cfg.dial(ctx, m.url)
	if err != nil {
		return err
	}
	defer l.close()
	ch, err := l.conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.ExchangeDeclare(m.exchange(), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", m.exchange(), err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{
		"x-message-ttl": (membersTTL * m.every).Milliseconds(),
	})
	if err != nil {
		return fmt.Errorf("declare members queue: %w", err)
	}
	if err := ch.QueueBind(q.Name, "", m.exchange(), false, nil); err != nil {
		return fmt.Errorf("bind members queue: %w", err)
	}
	heard, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume members queue: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	announce := func() error {
		if err := ch.PublishWithContext(ctx, m.exchange(), "", false, false, amqp.Publishing{Body: []byte(m.self)}); err != nil {
			return fmt.Errorf("announce: %w", err)
		}
		return nil
	}
	if err := announce(); err != nil {
		return err
	}
	tick := time.NewTicker(m.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-closed:
			return closeReason("members channel", e, ok)
		case d, ok := <-heard:
			if !ok {
				return fmt.Errorf("members queue: consumer ended")
			}
			m.heard(string(d.Body))
		case <-tick.C:
			if err := announce(); err != nil {
				return err
			}
		}
	}
}

func (m *Members) heard(id string) {
	if id == "" || len(id) > 64 {
		return
	}
	m.mu.Lock()
	m.seen[id] = time.Now()
	m.mu.Unlock()
}
