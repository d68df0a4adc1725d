// Package groupcommit holds Batcher, a group commit: callers that submit
// items at the same time share one call of a run function over all of
// them, and each gets its own item's result back.
//
// It is plumbing that knows nothing of the service: it imports only the
// standard library and nothing of the project.
package groupcommit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Batcher runs items in batches. Callers queue their items; whenever a
// batch may start (an in-flight slot is free), the head of the queue, up to
// the batch limit, leaves as one batch, run by one of its callers. With a
// free slot an item runs at once; under load the queue fills while the
// slots are busy, so run is called once per batch instead of once per
// item.
//
// A Batcher has no goroutine of its own: batches run on the goroutines of
// callers in them. A caller whose item starts a batch runs it itself; a
// batch started when a slot frees is handed to its first caller, the only
// one woken before its result. It is safe for concurrent use.
type Batcher[T any] struct {
	run      func(ctx context.Context, items []T) []error
	maxBatch int
	inFlight int

	// linger and fill: see WithLinger; 0 and 1 without it.
	linger time.Duration
	fill   int
	// burst and burstFill: see WithBurst; inFlight and 0 without it.
	burst     int
	burstFill int

	// waiters holds waiters whose Do has returned, for later calls to reuse
	// with their channel: each Do receives at most one signal, so a waiter
	// is drained when its Do returns.
	waiters sync.Pool

	mu      sync.Mutex
	queue   []*waiter[T]
	running int // batches started and not yet finished
	last    int // items in the batch started last
	// The linger of the queue's head: timer calls lingerFired, which ends
	// it once lingerUntil has come.
	timer       *time.Timer
	lingerUntil time.Time
	lingering   bool // the timer is set for the head of the queue
	lingered    bool // the head of the queue has lingered its time
}

// Option configures a Batcher.
type Option func(*options)

type options struct {
	linger    time.Duration
	fill      int
	burst     int
	burstFill int
}

// WithLinger makes a batch that could start wait up to d for the queue to
// reach fill items, as long as the batch before it carried more than one
// item (so a lone caller is never kept waiting). Under load this trades up
// to d of latency for fuller, fewer batches: worth it when each run has a
// high fixed cost. fill is capped at the batch limit; d <= 0 turns
// lingering off (the default).
func WithLinger(d time.Duration, fill int) Option {
	return func(o *options) { o.linger, o.fill = d, fill }
}

// WithBurst lets a batch of at least fill items start even when every
// in-flight slot is taken, as long as fewer than maxInFlight batches run.
// Under load the batches in flight grow from the Batcher's in-flight limit
// up to maxInFlight, each carrying at least fill items, so the wait for a
// slot does not grow with the load; when the load falls, no batch short of
// fill starts beyond the in-flight limit, and the window shrinks back.
// maxInFlight at or below the in-flight limit, or fill below 1, turns it
// off (the default). fill is capped at the batch limit.
func WithBurst(maxInFlight, fill int) Option {
	return func(o *options) { o.burst, o.burstFill = maxInFlight, fill }
}

// waiter is one queued item and the channel its caller waits on.
type waiter[T any] struct {
	item T
	done chan signal[T]
}

// signal is what a waiting caller receives: a batch to run (it is the
// batch's first item), or its item's result.
type signal[T any] struct {
	batch []*waiter[T]
	err   error
}

// New returns a Batcher that calls run with at most maxBatch items per
// batch and at most maxInFlight batches at once; a limit below 1 counts as
// 1. With maxInFlight 1 the batches run one after another.
//
// run gets the items of one batch in the order they were queued and
// returns one error per item, in the same order, or nil when every item
// succeeded. Its context is that of the caller running the batch, without
// its cancellation: a batch speaks for every caller in it, so it runs to
// its end.
func New[T any](maxBatch, maxInFlight int, run func(ctx context.Context, items []T) []error, opts ...Option) *Batcher[T] {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	b := &Batcher[T]{run: run, maxBatch: max(1, maxBatch), inFlight: max(1, maxInFlight), fill: 1}
	b.burst = b.inFlight
	if o.linger > 0 && o.fill > 1 {
		b.linger, b.fill = o.linger, min(o.fill, b.maxBatch)
	}
	if o.burst > b.inFlight && o.burstFill >= 1 {
		b.burst, b.burstFill = o.burst, min(o.burstFill, b.maxBatch)
	}
	return b
}

// Do queues item and returns its result once the batch that carried it has
// run. Once queued, an item runs even if ctx ends: its caller cannot know
// whether it has already run, so Do waits for the answer.
func (b *Batcher[T]) Do(ctx context.Context, item T) error {
	w, _ := b.waiters.Get().(*waiter[T])
	if w == nil {
		w = &waiter[T]{done: make(chan signal[T], 1)}
	}
	w.item = item
	defer b.release(w)
	b.mu.Lock()
	b.queue = append(b.queue, w)
	batch := b.startLocked(w)
	b.mu.Unlock()
	if batch == nil {
		s := <-w.done
		if s.batch == nil {
			return s.err
		}
		batch = s.batch
	}
	return b.runBatch(ctx, w, batch)
}

// release returns the waiter of a Do that is returning to the pool. No
// one holds it any more: it has left the queue, and whoever signalled it
// (the one signal its Do receives) does not touch it after sending.
func (b *Batcher[T]) release(w *waiter[T]) {
	var zero T
	w.item = zero
	b.waiters.Put(w)
}

// Queued returns the number of items waiting for a batch to take them.
func (b *Batcher[T]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// startLocked starts every batch that may start now, with b.mu held. A
// batch that holds self (the calling Do's waiter) is returned for the
// caller to run; every other one is handed to its first waiter.
func (b *Batcher[T]) startLocked(self *waiter[T]) (mine []*waiter[T]) {
	for len(b.queue) > 0 && b.mayStartLocked() {
		n := min(len(b.queue), b.maxBatch)
		batch := make([]*waiter[T], n)
		copy(batch, b.queue)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.running++
		b.last = n
		b.endLingerLocked()
		if batch[n-1] == self {
			mine = batch
			continue
		}
		batch[0].done <- signal[T]{batch: batch}
	}
	return mine
}

// mayStartLocked reports whether the head of the (non-empty) queue may
// leave as a batch now, and sets the linger timer when it is to wait for
// the queue to fill.
func (b *Batcher[T]) mayStartLocked() bool {
	queued := len(b.queue)
	if b.running >= b.inFlight {
		return b.running < b.burst && queued >= b.burstFill
	}
	if b.linger <= 0 || b.last <= 1 || queued >= b.fill || b.lingered {
		return true
	}
	if !b.lingering {
		b.lingering = true
		b.lingerUntil = time.Now().Add(b.linger)
		if b.timer == nil {
			b.timer = time.AfterFunc(b.linger, b.lingerFired)
		} else {
			b.timer.Reset(b.linger)
		}
	}
	return false
}

// endLingerLocked forgets the linger of the queue's head, which has just
// left as a batch.
func (b *Batcher[T]) endLingerLocked() {
	if b.lingering {
		b.timer.Stop()
	}
	b.lingering, b.lingered = false, false
}

// lingerFired ends the linger of the queue's head once its time has come
// (a call left over from an earlier linger finds it has not) and starts
// what may start.
func (b *Batcher[T]) lingerFired() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.lingering || time.Now().Before(b.lingerUntil) {
		return
	}
	b.lingering, b.lingered = false, true
	b.startLocked(nil)
}

// runBatch runs batch, of which self is the first or the caller's own
// item, frees its slot (starting what may start then), tells every other
// caller in it its result, and returns self's.
func (b *Batcher[T]) runBatch(ctx context.Context, self *waiter[T], batch []*waiter[T]) error {
	items := make([]T, len(batch))
	for i, w := range batch {
		items[i] = w.item
	}
	errs := b.call(context.WithoutCancel(ctx), self, items, batch)
	b.finish()
	var own error
	for i, w := range batch {
		var err error
		if errs != nil {
			err = errs[i]
		}
		if w == self {
			own = err
			continue
		}
		w.done <- signal[T]{err: err}
	}
	return own
}

// finish frees a batch's slot and starts what may start then.
func (b *Batcher[T]) finish() {
	b.mu.Lock()
	b.running--
	b.startLocked(nil)
	b.mu.Unlock()
}

// call runs one batch. Should run panic, its slot is freed and every other
// caller of the batch gets an error before the panic goes on up the
// running caller's stack, so that the other callers and later batches are
// not left waiting.
func (b *Batcher[T]) call(ctx context.Context, self *waiter[T], items []T, batch []*waiter[T]) []error {
	finished := false
	defer func() {
		if finished {
			return
		}
		b.finish()
		err := fmt.Errorf("groupcommit: the batch of %d items panicked", len(batch))
		for _, w := range batch {
			if w != self {
				w.done <- signal[T]{err: err}
			}
		}
	}()
	errs := b.run(ctx, items)
	if errs != nil && len(errs) != len(items) {
		panic(fmt.Sprintf("groupcommit: run returned %d errors for %d items", len(errs), len(items)))
	}
	finished = true
	return errs
}
