package mq

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait for something asynchronous, so that a broken
// test fails instead of hanging. No test asserts on elapsed time.
const patience = 30 * time.Second

func testLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// rabbitURL returns the broker to test against, skipping the test when it
// is unreachable (failing it when SECKILL_REQUIRE_SERVICES=1).
func rabbitURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("SECKILL_AMQP_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	testenv.Need(tb, "RabbitMQ at "+url, err)
	_ = conn.Close()
	return url
}

// broker is a test's own connection for inspecting and arranging the
// broker behind the adapter's back.
type broker struct {
	tb   testing.TB
	url  string
	conn *amqp.Connection
	ch   *amqp.Channel
	topo Topology
}

// newBroker reserves a topology with names unique to the test and deletes
// its entities when the test ends.
func newBroker(tb testing.TB) *broker {
	tb.Helper()
	url := rabbitURL(tb)
	conn, err := amqp.Dial(url)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("channel: %v", err)
	}
	name := strings.NewReplacer("/", ".", " ", "_").Replace(tb.Name())
	b := &broker{tb: tb, url: url, conn: conn, ch: ch,
		topo: DefaultTopology().WithPrefix(fmt.Sprintf("test.%s.%s.", name, uuid.NewString()[:8]))}
	tb.Cleanup(func() {
		// A fresh channel: a test may have closed the first with an error.
		if c, err := conn.Channel(); err == nil {
			for _, q := range append(b.topo.PersistQueues(), b.topo.DeadQueue) {
				if _, err := c.QueueDelete(q, false, false, false); err != nil {
					tb.Logf("delete queue %s: %v", q, err)
				}
			}
			for _, x := range []string{b.topo.Exchange, b.topo.DeadExchange} {
				if err := c.ExchangeDelete(x, false, false); err != nil {
					tb.Logf("delete exchange %s: %v", x, err)
				}
			}
		}
		_ = conn.Close()
	})
	return b
}

// depth is the number of ready messages in queue.
func (b *broker) depth(queue string) int {
	b.tb.Helper()
	q, err := b.ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		b.tb.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

// settledDepth is depth once acks sent just before have been applied: a
// quorum queue applies them through its log, so a read right after may
// still count them. It returns the first depth that stays for a moment, or
// 0 as soon as the queue is empty.
func (b *broker) settledDepth(queue string) int {
	b.tb.Helper()
	deadline := time.Now().Add(patience)
	n := b.depth(queue)
	for n != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = b.depth(queue)
	}
	return n
}

// drain gets and acks every message in queue until want have been taken.
func (b *broker) drain(queue string, want int) []amqp.Delivery {
	b.tb.Helper()
	// A consumer rather than basic.get: quorum queues with a single
	// active consumer refuse basic.get.
	ch, err := b.conn.Channel()
	if err != nil {
		b.tb.Fatalf("channel: %v", err)
	}
	defer ch.Close()
	if err := ch.Qos(want, 0, false); err != nil {
		b.tb.Fatalf("qos: %v", err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		b.tb.Fatalf("consume %s: %v", queue, err)
	}
	var got []amqp.Delivery
	timeout := time.NewTimer(patience)
	defer timeout.Stop()
	for len(got) < want {
		select {
		case d, ok := <-deliveries:
			if !ok {
				b.tb.Fatalf("queue %s: consumer closed after %d messages, want %d", queue, len(got), want)
			}
			if err := d.Ack(false); err != nil {
				b.tb.Fatalf("ack: %v", err)
			}
			got = append(got, d)
		case <-timeout.C:
			b.tb.Fatalf("queue %s: got %d messages, want %d", queue, len(got), want)
		}
	}
	return got
}

// publishRaw publishes body as the adapter would, to the order exchange.
func (b *broker) publishRaw(id string, body []byte) {
	b.tb.Helper()
	if err := b.ch.PublishWithContext(context.Background(), b.topo.Exchange, b.topo.RoutingKey, true, false,
		amqp.Publishing{MessageId: id, DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: body}); err != nil {
		b.tb.Fatalf("publish raw: %v", err)
	}
}

func (b *broker) unbind() {
	b.tb.Helper()
	if err := b.ch.QueueUnbind(b.topo.Queue, b.topo.RoutingKey, b.topo.Exchange, nil); err != nil {
		b.tb.Fatalf("unbind: %v", err)
	}
}

func (b *broker) bind() {
	b.tb.Helper()
	if err := b.ch.QueueBind(b.topo.Queue, b.topo.RoutingKey, b.topo.Exchange, false, nil); err != nil {
		b.tb.Fatalf("bind: %v", err)
	}
}

var orderSeq atomic.Int64

// newOrder returns a valid pending order with a fresh order_no.
func newOrder(tb testing.TB) order.Order {
	tb.Helper()
	no, err := order.NewOrderNo()
	if err != nil {
		tb.Fatal(err)
	}
	n := orderSeq.Add(1)
	return order.Order{OrderNo: no, SaleID: 1 + n%3, UserID: n, Status: order.StatusPending,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

// receive takes n deliveries from out.
func receive(tb testing.TB, out <-chan order.Delivery, n int) []order.Delivery {
	tb.Helper()
	got := make([]order.Delivery, 0, n)
	t := time.NewTimer(patience)
	defer t.Stop()
	for len(got) < n {
		select {
		case d, ok := <-out:
			if !ok {
				tb.Fatalf("deliveries closed after %d of %d", len(got), n)
			}
			got = append(got, d)
		case <-t.C:
			tb.Fatalf("received %d deliveries, want %d", len(got), n)
		}
	}
	return got
}

// stopConsuming cancels a Consume and waits for its channel to close,
// returning whatever was still handed out on the way.
func stopConsuming(tb testing.TB, cancel context.CancelFunc, out <-chan order.Delivery) []order.Delivery {
	tb.Helper()
	cancel()
	var rest []order.Delivery
	t := time.NewTimer(patience)
	defer t.Stop()
	for {
		select {
		case d, ok := <-out:
			if !ok {
				return rest
			}
			rest = append(rest, d)
		case <-t.C:
			tb.Fatal("deliveries not closed after the consumer's context ended")
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustNoErr(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}
