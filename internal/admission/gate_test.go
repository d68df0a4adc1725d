package admission_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
)

// sales is a fixed set of sales, read as the gate reads them.
type sales map[int64]order.SaleView

func (s sales) Sale(_ context.Context, id int64) (order.SaleView, error) {
	v, ok := s[id]
	if !ok {
		return order.SaleView{}, order.ErrSaleNotFound
	}
	return v, nil
}

// Sales of the tests, by id.
const (
	saleOpen     = 1 // no admission
	salePow      = 2 // proof of work only
	saleRoom     = 3 // waiting room only
	saleBoth     = 4 // both
	saleSoldOut  = 5
	saleUpcoming = 6
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newGate(tb testing.TB) (*admission.Gate, *clock) {
	tb.Helper()
	srv := miniredis.RunT(tb)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	tb.Cleanup(func() { _ = client.Close() })
	c := &clock{t: time.Now()}
	view := func(id int64, a order.Admission, st order.SaleStatus) order.SaleView {
		return order.SaleView{Sale: order.Sale{ID: id, EndsAt: c.t.Add(time.Hour), Admission: a}, Status: st}
	}
	s := sales{
		saleOpen:     view(saleOpen, order.Admission{}, order.SaleActive),
		salePow:      view(salePow, order.Admission{PowBits: 8}, order.SaleActive),
		saleRoom:     view(saleRoom, order.Admission{RatePerSecond: 2}, order.SaleActive),
		saleBoth:     view(saleBoth, order.Admission{RatePerSecond: 1, PowBits: 4}, order.SaleActive),
		saleSoldOut:  view(saleSoldOut, order.Admission{RatePerSecond: 5, PowBits: 4}, order.SaleSoldOut),
		saleUpcoming: view(saleUpcoming, order.Admission{PowBits: 4}, order.SaleUpcoming),
	}
	return admission.New([]byte("a secret of the tests, 32 bytes long"), s, stock.NewRoom(client, "sk"), admission.WithClock(c.now)), c
}

func solved(tb testing.TB, g *admission.Gate, sale, user int64) admission.Request {
	tb.Helper()
	ch, err := g.Challenge(context.Background(), sale, user)
	if err != nil {
		tb.Fatalf("Challenge(%d, %d): %v", sale, user, err)
	}
	return admission.Request{Challenge: ch.Token, Nonce: admission.Solve(ch.Token, ch.Bits)}
}

func TestChallenge(t *testing.T) {
	g, c := newGate(t)
	ctx := context.Background()
	ch, err := g.Challenge(ctx, salePow, 9)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Bits != 8 || ch.ExpiresAt.After(c.t.Add(2*time.Minute)) || !ch.ExpiresAt.After(c.t) {
		t.Fatalf("challenge %+v: want 8 bits, expiring within 2 minutes", ch)
	}
	for _, tc := range []struct {
		sale int64
		want error
	}{
		{saleOpen, order.ErrInvalid},
		{saleRoom, order.ErrInvalid},
		{saleSoldOut, order.ErrSoldOut},
		{saleUpcoming, order.ErrNotStarted},
		{99, order.ErrSaleNotFound},
	} {
		if _, err := g.Challenge(ctx, tc.sale, 9); !errors.Is(err, tc.want) {
			t.Errorf("Challenge(sale %d) = %v, want %v", tc.sale, err, tc.want)
		}
	}
}

// TestProofAdmitsOnce: a solved challenge buys one ticket, for its user and
// sale only, before it expires.
func TestProofAdmitsOnce(t *testing.T) {
	g, c := newGate(t)
	ctx := context.Background()
	req := solved(t, g, salePow, 9)
	r, err := g.Admit(ctx, salePow, 9, req)
	if err != nil || r.Ticket == "" {
		t.Fatalf("Admit with a proof: %+v, %v", r, err)
	}
	if err := g.Check(ctx, salePow, 9, r.Ticket); err != nil {
		t.Fatalf("Check of the ticket: %v", err)
	}
	if _, err := g.Admit(ctx, salePow, 9, req); !errors.Is(err, order.ErrAdmissionInvalid) {
		t.Fatalf("the same challenge again: %v, want ErrAdmissionInvalid", err)
	}

	wrong := solved(t, g, salePow, 9)
	for wrong.Nonce = "0"; admission.Proven(wrong.Challenge, wrong.Nonce, 8); wrong.Nonce += "1" {
	}
	other := solved(t, g, salePow, 10)
	expired := solved(t, g, salePow, 9)
	cases := []struct {
		name string
		user int64
		req  admission.Request
		want error
	}{
		{"no nonce", 9, admission.Request{Challenge: req.Challenge}, order.ErrInvalid},
		{"nonce not decimal", 9, admission.Request{Challenge: req.Challenge, Nonce: "12a"}, order.ErrInvalid},
		{"nonce too long", 9, admission.Request{Challenge: req.Challenge, Nonce: strings.Repeat("1", 21)}, order.ErrInvalid},
		{"no proof", 9, wrong, order.ErrAdmissionInvalid},
		{"another user's challenge", 9, other, order.ErrAdmissionInvalid},
		{"forged challenge", 9, admission.Request{Challenge: strings.Replace(other.Challenge, ".10.", ".9.", 1), Nonce: other.Nonce}, order.ErrAdmissionInvalid},
		{"garbage", 9, admission.Request{Challenge: "x.y", Nonce: "1"}, order.ErrAdmissionInvalid},
	}
	for _, tc := range cases {
		if _, err := g.Admit(ctx, salePow, tc.user, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := g.Admit(ctx, saleBoth, 10, other); !errors.Is(err, order.ErrAdmissionInvalid) {
		t.Errorf("another sale's challenge: %v", err)
	}
	c.t = c.t.Add(admission.ChallengeTTL + time.Second)
	if _, err := g.Admit(ctx, salePow, 9, expired); !errors.Is(err, order.ErrAdmissionInvalid) {
		t.Errorf("an expired challenge: %v", err)
	}
}

// TestTicketChecks: purchases of a sale with admission need a valid ticket
// of their own user and sale; a sale without admission needs none.
func TestTicketChecks(t *testing.T) {
	g, c := newGate(t)
	ctx := context.Background()
	r, err := g.Admit(ctx, salePow, 9, solved(t, g, salePow, 9))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		sale   int64
		user   int64
		ticket string
		want   error
	}{
		{"open sale", saleOpen, 9, "", nil},
		{"own ticket", salePow, 9, r.Ticket, nil},
		{"no ticket", salePow, 9, "", order.ErrAdmissionRequired},
		{"another user", salePow, 10, r.Ticket, order.ErrAdmissionInvalid},
		{"another sale", saleRoom, 9, r.Ticket, order.ErrAdmissionInvalid},
		{"forged", salePow, 9, r.Ticket[:len(r.Ticket)-2] + "AA", order.ErrAdmissionInvalid},
		{"unknown sale", 99, 9, r.Ticket, order.ErrSaleNotFound},
	} {
		if err := g.Check(ctx, tc.sale, tc.user, tc.ticket); !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
			t.Errorf("%s: Check = %v, want %v", tc.name, err, tc.want)
		}
	}
	c.t = c.t.Add(admission.TicketTTL)
	if err := g.Check(ctx, salePow, 9, r.Ticket); !errors.Is(err, order.ErrAdmissionInvalid) {
		t.Errorf("expired ticket: %v", err)
	}
}

// TestRoomQueueTokens: a full room answers a place and a queue token; the
// token polls until the turn comes, and only for its user and sale.
func TestRoomQueueTokens(t *testing.T) {
	g, _ := newGate(t)
	ctx := context.Background()
	var waiting admission.Result
	for user := int64(1); user <= 3; user++ {
		r, err := g.Admit(ctx, saleRoom, user, admission.Request{})
		if err != nil {
			t.Fatal(err)
		}
		waiting = r
	}
	if waiting.Ticket != "" || waiting.Position != 3 || waiting.Ahead != 0 || waiting.QueueToken == "" ||
		waiting.RetryAfter <= 0 || waiting.RetryAfter > time.Second {
		t.Fatalf("third buyer in a room of 2/s: %+v, want place 3, none ahead, retry within 1s", waiting)
	}
	if _, err := g.Admit(ctx, saleRoom, 4, admission.Request{QueueToken: waiting.QueueToken}); !errors.Is(err, order.ErrAdmissionInvalid) {
		t.Fatalf("another user's queue token: %v", err)
	}
	if _, err := g.Admit(ctx, saleRoom, 3, admission.Request{QueueToken: waiting.QueueToken, Nonce: "1"}); !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("queue token with a nonce: %v", err)
	}
	if _, err := g.Admit(ctx, saleRoom, 3, admission.Request{Challenge: "c", Nonce: "1"}); !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("a proof for a room without proof of work: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		r, err := g.Admit(ctx, saleRoom, 3, admission.Request{QueueToken: waiting.QueueToken})
		if err != nil {
			t.Fatal(err)
		}
		if r.Ticket != "" {
			if err := g.Check(ctx, saleRoom, 3, r.Ticket); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after 3 s in a room of 2/s: %+v", r)
		}
		time.Sleep(r.RetryAfter)
	}
	if _, err := g.Admit(ctx, saleSoldOut, 3, admission.Request{}); !errors.Is(err, order.ErrSoldOut) {
		t.Fatalf("joining a sold-out sale: %v", err)
	}
	if _, err := g.Admit(ctx, saleOpen, 3, admission.Request{}); !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("joining a sale without admission: %v", err)
	}
}

func TestSolveProves(t *testing.T) {
	for _, bits := range []int{0, 1, 8, 12} {
		n := admission.Solve("c1.1.2.abc.99.mac", bits)
		if !admission.Proven("c1.1.2.abc.99.mac", n, bits) {
			t.Errorf("Solve(%d bits) = %s, not proven", bits, n)
		}
	}
	// SHA-256("abc:0") begins with 0x5f: one zero bit, not two.
	if !admission.Proven("abc", "0", 1) || admission.Proven("abc", "0", 2) {
		t.Error(`Proven("abc", "0") counts leading zero bits wrongly`)
	}
}
