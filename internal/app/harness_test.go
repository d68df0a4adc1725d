package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gin-gonic/gin"
	_ "github.com/go-sql-driver/mysql"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/redisurl"
	"github.com/seckill/seckill/internal/testenv"
)

const (
	redisURL  = "redis://127.0.0.1:6379/0"
	amqpURL   = "amqp://guest:guest@127.0.0.1:5672/"
	mysqlRoot = "root@tcp(127.0.0.1:3306)/"
	memcached = "127.0.0.1:11211"
)

// kinds of system the end-to-end suite runs against: the real servers with
// either stock backend (Redis as one server or as the local Redis Cluster),
// and the embedded mode.
var kinds = []string{"redis", "cluster", "memcache", "embedded"}

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	// Every answer the suite receives is checked against api/openapi.yaml.
	check, err := newSpecCheck(client.Transport)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client.Transport = check
	code := m.Run()
	fmt.Printf("api/openapi.yaml: %d answers validated\n", check.validated.Load())
	os.Exit(code)
}

// requireServers skips (or, with SECKILL_REQUIRE_SERVICES=1, fails) when a
// server the kind needs does not answer.
func requireServers(tb testing.TB, kind string) {
	tb.Helper()
	if kind == "embedded" {
		return
	}
	addrs := map[string]string{"redis": "127.0.0.1:6379", "rabbitmq": "127.0.0.1:5672", "mariadb": "127.0.0.1:3306"}
	switch kind {
	case "memcache":
		addrs["memcached"] = memcached
	case "cluster":
		delete(addrs, "redis")
		redistest.Cluster(tb) // every slot served, or skip (fail when required)
	}
	for name, addr := range addrs {
		testenv.Listening(tb, name, addr)
	}
}

// system is one api (plus its worker) under test.
type system struct {
	kind     string
	api      *app.API
	public   *httptest.Server
	admin    *httptest.Server
	topology mq.Topology
	dsn      string
	startW   func()
	stopW    func()
	startBG  func()
	// cfg and ov build the api; replica builds another on the same
	// servers.
	cfg config.API
	ov  app.Overrides
}

func randomName(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func testLog(tb testing.TB) *slog.Logger {
	tb.Helper()
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newSystem builds an api of the given kind with its own key prefix, queue
// names and database, all removed in cleanup. The worker starts on
// startWorker, so a test can watch an order while it is only reserved.
func newSystem(tb testing.TB, kind string, edits ...func(*config.API)) *system {
	tb.Helper()
	requireServers(tb, kind)
	ctx := context.Background()
	name := "e2e" + randomName(tb)
	s := &system{kind: kind, topology: mq.DefaultTopology().WithPrefix(name)}
	cfg := config.API{
		HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		MemcacheServers: memcached, StockBackend: config.BackendRedis,
		JWTSecret: "e2e-secret-0123456789abcdef0123456789",
		UserRate:  1000, UserBurst: 1000, IPRate: 0,
		BodyLimit: 4096, ConfirmTimeout: 5 * time.Second, ConfirmWindow: 1024,
		ShutdownTimeout: 10 * time.Second, DemoStock: 10, WorkerBatch: 64,
		PublishBatch: 64, PublishInFlight: 4,
	}
	if kind != "embedded" {
		s.dsn = mysqlRoot + "seckill_" + name + "?parseTime=true"
		cfg.Backends = config.Backends{RedisURL: redisURL, AMQPURL: amqpURL, MySQLDSN: s.dsn}
		if kind == "cluster" {
			cfg.RedisURL = redistest.ClusterURL
		}
		if kind == "memcache" {
			cfg.StockBackend = config.BackendMemcache
		}
	}
	for _, e := range edits {
		e(&cfg)
	}
	s.topology.Partitions = max(cfg.PersistPartitions, 1)
	log := testLog(tb)
	s.cfg, s.ov = cfg, app.Overrides{Topology: &s.topology, StockPrefix: name}
	a, err := app.NewAPI(ctx, cfg, log, s.ov)
	if err != nil {
		tb.Fatalf("NewAPI(%s): %v", kind, err)
	}
	s.api = a
	s.public = httptest.NewServer(a.Public)
	s.admin = httptest.NewServer(a.Admin)

	var stopWorker func() error
	s.startW = func() {
		if stopWorker != nil {
			return
		}
		if kind == "embedded" {
			stopWorker = a.StartBackground(ctx)
			return
		}
		w, err := app.NewWorker(ctx, config.Worker{
			AMQPURL: amqpURL, MySQLDSN: s.dsn, AdminAddr: "127.0.0.1:0",
			BatchSize: 64, BatchWait: 10 * time.Millisecond, Prefetch: 128, ShutdownTimeout: 10 * time.Second,
		}, log, app.Overrides{Topology: &s.topology})
		if err != nil {
			tb.Fatalf("NewWorker: %v", err)
		}
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		stopWorker = func() error { cancel(); return <-done }
	}
	// The api's own background work (sold-out bus, gauges, expiry sweeper)
	// runs with the embedded worker in the embedded mode; on real servers
	// a test starts it on its own.
	var stopBackground func() error
	s.startBG = func() {
		if kind == "embedded" {
			s.startW()
			return
		}
		if stopBackground == nil {
			stopBackground = a.StartBackground(ctx)
		}
	}
	s.stopW = func() {
		if stopWorker != nil {
			if err := stopWorker(); err != nil {
				tb.Errorf("worker stop: %v", err)
			}
			stopWorker = nil
		}
	}
	tb.Cleanup(func() {
		s.public.Close()
		s.admin.Close()
		if stopWorker != nil {
			if err := stopWorker(); err != nil {
				tb.Errorf("worker stop: %v", err)
			}
		}
		if stopBackground != nil {
			if err := stopBackground(); err != nil {
				tb.Errorf("api background stop: %v", err)
			}
		}
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Close(cctx); err != nil {
			tb.Errorf("api close: %v", err)
		}
		if kind != "embedded" {
			s.dropServerState(tb, name)
		}
	})
	return s
}

func (s *system) startWorker() { s.startW() }

// startBackground starts the api's background work, the expiry sweeper
// among it (and, in the embedded mode, the worker with it).
func (s *system) startBackground() { s.startBG() }

// stopWorker stops the worker (if running) the way a shutdown does.
func (s *system) stopWorker() { s.stopW() }

// dropServerState removes the run's keys, queues, exchanges and database.
func (s *system) dropServerState(tb testing.TB, name string) {
	tb.Helper()
	ctx := context.Background()
	url := redisURL
	if s.kind == "cluster" {
		url = redistest.ClusterURL
	}
	if rdb, err := redisurl.Open(ctx, url); err == nil {
		if err := redistest.DeleteKeys(ctx, rdb, name+":*"); err != nil {
			tb.Errorf("drop keys: %v", err)
		}
		_ = rdb.Close()
	}
	if s.kind == "memcache" {
		if k, ok := s.api.Stock.(interface{ Key(int64) string }); ok {
			mc := memcache.New(memcached)
			for id := int64(1); id <= 10; id++ {
				_ = mc.Delete(k.Key(id))
			}
		}
	}
	if conn, err := amqp.Dial(amqpURL); err == nil {
		if ch, err := conn.Channel(); err == nil {
			for _, q := range s.topology.PersistQueues() {
				_, _ = ch.QueueDelete(q, false, false, false)
			}
			_ = ch.ExchangeDelete(s.topology.Exchange+".members", false, false)
			_, _ = ch.QueueDelete(s.topology.DeadQueue, false, false, false)
			_ = ch.ExchangeDelete(s.topology.Exchange, false, false)
			_ = ch.ExchangeDelete(s.topology.DeadExchange, false, false)
		}
		_ = conn.Close()
	}
	if db, err := sql.Open("mysql", mysqlRoot); err == nil {
		if _, err := db.Exec("DROP DATABASE IF EXISTS `seckill_" + name + "`"); err != nil {
			tb.Errorf("drop database: %v", err)
		}
		_ = db.Close()
	}
}

// dialBroker connects to the test broker, closing the connection when tb
// ends, and opens a channel on it.
func dialBroker(tb testing.TB) (*amqp.Connection, *amqp.Channel) {
	tb.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatal(err)
	}
	return conn, ch
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r response) str(k string) string { v, _ := r.body[k].(string); return v }

func (r response) num(k string) int64 { v, _ := r.body[k].(float64); return int64(v) }

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256},
}

func do(tb testing.TB, method, url, token string, body io.Reader) response {
	tb.Helper()
	return doHeader(tb, method, url, token, nil, body)
}

// doHeader is do with more request headers.
func doHeader(tb testing.TB, method, url, token string, header http.Header, body io.Reader) response {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		tb.Errorf("%s %s: %v", method, url, err)
		return response{}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func jsonBody(tb testing.TB, v any) io.Reader {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.NewReader(b)
}

// createSale opens a sale through the admin API, with a payment window of
// ten minutes.
func (s *system) createSale(tb testing.TB, stock int64, startsIn time.Duration) int64 {
	tb.Helper()
	return s.createSaleWindow(tb, stock, startsIn, 600)
}

// createSaleWindow opens a sale with a payment window of windowSeconds.
func (s *system) createSaleWindow(tb testing.TB, stock int64, startsIn time.Duration, windowSeconds int64) int64 {
	tb.Helper()
	now := time.Now().UTC()
	r := do(tb, "POST", s.admin.URL+"/admin/v1/sales", "", jsonBody(tb, httpapi.NewSaleJSON{
		Name: "e2e sale", PriceCents: 100, TotalStock: stock,
		StartsAt: now.Add(startsIn), EndsAt: now.Add(startsIn + time.Hour), PaymentWindowSeconds: windowSeconds,
	}))
	if r.status != http.StatusCreated {
		tb.Fatalf("create sale: %d %s", r.status, r.raw)
	}
	return r.num("id")
}

// token mints a user token through the admin API.
func (s *system) token(tb testing.TB, user int64) string {
	tb.Helper()
	r := do(tb, "POST", s.admin.URL+"/admin/v1/tokens", "", jsonBody(tb, httpapi.TokenRequest{UserID: user, TTLSeconds: 600}))
	if r.status != http.StatusOK || r.str("token") == "" {
		tb.Fatalf("mint token: %d %s", r.status, r.raw)
	}
	return r.str("token")
}

func (s *system) buy(tb testing.TB, sale int64, token string) response {
	tb.Helper()
	return do(tb, "POST", fmt.Sprintf("%s/api/v1/sales/%d/orders", s.public.URL, sale), token, nil)
}

func (s *system) reconcile(tb testing.TB, sale int64) httpapi.ReconcileJSON {
	tb.Helper()
	r := do(tb, "GET", fmt.Sprintf("%s/admin/v1/sales/%d/reconcile", s.admin.URL, sale), "", nil)
	if r.status != http.StatusOK {
		tb.Fatalf("reconcile: %d %s", r.status, r.raw)
	}
	var out httpapi.ReconcileJSON
	if err := json.Unmarshal(r.raw, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// drained waits until no reservation of the sale is in flight; the bound is
// a guard against a hang, not a performance assertion.
func (s *system) drained(tb testing.TB, sale int64) httpapi.ReconcileJSON {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rec := s.reconcile(tb, sale)
		if rec.ReservedInFlight == 0 {
			return rec
		}
		if time.Now().After(deadline) {
			tb.Fatalf("queue did not drain: %+v", rec)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
