package app_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/order"
)

const (
	auditAlice = "audit-alice-0123456789abcdef-01234"
	auditBob   = "audit-bob-0123456789abcdef-0123456"
)

// TestAuditTrail: a sale created by alice, warmed by bob and given more
// stock by alice, each with a named admin token, read back newest first
// under their names; a request without a token changes nothing and
// records nothing.
func TestAuditTrail(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind, func(c *config.API) {
				c.AdminTokens = map[string]string{"alice": auditAlice, "bob": auditBob}
			})
			now := time.Now().UTC()
			r := do(t, "POST", s.admin.URL+"/admin/v1/sales", auditAlice, jsonBody(t, httpapi.NewSaleJSON{
				Name: "audited", PriceCents: 100, TotalStock: 5, StartsAt: now, EndsAt: now.Add(time.Hour),
			}))
			if r.status != http.StatusCreated {
				t.Fatalf("create sale: %d %s", r.status, r.raw)
			}
			sale := r.num("id")
			if r := do(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/warmup", s.admin.URL, sale), "", nil); r.status != http.StatusUnauthorized {
				t.Fatalf("warmup without a token: %d %s, want 401", r.status, r.raw)
			}
			if r := do(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/warmup", s.admin.URL, sale), auditBob, nil); r.status != http.StatusOK {
				t.Fatalf("warmup: %d %s", r.status, r.raw)
			}

			if r := do(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/stock", s.admin.URL, sale), auditAlice,
				strings.NewReader(`{"add":2}`)); r.status != http.StatusOK {
				t.Fatalf("add stock: %d %s", r.status, r.raw)
			}

			r = do(t, "GET", s.admin.URL+"/admin/v1/audit?limit=10", auditAlice, nil)
			var got httpapi.AuditJSON
			if err := json.Unmarshal(r.raw, &got); r.status != http.StatusOK || err != nil {
				t.Fatalf("audit: %d %v %s", r.status, err, r.raw)
			}
			target := fmt.Sprintf("sale %d", sale)
			want := []struct{ actor, action string }{
				{"alice", order.AuditSaleStockAdded}, {"bob", order.AuditSaleWarmed}, {"alice", order.AuditSaleCreated},
			}
			if len(got.Entries) != len(want) {
				t.Fatalf("entries = %+v, want %d", got.Entries, len(want))
			}
			for i, w := range want {
				e := got.Entries[i]
				if e.Actor != w.actor || e.Action != w.action || e.Target != target || e.At.IsZero() {
					t.Errorf("entry %d = %+v, want %s %s %s", i, e, w.actor, w.action, target)
				}
			}
			if d := got.Entries[0].Detail; !strings.Contains(d, "add 2") || !strings.Contains(d, "total_stock 7") {
				t.Errorf("stock entry detail = %q", d)
			}
			if d := got.Entries[2].Detail; !strings.Contains(d, `"audited"`) || !strings.Contains(d, "total_stock 5") {
				t.Errorf("sale entry detail = %q", d)
			}
			if r := do(t, "GET", s.admin.URL+"/admin/v1/audit?limit=0", auditAlice, nil); r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" {
				t.Errorf("limit=0: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestMintedTokensTallied: tokens minted at once are counted in memory and
// written in batches; the audit trail in MySQL ends up counting every one
// of them, in one entry per minute.
func TestMintedTokensTallied(t *testing.T) {
	const n, clients = 400, 8
	s := newSystem(t, "redis")
	s.startBackground()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / clients {
				body := jsonBody(t, httpapi.TokenRequest{UserID: int64(1 + c*n + i), TTLSeconds: 600})
				if r := do(t, "POST", s.admin.URL+"/admin/v1/tokens", "", body); r.status != http.StatusOK {
					t.Errorf("mint token: %d %s", r.status, r.raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	db, err := sql.Open("mysql", s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rows, tally int64
		err := db.QueryRow("SELECT COUNT(*), COALESCE(SUM(tally), 0) FROM audit_log WHERE action = ?", order.AuditTokensMinted).Scan(&rows, &tally)
		if err != nil {
			t.Fatal(err)
		}
		if tally == n {
			if rows > 2 {
				t.Fatalf("%d audit rows for %d tokens minted within a minute or two, want at most 2", rows, n)
			}
			break
		}
		if tally > n || time.Now().After(deadline) {
			t.Fatalf("audit_log counts %d tokens in %d rows, want %d", tally, rows, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
