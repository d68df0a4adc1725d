// Package admission is the door in front of a sale. A sale may let buyers
// in through a waiting room (a place per buyer in arrival order, let in at
// the sale's rate, on every replica alike) and ask a proof of work per try
// (a hashcash-style puzzle on a signed challenge). Either way a purchase
// then needs a ticket: a short-lived token signed with a key every replica
// shares, checked without a round trip.
//
// Gate is the use case the HTTP edge drives; Room, the waiting room's
// shared state, is implemented on Redis (stock.Room). It imports the
// domain (order) and nothing of the adapters.
package admission

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/seckill/seckill/internal/order"
)

// How long what the gate hands out stays good.
const (
	// ChallengeTTL: a challenge must be solved and sent within it.
	ChallengeTTL = 2 * time.Minute
	// TicketTTL: a ticket must be used within it.
	TicketTTL = 2 * time.Minute
	// QueueTokenTTL: a waiting buyer must poll within it; every poll
	// hands out a fresh token.
	QueueTokenTTL = 10 * time.Minute
	// maxRetryAfter bounds the wait the gate tells a buyer, so a long
	// queue still polls (and renews its token) now and then.
	maxRetryAfter = 30 * time.Second
	minRetryAfter = 50 * time.Millisecond
	// policyTTL is how long a sale's admission setting is remembered for
	// purchases; the setting is fixed when the sale is created.
	policyTTL = 30 * time.Second
)

// ErrSpent is a Room's answer to a join that spends a challenge spent
// before.
var ErrSpent = errors.New("challenge spent already")

// Sales reads a sale with its live status.
type Sales interface {
	// Sale errors: order.ErrSaleNotFound, order.ErrUnavailable.
	Sale(ctx context.Context, id int64) (order.SaleView, error)
}

// Room is the waiting rooms' shared state, one room per sale.
type Room interface {
	// Join gives a buyer a place in a sale's room: the place the buyer
	// holds already, or the next one; then lets in whoever's turn has
	// come. With Rate 0 there is no room and the buyer is let in at once.
	// Errors: ErrSpent.
	Join(ctx context.Context, j Join) (Place, error)
	// Poll lets in whoever's turn has come and tells where position
	// stands.
	Poll(ctx context.Context, saleID, rate, position int64, keep time.Duration) (Place, error)
}

// Join is one buyer's join of a sale's room.
type Join struct {
	SaleID, UserID int64
	// Rate is the room's rate per second; 0 lets the buyer in at once.
	Rate int64
	// Spend, when set, is a challenge id the join spends, remembered for
	// SpendFor: a second join spending it fails with ErrSpent.
	Spend    string
	SpendFor time.Duration
	// Keep is how long the room outlives this join.
	Keep time.Duration
}

// Place is where a buyer stands in a room.
type Place struct {
	// Position is the buyer's place, from 1; 0 when there is no room.
	Position int64
	// Admitted is how many places have been let in; the buyer is in once
	// Position <= Admitted.
	Admitted int64
	// Last is the last place handed out, so Last - Admitted wait.
	Last int64
	// Credit is the room's unspent admissions in thousandths: the next
	// place is let in when it reaches 1000.
	Credit int64
}

// In tells whether the place has been let in.
func (p Place) In() bool { return p.Position <= p.Admitted }

// Gate hands out challenges, admits buyers and checks their tickets.
type Gate struct {
	sign     signer
	sales    Sales
	room     Room
	now      func() time.Time
	policies *lru.Cache[int64, policy]
}

// policy is a sale's admission setting as the purchase check remembers it.
type policy struct {
	admission order.Admission
	read      time.Time
}

// Option configures a Gate.
type Option func(*Gate)

// WithClock sets the clock, for tests.
func WithClock(now func() time.Time) Option { return func(g *Gate) { g.now = now } }

// New builds a gate whose tokens are signed with a key derived from secret
// (every replica must share it), over the sales and the room.
func New(secret []byte, sales Sales, room Room, opts ...Option) *Gate {
	// The settings of the most recently bought sales; a miss costs one
	// sale read.
	policies, _ := lru.New[int64, policy](4096)
	g := &Gate{sign: newSigner(secret), sales: sales, room: room, now: time.Now, policies: policies}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Challenge is a puzzle handed to a buyer: find a nonce such that
// SHA-256(Token + ":" + nonce) begins with Bits zero bits.
type Challenge struct {
	Token     string
	Bits      int
	ExpiresAt time.Time
}

// Challenge hands userID a challenge for saleID, while the sale is active
// and asks for a proof of work.
func (g *Gate) Challenge(ctx context.Context, saleID, userID int64) (Challenge, error) {
	v, err := g.open(ctx, saleID)
	if err != nil {
		return Challenge{}, err
	}
	if v.Admission.PowBits == 0 {
		return Challenge{}, order.Invalid("this sale asks for no proof of work")
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Challenge{}, fmt.Errorf("challenge id: %w", err)
	}
	exp := g.now().Add(ChallengeTTL).Truncate(time.Second)
	t := token{kind: kindChallenge, sale: saleID, user: userID, field: base64.RawURLEncoding.EncodeToString(id[:]), expires: exp}
	return Challenge{Token: g.sign.sign(t), Bits: v.Admission.PowBits, ExpiresAt: exp}, nil
}

// Request is a buyer's try to get in: a solved challenge (Challenge and
// Nonce, when the sale asks for a proof of work), nothing (a room
// without proof of work), or a queue token to ask again.
type Request struct {
	Challenge, Nonce, QueueToken string
}

// Result is the answer to a Request: a ticket, or a place to wait in.
type Result struct {
	// Ticket, when set, lets the buyer buy until ExpiresAt.
	Ticket    string
	ExpiresAt time.Time
	// While waiting: the buyer's place, how many wait ahead, when to ask
	// again and the token to ask with.
	Position, Ahead int64
	RetryAfter      time.Duration
	QueueToken      string
	// Joined is true for a join (not a poll); Waiting is the room's queue
	// after this request.
	Joined  bool
	Waiting int64
}

// Admit checks a buyer's request and lets the buyer in, or in line.
func (g *Gate) Admit(ctx context.Context, saleID, userID int64, req Request) (Result, error) {
	v, err := g.open(ctx, saleID)
	if err != nil {
		return Result{}, err
	}
	a := v.Admission
	if !a.On() {
		return Result{}, order.Invalid("this sale lets everyone in: buy without a ticket")
	}
	now := g.now()
	keep := max(v.EndsAt.Sub(now), 0) + time.Hour
	if req.QueueToken != "" {
		if req.Challenge != "" || req.Nonce != "" {
			return Result{}, order.Invalid("send a queue_token alone, or a challenge with its nonce")
		}
		t, err := g.sign.verify(req.QueueToken, kindQueue, "queue token", saleID, userID, now)
		if err != nil {
			return Result{}, err
		}
		pos, err := strconv.ParseInt(t.field, 10, 64)
		if err != nil || pos <= 0 {
			return Result{}, refused("queue token", "the queue token is not one this service issued")
		}
		p, err := g.room.Poll(ctx, saleID, a.RatePerSecond, pos, keep)
		if err != nil {
			return Result{}, fmt.Errorf("%w: waiting room: %w", order.ErrUnavailable, err)
		}
		return g.result(saleID, userID, a, p, now, false), nil
	}
	j := Join{SaleID: saleID, UserID: userID, Rate: a.RatePerSecond, Keep: keep}
	switch {
	case a.PowBits > 0:
		if req.Challenge == "" || req.Nonce == "" {
			return Result{}, order.Invalidf("this sale asks for a proof of work: send the challenge (POST /api/v1/sales/%d/challenge) and its nonce", saleID)
		}
		if !validNonce(req.Nonce) {
			return Result{}, order.Invalidf("nonce must be a decimal integer of 1 to %d digits", maxNonceLen)
		}
		t, err := g.sign.verify(req.Challenge, kindChallenge, "challenge", saleID, userID, now)
		if err != nil {
			return Result{}, err
		}
		if !Proven(req.Challenge, req.Nonce, a.PowBits) {
			return Result{}, refused("proof", "the nonce proves no work: SHA-256 of challenge:nonce must begin with %d zero bits", a.PowBits)
		}
		// Remembered past the challenge's expiry, so a replica whose
		// clock runs behind cannot take it twice.
		j.Spend, j.SpendFor = t.field, t.expires.Sub(now)+time.Minute
	case req.Challenge != "" || req.Nonce != "":
		return Result{}, order.Invalid("this sale asks for no proof of work: send {} to join its waiting room")
	}
	p, err := g.room.Join(ctx, j)
	switch {
	case errors.Is(err, ErrSpent):
		return Result{}, refused("challenge", "the challenge was used already: ask for a new one")
	case err != nil:
		return Result{}, fmt.Errorf("%w: waiting room: %w", order.ErrUnavailable, err)
	}
	return g.result(saleID, userID, a, p, now, true), nil
}

// result turns a place into a ticket, or into a place to wait in.
func (g *Gate) result(saleID, userID int64, a order.Admission, p Place, now time.Time, joined bool) Result {
	r := Result{Joined: joined, Waiting: max(p.Last-p.Admitted, 0)}
	if p.In() {
		r.ExpiresAt = now.Add(TicketTTL).Truncate(time.Second)
		r.Ticket = g.sign.sign(token{kind: kindTicket, sale: saleID, user: userID, expires: r.ExpiresAt})
		return r
	}
	r.Position, r.Ahead = p.Position, p.Position-p.Admitted-1
	// The credit the buyer's turn needs, at the room's rate.
	need := (p.Position-p.Admitted)*1000 - p.Credit
	wait := time.Duration((need+a.RatePerSecond-1)/a.RatePerSecond) * time.Millisecond
	r.RetryAfter = min(max(wait, minRetryAfter), maxRetryAfter)
	r.QueueToken = g.sign.sign(token{kind: kindQueue, sale: saleID, user: userID,
		field: strconv.FormatInt(p.Position, 10), expires: now.Add(QueueTokenTTL).Truncate(time.Second)})
	return r
}

// open reads a sale that is open for buyers now.
func (g *Gate) open(ctx context.Context, saleID int64) (order.SaleView, error) {
	v, err := g.sales.Sale(ctx, saleID)
	if err != nil {
		return order.SaleView{}, err
	}
	g.policies.Add(saleID, policy{admission: v.Admission, read: g.now()})
	switch v.Status {
	case order.SaleUpcoming:
		return order.SaleView{}, order.ErrNotStarted
	case order.SaleEnded:
		return order.SaleView{}, order.ErrEnded
	case order.SaleSoldOut:
		return order.SaleView{}, order.ErrSoldOut
	}
	return v, nil
}

// Check lets a purchase of saleID by userID through: at once when the sale
// has no admission, with a valid ticket when it has. Errors:
// order.ErrAdmissionRequired, order.ErrAdmissionInvalid, and the sale
// read's (order.ErrSaleNotFound).
func (g *Gate) Check(ctx context.Context, saleID, userID int64, ticket string) error {
	a, err := g.policy(ctx, saleID)
	if err != nil {
		return err
	}
	if !a.On() {
		return nil
	}
	if ticket == "" {
		return order.ErrAdmissionRequired
	}
	_, err = g.sign.verify(ticket, kindTicket, "ticket", saleID, userID, g.now())
	return err
}

// policy is saleID's admission setting, remembered for policyTTL.
func (g *Gate) policy(ctx context.Context, saleID int64) (order.Admission, error) {
	if p, ok := g.policies.Get(saleID); ok && g.now().Sub(p.read) < policyTTL {
		return p.admission, nil
	}
	v, err := g.sales.Sale(ctx, saleID)
	if err != nil {
		return order.Admission{}, err
	}
	g.policies.Add(saleID, policy{admission: v.Admission, read: g.now()})
	return v.Admission, nil
}
