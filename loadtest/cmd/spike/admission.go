package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/loadtest/internal/load"
)

// openAdmissionSale opens the sale of an -admission run without -sale:
// -stock units, on sale from a minute ago for the run and its drain, with
// -admission-rate and -pow-bits.
func (s *spike) openAdmissionSale(ctx context.Context) (load.Sale, error) {
	now := time.Now().UTC()
	return s.api.CreateSale(ctx, load.NewSale{
		Name: "spike admission", PriceCents: 100, TotalStock: s.o.stock,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(s.o.duration + s.o.drainTimeout + time.Hour),
		PaymentWindowSeconds: httpapi.DefaultPaymentWindowSeconds,
		Admission:            &httpapi.AdmissionJSON{RatePerSecond: s.o.admissionRate, PowBits: s.o.powBits},
	})
}

// fireAdmission releases every user at once, each on a goroutine of its
// own as a crowd at a door: it walks the sale's admission (load.Enter)
// and, with a ticket, sends its one purchase carrying it. The -duration
// bound ends the waiting and the solving: who has no ticket then gives up.
// Requests in flight finish.
func (s *spike) fireAdmission(ctx context.Context, tokens []string, sale load.Sale) fireResult {
	n := len(tokens)
	pow := sale.Admission.PowBits > 0
	solver := load.NewSolver(runtime.GOMAXPROCS(0))
	var (
		got        = purchases{remaining: sale.Remaining}
		progress   load.Counters // every buyer's last answer
		releasedAt time.Time
		wg         sync.WaitGroup
	)
	entries := make([]load.Entry, n)
	latency := make([]time.Duration, n) // of the purchase; -1: none complete
	release := make(chan struct{})
	bound, cancel := context.WithCancel(ctx)
	defer cancel()
	inFlight := context.WithoutCancel(ctx)
	for i := range n {
		wg.Go(func() {
			<-release
			latency[i] = -1
			e := s.api.Enter(inFlight, bound, sale.ID, tokens[i], pow, solver)
			entries[i] = e
			if e.Ticket == "" {
				if !e.GaveUp {
					progress.Add(e.End.Outcome())
				}
				return
			}
			r := s.api.PurchaseWithTicket(inFlight, sale.ID, tokens[i], e.Ticket)
			got.note(r, time.Since(releasedAt))
			progress.Add(r.Outcome())
			if r.Err == nil {
				latency[i] = r.Latency
			}
		})
	}

	releasedAt = time.Now()
	timer := time.AfterFunc(s.o.duration, cancel)
	defer timer.Stop()
	close(release)
	stopProgress := load.StartProgress(s.errw, s.tty, int64(n), &progress, releasedAt)
	wg.Wait()
	elapsed := time.Since(releasedAt)
	stopProgress()

	var lat []time.Duration
	for _, l := range latency {
		if l >= 0 {
			lat = append(lat, l)
		}
	}
	fr := got.result(got.counters.Total(), elapsed, lat)
	fr.admission = summarizeAdmission(sale.Admission, entries, releasedAt)
	return fr
}

// admissionResult is what the buyers met at the door.
type admissionResult struct {
	RatePerSecond int64 `json:"rate_per_second"`
	PowBits       int   `json:"pow_bits"`
	Buyers        int64 `json:"buyers"`
	Challenges    int64 `json:"challenges"`
	Solved        int64 `json:"proofs_solved"`
	// SolveCPUSeconds is the CPU time the load generator spent finding the
	// proofs, on the threads that hashed.
	SolveCPUSeconds float64        `json:"solve_cpu_seconds"`
	Joins           int64          `json:"joins"`
	Polls           int64          `json:"polls"`
	Tickets         int64          `json:"tickets"`
	InRoomMS        load.LatencyMS `json:"in_room_ms"` // from the join to the ticket
	// Ends are the answers that sent buyers away without a ticket, Detail
	// the unusual ones by "status code".
	Ends   load.Counts      `json:"ends"`
	Detail map[string]int64 `json:"detail,omitempty"`
	GaveUp int64            `json:"gave_up"` // still waiting when the -duration bound passed
	// TicketTimesMS are when the tickets arrived, since the release;
	// TicketLatencyMaxMS is the longest request that brought one (the api
	// issued each ticket within it before it arrived).
	TicketTimesMS      []float64 `json:"ticket_times_ms"`
	TicketLatencyMaxMS float64   `json:"ticket_latency_max_ms"`
	Busiest            *burst    `json:"busiest_window,omitempty"`

	inRoom   load.Latency
	solveCPU time.Duration
	errs     []string
}

// burst is a load.Burst in the report's units.
type burst struct {
	FromMS  float64 `json:"from_ms"`
	WidthMS float64 `json:"width_ms"`
	Tickets int     `json:"tickets"`
	// Allowed is what the rate lets in over the window: rate × width +
	// rate, plus rate × the longest ticket request for the client's view.
	Allowed float64 `json:"allowed"`
}

func summarizeAdmission(a httpapi.AdmissionJSON, entries []load.Entry, released time.Time) *admissionResult {
	r := &admissionResult{RatePerSecond: a.RatePerSecond, PowBits: a.PowBits, Buyers: int64(len(entries))}
	var ends load.Counters
	var tally load.Tally
	var inRoom, at []time.Duration
	var slowest time.Duration
	for _, e := range entries {
		r.Challenges += b2i(e.Challenged)
		r.Solved += b2i(e.Solved)
		r.solveCPU += e.SolveCPU
		r.Joins += b2i(e.Joined)
		r.Polls += int64(e.Polls)
		r.GaveUp += b2i(e.GaveUp)
		switch {
		case e.Ticket != "":
			r.Tickets++
			inRoom = append(inRoom, e.InRoom())
			at = append(at, e.TicketAt.Sub(released))
			slowest = max(slowest, e.TicketLatency)
		case !e.GaveUp:
			ends.Add(e.End.Outcome())
			tally.Note(e.End)
		}
	}
	r.SolveCPUSeconds = r.solveCPU.Seconds()
	r.inRoom = load.Summarize(inRoom)
	r.InRoomMS = r.inRoom.MS()
	r.Ends, r.Detail, r.errs = ends.Snapshot(), tally.Detail(), tally.Errors()
	r.TicketLatencyMaxMS = ms(slowest)
	r.TicketTimesMS = make([]float64, len(at))
	if a.RatePerSecond > 0 && len(at) > 0 {
		rate := float64(a.RatePerSecond)
		b := load.BusiestWindow(at, rate) // sorts at
		r.Busiest = &burst{FromMS: ms(b.From), WidthMS: ms(b.Width), Tickets: b.Count,
			Allowed: rate*(b.Width+slowest).Seconds() + rate}
	}
	for i, d := range at {
		r.TicketTimesMS[i] = ms(d)
	}
	return r
}

// refused is how many buyers the door answered 403.
func (r *admissionResult) refused() int64 { return r.countStatus("403 ") }

func (r *admissionResult) countStatus(prefix string) int64 {
	var n int64
	for k, v := range r.Detail {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// checks are the invariants of the door: every purchase carried a ticket
// the api took, the door gave no server error and refused no buyer that
// followed the protocol, and it let buyers in no faster than its rate.
func (r *admissionResult) checks(purchases load.Counts, purchaseDetail map[string]int64) []load.Check {
	var out []load.Check
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, load.Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	refusedTickets := purchaseDetail["403 "+httpapi.CodeAdmissionReq] + purchaseDetail["403 "+httpapi.CodeAdmissionInvalid]
	add("every purchase carried a ticket", purchases.Total() <= r.Tickets && refusedTickets == 0,
		"%d purchases, %d tickets; %d purchases refused 403 admission_*", purchases.Total(), r.Tickets, refusedTickets)
	e := r.Ends
	add("door: no 5xx or transport error", e.ServerError == 0 && e.TransportError == 0,
		"%d 5xx, %d transport errors", e.ServerError, e.TransportError)
	add("door: only waiting-room answers", e.OtherClient == 0 && e.OtherStatus == 0,
		"%d refused 403, %d other 4xx, %d other statuses", r.refused(), e.OtherClient-r.refused(), e.OtherStatus)
	if b := r.Busiest; b != nil {
		add("admitted no faster than the rate", float64(b.Tickets) <= b.Allowed,
			"busiest: %d tickets in %.0fms from %.0fms; %d/s allows %.1f (rate × width + rate, + rate × %.0fms the slowest ticket reply took)",
			b.Tickets, b.WidthMS, b.FromMS, r.RatePerSecond, b.Allowed, r.TicketLatencyMaxMS)
	}
	return out
}

// writeText prints the door's figures.
func (r *admissionResult) writeText(w io.Writer, row func(label, format string, args ...any)) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "admission (rate_per_second %d, pow_bits %d)\n", r.RatePerSecond, r.PowBits)
	row("buyers", "%d", r.Buyers)
	if r.PowBits > 0 {
		row("challenges", "%d", r.Challenges)
		mean := time.Duration(0)
		if r.Solved > 0 {
			mean = r.solveCPU / time.Duration(r.Solved)
		}
		row("proofs solved", "%d (CPU %s, %s each)", r.Solved, round(r.solveCPU), round(mean))
	}
	row("joins", "%d", r.Joins)
	row("polls", "%d", r.Polls)
	row("tickets", "%d", r.Tickets)
	row("time in the room p50", "%s", round(r.inRoom.P50))
	row("time in the room p99", "%s", round(r.inRoom.P99))
	row("time in the room max", "%s", round(r.inRoom.Max))
	row("403 refused", "%d", r.refused())
	row("409 sold_out", "%d", r.Ends.SoldOut)
	if r.Ends.RateLimited > 0 {
		row("429 rate_limited", "%d", r.Ends.RateLimited)
	}
	if other := r.Ends.OtherClient - r.refused() + r.Ends.ServerError + r.Ends.OtherStatus; other > 0 {
		row("other answers", "%d%s", other, detailList(r.Detail, "403 "))
	}
	if len(r.errs) > 0 {
		row("transport errors", "%d (first: %s)", r.Ends.TransportError, r.errs[0])
	}
	if r.GaveUp > 0 {
		row("gave up", "%d (still waiting at the -duration bound)", r.GaveUp)
	}
}

// detailList lists the detail counts but those starting with skip.
func detailList(detail map[string]int64, skip string) string {
	var parts []string
	for k, v := range detail {
		if !strings.HasPrefix(k, skip) {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	slices.Sort(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
