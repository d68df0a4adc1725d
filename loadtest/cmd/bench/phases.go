package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// loop runs a closed loop of the configured shape with shot, sampling the
// api and the worker from its start until stopSampling is called, and
// reading the CPU time of every process over its measured window.
func (b *bench) loop(ctx context.Context, shot load.Shot, onMeasure func()) (load.LoopResult, *sampler, *cpuMeter) {
	m := newCPUMeter(b.procFS, b.phaseGroups())
	cl := load.ClosedLoop{
		Workers: b.o.connections, Warmup: b.o.warmup, Duration: b.o.duration,
		Timeout: requestTimeout, Shot: endOnExhaustion(shot, m), OnMeasure: onMeasure,
	}
	start := time.Now()
	s := startSampler(ctx, b.ops, b.procFS, start, sampleEvery, b.apiWatch, b.workerWatch)
	m.arm(b.o.warmup, b.o.duration)
	res := cl.Run(ctx)
	m.end()
	// The sampler's clock, the meter's and the loop's start within
	// microseconds.
	return res, s, m
}

// endOnExhaustion ends m's window when shot first has nothing left to
// send, where the phase's measured window ends too.
func endOnExhaustion(shot load.Shot, m *cpuMeter) load.Shot {
	return func(ctx context.Context, w int, c *http.Client) (load.Reply, bool) {
		r, more := shot(ctx, w, c)
		if !more {
			m.end()
		}
		return r, more
	}
}

// cpuOf is the CPU of m's window per unit of work complete in it (units
// replies or orders, as per says); nil, with a note, when it could not be
// read.
func (b *bench) cpuOf(label string, m *cpuMeter, units int64, per string) *cpuUsage {
	w, err := m.window()
	if err != nil {
		b.note("%s: CPU per %s not measured: %v", label, per, err)
		return nil
	}
	u := usageOfWindow(w, units, per)
	b.logf("  CPU: machine busy %s, %s per %s", fmtPct(u.BusyFraction), fmtMicros(u.Machine.MicrosPerUnit, u.Units), per)
	return &u
}

// phaseOf summarises a closed loop as a phase. The window ends early when
// the tokens ran out.
func (b *bench) phaseOf(name, target, expect string, want load.Outcome, res load.LoopResult, samples []sample) (phase, bool) {
	from, to := b.o.warmup, b.o.warmup+b.o.duration
	short := false
	if res.Exhausted > 0 && res.Exhausted < to {
		to, short = max(res.Exhausted, from), true
	}
	st := load.Measure(res.Records, from, to, want)
	var all load.Counters
	for _, r := range res.Records {
		all.Add(r.Outcome)
	}
	ph := phase{
		Name: name, Target: target, Expect: expect,
		Requests: st.Requests, RPS: st.RPS, Latency: st.Latency.MS(), Errors: st.Errors,
		Counts: st.Counts, Total: all.Snapshot(), Window: (to - from).Seconds(),
		Timeline: timelineOf(load.PerSecond(res.Records, from, to, want)),
		APIs:     apiUsages(samples, to, len(b.apis)),
		Workers:  workerUsages(samples, to, len(b.workers)),
	}
	return ph, short
}

// helloPhase measures the baseline under name.
func (b *bench) helloPhase(ctx context.Context, name string) (phase, error) {
	b.logf("phase %s: %d connections, %s + %s", name, b.o.connections, b.o.warmup, b.o.duration)
	// The same Authorization header as a purchase, so requests are the same size.
	tok, err := load.Signer{Secret: b.secret, TTL: time.Hour}.Token(ctx, 1)
	if err != nil {
		return phase{}, err
	}
	shot := func(ctx context.Context, _ int, c *http.Client) (load.Reply, bool) {
		return load.PostBearer(ctx, c, b.helloURL, tok), true
	}
	res, s, m := b.loop(ctx, shot, nil)
	samples, serr := s.finish()
	if ctx.Err() != nil {
		return phase{}, ctx.Err()
	}
	ph, _ := b.phaseOf(name, "gin, POST /hello", "202", load.Accepted, res, samples)
	b.addCheck(name+": no errors", ph.Total.Accepted == ph.Total.Total(), "%s", countsDetail(ph.Total))
	b.logf("  %s req/s, p50 %s, p99 %s", fmtInt(ph.RPS), fmtMS(ph.Latency.P50), fmtMS(ph.Latency.P99))
	ph.CPU = b.cpuOf(name, m, ph.Requests, "reply")
	b.rep.Phases = append(b.rep.Phases, ph)
	if ph.RPS <= 0 {
		return ph, fmt.Errorf("%s answered nothing", name)
	}
	b.samplingFailed(name, serr)
	return ph, nil
}

// mintTokens signs one token per user for the purchase phases: enough for
// every request at the hello-world rate, times the margin.
func (b *bench) mintTokens(ctx context.Context, helloRPS float64) ([]string, error) {
	o := b.o
	n := int(math.Ceil(helloRPS * (o.warmup + o.duration).Seconds() * o.tokenMargin))
	n = min(max(n, int(o.soldOutStock)+1+o.connections*10), o.maxTokens)
	if len(b.tokens) >= n {
		// An earlier setup's users: their purchases were of other sales.
		b.rep.Settings.Tokens = n
		return b.tokens[:n], nil
	}
	t0 := time.Now()
	b.logf("minting %s user tokens (hello-world req/s × %s × %g)", fmtInt(float64(n)), o.warmup+o.duration, o.tokenMargin)
	toks, err := load.PrepareTokens(ctx, load.Signer{Secret: b.secret, TTL: 2 * time.Hour}, 1, n, max(2, b.rep.Machine.CPUs))
	if err != nil {
		return nil, fmt.Errorf("mint tokens: %w", err)
	}
	b.rep.Settings.Tokens = len(toks)
	b.tokens = toks
	b.logf("  %s tokens in %s", fmtInt(float64(len(toks))), time.Since(t0).Round(time.Millisecond))
	return toks, nil
}

// tokenShot hands each request the next token, user after user, to POST
// one of urls: worker w always to urls[w mod len(urls)], so the
// connections spread evenly over them. It reports no more once every
// token was used.
func tokenShot(urls []string, tokens []string, next *atomic.Int64) load.Shot {
	return func(ctx context.Context, w int, c *http.Client) (load.Reply, bool) {
		i := next.Add(1) - 1
		if i >= int64(len(tokens)) {
			return load.Reply{}, false
		}
		return load.PostBearer(ctx, c, urls[w%len(urls)], tokens[i]), true
	}
}

// purchaseURLs are the sale's purchase route on every api.
func (b *bench) purchaseURLs(saleID int64) []string {
	out := make([]string, len(b.publics))
	for i, p := range b.publics {
		out[i] = p + "/api/v1/sales/" + strconv.FormatInt(saleID, 10) + "/orders"
	}
	return out
}

func (b *bench) newSale(ctx context.Context, name string, stock int64) (load.Sale, error) {
	now := time.Now().UTC()
	s, err := b.client.CreateSale(ctx, load.NewSale{
		Name: name, PriceCents: 100, TotalStock: stock,
		StartsAt: now.Add(-time.Minute), EndsAt: now.Add(2 * time.Hour), PaymentWindowSeconds: 900,
	})
	if err != nil {
		return s, fmt.Errorf("create sale %q: %w", name, err)
	}
	return s, nil
}

// contendedPhase: every request a distinct user buying one unit of a sale
// larger than the phase; then the wait for MySQL.
func (b *bench) contendedPhase(ctx context.Context, tokens []string) error {
	o := b.o
	sale, err := b.newSale(ctx, "bench contended", o.stock)
	if err != nil {
		return err
	}
	before, err := b.client.Reconcile(ctx, sale.ID)
	if err != nil {
		return err
	}
	apiBefore, err := b.apiCounters(ctx, apiFlowRefs)
	if err != nil {
		return err
	}
	insertedBefore, err := b.workerCounts(ctx, refInserted)
	if err != nil {
		return err
	}
	b.logf("phase contended: sale %d of %s units, distinct users", sale.ID, fmtInt(float64(o.stock)))
	var next atomic.Int64
	var profiles sync.WaitGroup
	if o.profile {
		b.note("CPU profiles of the api and the workers were taken during the contended phase's measured window, " +
			"and of the api during the sold-out phase's; the profiler's own cost is in those phases' figures")
	}
	onMeasure := func() {
		if o.profile {
			profiles.Go(func() { b.profile(ctx, replicaName("api", 0, len(b.apis)), phaseContended, b.client.Admin) })
			// Every worker: the one holding the sale's partition is not
			// known in advance.
			for i, admin := range b.workerAdmins {
				profiles.Go(func() { b.profile(ctx, replicaName("worker", i, len(b.workerAdmins)), phaseContended, admin) })
			}
		}
	}
	res, s, m := b.loop(ctx, tokenShot(b.purchaseURLs(sale.ID), tokens, &next), onMeasure)
	loopEnd := time.Since(res.Start)
	profiles.Wait()
	if ctx.Err() != nil {
		_, _ = s.finish()
		return ctx.Err()
	}
	ph, short := b.phaseOf(phaseContended, "distinct users", "202", load.Accepted, res, nil)
	if short {
		b.note("the contended phase ran out of tokens after %s of its %s window: its req/s covers %s; raise -token-margin",
			fmtSeconds(ph.Window), o.duration, fmtSeconds(ph.Window))
	}
	b.logf("  %s req/s, p50 %s, p99 %s; waiting for %s orders to reach MySQL",
		fmtInt(ph.RPS), fmtMS(ph.Latency.P50), fmtMS(ph.Latency.P99), fmtInt(float64(ph.Total.Accepted)))
	ph.CPU = b.cpuOf(phaseContended, m, ph.Requests, "reply")

	// End to end: first request → the last accepted order's row.
	e := &endToEnd{Accepted: ph.Total.Accepted}
	rows, cerr := b.waitRows(ctx, []int64{sale.ID}, ph.Total.Accepted, res.Start)
	drained, persisted := rows.Done, rows.Count
	e.Persisted = persisted
	if drained {
		e.setLastRow(rows.Last, res.Records)
	}
	samples, serr := s.finish()
	ph.APIs = apiUsages(samples, loopEnd, len(b.apis))
	ph.Workers = workerUsages(samples, loopEnd, len(b.workers))
	if after, err := b.workerCounts(ctx, refInserted); err == nil {
		e.WorkerInserted = insertedSince(insertedBefore, after)
	}
	e.Timeline = flowTimeline(res.Records, samples)
	e.setClientMean(res.Records)
	if apiAfter, err := b.apiCounters(ctx, apiFlowRefs); err == nil {
		e.setAPIFlow(apiBefore, apiAfter)
	}
	b.rep.Phases = append(b.rep.Phases, ph)
	b.rep.EndToEnd = e
	if drained {
		b.logf("  last row after %s (%s after the last 202): %s orders persisted/s; %.1f orders per confirmed message",
			fmtSeconds(e.LastRowSeconds), fmtSeconds(e.LagSeconds), fmtInt(e.PersistedPerSec), e.OrdersPerMessage)
	}

	b.saleChecks(ctx, "contended", sale.ID, o.stock, before, ph.Total, load.Accepted)
	if !drained {
		b.addCheck("contended: every accepted order in MySQL", false,
			"%d rows of %d accepted after %s", persisted, e.Accepted, o.drainTimeout)
	}
	if ph.Total.SoldOut > 0 {
		b.note("the contended sale sold out (%d × 409 sold_out): raise -stock above the requests of the phase", ph.Total.SoldOut)
	}
	b.samplingFailed(phaseContended, serr)
	return cerr
}

// flowTimeline is accepted and persisted orders per second since the first
// request: 202s from the records, inserts from the worker's samples.
func flowTimeline(recs []load.Record, samples []sample) []flowPoint {
	var end time.Duration
	for _, r := range recs {
		end = max(end, r.At)
	}
	if len(samples) > 0 {
		end = max(end, samples[len(samples)-1].At)
	}
	if end <= 0 {
		return nil
	}
	buckets := load.PerSecond(recs, 0, end, load.Accepted)
	out := make([]flowPoint, len(buckets))
	for i, bk := range buckets {
		out[i] = flowPoint{T: bk.Start.Seconds(), Width: bk.Width.Seconds(), AcceptedPerS: float64(bk.Requests-bk.Errors) / bk.Width.Seconds()}
	}
	// Inserts between consecutive samples, as a rate in the second the
	// interval starts in.
	for i := 1; i < len(samples); i++ {
		dt := (samples[i].At - samples[i-1].At).Seconds()
		k := int(samples[i-1].At / time.Second)
		if dt <= 0 || k >= len(out) {
			continue
		}
		v := (samples[i].Inserted - samples[i-1].Inserted) / dt
		out[k].PersistPerS = &v
	}
	return out
}

// soldOutPhase buys a small sale out, then hammers it with distinct users.
func (b *bench) soldOutPhase(ctx context.Context, tokens []string) error {
	o := b.o
	sale, err := b.newSale(ctx, "bench sold-out", o.soldOutStock)
	if err != nil {
		return err
	}
	before, err := b.client.Reconcile(ctx, sale.ID)
	if err != nil {
		return err
	}
	b.logf("phase sold-out: sale %d bought out by %d users, then distinct users", sale.ID, o.soldOutStock)
	var setup load.Counters
	// Users 1..stock buy it out; the next one is told sold_out by the stock
	// backend, which raises the local sold-out flag.
	for i := range int(o.soldOutStock) + 1 {
		r := b.client.Purchase(ctx, sale.ID, tokens[i])
		setup.Add(r.Outcome())
	}
	if got := setup.Snapshot(); got.Accepted != o.soldOutStock || got.SoldOut != 1 {
		b.addCheck("sold-out: buy-out", false, "%d units, replies %s", o.soldOutStock, countsDetail(got))
		return fmt.Errorf("buying out the sold-out sale: %s", countsDetail(got))
	}
	var next atomic.Int64
	next.Store(o.soldOutStock + 1)
	var profiles sync.WaitGroup
	var onMeasure func()
	if o.profile {
		onMeasure = func() {
			profiles.Go(func() { b.profile(ctx, replicaName("api", 0, len(b.apis)), phaseSoldOut, b.client.Admin) })
		}
	}
	res, s, m := b.loop(ctx, tokenShot(b.purchaseURLs(sale.ID), tokens, &next), onMeasure)
	profiles.Wait()
	samples, serr := s.finish()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ph, short := b.phaseOf(phaseSoldOut, "distinct users", "409 sold_out",
		load.SoldOut, res, samples)
	if short {
		b.note("the sold-out phase ran out of tokens after %s of its %s window: its req/s covers %s; raise -token-margin",
			fmtSeconds(ph.Window), o.duration, fmtSeconds(ph.Window))
	}
	b.logf("  %s req/s, p50 %s, p99 %s", fmtInt(ph.RPS), fmtMS(ph.Latency.P50), fmtMS(ph.Latency.P99))
	ph.CPU = b.cpuOf(phaseSoldOut, m, ph.Requests, "reply")
	b.rep.Phases = append(b.rep.Phases, ph)
	all := ph.Total
	su := setup.Snapshot()
	all.Accepted += su.Accepted
	all.SoldOut += su.SoldOut
	b.saleChecks(ctx, "sold-out", sale.ID, o.soldOutStock, before, all, load.SoldOut)
	b.samplingFailed(phaseSoldOut, serr)
	return nil
}

// samplingFailed notes that memory or goroutines could not always be read
// during a phase: those figures have gaps, the measurement stands.
func (b *bench) samplingFailed(phase string, err error) {
	if err != nil {
		b.note("%s: memory and goroutine figures may have gaps: %v", phase, err)
	}
}

// profile saves a CPU profile and a profile of the allocations of the
// binary whose admin listener is at admin, both over the same seconds
// from now, to <dir>/<name>-<phase>.cpu.pprof and .allocs.pprof.
func (b *bench) profile(ctx context.Context, name, phase, admin string) {
	secs := strconv.Itoa(min(profileSeconds, max(1, int(b.o.duration/time.Second))))
	var wg sync.WaitGroup
	for kind, suffix := range map[string]string{"profile": ".cpu.pprof", "allocs": ".allocs.pprof"} {
		wg.Go(func() {
			path := filepath.Join(b.setupDir, name+"-"+phase+suffix)
			if err := b.saveProfile(ctx, admin+"/debug/pprof/"+kind+"?seconds="+secs, path); err != nil {
				b.note("%s %s profile: %v", name, kind, err)
				return
			}
			b.mu.Lock()
			b.rep.Profiles = append(b.rep.Profiles, path)
			b.mu.Unlock()
		})
	}
	wg.Wait()
}

// saveProfile writes the profile url answers to path.
func (b *bench) saveProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := b.ops.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %s", url, res.StatusCode, bytes.TrimSpace(body))
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, body, 0o644)
}
