package load

import (
	"context"
	"fmt"
	"time"
)

// WaitDrained polls the sale's reconciliation every interval until no
// reservation is in flight (reserved_in_flight = 0) or timeout passes. It
// returns the last reconciliation read and whether the sale drained. An
// error means no reconciliation could be read at all, or ctx ended.
func (c *Client) WaitDrained(ctx context.Context, saleID int64, timeout, interval time.Duration) (Reconcile, bool, error) {
	deadline := time.Now().Add(timeout)
	var last Reconcile
	var lastErr error
	read := false
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithDeadline(ctx, deadline.Add(5*time.Second))
		r, err := c.Reconcile(rctx, saleID)
		cancel()
		switch {
		case err == nil:
			last, read, lastErr = r, true, nil
			if r.ReservedInFlight == 0 {
				return r, true, nil
			}
		case ctx.Err() != nil:
			return last, false, fmt.Errorf("wait for sale %d to drain: %w", saleID, ctx.Err())
		default:
			lastErr = err
		}
		if !time.Now().Before(deadline) {
			if !read {
				return last, false, fmt.Errorf("wait for sale %d to drain: %w", saleID, lastErr)
			}
			return last, false, nil
		}
		select {
		case <-ctx.Done():
			return last, false, fmt.Errorf("wait for sale %d to drain: %w", saleID, ctx.Err())
		case <-t.C:
		}
	}
}
