package mq

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// killConnection cuts the source's socket under the library.
func (s *Source) killConnection(tb testing.TB) {
	tb.Helper()
	sess := s.current()
	if sess == nil {
		tb.Fatal("source has no session to kill")
	}
	_ = sess.raw.Close()
}

func dialTestSource(tb testing.TB, b *broker, opts ...Option) *Source {
	tb.Helper()
	opts = append([]Option{WithTopology(b.topo), WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)
	s, err := DialSource(context.Background(), b.url, testLogger(tb), opts...)
	mustNoErr(tb, err, "dial source")
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSourceReconnectKeepsOneChannel(t *testing.T) {
	b := newBroker(t)
	p := dialTestPublisher(t, b)
	src := dialTestSource(t, b)
	ctx := context.Background()

	first := newOrder(t)
	mustNoErr(t, p.Publish(ctx, first), "publish")
	out, cancel := consume(t, src)
	held := receive(t, out, 1)[0]

	src.killConnection(t)
	// The delivery came on the dead channel: it cannot be acked, and the
	// broker hands it out again on the new one.
	if err := held.Ack(); !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("ack on a dead channel: got %v, want ErrUnavailable", err)
	}
	again := receive(t, out, 1)[0]
	if again.MessageID != first.OrderNo || !again.Redelivered {
		t.Fatalf("after reconnect: got %s redelivered=%v, want %s redelivered", again.MessageID, again.Redelivered, first.OrderNo)
	}
	mustNoErr(t, again.Ack(), "ack redelivery")

	second := newOrder(t)
	mustNoErr(t, p.Publish(ctx, second), "publish after reconnect")
	d := receive(t, out, 1)[0]
	if d.MessageID != second.OrderNo || d.Redelivered {
		t.Fatalf("new message after reconnect: %s redelivered=%v", d.MessageID, d.Redelivered)
	}
	mustNoErr(t, d.Ack(), "ack")
	stopConsuming(t, cancel, out)
	mustNoErr(t, src.Close(), "close")
	if n := b.settledDepth(b.topo.Queue); n != 0 {
		t.Fatalf("%d messages left", n)
	}
}

func TestSourceLifecycle(t *testing.T) {
	b := newBroker(t)
	src := dialTestSource(t, b)
	out, _ := consume(t, src)
	if _, err := src.Consume(context.Background()); !errors.Is(err, ErrConsuming) {
		t.Fatalf("second consume: got %v, want ErrConsuming", err)
	}
	mustNoErr(t, src.Close(), "close while consuming")
	if _, ok := <-out; ok {
		t.Fatal("delivery after close")
	}
	if _, err := src.Consume(context.Background()); !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("consume after close: got %v, want ErrUnavailable", err)
	}
	mustNoErr(t, src.Close(), "second close")
}

// TestSourceAckThrough: acking the last of several deliveries through
// settles every one before it in one frame, and only those.
func TestSourceAckThrough(t *testing.T) {
	b := newBroker(t)
	p := dialTestPublisher(t, b)
	src := dialTestSource(t, b)
	ctx := context.Background()
	for range 4 {
		mustNoErr(t, p.Publish(ctx, newOrder(t)), "publish")
	}
	out, cancel := consume(t, src)
	got := receive(t, out, 4)
	mustNoErr(t, got[2].AckThrough(), "ack through the third")
	if err := got[2].Ack(); !errors.Is(err, ErrSettled) {
		t.Fatalf("ack after ack through: got %v, want ErrSettled", err)
	}
	stopConsuming(t, cancel, out)
	mustNoErr(t, src.Close(), "close")
	// The fourth was not acked: it is back in the queue, alone.
	waitFor(t, "the unacked message back in the queue", func() bool { return b.depth(b.topo.Queue) >= 1 })
	time.Sleep(200 * time.Millisecond)
	if n := b.depth(b.topo.Queue); n != 1 {
		t.Fatalf("%d messages left, want the one after the ack", n)
	}
}
