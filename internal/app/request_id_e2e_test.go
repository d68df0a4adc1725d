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

// uncheckedClient sends the requests whose answers api/openapi.yaml does
// not list: 409 request_id_reused on both admin writes, and 200 for a
// repeated create.
var uncheckedClient = &http.Client{Timeout: 30 * time.Second}

// doUnchecked is do through uncheckedClient.
func doUnchecked(tb testing.TB, method, url string, body io.Reader) response {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := uncheckedClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

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
			r := doUnchecked(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/stock", s.admin.URL, sale),
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
