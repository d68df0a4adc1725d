package mq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// gatedPublisher records every message and holds the first one until
// released, so a test can pile orders up behind it.
type gatedPublisher struct {
	mu      sync.Mutex
	batches [][]order.Order
	gate    chan struct{}
	fail    error
}

func (g *gatedPublisher) Ready() bool { return true }

func (g *gatedPublisher) PublishBatch(_ context.Context, orders []order.Order) error {
	g.mu.Lock()
	first := len(g.batches) == 0
	g.batches = append(g.batches, append([]order.Order(nil), orders...))
	g.mu.Unlock()
	if first {
		<-g.gate
	}
	return g.fail
}

func TestCoalescerCarriesQueuedOrdersTogether(t *testing.T) {
	tests := []struct {
		name string
		fail error
	}{
		{"confirmed", nil},
		{"definite failure reaches every order of the message", fmt.Errorf("%w: nack", order.ErrPublishFailed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n, maxBatch = 301, 100
			g := &gatedPublisher{gate: make(chan struct{}), fail: tt.fail}
			c := NewCoalescer(g, 1, maxBatch)
			errs := make([]error, n)
			var wg sync.WaitGroup
			publish := func(i int) {
				defer wg.Done()
				errs[i] = c.Publish(context.Background(), order.Order{OrderNo: fmt.Sprintf("o-%03d", i), SaleID: 1, UserID: int64(i + 1)})
			}
			wg.Add(1)
			go publish(0)
			for deadline := time.Now().Add(10 * time.Second); ; {
				g.mu.Lock()
				started := len(g.batches) == 1
				g.mu.Unlock()
				if started {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("first message never published")
				}
				time.Sleep(time.Millisecond)
			}
			for i := 1; i < n; i++ {
				wg.Add(1)
				go publish(i)
			}
			for deadline := time.Now().Add(10 * time.Second); c.batches[0].Queued() != n-1; {
				if time.Now().After(deadline) {
					t.Fatalf("%d orders queued, want %d", c.batches[0].Queued(), n-1)
				}
				time.Sleep(time.Millisecond)
			}
			close(g.gate)
			wg.Wait()

			sizes := make([]int, len(g.batches))
			seen := map[string]bool{}
			for i, b := range g.batches {
				sizes[i] = len(b)
				for _, o := range b {
					if seen[o.OrderNo] {
						t.Fatalf("order %s published twice", o.OrderNo)
					}
					seen[o.OrderNo] = true
				}
			}
			if fmt.Sprint(sizes) != "[1 100 100 100]" {
				t.Fatalf("message sizes %v, want [1 100 100 100]", sizes)
			}
			for i, err := range errs {
				if !errors.Is(err, tt.fail) || (tt.fail == nil) != (err == nil) {
					t.Fatalf("order %d: %v, want %v", i, err, tt.fail)
				}
			}
		})
	}
}

func TestCoalescerOverMemoryQueue(t *testing.T) {
	q := NewMemory()
	defer q.Close()
	c := NewCoalescer(q, 2, 64)
	const n = 500
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := c.Publish(context.Background(), order.Order{OrderNo: fmt.Sprintf("m-%03d", i), SaleID: 1, UserID: int64(i + 1)}); err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ds, err := q.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case d := <-ds:
			for _, o := range d.Orders {
				if seen[o.OrderNo] {
					t.Fatalf("order %s delivered twice", o.OrderNo)
				}
				seen[o.OrderNo] = true
			}
			if err := d.Ack(); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d orders delivered", len(seen), n)
		}
	}
}

// TestCoalescerKeepsPublishDeadlines: an order whose deadline passes
// while it waits behind a busy slot is given up as not sent, never sent
// late; the message that carries orders gets the earliest of their
// deadlines.
func TestCoalescerKeepsPublishDeadlines(t *testing.T) {
	g := &deadlinePublisher{gatedPublisher: gatedPublisher{gate: make(chan struct{})}}
	c := NewCoalescer(g, 1, 10)
	first := make(chan error, 1)
	go func() {
		first <- c.Publish(context.Background(), order.Order{OrderNo: "o-first", SaleID: 1, UserID: 1})
	}()
	waitFor(t, "first message out", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.batches) == 1 })

	late, cancelLate := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelLate()
	soon, cancelSoon := context.WithTimeout(context.Background(), time.Hour)
	defer cancelSoon()
	errs := make(chan error, 2)
	go func() { errs <- c.Publish(late, order.Order{OrderNo: "o-late", SaleID: 1, UserID: 2}) }()
	go func() { errs <- c.Publish(soon, order.Order{OrderNo: "o-kept", SaleID: 1, UserID: 3}) }()
	waitFor(t, "both queued", func() bool { return c.batches[0].Queued() == 2 })
	<-late.Done()
	close(g.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var got []error
	got = append(got, <-errs, <-errs)
	var notSent, sent int
	for _, err := range got {
		switch {
		case err == nil:
			sent++
		case errors.Is(err, order.ErrUnavailable) && !errors.Is(err, order.ErrPublishUnconfirmed):
			notSent++
		default:
			t.Errorf("unexpected outcome %v", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if sent != 1 || notSent != 1 || len(g.batches) != 2 || len(g.batches[1]) != 1 || g.batches[1][0].OrderNo != "o-kept" {
		t.Fatalf("outcomes %v, messages %v; want o-late given up unsent and o-kept sent alone", got, g.batches)
	}
	if d := g.deadlines[1]; d.IsZero() || time.Until(d) < 50*time.Minute {
		t.Errorf("the message of o-kept has deadline %v, want o-kept's", d)
	}
}

// deadlinePublisher is a gatedPublisher that records each message's
// deadline.
type deadlinePublisher struct {
	gatedPublisher
	deadlines []time.Time
}

func (d *deadlinePublisher) PublishBatch(ctx context.Context, orders []order.Order) error {
	dl, _ := ctx.Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, dl)
	d.mu.Unlock()
	return d.gatedPublisher.PublishBatch(ctx, orders)
}
