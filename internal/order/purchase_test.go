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

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
)

// TestQueueDownSellsNothing: while the queue cannot take orders a purchase
// is ErrUnavailable and no unit is deducted.
func TestQueueDownSellsNothing(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	repo, err := store.OpenSQLite(context.Background(), t.TempDir()+"/sk.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	q := mq.NewMemory()
	uc := order.New(stock.NewRedis(rdb), q, repo, log)
	ctx := context.Background()
	now := time.Now()
	sale, err := uc.Catalog.CreateSale(ctx, order.NewSale{Name: "down", TotalStock: 3, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_ = q.Close() // the queue is gone: Ready() is false
	if _, err := uc.Purchases.Place(ctx, sale.ID, 1); !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("Place with the queue down: %v, want ErrUnavailable", err)
	}
	rec, err := uc.Catalog.Reconcile(ctx, sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Remaining != 3 || rec.ReservedInFlight != 0 || !rec.Consistent {
		t.Fatalf("a unit moved while the queue was down: %+v", rec)
	}
}

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

// byDeadlinePublisher takes a publish's deadline as a value
// (order.DeadlinePublisher) and records it; Publish must not be called.
type byDeadlinePublisher struct {
	mu        sync.Mutex
	deadlines []time.Time
	errs      []string
}

func (p *byDeadlinePublisher) Ready() bool { return true }

func (p *byDeadlinePublisher) Publish(context.Context, order.Order) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, "Publish called")
	return errors.New("want PublishBy")
}

func (p *byDeadlinePublisher) PublishBy(ctx context.Context, _ order.Order, deadline time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deadlines = append(p.deadlines, deadline)
	if _, ok := ctx.Deadline(); ok {
		p.errs = append(p.errs, "a context deadline beside the value")
	}
	return nil
}

// TestPublishDeadlineAsValue: a queue that takes the deadline as a value
// gets the publish deadline counted from the reservation, and no context
// deadline (no timer) beside it.
func TestPublishDeadlineAsValue(t *testing.T) {
	r := newSettleRig(t, 2)
	pub := &byDeadlinePublisher{}
	const within = 3 * time.Second
	uc := order.New(r.stock, pub, r.repo, slog.New(slog.NewTextHandler(io.Discard, nil)),
		order.WithSettleAfter(testSettleAfter), order.WithPublishDeadline(within))
	before := time.Now()
	if _, err := uc.Purchases.Place(context.Background(), r.sale.ID, 1); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.errs) > 0 || len(pub.deadlines) != 1 {
		t.Fatalf("publishes: %v, deadlines %v; want one PublishBy", pub.errs, pub.deadlines)
	}
	if d := pub.deadlines[0]; d.Before(before.Add(within)) || d.After(after.Add(within)) {
		t.Fatalf("deadline %v; want %v after the reservation (between %v and %v)", d, within, before.Add(within), after.Add(within))
	}
}
