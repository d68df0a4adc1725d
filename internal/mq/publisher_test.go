package mq

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// killConnection cuts the publisher's socket under the library, as a
// network failure would.
func (p *Publisher) killConnection(tb testing.TB) {
	tb.Helper()
	p.mu.RLock()
	s := p.sess
	p.mu.RUnlock()
	if s == nil {
		tb.Fatal("publisher has no session to kill")
	}
	_ = s.raw.Close()
}

// gate holds an adapter disconnected while closed.
type gate struct{ closed atomic.Bool }

func (g *gate) option() Option {
	return func(c *config) {
		c.beforeDial = func() error {
			if g.closed.Load() {
				return errors.New("dial held back by the test")
			}
			return nil
		}
	}
}

func metricValue(tb testing.TB, c prometheus.Metric) float64 {
	tb.Helper()
	var m dto.Metric
	mustNoErr(tb, c.Write(&m), "read metric")
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	tb.Fatalf("unsupported metric %v", &m)
	return 0
}

func failures(tb testing.TB, m *metrics.Metrics, kind string) float64 {
	tb.Helper()
	return metricValue(tb, m.PublishFailures.WithLabelValues(kind))
}

func dialTestPublisher(tb testing.TB, b *broker, opts ...Option) *Publisher {
	tb.Helper()
	opts = append([]Option{WithTopology(b.topo), WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond)}, opts...)
	p, err := DialPublisher(context.Background(), b.url, testLogger(tb), opts...)
	mustNoErr(tb, err, "dial publisher")
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// publishAll publishes n orders from workers goroutines and returns every
// order with its outcome.
func publishAll(tb testing.TB, p batchPublisher, workers, n int) map[string]error {
	tb.Helper()
	var (
		mu       sync.Mutex
		outcomes = make(map[string]error, n)
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				o := newOrder(tb)
				err := p.Publish(context.Background(), o)
				mu.Lock()
				outcomes[o.OrderNo] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return outcomes
}

func TestPublisherConcurrentConfirms(t *testing.T) {
	cases := []struct {
		name              string
		window            int
		workers, messages int
	}{
		{"wide window", DefaultWindow, 64, 2000},
		{"narrow window", 4, 16, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBroker(t)
			m := metrics.Discard()
			p := dialTestPublisher(t, b, WithWindow(c.window), WithMetrics(m))

			outcomes := publishAll(t, p, c.workers, c.messages)
			for no, err := range outcomes {
				if err != nil {
					t.Fatalf("publish %s: %v", no, err)
				}
			}
			if got := metricValue(t, m.ConfirmsOutstanding); got != 0 {
				t.Fatalf("confirms outstanding after all returned: %v", got)
			}
			if got := metricValue(t, m.PublishDuration); got != float64(c.messages) {
				t.Fatalf("confirm durations observed: %v, want %d", got, c.messages)
			}

			src, err := DialSource(context.Background(), b.url, testLogger(t), WithTopology(b.topo), WithPrefetch(256))
			mustNoErr(t, err, "dial source")
			out, cancel := consume(t, src)
			seen := make(map[string]int, c.messages)
			for range c.messages {
				d := receive(t, out, 1)[0]
				if d.DecodeErr != nil {
					t.Fatalf("decode: %v", d.DecodeErr)
				}
				for _, o := range d.Orders {
					seen[o.OrderNo]++
				}
				mustNoErr(t, d.Ack(), "ack")
			}
			stopConsuming(t, cancel, out)
			mustNoErr(t, src.Close(), "close source")
			for no := range outcomes {
				if seen[no] != 1 {
					t.Fatalf("order %s consumed %d times, want once", no, seen[no])
				}
			}
			if len(seen) != c.messages {
				t.Fatalf("consumed %d distinct orders, want %d", len(seen), c.messages)
			}
			if n := b.settledDepth(b.topo.Queue); n != 0 {
				t.Fatalf("%d messages left", n)
			}
		})
	}
}

func TestPublisherUnroutable(t *testing.T) {
	b := newBroker(t)
	m := metrics.Discard()
	p := dialTestPublisher(t, b, WithMetrics(m))
	ctx := context.Background()

	t.Run("returned is a definite failure", func(t *testing.T) {
		b.unbind()
		err := p.Publish(ctx, newOrder(t))
		if !errors.Is(err, order.ErrPublishFailed) {
			t.Fatalf("unroutable publish: got %v, want ErrPublishFailed", err)
		}
		if got := failures(t, m, metrics.PublishReturned); got != 1 {
			t.Fatalf("returned failures: %v, want 1", got)
		}
		b.bind()
		mustNoErr(t, p.Publish(ctx, newOrder(t)), "publish after rebinding")
		b.drain(b.topo.Queue, 1)
	})

	t.Run("returns attributed to their own message", func(t *testing.T) {
		// The binding flaps while publishes run, so routable and returned
		// messages interleave on the one channel. Every publish reported
		// confirmed must be in the queue and every one reported returned
		// must not.
		flapper, err := b.conn.Channel()
		mustNoErr(t, err, "channel")
		defer flapper.Close()
		before := failures(t, m, metrics.PublishReturned)
		confirmed := map[string]bool{}
		returned := map[string]bool{}
		reported := map[string]error{} // what each publish was told, for a failure's message
		for round := 0; round < 20 && (len(confirmed) == 0 || len(returned) == 0); round++ {
			stop := make(chan struct{})
			flapped := make(chan error, 1)
			go func() {
				for bound := true; ; bound = !bound {
					select {
					case <-stop:
						if !bound {
							flapped <- flapper.QueueBind(b.topo.Queue, b.topo.RoutingKey, b.topo.Exchange, false, nil)
							return
						}
						flapped <- nil
						return
					default:
					}
					var err error
					if bound {
						err = flapper.QueueUnbind(b.topo.Queue, b.topo.RoutingKey, b.topo.Exchange, nil)
					} else {
						err = flapper.QueueBind(b.topo.Queue, b.topo.RoutingKey, b.topo.Exchange, false, nil)
					}
					if err != nil {
						flapped <- err
						return
					}
				}
			}()
			outcomes := publishAll(t, p, 32, 400)
			close(stop)
			mustNoErr(t, <-flapped, "flap binding")
			for no, err := range outcomes {
				reported[no] = err
				switch {
				case err == nil:
					confirmed[no] = true
				case errors.Is(err, order.ErrPublishFailed):
					returned[no] = true
				default:
					t.Fatalf("publish %s: unexpected %v", no, err)
				}
			}
		}
		if len(confirmed) == 0 || len(returned) == 0 {
			t.Fatalf("binding flaps never interleaved: %d confirmed, %d returned", len(confirmed), len(returned))
		}
		if got := failures(t, m, metrics.PublishReturned) - before; got != float64(len(returned)) {
			t.Fatalf("returned failures counted %v, want %d", got, len(returned))
		}
		t.Logf("%d returned publishes attributed among %d", len(returned), len(returned)+len(confirmed))
		for _, d := range b.drain(b.topo.Queue, len(confirmed)) {
			if returned[d.MessageId] {
				t.Fatalf("message %s reported returned but is in the queue", d.MessageId)
			}
			if !confirmed[d.MessageId] {
				t.Fatalf("unknown message %s in the queue", d.MessageId)
			}
			delete(confirmed, d.MessageId)
		}
		if n := b.settledDepth(b.topo.Queue); n != 0 {
			var told []string
			for _, d := range b.drain(b.topo.Queue, n) {
				told = append(told, fmt.Sprintf("%s (publish reported %v)", d.MessageId, reported[d.MessageId]))
			}
			t.Fatalf("%d extra messages in the queue: %s", n, strings.Join(told, "; "))
		}
	})
}

// TestPublisherNack makes the broker refuse messages (a reject-publish
// length limit set by policy) and expects a definite failure, told apart
// from a channel that closed.
func TestPublisherNack(t *testing.T) {
	b := newBroker(t)
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		t.Skip("rabbitmqctl not on PATH; cannot set a policy to provoke nacks")
	}
	m := metrics.Discard()
	p := dialTestPublisher(t, b, WithMetrics(m))
	policy := "test-nack-" + b.topo.Queue
	out, err := exec.Command(ctl, "set_policy", "--apply-to", "queues", policy,
		"^"+regexp.QuoteMeta(b.topo.Queue)+"$", `{"max-length":0,"overflow":"reject-publish"}`).CombinedOutput()
	if err != nil {
		t.Skipf("rabbitmqctl set_policy: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ctl, "clear_policy", policy).CombinedOutput(); err != nil {
			t.Logf("clear policy: %v: %s", err, out)
		}
	})

	// The policy reaches the queue asynchronously; publish until it bites.
	var last error
	waitFor(t, "a nack", func() bool {
		last = p.Publish(context.Background(), newOrder(t))
		return last != nil
	})
	if !errors.Is(last, order.ErrPublishFailed) {
		t.Fatalf("publish into a full queue: got %v, want ErrPublishFailed", last)
	}
	if got := failures(t, m, metrics.PublishNack); got != 1 {
		t.Fatalf("nack failures: %v, want 1", got)
	}
	if !p.Ready() {
		t.Fatal("a nack must not take the publisher down")
	}
}

func TestPublisherReconnect(t *testing.T) {
	b := newBroker(t)
	m := metrics.Discard()
	var g gate
	p := dialTestPublisher(t, b, WithMetrics(m), g.option())
	ctx := context.Background()
	mustNoErr(t, p.Publish(ctx, newOrder(t)), "publish before")

	g.closed.Store(true)
	p.killConnection(t)
	waitFor(t, "publisher to notice the disconnect", func() bool { return !p.Ready() })
	err := p.Publish(ctx, newOrder(t))
	if !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("publish while disconnected: got %v, want ErrUnavailable", err)
	}
	if got := failures(t, m, metrics.PublishDisconnected); got < 1 {
		t.Fatalf("disconnected failures: %v", got)
	}

	g.closed.Store(false)
	waitFor(t, "publisher to reconnect", p.Ready)
	o := newOrder(t)
	mustNoErr(t, p.Publish(ctx, o), "publish after reconnect")
	got := b.drain(b.topo.Queue, 2)
	if got[1].MessageId != o.OrderNo {
		t.Fatalf("last message %s, want %s", got[1].MessageId, o.OrderNo)
	}
}

func TestPublisherKilledInFlight(t *testing.T) {
	b := newBroker(t)
	p := dialTestPublisher(t, b)

	// Publishes run while the connection is cut under them. None may be
	// reported a definite failure, none reported unsent may be in the
	// queue, and every confirmed one must be.
	var started sync.WaitGroup
	started.Add(1)
	var once sync.Once
	var (
		mu       sync.Mutex
		outcomes = map[string]error{}
		wg       sync.WaitGroup
		count    atomic.Int64
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				o := newOrder(t)
				err := p.Publish(context.Background(), o)
				mu.Lock()
				outcomes[o.OrderNo] = err
				mu.Unlock()
				if count.Add(1) == 200 {
					once.Do(func() { p.killConnection(t); started.Done() })
				}
			}
		}()
	}
	wg.Wait()
	started.Wait()

	waitFor(t, "publisher to reconnect", p.Ready)
	sentinel := newOrder(t)
	mustNoErr(t, p.Publish(context.Background(), sentinel), "publish after reconnect")

	inQueue := map[string]bool{}
	for !inQueue[sentinel.OrderNo] {
		for _, d := range b.drain(b.topo.Queue, 1) {
			inQueue[d.MessageId] = true
		}
	}
	var confirmed, unsent, unknown int
	for no, err := range outcomes {
		switch {
		case err == nil:
			confirmed++
			if !inQueue[no] {
				t.Fatalf("confirmed %s is not in the queue", no)
			}
		case errors.Is(err, order.ErrUnavailable):
			unsent++
			if inQueue[no] {
				t.Fatalf("%s reported unsent (%v) but is in the queue", no, err)
			}
		case errors.Is(err, order.ErrPublishUnconfirmed):
			unknown++
		default:
			t.Fatalf("publish %s: %v is neither confirmed, unsent nor unknown", no, err)
		}
	}
	t.Logf("confirmed %d, unsent %d, unknown %d", confirmed, unsent, unknown)
}

func TestPublisherCloseWaitsForConfirms(t *testing.T) {
	b := newBroker(t)
	p := dialTestPublisher(t, b)
	var (
		mu       sync.Mutex
		outcomes = map[string]error{}
		wg       sync.WaitGroup
		count    atomic.Int64
		closed   = make(chan error, 1)
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				o := newOrder(t)
				err := p.Publish(context.Background(), o)
				mu.Lock()
				outcomes[o.OrderNo] = err
				mu.Unlock()
				if count.Add(1) == 100 {
					go func() { closed <- p.Close(context.Background()) }()
				}
			}
		}()
	}
	wg.Wait()
	mustNoErr(t, <-closed, "close")
	// Close waited for every confirm: no outcome is unknown, and every
	// confirmed order is in the queue.
	confirmed := map[string]bool{}
	for no, err := range outcomes {
		switch {
		case err == nil:
			confirmed[no] = true
		case errors.Is(err, order.ErrUnavailable):
		default:
			t.Fatalf("publish %s during close: %v", no, err)
		}
	}
	for _, d := range b.drain(b.topo.Queue, len(confirmed)) {
		if !confirmed[d.MessageId] {
			t.Fatalf("unexpected message %s", d.MessageId)
		}
	}
	if n := b.settledDepth(b.topo.Queue); n != 0 {
		t.Fatalf("%d unexpected messages", n)
	}
}

func TestPublisherClose(t *testing.T) {
	b := newBroker(t)
	p := dialTestPublisher(t, b)
	ctx := context.Background()
	mustNoErr(t, p.Publish(ctx, newOrder(t)), "publish")
	mustNoErr(t, p.Close(ctx), "close")
	if p.Ready() {
		t.Fatal("ready after close")
	}
	if err := p.Publish(ctx, newOrder(t)); !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("publish after close: got %v, want ErrUnavailable", err)
	}
	mustNoErr(t, p.Close(ctx), "second close")
}

func TestDialPublisherUnreachable(t *testing.T) {
	_, err := DialPublisher(context.Background(), "amqp://guest:guest@127.0.0.1:1/", testLogger(t))
	if err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}
