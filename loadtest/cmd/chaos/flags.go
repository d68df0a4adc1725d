package main

import (
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/seckill/seckill/loadtest/internal/load"
)

// options are the command line of chaos.
type options struct {
	short       bool
	run         *regexp.Regexp // scenarios whose name matches run
	keep        bool
	out         string
	src         string // module whose cmd/api and cmd/worker are built; the running one when empty
	redisURL    string
	amqpURL     string
	mysqlServer string // go-sql-driver DSN without a database: user@tcp(host:port)/
	mysqlDB     string
	settleAfter time.Duration
	partitions  int
}

// size is how hard a scenario pushes: the spike and the outage lengths.
type size struct {
	users     int           // distinct buyers of the spike, one purchase each
	stock     int64         // units of the sale
	rate      int           // buyers released per second, over both apis
	outage    time.Duration // how long the broker is blocked
	mysqlDown time.Duration // how long MySQL refuses the worker
}

// sizes of the full run and of -short.
var (
	fullSize  = size{users: 3000, stock: 2400, rate: 300, outage: 10 * time.Second, mysqlDown: 60 * time.Second}
	shortSize = size{users: 1500, stock: 1200, rate: 250, outage: 6 * time.Second, mysqlDown: 15 * time.Second}
)

// size is the size the options ask for.
func (o options) size() size {
	if o.short {
		return shortSize
	}
	return fullSize
}

// parseFlags reads the command line. It returns flag.ErrHelp for -h.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var run string
	fs := load.NewFlagSet("chaos",
		"Builds cmd/api and cmd/worker, starts two of each against the local Redis, RabbitMQ and\n"+
			"MySQL, and for each scenario opens a sale, runs a paced spike, injects one fault from\n"+
			"outside (a killed api or worker, a blocked or disconnected broker, lost stock keys, MySQL\n"+
			"refusing the worker, a poison message, a Redis Cluster master killed when -redis is a cluster),\n"+
			"waits for the sale to settle and checks that every accepted order is accounted for.\n"+
			"Server settings a fault changes are restored on exit.\n"+
			"Exit status 0: every check held; 1: a check failed or the run failed; 2: usage error.",
		stderr)
	fs.BoolVar(&o.short, "short", false, "fewer orders and shorter outages, same scenarios")
	fs.StringVar(&run, "run", "", "run only the scenarios whose name matches this `regexp`")
	fs.BoolVar(&o.keep, "keep", false, "keep the database and the process logs")
	fs.StringVar(&o.out, "out", "", "`dir`ectory of the process logs (default loadtest/results/chaos-<time>)")
	fs.StringVar(&o.src, "src", "", "build cmd/api and cmd/worker from the module in this `dir`ectory (default: this one)")
	fs.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis `URL`; one with addr= parameters is a Redis Cluster (redis://h:7000?addr=h:7001&addr=h:7002)")
	fs.StringVar(&o.amqpURL, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ `URL`")
	fs.StringVar(&o.mysqlServer, "mysql", "root@tcp(127.0.0.1:3306)/", "MySQL `DSN` without a database; the user must create users and databases")
	fs.StringVar(&o.mysqlDB, "db", "seckill_chaos", "MySQL `database` of the run, dropped and created at start")
	fs.IntVar(&o.partitions, "partitions", 4, "SECKILL_PERSIST_PARTITIONS given to the apis and the workers: the two workers share the partitions")
	fs.DurationVar(&o.settleAfter, "settle-after", 7*time.Second, "SECKILL_SETTLE_AFTER given to the apis (at least their confirm timeout, 5s, plus 1s)")
	if err := load.ParseFlags(fs, args); err != nil {
		return o, err
	}
	if err := o.check(fs.Args(), run); err != nil {
		return o, &load.UsageError{Err: err}
	}
	return o, nil
}

func (o *options) check(rest []string, run string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments %q", rest)
	case o.partitions < 1:
		return fmt.Errorf("-partitions must be at least 1, not %d", o.partitions)
	case o.settleAfter <= 0:
		return fmt.Errorf("-settle-after must be positive, not %s", o.settleAfter)
	case o.mysqlDB == "" || !dbName.MatchString(o.mysqlDB):
		return fmt.Errorf("-db must be letters, digits and underscores, not %q", o.mysqlDB)
	}
	re, err := regexp.Compile(run)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	o.run = re
	return nil
}

var dbName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
