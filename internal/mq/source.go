package mq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/order"
)

var _ order.Source = (*Source)(nil)

// ErrSettled is returned by a delivery's Ack or Reject when the delivery was
// already acked or rejected (or, in Memory, requeued to a later consumer).
// The second call sends nothing to the broker: a repeated ack would close
// the channel and requeue every other unacked message with it.
var ErrSettled = errors.New("mq: delivery already settled")

// ErrConsuming is returned by Consume while an earlier Consume of the same
// source still runs.
var ErrConsuming = errors.New("mq: source is already consuming")

// Source feeds the worker from the persist queue: manual acks, a Qos
// prefetch, one output channel kept across reconnects.
type Source struct {
	url string
	log *slog.Logger
	cfg *config

	ctx    context.Context // ends when Close gives up the connection
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor has exited

	mu            sync.Mutex
	sess          *srcSession   // nil while disconnected
	changed       chan struct{} // closed and replaced whenever sess changes
	closed        bool
	consumeCancel context.CancelFunc // ends the running Consume
	consumeDone   chan struct{}      // closed when the running Consume has stopped
}

// srcSession is one connection with a consuming channel.
type srcSession struct {
	link
	ch *amqp.Channel

	connClosed chan *amqp.Error
	chClosed   chan *amqp.Error
	dead       chan struct{} // closed once the supervisor has given the session up
}

// DialSource connects to url, declares the topology and sets the prefetch.
// The first connection must succeed; later ones are made automatically
// until Close.
func DialSource(ctx context.Context, url string, log *slog.Logger, opts ...Option) (*Source, error) {
	cfg, err := newConfig("worker", opts)
	if err != nil {
		return nil, err
	}
	s := &Source{
		url:     url,
		log:     log.With("component", "mq.source"),
		cfg:     cfg,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	sess, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sess = sess
	go s.supervise(sess)
	return s, nil
}

func (s *Source) connect(ctx context.Context) (*srcSession, error) {
	l, err := s.cfg.dial(ctx, s.url)
	if err != nil {
		return nil, err
	}
	sess, err := s.prepare(l)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("prepare source channels: %w", err)
	}
	return sess, nil
}

func (s *Source) prepare(l link) (*srcSession, error) {
	ch, err := l.conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := s.cfg.topology.declare(ch); err != nil {
		return nil, err
	}
	if err := ch.Qos(s.cfg.prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("qos: %w", err)
	}
	return &srcSession{
		link:       l,
		ch:         ch,
		connClosed: l.conn.NotifyClose(make(chan *amqp.Error, 1)),
		chClosed:   ch.NotifyClose(make(chan *amqp.Error, 1)),
		dead:       make(chan struct{}),
	}, nil
}

func (s *Source) supervise(sess *srcSession) {
	defer close(s.done)
	for {
		var err error
		select {
		case e, ok := <-sess.connClosed:
			err = closeReason("connection", e, ok)
		case e, ok := <-sess.chClosed:
			err = closeReason("consumer channel", e, ok)
		case <-s.ctx.Done():
		}
		s.setSession(nil)
		close(sess.dead)
		sess.close()
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("amqp source disconnected; reconnecting", "err", err)
		next, ok := retry(s.ctx, s.cfg, s.log, "source", s.connect)
		if !ok {
			return
		}
		s.setSession(next)
		s.log.Info("amqp source reconnected")
		sess = next
	}
}

func (s *Source) setSession(sess *srcSession) {
	s.mu.Lock()
	s.sess = sess
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Source) current() *srcSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sess
}

// waitSession returns the live session, waiting for a reconnect if need be;
// nil once ctx ends.
func (s *Source) waitSession(ctx context.Context) *srcSession {
	for {
		s.mu.Lock()
		sess, changed := s.sess, s.changed
		s.mu.Unlock()
		if sess != nil {
			return sess
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// Consume starts consuming the persist queue. The returned channel survives
// reconnects: after one, deliveries the worker still holds can no longer be
// acked (their Ack fails and the broker redelivers them). When ctx ends the
// consumer is cancelled, deliveries the broker had sent but the worker had
// not taken are requeued, and the channel is closed; deliveries already
// taken can still be acked until Close.
//
// Unacked deliveries go back to the queue when the channel closes: to have
// them redelivered, Close the source and dial a new one.
func (s *Source) Consume(ctx context.Context) (<-chan order.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: source closed", order.ErrUnavailable)
	}
	if s.consumeDone != nil {
		return nil, ErrConsuming
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.consumeCancel, s.consumeDone = cancel, done
	out := make(chan order.Delivery)
	go s.consume(ctx, out, done)
	return out, nil
}

func (s *Source) consume(ctx context.Context, out chan<- order.Delivery, done chan struct{}) {
	defer func() {
		s.mu.Lock()
		s.consumeCancel()
		s.consumeCancel, s.consumeDone = nil, nil
		s.mu.Unlock()
		close(out)
		close(done)
	}()
	for {
		sess := s.waitSession(ctx)
		if sess == nil {
			return
		}
		queue := s.cfg.topology.PartitionQueue(s.cfg.partition)
		deliveries, err := sess.ch.Consume(queue, s.cfg.consumerTag, false, false, false, false, nil)
		if err != nil {
			s.log.Warn("amqp consume failed; reconnecting", "queue", queue, "err", err)
		} else if s.pump(ctx, sess, deliveries, out) {
			return
		} else if !sess.ch.IsClosed() {
			s.log.Warn("amqp consumer cancelled by the broker; reconnecting", "queue", queue)
		}
		// Whatever ended the consumer, a new connection re-declares the
		// topology and starts over.
		sess.close()
		select {
		case <-sess.dead:
		case <-ctx.Done():
			return
		}
	}
}

// pump forwards deliveries to out until they end (false) or ctx ends (true,
// after cancelling the consumer).
func (s *Source) pump(ctx context.Context, sess *srcSession, deliveries <-chan amqp.Delivery, out chan<- order.Delivery) bool {
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return false
			}
			select {
			case out <- s.delivery(d):
			case <-ctx.Done():
				_ = d.Reject(true)
				s.cancelConsumer(sess, deliveries)
				return true
			}
		case <-ctx.Done():
			s.cancelConsumer(sess, deliveries)
			return true
		}
	}
}

// cancelConsumer sends basic.cancel and requeues what the broker had
// already sent but nobody took. The library closes deliveries after the
// cancel-ok, or when the channel closes.
func (s *Source) cancelConsumer(sess *srcSession, deliveries <-chan amqp.Delivery) {
	if err := sess.ch.Cancel(s.cfg.consumerTag, false); err != nil {
		// Closing the connection is what guarantees deliveries ends; the
		// broker requeues everything unacked.
		s.log.Warn("amqp cancel consumer failed; closing the connection", "err", err)
		sess.close()
	}
	for d := range deliveries {
		_ = d.Reject(true)
	}
}

// delivery turns an AMQP delivery into the worker's view of it.
func (s *Source) delivery(d amqp.Delivery) order.Delivery {
	out := order.Delivery{MessageID: d.MessageId, Redelivered: d.Redelivered}
	if m, orders, err := Decode(d.Body); err != nil {
		out.DecodeErr, out.Body = err, d.Body
	} else {
		out.Orders, out.Fence = orders, m.fence()
		if out.MessageID == "" {
			out.MessageID = m.MessageID
		}
	}
	// A delivery is settled once: a second ack or reject would close the
	// channel and requeue every other unacked message with it.
	var settled atomic.Bool
	settle := func(what string, send func() error) error {
		if !settled.CompareAndSwap(false, true) {
			return ErrSettled
		}
		if err := send(); err != nil {
			return fmt.Errorf("%w: %s %s: %w", order.ErrUnavailable, what, out.MessageID, err)
		}
		return nil
	}
	out.Ack = func() error { return settle("ack", func() error { return d.Ack(false) }) }
	out.AckThrough = func() error { return settle("ack through", func() error { return d.Ack(true) }) }
	out.Reject = func(requeue bool) error {
		return settle("reject", func() error { return d.Reject(requeue) })
	}
	return out
}

// Close stops a running Consume (cancelling the consumer), then closes the
// channels and the connection; the broker requeues every delivery that was
// not acked.
func (s *Source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	cancel, done := s.consumeCancel, s.consumeDone
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	s.cancel()
	<-s.done
	return nil
}
