package order_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// stuckPublisher never gets a publish out on its own: a publish waits for a
// free slot until its context ends, as one behind a full confirm window
// does, and only unblock lets the waiting ones through. It records what
// it sent.
type stuckPublisher struct {
	mu     sync.Mutex
	sent   []string
	open   chan struct{}
	fences []string
}

func (p *stuckPublisher) Ready() bool { return true }

func (p *stuckPublisher) Publish(ctx context.Context, o order.Order) error {
	select {
	case <-p.open:
	case <-ctx.Done():
		return fmt.Errorf("%w: no free confirm slot: %w", order.ErrUnavailable, ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, o.OrderNo)
	return nil
}

func (p *stuckPublisher) PublishFence(_ context.Context, f order.Fence) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fences = append(p.fences, f.ID)
	return nil
}

// TestPublishHasOneDeadline: a publish that cannot be sent within the
// publish deadline, counted from the reservation, is given up as not sent
// and its unit goes back, instead of waiting for a slot for ever.
func TestPublishHasOneDeadline(t *testing.T) {
	r := newSettleRig(t, 2)
	pub := &stuckPublisher{open: make(chan struct{})}
	const within = 300 * time.Millisecond
	uc := order.New(r.stock, pub, r.repo, slog.New(slog.NewTextHandler(io.Discard, nil)),
		order.WithSettleAfter(testSettleAfter), order.WithPublishDeadline(within))
	done := make(chan error, 1)
	start := time.Now()
	go func() { _, err := uc.Purchases.Place(context.Background(), r.sale.ID, 1); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		close(pub.open)
		err = <-done
		t.Fatalf("purchase still publishing 5s after its reservation (then %v); want it given up after %v", err, within)
	}
	if !errors.Is(err, order.ErrUnavailable) || time.Since(start) < within {
		t.Fatalf("purchase answered %v after %v; want ErrUnavailable at the deadline", err, time.Since(start))
	}
	if rem, err := r.stock.Remaining(context.Background(), r.sale.ID); err != nil || rem != 2 {
		t.Fatalf("remaining %d, %v; want the unit back", rem, err)
	}
}

// TestRebuildQuietCoversPublishDeadline: a rebuild's fence goes out only
// once every publish started before the loss has been sent or given up:
// the quiet time is at least the publish deadline.
func TestRebuildQuietCoversPublishDeadline(t *testing.T) {
	r := newSettleRig(t, 2)
	pub := &stuckPublisher{open: make(chan struct{})}
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	uc := order.New(r.stock, pub, r.repo, slog.New(slog.NewTextHandler(io.Discard, nil)),
		order.WithClock(now), order.WithPublishDeadline(10*time.Second), order.WithRebuilds(r.repo, pub, r.repo, time.Second))
	r.mr.FlushAll()
	ctx := context.Background()
	if _, err := uc.Settler.Settle(ctx, now()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = clock.Add(5 * time.Second) // past the quiet time given, within the publish deadline
	mu.Unlock()
	if _, err := uc.Settler.Settle(ctx, now()); err != nil {
		t.Fatal(err)
	}
	if len(pub.fences) != 0 {
		t.Fatalf("fence sent 5s after the loss while publishes may wait 10s to be sent")
	}
	mu.Lock()
	clock = clock.Add(6 * time.Second)
	mu.Unlock()
	if _, err := uc.Settler.Settle(ctx, now()); err != nil {
		t.Fatal(err)
	}
	if len(pub.fences) != 1 {
		t.Fatalf("%d fences sent once the publish deadline passed; want 1", len(pub.fences))
	}
}
