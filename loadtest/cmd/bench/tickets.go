package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/loadtest/internal/load"
)

const (
	// ticketUsers bounds the users of the sold-out-with-tickets phase;
	// their requests cycle over them. A ticket is checked by its signature
	// alone, so the cost of a reply does not depend on how many there are.
	ticketUsers = 4096
	// ticketRate is the waiting room's rate of that sale: every user is
	// let in at once, so getting the tickets takes one request each.
	ticketRate = 1_000_000
	// ticketMargin is how long a ticket must still be good after the
	// phase's last request.
	ticketMargin = 5 * time.Second
)

// ticketed is a user with a ticket for a sale.
type ticketed struct {
	token, ticket string
}

// soldOutTicketsPhase is the sold-out phase with admission on: a sale
// behind a waiting room, bought out, then hammered with purchases that
// each carry a valid ticket, so every reply pays the ticket's check before
// the sold-out flag answers it. The tickets are taken before the buy-out,
// while the room still lets buyers in.
func (b *bench) soldOutTicketsPhase(ctx context.Context, tokens []string) error {
	o := b.o
	now := time.Now().UTC()
	sale, err := b.client.CreateSale(ctx, load.NewSale{
		Name: "bench sold-out with tickets", PriceCents: 100, TotalStock: o.soldOutStock,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(2 * time.Hour), PaymentWindowSeconds: 900,
		Admission: &httpapi.AdmissionJSON{RatePerSecond: ticketRate},
	})
	if err != nil {
		return fmt.Errorf("create sale %q: %w", "bench sold-out with tickets", err)
	}
	before, err := b.client.Reconcile(ctx, sale.ID)
	if err != nil {
		return err
	}
	n := min(len(tokens), int(o.soldOutStock)+1+ticketUsers)
	b.logf("phase %s: sale %d behind a waiting room; tickets for %d users, %d of them buy it out",
		phaseSoldOutTickets, sale.ID, n, o.soldOutStock)
	users, expires, err := b.takeTickets(ctx, sale.ID, tokens[:n])
	if err != nil {
		b.addCheck(phaseSoldOutTickets+": tickets", false, "%v", err)
		return err
	}
	if left := time.Until(expires) - ticketMargin; left < o.warmup+o.duration {
		b.note("%s: skipped: the tickets expire %s from now, before the phase's %s would end",
			phaseSoldOutTickets, left.Round(time.Second), o.warmup+o.duration)
		return nil
	}

	var setup load.Counters
	buyers, pool := users[:o.soldOutStock+1], users[o.soldOutStock+1:]
	for _, u := range buyers {
		setup.Add(b.client.PurchaseWithTicket(ctx, sale.ID, u.token, u.ticket).Outcome())
	}
	if got := setup.Snapshot(); got.Accepted != o.soldOutStock || got.SoldOut != 1 {
		b.addCheck(phaseSoldOutTickets+": buy-out", false, "%d units, replies %s", o.soldOutStock, countsDetail(got))
		return fmt.Errorf("buying out the sale with tickets: %s", countsDetail(got))
	}
	if len(pool) == 0 {
		pool = buyers // few tokens: the buyers' own repeats answer sold_out too
	}

	urls := b.purchaseURLs(sale.ID)
	var next atomic.Int64
	shot := func(ctx context.Context, w int, c *http.Client) (load.Reply, bool) {
		u := pool[(next.Add(1)-1)%int64(len(pool))]
		return load.PostTicket(ctx, c, urls[w%len(urls)], u.token, u.ticket), true
	}
	res, s, m := b.loop(ctx, shot, nil)
	samples, serr := s.finish()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ph, _ := b.phaseOf(phaseSoldOutTickets, fmt.Sprintf("%d ticketed users in turn", len(pool)), "409 sold_out",
		load.SoldOut, res, samples)
	b.logf("  %s req/s, p50 %s, p99 %s", fmtInt(ph.RPS), fmtMS(ph.Latency.P50), fmtMS(ph.Latency.P99))
	ph.CPU = b.cpuOf(phaseSoldOutTickets, m, ph.Requests, "reply")
	b.rep.Phases = append(b.rep.Phases, ph)
	b.rep.Settings.TicketUsers = len(pool)
	all := ph.Total
	su := setup.Snapshot()
	all.Accepted += su.Accepted
	all.SoldOut += su.SoldOut
	b.saleChecks(ctx, phaseSoldOutTickets, sale.ID, o.soldOutStock, before, all, load.SoldOut)
	b.samplingFailed(phaseSoldOutTickets, serr)
	return nil
}

// takeTickets walks every user through the sale's waiting room, a few at
// a time, and returns each with its ticket and the earliest expiry.
func (b *bench) takeTickets(ctx context.Context, saleID int64, tokens []string) ([]ticketed, time.Time, error) {
	const parallel = 16
	httpc := load.NewHTTPClient(parallel, requestTimeout)
	defer httpc.CloseIdleConnections()
	c := &load.Client{HTTP: httpc, Public: b.publics[0]}
	out := make([]ticketed, len(tokens))
	var (
		next    atomic.Int64
		mu      sync.Mutex
		expires time.Time
		failed  error
		wg      sync.WaitGroup
	)
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) || ctx.Err() != nil {
					return
				}
				e := c.Enter(ctx, ctx, saleID, tokens[i], false, nil)
				mu.Lock()
				switch {
				case e.Ticket == "" && failed == nil:
					failed = fmt.Errorf("user %d got no ticket: %w", i+1, endError(e.End))
				case e.Ticket != "":
					out[i] = ticketed{token: tokens[i], ticket: e.Ticket}
					if expires.IsZero() || e.TicketExpires.Before(expires) {
						expires = e.TicketExpires
					}
				}
				stop := failed != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	if failed == nil {
		failed = ctx.Err()
	}
	return out, expires, failed
}

// endError says why an admission ended without a ticket.
func endError(r load.Reply) error {
	if r.Err != nil {
		return r.Err
	}
	return fmt.Errorf("%d %s", r.Status, r.Code)
}
