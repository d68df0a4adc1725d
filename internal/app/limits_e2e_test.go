package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
)

// TestMemcacheUnitLimit: a sale larger than the memcached backend holds is
// refused before MySQL is written, whether it is created that large or
// grows past the limit by an addition: nothing is stored, nothing changes.
func TestMemcacheUnitLimit(t *testing.T) {
	s := newSystem(t, "memcache")
	now := time.Now().UTC()
	r := do(t, "POST", s.admin.URL+"/admin/v1/sales", "", jsonBody(t, httpapi.NewSaleJSON{
		Name: "too large", PriceCents: 1, TotalStock: stock.MemcachedMaxUnits + 1, StartsAt: now, EndsAt: now.Add(time.Hour),
	}))
	if r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" || !strings.Contains(r.errorMessage(), "total_stock") {
		t.Fatalf("create above the limit: %d %s, want 400 invalid_request naming total_stock", r.status, r.raw)
	}
	if list := s.listSales(t, ""); len(list.Sales) != 0 {
		t.Fatalf("sales after a refused create: %+v, want none", list.Sales)
	}

	sale := s.createSale(t, stock.MemcachedMaxUnits-1, 0)
	r = s.addStock(t, sale, 2, "too-much")
	if r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" || !strings.Contains(r.errorMessage(), "total_stock") {
		t.Fatalf("add past the limit: %d %s, want 400 invalid_request naming total_stock", r.status, r.raw)
	}
	if v, err := s.api.Repo.Sale(t.Context(), sale); err != nil || v.TotalStock != stock.MemcachedMaxUnits-1 {
		t.Fatalf("MySQL sale after the refused add = %+v, %v; want total_stock %d", v, err, stock.MemcachedMaxUnits-1)
	}
	// The request id of the refused add was not recorded: it is free.
	if r := s.addStock(t, sale, 1, "too-much"); r.status != http.StatusOK || r.num("total_stock") != stock.MemcachedMaxUnits {
		t.Fatalf("add up to the limit: %d %s, want total_stock %d", r.status, r.raw, stock.MemcachedMaxUnits)
	}
	if rec := s.reconcile(t, sale); !rec.Consistent {
		t.Fatalf("reconcile: %+v", rec)
	}
}

// TestFailedCreateLeavesNothing: a create whose stock the stock backend
// cannot load (memcached unreachable) answers 503 and leaves no sale in
// MySQL for the settler or a warm-up to bring live later, and frees its
// request_id for the retry; the audit trail says the sale was removed.
func TestFailedCreateLeavesNothing(t *testing.T) {
	s := newSystem(t, "memcache", func(c *config.API) { c.MemcacheServers = "127.0.0.1:1" })
	now := time.Now().UTC()
	for range 2 { // the second call is the client's retry
		r := do(t, "POST", s.admin.URL+"/admin/v1/sales", "", jsonBody(t, httpapi.NewSaleJSON{
			Name: "unloadable", PriceCents: 1, TotalStock: 5, StartsAt: now, EndsAt: now.Add(time.Hour), RequestID: "create-down",
		}))
		if r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
			t.Fatalf("create with the stock backend down: %d %s, want 503 unavailable", r.status, r.raw)
		}
	}
	if list, err := s.api.Repo.Sales(t.Context(), 10); err != nil || len(list) != 0 {
		t.Fatalf("MySQL sales after failed creates = %+v, %v; want none", list, err)
	}
	actions, _ := actionsOn(s.audit(t, 20), 1)
	if want := []string{order.AuditSaleRemoved, order.AuditSaleCreated}; strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Fatalf("audit of sale 1 = %v, want %v", actions, want)
	}
}
