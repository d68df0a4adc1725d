package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/httpapi"
)

// createAdmissionSale opens an active sale with an admission setting.
func (s *system) createAdmissionSale(tb testing.TB, stock int64, adm httpapi.AdmissionJSON) int64 {
	tb.Helper()
	now := time.Now().UTC()
	r := do(tb, "POST", s.admin.URL+"/admin/v1/sales", "", jsonBody(tb, httpapi.NewSaleJSON{
		Name: "e2e admission", PriceCents: 100, TotalStock: stock,
		StartsAt: now.Add(-time.Second), EndsAt: now.Add(time.Hour), PaymentWindowSeconds: 600, Admission: &adm,
	}))
	if r.status != http.StatusCreated {
		tb.Fatalf("create sale: %d %s", r.status, r.raw)
	}
	got, _ := r.body["admission"].(map[string]any)
	if got["rate_per_second"] != float64(adm.RatePerSecond) || got["pow_bits"] != float64(adm.PowBits) {
		tb.Fatalf("created sale shows admission %v, want %+v", got, adm)
	}
	return r.num("id")
}

// replica starts a second api on the same servers and returns its public
// listener.
func (s *system) replica(tb testing.TB) *httptest.Server {
	tb.Helper()
	a, err := app.NewAPI(context.Background(), s.cfg, testLog(tb), s.ov)
	if err != nil {
		tb.Fatalf("replica: %v", err)
	}
	srv := httptest.NewServer(a.Public)
	tb.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	return srv
}

func challengeOf(tb testing.TB, public string, sale int64, token string) response {
	tb.Helper()
	return do(tb, "POST", fmt.Sprintf("%s/api/v1/sales/%d/challenge", public, sale), token, nil)
}

func admit(tb testing.TB, public string, sale int64, token string, body map[string]string) response {
	tb.Helper()
	return do(tb, "POST", fmt.Sprintf("%s/api/v1/sales/%d/admission", public, sale), token, jsonBody(tb, body))
}

func buyWith(tb testing.TB, public string, sale int64, token, ticket string) response {
	tb.Helper()
	return doHeader(tb, "POST", fmt.Sprintf("%s/api/v1/sales/%d/orders", public, sale), token,
		http.Header{httpapi.TicketHeader: {ticket}}, nil)
}

// TestProofOfWorkAdmission: no ticket, no purchase; a solved challenge
// admits once and its ticket buys for its user and sale only.
func TestProofOfWorkAdmission(t *testing.T) {
	for _, kind := range []string{"embedded", "redis", "cluster", "memcache"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind)
			s.startWorker()
			sale := s.createAdmissionSale(t, 5, httpapi.AdmissionJSON{PowBits: 10})
			open := s.createSale(t, 5, 0)
			alice, bob := s.token(t, 1), s.token(t, 2)
			pub := s.public.URL

			if r := s.buy(t, sale, alice); r.status != http.StatusForbidden || r.errorCode() != "admission_required" {
				t.Fatalf("purchase without a ticket: %d %s", r.status, r.raw)
			}
			if r := buyWith(t, pub, sale, alice, "t1.1.1..9999999999.forged"); r.status != http.StatusForbidden || r.errorCode() != "admission_invalid" {
				t.Fatalf("purchase with a forged ticket: %d %s", r.status, r.raw)
			}
			if r := challengeOf(t, pub, open, alice); r.status != http.StatusBadRequest {
				t.Fatalf("challenge for a sale without proof of work: %d %s", r.status, r.raw)
			}
			ch := challengeOf(t, pub, sale, alice)
			if ch.status != http.StatusOK || ch.num("bits") != 10 || ch.str("expires_at") == "" {
				t.Fatalf("challenge: %d %s", ch.status, ch.raw)
			}
			nonce := admission.Solve(ch.str("challenge"), 10)
			proof := map[string]string{"challenge": ch.str("challenge"), "nonce": nonce}
			if r := admit(t, pub, sale, bob, proof); r.status != http.StatusForbidden || r.errorCode() != "admission_invalid" {
				t.Fatalf("another user's proof: %d %s", r.status, r.raw)
			}
			if r := admit(t, pub, sale, alice, map[string]string{"challenge": ch.str("challenge"), "nonce": "x1"}); r.status != http.StatusBadRequest {
				t.Fatalf("malformed nonce: %d %s", r.status, r.raw)
			}
			in := admit(t, pub, sale, alice, proof)
			if in.status != http.StatusOK || in.str("ticket") == "" {
				t.Fatalf("admission with a proof: %d %s", in.status, in.raw)
			}
			if r := admit(t, pub, sale, alice, proof); r.status != http.StatusForbidden || r.errorCode() != "admission_invalid" {
				t.Fatalf("the same challenge again: %d %s", r.status, r.raw)
			}
			ticket := in.str("ticket")
			if r := buyWith(t, pub, sale, bob, ticket); r.status != http.StatusForbidden || r.errorCode() != "admission_invalid" {
				t.Fatalf("another user's ticket: %d %s", r.status, r.raw)
			}
			if r := buyWith(t, pub, sale, alice, ticket); r.status != http.StatusAccepted {
				t.Fatalf("purchase with the ticket: %d %s", r.status, r.raw)
			}
			if r := s.buy(t, open, bob); r.status != http.StatusAccepted {
				t.Fatalf("purchase of a sale without admission: %d %s", r.status, r.raw)
			}
			if rec := s.drained(t, sale); rec.Persisted != 1 || rec.Gap != 0 {
				t.Fatalf("reconcile: %+v", rec)
			}
		})
	}
}

// TestWaitingRoomAcrossReplicas: two api replicas hand out places in one
// arrival order and let buyers in no faster than the sale's rate between
// them; once the sale is sold out, joining and asking again answer 409.
func TestWaitingRoomAcrossReplicas(t *testing.T) {
	for _, kind := range []string{"redis", "cluster"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind)
			s.startWorker()
			const rate, buyers, stock = 4, 12, 10
			sale := s.createAdmissionSale(t, stock, httpapi.AdmissionJSON{RatePerSecond: rate})
			replicas := []string{s.public.URL, s.replica(t).URL}

			// Joins alternate between the replicas, one after another:
			// places follow them, whichever replica answered.
			start := time.Now()
			type buyer struct {
				token, queue, ticket string
				admitted             time.Duration
			}
			bs := make([]buyer, buyers)
			for i := range bs {
				bs[i].token = s.token(t, int64(100+i))
				r := admit(t, replicas[i%2], sale, bs[i].token, map[string]string{})
				switch r.status {
				case http.StatusOK:
					bs[i].ticket, bs[i].admitted = r.str("ticket"), time.Since(start)
					if i >= rate+1 {
						t.Fatalf("buyer %d let in at once, beyond the room's burst of %d", i+1, rate)
					}
				case http.StatusAccepted:
					if r.num("position") != int64(i+1) {
						t.Fatalf("buyer %d (replica %d) got place %d", i+1, i%2, r.num("position"))
					}
					if r.num("ahead") >= int64(i+1) || r.num("retry_after_ms") <= 0 || r.header.Get("Retry-After") == "" {
						t.Fatalf("buyer %d waiting: %s", i+1, r.raw)
					}
					bs[i].queue = r.str("queue_token")
				default:
					t.Fatalf("join %d: %d %s", i+1, r.status, r.raw)
				}
			}
			// Everyone asks again, through the other replica, until let in.
			deadline := time.Now().Add(time.Minute)
			for waiting := true; waiting; {
				waiting = false
				for i := range bs {
					if bs[i].ticket != "" {
						continue
					}
					r := admit(t, replicas[(i+1)%2], sale, bs[i].token, map[string]string{"queue_token": bs[i].queue})
					switch r.status {
					case http.StatusOK:
						bs[i].ticket, bs[i].admitted = r.str("ticket"), time.Since(start)
					case http.StatusAccepted:
						bs[i].queue, waiting = r.str("queue_token"), true
					default:
						t.Fatalf("poll of buyer %d: %d %s", i+1, r.status, r.raw)
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("buyers still waiting after a minute")
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Let in in arrival order, never faster than the rate: by the
			// time buyer i is seen in, at most rate + rate×t places can
			// have been let in, so buyer i (place i+1) waited at least
			// (i+1-rate)/rate seconds.
			for i, b := range bs {
				if least := time.Duration(float64(i+1-rate) / rate * float64(time.Second)); b.admitted < least-100*time.Millisecond {
					t.Errorf("buyer %d (place %d) let in after %v, sooner than %v at %d/s", i+1, i+1, b.admitted, least, rate)
				}
			}
			// The tickets buy; the sale sells out on the tenth.
			for i, b := range bs[:stock] {
				if r := buyWith(t, replicas[i%2], sale, b.token, b.ticket); r.status != http.StatusAccepted {
					t.Fatalf("purchase %d with its ticket: %d %s", i+1, r.status, r.raw)
				}
			}
			late := s.token(t, 999)
			for _, pub := range replicas {
				if r := admit(t, pub, sale, late, map[string]string{}); r.status != http.StatusConflict || r.errorCode() != "sold_out" {
					t.Fatalf("joining a sold-out sale: %d %s", r.status, r.raw)
				}
				if r := admit(t, pub, sale, bs[stock].token, map[string]string{"queue_token": bs[stock].queue}); r.status != http.StatusConflict || r.errorCode() != "sold_out" {
					t.Fatalf("asking again in a sold-out sale: %d %s", r.status, r.raw)
				}
			}
			if rec := s.drained(t, sale); rec.Persisted != stock || rec.Gap != 0 {
				t.Fatalf("reconcile: %+v", rec)
			}
		})
	}
}
