package load

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/seckill/seckill/internal/admission"
)

// Entry is one buyer's way through a sale's admission: what it asked,
// what it solved, how long it waited and how it ended.
type Entry struct {
	Challenged bool          // a challenge was handed out
	Solved     bool          // its proof was found
	SolveCPU   time.Duration // CPU time finding it took
	Joined     bool          // the join was answered 200 or 202
	JoinedAt   time.Time     // when the join was sent
	Polls      int           // asks again with a queue token
	// Ticket is the ticket the buyer got, TicketExpires when the api says
	// it expires, TicketAt when its answer arrived and TicketLatency how
	// long that request took; the api issued the ticket within
	// TicketLatency before TicketAt.
	Ticket        string
	TicketExpires time.Time
	TicketAt      time.Time
	TicketLatency time.Duration
	// End is the reply that sent the buyer away without a ticket (a 403, a
	// 409 sold_out, a 5xx, a transport error); zero otherwise.
	End Reply
	// GaveUp is true when the wait bound passed before a ticket came.
	GaveUp bool
}

// InRoom is how long the buyer waited: from sending the join to the
// ticket; 0 without one.
func (e Entry) InRoom() time.Duration {
	if e.Ticket == "" {
		return 0
	}
	return e.TicketAt.Sub(e.JoinedAt)
}

// Enter takes the holder of token through a sale's admission, as a buyer
// does: a challenge and its proof when pow is set, a join, then, while the
// answer is 202, a wait of retry_after_ms and a poll with the queue token,
// until a ticket or a refusal. Requests run under ctx; wait bounds the
// waiting and the solving, and when it ends the buyer gives up.
func (c *Client) Enter(ctx, wait context.Context, saleID int64, token string, pow bool, s *Solver) Entry {
	var e Entry
	var challenge, nonce string
	if pow {
		ch, r := c.Challenge(ctx, saleID, token)
		if r.Err != nil || r.Status != http.StatusOK {
			e.End = r
			return e
		}
		e.Challenged = true
		n, cpu, err := s.Solve(wait, ch.Challenge, ch.Bits)
		if err != nil {
			e.GaveUp = true
			return e
		}
		e.Solved, e.SolveCPU = true, cpu
		challenge, nonce = ch.Challenge, n
	}
	e.JoinedAt = time.Now()
	a := c.Join(ctx, saleID, token, challenge, nonce)
	for {
		switch {
		case a.Err == nil && a.Status == http.StatusOK:
			e.Joined = true
			e.Ticket, e.TicketExpires = a.Ticket.Ticket, a.Ticket.ExpiresAt
			e.TicketAt, e.TicketLatency = time.Now(), a.Latency
			return e
		case a.Err == nil && a.Status == http.StatusAccepted:
			e.Joined = true
		default:
			e.End = a.Reply
			return e
		}
		t := time.NewTimer(time.Duration(a.Waiting.RetryAfterMs) * time.Millisecond)
		select {
		case <-wait.Done():
			t.Stop()
			e.GaveUp = true
			return e
		case <-t.C:
		}
		e.Polls++
		a = c.Poll(ctx, saleID, token, a.Waiting.QueueToken)
	}
}

// Solver finds proofs of work, at most a given number at once: each holds
// an OS thread for as long as it hashes.
type Solver struct {
	slots chan struct{}
}

// NewSolver returns a solver running up to n proofs at once (at least 1);
// n = GOMAXPROCS keeps every core busy and no more.
func NewSolver(n int) *Solver {
	return &Solver{slots: make(chan struct{}, max(n, 1))}
}

// Solve finds the nonce that proves bits of work on challenge
// (admission.Solve) and the CPU time the search took on its thread. It
// gives up, with ctx's error, if ctx ends before a slot is free.
func (s *Solver) Solve(ctx context.Context, challenge string, bits int) (string, time.Duration, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return "", 0, ctx.Err()
	}
	defer func() { <-s.slots }()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	nonce := admission.Solve(challenge, bits)
	return nonce, threadCPU() - start, nil
}
