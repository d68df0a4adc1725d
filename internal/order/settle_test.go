package order_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
)

// settleRig is one api's use cases over an in-process Redis, an in-process
// queue and SQLite, with the pieces the settle tests drive by hand.
type settleRig struct {
	mr    *miniredis.Miniredis
	stock *stock.Redis
	q     *mq.Memory
	repo  *store.Store
	uc    order.UseCases
	sale  order.SaleView
}

const testSettleAfter = 30 * time.Second

func newSettleRig(t *testing.T, total int64, opts ...order.Option) *settleRig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &settleRig{mr: miniredis.RunT(t), q: mq.NewMemory()}
	t.Cleanup(func() { _ = r.q.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: r.mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	repo, err := store.OpenSQLite(context.Background(), t.TempDir()+"/sk.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	r.repo = repo
	r.stock = stock.NewRedis(rdb)
	opts = append([]order.Option{order.WithSettleAfter(testSettleAfter)}, opts...)
	r.uc = order.New(r.stock, r.q, repo, log, opts...)
	now := time.Now()
	r.sale, err = r.uc.Catalog.CreateSale(context.Background(), order.NewSale{
		Name: "settle", TotalStock: total, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// strand reserves a unit for user at the given time and publishes nothing:
// what an api killed between its reservation and its publish leaves.
func (r *settleRig) strand(t *testing.T, user int64, at time.Time) string {
	t.Helper()
	no := orderNoAt(t, at)
	res := order.Reservation{OrderNo: no, SaleID: r.sale.ID, UserID: user, State: order.Reserved}
	if err := r.stock.Reserve(context.Background(), res, at); err != nil {
		t.Fatal(err)
	}
	return no
}

// orderNoAt is a UUIDv7 order number made at t.
func orderNoAt(t *testing.T, at time.Time) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	ms := uint64(at.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id.String()
}

// drain persists whatever the queue holds, as the worker would.
func (r *settleRig) drain(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ds, err := r.q.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for r.q.Stats().Ready > 0 || r.q.Stats().Unacked > 0 {
		select {
		case d := <-ds:
			if d.Fence != nil {
				if err := r.repo.PassFence(ctx, d.Fence.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
				_ = d.Ack()
				continue
			}
			r.persist(t, d.Orders...)
			for _, o := range d.Orders {
				got = append(got, o.OrderNo)
			}
			if err := d.Ack(); err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("queue not drained")
		}
	}
	return got
}

// persist writes orders to the repository as the worker would.
func (r *settleRig) persist(t *testing.T, orders ...order.Order) {
	t.Helper()
	if _, err := r.repo.PersistBatch(context.Background(), orders); err != nil {
		t.Fatal(err)
	}
}

func (r *settleRig) reconcile(t *testing.T) order.Reconciliation {
	t.Helper()
	rec, err := r.uc.Catalog.Reconcile(context.Background(), r.sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

var _ order.BatchStore = (*store.Store)(nil)

// TestSettleRepublishesStrandedReservation: a reservation whose order never
// reached the queue is republished under its own order_no once it is older
// than the bound, and settled once MySQL holds it.
func TestSettleRepublishesStrandedReservation(t *testing.T) {
	r := newSettleRig(t, 3)
	ctx := context.Background()
	now := time.Now()
	old := r.strand(t, 1, now.Add(-time.Minute))
	young := r.strand(t, 2, now.Add(-time.Second))

	rec := r.reconcile(t)
	if rec.Consistent || !rec.Stuck || rec.ReservedInFlight != 2 || rec.OldestInFlight < time.Minute {
		t.Fatalf("before settling: %+v, want 2 in flight, stuck past the bound", rec)
	}

	res, err := r.uc.Settler.Settle(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Republished != 1 || res.Persisted != 0 {
		t.Fatalf("first pass %+v, want only the old reservation republished", res)
	}
	// Postponed: a second pass right away publishes nothing again.
	if res, err := r.uc.Settler.Settle(ctx, now); err != nil || res.Republished != 0 {
		t.Fatalf("second pass %+v, %v: republished again before the bound", res, err)
	}
	if got := r.drain(t); len(got) != 1 || got[0] != old {
		t.Fatalf("queue carried %v, want only %s", got, old)
	}
	res, err = r.uc.Settler.Settle(ctx, now.Add(testSettleAfter+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if res.Persisted != 1 || res.Republished != 1 {
		t.Fatalf("later pass %+v, want the old one settled and the young one republished", res)
	}
	if got := r.drain(t); len(got) != 1 || got[0] != young {
		t.Fatalf("queue carried %v, want only %s", got, young)
	}
	res, err = r.uc.Settler.Settle(ctx, now.Add(2*testSettleAfter+2*time.Second))
	if err != nil || res.Persisted != 1 || res.Republished != 0 {
		t.Fatalf("last pass %+v, %v: want the young one settled", res, err)
	}
	if due, err := r.stock.Due(ctx, r.sale.ID, now.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("index after settling: %v, %v; want empty", due, err)
	}
	rec = r.reconcile(t)
	if !rec.Consistent || rec.Persisted != 2 || rec.Remaining != 1 || rec.ReservedInFlight != 0 {
		t.Fatalf("after settling: %+v", rec)
	}
}

// TestSettleReleasesCancelledOrder: a stale reservation whose order MySQL
// holds as cancelled gets its unit back once, and leaves the index.
func TestSettleReleasesCancelledOrder(t *testing.T) {
	r := newSettleRig(t, 2)
	ctx := context.Background()
	now := time.Now()
	no := r.strand(t, 7, now.Add(-time.Minute))
	r.persist(t, order.Order{OrderNo: no, SaleID: r.sale.ID, UserID: 7, Status: order.StatusCreated, CreatedAt: now.Add(-time.Minute)})
	if _, err := r.repo.ExpireDue(ctx, r.sale.ID, now, 10); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second pass, or a second replica, returns nothing more
		res, err := r.uc.Settler.Settle(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if res.Republished != 0 || res.Released > 1 {
			t.Fatalf("pass %+v", res)
		}
	}
	rec := r.reconcile(t)
	if !rec.Consistent || rec.Remaining != 2 || rec.Cancelled != 1 {
		t.Fatalf("after settling a cancelled order: %+v, want both units back", rec)
	}
	if left, err := r.repo.Unreleased(ctx, r.sale.ID, 10); err != nil || len(left) != 0 {
		t.Fatalf("unreleased after settling: %v, %v", left, err)
	}
}

// TestJudgeBound: a reservation younger than the bound keeps the sale
// consistent; one older makes it stuck.
func TestJudgeBound(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		age   time.Duration
		stuck bool
	}{{time.Second, false}, {35 * time.Second, false}, {36 * time.Second, true}} {
		rec := order.Reconciliation{Consistent: true, OldestReservedAt: now.Add(-tt.age)}
		rec.Judge(now, 35*time.Second)
		if rec.Stuck != tt.stuck || rec.Consistent == tt.stuck || rec.OldestInFlight != tt.age {
			t.Errorf("age %v: %+v", tt.age, rec)
		}
	}
}

// TestRebuildCountsQueuedOrders: a sale whose stock is lost while orders
// wait in the queue stays closed until a fence has come through the queue
// behind them; the rebuild then counts them, so the sale never sells more
// units than it has.
func TestRebuildCountsQueuedOrders(t *testing.T) {
	r := newSettleRig(t, 5)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rdb := redis.NewClient(&redis.Options{Addr: r.mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	uc := order.New(r.stock, r.q, r.repo, log, order.WithRebuilds(r.repo, r.q, r.repo, 0))
	ctx := context.Background()
	for user := int64(1); user <= 3; user++ {
		if _, err := uc.Purchases.Place(ctx, r.sale.ID, user); err != nil {
			t.Fatal(err)
		}
	}
	r.mr.FlushAll() // Redis lost everything; three orders wait in the queue

	if _, err := uc.Purchases.Place(ctx, r.sale.ID, 9); !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("purchase with the stock lost: %v, want ErrUnavailable", err)
	}
	res, err := uc.Settler.Settle(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Rebuilds != 1 {
		t.Fatalf("settle pass %+v: want a rebuild started", res)
	}
	if _, err := r.stock.Remaining(ctx, r.sale.ID); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("stock loaded before the fence passed: %v", err)
	}
	if got := r.drain(t); len(got) != 3 {
		t.Fatalf("worker persisted %d orders, want 3", len(got))
	}
	v, err := uc.Catalog.Warmup(ctx, r.sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Remaining != 2 {
		t.Fatalf("after the rebuild %d remaining, want 5 - 3 queued = 2", v.Remaining)
	}
	for user := int64(4); user <= 7; user++ {
		_, err := uc.Purchases.Place(ctx, r.sale.ID, user)
		if user <= 5 && err != nil {
			t.Fatalf("user %d: %v", user, err)
		}
		if user > 5 && !errors.Is(err, order.ErrSoldOut) {
			t.Fatalf("user %d: %v, want sold out", user, err)
		}
	}
	r.drain(t)
	rec, err := uc.Catalog.Reconcile(ctx, r.sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Consistent || rec.Persisted != 5 || rec.Remaining != 0 {
		t.Fatalf("after the sale: %+v", rec)
	}
}

// TestSettleMergesLostReservations: a failover promoted a replica that
// missed the last reservation, whose order reached MySQL all the same. The
// stock then counts that unit as still for sale; a settle pass merges
// MySQL's orders back, so the sale sells exactly its stock and reconciles.
func TestSettleMergesLostReservations(t *testing.T) {
	r := newSettleRig(t, 3)
	ctx := context.Background()
	now := time.Now()
	kept := r.strand(t, 1, now.Add(-time.Second))
	lost := orderNoAt(t, now.Add(-time.Second)) // acknowledged, reservation gone
	r.persist(t,
		order.Order{OrderNo: kept, SaleID: r.sale.ID, UserID: 1, Status: order.StatusCreated, CreatedAt: now},
		order.Order{OrderNo: lost, SaleID: r.sale.ID, UserID: 2, Status: order.StatusCreated, CreatedAt: now})
	if rec := r.reconcile(t); rec.Consistent || rec.Orphans != 1 || rec.Remaining != 2 {
		t.Fatalf("before the pass: %+v, want one orphan and a unit counted twice", rec)
	}

	res, err := r.uc.Settler.Settle(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rebuilds != 1 {
		t.Fatalf("pass %+v: want the lost reservation merged", res)
	}
	if res, err := r.uc.Settler.Settle(ctx, now); err != nil || res.Rebuilds != 0 {
		t.Fatalf("second pass %+v, %v: merged again", res, err)
	}
	if rec := r.reconcile(t); !rec.Consistent || rec.Orphans != 0 || rec.Remaining != 1 || rec.Persisted != 2 {
		t.Fatalf("after the pass: %+v", rec)
	}
	var dup *order.AlreadyPurchasedError
	if _, err := r.uc.Purchases.Place(ctx, r.sale.ID, 2); !errors.As(err, &dup) || dup.OrderNo != lost {
		t.Fatalf("the lost order's buyer buys again: %v, want already purchased %s", err, lost)
	}
	if _, err := r.uc.Purchases.Place(ctx, r.sale.ID, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := r.uc.Purchases.Place(ctx, r.sale.ID, 4); !errors.Is(err, order.ErrSoldOut) {
		t.Fatalf("a fourth buyer of 3 units: %v, want sold out", err)
	}
}

// TestSettleHoldsBackWhileTheQueueIsFull: while the worker lags, a settle
// pass republishes a sale's missing orders only up to the bound less what
// the queue already holds for it; the rest wait, and go out once the
// queue drains.
func TestSettleHoldsBackWhileTheQueueIsFull(t *testing.T) {
	const bound = 4
	r := newSettleRig(t, 20)
	r.uc = order.New(r.stock, r.q, r.repo, slog.New(slog.DiscardHandler),
		order.WithSettleAfter(testSettleAfter), order.WithSettleBacklog(r.q, bound))
	ctx := context.Background()
	now := time.Now()
	stranded := map[string]bool{}
	for u := int64(1); u <= 10; u++ {
		stranded[r.strand(t, u, now.Add(-time.Minute))] = true
	}
	// Orders of live traffic fill the queue: one waits there already.
	if _, err := r.uc.Purchases.Place(ctx, r.sale.ID, 99); err != nil {
		t.Fatal(err)
	}
	res, err := r.uc.Settler.Settle(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Republished != bound-1 || res.Deferred != 10-(bound-1) {
		t.Fatalf("first pass %+v, want %d republished (bound %d less 1 queued) and the rest deferred", res, bound-1, bound)
	}
	// The queue is at the bound: nothing more goes out.
	if res, err := r.uc.Settler.Settle(ctx, now); err != nil || res.Republished != 0 || res.Deferred != 10-(bound-1) {
		t.Fatalf("pass on a full queue %+v, %v; want nothing republished", res, err)
	}
	persisted := len(r.drain(t))
	for persisted < 11 {
		res, err := r.uc.Settler.Settle(ctx, now)
		if err != nil || res.Republished == 0 || res.Republished > bound {
			t.Fatalf("pass on a drained queue %+v, %v; want 1 to %d republished", res, err, bound)
		}
		persisted += len(r.drain(t))
	}
	if rec := r.reconcile(t); rec.Persisted != 11 || rec.ReservedInFlight != 0 {
		t.Fatalf("after the backlog drained: %+v", rec)
	}
}

// TestRebuildResendsALostFence: a fence that never passes (dead-lettered
// after the worker failed on it past the delivery limit, or lost) is sent
// again, so the sale does not stay closed for good.
func TestRebuildResendsALostFence(t *testing.T) {
	r := newSettleRig(t, 5)
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	uc := order.New(r.stock, r.q, r.repo, slog.New(slog.DiscardHandler),
		order.WithClock(now), order.WithRebuilds(r.repo, r.q, r.repo, 0))
	ctx := context.Background()
	r.mr.FlushAll()
	if res, err := uc.Settler.Settle(ctx, now()); err != nil || res.Rebuilds != 1 {
		t.Fatalf("settle %+v, %v; want a rebuild started", res, err)
	}
	// The worker takes the fence and it dies: nothing records it passed.
	lost := r.dropFences(t)
	if lost != 1 {
		t.Fatalf("%d fences in the queue, want 1", lost)
	}
	for range 3 {
		advance(time.Minute)
		if _, err := uc.Settler.Settle(ctx, now()); err != nil {
			t.Fatal(err)
		}
		r.drain(t)
	}
	if _, err := uc.Settler.Settle(ctx, now()); err != nil {
		t.Fatal(err)
	}
	if rem, err := r.stock.Remaining(ctx, r.sale.ID); err != nil || rem != 5 {
		t.Fatalf("after the fence was lost and time passed: remaining %d, %v; want the sale rebuilt with 5", rem, err)
	}
}

// dropFences takes every fence out of the queue without recording it
// passed, as a fence dead-lettered does, and returns how many.
func (r *settleRig) dropFences(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ds, err := r.q.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r.q.Stats().Ready > 0 || r.q.Stats().Unacked > 0 {
		select {
		case d := <-ds:
			if d.Fence != nil {
				n++
			}
			_ = d.Ack()
		case <-time.After(5 * time.Second):
			t.Fatal("queue not drained")
		}
	}
	return n
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
