package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

// scenario is one fault and how it is injected.
type scenario struct {
	name string
	// deadWant is how many dead letters the fault itself causes.
	deadWant int
	// inject runs the scenario's spike(s) with the fault, and has undone
	// the fault (restarted what it killed, restored what it changed) when
	// it returns.
	inject func(ctx context.Context, s *suite, st *state) error
	// skip, when set, says why the scenario cannot run on this run's
	// servers ("" when it can).
	skip func(s *suite) string
	// check, when set, holds the settled sale to the scenario's own
	// promises and returns every violation.
	check func(st *state, o observation) []string
}

// state is what one scenario collects while it runs.
type state struct {
	sale      int64
	nextUser  int64
	accepted  []accepted
	faultErrs []string
	notes     []string
	start     time.Time
}

func (st *state) note(format string, args ...any) {
	st.notes = append(st.notes, fmt.Sprintf("%5.1fs  ", time.Since(st.start).Seconds())+fmt.Sprintf(format, args...))
}

func (st *state) faultErr(err error) {
	if err != nil {
		st.faultErrs = append(st.faultErrs, "fault: "+err.Error())
	}
}

// scenarios are every scenario, in the order they run.
func scenarios() []scenario {
	return []scenario{
		{name: "api-kill", inject: injectAPIKill},
		{name: "api-kill-mid-publish", inject: injectAPIKillMidPublish},
		{name: "worker-kill", inject: injectWorkerKill},
		{name: "broker-block", inject: injectBrokerBlock},
		{name: "broker-disconnect", inject: injectBrokerDisconnect},
		{name: "redis-loss", inject: injectRedisLoss},
		{name: "redis-failover", inject: injectRedisFailover, skip: needsCluster},
		{name: "replicas", inject: injectReplicas, check: checkReplicas},
		{name: "mysql-refuse", inject: injectMySQLRefuse},
		{name: "poison", deadWant: 1, inject: injectPoison},
		{name: "events-relay-crash", inject: injectEventsRelayCrash},
	}
}

// pick returns the scenarios whose name matches re.
func pick(re *regexp.Regexp) []scenario {
	var out []scenario
	for _, sc := range scenarios() {
		if re == nil || re.MatchString(sc.name) {
			out = append(out, sc)
		}
	}
	return out
}

// scenario runs one scenario on a sale of its own and checks it.
func (s *suite) scenario(ctx context.Context, sc scenario) result {
	r := result{name: sc.name}
	if sc.skip != nil {
		if why := sc.skip(s); why != "" {
			r.skipped = why
			return r
		}
	}
	if err := s.cl.ensureUp(ctx); err != nil {
		r.err = err
		return r
	}
	deadBefore, err := s.deadCount(ctx)
	if err != nil {
		r.err = err
		return r
	}
	sale, err := s.admin[0].createSale(ctx, "chaos "+sc.name, s.sz.stock)
	if err != nil {
		r.err = err
		return r
	}
	st := &state{sale: sale, nextUser: 1, start: time.Now()}
	s.logf("%s: sale %d of %d units", sc.name, sale, s.sz.stock)
	st.faultErr(sc.inject(ctx, s, st))
	if ctx.Err() != nil {
		r.err, r.notes = ctx.Err(), st.notes
		return r
	}
	crashed, err := s.cl.crashed(ctx)
	st.faultErr(err)
	if err := s.cl.ensureUp(ctx); err != nil {
		st.faultErr(err)
	}

	// Wait for the sale to settle, then look at it from outside.
	s.logf("%s: %d accepted, waiting up to %s for the sale to settle", sc.name, len(st.accepted), s.o.settleAfter+settleMargin)
	from := time.Now()
	deadline := from.Add(s.o.settleAfter + settleMargin)
	var obs observation
	for {
		obs = s.observe(ctx, st, deadBefore, sc.deadWant)
		if obs.settled || !time.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollEvery):
		}
	}
	obs.settleTime = time.Since(from)
	obs.crashed = crashed
	obs.faultErrs = st.faultErrs
	r.t, r.dead, r.settle, r.settled = obs.tally(), obs.dead, obs.settleTime, obs.settled
	r.failures, r.notes = obs.failures(), st.notes
	if sc.check != nil {
		r.failures = append(r.failures, sc.check(st, obs)...)
	}
	if ctx.Err() != nil {
		r.err = ctx.Err()
	}
	return r
}

// observe reads the sale's orders, reconciliation and dead letters.
func (s *suite) observe(ctx context.Context, st *state, deadBefore, deadWant int) observation {
	o := observation{
		totalStock: s.sz.stock, accepted: st.accepted, bound: s.o.settleAfter + 5*time.Second, deadWant: deadWant,
	}
	// The orders are read between two reconciliations: when both agree,
	// nothing moved while MySQL was read.
	before, _ := s.reconcile(ctx, st.sale)
	rows, err := s.mysql.orders(ctx, st.sale)
	if err != nil {
		o.faultErrs = append(o.faultErrs, err.Error())
	}
	o.rows = rows
	rec, err := s.reconcile(ctx, st.sale)
	if err != nil {
		o.recErr = err.Error()
	}
	o.rec = rec
	stable := before != nil && rec != nil && sameCounts(*before, *rec)
	if n, err := s.deadCount(ctx); err == nil {
		o.dead = n - deadBefore
	}
	all := true
	for _, a := range st.accepted {
		if _, ok := rows[a.OrderNo]; !ok {
			all = false
			break
		}
	}
	o.settled = all && stable && rec != nil && rec.ReservedInFlight == 0 && rec.Consistent && rec.StockLoaded && o.dead >= deadWant
	return o
}

// reconcile reads the sale's reconciliation from api1, or api2 when api1
// does not answer.
func (s *suite) reconcile(ctx context.Context, sale int64) (*load.Reconcile, error) {
	rec, err := s.admin[0].reconcile(ctx, sale)
	if err != nil {
		rec, err = s.admin[1].reconcile(ctx, sale)
	}
	return rec, err
}

// deadCount is how many dead letters there are now.
func (s *suite) deadCount(ctx context.Context) (int, error) {
	if n, ok, err := s.admin[0].deadLetters(ctx); err == nil && ok {
		return n, nil
	}
	n, err := scratch.QueuesReady(s.o.amqpURL, scratch.Topology(s.queuePrefix).DeadQueue)
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// spikeWith releases users buyers of the sale over both apis and runs
// fault after faultAt; it returns what the clients saw when both are done.
func (s *suite) spikeWith(ctx context.Context, st *state, users int, faultAt time.Duration, fault func(ctx context.Context) error) spikeResult {
	first := st.nextUser
	st.nextUser += int64(users)
	done := make(chan spikeResult, 1)
	go func() {
		done <- s.spiker.run(ctx, s.cl.apis[:], st.sale, first, users, s.sz.rate)
	}()
	if fault != nil {
		// Just after a burst, while its purchases are in flight.
		faultAt = faultAt.Truncate(tick) + 5*time.Millisecond
		select {
		case <-ctx.Done():
		case <-time.After(faultAt):
			st.faultErr(fault(ctx))
		}
	}
	res := <-done
	st.accepted = append(st.accepted, res.accepted...)
	st.note("spike of %d buyers in %.1fs: %s", users, res.elapsed.Seconds(), countsText(res))
	return res
}

// spikeTime is how long a spike of the run's size takes.
func (s *suite) spikeTime(users int) time.Duration {
	return time.Duration(users) * time.Second / time.Duration(s.sz.rate)
}

func countsText(r spikeResult) string {
	c := r.counts
	parts := []string{fmt.Sprintf("%d accepted", c.Accepted), fmt.Sprintf("%d sold out", c.SoldOut)}
	if c.AlreadyPurchased > 0 {
		parts = append(parts, fmt.Sprintf("%d already purchased", c.AlreadyPurchased))
	}
	if c.TransportError > 0 {
		parts = append(parts, fmt.Sprintf("%d transport errors", c.TransportError))
	}
	keys := make([]string, 0, len(r.detail))
	for k := range r.detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", r.detail[k], k))
	}
	return strings.Join(parts, ", ")
}
