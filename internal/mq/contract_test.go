package mq

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

// batchPublisher is what both queues offer the api.
type batchPublisher interface {
	order.Publisher
	PublishBatch(ctx context.Context, orders []order.Order) error
}

// deadLetter is a message in the dead-letter queue, whoever put it there.
type deadLetter struct {
	body   []byte
	reason string
}

// queueHarness is one implementation of the order queue under the contract.
type queueHarness struct {
	pub batchPublisher
	// source opens a consumer session; release ends it so that its unacked
	// deliveries go back to the queue for the next session.
	source  func(tb testing.TB) order.Source
	release func(tb testing.TB, s order.Source)
	// publishRaw puts a body of the adapter's choosing in the queue.
	publishRaw func(tb testing.TB, id string, body []byte)
	// dead waits for want dead letters and takes them.
	dead func(tb testing.TB, want int) []deadLetter
	// pending counts messages in the queue, ready or unacked, once no
	// session is open.
	pending func(tb testing.TB) int
}

func rabbitHarness(tb testing.TB) queueHarness {
	tb.Helper()
	b := newBroker(tb)
	log := testLogger(tb)
	pub, err := DialPublisher(context.Background(), b.url, log, WithTopology(b.topo))
	mustNoErr(tb, err, "dial publisher")
	tb.Cleanup(func() { mustNoErr(tb, pub.Close(context.Background()), "close publisher") })
	return queueHarness{
		pub: pub,
		source: func(tb testing.TB) order.Source {
			tb.Helper()
			src, err := DialSource(context.Background(), b.url, log, WithTopology(b.topo), WithPrefetch(16))
			mustNoErr(tb, err, "dial source")
			tb.Cleanup(func() { _ = src.Close() })
			return src
		},
		release: func(tb testing.TB, s order.Source) {
			tb.Helper()
			mustNoErr(tb, s.(*Source).Close(), "close source")
		},
		publishRaw: func(tb testing.TB, id string, body []byte) {
			tb.Helper()
			b.publishRaw(id, body)
		},
		dead: func(tb testing.TB, want int) []deadLetter {
			tb.Helper()
			var out []deadLetter
			for _, d := range b.drain(b.topo.DeadQueue, want) {
				reason, _ := d.Headers["x-first-death-reason"].(string)
				out = append(out, deadLetter{body: d.Body, reason: reason})
			}
			return out
		},
		pending: func(tb testing.TB) int {
			tb.Helper()
			return b.depth(b.topo.Queue)
		},
	}
}

func memoryHarness(tb testing.TB) queueHarness {
	tb.Helper()
	m := NewMemory(WithMemoryPrefetch(16))
	tb.Cleanup(func() { _ = m.Close() })
	return queueHarness{
		pub:     m,
		source:  func(testing.TB) order.Source { return m },
		release: func(testing.TB, order.Source) {},
		publishRaw: func(tb testing.TB, id string, body []byte) {
			tb.Helper()
			mustNoErr(tb, m.enqueue(id, body), "enqueue")
		},
		dead: func(tb testing.TB, want int) []deadLetter {
			tb.Helper()
			waitFor(tb, "dead letters", func() bool { return len(m.Dead()) >= want })
			var out []deadLetter
			for _, d := range m.Dead() {
				out = append(out, deadLetter{body: d.Body, reason: d.Reason})
			}
			return out
		},
		pending: func(testing.TB) int {
			s := m.Stats()
			return s.Ready + s.Unacked
		},
	}
}

// assertEmpty checks that no message is left in the queue, ready or
// unacked, once no session is open.
func (h queueHarness) assertEmpty(tb testing.TB) {
	tb.Helper()
	if n := h.pending(tb); n != 0 {
		tb.Fatalf("%d messages left in the queue", n)
	}
}

// TestQueueContract runs the behaviour the api and the worker rely on
// against RabbitMQ and against the in-process queue.
func TestQueueContract(t *testing.T) {
	impls := []struct {
		name    string
		harness func(testing.TB) queueHarness
	}{
		{"rabbitmq", rabbitHarness},
		{"memory", memoryHarness},
	}
	cases := []struct {
		name string
		run  func(t *testing.T, h queueHarness)
	}{
		{"publish consume ack", testPublishConsumeAck},
		{"unacked redelivered after restart", testRedeliveredAfterRestart},
		{"ack after consumer stopped", testAckAfterStop},
		{"reject requeue redelivers", testRejectRequeue},
		{"undecodable rejected to dead", testUndecodableToDead},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, impl.harness(t))
				})
			}
		})
	}
}

func consume(tb testing.TB, src order.Source) (<-chan order.Delivery, context.CancelFunc) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	out, err := src.Consume(ctx)
	mustNoErr(tb, err, "consume")
	return out, cancel
}

func assertOrders(tb testing.TB, got, want []order.Order) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d orders, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.OrderNo != w.OrderNo || g.SaleID != w.SaleID || g.UserID != w.UserID || !g.CreatedAt.Equal(w.CreatedAt) {
			tb.Fatalf("order %d: got %+v, want %+v", i, g, w)
		}
		if g.Status != order.StatusCreated {
			tb.Fatalf("order %d: status %q, want %q", i, g.Status, order.StatusCreated)
		}
	}
}

func testPublishConsumeAck(t *testing.T, h queueHarness) {
	ctx := context.Background()
	if !h.pub.Ready() {
		t.Fatal("publisher not ready")
	}
	one := newOrder(t)
	batch := []order.Order{newOrder(t), newOrder(t)}
	mustNoErr(t, h.pub.Publish(ctx, one), "publish")
	mustNoErr(t, h.pub.PublishBatch(ctx, batch), "publish batch")

	src := h.source(t)
	out, cancel := consume(t, src)
	got := receive(t, out, 2)
	byID := map[string]order.Delivery{}
	for _, d := range got {
		if d.DecodeErr != nil || d.Redelivered {
			t.Fatalf("delivery %s: decode error %v, redelivered %v", d.MessageID, d.DecodeErr, d.Redelivered)
		}
		byID[d.MessageID] = d
	}
	single, ok := byID[one.OrderNo]
	if !ok {
		t.Fatalf("no delivery with message id = order_no %s among %v", one.OrderNo, byID)
	}
	assertOrders(t, single.Orders, []order.Order{one})
	delete(byID, one.OrderNo)
	for _, d := range byID {
		assertOrders(t, d.Orders, batch)
	}
	for _, d := range got {
		mustNoErr(t, d.Ack(), "ack")
	}
	if err := got[0].Ack(); !errors.Is(err, ErrSettled) {
		t.Fatalf("second ack: got %v, want ErrSettled", err)
	}
	if rest := stopConsuming(t, cancel, out); len(rest) != 0 {
		t.Fatalf("%d unexpected deliveries", len(rest))
	}
	h.release(t, src)
	h.assertEmpty(t)
}

func testRedeliveredAfterRestart(t *testing.T, h queueHarness) {
	o := newOrder(t)
	mustNoErr(t, h.pub.Publish(context.Background(), o), "publish")

	first := h.source(t)
	out, cancel := consume(t, first)
	d := receive(t, out, 1)[0]
	if d.Redelivered || d.MessageID != o.OrderNo {
		t.Fatalf("first delivery: %+v", d)
	}
	stopConsuming(t, cancel, out)
	h.release(t, first)

	second := h.source(t)
	out, cancel = consume(t, second)
	again := receive(t, out, 1)[0]
	if !again.Redelivered || again.MessageID != o.OrderNo {
		t.Fatalf("after restart: got message %s redelivered=%v, want %s redelivered", again.MessageID, again.Redelivered, o.OrderNo)
	}
	assertOrders(t, again.Orders, []order.Order{o})
	mustNoErr(t, again.Ack(), "ack")
	stopConsuming(t, cancel, out)
	h.release(t, second)
	h.assertEmpty(t)
}

func testAckAfterStop(t *testing.T, h queueHarness) {
	mustNoErr(t, h.pub.Publish(context.Background(), newOrder(t)), "publish")
	src := h.source(t)
	out, cancel := consume(t, src)
	d := receive(t, out, 1)[0]
	stopConsuming(t, cancel, out)
	mustNoErr(t, d.Ack(), "ack after the consumer stopped")
	h.release(t, src)
	h.assertEmpty(t)
}

func testRejectRequeue(t *testing.T, h queueHarness) {
	o := newOrder(t)
	mustNoErr(t, h.pub.Publish(context.Background(), o), "publish")
	src := h.source(t)
	out, cancel := consume(t, src)
	d := receive(t, out, 1)[0]
	mustNoErr(t, d.Reject(true), "reject requeue")
	again := receive(t, out, 1)[0]
	if !again.Redelivered || again.MessageID != o.OrderNo {
		t.Fatalf("after requeue: got %s redelivered=%v", again.MessageID, again.Redelivered)
	}
	mustNoErr(t, again.Ack(), "ack")
	stopConsuming(t, cancel, out)
	h.release(t, src)
	h.assertEmpty(t)
}

func testUndecodableToDead(t *testing.T, h queueHarness) {
	body := []byte(`{"schema":1,"orders":"not a list"`)
	h.publishRaw(t, "raw-"+uuid.NewString(), body)
	src := h.source(t)
	out, cancel := consume(t, src)
	d := receive(t, out, 1)[0]
	if d.DecodeErr == nil || d.Orders != nil {
		t.Fatalf("undecodable body: DecodeErr %v, Orders %v", d.DecodeErr, d.Orders)
	}
	mustNoErr(t, d.Reject(false), "reject")
	dead := h.dead(t, 1)
	if len(dead) != 1 || string(dead[0].body) != string(body) || dead[0].reason != ReasonRejected {
		t.Fatalf("dead letters: %+v", dead)
	}
	stopConsuming(t, cancel, out)
	h.release(t, src)
	h.assertEmpty(t)
}
