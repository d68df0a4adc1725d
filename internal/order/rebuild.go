package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// ErrRebuildPending: a sale's lost stock cannot be rebuilt yet, because
// orders published before the loss may still be in the queue; the rebuild
// finishes on its own once the worker has written them.
var ErrRebuildPending = errors.New("stock rebuild pending")

// Rebuild is one rebuild of a sale's lost stock, as recorded in MySQL.
// Zero times are steps not reached yet.
type Rebuild struct {
	ID          int64
	SaleID      int64
	FenceID     string
	RequestedAt time.Time
	FenceSentAt time.Time
	PassedAt    time.Time
	DoneAt      time.Time
}

// Rebuilds records stock rebuilds and their fences.
type Rebuilds interface {
	// OpenRebuild returns the sale's oldest rebuild not done, or records a
	// new one under fenceID at now. Two callers racing may both record
	// one: rebuilds are idempotent, so that is harmless.
	OpenRebuild(ctx context.Context, saleID int64, fenceID string, now time.Time) (Rebuild, error)
	// FenceSent records that the rebuild's fence is in the queue, sent
	// (last) at now; a rebuild whose fence passed is left as it is.
	FenceSent(ctx context.Context, id int64, now time.Time) error
	// RebuildByID reads one rebuild.
	RebuildByID(ctx context.Context, id int64) (Rebuild, error)
	// FinishRebuild records the rebuild done.
	FinishRebuild(ctx context.Context, id int64, now time.Time) error
	// OpenRebuilds lists the rebuilds not done.
	OpenRebuilds(ctx context.Context) ([]Rebuild, error)
}

// Fencer sends a fence through the order queue, behind every order
// published before it; nil once the broker has confirmed it.
type Fencer interface {
	PublishFence(ctx context.Context, f Fence) error
}

// HeldOrders lists the orders of a sale that dead letters hold: not in
// MySQL, their units still taken until an operator replays or discards
// them.
type HeldOrders interface {
	SaleDeadOrders(ctx context.Context, saleID int64) ([]Order, error)
}

// WithRebuilds makes lost stock rebuild through fences: r records them,
// f sends them, held names the orders dead letters still hold, and quiet is
// how long after a rebuild is requested its fence goes out: by then every
// publish started before the loss must have reached the queue or failed.
// With a publish deadline (WithPublishDeadline) the quiet time is at least
// that deadline and a second, whatever quiet says.
func WithRebuilds(r Rebuilds, f Fencer, held HeldOrders, quiet time.Duration) Option {
	return func(c *config) {
		c.rebuilds, c.fencer, c.held, c.rebuildQuiet = r, f, held, quiet
	}
}

// stockWarmer loads sales into the stock backend from MySQL: a new sale,
// the merge of a warm-up, and the fenced rebuild of a sale whose stock was
// lost. The catalog (CreateSale, Warmup) and the settler (a lost sale, a
// failover's lost reservations) share one: there is one way to load
// stock, whoever asks for it.
type stockWarmer struct {
	stock interface {
		Warm(ctx context.Context, s StockSale) error
	}
	repo interface {
		Sale(ctx context.Context, id int64) (Sale, error)
		SaleOrders(ctx context.Context, saleID int64) ([]Order, error)
	}
	// held, rebuilds and fencer are WithRebuilds'; without rebuilds or
	// fencer a lost sale is warmed from MySQL and the backend alone.
	held     HeldOrders
	rebuilds Rebuilds
	fencer   Fencer
	// quiet is how long after a rebuild is requested its fence goes out.
	quiet time.Duration
	flags *soldOutFlags
	log   *slog.Logger
	now   func() time.Time
}

// warm loads the sale's persisted orders into the stock backend. rebuild
// says every order outside the backend is accounted for (a new sale, or a
// fence that passed): the orders dead letters hold are then counted as
// taken, and a sale that is not loaded may be loaded.
func (w *stockWarmer) warm(ctx context.Context, sale Sale, rebuild bool) error {
	orders, err := w.repo.SaleOrders(ctx, sale.ID)
	if err != nil {
		return fmt.Errorf("%w: warm sale %d: %w", ErrUnavailable, sale.ID, err)
	}
	if rebuild && w.held != nil {
		held, err := w.held.SaleDeadOrders(ctx, sale.ID)
		if err != nil {
			return fmt.Errorf("%w: warm sale %d: %w", ErrUnavailable, sale.ID, err)
		}
		for _, o := range held {
			o.Status = StatusCreated
			orders = append(orders, o)
		}
	}
	err = w.stock.Warm(ctx, StockSale{
		ID: sale.ID, TotalStock: sale.TotalStock,
		StartsAt: sale.StartsAt, EndsAt: sale.EndsAt, Persisted: orders, Rebuild: rebuild,
	})
	if err != nil {
		return fmt.Errorf("warm sale %d: %w", sale.ID, err)
	}
	w.flags.available(ctx, sale.ID, true)
	return nil
}

// rebuildPoll is how often a waiting rebuild looks at its fence.
const rebuildPoll = 100 * time.Millisecond

// fenceResendAfter is how long a fence may go without passing before it
// is sent again.
const fenceResendAfter = time.Minute

// rebuild brings a sale whose stock the backend lost back, exactly. Every
// order reserved before the loss is, by then, in MySQL, in the queue (or a
// worker's hands), or in a publish still waiting for its confirm. So the
// rebuild waits the quiet time (the publishes land), sends a fence through
// the queue, and waits for the worker to record it as passed: everything
// queued before it is then in MySQL or in the dead letters. Only then is
// the stock warmed from MySQL, with the orders dead letters hold counted
// as taken. It waits at most wait (0: one step, no waiting) and returns
// ErrRebuildPending if the fence has not passed by then; the settler moves
// it on. It reports whether it started or finished a rebuild.
func (w *stockWarmer) rebuild(ctx context.Context, sale Sale, wait time.Duration) (bool, error) {
	if w.rebuilds == nil || w.fencer == nil {
		// No fences: warm from what MySQL and the backend hold.
		return true, w.warm(ctx, sale, true)
	}
	fenceID, err := uuid.NewV7()
	if err != nil {
		return false, fmt.Errorf("rebuild sale %d: %w", sale.ID, err)
	}
	rb, err := w.rebuilds.OpenRebuild(ctx, sale.ID, fenceID.String(), w.now())
	if err != nil {
		return false, fmt.Errorf("%w: rebuild sale %d: %w", ErrUnavailable, sale.ID, err)
	}
	started := rb.FenceID == fenceID.String()
	if started {
		w.log.WarnContext(ctx, "stock of a sale is lost; rebuilding it behind a fence through the order queue",
			"sale_id", sale.ID, "rebuild", rb.ID, "fence_in", w.quiet)
	}
	done, err := w.stepRebuild(ctx, sale, rb, w.now().Add(wait))
	return started || done, err
}

// stepRebuild moves rb on until it is done or deadline passes.
func (w *stockWarmer) stepRebuild(ctx context.Context, sale Sale, rb Rebuild, deadline time.Time) (bool, error) {
	for {
		now := w.now()
		switch {
		case rb.FenceSentAt.IsZero() && !now.Before(rb.RequestedAt.Add(w.quiet)):
			err := w.fencer.PublishFence(ctx, Fence{ID: rb.FenceID, SaleID: sale.ID})
			if err == nil {
				err = w.rebuilds.FenceSent(ctx, rb.ID, now)
			}
			if err != nil {
				return false, fmt.Errorf("%w: rebuild sale %d: send fence: %w", ErrUnavailable, sale.ID, err)
			}
			rb.FenceSentAt = now
			continue
		case !rb.FenceSentAt.IsZero() && rb.PassedAt.IsZero() && !now.Before(rb.FenceSentAt.Add(fenceResendAfter)):
			// Long sent and not passed: the broker may have dead-lettered
			// it (a worker failed on it past the delivery limit) or it was
			// lost, and nothing else would ever pass it. It goes again
			// under the same id: everything queued before the first copy
			// is before this one too, and passing is idempotent. A worker
			// that is only behind passes both copies.
			err := w.fencer.PublishFence(ctx, Fence{ID: rb.FenceID, SaleID: sale.ID})
			if err == nil {
				err = w.rebuilds.FenceSent(ctx, rb.ID, now)
			}
			if err != nil {
				return false, fmt.Errorf("%w: rebuild sale %d: send fence again: %w", ErrUnavailable, sale.ID, err)
			}
			w.log.WarnContext(ctx, "a rebuild's fence did not pass; sent again", "sale_id", sale.ID, "rebuild", rb.ID,
				"fence_id", rb.FenceID, "sent", rb.FenceSentAt)
			rb.FenceSentAt = now
			continue
		case !rb.PassedAt.IsZero():
			if err := w.warm(ctx, sale, true); err != nil {
				return false, err
			}
			if err := w.rebuilds.FinishRebuild(ctx, rb.ID, now); err != nil {
				return false, fmt.Errorf("%w: rebuild sale %d: %w", ErrUnavailable, sale.ID, err)
			}
			w.log.InfoContext(ctx, "stock of a sale rebuilt behind its fence", "sale_id", sale.ID, "rebuild", rb.ID,
				"took", now.Sub(rb.RequestedAt).Round(time.Millisecond))
			return true, nil
		}
		if !now.Before(deadline) {
			return false, ErrRebuildPending
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("%w: rebuild sale %d: %w", ErrUnavailable, sale.ID, ctx.Err())
		case <-time.After(min(rebuildPoll, deadline.Sub(now))):
		}
		next, err := w.rebuilds.RebuildByID(ctx, rb.ID)
		if err != nil {
			return false, fmt.Errorf("%w: rebuild sale %d: %w", ErrUnavailable, sale.ID, err)
		}
		rb = next
	}
}

// advance moves on every rebuild not done, one step each, and returns how
// many it finished.
func (w *stockWarmer) advance(ctx context.Context, now time.Time) (int, error) {
	finished := 0
	if w.rebuilds == nil || w.fencer == nil {
		return finished, nil
	}
	open, err := w.rebuilds.OpenRebuilds(ctx)
	if err != nil {
		return finished, fmt.Errorf("settle: open rebuilds: %w", err)
	}
	var firstErr error
	for _, rb := range open {
		sale, err := w.repo.Sale(ctx, rb.SaleID)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		done, err := w.stepRebuild(ctx, sale, rb, now)
		if done {
			finished++
		}
		if err != nil && !errors.Is(err, ErrRebuildPending) && firstErr == nil {
			firstErr = err
		}
	}
	return finished, firstErr
}
