package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/redact"
	"github.com/seckill/seckill/loadtest/internal/load"
)

// options are the command line of bench.
type options struct {
	connections  int
	duration     time.Duration
	warmup       time.Duration
	out          string
	profile      bool
	stock        int64
	soldOutStock int64
	tokenMargin  float64
	maxTokens    int
	drainTimeout time.Duration
	drainOrders  int64
	apis         []int         // api replicas of each setup, in order
	workers      []int         // workers of each setup, in order
	partitions   int           // SECKILL_PERSIST_PARTITIONS of every api and worker of the run
	redis        []redisTarget // Redis of each setup, in order
	amqpURL      string
	mysqlServer  string // go-sql-driver DSN without a database: user@tcp(host:port)/
	mysqlDB      string
	keepDB       bool

	serveHello string // hidden: run the hello-world server on this address and nothing else
}

// parseFlags reads the command line. It returns flag.ErrHelp for -h.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := load.NewFlagSet("bench",
		"Builds cmd/api and cmd/worker, starts them against the local Redis, RabbitMQ and MySQL\n"+
			"next to a gin hello-world server, drives the same closed-loop load at each, and reports\n"+
			"throughput and latency as ratios to the hello-world baseline of the same run, plus orders\n"+
			"persisted per second against a raw confirmed-publish ceiling measured in the same run, end to end\n"+
			"and for the worker alone draining a queue filled while it was stopped.\n"+
			"With several -apis or -redis it runs the load phases once per setup (each Redis × each number of\n"+
			"api replicas × each number of workers) and opens the report with a scaling-out table; the ceiling is left out,\n"+
			"and so is the worker alone unless -workers lists several counts.\n"+
			"Exit status 0 unless the run failed (errors, 5xx, a broken invariant); 2 on a usage error.",
		stderr, "serve-hello")
	fs.IntVar(&o.connections, "connections", 64, "closed-loop workers, each with its own keep-alive connection, in every phase")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each phase")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before each measured window, not counted")
	fs.StringVar(&o.out, "out", "", "write bench.md (the report), bench.json (every figure and the per-second series), logs and profiles to this `dir` "+
		"(default loadtest/results/<timestamp>/ in the module)")
	fs.BoolVar(&o.profile, "profile", false, "save 5s CPU and allocation profiles of the api and every worker in the contended phase, and of the api in the sold-out phase")
	fs.Int64Var(&o.stock, "stock", 5_000_000, "units of the contended sale; must exceed the purchases of the phase")
	fs.Int64Var(&o.soldOutStock, "soldout-stock", 10, "units of the sale bought out before the sold-out phase")
	fs.Float64Var(&o.tokenMargin, "token-margin", 1.5, "user tokens minted = hello-world req/s × (warmup + duration) × this `factor`")
	fs.IntVar(&o.maxTokens, "max-tokens", 3_000_000, "upper bound of the user tokens minted")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 3*time.Minute,
		"how long to wait for every accepted order, and every worker-alone order, to reach MySQL")
	fs.Int64Var(&o.drainOrders, "drain-orders", 100_000, "orders queued while the worker is stopped, then persisted by the worker "+
		"alone to time the persistence stage; 0 skips it")
	apis := fs.String("apis", "1", "api replicas to measure, as a comma-separated `list` (e.g. 1,2): "+
		"the load spreads its connections over their public listeners")
	workers := fs.String("workers", "1", "workers to measure, as a comma-separated `list` (e.g. 1,2): "+
		"they share the persist partitions; with several counts every setup also times the worker alone")
	fs.IntVar(&o.partitions, "partitions", 0, "SECKILL_PERSIST_PARTITIONS of every api and worker of the run "+
		"(default 1, or 4 when -workers lists more than one worker)")
	redisList := fs.String("redis", "single", "Redis to measure on, as a comma-separated `list` of single "+
		"("+singleRedisURL+"), cluster (the local Redis Cluster, "+clusterRedisURL+") or URLs; "+
		"a URL with addr= parameters is a cluster")
	fs.StringVar(&o.amqpURL, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ `URL`")
	fs.StringVar(&o.mysqlServer, "mysql", "root@tcp(127.0.0.1:3306)/", "MySQL server as a go-sql-driver `DSN` without a database")
	fs.StringVar(&o.mysqlDB, "mysql-db", "seckill_bench", "MySQL `database` of the run: dropped and created at the start")
	fs.BoolVar(&o.keepDB, "keep-db", false, "keep the MySQL database at the end (it is dropped otherwise)")
	fs.StringVar(&o.serveHello, "serve-hello", "", "run only the hello-world server on `addr`")
	if err := load.ParseFlags(fs, args); err != nil {
		return o, err
	}
	if o.serveHello != "" {
		return o, nil
	}
	var err error
	if o.apis, err = parseCounts("apis", *apis, maxAPIs); err != nil {
		return o, &load.UsageError{Err: err}
	}
	if o.workers, err = parseCounts("workers", *workers, maxWorkers); err != nil {
		return o, &load.UsageError{Err: err}
	}
	if o.partitions == 0 {
		o.partitions = defaultPartitions(o.workers)
	}
	if o.redis, err = parseRedis(*redisList); err != nil {
		return o, &load.UsageError{Err: err}
	}
	if err := o.check(fs.Args()); err != nil {
		return o, &load.UsageError{Err: err}
	}
	return o, nil
}

func (o *options) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments %q", rest)
	case o.connections <= 0:
		return fmt.Errorf("-connections must be positive, not %d", o.connections)
	case o.duration < time.Second:
		return fmt.Errorf("-duration must be at least 1s, not %s", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("-warmup must not be negative, not %s", o.warmup)
	case o.stock <= 0 || o.soldOutStock <= 0:
		return fmt.Errorf("-stock and -soldout-stock must be positive, not %d and %d", o.stock, o.soldOutStock)
	case o.tokenMargin < 1:
		return fmt.Errorf("-token-margin must be at least 1, not %g", o.tokenMargin)
	case o.maxTokens <= int(o.soldOutStock):
		return fmt.Errorf("-max-tokens must exceed -soldout-stock, not %d", o.maxTokens)
	case o.drainTimeout <= 0:
		return fmt.Errorf("-drain-timeout must be positive, not %s", o.drainTimeout)
	case o.partitions < 1 || o.partitions > config.MaxPersistPartitions:
		return fmt.Errorf("-partitions must be from 1 to %d, not %d", config.MaxPersistPartitions, o.partitions)
	case o.drainOrders < 0:
		return fmt.Errorf("-drain-orders must not be negative, not %d", o.drainOrders)
	case o.mysqlDB == "" || strings.ContainsAny(o.mysqlDB, "`/?. "):
		return fmt.Errorf("-mysql-db %q is not a plain database name", o.mysqlDB)
	case !strings.HasSuffix(o.mysqlServer, "/"):
		return fmt.Errorf("-mysql must end with / (no database, no parameters), not %q", o.mysqlServer)
	}
	if u, err := url.Parse(o.amqpURL); err != nil || u.Host == "" {
		return fmt.Errorf("-amqp %q is not a URL", o.amqpURL)
	}
	return nil
}

// setups are the combinations measured, Redis by Redis, within each by
// api replicas and within those by workers, in the order of the flags.
func (o *options) setups() []setup {
	var out []setup
	for _, r := range o.redis {
		for _, n := range o.apis {
			for _, w := range o.workers {
				out = append(out, setup{Redis: r, APIs: n, Workers: w})
			}
		}
	}
	return out
}

// workersVary reports whether the setups differ in their workers: then
// each one times the worker alone, which is what the workers change.
func (o *options) workersVary() bool { return len(o.workers) > 1 }

// maxAPIs and maxWorkers bound -apis and -workers: each replica is a
// process on the machine under test.
const (
	maxAPIs    = 8
	maxWorkers = 8
)

// defaultPartitions is -partitions when it is not given: 1 while every
// setup has one worker, else 4, so that two workers hold two partitions
// each and three or four workers one or more.
func defaultPartitions(workers []int) int {
	if slices.Max(workers) > 1 {
		return 4
	}
	return 1
}

// parseCounts reads -<name>: distinct replica counts from 1 to most.
func parseCounts(name, list string, most int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > most {
			return nil, fmt.Errorf("-%s: %q is not a replica count from 1 to %d", name, f, most)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("-%s: %d appears twice", name, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// The local servers' Redis in SECKILL_REDIS_URL's form: the single server
// and the cluster scripts/services.sh starts (3 masters and 3 replicas on
// 127.0.0.1:7000-7005; a client learns the other nodes from these).
const (
	singleRedisURL  = "redis://127.0.0.1:6379/0"
	clusterRedisURL = "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"
)

// redisTarget is one Redis a setup runs on.
type redisTarget struct {
	URL     string `json:"-"`       // may hold a password
	Shown   string `json:"url"`     // URL with its password masked
	Cluster bool   `json:"cluster"` // a Redis Cluster: URL has addr= parameters
}

// Kind is "single" or "cluster".
func (r redisTarget) Kind() string {
	if r.Cluster {
		return "cluster"
	}
	return "single"
}

// Label names the Redis in the report's words.
func (r redisTarget) Label() string {
	if r.Cluster {
		return "Redis Cluster"
	}
	return "single Redis"
}

// parseRedis reads -redis: single, cluster or URLs, at most one of each
// kind, since a run's setups are told apart by kind.
func parseRedis(list string) ([]redisTarget, error) {
	var out []redisTarget
	for f := range strings.SplitSeq(list, ",") {
		raw := strings.TrimSpace(f)
		switch raw {
		case "single":
			raw = singleRedisURL
		case "cluster":
			raw = clusterRedisURL
		}
		if u, err := url.Parse(raw); err != nil || u.Host == "" || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return nil, fmt.Errorf("-redis: %q is neither single, cluster nor a redis:// URL", redact.URL(f))
		}
		r := redisTarget{URL: raw, Shown: redact.URL(raw), Cluster: strings.Contains(raw, "addr=")}
		for _, seen := range out {
			if seen.Cluster == r.Cluster {
				return nil, fmt.Errorf("-redis: two %s entries; give one of each kind at most", r.Label())
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// setup is one combination measured: a Redis, a number of api replicas
// in front of it and a number of workers behind them.
type setup struct {
	Redis   redisTarget `json:"redis"`
	APIs    int         `json:"apis"`
	Workers int         `json:"workers"`
}

// String names the setup in the report: "single Redis, 1 api",
// "single Redis, 2 apis, 2 workers". One worker goes unsaid, as it is
// the default.
func (s setup) String() string {
	name := s.Redis.Label() + ", " + plural(s.APIs, "api")
	if s.Workers > 1 {
		name += ", " + plural(s.Workers, "worker")
	}
	return name
}

// Slug names the setup's directory of results: "single-1api",
// "cluster-2apis", "single-1api-2workers".
func (s setup) Slug() string {
	slug := s.Redis.Kind() + "-" + strings.ReplaceAll(plural(s.APIs, "api"), " ", "")
	if s.Workers > 1 {
		slug += "-" + strings.ReplaceAll(plural(s.Workers, "worker"), " ", "")
	}
	return slug
}

// plural is "1 api", "2 apis".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
