package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/prometheus/procfs"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/mq"
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
	workerBin   string        // the workers' command …
	workerEnv   []string      // … and environment, but for their stock prefix and admin listeners
	apiBin      string        // the api's command …
	apiEnv      []string      // … and environment, but for its Redis and listeners

	hello        *proc.Proc
	apis         []*proc.Proc // the current setup's replicas
	workers      []*proc.Proc // the current setup's workers
	helloURL     string
	client       *load.Client // admin calls and setup purchases, through the first api
	publics      []string     // base URLs of the apis' public listeners
	admin        *http.Client // the client's connections
	ops          *http.Client // /metrics, pprof
	apiWatch     []watched
	workerWatch  []watched
	workerAdmins []string    // base URLs of the workers' admin listeners
	procFS       procfs.FS   // /proc: the processes' and the machine's CPU time and memory
	servers      []procGroup // the local servers' processes, by command

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
	if b.procFS, err = procfs.NewDefaultFS(); err != nil {
		return fmt.Errorf("open /proc: %w", err)
	}
	now := time.Now()
	b.dir = o.out
	if b.dir == "" {
		b.dir = filepath.Join(root, "loadtest", "results", now.Format("20060102-150405"))
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	b.rep.Machine = readMachine(ctx, b.procFS, root, now)
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

	addrs, err := proc.FreeAddrs(ctx, 1)
	if err != nil {
		return err
	}
	helloAddr := addrs[0]
	partitions := "SECKILL_PERSIST_PARTITIONS=" + strconv.Itoa(o.partitions)
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
		partitions,
	}
	workerEnv := []string{
		"SECKILL_AMQP_URL=" + o.amqpURL,
		"SECKILL_MYSQL_DSN=" + scratch.DSN(o.mysqlServer, o.mysqlDB),
		"SECKILL_QUEUE_PREFIX=" + b.queuePrefix,
		"SECKILL_LOG_LEVEL=warn",
		partitions,
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

	if err := proc.WaitHTTP(ctx, b.hello, readyTimeout, proc.ExpectStatus(b.ops, http.MethodPost, b.helloURL, http.StatusAccepted)); err != nil {
		return err
	}
	setups := o.setups()
	var runErr error
	for _, s := range setups {
		// One setup is today's whole run, the raw-publish ceiling and the
		// worker alone included; a matrix measures the load phases of
		// each, which are what the apis and Redis change, and the worker
		// alone when the setups differ in workers.
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
// setup's workers and apis, runs the load phases (and with full the
// raw-publish ceiling and the worker alone; the worker alone also when
// the setups differ in workers), stops them and keeps the report in
// b.reports, whatever happened.
func (b *bench) runSetup(ctx context.Context, s setup, full bool) error {
	o := b.o
	b.rep = report{Machine: b.rep.Machine, Setup: s, Settings: settings{
		Connections: o.connections, WarmupSeconds: o.warmup.Seconds(), DurationSeconds: o.duration.Seconds(),
		PublishBatch: b.cfg.PublishBatch, PublishInFlight: b.cfg.PublishInFlight, PublishMaxInFlight: b.cfg.PublishMaxInFlight,
		PublishLingerMS: float64(b.cfg.PublishLinger) / float64(time.Millisecond), PublishFill: b.cfg.PublishFill,
		WorkerBatch: b.wcfg.BatchSize, WorkerPrefetch: b.wcfg.Prefetch, Partitions: o.partitions,
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
		err = b.startWorkers(ctx, s.Workers, "")
	}
	if err == nil {
		err = b.waitWorkers(ctx)
	}
	if err == nil {
		err = b.startAPIs(ctx, s)
	}
	if err == nil {
		b.findServers(ctx, s.Redis)
		err = b.measure(ctx, full, full || o.workersVary())
	}
	b.stopAPIs()
	b.stopWorkers()
	b.finish(err)
	b.reports = append(b.reports, b.rep)
	return err
}

// runPrefix is a stock prefix a setup used on a Redis.
type runPrefix struct {
	redis  redisTarget
	prefix string
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

// measure runs the phases in order: the load phases, with ceiling the
// raw-publish ceiling, with alone the worker alone. The report holds
// whatever was measured when it returns an error.
func (b *bench) measure(ctx context.Context, ceiling, alone bool) error {
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
	if err := b.soldOutTicketsPhase(ctx, tokens); err != nil {
		return err
	}
	// The baseline again, so that drift of the machine over the purchase
	// phases is averaged out of their ratios.
	if _, err := b.helloPhase(ctx, phaseHelloEnd); err != nil {
		return err
	}
	if ceiling {
		if err := b.ceilingPhase(ctx); err != nil {
			return err
		}
	}
	if !alone {
		return nil
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

func (b *bench) note(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf(format, args...))
}

// cleanup stops the processes and removes the run's keys, queues,
// exchanges and (unless -keep-db) database. It runs on every exit.
func (b *bench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b.stopAPIs()
	b.stopWorkers()
	if b.hello != nil {
		b.hello.Stop(stopGrace)
	}
	for _, p := range b.prefixes {
		if n, err := scratch.DeleteRedisKeys(ctx, p.redis.URL, p.prefix); err != nil {
			b.logf("cleanup: %v", err)
		} else {
			b.logf("cleanup: deleted %d Redis keys %s:* on %s", n, p.prefix, p.redis.Label())
		}
	}
	t := b.topology()
	c := newCeilingTopology(b.queuePrefix)
	queues := append(t.PersistQueues(), t.DeadQueue, c.Queue)
	// The workers' heartbeats go through <exchange>.members when they
	// share partitions.
	exchanges := []string{t.Exchange, t.DeadExchange, t.Exchange + ".members", c.Exchange}
	if err := scratch.DeleteAMQP(b.o.amqpURL, queues, exchanges); err != nil {
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

// topology is the order flow's topology as the run's apis and workers
// declare it: under the run's queue prefix, in -partitions partitions.
func (b *bench) topology() mq.Topology {
	t := scratch.Topology(b.queuePrefix)
	t.Partitions = b.o.partitions
	return t
}
