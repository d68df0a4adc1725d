package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

func (b *bench) addCheck(name string, ok bool, format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Invariants = append(b.rep.Invariants, load.Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// saleChecks reads the sale's reconciliation after its queue drained and
// adds its invariants under the label.
func (b *bench) saleChecks(ctx context.Context, label string, saleID, remainingAtStart int64, before load.Reconcile,
	counts load.Counts, want load.Outcome) {
	after, drained, err := b.client.WaitDrained(ctx, saleID, b.o.drainTimeout, 100*time.Millisecond)
	facts := load.Facts{RemainingAtStart: remainingAtStart, Before: before, Counts: counts, After: after, AfterErr: err, Drained: drained}
	for _, c := range load.Checks(facts) {
		b.addCheck(label+": "+c.Name, c.OK, "%s", c.Detail)
	}
	var unexpected int64
	switch want {
	case load.Accepted:
		unexpected = counts.Total() - counts.Accepted
	case load.SoldOut:
		unexpected = counts.Total() - counts.SoldOut - counts.Accepted // the buy-out's 202s are expected
	}
	b.addCheck(label+": every reply as expected", unexpected == 0, "%d unexpected: %s", unexpected, countsDetail(counts))
}

// countsDetail lists the non-zero counts, e.g. "202 ×100, 409 sold_out ×3".
func countsDetail(c load.Counts) string {
	var parts []string
	for _, x := range []struct {
		name string
		n    int64
	}{
		{"202", c.Accepted}, {"409 sold_out", c.SoldOut}, {"409 already_purchased", c.AlreadyPurchased},
		{"429", c.RateLimited}, {"other 4xx", c.OtherClient}, {"5xx", c.ServerError},
		{"transport error", c.TransportError}, {"other status", c.OtherStatus},
	} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", x.name, x.n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// drainChecks adds the worker-alone invariants: every order persisted
// exactly once, sales.sold raised by as many, the persist queues emptied
// and nothing dead-lettered.
func (b *bench) drainChecks(ctx context.Context, d *drainResult, rows rowWait, queues []string, deadQueue string, deadBefore int) {
	sold, err := b.salesSold(ctx, d.SaleIDs)
	b.addCheck("worker alone: every published order persisted exactly once", rows.Done && rows.Count == d.Orders,
		"%s rows of %s orders published after %s", fmtInt(float64(rows.Count)), fmtInt(float64(d.Orders)),
		fmtSeconds(rows.Last.Seconds()))
	b.addCheck("worker alone: sold raised by every order", err == nil && sold == d.Orders,
		"sales.sold %d, %d orders%s", sold, d.Orders, errSuffix(err))
	ready, dead, err := b.settledQueues(ctx, queues, deadQueue)
	b.addCheck("worker alone: persist queue empty afterwards", err == nil && ready == 0,
		"%d messages ready in %s%s", ready, strings.Join(queues, ", "), errSuffix(err))
	b.addCheck("worker alone: nothing dead-lettered", err == nil && dead == deadBefore,
		"%d messages in %s, %d before%s", dead, deadQueue, deadBefore, errSuffix(err))
}

// salesSold reads the sales' sales.sold, summed.
func (b *bench) salesSold(ctx context.Context, saleIDs []int64) (int64, error) {
	oc, err := openOrderCounter(b.o.mysqlServer, b.o.mysqlDB)
	if err != nil {
		return 0, err
	}
	defer oc.close()
	var total int64
	for _, id := range saleIDs {
		n, err := oc.sold(ctx, id)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// queueSettle is how long the persist queues may take to show empty.
const queueSettle = 5 * time.Second

// settledQueues reads the ready messages of the persist queues, summed,
// and of the dead-letter queue, polling up to queueSettle for the persist
// queues to show empty.
func (b *bench) settledQueues(ctx context.Context, queues []string, deadQueue string) (ready, dead int, err error) {
	deadline := time.Now().Add(queueSettle)
	for {
		ready, dead, err = b.queueDepths(queues, deadQueue)
		if err != nil {
			return 0, 0, err
		}
		if ready == 0 || time.Now().After(deadline) {
			return ready, dead, nil
		}
		select {
		case <-ctx.Done():
			return ready, dead, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errSuffix is "; err" for an error, "" for none.
func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return "; " + err.Error()
}

// queueDepths reads the messages ready in queues, summed, and in
// deadQueue.
func (b *bench) queueDepths(queues []string, deadQueue string) (ready, dead int, err error) {
	n, err := scratch.QueuesReady(b.o.amqpURL, append(slices.Clone(queues), deadQueue)...)
	if err != nil {
		return 0, 0, err
	}
	return sum(n[:len(queues)]), n[len(queues)], nil
}
