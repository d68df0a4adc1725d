package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/proc"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

const (
	readyTimeout   = 90 * time.Second
	requestTimeout = 30 * time.Second
	stopGrace      = 20 * time.Second
	sampleEvery    = time.Second
	countEvery     = 20 * time.Millisecond // MySQL polling while the contended orders land
	profileSeconds = 5
)

// run is the whole command: parse args, start the processes, measure,
// report, clean up. Its error maps to the exit status (see load.ExitCode).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.serveHello != "" {
		return serveHello(ctx, o.serveHello)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal ends the run and its cleanup follows; the next one
	// has its default effect.
	context.AfterFunc(ctx, stop)
	b := &bench{o: o, out: stdout, log: stderr}
	return b.run(ctx)
}

// bench is one run.
type bench struct {
	o   options
	out io.Writer // the table
	log io.Writer // progress

	dir         string // output directory
	setupDir    string // the current setup's logs, profiles and report: dir itself when there is one setup
	stockPrefix string
	setupPrefix string      // the current setup's stock prefix: stockPrefix itself when there is one setup
	prefixes    []runPrefix // every setup's, for the cleanup
	queuePrefix string
	secret      []byte
	cfg         config.API    // the api's configuration as the bench starts it
	wcfg        config.Worker // the worker's
	workerBin   string        // the worker's command …
	workerEnv   []string      // … and environment, the same at every start
	apiBin      string        // the api's command …
	apiEnv      []string      // … and environment, but for its Redis and listeners

	hello, worker *proc.Proc
	apis          []*proc.Proc // the current setup's replicas
	helloURL      string
	client        *load.Client // admin calls and setup purchases, through the first api
	publics       []string     // base URLs of the apis' public listeners
	admin         *http.Client // the client's connections
	ops           *http.Client // /metrics, pprof
	apiWatch      []watched
	wWatch        watched
	workerAdmin   string
	hz            float64     // clock ticks per second of /proc's CPU times
	servers       []procGroup // the local servers' processes, by command

	mu      sync.Mutex // guards rep's checks, notes and profiles
	rep     report     // the current setup's
	reports []report   // every setup's, in the order measured
	tokens  []string   // user tokens minted so far, user 1 first
}

func (b *bench) logf(format string, args ...any) { fmt.Fprintf(b.log, "bench: "+format+"\n", args...) }

func (b *bench) run(ctx context.Context) (err error) {
	o := b.o
	root, err := proc.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	b.dir = o.out
	if b.dir == "" {
		b.dir = filepath.Join(root, "loadtest", "results", now.Format("20060102-150405"))
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	b.rep.Machine = readMachine(ctx, root, now)
	b.logf("output in %s", b.dir)

	tmp, err := os.MkdirTemp("", "seckill-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	b.logf("building cmd/api and cmd/worker")
	apiBin, workerBin, err := proc.Build(ctx, root, tmp, b.log)
	if err != nil {
		return err
	}

	// Names of this run on the shared servers.
	b.stockPrefix = "skbench" + strconv.FormatInt(now.UnixNano(), 36)
	b.queuePrefix = b.stockPrefix + "."
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	b.secret = []byte(hex.EncodeToString(secret))

	if err := scratch.RecreateDB(ctx, o.mysqlServer, o.mysqlDB); err != nil {
		return err
	}
	defer b.cleanup()

	addrs, err := proc.FreeAddrs(ctx, 2)
	if err != nil {
		return err
	}
	helloAddr, workerAdmin := addrs[0], addrs[1]
	b.apiBin = apiBin
	b.apiEnv = []string{
		"SECKILL_AMQP_URL=" + o.amqpURL,
		"SECKILL_MYSQL_DSN=" + scratch.DSN(o.mysqlServer, o.mysqlDB),
		"SECKILL_QUEUE_PREFIX=" + b.queuePrefix,
		"SECKILL_JWT_SECRET=" + string(b.secret),
		"SECKILL_ADMIN_TOKEN=",
		"SECKILL_RATE_IP_RPS=0",
		"SECKILL_RATE_USER_RPS=1000000",
		"SECKILL_RATE_USER_BURST=1000000",
		"SECKILL_LOG_LEVEL=warn",
	}
	workerEnv := []string{
		"SECKILL_AMQP_URL=" + o.amqpURL,
		"SECKILL_MYSQL_DSN=" + scratch.DSN(o.mysqlServer, o.mysqlDB),
		"SECKILL_QUEUE_PREFIX=" + b.queuePrefix,
		"SECKILL_ADMIN_ADDR=" + workerAdmin,
		"SECKILL_LOG_LEVEL=warn",
	}
	// Tunables the engineer set in the environment (SECKILL_PUBLISH_BATCH,
	// SECKILL_WORKER_BATCH, …) pass through; read them as the binaries will.
	if b.cfg, b.wcfg, err = childConfigs(append(slices.Clone(b.apiEnv), "SECKILL_REDIS_URL="+o.redis[0].URL), workerEnv); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("own executable: %w", err)
	}
	b.logf("starting hello-world %s", helloAddr)
	if b.hello, err = proc.Start("hello", self, []string{"-serve-hello", helloAddr}, nil, filepath.Join(b.dir, "hello.log")); err != nil {
		return err
	}
	b.workerBin, b.workerEnv = workerBin, workerEnv

	b.ops = &http.Client{Timeout: 30 * time.Second}
	defer b.ops.CloseIdleConnections()
	b.admin = load.NewHTTPClient(4, requestTimeout)
	defer b.admin.CloseIdleConnections()
	b.helloURL = "http://" + helloAddr + "/hello"
	b.workerAdmin = "http://" + workerAdmin
	b.wWatch = watched{metrics: b.workerAdmin + "/metrics"}

	if err := proc.WaitHTTP(ctx, b.hello, readyTimeout, proc.ExpectStatus(b.ops, http.MethodPost, b.helloURL, http.StatusAccepted)); err != nil {
		return err
	}
	b.hz = clockTicks()

	setups := o.setups()
	var runErr error
	for _, s := range setups {
		// One setup is today's whole run, the raw-publish ceiling and the
		// worker alone included; a matrix measures the load phases of
		// each, which are what the apis and Redis change.
		if runErr = b.runSetup(ctx, s, len(setups) == 1); runErr != nil {
			break
		}
	}
	if ctx.Err() != nil {
		if runErr != nil && !errors.Is(runErr, context.Canceled) {
			return fmt.Errorf("interrupted: %w", runErr)
		}
		return errors.New("interrupted")
	}
	if werr := b.write(len(setups) > 1); werr != nil {
		return errors.Join(runErr, werr)
	}
	if runErr != nil {
		return runErr
	}
	var failed []load.Check
	for _, r := range b.reports {
		for _, c := range load.Failed(r.Invariants) {
			if len(b.reports) > 1 {
				c.Name = r.Setup.String() + ": " + c.Name
			}
			failed = append(failed, c)
		}
	}
	if len(failed) > 0 {
		return &load.InvariantError{Failed: failed}
	}
	return nil
}

// runSetup measures one setup into a report of its own: it starts the
// setup's apis, runs the load phases (and with full the raw-publish
// ceiling and the worker alone), stops the apis and keeps the report in
// b.reports, whatever happened.
func (b *bench) runSetup(ctx context.Context, s setup, full bool) error {
	o := b.o
	b.rep = report{Machine: b.rep.Machine, Setup: s, Settings: settings{
		Connections: o.connections, WarmupSeconds: o.warmup.Seconds(), DurationSeconds: o.duration.Seconds(),
		PublishBatch: b.cfg.PublishBatch, PublishInFlight: b.cfg.PublishInFlight,
		WorkerBatch: b.wcfg.BatchSize, WorkerPrefetch: b.wcfg.Prefetch,
		ContendedStock: o.stock, SoldOutStock: o.soldOutStock,
	}}
	b.setupDir, b.setupPrefix = b.dir, b.stockPrefix
	if !full {
		b.setupDir = filepath.Join(b.dir, s.Slug())
		b.setupPrefix = b.stockPrefix + "-" + s.Slug()
		b.logf("setup %s", s)
	}
	b.prefixes = append(b.prefixes, runPrefix{redis: s.Redis, prefix: b.setupPrefix})
	err := os.MkdirAll(b.setupDir, 0o755)
	if err == nil && len(b.reports) > 0 {
		// A database of its own, or the apis would find the earlier
		// setups' sales without stock in their Redis and rebuild it.
		err = scratch.RecreateDB(ctx, o.mysqlServer, o.mysqlDB)
	}
	if err == nil {
		err = b.startWorker("worker.log")
	}
	if err == nil {
		err = proc.WaitHTTP(ctx, b.worker, readyTimeout, proc.ExpectStatus(b.ops, http.MethodGet, b.workerAdmin+"/healthz", http.StatusOK))
	}
	if err == nil {
		err = b.startAPIs(ctx, s)
	}
	if err == nil {
		b.findServers(ctx, s.Redis)
		err = b.measure(ctx, full)
	}
	b.stopAPIs()
	if b.worker != nil {
		b.worker.Stop(stopGrace)
	}
	b.finish(err)
	b.reports = append(b.reports, b.rep)
	return err
}

// runPrefix is a stock prefix a setup used on a Redis.
type runPrefix struct {
	redis  redisTarget
	prefix string
}

// startWorker starts the worker with the run's command and environment
// and the setup's stock prefix, its output going to logName in the setup's
// directory, and watches the new process.
func (b *bench) startWorker(logName string) error {
	env := append(slices.Clone(b.workerEnv), "SECKILL_STOCK_PREFIX="+b.setupPrefix)
	p, err := proc.Start("worker", b.workerBin, nil, env, filepath.Join(b.setupDir, logName))
	if err != nil {
		return err
	}
	b.worker = p
	b.wWatch.pid = p.Pid()
	return nil
}

// childConfigs reads the api's and the worker's configuration from the
// environment they will get.
func childConfigs(apiEnv, workerEnv []string) (config.API, config.Worker, error) {
	envOf := func(extra []string) map[string]string {
		m := map[string]string{}
		for _, kv := range append(os.Environ(), extra...) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	var a config.API
	if err := env.ParseWithOptions(&a, env.Options{Environment: envOf(apiEnv)}); err != nil {
		return a, config.Worker{}, fmt.Errorf("api configuration: %w", err)
	}
	var w config.Worker
	if err := env.ParseWithOptions(&w, env.Options{Environment: envOf(workerEnv)}); err != nil {
		return a, w, fmt.Errorf("worker configuration: %w", err)
	}
	if w.Prefetch <= 0 {
		w.Prefetch = 2 * w.BatchSize // as config.LoadWorker does
	}
	return a, w, nil
}

// measure runs the phases in order: the load phases, and with full the
// raw-publish ceiling and the worker alone. The report holds whatever was
// measured when it returns an error.
func (b *bench) measure(ctx context.Context, full bool) error {
	hello, err := b.helloPhase(ctx, phaseHello)
	if err != nil {
		return err
	}
	tokens, err := b.mintTokens(ctx, hello.RPS)
	if err != nil {
		return err
	}
	if err := b.contendedPhase(ctx, tokens); err != nil {
		return err
	}
	if err := b.soldOutPhase(ctx, tokens); err != nil {
		return err
	}
	// The baseline again, so that drift of the machine over the purchase
	// phases is averaged out of their ratios.
	if _, err := b.helloPhase(ctx, phaseHelloEnd); err != nil {
		return err
	}
	if !full {
		return nil
	}
	if err := b.ceilingPhase(ctx); err != nil {
		return err
	}
	return b.drainPhase(ctx)
}

// finish derives the ratios and holds the figures against the targets.
func (b *bench) finish(runErr error) {
	if e := b.rep.EndToEnd; e != nil {
		e.Ratio = ratio(e.PersistedPerSec, e.CeilingPerSec)
	}
	if d := b.rep.Drain; d != nil {
		d.Ratio = ratio(d.PersistedPerSec, d.CeilingPerSec)
	}
	b.rep.setRatios()
	if bd, ok := b.rep.contendedBound(); ok {
		b.rep.Bound = &bd
	}
	b.rep.evaluateTargets()
	if runErr != nil {
		b.addCheck("run completed", false, "%v", runErr)
	}
	b.rep.OK = len(load.Failed(b.rep.Invariants)) == 0
}

// loop runs a closed loop of the configured shape with shot, sampling the
// api and the worker from its start until stopSampling is called, and
// reading the CPU time of every process over its measured window.
func (b *bench) loop(ctx context.Context, shot load.Shot, onMeasure func()) (load.LoopResult, *sampler, *cpuMeter) {
	m := newCPUMeter(b.phaseGroups(), b.hz)
	cl := load.ClosedLoop{
		Workers: b.o.connections, Warmup: b.o.warmup, Duration: b.o.duration,
		Timeout: requestTimeout, Shot: endOnExhaustion(shot, m), OnMeasure: onMeasure,
	}
	start := time.Now()
	s := startSampler(ctx, b.ops, start, sampleEvery, b.apiWatch, b.wWatch)
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

// findServers finds the local servers' processes whose CPU is reported,
// the processes of the Redis under test among them (every node of a
// cluster).
func (b *bench) findServers(ctx context.Context, r redisTarget) {
	b.servers = nil
	comms, err := readComms("/proc")
	if err != nil {
		b.note("the local servers' CPU is not reported: %v", err)
		return
	}
	pids, err := redisPids(ctx, r.URL)
	if err != nil {
		b.note("the processes of the Redis under test are unknown (%v): the redis-server row sums every redis-server on the machine", err)
	}
	b.servers = serverGroups(comms, pids)
}

// phaseGroups are the processes whose CPU a phase reports: the bench, its
// children (the apis summed as one) and the local servers.
func (b *bench) phaseGroups() []procGroup {
	apis := procGroup{Name: "api"}
	for _, p := range b.apis {
		apis.Pids = append(apis.Pids, p.Pid())
	}
	gs := []procGroup{
		{Name: "bench", Pids: []int{os.Getpid()}},
		{Name: b.hello.Name, Pids: []int{b.hello.Pid()}},
		apis,
		{Name: b.worker.Name, Pids: []int{b.worker.Pid()}},
	}
	return append(gs, b.servers...)
}

// ceilingGroups are the processes whose CPU a raw publish run reports: the
// bench, which publishes, and RabbitMQ.
func (b *bench) ceilingGroups() []procGroup {
	gs := []procGroup{{Name: "bench", Pids: []int{os.Getpid()}}}
	for _, g := range b.servers {
		if g.Name == "beam.smp" {
			gs = append(gs, g)
		}
	}
	return gs
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
		Requests: st.Requests, RPS: st.RPS, Latency: latencyOf(st.Latency), Errors: st.Errors,
		Counts: st.Counts, Total: all.Snapshot(), Window: (to - from).Seconds(),
		Timeline: timelineOf(load.PerSecond(res.Records, from, to, want)),
		APIs:     apiUsages(samples, to, len(b.apis)),
		Worker:   usageOf(samples, to, func(s sample) usage { return s.Worker }),
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
	confirmsBefore, err := b.apiCounter(ctx, seriesConfirms)
	if err != nil {
		return err
	}
	b.logf("phase contended: sale %d of %s units, distinct users", sale.ID, fmtInt(float64(o.stock)))
	var next atomic.Int64
	var profiles sync.WaitGroup
	if o.profile {
		b.note("CPU profiles of the api and the worker were taken during the contended phase's measured window, " +
			"and of the api during the sold-out phase's; the profiler's own cost is in those phases' figures")
	}
	onMeasure := func() {
		if o.profile {
			profiles.Go(func() { b.profile(ctx, apiName(0, len(b.apis)), phaseContended, b.client.Admin) })
			profiles.Go(func() { b.profile(ctx, "worker", phaseContended, b.workerAdmin) })
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
	rows, cerr := b.waitRows(ctx, sale.ID, ph.Total.Accepted, res.Start)
	drained, persisted := rows.Done, rows.Count
	e.Persisted = persisted
	if drained {
		e.setLastRow(rows.Last, res.Records)
	}
	samples, serr := s.finish()
	ph.APIs = apiUsages(samples, loopEnd, len(b.apis))
	ph.Worker = usageOf(samples, loopEnd, func(s sample) usage { return s.Worker })
	e.Timeline = flowTimeline(res.Records, samples)
	if confirmsAfter, err := b.apiCounter(ctx, seriesConfirms); err == nil {
		e.Messages = int64(confirmsAfter - confirmsBefore)
		e.OrdersPerMessage = ratio(float64(e.Accepted), float64(e.Messages))
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

// waitRows polls the sale's rows in MySQL every countEvery until there are
// want of them, -drain-timeout passes or the worker exits, and returns when
// (since start) rows were first seen and first complete.
func (b *bench) waitRows(ctx context.Context, saleID, want int64, start time.Time) (rowWait, error) {
	var w rowWait
	oc, err := openOrderCounter(b.o.mysqlServer, b.o.mysqlDB)
	if err != nil {
		return w, err
	}
	defer oc.close()
	deadline := time.Now().Add(b.o.drainTimeout)
	for {
		n, err := oc.count(ctx, saleID)
		at := time.Since(start)
		if err != nil {
			return w, err
		}
		if w.observe(at, n, want) || time.Now().After(deadline) {
			return w, nil
		}
		if gone, werr := b.worker.Exited(); gone {
			if werr == nil {
				werr = errors.New("exit status 0")
			}
			return w, fmt.Errorf("the worker exited with %d of %d rows in MySQL (%w); see %s", n, want, werr, b.worker.LogPath())
		}
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(countEvery):
		}
	}
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

// saleChecks reads the sale's reconciliation after its queue drained and
// adds its invariants under the label.
func (b *bench) saleChecks(ctx context.Context, label string, saleID, remainingAtStart int64, before load.Reconcile,
	counts load.Counts, want load.Outcome) {
	after, drained, err := b.client.WaitDrained(ctx, saleID, b.o.drainTimeout, 100*time.Millisecond)
	facts := load.Facts{RemainingAtStart: remainingAtStart, Before: before, Counts: counts, After: after, AfterErr: err, Drained: drained}
	for _, c := range load.Checks(facts) {
		b.addCheck(label+": "+c.Name, c.OK, "%s", c.Detail)
	}
	var unexpected int64
	switch want {
	case load.Accepted:
		unexpected = counts.Total() - counts.Accepted
	case load.SoldOut:
		unexpected = counts.Total() - counts.SoldOut - counts.Accepted // the buy-out's 202s are expected
	}
	b.addCheck(label+": every reply as expected", unexpected == 0, "%d unexpected: %s", unexpected, countsDetail(counts))
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
		onMeasure = func() { profiles.Go(func() { b.profile(ctx, apiName(0, len(b.apis)), phaseSoldOut, b.client.Admin) }) }
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

// ceilingPhase measures the raw confirmed publish: shaped as the api
// publishes (its average orders per message, its messages in flight) and,
// for reference, one order per message with one publisher per connection.
func (b *bench) ceilingPhase(ctx context.Context) error {
	o := b.o
	e := b.rep.EndToEnd
	batch, inFlight := 1, o.connections
	if e != nil && e.OrdersPerMessage > 0 {
		batch = max(1, int(math.Round(e.OrdersPerMessage)))
	}
	if b.cfg.PublishBatch > 1 {
		// The api's coalescer: at most PublishInFlight messages await a
		// confirm at once.
		inFlight = b.cfg.PublishInFlight
	}
	shapes := []struct{ batch, inFlight int }{{batch, inFlight}}
	if batch != 1 || inFlight != o.connections {
		shapes = append(shapes, struct{ batch, inFlight int }{1, o.connections})
	}
	top := newCeilingTopology(b.queuePrefix)
	for i, sh := range shapes {
		b.logf("raw confirmed publish: %d order(s)/message × %d in flight, %s + %s", sh.batch, sh.inFlight, o.warmup, o.duration)
		m := newCPUMeter(b.ceilingGroups(), b.hz)
		cl := ceilingLoad{URL: o.amqpURL, Topology: top, Batch: sh.batch, InFlight: sh.inFlight,
			Warmup: o.warmup, Duration: o.duration, SaleID: 1,
			OnStart: func() { m.arm(o.warmup, o.duration) }}
		res, err := cl.run(ctx)
		m.end()
		if err != nil {
			b.addCheck(fmt.Sprintf("ceiling %d×%d: publishes confirmed", sh.batch, sh.inFlight), false, "%v", err)
			return err
		}
		from, to := o.warmup, o.warmup+o.duration
		st := load.Measure(res.Records, from, to, load.Accepted)
		c := ceilingResult{
			Batch: sh.batch, InFlight: sh.inFlight, Messages: st.Counts.Accepted,
			MessagesPerS: float64(st.Counts.Accepted) / o.duration.Seconds(),
			ConfirmP50MS: ms(st.Latency.P50), ConfirmP99MS: ms(st.Latency.P99), Errors: st.Errors,
			MessageBytes: messageSize(sh.batch), ComparedToAPI: i == 0,
			Timeline: timelineOf(load.PerSecond(res.Records, from, to, load.Accepted)),
			Latency:  latencyOf(st.Latency),
		}
		c.OrdersPerS = c.MessagesPerS * float64(sh.batch)
		b.logf("  %s msg/s = %s orders/s, confirm p50 %s, p99 %s", fmtInt(c.MessagesPerS), fmtInt(c.OrdersPerS),
			fmtMS(c.ConfirmP50MS), fmtMS(c.ConfirmP99MS))
		c.CPU = b.cpuOf(fmt.Sprintf("ceiling %d×%d", sh.batch, sh.inFlight), m, c.Messages*int64(sh.batch), "order")
		b.rep.Ceilings = append(b.rep.Ceilings, c)
		var all load.Counters
		for _, r := range res.Records {
			all.Add(r.Outcome)
		}
		tot := all.Snapshot()
		b.addCheck(fmt.Sprintf("ceiling %d×%d: publishes confirmed", sh.batch, sh.inFlight), tot.Accepted == tot.Total(),
			"%d confirmed, %d nacked, %d failed", tot.Accepted, tot.ServerError, tot.TransportError)
		if i == 0 && e != nil {
			e.CeilingBatch, e.CeilingPerSec = sh.batch, c.OrdersPerS
		}
		// Empty the scratch queue between runs so each starts alike.
		if err := scratch.DeleteAMQP(o.amqpURL, []string{top.Queue}, nil); err != nil {
			return err
		}
	}
	return nil
}

// profile saves a CPU profile of the binary whose admin listener is at
// admin, taken now, to <dir>/<name>-contended.cpu.pprof.
func (b *bench) profile(ctx context.Context, name, phase, admin string) {
	secs := min(profileSeconds, max(1, int(b.o.duration/time.Second)))
	url := admin + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		b.note("%s profile: %v", name, err)
		return
	}
	res, err := b.ops.Do(req)
	if err != nil {
		b.note("%s profile: %v", name, err)
		return
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %s", url, res.StatusCode, bytes.TrimSpace(body))
	}
	if err != nil {
		b.note("%s profile: %v", name, err)
		return
	}
	path := filepath.Join(b.setupDir, name+"-"+phase+".cpu.pprof")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		b.note("%s profile: %v", name, err)
		return
	}
	b.mu.Lock()
	b.rep.Profiles = append(b.rep.Profiles, path)
	b.mu.Unlock()
}

// apiCounter reads one series from every api's /metrics and sums it.
func (b *bench) apiCounter(ctx context.Context, series string) (float64, error) {
	var sum float64
	for _, w := range b.apiWatch {
		s, err := scrape(ctx, b.ops, w.metrics)
		if err != nil {
			return 0, err
		}
		v, ok := metricValue(s, series)
		if !ok {
			return 0, fmt.Errorf("%s has no %s", w.metrics, series)
		}
		sum += v
	}
	return sum, nil
}

func (b *bench) addCheck(name string, ok bool, format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Invariants = append(b.rep.Invariants, load.Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (b *bench) note(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf(format, args...))
}

// countsDetail lists the non-zero counts, e.g. "202 ×100, 409 sold_out ×3".
func countsDetail(c load.Counts) string {
	var parts []string
	for _, x := range []struct {
		name string
		n    int64
	}{
		{"202", c.Accepted}, {"409 sold_out", c.SoldOut}, {"409 already_purchased", c.AlreadyPurchased},
		{"429", c.RateLimited}, {"other 4xx", c.OtherClient}, {"5xx", c.ServerError},
		{"transport error", c.TransportError}, {"other status", c.OtherStatus},
	} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", x.name, x.n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// write prints the report and writes bench.json, bench.md and bench.html:
// of the one setup into the output directory, or, for a matrix, of each
// setup into a directory of its own and the scaling-out summary with every
// setup's tables into the output directory.
func (b *bench) write(matrix bool) error {
	if !matrix {
		if len(b.reports) == 0 {
			return nil
		}
		r := &b.reports[0]
		var md bytes.Buffer
		r.writeMarkdown(&md)
		fmt.Fprintln(b.out)
		_, _ = b.out.Write(md.Bytes())
		if err := writeReport(b.dir, r, md.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(b.out, "\nwritten: %s/{bench.md,bench.json,bench.html}\n", b.dir)
		for _, p := range r.Profiles {
			fmt.Fprintf(b.out, "profile: %s (go tool pprof %s)\n", p, p)
		}
		return nil
	}
	for i := range b.reports {
		r := &b.reports[i]
		var md bytes.Buffer
		r.writeMarkdown(&md)
		if err := writeReport(filepath.Join(b.dir, r.Setup.Slug()), r, md.Bytes()); err != nil {
			return err
		}
	}
	s := scaleOf(b.rep.Machine, b.reports)
	var md, js bytes.Buffer
	s.writeMarkdown(&md, b.reports)
	if err := s.writeJSON(&js); err != nil {
		return err
	}
	fmt.Fprintln(b.out)
	_, _ = b.out.Write(md.Bytes())
	for name, data := range map[string][]byte{"bench.md": md.Bytes(), "bench.json": js.Bytes()} {
		if err := os.WriteFile(filepath.Join(b.dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	fmt.Fprintf(b.out, "\nwritten: %s/{bench.md,bench.json} and a directory per setup with its bench.md, bench.json, bench.html and api logs\n", b.dir)
	for _, r := range b.reports {
		for _, p := range r.Profiles {
			fmt.Fprintf(b.out, "profile: %s (go tool pprof %s)\n", p, p)
		}
	}
	return nil
}

// writeReport writes one setup's bench.md (already rendered), bench.json
// and bench.html into dir.
func writeReport(dir string, r *report, md []byte) error {
	var js, page bytes.Buffer
	if err := r.writeJSON(&js); err != nil {
		return err
	}
	if err := r.writeHTML(&page); err != nil {
		return fmt.Errorf("render bench.html: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	for name, data := range map[string][]byte{"bench.md": md, "bench.json": js.Bytes(), "bench.html": page.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// cleanup stops the processes and removes the run's keys, queues,
// exchanges and (unless -keep-db) database. It runs on every exit.
func (b *bench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b.stopAPIs()
	for _, p := range []*proc.Proc{b.hello, b.worker} {
		if p != nil {
			p.Stop(stopGrace)
		}
	}
	for _, p := range b.prefixes {
		if n, err := scratch.DeleteRedisKeys(ctx, p.redis.URL, p.prefix); err != nil {
			b.logf("cleanup: %v", err)
		} else {
			b.logf("cleanup: deleted %d Redis keys %s:* on %s", n, p.prefix, p.redis.Label())
		}
	}
	t := scratch.Topology(b.queuePrefix)
	c := newCeilingTopology(b.queuePrefix)
	if err := scratch.DeleteAMQP(b.o.amqpURL, []string{t.Queue, t.DeadQueue, c.Queue}, []string{t.Exchange, t.DeadExchange, c.Exchange}); err != nil {
		b.logf("cleanup: %v", err)
	} else {
		b.logf("cleanup: deleted queues and exchanges %s*", b.queuePrefix)
	}
	if !b.o.keepDB {
		if err := scratch.DropDB(ctx, b.o.mysqlServer, b.o.mysqlDB); err != nil {
			b.logf("cleanup: %v", err)
		}
	}
}

// messageSize is the body size of a message of n orders as mq.Encode
// writes it.
func messageSize(n int) int {
	return len(sampleMessage(n))
}
