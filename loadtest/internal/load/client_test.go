package load_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/loadtest/internal/load"
)

// newClient returns a load client for public and admin base URLs whose idle
// connections are closed at cleanup.
func newClient(tb testing.TB, public, admin string) *load.Client {
	tb.Helper()
	h := load.NewHTTPClient(8, 5*time.Second)
	tb.Cleanup(h.CloseIdleConnections)
	return &load.Client{HTTP: h, Public: public, Admin: admin}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errBody(code string) httpapi.ErrorBody {
	return httpapi.ErrorBody{Error: httpapi.ErrorDetail{Code: code, Message: code}}
}

func TestPurchaseReplies(t *testing.T) {
	// The user id in the token picks the answer.
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/sales/{id}/orders", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "7" {
			writeJSON(w, http.StatusNotFound, errBody("sale_not_found"))
			return
		}
		switch r.Header.Get("Authorization") {
		case "Bearer win":
			writeJSON(w, http.StatusAccepted, map[string]string{"order_no": "o1", "status": "pending"})
		case "Bearer late":
			writeJSON(w, http.StatusConflict, errBody("sold_out"))
		case "Bearer again":
			writeJSON(w, http.StatusConflict, httpapi.ErrorBody{
				Error: httpapi.ErrorDetail{Code: "already_purchased", OrderNo: "o1"}, OrderNo: "o1"})
		case "Bearer crowd":
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, errBody("rate_limited"))
		case "Bearer broken":
			_, _ = io.WriteString(w, "") // status 200, no body
		case "Bearer cut":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"order`)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)
	ctx := context.Background()

	tests := []struct {
		sale  int64
		token string
		want  load.Outcome
		code  string
	}{
		{7, "win", load.Accepted, ""},
		{7, "late", load.SoldOut, "sold_out"},
		{7, "again", load.AlreadyPurchased, "already_purchased"},
		{7, "crowd", load.RateLimited, "rate_limited"},
		{7, "broken", load.OtherStatus, ""},
		{7, "cut", load.TransportError, ""},
		{7, "x", load.ServerError, ""},
		{8, "win", load.OtherClient, "sale_not_found"},
	}
	for _, tt := range tests {
		r := c.Purchase(ctx, tt.sale, tt.token)
		if r.Outcome() != tt.want || r.Code != tt.code {
			t.Errorf("sale %d token %q: outcome %v code %q (status %d, err %v); want %v %q",
				tt.sale, tt.token, r.Outcome(), r.Code, r.Status, r.Err, tt.want, tt.code)
		}
		if r.Latency <= 0 {
			t.Errorf("token %q: latency %v not recorded", tt.token, r.Latency)
		}
	}

	srv.Close()
	if r := c.Purchase(ctx, 7, "win"); r.Outcome() != load.TransportError {
		t.Errorf("closed server: outcome %v, want transport error", r.Outcome())
	}
}

func TestSaleAndReconcile(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/sales/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if id != 3 {
			writeJSON(w, http.StatusNotFound, errBody("sale_not_found"))
			return
		}
		writeJSON(w, http.StatusOK, httpapi.SaleJSON{ID: 3, Name: "s", TotalStock: 10, Remaining: 4, Status: "active"})
	})
	mux.HandleFunc("GET /admin/v1/sales/{id}/reconcile", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer adm" {
			writeJSON(w, http.StatusUnauthorized, errBody("unauthorized"))
			return
		}
		writeJSON(w, http.StatusOK, httpapi.ReconcileJSON{SaleID: 3, TotalStock: 10, Remaining: 4, Persisted: 6, Consistent: true})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)
	ctx := context.Background()

	s, err := c.Sale(ctx, 3)
	if err != nil || s.TotalStock != 10 || s.Remaining != 4 || s.Status != "active" {
		t.Errorf("Sale(3) = %+v, %v", s, err)
	}
	_, err = c.Sale(ctx, 4)
	if !load.IsStatus(err, http.StatusNotFound) {
		t.Errorf("Sale(4) error %v, want a 404 StatusError", err)
	}
	if _, err := c.Reconcile(ctx, 3); !load.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("Reconcile without admin token: %v, want 401", err)
	}
	c.AdminToken = "adm"
	r, err := c.Reconcile(ctx, 3)
	if err != nil || r.Persisted != 6 || !r.Consistent {
		t.Errorf("Reconcile(3) = %+v, %v", r, err)
	}
}

func TestWaitDrained(t *testing.T) {
	var polls, inFlightPolls atomic.Int64
	inFlightPolls.Store(3)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/v1/sales/{id}/reconcile", func(w http.ResponseWriter, r *http.Request) {
		n := polls.Add(1)
		var inFlight int64
		if n <= inFlightPolls.Load() {
			inFlight = 5
		}
		writeJSON(w, http.StatusOK, httpapi.ReconcileJSON{TotalStock: 10, ReservedInFlight: inFlight, Persisted: 10 - inFlight, Consistent: true})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newClient(t, srv.URL, srv.URL)
	ctx := context.Background()

	r, ok, err := c.WaitDrained(ctx, 1, 10*time.Second, time.Millisecond)
	if err != nil || !ok || r.ReservedInFlight != 0 || r.Persisted != 10 || polls.Load() != 4 {
		t.Errorf("WaitDrained = %+v, %t, %v after %d polls; want drained on the 4th", r, ok, err, polls.Load())
	}

	polls.Store(0)
	inFlightPolls.Store(1 << 40)
	r, ok, err = c.WaitDrained(ctx, 1, 30*time.Millisecond, 5*time.Millisecond)
	if err != nil || ok || r.ReservedInFlight != 5 {
		t.Errorf("never drains: WaitDrained = %+v, %t, %v; want the last state, false, nil", r, ok, err)
	}

	srv.Close()
	if _, ok, err := c.WaitDrained(ctx, 1, 30*time.Millisecond, 5*time.Millisecond); err == nil || ok {
		t.Errorf("unreachable admin: ok %t err %v; want an error", ok, err)
	}
}

// newAdmin serves the api's real admin handler for token tests.
func newAdmin(tb testing.TB, secret []byte, adminToken string) *httptest.Server {
	tb.Helper()
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(httpapi.NewAdmin(httpapi.AdminConfig{
		Tokens: httpapi.NewTokens(secret), Token: adminToken, BodyLimit: 4096, Gatherer: reg,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(reg),
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func TestTokenSourcesAreAcceptedByTheAPI(t *testing.T) {
	secret := []byte("load-test-secret-0123456789")
	verify := httpapi.NewTokens(secret)
	admin := newAdmin(t, secret, "adm")
	c := newClient(t, "", admin.URL)
	c.AdminToken = "adm"
	sources := map[string]load.TokenSource{
		"signer": load.Signer{Secret: secret, TTL: time.Minute},
		"admin":  load.AdminTokens{Client: c, TTL: time.Minute},
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			toks, err := load.PrepareTokens(context.Background(), src, 5000, 50, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(toks) != 50 {
				t.Fatalf("got %d tokens, want 50", len(toks))
			}
			for i, tok := range toks {
				id, err := verify.UserFromHeader("Bearer " + tok)
				if err != nil || id != 5000+int64(i) {
					t.Fatalf("token %d: user %d, %v; want user %d", i, id, err, 5000+i)
				}
			}
		})
	}
}

func TestPrepareTokensStopsAtTheFirstError(t *testing.T) {
	admin := newAdmin(t, []byte("load-test-secret-0123456789"), "adm")
	c := newClient(t, "", admin.URL) // no admin token: every request is refused
	_, err := load.PrepareTokens(context.Background(), load.AdminTokens{Client: c, TTL: time.Minute}, 1, 1000, 4)
	if !load.IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("PrepareTokens without admin token: %v, want 401", err)
	}

	if _, err := (load.Signer{TTL: time.Minute}).Token(context.Background(), 1); err == nil {
		t.Error("Signer without a secret signed a token")
	}
	toks, err := load.PrepareTokens(context.Background(), load.Signer{Secret: []byte("s"), TTL: time.Minute}, 1, 0, 4)
	if err != nil || len(toks) != 0 {
		t.Errorf("zero users: %v, %v", toks, err)
	}
}

func TestExpiredTokenIsRefused(t *testing.T) {
	secret := []byte("load-test-secret-0123456789")
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	tok, err := load.Signer{Secret: secret, TTL: time.Minute, Now: past}.Token(context.Background(), 9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := httpapi.NewTokens(secret).UserFromHeader("Bearer " + tok); err == nil {
		t.Error("the api accepted a token that expired 59 minutes ago")
	}
}
