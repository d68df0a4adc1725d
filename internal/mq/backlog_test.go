package mq

import (
	"context"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

var (
	_ order.Backlog = (*Publisher)(nil)
	_ order.Backlog = (*Memory)(nil)
)

// TestPublisherBacklog: the backlog of a sale is what waits in its
// partition's persist queue, as the broker counts it.
func TestPublisherBacklog(t *testing.T) {
	b := newBroker(t)
	b.topo.Partitions = 2
	p := dialTestPublisher(t, b)
	ctx := context.Background()
	for range 3 {
		o := newOrder(t)
		o.SaleID = 4 // partition 0
		mustNoErr(t, p.Publish(ctx, o), "publish")
	}
	o := newOrder(t)
	o.SaleID = 5 // partition 1
	mustNoErr(t, p.Publish(ctx, o), "publish")
	for sale, want := range map[int64]int{4: 3, 6: 3, 5: 1} {
		if got, err := p.Backlog(ctx, sale); err != nil || got != want {
			t.Errorf("backlog of sale %d: %d, %v; want %d", sale, got, err, want)
		}
	}
}

// TestMemoryBacklog: the in-process queue counts what waits and what a
// consumer holds.
func TestMemoryBacklog(t *testing.T) {
	m := NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		mustNoErr(t, m.Publish(ctx, newOrder(t)), "publish")
	}
	if got, err := m.Backlog(ctx, 1); err != nil || got != 2 {
		t.Fatalf("backlog: %d, %v; want 2", got, err)
	}
	ds, err := m.Consume(ctx)
	mustNoErr(t, err, "consume")
	d := <-ds
	if got, _ := m.Backlog(ctx, 1); got != 2 {
		t.Fatalf("backlog with one delivery unacked: %d; want 2", got)
	}
	mustNoErr(t, d.Ack(), "ack")
	waitFor(t, "ack applied", func() bool { got, _ := m.Backlog(ctx, 1); return got == 1 })
}
