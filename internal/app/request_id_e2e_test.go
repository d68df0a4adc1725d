package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/order"
)

// errorMessage is the message of an error answer.
func (r response) errorMessage() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// audit reads the newest entries of the audit trail.
func (s *system) audit(tb testing.TB, limit int) []httpapi.AuditEntryJSON {
	tb.Helper()
	r := do(tb, "GET", fmt.Sprintf("%s/admin/v1/audit?limit=%d", s.admin.URL, limit), "", nil)
	var got httpapi.AuditJSON
	if err := json.Unmarshal(r.raw, &got); r.status != http.StatusOK || err != nil {
		tb.Fatalf("audit: %d %v %s", r.status, err, r.raw)
	}
	return got.Entries
}

// actionsOn lists the actions of the entries that target the sale, newest
// first, with their details.
func actionsOn(entries []httpapi.AuditEntryJSON, sale int64) (actions, details []string) {
	for _, e := range entries {
		if e.Target == order.SaleTarget(sale) {
			actions = append(actions, e.Action)
			details = append(details, e.Detail)
		}
	}
	return actions, details
}

// TestAddStockRequestReused: a stock addition retried under its request id
// adds nothing and leaves one audit entry; the request id reused for
// another addition is 409 request_id_reused in the API's words, and
// changes nothing either.
func TestAddStockRequestReused(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind)
			sale := s.createSale(t, 3, 0)
			for range 2 { // the second call is a retry
				if r := s.addStock(t, sale, 10, "restock-1"); r.status != http.StatusOK || r.num("total_stock") != 13 {
					t.Fatalf("add stock: %d %s, want 200 with total_stock 13", r.status, r.raw)
				}
			}
			r := do(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/stock", s.admin.URL, sale), "",
				strings.NewReader(`{"add":5,"request_id":"restock-1"}`))
			msg := r.errorMessage()
			if r.status != http.StatusConflict || r.errorCode() != "request_id_reused" ||
				!strings.HasPrefix(msg, `request_id "restock-1" `) || strings.Contains(msg, "invalid request") {
				t.Fatalf("request id reused for another add: %d %s, want 409 request_id_reused in the API's words", r.status, r.raw)
			}
			if v, err := s.api.Repo.Sale(t.Context(), sale); err != nil || v.TotalStock != 13 {
				t.Fatalf("sale after the refused add = %+v, %v; want total_stock 13", v, err)
			}

			actions, details := actionsOn(s.audit(t, 20), sale)
			want := []string{order.AuditSaleStockAdded, order.AuditSaleCreated}
			if strings.Join(actions, ",") != strings.Join(want, ",") {
				t.Fatalf("audit of sale %d = %v %q, want %v: one entry for the addition and its retry", sale, actions, details, want)
			}
			if !strings.Contains(details[0], "add 10") || !strings.Contains(details[0], "total_stock 13") {
				t.Fatalf("stock entry detail = %q, want add 10 and total_stock 13", details[0])
			}
		})
	}
}

// TestCreateSaleRequestID: a create retried under its request_id answers
// the sale it created, 200, and creates nothing more; the request_id
// reused with another body is 409 request_id_reused; a create without
// one creates every time.
func TestCreateSaleRequestID(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind)
			now := time.Now().UTC().Truncate(time.Second)
			body := func(stock int64, requestID string) io.Reader {
				b := fmt.Sprintf(`{"name":"retried","price_cents":100,"total_stock":%d,"starts_at":%q,"ends_at":%q`,
					stock, now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
				if requestID != "" {
					b += fmt.Sprintf(`,"request_id":%q`, requestID)
				}
				return strings.NewReader(b + "}")
			}
			url := s.admin.URL + "/admin/v1/sales"
			first := do(t, "POST", url, "", body(5, "create-1"))
			if first.status != http.StatusCreated || first.num("id") == 0 || first.num("total_stock") != 5 {
				t.Fatalf("create: %d %s, want 201 with the sale", first.status, first.raw)
			}
			sale := first.num("id")
			again := do(t, "POST", url, "", body(5, "create-1"))
			if again.status != http.StatusOK || again.num("id") != sale || again.num("total_stock") != 5 || again.num("remaining") != 5 {
				t.Fatalf("retry: %d %s, want 200 with sale %d", again.status, again.raw, sale)
			}
			r := do(t, "POST", url, "", body(6, "create-1"))
			if r.status != http.StatusConflict || r.errorCode() != "request_id_reused" ||
				!strings.HasPrefix(r.errorMessage(), `request_id "create-1" was already used to create sale `) {
				t.Fatalf("request_id reused with another body: %d %s, want 409 request_id_reused", r.status, r.raw)
			}
			if r := do(t, "POST", url, "", strings.NewReader(`{"name":"x","price_cents":1,"total_stock":1,`+
				`"starts_at":"2026-01-01T00:00:00Z","ends_at":"2099-01-01T00:00:00Z","request_id":"no spaces"}`)); r.status != http.StatusBadRequest ||
				r.errorCode() != "invalid_request" || !strings.Contains(r.errorMessage(), "request_id must be") {
				t.Fatalf("malformed request_id: %d %s, want 400 invalid_request", r.status, r.raw)
			}
			var ids []int64
			for _, v := range s.listSales(t, "").Sales {
				ids = append(ids, v.ID)
			}
			if len(ids) != 1 || ids[0] != sale {
				t.Fatalf("sales = %v, want sale %d alone", ids, sale)
			}
			if actions, _ := actionsOn(s.audit(t, 20), sale); len(actions) != 1 || actions[0] != order.AuditSaleCreated {
				t.Fatalf("audit of sale %d = %v, want one %s", sale, actions, order.AuditSaleCreated)
			}
			// Without a request_id every create creates.
			if r := do(t, "POST", url, "", body(5, "")); r.status != http.StatusCreated || r.num("id") == sale {
				t.Fatalf("create without a request_id: %d %s, want 201 with a new sale", r.status, r.raw)
			}
		})
	}
}
