package order_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// countingAudit is an audit log that keeps the entries counted into it and
// the number of CountAudit calls, its writes.
type countingAudit struct {
	mu      sync.Mutex
	writes  int
	tallies map[string]int64 // actor/action/minute → count
}

func (a *countingAudit) RecordAudit(context.Context, order.AuditEntry) error { return nil }

func (a *countingAudit) CountAudit(_ context.Context, e order.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writes++
	if a.tallies == nil {
		a.tallies = map[string]int64{}
	}
	a.tallies[e.Actor+"/"+e.Action+"/"+e.At.Truncate(time.Minute).String()] += max(e.Count, 1)
	return nil
}

func (a *countingAudit) AuditEntries(context.Context, int) ([]order.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []order.AuditEntry
	for k, n := range a.tallies {
		out = append(out, order.AuditEntry{Detail: k, Count: n})
	}
	return out, nil
}

// TestAuditTallyWritesInBatches: counting n changes of two actors costs one
// write per actor, action and minute at a flush, not one per change, and
// the counts written add up to n.
func TestAuditTallyWritesInBatches(t *testing.T) {
	const n = 20000
	base := &countingAudit{}
	tally := order.NewAuditTally(base, slog.New(slog.DiscardHandler))
	at := time.Date(2026, 12, 5, 10, 0, 30, 0, time.UTC)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actor := []string{"admin", "loadtest"}[w%2]
			for range n / 8 {
				e := order.AuditEntry{At: at, Actor: actor, Action: order.AuditTokensMinted, Detail: "minted user tokens", Count: 1}
				if err := tally.CountAudit(context.Background(), e); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := tally.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	base.mu.Lock()
	defer base.mu.Unlock()
	if base.writes > 2 {
		t.Fatalf("%d audit writes for %d changes of 2 actors in one minute, want at most 2", base.writes, n)
	}
	var sum int64
	for _, c := range base.tallies {
		sum += c
	}
	if sum != n || len(base.tallies) != 2 {
		t.Fatalf("tallies %v, want 2 entries adding up to %d", base.tallies, n)
	}
}

// TestAuditTallyRun: Run writes what was counted at its interval and what
// is left when its context ends; a listing sees every change counted
// before it.
func TestAuditTallyRun(t *testing.T) {
	base := &countingAudit{}
	tally := order.NewAuditTally(base, slog.New(slog.DiscardHandler), order.WithAuditFlushEvery(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tally.Run(ctx) }()
	e := order.AuditEntry{At: time.Now(), Actor: "admin", Action: order.AuditTokensMinted, Count: 1}
	for range 3 {
		if err := tally.CountAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	list, err := tally.AuditEntries(ctx, 10)
	if err != nil || len(list) != 1 || list[0].Count != 3 {
		t.Fatalf("listing after 3 changes: %+v, %v; want one entry of 3", list, err)
	}
	if err := tally.CountAudit(ctx, e); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	base.mu.Lock()
	defer base.mu.Unlock()
	for _, c := range base.tallies {
		if c != 4 {
			t.Fatalf("after Run ended: %v, want 4", base.tallies)
		}
	}
}
