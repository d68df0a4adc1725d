// Package stocktest is the contract of order.Stock as a test suite. Every
// stock backend runs the same suite against a fresh, empty instance per
// subtest:
//
//	func TestContract(t *testing.T) {
//		stocktest.Run(t, func(tb testing.TB) order.Stock { return newBackend(tb) })
//	}
//
// A backend that also implements Inspector lets the suite check that every
// rejection leaves all of the sale's raw keys untouched; without it the
// suite compares what the order.Stock methods can see.
//
// The suite is split by topic: reserve.go, release.go (Release, Forget),
// warm.go, read.go (Lookup, Snapshot), inflight.go (Due, Postpone, MarkPersisted),
// restock.go; fixtures.go and assert.go hold what they share.
//
// It imports the domain (order) only; the stock backends' tests import it.
package stocktest

import (
	"context"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// Inspector is an optional interface of a backend under test: Dump returns
// every raw key and value the backend holds for a sale, in any naming, and
// an empty map for a sale it holds nothing of.
type Inspector interface {
	Dump(ctx context.Context, saleID int64) (map[string]string, error)
}

// The sale window every subtest uses, far from the wall clock so that no
// backend can pass by reading its own clock instead of now.
var (
	startsAt = time.Date(2031, 3, 14, 10, 0, 0, 0, time.UTC)
	endsAt   = startsAt.Add(time.Hour)
	during   = startsAt.Add(time.Minute)
)

// Run runs the contract suite. newStock returns an empty backend, isolated
// from every other one it returned, and registers its own cleanup on tb.
func Run(t *testing.T, newStock func(tb testing.TB) order.Stock) {
	t.Run("ReserveSuccess", func(t *testing.T) { testReserveSuccess(t, newStock(t)) })
	t.Run("ReserveAtWindowStart", func(t *testing.T) { testReserveAtWindowStart(t, newStock(t)) })
	t.Run("AlreadyPurchased", func(t *testing.T) { testAlreadyPurchased(t, newStock(t)) })
	t.Run("Rejections", func(t *testing.T) { testRejections(t, newStock) })
	t.Run("StartGate", func(t *testing.T) { testStartGate(t, newStock(t)) })
	t.Run("SameUserConcurrently", func(t *testing.T) { testSameUserConcurrently(t, newStock(t)) })
	t.Run("Release", func(t *testing.T) { testRelease(t, newStock) })
	t.Run("ReleaseConcurrently", func(t *testing.T) { testReleaseConcurrently(t, newStock(t)) })
	t.Run("Warm", func(t *testing.T) { testWarm(t, newStock) })
	t.Run("Lookup", func(t *testing.T) { testLookup(t, newStock(t)) })
	t.Run("Snapshot", func(t *testing.T) { testSnapshot(t, newStock) })
	t.Run("Forget", func(t *testing.T) { testForget(t, newStock(t)) })
	t.Run("InFlightIndex", func(t *testing.T) { testInFlightIndex(t, newStock) })
	t.Run("WarmLostSale", func(t *testing.T) { testWarmLostSale(t, newStock(t)) })
	t.Run("Restock", func(t *testing.T) { testRestock(t, newStock) })
}
