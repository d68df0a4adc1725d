package mq

import (
	"context"
	"errors"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

func TestMemoryPrefetch(t *testing.T) {
	m := NewMemory(WithMemoryPrefetch(2))
	t.Cleanup(func() { _ = m.Close() })
	for range 5 {
		mustNoErr(t, m.Publish(context.Background(), newOrder(t)), "publish")
	}
	out, cancel := consume(t, m)
	got := receive(t, out, 2)
	if s := m.Stats(); s.Unacked != 2 || s.Ready != 3 {
		t.Fatalf("with prefetch 2 and nothing acked: %+v", s)
	}
	mustNoErr(t, got[0].Ack(), "ack")
	got = append(got[1:], receive(t, out, 1)...)
	if s := m.Stats(); s.Unacked != 2 || s.Ready != 2 {
		t.Fatalf("after one ack: %+v", s)
	}
	for _, d := range got {
		mustNoErr(t, d.Ack(), "ack")
	}
	for _, d := range receive(t, out, 2) {
		mustNoErr(t, d.Ack(), "ack")
	}
	stopConsuming(t, cancel, out)
	if s := m.Stats(); s != (MemoryStats{}) {
		t.Fatalf("after acking all: %+v", s)
	}
}

func TestMemoryDeliveryLimit(t *testing.T) {
	m := NewMemory(WithMemoryDeliveryLimit(2))
	t.Cleanup(func() { _ = m.Close() })
	o := newOrder(t)
	mustNoErr(t, m.Publish(context.Background(), o), "publish")
	out, cancel := consume(t, m)
	for i := range 3 {
		d := receive(t, out, 1)[0]
		if d.Redelivered != (i > 0) {
			t.Fatalf("delivery %d: redelivered %v", i, d.Redelivered)
		}
		mustNoErr(t, d.Reject(true), "reject requeue")
	}
	stopConsuming(t, cancel, out)
	dead := m.Dead()
	if len(dead) != 1 || dead[0].MessageID != o.OrderNo || dead[0].Reason != ReasonDeliveryLimit {
		t.Fatalf("dead letters: %+v", dead)
	}
	if s := m.Stats(); s.Ready != 0 || s.Unacked != 0 {
		t.Fatalf("queue after dead-lettering: %+v", s)
	}
}

func TestMemoryAckAfterRequeue(t *testing.T) {
	m := NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	mustNoErr(t, m.Publish(context.Background(), newOrder(t)), "publish")
	out, cancel := consume(t, m)
	stale := receive(t, out, 1)[0]
	stopConsuming(t, cancel, out)

	// The next consumer takes the message back; the first one's ack must
	// not remove the message the second one now holds.
	out, cancel = consume(t, m)
	fresh := receive(t, out, 1)[0]
	if err := stale.Ack(); !errors.Is(err, ErrSettled) {
		t.Fatalf("ack of a requeued delivery: got %v, want ErrSettled", err)
	}
	mustNoErr(t, fresh.Ack(), "ack")
	stopConsuming(t, cancel, out)
	if s := m.Stats(); s != (MemoryStats{}) {
		t.Fatalf("stats: %+v", s)
	}
}

func TestMemoryClose(t *testing.T) {
	m := NewMemory()
	out, _ := consume(t, m)
	if _, err := m.Consume(context.Background()); !errors.Is(err, ErrConsuming) {
		t.Fatalf("second consume: got %v, want ErrConsuming", err)
	}
	mustNoErr(t, m.Close(), "close")
	if _, ok := <-out; ok {
		t.Fatal("delivery after close")
	}
	if m.Ready() {
		t.Fatal("ready after close")
	}
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
	}{
		{"publish", m.Publish(ctx, newOrder(t))},
		{"fence", m.PublishFence(ctx, order.Fence{ID: "f", SaleID: 1})},
		{"consume", func() error { _, err := m.Consume(ctx); return err }()},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, order.ErrUnavailable) {
			t.Errorf("%s after close: got %v, want ErrUnavailable", tc.name, tc.err)
		}
	}
	mustNoErr(t, m.Close(), "second close")
}

// TestMemoryConsumeAfterCancel: a Consume whose context has ended is gone
// for the next Consume, which waits for it to stop rather than refusing;
// one still running is refused.
func TestMemoryConsumeAfterCancel(t *testing.T) {
	m := NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	for i := range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := m.Consume(ctx); err != nil {
			t.Fatalf("consume %d after the previous one was cancelled: %v", i, err)
		}
		if _, err := m.Consume(context.Background()); !errors.Is(err, ErrConsuming) {
			t.Fatalf("consume beside a running one: got %v, want ErrConsuming", err)
		}
		cancel()
	}
}
