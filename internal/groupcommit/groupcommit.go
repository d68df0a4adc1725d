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

// Batcher runs items in batches. A caller queues its item; the first caller
// in the queue waits for one of the in-flight slots and then runs the whole
// queue (up to the batch limit) as one batch, handing the lead to whoever
// queued next. With a free slot an item runs at once; under load the queue
// fills while the slots are busy, so run is called once per batch instead
// of once per item.
//
// A Batcher has no goroutine of its own: batches run on the goroutines of
// the callers that lead them. It is safe for concurrent use.
type Batcher[T any] struct {
	run      func(ctx context.Context, items []T) []error
	slots    chan struct{}
	maxBatch int

	// linger and fill: see WithLinger.
	linger time.Duration
	fill   int

	mu      sync.Mutex
	queue   []*waiter[T]
	leading bool          // a caller is leading: the queue has, or is about to get, a leader
	grown   chan struct{} // closed once the queue reaches fill, while a leader lingers
	last    int           // items in the batch taken last
}

// Option configures a Batcher.
type Option func(*options)

type options struct {
	linger time.Duration
	fill   int
}

// WithLinger makes a leader that holds a slot wait up to d for the queue
// to reach fill items before it takes the batch, as long as the batch
// before it carried more than one item (so a lone caller is never kept
// waiting). Under load this trades up to d of latency for fuller, fewer
// batches: worth it when each run has a high fixed cost. fill is capped
// at the batch limit; d <= 0 turns lingering off (the default).
func WithLinger(d time.Duration, fill int) Option {
	return func(o *options) { o.linger, o.fill = d, fill }
}

// waiter is one queued item and the channel its caller waits on.
type waiter[T any] struct {
	item T
	done chan signal
}

// signal is what a waiting caller receives: the lead of the next batch, or
// its item's result.
type signal struct {
	lead bool
	err  error
}

// New returns a Batcher that calls run with at most maxBatch items per
// batch and at most maxInFlight batches at once; a limit below 1 counts as
// 1. With maxInFlight 1 the batches run one after another.
//
// run gets the items of one batch in the order they were queued and
// returns one error per item, in the same order, or nil when every item
// succeeded. Its context is the leading caller's, without its cancellation:
// a batch speaks for every caller in it, so it runs to its end.
func New[T any](maxBatch, maxInFlight int, run func(ctx context.Context, items []T) []error, opts ...Option) *Batcher[T] {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	b := &Batcher[T]{run: run, slots: make(chan struct{}, max(1, maxInFlight)), maxBatch: max(1, maxBatch)}
	if o.linger > 0 && o.fill > 1 {
		b.linger, b.fill = o.linger, min(o.fill, b.maxBatch)
	}
	return b
}

// Do queues item and returns its result once the batch that carried it has
// run. Once queued, an item runs even if ctx ends: its caller cannot know
// whether it has already run, so Do waits for the answer.
func (b *Batcher[T]) Do(ctx context.Context, item T) error {
	w := &waiter[T]{item: item, done: make(chan signal, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	lead := !b.leading
	b.leading = true
	if b.grown != nil && len(b.queue) >= b.fill {
		close(b.grown)
		b.grown = nil
	}
	b.mu.Unlock()
	for {
		if lead {
			b.lead(ctx)
		}
		s := <-w.done
		if !s.lead {
			return s.err
		}
		lead = true
	}
}

// Queued returns the number of items waiting for a batch to take them.
func (b *Batcher[T]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// lead waits for a slot, takes the head of the queue as one batch, passes
// the lead on, runs the batch, and tells every caller in it its result.
// The leader is at the head of the queue, so its own item is in the batch.
func (b *Batcher[T]) lead(ctx context.Context) {
	b.slots <- struct{}{}
	b.mu.Lock()
	if b.linger > 0 && b.last > 1 && len(b.queue) < b.fill {
		b.lingerLocked()
	}
	n := min(len(b.queue), b.maxBatch)
	b.last = n
	batch := make([]*waiter[T], n)
	copy(batch, b.queue)
	b.queue = append(b.queue[:0:0], b.queue[n:]...)
	if len(b.queue) > 0 {
		b.queue[0].done <- signal{lead: true}
	} else {
		b.leading = false
	}
	b.mu.Unlock()

	items := make([]T, n)
	for i, w := range batch {
		items[i] = w.item
	}
	errs := b.call(context.WithoutCancel(ctx), items, batch)
	<-b.slots
	for i, w := range batch {
		var err error
		if errs != nil {
			err = errs[i]
		}
		w.done <- signal{err: err}
	}
}

// lingerLocked waits, with b.mu held on entry and on return, until the
// queue reaches fill items or the linger time has passed.
func (b *Batcher[T]) lingerLocked() {
	grown := make(chan struct{})
	b.grown = grown
	b.mu.Unlock()
	t := time.NewTimer(b.linger)
	select {
	case <-grown:
	case <-t.C:
	}
	t.Stop()
	b.mu.Lock()
	if b.grown == grown {
		b.grown = nil
	}
}

// call runs one batch. Should run panic, every caller of the batch gets an
// error and the slot is freed before the panic goes on up the leader's
// stack, so that the other callers and later batches are not left waiting.
func (b *Batcher[T]) call(ctx context.Context, items []T, batch []*waiter[T]) []error {
	finished := false
	defer func() {
		if finished {
			return
		}
		<-b.slots
		err := fmt.Errorf("groupcommit: the batch of %d items panicked", len(batch))
		for _, w := range batch {
			w.done <- signal{err: err}
		}
	}()
	errs := b.run(ctx, items)
	if errs != nil && len(errs) != len(items) {
		panic(fmt.Sprintf("groupcommit: run returned %d errors for %d items", len(errs), len(items)))
	}
	finished = true
	return errs
}
