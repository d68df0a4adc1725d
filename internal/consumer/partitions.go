package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// Membership tells which workers are alive (package mq's Members is one).
type Membership interface {
	// Self is this worker's id; Live is every live worker's, Self
	// included, sorted the same way on every worker.
	Self() string
	Live() []string
}

// OpenPartition returns a Source of persist partition k and the function
// that closes it (which hands back to the broker whatever it holds).
type OpenPartition func(ctx context.Context, k int) (src order.Source, closeSrc func() error, err error)

// Partitions shares the persist partitions among the live workers: the
// worker of rank r among n live ones holds the partitions k with
// k mod n = r, and runs one Loop for each. It rebalances every interval:
// a partition it no longer should hold is released (its batch committed
// and acked, then its source closed); one it should hold is opened. A
// partition's queue has a single active consumer, so while two workers
// disagree for an interval, one of them only stands by: the partition stays
// in order, and a dead worker's partitions are taken over once the others
// stop hearing from it.
type Partitions struct {
	n       int
	members Membership
	open    OpenPartition
	newLoop func(src order.Source) *Loop
	every   time.Duration
	log     *slog.Logger
	// onHeld, when set, hears the number of partitions held after each
	// rebalance (a metric).
	onHeld func(n int)

	mu   sync.Mutex
	held []int
}

// OnHeld calls f with the number of partitions held after every rebalance.
func (p *Partitions) OnHeld(f func(n int)) { p.onHeld = f }

// NewPartitions shares n partitions; newLoop builds the Loop of one
// partition's Source.
func NewPartitions(n int, members Membership, open OpenPartition, newLoop func(order.Source) *Loop, every time.Duration, log *slog.Logger) *Partitions {
	return &Partitions{n: n, members: members, open: open, newLoop: newLoop, every: every, log: log.With("component", "partitions")}
}

// Held returns the partitions this worker consumes now, in order.
func (p *Partitions) Held() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.held)
}

// Assigned returns the partitions the worker self should hold among live.
func Assigned(n int, self string, live []string) []int {
	rank := slices.Index(live, self)
	if rank < 0 || len(live) == 0 {
		return nil
	}
	var out []int
	for k := rank; k < n; k += len(live) {
		out = append(out, k)
	}
	return out
}

// heldPartition is one partition this worker consumes.
type heldPartition struct {
	cancel   context.CancelFunc
	ended    chan error // Run's result, once
	closeSrc func() error
}

// Run rebalances every interval until ctx ends, then releases every
// partition it holds and returns the errors of their loops.
func (p *Partitions) Run(ctx context.Context) error {
	held := map[int]*heldPartition{}
	defer func() {
		p.mu.Lock()
		p.held = nil
		p.mu.Unlock()
		if p.onHeld != nil {
			p.onHeld(0)
		}
	}()
	// Hear the others for a moment first: a worker that started alone
	// would take every partition only to give most of them back.
	select {
	case <-time.After(p.every):
	case <-ctx.Done():
	}
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	var errs []error
	for ctx.Err() == nil {
		p.rebalance(ctx, held)
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	for k := range held {
		if err := p.release(k, held[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Partitions) rebalance(ctx context.Context, held map[int]*heldPartition) {
	live := p.members.Live()
	want := Assigned(p.n, p.members.Self(), live)
	for k, h := range held {
		select {
		case err := <-h.ended:
			// The loop stopped on its own (its source gave up): close and
			// open the partition afresh below if it is still ours.
			p.log.Error("partition loop ended; reopening", "partition", k, "err", err)
			p.closeSource(k, h)
			delete(held, k)
			continue
		default:
		}
		if !slices.Contains(want, k) {
			if err := p.release(k, h); err != nil {
				p.log.Error("partition released with an error", "partition", k, "err", err)
			}
			delete(held, k)
		}
	}
	for _, k := range want {
		if _, ok := held[k]; ok {
			continue
		}
		h, err := p.take(ctx, k)
		if err != nil {
			p.log.Warn("partition not opened; next rebalance tries again", "partition", k, "err", err)
			continue
		}
		held[k] = h
	}
	keys := make([]int, 0, len(held))
	for k := range held {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p.mu.Lock()
	changed := !slices.Equal(p.held, keys)
	p.held = keys
	p.mu.Unlock()
	if changed {
		p.log.Info("persist partitions held", "partitions", keys, "workers", len(live))
	}
	if p.onHeld != nil {
		p.onHeld(len(keys))
	}
}

// take opens partition k and starts its loop.
func (p *Partitions) take(ctx context.Context, k int) (*heldPartition, error) {
	src, closeSrc, err := p.open(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("open partition %d: %w", k, err)
	}
	lctx, cancel := context.WithCancel(ctx)
	h := &heldPartition{cancel: cancel, ended: make(chan error, 1), closeSrc: closeSrc}
	loop := p.newLoop(src)
	go func() { h.ended <- loop.Run(lctx) }()
	return h, nil
}

// release stops partition k's loop (its batch committed and acked before
// its source stops) and closes the source, which hands back to the broker
// whatever it still held: only then may another worker's consumer become
// the partition's active one.
func (p *Partitions) release(k int, h *heldPartition) error {
	h.cancel()
	err := <-h.ended
	p.closeSource(k, h)
	if err != nil {
		return fmt.Errorf("partition %d: %w", k, err)
	}
	return nil
}

func (p *Partitions) closeSource(k int, h *heldPartition) {
	h.cancel()
	if err := h.closeSrc(); err != nil {
		p.log.Warn("close partition source", "partition", k, "err", err)
	}
}
