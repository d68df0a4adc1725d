package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// inFlightNow returns the number of batches running.
func (b *Batcher[T]) inFlightNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// gatedRun records every batch and holds the first one until the gate
// closes, so a test can pile items up behind it.
type gatedRun struct {
	mu      sync.Mutex
	batches [][]int
	gate    chan struct{}
	result  func(item int) error
}

func newGatedRun(result func(int) error) *gatedRun {
	return &gatedRun{gate: make(chan struct{}), result: result}
}

func (g *gatedRun) run(_ context.Context, items []int) []error {
	g.mu.Lock()
	first := len(g.batches) == 0
	g.batches = append(g.batches, slices.Clone(items))
	g.mu.Unlock()
	if first {
		<-g.gate
	}
	if g.result == nil {
		return nil
	}
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = g.result(it)
	}
	return errs
}

func (g *gatedRun) started() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.batches)
}

// pileUp runs Do(i) for i in [0, n) on n goroutines: item 0 first, alone in
// the gated first batch, then the others queued behind it, and returns once
// every call has returned, with each call's error.
func pileUp(t *testing.T, b *Batcher[int], g *gatedRun, n int) []error {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	do := func(i int) {
		defer wg.Done()
		errs[i] = b.Do(context.Background(), i)
	}
	wg.Add(1)
	go do(0)
	waitFor(t, "the first batch", func() bool { return g.started() == 1 })
	for i := 1; i < n; i++ {
		wg.Add(1)
		go do(i)
	}
	waitFor(t, "the queue to fill", func() bool { return b.Queued() == n-1 })
	close(g.gate)
	wg.Wait()
	return errs
}

func TestQueuedItemsShareBatchesUpToTheLimit(t *testing.T) {
	odd := errors.New("odd")
	tests := []struct {
		name   string
		result func(int) error
	}{
		{"all succeed (nil slice)", nil},
		{"one error for every item", func(int) error { return odd }},
		{"an error per item", func(i int) error {
			if i%2 == 1 {
				return fmt.Errorf("item %d: %w", i, odd)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n, maxBatch = 301, 100
			g := newGatedRun(tt.result)
			b := New(maxBatch, 1, g.run)
			errs := pileUp(t, b, g, n)

			sizes := make([]int, len(g.batches))
			seen := map[int]bool{}
			for i, batch := range g.batches {
				sizes[i] = len(batch)
				for _, it := range batch {
					if seen[it] {
						t.Fatalf("item %d ran twice", it)
					}
					seen[it] = true
				}
			}
			if fmt.Sprint(sizes) != "[1 100 100 100]" {
				t.Fatalf("batch sizes %v, want [1 100 100 100]", sizes)
			}
			for i, err := range errs {
				var want error
				if tt.result != nil {
					want = tt.result(i)
				}
				if fmt.Sprint(err) != fmt.Sprint(want) || errors.Is(err, odd) != errors.Is(want, odd) {
					t.Fatalf("item %d: got %v, want %v", i, err, want)
				}
			}
		})
	}
}

// TestBatchKeepsQueueOrder: items run in the order they were queued.
func TestBatchKeepsQueueOrder(t *testing.T) {
	g := newGatedRun(nil)
	b := New(64, 1, g.run)
	const n = 20
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		go func() {
			defer wg.Done()
			if err := b.Do(context.Background(), i); err != nil {
				t.Errorf("item %d: %v", i, err)
			}
		}()
		if i == 0 {
			waitFor(t, "the first batch", func() bool { return g.started() == 1 })
		} else {
			waitFor(t, fmt.Sprintf("item %d to queue", i), func() bool { return b.Queued() == i })
		}
	}
	close(g.gate)
	wg.Wait()
	want := [][]int{{0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}}
	if fmt.Sprint(g.batches) != fmt.Sprint(want) {
		t.Fatalf("batches %v, want %v", g.batches, want)
	}
}

// TestManyCallersBoundedBatchesAndInFlight: thousands of concurrent callers,
// each item runs exactly once, no batch exceeds its limit, no more batches
// run at once than allowed, and every caller gets its own item's result.
func TestManyCallersBoundedBatchesAndInFlight(t *testing.T) {
	for _, inFlight := range []int{1, 3} {
		t.Run(fmt.Sprintf("in flight %d", inFlight), func(t *testing.T) {
			const n, maxBatch = 5000, 32
			var (
				running, peak atomic.Int32
				ran           = make([]atomic.Int32, n)
				mu            sync.Mutex
				largest       int
				calls         int
			)
			b := New(maxBatch, inFlight, func(_ context.Context, items []int) []error {
				now := running.Add(1)
				defer running.Add(-1)
				for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
				}
				mu.Lock()
				largest, calls = max(largest, len(items)), calls+1
				mu.Unlock()
				time.Sleep(50 * time.Microsecond) // let the queue fill
				errs := make([]error, len(items))
				for i, it := range items {
					ran[it].Add(1)
					errs[i] = fmt.Errorf("result of %d", it)
				}
				return errs
			})
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(n)
			for i := range n {
				go func() {
					defer wg.Done()
					<-start
					if err := b.Do(context.Background(), i); err == nil || err.Error() != fmt.Sprintf("result of %d", i) {
						t.Errorf("item %d: got %v", i, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			for i := range ran {
				if c := ran[i].Load(); c != 1 {
					t.Fatalf("item %d ran %d times", i, c)
				}
			}
			if largest > maxBatch {
				t.Fatalf("a batch of %d items, limit %d", largest, maxBatch)
			}
			if p := int(peak.Load()); p > inFlight {
				t.Fatalf("%d batches ran at once, limit %d", p, inFlight)
			}
			if calls >= n {
				t.Fatalf("%d calls for %d items: nothing was batched", calls, n)
			}
			if b.Queued() != 0 || b.inFlightNow() != 0 {
				t.Fatalf("idle batcher: %d queued, %d running", b.Queued(), b.inFlightNow())
			}
		})
	}
}

// TestInFlightBatchesOverlap: with two slots, a second batch runs while the
// first is still running.
func TestInFlightBatchesOverlap(t *testing.T) {
	gate := make(chan struct{})
	var started atomic.Int32
	b := New(8, 2, func(_ context.Context, items []int) []error {
		started.Add(1)
		<-gate
		return nil
	})
	var wg sync.WaitGroup
	wg.Add(2)
	for i := range 2 {
		go func() {
			defer wg.Done()
			if err := b.Do(context.Background(), i); err != nil {
				t.Errorf("item %d: %v", i, err)
			}
		}()
		waitFor(t, fmt.Sprintf("batch %d to start", i+1), func() bool { return int(started.Load()) == i+1 })
	}
	close(gate)
	wg.Wait()
}

// TestQueuedItemRunsDespiteCancellation: a caller whose context ends while
// its item is queued still waits for, and gets, its item's result; run
// sees the leader's context values but not its cancellation.
func TestQueuedItemRunsDespiteCancellation(t *testing.T) {
	type key struct{}
	gate := make(chan struct{})
	var (
		mu   sync.Mutex
		seen []error // run's ctx.Err() per batch
		vals []any
	)
	b := New(8, 1, func(ctx context.Context, items []int) []error {
		mu.Lock()
		first := len(seen) == 0
		mu.Unlock()
		if first {
			<-gate
		}
		mu.Lock()
		seen = append(seen, ctx.Err())
		vals = append(vals, ctx.Value(key{}))
		mu.Unlock()
		errs := make([]error, len(items))
		for i, it := range items {
			errs[i] = fmt.Errorf("ran %d", it)
		}
		return errs
	})

	ctx0, cancel0 := context.WithCancel(context.WithValue(context.Background(), key{}, "leader"))
	first := make(chan error, 1)
	go func() { first <- b.Do(ctx0, 0) }()
	waitFor(t, "the first batch", func() bool { return b.inFlightNow() == 1 && b.Queued() == 0 })

	ctx1, cancel1 := context.WithCancel(context.WithValue(context.Background(), key{}, "second"))
	second := make(chan error, 1)
	go func() { second <- b.Do(ctx1, 1) }()
	waitFor(t, "the second item to queue", func() bool { return b.Queued() == 1 })

	cancel0()
	cancel1()
	select {
	case err := <-second:
		t.Fatalf("a cancelled caller returned before its item ran: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(gate)
	if err := <-first; err == nil || err.Error() != "ran 0" {
		t.Fatalf("item 0: got %v", err)
	}
	if err := <-second; err == nil || err.Error() != "ran 1" {
		t.Fatalf("item 1: got %v", err)
	}
	if fmt.Sprint(seen) != "[<nil> <nil>]" || fmt.Sprint(vals) != "[leader second]" {
		t.Fatalf("run saw ctx errors %v and values %v, want no errors and [leader second]", seen, vals)
	}
}

// TestPanickingRunReleasesEveryone: a batch whose run panics answers every
// caller in it with an error and frees its slot; the panic reaches the
// leader, and later batches run.
func TestPanickingRunReleasesEveryone(t *testing.T) {
	gate := make(chan struct{})
	var calls atomic.Int32
	b := New(8, 1, func(_ context.Context, items []int) []error {
		if calls.Add(1) == 1 {
			<-gate
			panic("boom")
		}
		return nil
	})
	leader := make(chan any, 1)
	go func() {
		defer func() { leader <- recover() }()
		_ = b.Do(context.Background(), 0)
	}()
	waitFor(t, "the first batch", func() bool { return calls.Load() == 1 })
	// Queue two behind it; neither is in the panicking batch.
	done := make(chan error, 2)
	for i := 1; i <= 2; i++ {
		go func() { done <- b.Do(context.Background(), i) }()
	}
	waitFor(t, "the queue to fill", func() bool { return b.Queued() == 2 })
	close(gate)
	if r := <-leader; r != "boom" {
		t.Fatalf("leader recovered %v, want the panic", r)
	}
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("a caller after the panic: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the batch after a panic never ran")
		}
	}

	// A panic in a batch of several answers every other caller of it.
	b2gate := make(chan struct{})
	var b2calls atomic.Int32
	b2 := New(8, 1, func(_ context.Context, items []int) []error {
		if b2calls.Add(1) == 1 {
			<-b2gate
			return nil
		}
		panic("boom")
	})
	go func() { _ = b2.Do(context.Background(), 0) }()
	waitFor(t, "the first batch", func() bool { return b2calls.Load() == 1 })
	errs := make(chan error, 3)
	panics := make(chan any, 3)
	for i := 1; i <= 3; i++ {
		go func() {
			defer func() {
				if r := recover(); r != nil {
					panics <- r
				}
			}()
			errs <- b2.Do(context.Background(), i)
		}()
	}
	waitFor(t, "the queue to fill", func() bool { return b2.Queued() == 3 })
	close(b2gate)
	if r := <-panics; r != "boom" {
		t.Fatalf("leader recovered %v, want the panic", r)
	}
	for range 2 {
		if err := <-errs; err == nil {
			t.Fatal("a caller of a panicked batch got no error")
		}
	}
	if b2.inFlightNow() != 0 {
		t.Fatal("a panicked batch kept its slot")
	}
}

func TestRunMustAnswerEveryItem(t *testing.T) {
	b := New(8, 1, func(_ context.Context, items []int) []error { return make([]error, len(items)+1) })
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("a wrong number of errors was accepted")
		}
	}()
	_ = b.Do(context.Background(), 1)
}

func TestLimitsBelowOneCountAsOne(t *testing.T) {
	b := New(0, -3, func(_ context.Context, items []int) []error { return nil })
	if b.maxBatch != 1 || b.inFlight != 1 {
		t.Fatalf("max batch %d, in flight %d, want 1 and 1", b.maxBatch, b.inFlight)
	}
}

// TestLingerFillsTheBatchUnderLoad: once a batch of several items has
// run, the next leader waits for the queue to reach the fill before it
// takes a batch, so items arriving one by one share one run.
func TestLingerFillsTheBatchUnderLoad(t *testing.T) {
	var (
		mu      sync.Mutex
		batches [][]int
	)
	b := New(64, 1, func(_ context.Context, items []int) []error {
		mu.Lock()
		batches = append(batches, slices.Clone(items))
		mu.Unlock()
		return nil
	}, WithLinger(10*time.Second, 4))

	// A lone caller runs at once: no batch of several has run yet.
	start := time.Now()
	if err := b.Do(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a lone caller waited %v", d)
	}
	// Two at once make the next batches count as under load...
	var wg sync.WaitGroup
	g := newGatedRun(nil)
	gated := New(64, 1, g.run, WithLinger(10*time.Second, 4))
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = gated.Do(t.Context(), i) }()
		if i == 0 {
			waitFor(t, "the first batch", func() bool { return g.started() == 1 })
		}
	}
	waitFor(t, "two items behind the first batch", func() bool { return gated.Queued() == 2 })
	close(g.gate)
	wg.Wait()
	// ...then items arriving one by one wait for each other up to the fill.
	for i := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = gated.Do(t.Context(), 10+i) }()
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	last := g.batches[len(g.batches)-1]
	if len(last) != 4 {
		t.Fatalf("batches %v: want the last four items in one batch", g.batches)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 1 || len(batches[0]) != 1 {
		t.Fatalf("lone caller's batches %v", batches)
	}
}

// TestLingerEndsAfterItsTime: a leader lingers no longer than its time
// when the queue stays short of the fill.
func TestLingerEndsAfterItsTime(t *testing.T) {
	g := newGatedRun(nil)
	b := New(64, 1, g.run, WithLinger(50*time.Millisecond, 100))
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = b.Do(t.Context(), i) }()
		waitFor(t, "the item queued", func() bool { return g.started() == 1 && b.Queued() == i })
	}
	close(g.gate)
	wg.Wait()
	start := time.Now()
	if err := b.Do(t.Context(), 9); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Fatalf("a leader under load lingered %v, want its 50ms", d)
	}
}

// TestBurstStartsFullBatchesBeyondTheInFlightLimit: with every slot taken,
// a queue that reaches the burst fill leaves as one more batch, up to the
// burst's in-flight limit; a shorter queue waits for a slot.
func TestBurstStartsFullBatchesBeyondTheInFlightLimit(t *testing.T) {
	gate := make(chan struct{})
	var (
		mu      sync.Mutex
		batches [][]int
	)
	b := New(64, 1, func(_ context.Context, items []int) []error {
		mu.Lock()
		batches = append(batches, slices.Clone(items))
		mu.Unlock()
		<-gate
		return nil
	}, WithBurst(3, 4))
	started := func() (n, items int) {
		mu.Lock()
		defer mu.Unlock()
		for _, batch := range batches {
			items += len(batch)
		}
		return len(batches), items
	}
	var wg sync.WaitGroup
	for i := range 13 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Do(t.Context(), i); err != nil {
				t.Errorf("item %d: %v", i, err)
			}
		}()
		waitFor(t, fmt.Sprintf("item %d queued or started", i), func() bool {
			_, items := started()
			return items+b.Queued() == i+1
		})
		// The first item runs at once, alone; every fourth one after it
		// fills a batch that leaves beyond the in-flight limit of 1, up to
		// the burst's 3.
		want := 1 + min(i/4, 2)
		if n, _ := started(); n != want {
			t.Fatalf("after item %d: %d batches started, want %d", i, n, want)
		}
	}
	if q := b.Queued(); q != 4 {
		t.Fatalf("%d items queued behind the burst limit, want 4", q)
	}
	close(gate)
	wg.Wait()
	want := "[[0] [1 2 3 4] [5 6 7 8] [9 10 11 12]]"
	if got := fmt.Sprint(batches); got != want {
		t.Fatalf("batches %s, want %s", got, want)
	}
}

// BenchmarkBatcher is the cost of a group commit per item: 64 callers
// whose batches each take 100µs, one or two at once.
func BenchmarkBatcher(b *testing.B) {
	for _, inFlight := range []int{1, 2} {
		b.Run(fmt.Sprintf("in flight %d", inFlight), func(b *testing.B) {
			const callers = 64
			bt := New(64, inFlight, func(_ context.Context, items []int) []error {
				time.Sleep(100 * time.Microsecond)
				return nil
			})
			b.ReportAllocs()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						_ = bt.Do(context.Background(), 1)
					}
				})
			}
			wg.Wait()
		})
	}
}
