package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

const (
	requestTimeout = 30 * time.Second       // bound of one HTTP request
	pollEvery      = 100 * time.Millisecond // reconcile polling while draining
	tokenTTLExtra  = 15 * time.Minute       // token lifetime beyond -duration
)

// run is the whole command: parse args, fire, report. Its error maps to the
// exit status (see load.ExitCode).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr, os.Getenv, time.Now())
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal stops the run gracefully; the next one has its
	// default effect.
	context.AfterFunc(ctx, stop)

	httpc := load.NewHTTPClient(o.concurrency, requestTimeout)
	defer httpc.CloseIdleConnections()
	s := &spike{
		o:    o,
		api:  &load.Client{HTTP: httpc, Public: o.target, Admin: o.admin, AdminToken: o.adminToken},
		out:  stdout,
		errw: stderr,
		tty:  load.IsTerminal(stderr),
	}
	return s.run(ctx)
}

// spike is one run against one sale.
type spike struct {
	o    options
	api  *load.Client
	out  io.Writer // summary
	errw io.Writer // progress
	tty  bool
}

func (s *spike) run(ctx context.Context) error {
	if s.o.admission && !s.o.saleSet {
		sale, err := s.openAdmissionSale(ctx)
		if err != nil {
			return notStarted(ctx, fmt.Errorf("open a sale with admission: %w%s", err, hint(err)))
		}
		s.o.sale = sale.ID
	}
	o := s.o
	sale, err := s.api.Sale(ctx, o.sale)
	if err != nil {
		return notStarted(ctx, fmt.Errorf("read sale %d: %w%s", o.sale, err, hint(err)))
	}
	fmt.Fprintf(s.out, "sale %d %q: %s, total_stock %d, remaining %d\n",
		sale.ID, sale.Name, sale.Status, sale.TotalStock, sale.Remaining)
	adm := sale.Admission
	if adm.RatePerSecond > 0 || adm.PowBits > 0 {
		fmt.Fprintf(s.out, "admission: rate_per_second %d, pow_bits %d\n", adm.RatePerSecond, adm.PowBits)
	}
	if o.admission && adm.RatePerSecond == 0 && adm.PowBits == 0 {
		return usage("sale %d has no admission: -admission needs a sale with a waiting room or a proof of work", o.sale)
	}

	before, err := s.api.Reconcile(ctx, o.sale)
	if err != nil {
		return notStarted(ctx, fmt.Errorf("reconcile sale %d: %w%s", o.sale, err, hint(err)))
	}
	if before.ReservedInFlight > 0 {
		fmt.Fprintf(s.errw, "waiting up to %s for %d reservations in flight from before to drain\n",
			o.drainTimeout, before.ReservedInFlight)
		var drained bool
		before, drained, err = s.api.WaitDrained(ctx, o.sale, o.drainTimeout, pollEvery)
		if err != nil {
			return notStarted(ctx, err)
		}
		if !drained {
			return usage("sale %d still has %d reservations in flight after %s; not starting",
				o.sale, before.ReservedInFlight, o.drainTimeout)
		}
	}
	fmt.Fprintf(s.out, "before: persisted %d, cancelled %d, reserved_in_flight %d, consistent %s\n",
		before.Persisted, before.Cancelled, before.ReservedInFlight, yesNo(before.Consistent))

	src, how := s.tokenSource()
	t0 := time.Now()
	tokens, err := load.PrepareTokens(ctx, src, o.userBase, o.users, o.concurrency)
	if err != nil {
		return notStarted(ctx, fmt.Errorf("prepare tokens: %w%s", err, hint(err)))
	}
	fmt.Fprintf(s.out, "tokens: %d (users %d to %d) %s in %s\n",
		len(tokens), o.userBase, o.userBase+int64(o.users)-1, how, round(time.Since(t0)))
	var fr fireResult
	if o.admission {
		fmt.Fprintf(s.out, "release: %d users at once, each through the admission then one purchase, %d connections, bound %s\n",
			len(tokens), min(o.concurrency, len(tokens)), o.duration)
		fr = s.fireAdmission(ctx, tokens, sale)
	} else {
		fmt.Fprintf(s.out, "release: %d users at once, one purchase each, %d connections, bound %s\n",
			len(tokens), min(o.concurrency, len(tokens)), o.duration)
		fr = s.fire(ctx, tokens, sale.Remaining)
	}

	rep := &report{
		Sale: saleInfo{ID: sale.ID, Name: sale.Name, Status: sale.Status, TotalStock: sale.TotalStock,
			RemainingAtStart: sale.Remaining, Admission: sale.Admission},
		Users: o.users, UserBase: o.userBase, Concurrency: o.concurrency, Tokens: how,
		Before: before,
		fire:   fr,
	}
	facts := load.Facts{RemainingAtStart: sale.Remaining, Before: before, Counts: fr.counts}
	if ctx.Err() == nil {
		fmt.Fprintf(s.errw, "draining: waiting up to %s for reserved_in_flight to reach 0\n", o.drainTimeout)
		t := time.Now()
		facts.After, facts.Drained, facts.AfterErr = s.api.WaitDrained(ctx, o.sale, o.drainTimeout, pollEvery)
		rep.DrainSeconds = time.Since(t).Seconds()
	}
	if ctx.Err() != nil {
		// Interrupted while firing or draining: read the state once,
		// without waiting for the drain.
		rep.Interrupted = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		facts.After, facts.AfterErr = s.api.Reconcile(rctx, o.sale)
		cancel()
		facts.Drained = facts.AfterErr == nil && facts.After.ReservedInFlight == 0
	}
	rep.complete(facts)

	rep.writeText(s.out)
	var errs []error
	if o.jsonPath != "" {
		if err := rep.writeJSON(o.jsonPath); err != nil {
			errs = append(errs, err)
		}
	}
	if failed := load.Failed(rep.Invariants); len(failed) > 0 {
		errs = append(errs, &load.InvariantError{Failed: failed})
	}
	if rep.Interrupted {
		errs = append(errs, errors.New("interrupted"))
	}
	return errors.Join(errs...)
}

// notStarted classifies an error before the release: a usage error (exit
// 2), unless the run was interrupted.
func notStarted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted before the start: %w", err)
	}
	return &load.UsageError{Err: err}
}

// hint suggests a fix for the errors a newcomer meets first.
func hint(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return " (is the api running? start one with: go run ./cmd/api)"
	case load.IsStatus(err, http.StatusUnauthorized):
		return " (the admin API wants -admin-token or SECKILL_ADMIN_TOKEN)"
	}
	return ""
}

// tokenSource picks local signing when a secret is known, else the admin
// API, and says which.
func (s *spike) tokenSource() (load.TokenSource, string) {
	ttl := s.o.duration + tokenTTLExtra
	if s.o.secret != "" {
		return load.Signer{Secret: []byte(s.o.secret), TTL: ttl}, "signed locally"
	}
	return load.AdminTokens{Client: s.api, TTL: ttl}, "from POST /admin/v1/tokens"
}

// fireResult is what the firing phase saw.
type fireResult struct {
	counts     load.Counts
	sent       int64
	elapsed    time.Duration // release → last reply
	latency    load.Latency
	firstSold  time.Duration // release → first 409 sold_out; 0: none
	stockGone  time.Duration // release → the 202 that used the last unit; 0: none
	detail     map[string]int64
	errSamples []string
	admission  *admissionResult // with -admission
}

// purchases records the purchase replies of a release; safe for
// concurrent use.
type purchases struct {
	remaining int64 // units at the start: the 202 of that number took the last
	counters  load.Counters
	tally     load.Tally
	firstSold load.Moment
	stockGone load.Moment
}

// note counts r, which was complete at since the release.
func (p *purchases) note(r load.Reply, at time.Duration) {
	o := r.Outcome()
	switch c := p.counters.Add(o); {
	case o == load.SoldOut:
		p.firstSold.Mark(at)
	case o == load.Accepted && c == p.remaining:
		p.stockGone.Mark(at)
	}
	p.tally.Note(r)
}

// result is what the release saw: sent purchases, the time from the
// release to the last reply, and the latencies of the complete replies.
func (p *purchases) result(sent int64, elapsed time.Duration, latencies []time.Duration) fireResult {
	fr := fireResult{
		counts:     p.counters.Snapshot(),
		sent:       sent,
		elapsed:    elapsed,
		latency:    load.Summarize(latencies),
		detail:     p.tally.Detail(),
		errSamples: p.tally.Errors(),
	}
	fr.firstSold, _ = p.firstSold.Get()
	fr.stockGone, _ = p.stockGone.Get()
	return fr
}

// fire releases every user at once: concurrency goroutines wait on a closed
// channel, then each takes the next user and sends its one purchase until
// every user has been sent, the duration bound passes or ctx ends. Requests
// in flight then finish: an abandoned request may still have bought a unit.
func (s *spike) fire(ctx context.Context, tokens []string, remaining int64) fireResult {
	n := len(tokens)
	workers := min(s.o.concurrency, n)
	var (
		got        = purchases{remaining: remaining}
		next       atomic.Int64
		releasedAt time.Time
		wg         sync.WaitGroup
	)
	release := make(chan struct{})
	bound, cancel := context.WithCancel(ctx) // cancelled -duration after the release
	defer cancel()
	inFlight := context.WithoutCancel(ctx) // bounded by the client's timeout
	lat := make([][]time.Duration, workers)
	for w := range workers {
		wg.Go(func() {
			<-release
			local := make([]time.Duration, 0, n/workers+1)
			for bound.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				r := s.api.Purchase(inFlight, s.o.sale, tokens[i])
				got.note(r, time.Since(releasedAt))
				if r.Err == nil {
					local = append(local, r.Latency)
				}
			}
			lat[w] = local
		})
	}

	releasedAt = time.Now()
	timer := time.AfterFunc(s.o.duration, cancel)
	defer timer.Stop()
	close(release)
	stopProgress := load.StartProgress(s.errw, s.tty, int64(n), &got.counters, releasedAt)
	wg.Wait()
	elapsed := time.Since(releasedAt)
	stopProgress()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return got.result(min(next.Load(), int64(n)), elapsed, all)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
