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
