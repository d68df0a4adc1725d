package deploy

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/go-sql-driver/mysql"
	"github.com/goccy/go-yaml"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/app"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/mq"
)

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
}

// TestDashboard proves the Grafana dashboard against the real thing: a real
// api and worker (Redis, RabbitMQ, MariaDB) whose admin listeners want an
// admin token, a real Prometheus scraping them every second with the
// repository's configuration (the token read from a file, as compose
// provides it) and rule files, and a short flash sale. Then every panel's query, as the
// dashboard has it, must return data, and Prometheus must have loaded the
// recording and alerting groups without errors.
func TestDashboard(t *testing.T) {
	requireServers(t)
	promBin := requireTool(t, "prometheus")
	gin.SetMode(gin.ReleaseMode)

	sys := startSystem(t)
	for _, addr := range []string{sys.apiAdmin, sys.workerAdmin} {
		sys.checkScrapeNeedsToken(t, addr)
	}
	prom := startPrometheus(t, promBin, sys.apiAdmin, sys.workerAdmin)
	prom.waitTargetsUp(t, 2)

	// The sale: 120 units, 400 buyers, and 30 of the winners try again.
	const units, buyers, again = 120, 400, 30
	sale := sys.createSale(t, units, nil)
	counts := sys.spike(t, sale, buyers, again)
	t.Logf("spike: %v", counts)
	if counts[http.StatusAccepted] != units {
		t.Fatalf("%d accepted, want %d: %v", counts[http.StatusAccepted], units, counts)
	}
	sys.drain(t, sale)
	// The waiting room's panels need a room: one that lets in a buyer a
	// second, knocked on by five at once, and a purchase without a ticket.
	sys.knock(t, sys.createSale(t, units, &httpapi.AdmissionJSON{RatePerSecond: 1}), 5)

	panels := dashboardQueries(t, filepath.Join("grafana", "dashboards", "seckill.json"))
	if len(panels) == 0 {
		t.Fatal("the dashboard has no panel queries")
	}
	// Rates look back one minute: the spike stays visible well beyond the
	// few scrapes and rule evaluations the panels need. The deadline only
	// guards against a hang.
	deadline := time.Now().Add(45 * time.Second)
	pending := panels
	results := map[int]sample{}
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []panelQuery
		for _, p := range pending {
			got, err := prom.finiteSeries(p.expr)
			if err != nil {
				t.Fatalf("panel %q, query %s: %v", p.title, p.expr, err)
			}
			if got.series == 0 {
				still = append(still, p)
				continue
			}
			results[p.index] = got
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	for _, p := range panels {
		r := results[p.index]
		t.Logf("panel %-48q %s: %d series, max %-9.4g %s", p.title, p.ref, r.series, r.max, p.expr)
	}
	for _, p := range pending {
		t.Errorf("panel %q (%s) returned no data: %s", p.title, p.ref, p.expr)
	}

	prom.checkRuleGroups(t, "seckill-recording", "seckill-alerts")
}

// adminToken guards both admin listeners of the test's system.
const adminToken = "dashboard-admin-token-0123456789abcdef"

// system is a running api and worker with their own database, queues and
// Redis keys.
type system struct {
	api         *app.API
	public      string // http://host:port
	apiAdmin    string // host:port
	workerAdmin string // host:port
}

func startSystem(t *testing.T) *system {
	t.Helper()
	ctx := context.Background()
	name := "dash" + randomName(t)
	topology := mq.DefaultTopology().WithPrefix(name)
	dsn := mysqlRoot + "seckill_" + name + "?parseTime=true"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	t.Cleanup(func() { dropServerState(t, name, topology) })

	a, err := app.NewAPI(ctx, config.API{
		Backends: config.Backends{RedisURL: redisURL, AMQPURL: amqpURL, MySQLDSN: dsn},
		HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		MemcacheServers: memcachedAddr, StockBackend: config.BackendRedis, JWTSecret: "dashboard-test-secret-0123456789",
		AdminToken: adminToken,
		UserRate:   1000, UserBurst: 1000, IPRate: 0,
		BodyLimit: 4096, ConfirmTimeout: 5 * time.Second, ConfirmWindow: 1024,
		ShutdownTimeout: 10 * time.Second, DemoStock: 10, WorkerBatch: 64,
	}, log, app.Overrides{Topology: &topology, StockPrefix: name})
	if err != nil {
		t.Fatalf("NewAPI: %v", err)
	}
	bound, err := app.Bind(a.Listeners()...)
	if err != nil {
		_ = a.Close(ctx)
		t.Fatal(err)
	}
	s := &system{api: a}
	for _, b := range bound {
		switch b.Name {
		case "public":
			s.public = "http://" + b.Addr
		case "admin":
			s.apiAdmin = b.Addr
		}
	}
	actx, stopAPI := context.WithCancel(ctx)
	apiDone := make(chan error, 1)
	go func() { apiDone <- a.Run(actx, bound) }()
	t.Cleanup(func() {
		stopAPI()
		if err := <-apiDone; err != nil {
			t.Errorf("api: %v", err)
		}
	})

	w, err := app.NewWorker(ctx, config.Worker{
		AMQPURL: amqpURL, MySQLDSN: dsn, AdminAddr: "127.0.0.1:0", AdminToken: adminToken,
		BatchSize: 64, BatchWait: 10 * time.Millisecond, Prefetch: 128, ShutdownTimeout: 10 * time.Second,
	}, log, app.Overrides{Topology: &topology})
	if err != nil {
		t.Fatalf("NewWorker: %v", err)
	}
	s.workerAdmin = w.Admin.Addr
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(wctx) }()
	t.Cleanup(func() {
		stopWorker()
		if err := <-workerDone; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return s
}

// dropServerState removes the run's Redis keys, queues, exchanges and
// database.
func dropServerState(tb testing.TB, name string, t mq.Topology) {
	tb.Helper()
	ctx := context.Background()
	if opt, err := redis.ParseURL(redisURL); err == nil {
		rdb := redis.NewClient(opt)
		iter := rdb.Scan(ctx, 0, name+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	}
	if conn, err := amqp.Dial(amqpURL); err == nil {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(t.Queue, false, false, false)
			_, _ = ch.QueueDelete(t.DeadQueue, false, false, false)
			_ = ch.ExchangeDelete(t.Exchange, false, false)
			_ = ch.ExchangeDelete(t.DeadExchange, false, false)
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

func (s *system) createSale(t *testing.T, units int64, adm *httpapi.AdmissionJSON) int64 {
	t.Helper()
	now := time.Now().UTC()
	body, _ := json.Marshal(httpapi.NewSaleJSON{
		Name: "dashboard sale", PriceCents: 100, TotalStock: units,
		StartsAt: now.Add(-time.Second), EndsAt: now.Add(time.Hour), PaymentWindowSeconds: 600, Admission: adm,
	})
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.apiAdmin+"/admin/v1/sales", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("create sale: %d %v", res.StatusCode, err)
	}
	return v.ID
}

// knock sends buyers into the waiting room of sale, a room that lets in
// one buyer a second, one after another: the first gets a ticket, the
// rest wait (unless a second passed); then the last tries to buy without a
// ticket and is refused.
func (s *system) knock(t *testing.T, sale int64, buyers int) {
	t.Helper()
	post := func(path, tok string, body string) int {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/sales/%d/%s", s.public, sale, path), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.StatusCode
	}
	counts := map[int]int{}
	var tok string
	for i := range buyers {
		var err error
		if tok, err = s.api.Tokens.Mint(int64(9000+i), 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		counts[post("admission", tok, "{}")]++
	}
	if counts[http.StatusOK] < 1 || counts[http.StatusOK]+counts[http.StatusAccepted] != buyers {
		t.Fatalf("joins of a room letting in 1/s: %v, want a 200 and the rest 202", counts)
	}
	if code := post("orders", tok, ""); code != http.StatusForbidden {
		t.Fatalf("a purchase without a ticket: %d, want 403", code)
	}
}

// spike sends one purchase per buyer from 32 clients at once, then a second
// one for `again` of them, and counts the answers by status.
func (s *system) spike(t *testing.T, sale int64, buyers, again int) map[int]int {
	t.Helper()
	target := fmt.Sprintf("%s/api/v1/sales/%d/orders", s.public, sale)
	tokens := make([]string, buyers)
	for i := range tokens {
		tok, err := s.api.Tokens.Mint(int64(5000+i), 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	jobs := make(chan string, buyers+again)
	for _, tok := range tokens {
		jobs <- tok
	}
	for _, tok := range tokens[:again] {
		jobs <- tok
	}
	close(jobs)

	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	for range 32 {
		wg.Go(func() {
			for tok := range jobs {
				req, _ := http.NewRequest(http.MethodPost, target, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					t.Errorf("purchase: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				mu.Lock()
				counts[res.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

// drain waits until the worker has persisted every accepted order.
func (s *system) drain(t *testing.T, sale int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/admin/v1/sales/%d/reconcile", s.apiAdmin, sale), nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var rec httpapi.ReconcileJSON
		err = json.NewDecoder(res.Body).Decode(&rec)
		_ = res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rec.ReservedInFlight == 0 {
			if !rec.Consistent {
				t.Fatalf("drained but inconsistent: %+v", rec)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue did not drain: %+v", rec)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkScrapeNeedsToken: the admin listener at addr answers /metrics with
// 401 without the admin token and with 200 and seckill_ series with it;
// /healthz needs none.
func (s *system) checkScrapeNeedsToken(t *testing.T, addr string) {
	t.Helper()
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	for _, auth := range []string{"", "Bearer wrong-token"} {
		if code, body := get("/metrics", auth); code != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthorized"`) {
			t.Fatalf("%s/metrics with %q: %d %s, want 401 unauthorized", addr, auth, code, body)
		}
	}
	if code, body := get("/metrics", "Bearer "+adminToken); code != http.StatusOK || !strings.Contains(body, "seckill_") {
		t.Fatalf("%s/metrics with the token: %d, want 200 with seckill_ series", addr, code)
	}
	if code, _ := get("/healthz", ""); code != http.StatusOK {
		t.Fatalf("%s/healthz without a token: %d, want 200", addr, code)
	}
}

// prometheus is a Prometheus server started for one test.
type prometheus struct {
	base string // http://127.0.0.1:port
}

// startPrometheus runs the Prometheus binary on a free 127.0.0.1 port with
// the repository's prometheus.yml, re-pointed at the given admin listeners,
// scraping and evaluating every second, and with the repository's rule
// files. It is killed in cleanup.
func startPrometheus(t *testing.T, bin, apiAdmin, workerAdmin string) *prometheus {
	t.Helper()
	tmp := t.TempDir()
	cfgPath := filepath.Join(tmp, "prometheus.yml")
	tokenPath := filepath.Join(tmp, "seckill_admin_token")
	if err := os.WriteFile(tokenPath, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, testConfig(t, apiAdmin, workerAdmin, tokenPath), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(tmp, "data"),
		"--storage.tsdb.retention.time=1h",
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	p := &prometheus{base: "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, out.String())
		default:
		}
		if res, err := client.Get(p.base + "/-/ready"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus on %s not ready:\n%s", addr, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testConfig is deploy/prometheus/prometheus.yml with the seckill jobs'
// targets replaced by the test's listeners and their admin token file by
// tokenFile, one-second intervals, the rule files as absolute paths, and
// any other job left out.
func testConfig(t *testing.T, apiAdmin, workerAdmin, tokenFile string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		t.Fatal("prometheus.yml has no global section")
	}
	global["scrape_interval"], global["evaluation_interval"], global["scrape_timeout"] = "1s", "1s", "1s"

	files, _ := cfg["rule_files"].([]any)
	if len(files) == 0 {
		t.Fatal("prometheus.yml loads no rule files")
	}
	for i, f := range files {
		abs, err := filepath.Abs(filepath.Join("prometheus", fmt.Sprint(f)))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = abs
	}

	targets := map[string]string{"seckill-api": apiAdmin, "seckill-worker": workerAdmin}
	jobs, _ := cfg["scrape_configs"].([]any)
	var kept []any
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		name := fmt.Sprint(job["job_name"])
		addr, ok := targets[name]
		if !ok {
			continue
		}
		delete(targets, name)
		job["static_configs"] = []any{map[string]any{"targets": []any{addr}}}
		auth, _ := job["authorization"].(map[string]any)
		if auth == nil || auth["credentials_file"] == nil {
			t.Fatalf("prometheus.yml: job %s sends no admin token (authorization.credentials_file)", name)
		}
		auth["credentials_file"] = tokenFile
		kept = append(kept, job)
	}
	if len(targets) > 0 {
		t.Fatalf("prometheus.yml has no scrape job for %v", targets)
	}
	cfg["scrape_configs"] = kept
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// apiGet calls the Prometheus HTTP API and decodes its data.
func (p *prometheus) apiGet(path string, q url.Values, data any) error {
	u := p.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	res, err := client.Get(u)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: %d: %w", path, res.StatusCode, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// waitTargetsUp waits until n targets are scraped successfully.
func (p *prometheus) waitTargetsUp(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var data struct {
			ActiveTargets []struct {
				ScrapeURL string `json:"scrapeUrl"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		}
		if err := p.apiGet("/api/v1/targets", nil, &data); err != nil {
			t.Fatal(err)
		}
		up := 0
		for _, tg := range data.ActiveTargets {
			if tg.Health == "up" {
				up++
			}
		}
		if up >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d targets up: %+v", up, n, data.ActiveTargets)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sample sums up a query's answer: how many series have a finite value,
// and the largest of those values.
type sample struct {
	series int
	max    float64
}

// finiteSeries evaluates expr now and counts the series with a finite value.
func (p *prometheus) finiteSeries(expr string) (sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := p.apiGet("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return sample{}, err
	}
	if data.ResultType != "vector" {
		return sample{}, fmt.Errorf("result type %s, want vector", data.ResultType)
	}
	out := sample{max: math.Inf(-1)}
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			out.series++
			out.max = max(out.max, v)
		}
	}
	return out, nil
}

// checkRuleGroups fails unless every named group is loaded and each of its
// rules evaluates without error.
func (p *prometheus) checkRuleGroups(t *testing.T, names ...string) {
	t.Helper()
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			File  string `json:"file"`
			Rules []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.apiGet("/api/v1/rules", nil, &data); err != nil {
		t.Fatal(err)
	}
	loaded := map[string]bool{}
	for _, g := range data.Groups {
		loaded[g.Name] = true
		kinds := map[string]int{}
		for _, r := range g.Rules {
			kinds[r.Type]++
			if r.Health == "err" || r.LastError != "" {
				t.Errorf("rule %s of group %s: %s %s", r.Name, g.Name, r.Health, r.LastError)
			}
		}
		t.Logf("rule group %s (%s): %v", g.Name, filepath.Base(g.File), kinds)
	}
	for _, n := range names {
		if !loaded[n] {
			t.Errorf("rule group %s not loaded by Prometheus", n)
		}
	}
}

// panelQuery is one target of one dashboard panel.
type panelQuery struct {
	index int
	title string
	ref   string
	expr  string
}

// dashboardQueries lists every query of every panel (rows included), with
// the dashboard's variables set to "all".
func dashboardQueries(t *testing.T, path string) []panelQuery {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	vars := map[string]string{"__rate_interval": "1m", "__interval": "1s", "__range": "1m"}
	for _, v := range d.Templating.List {
		all := v.AllValue
		if all == "" {
			all = ".*"
		}
		vars[v.Name] = all
	}
	var out []panelQuery
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has no expression", p.Title, tg.RefID)
					continue
				}
				out = append(out, panelQuery{index: len(out), title: p.Title, ref: tg.RefID, expr: expand(tg.Expr, vars)})
			}
		}
	}
	walk(d.Panels)
	return out
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name     string `json:"name"`
			AllValue string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// expand replaces Grafana variables ($name and ${name}), longest name first.
func expand(expr string, vars map[string]string) string {
	for {
		best := ""
		for name := range vars {
			if (strings.Contains(expr, "${"+name+"}") || strings.Contains(expr, "$"+name)) && len(name) > len(best) {
				best = name
			}
		}
		if best == "" {
			return expr
		}
		expr = strings.ReplaceAll(expr, "${"+best+"}", vars[best])
		expr = strings.ReplaceAll(expr, "$"+best, vars[best])
	}
}
