package stock_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seckill/seckill/internal/order"
)

// call is the error one method call returned.
type call struct {
	method string
	err    error
}

// stockCalls calls every order.Stock method of s once about sale 1 and
// returns their errors.
func stockCalls(ctx context.Context, s order.Stock) []call {
	_, releaseErr := s.Release(ctx, 1, "o-1")
	_, remainingErr := s.Remaining(ctx, 1)
	_, lookupErr := s.Lookup(ctx, []int64{1}, "o-1")
	_, snapshotErr := s.Snapshot(ctx, 1)
	return []call{
		{"Reserve", s.Reserve(ctx, reservation(1, 1, "o-1"), during)},
		{"Warm", s.Warm(ctx, sale(1, 5))},
		{"Release", releaseErr},
		{"Remaining", remainingErr},
		{"Lookup", lookupErr},
		{"Snapshot", snapshotErr},
	}
}

func assertUnavailable(tb testing.TB, calls []call) {
	tb.Helper()
	for _, c := range calls {
		if !errors.Is(c.err, order.ErrUnavailable) {
			tb.Errorf("%s = %v, want ErrUnavailable", c.method, c.err)
		}
	}
}
