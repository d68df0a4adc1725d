package main

import (
	"github.com/seckill/seckill/loadtest/internal/load"

	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
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
	redisURL     string
	amqpURL      string
	mysqlServer  string // go-sql-driver DSN without a database: user@tcp(host:port)/
	mysqlDB      string
	keepDB       bool

	serveHello string // hidden: run the hello-world server on this address and nothing else
}

// hiddenFlags are left out of the usage text: they are for the bench's own
// child processes.
var hiddenFlags = map[string]bool{"serve-hello": true}

// parseFlags reads the command line. It returns flag.ErrHelp for -h.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bench [flags]\n\n"+
			"Builds cmd/api and cmd/worker, starts them against the local Redis, RabbitMQ and MySQL\n"+
			"next to a gin hello-world server, drives the same closed-loop load at each, and reports\n"+
			"throughput and latency as ratios to the hello-world baseline of the same run, plus orders\n"+
			"persisted per second against a raw confirmed-publish ceiling measured in the same run, end to end\n"+
			"and for the worker alone draining a queue filled while it was stopped.\n"+
			"Exit status 0 unless the run failed (errors, 5xx, a broken invariant); 2 on a usage error.\n\nflags:")
		fs.VisitAll(func(f *flag.Flag) {
			if hiddenFlags[f.Name] {
				return
			}
			name, use := flag.UnquoteUsage(f)
			fmt.Fprintf(fs.Output(), "  -%s %s\n    \t%s", f.Name, name, strings.ReplaceAll(use, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(fs.Output(), " (default %s)", f.DefValue)
			}
			fmt.Fprintln(fs.Output())
		})
	}
	fs.IntVar(&o.connections, "connections", 64, "closed-loop workers, each with its own keep-alive connection, in every phase")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each phase")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before each measured window, not counted")
	fs.StringVar(&o.out, "out", "", "write bench.json, bench.md, bench.html, logs and profiles to this `dir` "+
		"(default loadtest/results/<timestamp>/ in the module)")
	fs.BoolVar(&o.profile, "profile", false, "save 5s CPU profiles of the api and the worker in the contended phase, and of the api in the sold-out phase")
	fs.Int64Var(&o.stock, "stock", 5_000_000, "units of the contended sale; must exceed the purchases of the phase")
	fs.Int64Var(&o.soldOutStock, "soldout-stock", 10, "units of the sale bought out before the sold-out phase")
	fs.Float64Var(&o.tokenMargin, "token-margin", 1.5, "user tokens minted = hello-world req/s × (warmup + duration) × this `factor`")
	fs.IntVar(&o.maxTokens, "max-tokens", 3_000_000, "upper bound of the user tokens minted")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 3*time.Minute,
		"how long to wait for every accepted order, and every worker-alone order, to reach MySQL")
	fs.Int64Var(&o.drainOrders, "drain-orders", 100_000, "orders queued while the worker is stopped, then persisted by the worker "+
		"alone to time the persistence stage; 0 skips it")
	fs.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis `URL`")
	fs.StringVar(&o.amqpURL, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ `URL`")
	fs.StringVar(&o.mysqlServer, "mysql", "root@tcp(127.0.0.1:3306)/", "MySQL server as a go-sql-driver `DSN` without a database")
	fs.StringVar(&o.mysqlDB, "mysql-db", "seckill_bench", "MySQL `database` of the run: dropped and created at the start")
	fs.BoolVar(&o.keepDB, "keep-db", false, "keep the MySQL database at the end (it is dropped otherwise)")
	fs.StringVar(&o.serveHello, "serve-hello", "", "run only the hello-world server on `addr`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, &load.UsageError{Err: err}
	}
	if o.serveHello != "" {
		return o, nil
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
	case o.drainOrders < 0:
		return fmt.Errorf("-drain-orders must not be negative, not %d", o.drainOrders)
	case o.mysqlDB == "" || strings.ContainsAny(o.mysqlDB, "`/?. "):
		return fmt.Errorf("-mysql-db %q is not a plain database name", o.mysqlDB)
	case !strings.HasSuffix(o.mysqlServer, "/"):
		return fmt.Errorf("-mysql must end with / (no database, no parameters), not %q", o.mysqlServer)
	}
	for name, raw := range map[string]string{"-redis": o.redisURL, "-amqp": o.amqpURL} {
		if u, err := url.Parse(raw); err != nil || u.Host == "" {
			return fmt.Errorf("%s %q is not a URL", name, raw)
		}
	}
	return nil
}
