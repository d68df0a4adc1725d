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
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/proc"
	"github.com/seckill/seckill/loadtest/internal/scratch"
)

const (
	pollEvery     = 500 * time.Millisecond // settle polling
	settleMargin  = 30 * time.Second       // settle wait beyond SECKILL_SETTLE_AFTER
	cleanupBudget = 2 * time.Minute
)

// errFailed is the run's error when a scenario failed a check.
var errFailed = errors.New("a scenario failed")

// run is the whole command: parse args, set up, run the scenarios, report,
// clean up. Its error maps to the exit status (see load.ExitCode).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	picked := pick(o.run)
	if len(picked) == 0 {
		return &load.UsageError{Err: fmt.Errorf("-run %q matches no scenario", o.run)}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal ends the run and its cleanup follows; the next one
	// has its default effect.
	context.AfterFunc(ctx, stop)
	s := &suite{o: o, sz: o.size(), out: stdout, log: stderr, undo: map[int]undoStep{}}
	return s.run(ctx, picked)
}

// suite is one run of the chosen scenarios.
type suite struct {
	o   options
	sz  size
	out io.Writer // the table
	log io.Writer // progress

	stockPrefix, queuePrefix string
	mysql                    *mysqlAdmin
	cl                       *cluster
	spiker                   *spiker
	admin                    [2]adminClient
	deadSource               string // where dead letters are counted

	mu     sync.Mutex
	undo   map[int]undoStep // server settings to restore on exit
	undoID int
}

// undoStep restores one server setting a fault changed.
type undoStep struct {
	what string
	fn   func(context.Context) error
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "chaos: "+format+"\n", args...)
}

// onExit registers fn to restore what; the returned func runs it now (once)
// and forgets it. Whatever is still registered runs when the suite ends.
func (s *suite) onExit(what string, fn func(context.Context) error) func(context.Context) error {
	s.mu.Lock()
	s.undoID++
	id := s.undoID
	s.undo[id] = undoStep{what: what, fn: fn}
	s.mu.Unlock()
	return func(ctx context.Context) error {
		s.mu.Lock()
		step, ok := s.undo[id]
		delete(s.undo, id)
		s.mu.Unlock()
		if !ok {
			return nil
		}
		return step.fn(ctx)
	}
}

func (s *suite) run(ctx context.Context, picked []scenario) (err error) {
	o := s.o
	root, err := proc.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	src := o.src
	if src == "" {
		src = root
	}
	now := time.Now()
	dir := o.out
	if dir == "" {
		dir = filepath.Join(root, "loadtest", "results", "chaos-"+now.Format("20060102-150405"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	tmp, err := os.MkdirTemp("", "seckill-chaos-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	s.logf("building cmd/api and cmd/worker of %s", src)
	apiBin, workerBin, err := proc.Build(ctx, src, tmp, s.log)
	if err != nil {
		return err
	}

	s.stockPrefix = "skchaos" + strconv.FormatInt(now.UnixNano(), 36)
	s.queuePrefix = s.stockPrefix + "."
	secret, password := randomHex(24), randomHex(12)

	if s.mysql, err = openMySQL(o.mysqlServer, o.mysqlDB); err != nil {
		return err
	}
	defer s.mysql.close()
	if err := scratch.RecreateDB(ctx, o.mysqlServer, o.mysqlDB); err != nil {
		return err
	}
	passed := false
	defer func() { s.cleanup(dir, passed) }()
	if err := s.mysql.createWorkerUser(ctx, password); err != nil {
		return err
	}
	workerDSN, err := userDSN(o.mysqlServer, s.mysql.workerUser(), password, o.mysqlDB)
	if err != nil {
		return err
	}

	addrs, err := proc.FreeAddrs(ctx, 6)
	if err != nil {
		return err
	}
	// A warm-up of lost stock may wait the publisher's confirm timeout
	// plus a few seconds for its fence before it answers.
	s.cl = &cluster{dir: dir, ops: &http.Client{Timeout: 15 * time.Second}}
	defer s.cl.ops.CloseIdleConnections()
	for i := range 2 {
		public, admin := addrs[2*i], addrs[2*i+1]
		s.cl.apis[i] = &node{
			name: "api" + strconv.Itoa(i+1), bin: apiBin,
			env: []string{
				"SECKILL_REDIS_URL=" + o.redisURL,
				"SECKILL_AMQP_URL=" + o.amqpURL,
				"SECKILL_MYSQL_DSN=" + scratch.DSN(o.mysqlServer, o.mysqlDB),
				"SECKILL_STOCK_PREFIX=" + s.stockPrefix,
				"SECKILL_QUEUE_PREFIX=" + s.queuePrefix,
				"SECKILL_PERSIST_PARTITIONS=" + strconv.Itoa(o.partitions),
				"SECKILL_JWT_SECRET=" + secret,
				"SECKILL_ADMIN_TOKEN=",
				"SECKILL_RATE_IP_RPS=0",
				"SECKILL_RATE_USER_RPS=1000",
				"SECKILL_RATE_USER_BURST=1000",
				"SECKILL_SETTLE_AFTER=" + o.settleAfter.String(),
				"SECKILL_HTTP_ADDR=" + public,
				"SECKILL_ADMIN_ADDR=" + admin,
				"SECKILL_LOG_LEVEL=info",
			},
			ready: "http://" + public + "/readyz", public: "http://" + public, admin: "http://" + admin,
		}
		wAdmin := addrs[4+i]
		s.cl.workers[i] = &node{
			name: "worker" + strconv.Itoa(i+1), bin: workerBin,
			env: []string{
				"SECKILL_AMQP_URL=" + o.amqpURL,
				"SECKILL_MYSQL_DSN=" + workerDSN,
				"SECKILL_STOCK_PREFIX=" + s.stockPrefix,
				"SECKILL_QUEUE_PREFIX=" + s.queuePrefix,
				"SECKILL_PERSIST_PARTITIONS=" + strconv.Itoa(o.partitions),
				"SECKILL_ADMIN_ADDR=" + wAdmin,
				"SECKILL_LOG_LEVEL=info",
			},
			ready: "http://" + wAdmin + "/healthz", admin: "http://" + wAdmin,
		}
	}
	// The first api migrates the schema; the others start against it.
	s.logf("starting api1 and api2 (settle after %s), worker1 and worker2 sharing %d persist partition(s); logs in %s", o.settleAfter, o.partitions, dir)
	if err := s.cl.start(ctx, s.cl.apis[0]); err != nil {
		return err
	}
	if err := s.cl.ensureUp(ctx); err != nil {
		return err
	}
	httpc := load.NewHTTPClient(maxInFlight, purchaseTimeout)
	defer httpc.CloseIdleConnections()
	s.spiker = &spiker{http: httpc, tokens: load.Signer{Secret: []byte(secret), TTL: time.Hour}}
	for i := range 2 {
		s.admin[i] = adminClient{http: s.cl.ops, base: s.cl.apis[i].admin}
	}
	if _, ok, _ := s.admin[0].deadLetters(ctx); ok {
		s.deadSource = "GET /admin/v1/dead-letters"
	} else {
		s.deadSource = "messages in " + scratch.Topology(s.queuePrefix).DeadQueue
	}
	s.logf("dead letters counted from %s", s.deadSource)

	var results []result
	for _, sc := range picked {
		if ctx.Err() != nil {
			break
		}
		r := s.scenario(ctx, sc)
		results = append(results, r)
		s.logf("%s: %s", r.name, r.verdict())
	}
	fmt.Fprintf(s.out, "fault suite: %d apis and %d workers, SECKILL_SETTLE_AFTER=%s, %d buyers at %d/s per spike, sale of %d units, dead letters from %s\n\n",
		len(s.cl.apis), len(s.cl.workers), o.settleAfter, s.sz.users, s.sz.rate, s.sz.stock, s.deadSource)
	renderTable(s.out, results)
	fmt.Fprintln(s.out)
	fmt.Fprintln(s.out, summary(results))
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	for _, r := range results {
		if !r.passed() {
			return errFailed
		}
	}
	passed = true
	return nil
}

// cleanup stops the processes, restores every server setting still
// changed and removes the run from the servers: its Redis keys, queues and
// exchanges, MySQL account, and (without -keep) its database and, when
// every scenario passed, its logs.
func (s *suite) cleanup(dir string, passed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupBudget)
	defer cancel()
	if s.cl != nil {
		s.cl.stopAll()
	}
	s.mu.Lock()
	steps := s.undo
	s.undo = map[int]undoStep{}
	s.mu.Unlock()
	for _, step := range steps {
		if err := step.fn(ctx); err != nil {
			s.logf("cleanup: restore %s: %v", step.what, err)
		} else {
			s.logf("cleanup: restored %s", step.what)
		}
	}
	if err := s.mysql.dropWorkerUser(ctx); err != nil {
		s.logf("cleanup: %v", err)
	}
	if n, err := scratch.DeleteRedisKeys(ctx, s.o.redisURL, s.stockPrefix); err != nil {
		s.logf("cleanup: %v", err)
	} else {
		s.logf("cleanup: deleted %d Redis keys %s:*", n, s.stockPrefix)
	}
	queues, qerr := prefixed(ctx, "queues", s.queuePrefix)
	exchanges, xerr := prefixed(ctx, "exchanges", s.queuePrefix)
	if err := errors.Join(qerr, xerr); err != nil {
		s.logf("cleanup: list queues and exchanges: %v", err)
	}
	if err := scratch.DeleteAMQP(s.o.amqpURL, queues, exchanges); err != nil {
		s.logf("cleanup: %v", err)
	} else {
		s.logf("cleanup: deleted %d queues and %d exchanges %s*", len(queues), len(exchanges), s.queuePrefix)
	}
	if s.o.keep {
		s.logf("kept database %s and logs in %s", s.o.mysqlDB, dir)
		return
	}
	if err := scratch.DropDB(ctx, s.o.mysqlServer, s.o.mysqlDB); err != nil {
		s.logf("cleanup: %v", err)
	}
	if passed {
		_ = os.RemoveAll(dir)
	} else {
		s.logf("logs kept in %s", dir)
	}
}

// userDSN is the DSN of server's host for user with password on db.
func userDSN(server, user, password, db string) (string, error) {
	cfg, err := mysql.ParseDSN(server)
	if err != nil {
		return "", fmt.Errorf("-mysql: %w", err)
	}
	cfg.User, cfg.Passwd, cfg.DBName, cfg.ParseTime = user, password, db, true
	return cfg.FormatDSN(), nil
}

// brokerPort is the port of the AMQP URL.
func brokerPort(amqpURL string) int {
	u, err := url.Parse(amqpURL)
	if err != nil {
		return 5672
	}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	return 5672
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
