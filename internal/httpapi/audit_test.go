package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

// memAudit is an order.AuditLog in memory; CountAudit adds to the latest
// entry of the same actor and action.
type memAudit struct {
	mu      sync.Mutex
	entries []order.AuditEntry
}

func (m *memAudit) RecordAudit(_ context.Context, e order.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAudit) CountAudit(_ context.Context, e order.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.entries) - 1; i >= 0; i-- {
		if m.entries[i].Actor == e.Actor && m.entries[i].Action == e.Action {
			m.entries[i].Count++
			return nil
		}
	}
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAudit) AuditEntries(_ context.Context, limit int) ([]order.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.entries)
	slices.Reverse(out)
	return out[:min(limit, len(out))], nil
}

const (
	aliceToken = "alice-token-0123456789abcdef-0123"
	bobToken   = "bob-token-0123456789abcdef-012345"
)

// TestAuditActors: the named token a request carries is the actor of its
// audit entry, SECKILL_ADMIN_TOKEN is "admin", a listener without tokens
// names "anonymous", and any other token is refused before anything is
// recorded. Token minting is counted, not listed once per token.
func TestAuditActors(t *testing.T) {
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	build := func(token string, named map[string]string) (http.Handler, *memAudit) {
		reg := prometheus.NewRegistry()
		a := &memAudit{}
		return NewAdmin(AdminConfig{
			Tokens: NewTokens(testSecret), Token: token, NamedTokens: named, Audit: a, BodyLimit: 1 << 10,
			Gatherer: reg, Log: log, Metrics: metrics.New(reg),
		}), a
	}
	mint := func(h http.Handler, bearer string) int {
		r := httptest.NewRequest(http.MethodPost, "/admin/v1/tokens", strings.NewReader(`{"user_id":42}`))
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	named := map[string]string{"alice": aliceToken, "bob": bobToken}
	tests := []struct {
		name       string
		token      string
		named      map[string]string
		send       []string // bearer tokens, one request each
		wantCodes  []int
		wantActors map[string]int64 // actor: tokens counted
	}{
		{name: "named", named: named, send: []string{aliceToken, bobToken, aliceToken},
			wantCodes: []int{200, 200, 200}, wantActors: map[string]int64{"alice": 2, "bob": 1}},
		{name: "admin and named", token: adminToken, named: named, send: []string{adminToken, bobToken},
			wantCodes: []int{200, 200}, wantActors: map[string]int64{"admin": 1, "bob": 1}},
		{name: "refused", token: adminToken, named: named, send: []string{"", "alice", aliceToken + "x", bobToken[:10]},
			wantCodes: []int{401, 401, 401, 401}, wantActors: map[string]int64{}},
		{name: "no token configured", send: []string{"", aliceToken},
			wantCodes: []int{200, 200}, wantActors: map[string]int64{ActorAnonymous: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, a := build(tt.token, tt.named)
			for i, b := range tt.send {
				if got := mint(h, b); got != tt.wantCodes[i] {
					t.Fatalf("request %d: status %d, want %d", i, got, tt.wantCodes[i])
				}
			}
			got := map[string]int64{}
			for _, e := range a.entries {
				if e.Action != order.AuditTokensMinted {
					t.Errorf("action %q, want %q", e.Action, order.AuditTokensMinted)
				}
				got[e.Actor] += e.Count
			}
			if len(got) != len(tt.wantActors) {
				t.Fatalf("actors %v, want %v", got, tt.wantActors)
			}
			for actor, n := range tt.wantActors {
				if got[actor] != n {
					t.Errorf("actors %v, want %v", got, tt.wantActors)
				}
			}
		})
	}
}

// TestAuditList: GET /admin/v1/audit lists newest first, shows a counted
// entry's count in its detail, and refuses a bad limit in the API's words.
func TestAuditList(t *testing.T) {
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	a := &memAudit{}
	h := NewAdmin(AdminConfig{Tokens: NewTokens(testSecret), Audit: a, BodyLimit: 1 << 10,
		Gatherer: reg, Log: log, Metrics: metrics.New(reg)})
	ctx := context.Background()
	_ = a.RecordAudit(ctx, order.AuditEntry{Actor: "alice", Action: order.AuditSaleCreated, Target: "sale 1", Detail: "d1", Count: 1})
	_ = a.CountAudit(ctx, order.AuditEntry{Actor: "bob", Action: order.AuditTokensMinted, Target: "user tokens", Detail: "minted user tokens", Count: 1})
	_ = a.CountAudit(ctx, order.AuditEntry{Actor: "bob", Action: order.AuditTokensMinted, Target: "user tokens", Detail: "minted user tokens", Count: 1})

	get := func(query string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin/v1/audit"+query, nil))
		return w
	}
	w := get("")
	var body AuditJSON
	if err := json.Unmarshal(w.Body.Bytes(), &body); w.Code != http.StatusOK || err != nil {
		t.Fatalf("status %d, %v: %s", w.Code, err, w.Body)
	}
	if len(body.Entries) != 2 || body.Entries[0].Actor != "bob" || body.Entries[1].Action != order.AuditSaleCreated {
		t.Fatalf("entries %+v, want bob's tokens then alice's sale", body.Entries)
	}
	if want := "minted user tokens (2 times in this minute)"; body.Entries[0].Detail != want {
		t.Errorf("detail %q, want %q", body.Entries[0].Detail, want)
	}
	if w := get("?limit=1"); !strings.Contains(w.Body.String(), `"actor":"bob"`) || strings.Contains(w.Body.String(), "alice") {
		t.Errorf("limit=1: %s", w.Body)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?limit=-1"} {
		w := get(q)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"code":"invalid_request"`) ||
			!strings.Contains(w.Body.String(), "limit must be an integer between 1 and 1000") {
			t.Errorf("%s: %d %s", q, w.Code, w.Body)
		}
	}
}
