package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/seckill/seckill/internal/consumer"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource is an in-test Source: the test hands it deliveries one at a
// time and it records how each was settled.
type fakeSource struct {
	in         chan handoff
	consumeErr error

	mu      sync.Mutex
	settled map[string][]string // delivery tag → "ack", "reject", "requeue"
	history []string            // "<tag> <settlement>" and "stop", in order
}

func (f *fakeSource) note(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.history = append(f.history, what)
}

type handoff struct {
	d     order.Delivery
	taken chan bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{in: make(chan handoff), settled: map[string][]string{}}
}

func (f *fakeSource) Consume(ctx context.Context) (<-chan order.Delivery, error) {
	if f.consumeErr != nil {
		return nil, f.consumeErr
	}
	out := make(chan order.Delivery)
	go func() {
		defer close(out)
		defer f.note("stop")
		for {
			select {
			case <-ctx.Done():
				return
			case h := <-f.in:
				select {
				case out <- h.d:
					h.taken <- true
				case <-ctx.Done():
					h.taken <- false
					return
				}
			}
		}
	}()
	return out, nil
}

// delivery builds a delivery whose settlement is recorded under tag.
func (f *fakeSource) delivery(tag string, redelivered bool, orders ...order.Order) order.Delivery {
	record := func(what string) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.settled[tag] = append(f.settled[tag], what)
		f.history = append(f.history, tag+" "+what)
		return nil
	}
	return order.Delivery{
		MessageID:   tag,
		Orders:      orders,
		Redelivered: redelivered,
		Ack:         func() error { return record("ack") },
		Reject: func(requeue bool) error {
			if requeue {
				return record("requeue")
			}
			return record("reject")
		},
	}
}

// deliver hands d to the worker and reports whether the worker took it
// (false once the source has stopped).
func (f *fakeSource) deliver(tb testing.TB, d order.Delivery) bool {
	tb.Helper()
	return <-f.deliverAsync(tb, d)
}

// deliverAsync returns once the source holds d; the channel then tells
// whether the worker took it.
func (f *fakeSource) deliverAsync(tb testing.TB, d order.Delivery) <-chan bool {
	tb.Helper()
	h := handoff{d: d, taken: make(chan bool, 1)}
	select {
	case f.in <- h:
	case <-time.After(30 * time.Second):
		tb.Fatalf("delivery %s: nobody is consuming", d.MessageID)
	}
	return h.taken
}

func (f *fakeSource) settlement(tag string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.settled[tag])
}

func deadLetters(tb testing.TB, s *store.Store) []order.DeadLetter {
	tb.Helper()
	got, _, err := s.DeadLetters(context.Background(), 100)
	if err != nil {
		tb.Fatal(err)
	}
	slices.Reverse(got) // oldest first
	return got
}

// eventually waits for cond; it bounds the wait so a broken worker fails
// the test instead of hanging it.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for range 10_000 {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	tb.Fatalf("timed out waiting for %s", what)
}

// running is a loop started by start; stop cancels it and returns Run's
// error.
type running struct {
	cancel context.CancelFunc
	errc   chan error
}

func start(tb testing.TB, l *consumer.Loop) *running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- l.Run(ctx) }()
	tb.Cleanup(func() { _ = r.stop() })
	return r
}

func (r *running) stop() error {
	r.cancel()
	err, ok := <-r.errc
	if !ok {
		return nil
	}
	close(r.errc)
	return err
}

func newSale(tb testing.TB, s *store.Store, stock int64) order.Sale {
	tb.Helper()
	now := time.Now().UTC()
	sale, _, err := s.CreateSale(context.Background(), order.NewSale{
		Name: "phone", PriceCents: 100, TotalStock: stock,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
	})
	if err != nil {
		tb.Fatalf("create sale: %v", err)
	}
	return sale
}

func newOrder(tb testing.TB, saleID, userID int64) order.Order {
	tb.Helper()
	no, err := order.NewOrderNo()
	if err != nil {
		tb.Fatal(err)
	}
	return order.Order{OrderNo: no, SaleID: saleID, UserID: userID, Status: order.StatusCreated, CreatedAt: time.Now().UTC()}
}

func rows(tb testing.TB, s *store.Store, saleID int64) []order.Order {
	tb.Helper()
	got, err := s.SaleOrders(context.Background(), saleID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func sold(tb testing.TB, s *store.Store, saleID int64) int64 {
	tb.Helper()
	sale, err := s.Sale(context.Background(), saleID)
	if err != nil {
		tb.Fatal(err)
	}
	return sale.Sold
}

func value(tb testing.TB, c prometheus.Metric) float64 {
	tb.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		tb.Fatal(err)
	}
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func wantSettled(tb testing.TB, f *fakeSource, tag string, want ...string) {
	tb.Helper()
	if got := f.settlement(tag); !slices.Equal(got, want) {
		tb.Errorf("delivery %s settled %v, want %v", tag, got, want)
	}
}

func TestRedeliveredMessageIsStoredOnce(t *testing.T) {
	tests := []struct {
		name string
		// sameBatch delivers both copies before the batch is persisted.
		sameBatch bool
	}{
		{"separate batches", false},
		{"same batch", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				sale := newSale(t, s, 10)
				src := newFakeSource()
				m := metrics.Discard()
				wait := time.Millisecond
				if tt.sameBatch {
					wait = time.Hour
				}
				r := start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithBatchWait(wait), consumer.WithMetrics(m)))

				o := newOrder(t, sale.ID, 1)
				src.deliver(t, src.delivery("first", false, o))
				if !tt.sameBatch {
					eventually(t, "the first delivery to be acked", func() bool { return len(src.settlement("first")) > 0 })
				}
				src.deliver(t, src.delivery("again", true, o))
				if err := r.stop(); err != nil {
					t.Fatalf("run: %v", err)
				}

				wantSettled(t, src, "first", "ack")
				wantSettled(t, src, "again", "ack")
				if got := rows(t, s, sale.ID); len(got) != 1 || got[0].OrderNo != o.OrderNo {
					t.Errorf("rows = %v, want only %s", got, o.OrderNo)
				}
				if got := sold(t, s, sale.ID); got != 1 {
					t.Errorf("sold = %d, want 1", got)
				}
				for _, c := range []struct {
					name string
					m    prometheus.Metric
					want float64
				}{
					{"deliveries", m.WorkerDeliveries, 2},
					{"redeliveries", m.WorkerRedeliveries, 1},
					{"inserted", m.WorkerOrders.WithLabelValues("inserted"), 1},
					{"duplicate", m.WorkerOrders.WithLabelValues("duplicate"), 1},
					{"dead-lettered", m.WorkerDeadLettered, 0},
				} {
					if got := value(t, c.m); got != c.want {
						t.Errorf("%s = %v, want %v", c.name, got, c.want)
					}
				}
			})
		})
	}
}

// TestOversellIsTombstoned: orders beyond the stock are recorded
// cancelled (sold_out) and every delivery is acked; nothing is
// dead-lettered.
func TestOversellIsTombstoned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 3)
		src := newFakeSource()
		m := metrics.Discard()
		r := start(t, consumer.New(src, s, storetest.Logger(t),
			consumer.WithBatchSize(100), consumer.WithBatchWait(time.Hour), consumer.WithMetrics(m)))

		o := make([]order.Order, 6)
		for i := range o {
			o[i] = newOrder(t, sale.ID, int64(i+1))
		}
		// One message carries two orders.
		src.deliver(t, src.delivery("m1", false, o[0]))
		src.deliver(t, src.delivery("m2", false, o[1], o[2]))
		src.deliver(t, src.delivery("m3", false, o[3]))
		src.deliver(t, src.delivery("m4", false, o[4], o[5]))
		if err := r.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}

		for _, tag := range []string{"m1", "m2", "m3", "m4"} {
			wantSettled(t, src, tag, "ack")
		}
		var cancelled []string
		for _, row := range rows(t, s, sale.ID) {
			if row.Status == order.StatusCancelled && row.Reason == order.ReasonSoldOut {
				cancelled = append(cancelled, row.OrderNo)
			}
		}
		if want := []string{o[3].OrderNo, o[4].OrderNo, o[5].OrderNo}; !slices.Equal(cancelled, want) {
			t.Errorf("cancelled sold_out = %v, want the last three %v", cancelled, want)
		}
		if got := sold(t, s, sale.ID); got != 3 {
			t.Errorf("sold = %d, want 3", got)
		}
		if dead := deadLetters(t, s); len(dead) != 0 {
			t.Errorf("dead letters = %+v, want none", dead)
		}
		if got := value(t, m.WorkerOrders.WithLabelValues(order.ReasonSoldOut+"_cancelled")); got != 3 {
			t.Errorf("sold_out_cancelled = %v, want 3", got)
		}
		if got := value(t, m.WorkerDeadLettered); got != 0 {
			t.Errorf("dead-lettered = %v, want 0", got)
		}
	})
}

// TestUnknownSaleIsDeadLettered: an order of a sale MySQL does not hold
// cannot be tombstoned; it is recorded as a dead letter, with its message
// id, before its delivery is acked.
func TestUnknownSaleIsDeadLettered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 3)
		src := newFakeSource()
		m := metrics.Discard()
		r := start(t, consumer.New(src, s, storetest.Logger(t),
			consumer.WithBatchSize(100), consumer.WithBatchWait(time.Hour), consumer.WithMetrics(m)))

		good, ghost := newOrder(t, sale.ID, 1), newOrder(t, sale.ID+1000, 2)
		src.deliver(t, src.delivery("mixed", false, good, ghost))
		src.deliver(t, src.delivery("copy", true, ghost)) // the same order again in the batch
		if err := r.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		wantSettled(t, src, "mixed", "ack")
		wantSettled(t, src, "copy", "ack")
		dead := deadLetters(t, s)
		if len(dead) != 1 || dead[0].Reason != order.DeadUnknownSale || dead[0].MessageID != "mixed" ||
			len(dead[0].Orders) != 1 || dead[0].Orders[0].OrderNo != ghost.OrderNo {
			t.Fatalf("dead letters = %+v, want %s once under message mixed", dead, ghost.OrderNo)
		}
		if got := value(t, m.WorkerDeadLettered); got != 1 {
			t.Errorf("dead-lettered = %v, want 1", got)
		}
		if n := len(rows(t, s, sale.ID)); n != 1 {
			t.Errorf("rows = %d, want 1", n)
		}
	})
}

func TestUndecodableMessageIsRecorded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 5)
		src := newFakeSource()
		m := metrics.Discard()
		r := start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithBatchWait(time.Hour), consumer.WithMetrics(m)))

		bad := src.delivery("bad", false)
		bad.DecodeErr = errors.New("decode message: unexpected end of JSON input")
		bad.Body = []byte(`{"schema":1,`)
		src.deliver(t, bad)
		src.deliver(t, src.delivery("empty", false))
		src.deliver(t, src.delivery("good", false, newOrder(t, sale.ID, 1)))
		if err := r.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}

		wantSettled(t, src, "bad", "ack")
		wantSettled(t, src, "empty", "ack")
		wantSettled(t, src, "good", "ack")
		if n := len(rows(t, s, sale.ID)); n != 1 {
			t.Errorf("rows = %d, want 1", n)
		}
		dead := deadLetters(t, s)
		if len(dead) != 2 {
			t.Fatalf("dead letters = %+v, want 2", dead)
		}
		if d := dead[0]; d.MessageID != "bad" || d.Reason != order.DeadUndecodable ||
			string(d.Body) != `{"schema":1,` || d.Detail != bad.DecodeErr.Error() {
			t.Errorf("dead letter = %+v, want the undecodable body and its error", d)
		}
		if got := value(t, m.WorkerDeadLettered); got != 2 {
			t.Errorf("dead-lettered = %v, want 2", got)
		}
	})
}

// gatedStore holds PersistBatch until the test opens the gate.
type gatedStore struct {
	order.BatchStore
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) PersistBatch(ctx context.Context, orders []order.Order) (order.BatchResult, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.BatchStore.PersistBatch(ctx, orders)
}

// TestShutdownFinishesInFlightBatch cancels the worker while a batch is in
// its transaction and a further message waits: the batch commits and is
// acked before the source is stopped, and the waiting message is never
// taken.
func TestShutdownFinishesInFlightBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 10)
		src := newFakeSource()
		g := &gatedStore{BatchStore: s, entered: make(chan struct{}), gate: make(chan struct{})}
		r := start(t, consumer.New(src, g, storetest.Logger(t), consumer.WithBatchSize(2), consumer.WithBatchWait(time.Hour)))

		o1, o2, o3 := newOrder(t, sale.ID, 1), newOrder(t, sale.ID, 2), newOrder(t, sale.ID, 3)
		src.deliver(t, src.delivery("d1", false, o1))
		src.deliver(t, src.delivery("d2", false, o2))
		<-g.entered // the batch of two is in PersistBatch

		taken := src.deliverAsync(t, src.delivery("d3", false, o3))
		r.cancel() // while the batch is in its transaction
		close(g.gate)
		if <-taken {
			t.Fatal("the worker took a delivery offered while its batch was in flight, after shutdown began")
		}
		if err := r.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}

		wantSettled(t, src, "d1", "ack")
		wantSettled(t, src, "d2", "ack")
		wantSettled(t, src, "d3")
		src.mu.Lock()
		history := slices.Clone(src.history)
		src.mu.Unlock()
		if want := []string{"d1 ack", "d2 ack", "stop"}; !slices.Equal(history, want) {
			t.Errorf("history = %v, want %v: the source stops only after the batch is acked", history, want)
		}
		got := rows(t, s, sale.ID)
		var nos []string
		for _, o := range got {
			nos = append(nos, o.OrderNo)
		}
		if want := []string{o1.OrderNo, o2.OrderNo}; !slices.Equal(nos, want) {
			t.Errorf("rows = %v, want %v", nos, want)
		}
	})
}

// TestShutdownPersistsGatheredBatch cancels the worker while a batch is
// still lingering for more deliveries: it is persisted and acked at once.
func TestShutdownPersistsGatheredBatch(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 10)
	src := newFakeSource()
	r := start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithBatchWait(time.Hour)))
	src.deliver(t, src.delivery("d1", false, newOrder(t, sale.ID, 1)))
	src.deliver(t, src.delivery("d2", false, newOrder(t, sale.ID, 2)))
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	wantSettled(t, src, "d1", "ack")
	wantSettled(t, src, "d2", "ack")
	if got := sold(t, s, sale.ID); got != 2 {
		t.Errorf("sold = %d, want 2", got)
	}
}

// flakyStore fails every store call while down is set, and the first
// deadFailures calls of RecordDeadLetter; it records the size of every
// batch it persists.
type flakyStore struct {
	order.BatchStore
	mu           sync.Mutex
	down         bool
	deadFailures int // RecordDeadLetter calls that still fail
	calls        int
	sizes        []int
}

var errRefused = errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")

func (f *flakyStore) fail() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.down
}

func (f *flakyStore) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *flakyStore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *flakyStore) PersistBatch(ctx context.Context, orders []order.Order) (order.BatchResult, error) {
	if f.fail() {
		return order.BatchResult{}, errRefused
	}
	f.mu.Lock()
	f.sizes = append(f.sizes, len(orders))
	f.mu.Unlock()
	return f.BatchStore.PersistBatch(ctx, orders)
}

func (f *flakyStore) RecordDeadLetter(ctx context.Context, d order.DeadLetter) (int64, error) {
	f.mu.Lock()
	fail := f.deadFailures > 0
	if fail {
		f.deadFailures--
	}
	f.mu.Unlock()
	if fail || f.fail() {
		return 0, errRefused
	}
	return f.BatchStore.RecordDeadLetter(ctx, d)
}

func (f *flakyStore) PassFence(ctx context.Context, id string, at time.Time) error {
	if f.fail() {
		return errRefused
	}
	return f.BatchStore.PassFence(ctx, id, at)
}

func (f *flakyStore) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sizes)
}

// TestStoreOutageHoldsTheBatch: while the store refuses connections the
// worker keeps its batch unacked, retries it, and takes no new delivery;
// nothing goes back to the broker. Once the store is back the batch
// commits, and every delivery is acked exactly once.
func TestStoreOutageHoldsTheBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		sale := newSale(t, s, 10)
		src := newFakeSource()
		fs := &flakyStore{BatchStore: s, down: true}
		m := metrics.Discard()
		r := start(t, consumer.New(src, fs, storetest.Logger(t), consumer.WithBatchWait(0),
			consumer.WithRetryBackoff(time.Millisecond, 5*time.Millisecond), consumer.WithMetrics(m)))

		o1, o2 := newOrder(t, sale.ID, 1), newOrder(t, sale.ID, 2)
		src.deliver(t, src.delivery("d1", false, o1))
		retries := m.WorkerStoreRetries.WithLabelValues(metrics.StorePersist)
		eventually(t, "several retries", func() bool { return value(t, retries) >= 5 })
		if got := value(t, m.WorkerStoreUp); got != 0 {
			t.Errorf("store up = %v during the outage, want 0", got)
		}
		taken := src.deliverAsync(t, src.delivery("d2", false, o2))
		eventually(t, "more retries", func() bool { return value(t, retries) >= 10 })
		select {
		case <-taken:
			t.Fatal("the worker took a delivery while its batch was failing")
		default:
		}
		wantSettled(t, src, "d1")

		fs.setDown(false)
		if !<-taken {
			t.Fatal("the worker did not take the next delivery after the store came back")
		}
		eventually(t, "d2 to be acked", func() bool { return len(src.settlement("d2")) > 0 })
		if err := r.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		wantSettled(t, src, "d1", "ack")
		wantSettled(t, src, "d2", "ack")
		if got := rows(t, s, sale.ID); len(got) != 2 {
			t.Errorf("rows = %d, want 2", len(got))
		}
		if got := value(t, m.WorkerStoreUp); got != 1 {
			t.Errorf("store up = %v after recovery, want 1", got)
		}
		if got := value(t, m.WorkerBatchSize); got != 2 {
			t.Errorf("batches persisted = %v, want 2", got)
		}
	})
}

// TestShutdownDuringOutageLeavesBatchUnacked: a worker stopped while the
// store is down returns without settling its batch, so the broker
// redelivers it when the channel closes.
func TestShutdownDuringOutageLeavesBatchUnacked(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 10)
	src := newFakeSource()
	fs := &flakyStore{BatchStore: s, down: true}
	r := start(t, consumer.New(src, fs, storetest.Logger(t), consumer.WithBatchWait(0),
		consumer.WithRetryBackoff(time.Millisecond, time.Millisecond)))
	src.deliver(t, src.delivery("d1", false, newOrder(t, sale.ID, 1)))
	eventually(t, "a retry", func() bool { return fs.callCount() >= 3 })
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	wantSettled(t, src, "d1")
	if n := len(rows(t, s, sale.ID)); n != 0 {
		t.Errorf("rows = %d, want 0", n)
	}
}

// TestDeadLetterRecordFailureHolds: a dead letter that cannot be recorded
// yet holds its delivery unacked and is retried until the row is
// committed; the other deliveries of the batch are acked at once.
func TestDeadLetterRecordFailureHolds(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 5)
	src := newFakeSource()
	fs := &flakyStore{BatchStore: s, deadFailures: 3}
	m := metrics.Discard()
	r := start(t, consumer.New(src, fs, storetest.Logger(t), consumer.WithBatchSize(2), consumer.WithBatchWait(time.Hour),
		consumer.WithRetryBackoff(time.Millisecond, time.Millisecond), consumer.WithMetrics(m)))

	kept, ghost := newOrder(t, sale.ID, 1), newOrder(t, sale.ID+1000, 2)
	src.deliver(t, src.delivery("kept", false, kept))
	src.deliver(t, src.delivery("ghost", false, ghost))
	eventually(t, "the dead letter to be recorded", func() bool { return len(src.settlement("ghost")) > 0 })
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	wantSettled(t, src, "kept", "ack")
	wantSettled(t, src, "ghost", "ack")
	if dead := deadLetters(t, s); len(dead) != 1 || dead[0].Orders[0].OrderNo != ghost.OrderNo {
		t.Errorf("dead letters = %+v, want %s once", dead, ghost.OrderNo)
	}
	if got := value(t, m.WorkerStoreRetries.WithLabelValues(metrics.StoreDeadLetter)); got != 3 {
		t.Errorf("dead-letter retries = %v, want 3", got)
	}
}

func TestBatchSize(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 100)
	src := newFakeSource()
	fs := &flakyStore{BatchStore: s}
	m := metrics.Discard()
	r := start(t, consumer.New(src, fs, storetest.Logger(t),
		consumer.WithBatchSize(4), consumer.WithBatchWait(time.Hour), consumer.WithMetrics(m)))

	for i := range 10 {
		src.deliver(t, src.delivery(fmt.Sprint(i), false, newOrder(t, sale.ID, int64(i+1))))
	}
	// Two full batches went at once; the last two wait for the linger or
	// the shutdown.
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got, want := fs.batchSizes(), []int{4, 4, 2}; !slices.Equal(got, want) {
		t.Errorf("batch sizes = %v, want %v", got, want)
	}
	if got := value(t, m.WorkerBatchSize); got != 3 {
		t.Errorf("batch size observations = %v, want 3", got)
	}
	if got := value(t, m.WorkerPersistDuration); got != 3 {
		t.Errorf("persist duration observations = %v, want 3", got)
	}
	if got := sold(t, s, sale.ID); got != 10 {
		t.Errorf("sold = %d, want 10", got)
	}
}

func TestLingerFlushesPartialBatch(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 100)
	src := newFakeSource()
	r := start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithBatchSize(100), consumer.WithBatchWait(time.Millisecond)))
	src.deliver(t, src.delivery("d1", false, newOrder(t, sale.ID, 1)))
	eventually(t, "the lingering batch to be persisted", func() bool { return len(src.settlement("d1")) > 0 })
	wantSettled(t, src, "d1", "ack")
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// closingSource closes its channel on its own while ctx is live.
type closingSource struct{}

func (c *closingSource) Consume(context.Context) (<-chan order.Delivery, error) {
	ch := make(chan order.Delivery)
	close(ch)
	return ch, nil
}

func TestRunErrors(t *testing.T) {
	s := storetest.SQLite(t)
	failing := newFakeSource()
	failing.consumeErr = errors.New("not connected")
	tests := []struct {
		name string
		src  order.Source
		want error
	}{
		{"consume fails", failing, failing.consumeErr},
		{"channel closes under a live context", &closingSource{}, order.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := consumer.New(tt.src, s, storetest.Logger(t)).Run(ctx)
			if !errors.Is(err, tt.want) {
				t.Fatalf("run: err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNilMetrics(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 1)
	src := newFakeSource()
	r := start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithMetrics(nil), consumer.WithBatchWait(time.Hour)))
	bad := src.delivery("bad", true)
	bad.DecodeErr = errors.New("garbage")
	src.deliver(t, bad)
	src.deliver(t, src.delivery("a", true, newOrder(t, sale.ID, 1)))
	src.deliver(t, src.delivery("b", false, newOrder(t, sale.ID, 2)))
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	wantSettled(t, src, "a", "ack")
	wantSettled(t, src, "b", "ack")
}

// stuckSource never closes its channel.
type stuckSource struct{}

func (s *stuckSource) Consume(context.Context) (<-chan order.Delivery, error) {
	return make(chan order.Delivery), nil
}

func TestRunGivesUpOnASourceThatNeverCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := consumer.New(&stuckSource{}, storetest.SQLite(t), storetest.Logger(t), consumer.WithDrainTimeout(time.Millisecond)).Run(ctx)
	if err == nil {
		t.Fatal("run: want an error when the source never closes its channel")
	}
}

// fenceStore records, for every fence passed, how many orders of the sale
// MySQL held at that moment; its first PassFence fails.
type fenceStore struct {
	*store.Store
	saleID int64
	mu     sync.Mutex
	failed bool
	passed map[string]int // fence id → rows when it passed
}

func (f *fenceStore) PassFence(ctx context.Context, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failed {
		f.failed = true
		return errRefused
	}
	got, err := f.SaleOrders(ctx, f.saleID)
	if err != nil {
		return err
	}
	f.passed[id] = len(got)
	return f.Store.PassFence(ctx, id, at)
}

// TestFencePassesAfterEverythingBeforeIt: a fence behind a lingering batch
// makes the worker persist the batch first, then pass the fence (retrying
// a failure like any store call), then ack it.
func TestFencePassesAfterEverythingBeforeIt(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 10)
	src := newFakeSource()
	fs := &fenceStore{Store: s, saleID: sale.ID, passed: map[string]int{}}
	m := metrics.Discard()
	r := start(t, consumer.New(src, fs, storetest.Logger(t), consumer.WithBatchSize(100), consumer.WithBatchWait(time.Hour),
		consumer.WithRetryBackoff(time.Millisecond, time.Millisecond), consumer.WithMetrics(m)))
	for i := range 3 {
		src.deliver(t, src.delivery(fmt.Sprint("o", i), false, newOrder(t, sale.ID, int64(i+1))))
	}
	fence := src.delivery("fence", false)
	fence.Fence = &order.Fence{ID: "0195f0a4-0000-7000-8000-000000000001", SaleID: sale.ID}
	src.deliver(t, fence)
	eventually(t, "the fence to be acked", func() bool { return len(src.settlement("fence")) > 0 })
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for i := range 3 {
		wantSettled(t, src, fmt.Sprint("o", i), "ack")
	}
	wantSettled(t, src, "fence", "ack")
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if got, ok := fs.passed[fence.Fence.ID]; !ok || got != 3 {
		t.Errorf("fence passed with %d orders in MySQL (passed %v), want 3", got, ok)
	}
	if got := value(t, m.WorkerStoreRetries.WithLabelValues(metrics.StoreFence)); got != 1 {
		t.Errorf("fence retries = %v, want 1", got)
	}
}

// TestBatchAckedInOneFrame: a batch whose every order was settled is acked
// through its last delivery alone when the source offers it; a batch with
// an order to dead-letter is acked delivery by delivery.
func TestBatchAckedInOneFrame(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 100)
	src := newFakeSource()
	through := src.withAckThrough
	r := start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithBatchSize(3), consumer.WithBatchWait(time.Hour)))
	for i := range 3 {
		src.deliver(t, through(src.delivery(fmt.Sprint("ok", i), false, newOrder(t, sale.ID, int64(i+1)))))
	}
	eventually(t, "the batch acked", func() bool { return len(src.settlement("ok2")) > 0 })
	wantSettled(t, src, "ok0")
	wantSettled(t, src, "ok1")
	wantSettled(t, src, "ok2", "ack-through")

	// An unknown sale's order is recorded as a dead letter first: each
	// delivery is acked on its own.
	src.deliver(t, through(src.delivery("good", false, newOrder(t, sale.ID, 10))))
	src.deliver(t, through(src.delivery("lost", false, newOrder(t, sale.ID+1000, 11))))
	src.deliver(t, through(src.delivery("last", false, newOrder(t, sale.ID, 12))))
	eventually(t, "the second batch acked", func() bool { return len(src.settlement("last")) > 0 })
	for _, tag := range []string{"good", "lost", "last"} {
		wantSettled(t, src, tag, "ack")
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := sold(t, s, sale.ID); got != 5 {
		t.Errorf("sold = %d, want 5", got)
	}
}

// withAckThrough gives d an AckThrough that the source records as
// "ack-through", in its settlements and its history.
func (f *fakeSource) withAckThrough(d order.Delivery) order.Delivery {
	tag := d.MessageID
	d.AckThrough = func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.settled[tag] = append(f.settled[tag], "ack-through")
		f.history = append(f.history, tag+" ack-through")
		return nil
	}
	return d
}

// TestHeldAck: with an ack delay, the frame that acks a committed batch
// waits for the next batches and goes out once for all of them: when they
// reach the bound of deliveries, when the delay has passed, and before
// the source is told to stop.
func TestHeldAck(t *testing.T) {
	s := storetest.SQLite(t)
	sale := newSale(t, s, 100)
	src := newFakeSource()
	user := int64(0)
	batch := func(tags ...string) {
		t.Helper()
		for _, tag := range tags {
			user++
			src.deliver(t, src.withAckThrough(src.delivery(tag, false, newOrder(t, sale.ID, user))))
		}
	}
	r := start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithBatchSize(2), consumer.WithBatchWait(time.Hour),
		consumer.WithAckDelay(time.Hour, 5)))

	// The bound: 2 + 2 deliveries are held, the third batch makes 6.
	batch("a0", "a1")
	batch("b0", "b1")
	batch("c0", "c1")
	eventually(t, "the held ack sent", func() bool { return len(src.settlement("c1")) > 0 })
	for _, tag := range []string{"a0", "a1", "b0", "b1", "c0"} {
		wantSettled(t, src, tag)
	}
	wantSettled(t, src, "c1", "ack-through")

	// Shutdown: the held frame goes out before the source stops.
	batch("d0", "d1")
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	src.mu.Lock()
	history := slices.Clone(src.history)
	src.mu.Unlock()
	if want := []string{"c1 ack-through", "d1 ack-through", "stop"}; !slices.Equal(history, want) {
		t.Errorf("history = %v, want %v", history, want)
	}

	// The delay: a lone batch is acked once it has passed.
	r = start(t, consumer.New(src, s, storetest.Logger(t), consumer.WithBatchSize(2), consumer.WithBatchWait(time.Hour),
		consumer.WithAckDelay(time.Millisecond, 100)))
	batch("e0", "e1")
	eventually(t, "the held ack sent after the delay", func() bool { return len(src.settlement("e1")) > 0 })
	wantSettled(t, src, "e0")
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := sold(t, s, sale.ID); got != 10 {
		t.Errorf("sold = %d, want 10", got)
	}
}
