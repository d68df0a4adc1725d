package app_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestStatsReadSoldUncached: a sale read through the sale cache (memcached)
// before its orders were persisted does not hide them from the stats,
// whose persisted count is the database's own on every read.
func TestStatsReadSoldUncached(t *testing.T) {
	s := newSystem(t, "redis")
	sale := s.createSale(t, 10, 0)
	// A sale read puts the sale, sold 0, in the cache.
	if r := do(t, "GET", fmt.Sprintf("%s/api/v1/sales/%d", s.public.URL, sale), "", nil); r.status != http.StatusOK {
		t.Fatalf("sale: %d %s", r.status, r.raw)
	}
	for u := int64(1); u <= 3; u++ {
		if r := s.buy(t, sale, s.token(t, 300+u)); r.status != http.StatusAccepted {
			t.Fatalf("purchase of user %d: %d %s", 300+u, r.status, r.raw)
		}
	}
	s.startWorker()
	if rec := s.drained(t, sale); rec.Persisted != 3 {
		t.Fatalf("reconcile after the queue drained: %+v, want 3 persisted", rec)
	}
	for i := range 6 {
		r := do(t, "GET", fmt.Sprintf("%s/api/v1/sales/%d/stats", s.public.URL, sale), "", nil)
		if r.status != http.StatusOK || r.num("persisted") != 3 || r.num("accepted") != 3 {
			t.Fatalf("stats read %d: %d %s, want persisted 3 and accepted 3", i+1, r.status, r.raw)
		}
	}
}
