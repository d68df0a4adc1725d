package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
)

// listSales reads GET /admin/v1/sales with the given query.
func (s *system) listSales(tb testing.TB, query string) httpapi.SalesJSON {
	tb.Helper()
	r := do(tb, "GET", s.admin.URL+"/admin/v1/sales"+query, "", nil)
	if r.status != http.StatusOK {
		tb.Fatalf("list sales%s: %d %s", query, r.status, r.raw)
	}
	var out httpapi.SalesJSON
	if err := json.Unmarshal(r.raw, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// addStock posts {"add":add,"request_id":requestID} to the sale's stock.
func (s *system) addStock(tb testing.TB, sale, add int64, requestID string) response {
	tb.Helper()
	return do(tb, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/stock", s.admin.URL, sale), "",
		jsonBody(tb, httpapi.AddStockJSON{Add: add, RequestID: requestID}))
}

// TestListSales: the admin list shows the sales newest first, each with
// its live remaining stock, and a sale whose stock is not loaded as such.
func TestListSales(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		active := s.createSale(t, 3, 0)
		upcoming := s.createSale(t, 5, time.Hour)
		lost := s.createSale(t, 2, 0)
		if r := s.buy(t, active, s.token(t, 1)); r.status != http.StatusAccepted {
			t.Fatalf("buy: %d %s", r.status, r.raw)
		}
		if err := s.api.Stock.Forget(context.Background(), lost); err != nil {
			t.Fatal(err)
		}

		list := s.listSales(t, "?limit=1000")
		var got []httpapi.AdminSaleJSON
		for i, v := range list.Sales {
			if i > 0 && v.ID >= list.Sales[i-1].ID {
				t.Fatalf("not newest first: %d after %d", v.ID, list.Sales[i-1].ID)
			}
			if v.ID == active || v.ID == upcoming || v.ID == lost {
				got = append(got, v)
			}
		}
		if len(got) != 3 || got[0].ID != lost || got[1].ID != upcoming || got[2].ID != active {
			t.Fatalf("listed %+v, want sales %d, %d, %d in that order", got, lost, upcoming, active)
		}
		check := func(v httpapi.AdminSaleJSON, remaining int64, loaded bool, status string) {
			t.Helper()
			if v.StockLoaded != loaded || v.Status != status || (v.Remaining == nil) == loaded ||
				(loaded && *v.Remaining != remaining) {
				t.Fatalf("sale %d listed as %+v (remaining %v), want remaining %d, loaded %v, %s",
					v.ID, v, v.Remaining, remaining, loaded, status)
			}
		}
		check(got[0], 0, false, "active")
		check(got[1], 5, true, "upcoming")
		check(got[2], 2, true, "active")
		if got[2].TotalStock != 3 || got[2].PaymentWindowSeconds != 600 {
			t.Fatalf("sale %d listed as %+v, want total_stock 3 and a payment window of 600 s", active, got[2])
		}

		if one := s.listSales(t, "?limit=1"); len(one.Sales) != 1 || one.Sales[0].ID < lost {
			t.Fatalf("limit=1 listed %+v, want the newest sale alone", one.Sales)
		}
		for _, q := range []string{"?limit=0", "?limit=1001", "?limit=ten"} {
			if r := do(t, "GET", s.admin.URL+"/admin/v1/sales"+q, "", nil); r.status != http.StatusBadRequest || r.errorCode() != "invalid_request" {
				t.Fatalf("list sales%s: %d %s, want 400 invalid_request", q, r.status, r.raw)
			}
		}
	})
}

// TestAddStock: units added to a sold-out sale are sold at once, exactly
// as many as were added; a retry under the same request id adds nothing;
// an addition cut off after MySQL took it is finished by the retry, or by
// the settler; and the books balance at the new total.
func TestAddStock(t *testing.T) {
	forEachKind(t, func(t *testing.T, s *system) {
		ctx := context.Background()
		s.startWorker()
		sale := s.createSale(t, 2, 0)
		user := int64(100)
		buy := func() response {
			t.Helper()
			user++
			return s.buy(t, sale, s.token(t, user))
		}
		for range 2 {
			if r := buy(); r.status != http.StatusAccepted {
				t.Fatalf("buy: %d %s", r.status, r.raw)
			}
		}
		if r := buy(); r.errorCode() != "sold_out" {
			t.Fatalf("buy past the stock: %d %s, want sold_out", r.status, r.raw)
		}

		for range 2 { // the second call is a retry: it adds nothing
			r := s.addStock(t, sale, 3, "add-1")
			if r.status != http.StatusOK || r.num("total_stock") != 5 || r.num("remaining") != 3 || r.str("status") != "active" {
				t.Fatalf("add stock: %d %s, want total_stock 5, remaining 3, active", r.status, r.raw)
			}
		}
		if r := do(t, "POST", fmt.Sprintf("%s/admin/v1/sales/%d/stock", s.admin.URL, sale), "",
			jsonBody(t, httpapi.AddStockJSON{Add: 4, RequestID: "add-1"})); r.status != http.StatusConflict || r.errorCode() != "request_id_reused" {
			t.Fatalf("request id reused for another add: %d %s, want 409 request_id_reused", r.status, r.raw)
		}
		if r := s.addStock(t, sale+1000, 1, ""); r.status != http.StatusNotFound || r.errorCode() != "sale_not_found" {
			t.Fatalf("add stock to an unknown sale: %d %s, want 404 sale_not_found", r.status, r.raw)
		}
		statuses := map[string]int{}
		for range 5 {
			r := buy()
			statuses[fmt.Sprintf("%d %s", r.status, r.errorCode())]++
		}
		if statuses["202 "] != 3 || statuses["409 sold_out"] != 2 {
			t.Fatalf("after adding 3 units: %v, want exactly 3×202 and 2×409 sold_out", statuses)
		}

		// An api that died after MySQL took an addition: the retry with
		// its request id finishes it, once.
		if _, err := s.api.Repo.AddStock(ctx, sale, 1, "add-2", time.Now()); err != nil {
			t.Fatal(err)
		}
		if rem, err := s.api.Stock.Remaining(ctx, sale); err != nil || rem != 0 {
			t.Fatalf("remaining after MySQL alone took the addition = %d, %v; want 0", rem, err)
		}
		if r := s.addStock(t, sale, 1, "add-2"); r.status != http.StatusOK || r.num("total_stock") != 6 || r.num("remaining") != 1 {
			t.Fatalf("retry of a cut-off addition: %d %s, want total_stock 6, remaining 1", r.status, r.raw)
		}
		// One without a request id: the settler finishes it.
		if _, err := s.api.Repo.AddStock(ctx, sale, 1, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.api.UseCases.Settler.Settle(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if rem, err := s.api.Stock.Remaining(ctx, sale); err != nil || rem != 2 {
			t.Fatalf("remaining after a settle pass = %d, %v; want 2", rem, err)
		}
		for range 2 {
			if r := buy(); r.status != http.StatusAccepted {
				t.Fatalf("buy a finished addition's unit: %d %s", r.status, r.raw)
			}
		}
		if r := buy(); r.errorCode() != "sold_out" {
			t.Fatalf("buy past the added stock: %d %s, want sold_out", r.status, r.raw)
		}

		rec := s.drained(t, sale)
		if !rec.Consistent || rec.TotalStock != 7 || rec.Persisted != 7 || rec.Remaining != 0 || rec.Gap != 0 {
			t.Fatalf("after drain: %+v, want consistent at total 7 with 7 orders", rec)
		}
		if sl, err := s.api.Repo.Sale(ctx, sale); err != nil || sl.TotalStock != 7 || sl.Sold != 7 {
			t.Fatalf("MySQL sale = %+v, %v; want total_stock 7, sold 7", sl, err)
		}
	})
}
