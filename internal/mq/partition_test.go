package mq

import (
	"context"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/order"
)

// TestPartitionsRouteBySale: with several persist partitions each sale's
// orders and fences reach its partition's queue and no other, while a
// queue bound to order.created outside seckill sees every message, without
// the partition header.
func TestPartitionsRouteBySale(t *testing.T) {
	b := newBroker(t)
	b.topo.Partitions = 3
	p := dialTestPublisher(t, b)
	outside := b.topo.Exchange + ".outside"
	_, err := b.ch.QueueDeclare(outside, false, true, false, false, nil)
	mustNoErr(t, err, "declare outside queue")
	mustNoErr(t, b.ch.QueueBind(outside, RoutingCreated, b.topo.Exchange, false, nil), "bind outside queue")
	t.Cleanup(func() { _, _ = b.ch.QueueDelete(outside, false, false, false) })

	ctx := context.Background()
	want := map[int]map[string]bool{} // partition → message ids
	for sale := int64(1); sale <= 6; sale++ {
		o := newOrder(t)
		o.SaleID = sale
		mustNoErr(t, p.Publish(ctx, o), "publish")
		k := b.topo.PartitionOf(sale)
		if want[k] == nil {
			want[k] = map[string]bool{}
		}
		want[k][o.OrderNo] = true
	}
	fence := order.Fence{ID: "fence-of-sale-5", SaleID: 5}
	mustNoErr(t, p.PublishFence(ctx, fence), "publish fence")
	want[b.topo.PartitionOf(5)][fence.ID] = true

	for k, q := range b.topo.PersistQueues() {
		got := b.drain(q, len(want[k]))
		for _, d := range got {
			if !want[k][d.MessageId] {
				t.Errorf("partition %d got %s, which belongs elsewhere", k, d.MessageId)
			}
		}
		if n := b.settledDepth(q); n != 0 {
			t.Errorf("partition %d: %d messages beyond its own", k, n)
		}
	}
	for _, d := range b.drain(outside, 7) {
		if _, ok := d.Headers["BCC"]; ok {
			t.Errorf("outside consumer sees the partition header of %s", d.MessageId)
		}
	}
	if err := p.PublishBatch(ctx, []order.Order{{OrderNo: "a", SaleID: 1, UserID: 1}, {OrderNo: "b", SaleID: 2, UserID: 2}}); err == nil {
		t.Error("one message for two partitions was published")
	}
}

// TestCoalescerKeepsPartitionsApart: orders of sales in different
// partitions accepted at the same time never share a message.
func TestCoalescerKeepsPartitionsApart(t *testing.T) {
	b := newBroker(t)
	b.topo.Partitions = 2
	p := dialTestPublisher(t, b)
	c := NewCoalescer(p, 1, 64)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := newOrder(t)
			o.SaleID = int64(1 + i%2)
			if err := c.Publish(context.Background(), o); err != nil {
				t.Errorf("publish: %v", err)
			}
		}()
	}
	wg.Wait()
	for k, q := range b.topo.PersistQueues() {
		ch, err := b.conn.Channel()
		mustNoErr(t, err, "channel")
		deliveries, err := ch.Consume(q, "", true, false, false, false, nil)
		mustNoErr(t, err, "consume")
		n := 0
		for n < 20 {
			var d amqp.Delivery
			select {
			case d = <-deliveries:
			case <-time.After(patience):
				t.Fatalf("partition %d: %d orders, want 20", k, n)
			}
			_, orders, err := Decode(d.Body)
			mustNoErr(t, err, "decode")
			for _, o := range orders {
				if b.topo.PartitionOf(o.SaleID) != k {
					t.Fatalf("partition %d carries sale %d", k, o.SaleID)
				}
			}
			n += len(orders)
		}
		_ = ch.Close()
	}
}
