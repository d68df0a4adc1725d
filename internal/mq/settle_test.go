package mq

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/consumer"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

// fencePublisher is what both queues offer a stock rebuild.
type fencePublisher interface {
	batchPublisher
	PublishFence(ctx context.Context, f order.Fence) error
}

// fenceWatch is a worker store that records, for each fence passed, how
// many orders of the sale MySQL held at that moment.
type fenceWatch struct {
	*store.Store
	saleID int64
	mu     sync.Mutex
	passed map[string]int
}

func (f *fenceWatch) PassFence(ctx context.Context, id string, at time.Time) error {
	got, err := f.SaleOrders(ctx, f.saleID)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.passed[id] = len(got)
	f.mu.Unlock()
	return f.Store.PassFence(ctx, id, at)
}

func (f *fenceWatch) rowsAt(id string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.passed[id]
	return n, ok
}

// TestFenceBehindOrders: a fence published behind N orders passes only
// once those N are in MySQL, on RabbitMQ and on the in-process queue.
func TestFenceBehindOrders(t *testing.T) {
	impls := []struct {
		name string
		open func(tb testing.TB) (fencePublisher, order.Source)
	}{
		{"rabbitmq", func(tb testing.TB) (fencePublisher, order.Source) {
			b := newBroker(tb)
			return dialTestPublisher(tb, b), dialTestSource(tb, b)
		}},
		{"memory", func(tb testing.TB) (fencePublisher, order.Source) {
			m := NewMemory()
			tb.Cleanup(func() { _ = m.Close() })
			return m, m
		}},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			ctx := context.Background()
			pub, src := impl.open(t)
			st := storetest.MySQL(t)
			now := time.Now().UTC()
			sale, _, err := st.CreateSale(ctx, order.NewSale{Name: "phone", PriceCents: 1, TotalStock: 100,
				StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
			mustNoErr(t, err, "create sale")

			const n = 20
			for i := range n {
				o := newOrder(t)
				o.SaleID, o.UserID = sale.ID, int64(i+1)
				mustNoErr(t, pub.Publish(ctx, o), "publish")
			}
			fence := order.Fence{ID: "0195f0a4-0000-7000-8000-0000000000f1", SaleID: sale.ID}
			mustNoErr(t, pub.PublishFence(ctx, fence), "publish fence")

			watch := &fenceWatch{Store: st, saleID: sale.ID, passed: map[string]int{}}
			// A batch never fills nor lingers out: only the fence flushes it.
			w := consumer.New(src, watch, testLogger(t), consumer.WithBatchSize(1000), consumer.WithBatchWait(time.Hour))
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(wctx) }()
			waitFor(t, "the fence to pass", func() bool { _, ok := watch.rowsAt(fence.ID); return ok })
			cancel()
			mustNoErr(t, <-done, "worker")
			if got, _ := watch.rowsAt(fence.ID); got != n {
				t.Fatalf("the fence passed with %d orders in MySQL, want %d", got, n)
			}
		})
	}
}

func TestPublishFenceInvalid(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	if err := m.PublishFence(context.Background(), order.Fence{SaleID: 1}); !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("fence without id: got %v, want ErrInvalid", err)
	}
}

func TestDecodeFence(t *testing.T) {
	f := order.Fence{ID: "fence-1", SaleID: 7}
	body, err := EncodeFence(f)
	mustNoErr(t, err, "encode")
	m, orders, err := Decode(body)
	mustNoErr(t, err, "decode")
	if orders != nil || m.fence() == nil || *m.fence() != f {
		t.Fatalf("decoded %+v with orders %v, want fence %+v", m, orders, f)
	}
	for _, bad := range []string{
		`{"schema":1,"message_id":"x"}`,
		`{"schema":1,"message_id":"x","fence":{"id":"","sale_id":1}}`,
		`{"schema":1,"message_id":"x","fence":{"id":"f","sale_id":1},"orders":[{"order_no":"a","sale_id":1,"user_id":1}]}`,
	} {
		if _, _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("decode %s: want an error", bad)
		}
	}
}

// TestMoverRecordsBrokerDeadLetters: a message the broker dead-letters
// from the persist queue (here rejected without requeue, as the delivery
// limit would) becomes one dead_letters row with its orders, and leaves
// the dead queue.
func TestMoverRecordsBrokerDeadLetters(t *testing.T) {
	ctx := context.Background()
	b := newBroker(t)
	st := storetest.MySQL(t)
	pub := dialTestPublisher(t, b)
	orders := []order.Order{newOrder(t), newOrder(t)}
	mustNoErr(t, pub.PublishBatch(ctx, orders), "publish")
	b.publishRaw("garbage", []byte("{not json"))

	src := dialTestSource(t, b)
	out, cancel := consume(t, src)
	for _, d := range receive(t, out, 2) {
		mustNoErr(t, d.Reject(false), "reject")
	}
	stopConsuming(t, cancel, out)

	mv, err := NewMover(b.url, st, testLogger(t), WithTopology(b.topo), WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond))
	mustNoErr(t, err, "new mover")
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mv.Run(mctx) }()
	var dead []order.DeadLetter
	waitFor(t, "two dead letters in MySQL", func() bool {
		dead, _, err = st.DeadLetters(ctx, 10)
		return err == nil && len(dead) == 2
	})
	waitFor(t, "the dead queue to empty", func() bool { return b.depth(b.topo.DeadQueue) == 0 })
	stop()
	mustNoErr(t, <-done, "mover")

	var withOrders, withBody int
	for _, d := range dead {
		if d.Reason != order.DeadDeliveryLimit {
			t.Errorf("dead letter %d reason %q, want %q", d.ID, d.Reason, order.DeadDeliveryLimit)
		}
		switch {
		case len(d.Orders) == 2:
			withOrders++
			assertOrderNos(t, d.Orders, orders)
		case string(d.Body) == "{not json":
			withBody++
		}
	}
	if withOrders != 1 || withBody != 1 {
		t.Fatalf("dead letters = %+v, want one with the orders and one with the body", dead)
	}
}

func assertOrderNos(tb testing.TB, got, want []order.Order) {
	tb.Helper()
	seen := map[string]bool{}
	for _, o := range got {
		seen[o.OrderNo] = true
	}
	for _, o := range want {
		if !seen[o.OrderNo] {
			tb.Errorf("order %s missing from %+v", o.OrderNo, got)
		}
	}
}

// TestRedeclareWithOtherArguments: a persist queue declared by an older
// version (other arguments) makes startup fail with an error that names
// the queue and says how to replace it.
func TestRedeclareWithOtherArguments(t *testing.T) {
	b := newBroker(t)
	if _, err := b.ch.QueueDeclare(b.topo.Queue, true, false, false, false, amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum, "x-delivery-limit": int64(5),
	}); err != nil {
		t.Fatalf("declare the old queue: %v", err)
	}
	_, err := DialSource(context.Background(), b.url, testLogger(t), WithTopology(b.topo))
	if err == nil {
		t.Fatal("dial source: want an error for a queue with other arguments")
	}
	for _, want := range []string{b.topo.Queue, "other arguments", "delete_queue"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
