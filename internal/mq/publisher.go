package mq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

var _ order.Publisher = (*Publisher)(nil)

// Publisher hands orders to RabbitMQ with publisher confirms.
//
// All publishes share one channel in confirm mode. Any number of them, up to
// the window, wait for their confirms at once; each waits only for its own.
// The Publisher reconnects on its own; while it is disconnected Ready is
// false and Publish fails at once with order.ErrUnavailable.
type Publisher struct {
	url string
	log *slog.Logger
	cfg *config

	window chan struct{} // a slot per publish waiting for its confirm

	ctx    context.Context // ends when Close gives up on the connection
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor has exited

	mu      sync.RWMutex
	sess    *pubSession // nil while disconnected
	closing bool
	active  sync.WaitGroup // publishes between admission and their outcome
}

// pubSession is one connection and its confirm-mode channel.
type pubSession struct {
	link
	ch *amqp.Channel

	connClosed chan *amqp.Error
	chClosed   chan *amqp.Error
	blocks     chan amqp.Blocking
	blocked    atomic.Bool // the broker has blocked publishing (resource alarm)

	// Returns: see listen.
	returns      chan amqp.Return
	barrier      chan chan struct{}
	listenerDone chan struct{}

	mu      sync.Mutex
	pending map[string][]*pendingPublish // by message id
}

// pendingPublish is what the return listener learned about one publish.
type pendingPublish struct {
	returned  bool   // a basic.return named this message id while it was the only one pending
	ambiguous bool   // a basic.return named this message id while several publishes of it were pending
	reason    string // the broker's reply text of the return
}

// DialPublisher connects to url, declares the topology, and enables confirm
// mode. The first connection must succeed; later ones are made
// automatically until Close.
func DialPublisher(ctx context.Context, url string, log *slog.Logger, opts ...Option) (*Publisher, error) {
	cfg, err := newConfig("api", opts)
	if err != nil {
		return nil, err
	}
	p := &Publisher{
		url:    url,
		log:    log.With("component", "mq.publisher"),
		cfg:    cfg,
		window: make(chan struct{}, cfg.window),
		done:   make(chan struct{}),
	}
	s, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.sess = s
	go p.supervise(s)
	return p, nil
}

// connect dials and prepares a session: topology, confirm mode, listeners.
func (p *Publisher) connect(ctx context.Context) (*pubSession, error) {
	l, err := p.cfg.dial(ctx, p.url)
	if err != nil {
		return nil, err
	}
	ch, err := l.conn.Channel()
	if err == nil {
		err = p.cfg.topology.declare(ch)
	}
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		l.close()
		return nil, fmt.Errorf("prepare publisher channel: %w", err)
	}
	s := &pubSession{
		link:         l,
		ch:           ch,
		connClosed:   l.conn.NotifyClose(make(chan *amqp.Error, 1)),
		chClosed:     ch.NotifyClose(make(chan *amqp.Error, 1)),
		blocks:       l.conn.NotifyBlocked(make(chan amqp.Blocking, 4)),
		returns:      ch.NotifyReturn(make(chan amqp.Return, returnsBuffer)),
		barrier:      make(chan chan struct{}),
		listenerDone: make(chan struct{}),
		pending:      make(map[string][]*pendingPublish),
	}
	go s.listen()
	return s, nil
}

// supervise watches the live session and replaces it when it dies, until
// the Publisher's context ends.
func (p *Publisher) supervise(s *pubSession) {
	defer close(p.done)
	for {
		err := s.wait(p.ctx.Done())
		p.setSession(nil)
		s.close()
		if err == nil {
			return
		}
		p.log.Warn("amqp publisher disconnected; reconnecting", "err", err)
		next, ok := retry(p.ctx, p.cfg, p.log, "publisher", p.connect)
		if !ok {
			return
		}
		p.setSession(next)
		p.log.Info("amqp publisher reconnected")
		s = next
	}
}

func (p *Publisher) setSession(s *pubSession) {
	p.mu.Lock()
	p.sess = s
	p.mu.Unlock()
}

// wait blocks until the connection or the channel closes (the reason) or
// stop closes (nil). It tracks the broker's blocked/unblocked notices.
func (s *pubSession) wait(stop <-chan struct{}) error {
	for {
		select {
		case e, ok := <-s.connClosed:
			return closeReason("connection", e, ok)
		case e, ok := <-s.chClosed:
			return closeReason("channel", e, ok)
		case b, ok := <-s.blocks:
			if !ok {
				s.blocks = nil
				continue
			}
			s.blocked.Store(b.Active)
		case <-stop:
			return nil
		}
	}
}

// close closes the connection (and with it the channel, which completes
// every outstanding confirmation as not acked) and waits for the return
// listener to finish.
func (s *pubSession) close() {
	s.link.close()
	<-s.listenerDone
}

// listen is the only receiver of basic.return for the session.
//
// Attribution of returns is rigorous because of two orderings:
//
//  1. The broker sends basic.return for an unroutable mandatory message
//     before the basic.ack of the same message, and the library's single
//     reader goroutine hands the return to the returns channel before it
//     processes the ack that completes the DeferredConfirmation.
//  2. A waiter that has seen its ack sends a barrier request to this
//     goroutine. Before answering it, this goroutine drains every return
//     already in the buffer. By (1) any return of the waiter's message was
//     in the buffer before the ack, hence before the barrier request, so it
//     is marked before the waiter looks at its mark.
//
// If the returns channel is closed (channel shutdown), this goroutine drains
// it to the end before exiting, so a waiter that finds listenerDone closed
// can also trust its mark.
//
// The library gives up a notification that a listener leaves unreceived for
// seconds; this goroutine only takes a mutex for a map update between
// receives, and the channel is buffered, so a return is never given up.
func (s *pubSession) listen() {
	defer close(s.listenerDone)
	for {
		select {
		case r, ok := <-s.returns:
			if !ok {
				return
			}
			s.markReturned(r)
		case b := <-s.barrier:
			for drained := false; !drained; {
				select {
				case r, ok := <-s.returns:
					if !ok {
						close(b)
						return
					}
					s.markReturned(r)
				default:
					drained = true
				}
			}
			close(b)
		}
	}
}

func (s *pubSession) markReturned(r amqp.Return) {
	s.mu.Lock()
	defer s.mu.Unlock()
	waiting := s.pending[r.MessageId]
	for _, pp := range waiting {
		if len(waiting) == 1 {
			pp.returned = true
		} else {
			pp.ambiguous = true
		}
		pp.reason = fmt.Sprintf("%d %s", r.ReplyCode, r.ReplyText)
	}
}

// sync returns once every basic.return received before now is marked.
func (s *pubSession) sync() {
	b := make(chan struct{})
	select {
	case s.barrier <- b:
		<-b
	case <-s.listenerDone:
	}
}

func (s *pubSession) track(id string) *pendingPublish {
	pp := &pendingPublish{}
	s.mu.Lock()
	s.pending[id] = append(s.pending[id], pp)
	s.mu.Unlock()
	return pp
}

func (s *pubSession) untrack(id string, pp *pendingPublish) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.pending[id]
	for i, x := range list {
		if x == pp {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.pending, id)
	} else {
		s.pending[id] = list
	}
}

func (s *pubSession) outcome(pp *pendingPublish) (returned, ambiguous bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pp.returned, pp.ambiguous, pp.reason
}

// Ready reports whether a publish can be attempted now: connected, not
// blocked by the broker, not closed.
func (p *Publisher) Ready() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return !p.closing && p.sess != nil && !p.sess.blocked.Load()
}

// Publish hands one order to the broker under MessageId = its order_no and
// returns nil once the broker has confirmed it. Errors wrap
// order.ErrPublishFailed (nacked or unroutable), order.ErrUnavailable (not
// sent) or order.ErrPublishUnconfirmed (sent, outcome unknown).
func (p *Publisher) Publish(ctx context.Context, o order.Order) error {
	return p.publish(ctx, o.OrderNo, []order.Order{o})
}

// PublishBatch hands several orders to the broker in one message, with the
// semantics of Publish. A batch of one is published as Publish does; a
// larger one gets a new UUIDv7 as its message id.
func (p *Publisher) PublishBatch(ctx context.Context, orders []order.Order) error {
	id, err := batchID(orders)
	if err != nil {
		return err
	}
	return p.publish(ctx, id, orders)
}

// PublishFence sends a stock rebuild's fence through the order queue,
// behind every message published before it, under MessageId = the fence's
// id, with the delivery guarantees and errors of Publish.
func (p *Publisher) PublishFence(ctx context.Context, f order.Fence) error {
	if f.ID == "" || f.SaleID <= 0 {
		return fmt.Errorf("%w: fence without id or sale", order.ErrInvalid)
	}
	body, err := EncodeFence(f)
	if err != nil {
		return fmt.Errorf("%w: %w", order.ErrInvalid, err)
	}
	return p.send(ctx, f.ID, body, p.cfg.topology.PartitionOf(f.SaleID))
}

// Partitions is the number of persist partitions: a message carries the
// orders of one partition only (see PartitionOf).
func (p *Publisher) Partitions() int { return p.cfg.topology.partitions() }

// PartitionOf is the persist partition of saleID.
func (p *Publisher) PartitionOf(saleID int64) int { return p.cfg.topology.PartitionOf(saleID) }

func (p *Publisher) publish(ctx context.Context, id string, orders []order.Order) error {
	k := p.cfg.topology.PartitionOf(orders[0].SaleID)
	for _, o := range orders[1:] {
		if p.cfg.topology.PartitionOf(o.SaleID) != k {
			return fmt.Errorf("%w: one message for orders of several persist partitions", order.ErrInvalid)
		}
	}
	body, err := encodeOrders(id, orders)
	if err != nil {
		return err
	}
	return p.send(ctx, id, body, k)
}

// send publishes body under id, confirmed, persistent and mandatory, to
// the order exchange with the order.created routing key; with several
// persist partitions, a BCC header adds partition k's key.
func (p *Publisher) send(ctx context.Context, id string, body []byte, k int) error {
	var headers amqp.Table
	if p.cfg.topology.partitions() > 1 {
		headers = amqp.Table{"BCC": []any{p.cfg.topology.PartitionKey(k)}}
	}
	return p.sendTo(ctx, p.cfg.topology.RoutingKey, true, id, body, headers)
}

// sendTo publishes body under id, confirmed and persistent, to the order
// exchange with routing key key; a mandatory message that no queue takes
// comes back as unroutable.
func (p *Publisher) sendTo(ctx context.Context, key string, mandatory bool, id string, body []byte, headers amqp.Table) error {
	s, err := p.admit()
	if err != nil {
		p.failed(metrics.PublishDisconnected)
		return err
	}
	defer p.active.Done()

	select {
	case p.window <- struct{}{}:
	case <-ctx.Done():
		p.failed(metrics.PublishTimeout)
		return fmt.Errorf("%w: no free confirm slot: %w", order.ErrUnavailable, ctx.Err())
	case <-p.ctx.Done():
		p.failed(metrics.PublishDisconnected)
		return fmt.Errorf("%w: publisher closed", order.ErrUnavailable)
	}
	defer func() { <-p.window }()

	kind, err := p.confirmed(ctx, s, key, mandatory, id, body, headers)
	if err != nil {
		p.failed(kind)
		return fmt.Errorf("publish %s: %w", id, err)
	}
	return nil
}

// admit hands out the live session and counts the publish as active, or
// tells why no publish can be attempted.
func (p *Publisher) admit() (*pubSession, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	switch {
	case p.closing:
		return nil, fmt.Errorf("%w: publisher closed", order.ErrUnavailable)
	case p.sess == nil:
		return nil, fmt.Errorf("%w: not connected to the broker", order.ErrUnavailable)
	case p.sess.blocked.Load():
		return nil, fmt.Errorf("%w: broker is blocking publishers", order.ErrUnavailable)
	}
	p.active.Add(1)
	return p.sess, nil
}

// confirmed publishes body on s and waits for its confirm. kind is the
// metrics label of a failure.
func (p *Publisher) confirmed(ctx context.Context, s *pubSession, key string, mandatory bool, id string, body []byte, headers amqp.Table) (kind string, err error) {
	pp := s.track(id)
	defer s.untrack(id, pp)

	m := p.cfg.metrics
	if m != nil {
		m.ConfirmsOutstanding.Inc()
		defer m.ConfirmsOutstanding.Dec()
	}
	start := time.Now()
	dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, p.cfg.topology.Exchange, key, mandatory, false, amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    id,
		Timestamp:    start,
		Type:         key,
		Headers:      headers,
		Body:         body,
	})
	if err != nil {
		return sendFailed(err)
	}
	if dc == nil {
		return metrics.PublishDisconnected, fmt.Errorf("%w: channel not in confirm mode", order.ErrPublishUnconfirmed)
	}
	if kind, err := waitConfirm(ctx, s.ch, dc, p.cfg.confirmTimeout); err != nil {
		return kind, err
	}
	s.sync()
	returned, ambiguous, reason := s.outcome(pp)
	switch {
	case returned:
		return metrics.PublishReturned, fmt.Errorf("%w: unroutable: %s", order.ErrPublishFailed, reason)
	case ambiguous:
		return metrics.PublishReturned, fmt.Errorf("%w: a message with the same id was returned (%s)", order.ErrPublishUnconfirmed, reason)
	}
	if m != nil {
		m.PublishDuration.Observe(time.Since(start).Seconds())
	}
	return "", nil
}

func (p *Publisher) failed(kind string) {
	if p.cfg.metrics != nil && kind != "" {
		p.cfg.metrics.PublishFailures.WithLabelValues(kind).Inc()
	}
}

// Close stops accepting publishes, waits (bounded by ctx) for the
// outstanding confirms, then closes the channel and the connection. Publishes
// still waiting when ctx ends get order.ErrPublishUnconfirmed. Close returns
// ctx's error in that case; it always releases every resource.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closing = true
	p.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		p.active.Wait()
		close(drained)
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("close publisher: outstanding confirms: %w", ctx.Err())
	}
	p.cancel()
	<-p.done
	// Closing the channel completed whatever was still waiting.
	<-drained
	return err
}
