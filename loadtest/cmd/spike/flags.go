package main

import (
	"github.com/seckill/seckill/loadtest/internal/load"

	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// options are the command line of spike.
type options struct {
	target       string
	admin        string
	adminToken   string
	sale         int64
	users        int
	userBase     int64
	concurrency  int
	duration     time.Duration
	secret       string
	drainTimeout time.Duration
	jsonPath     string

	// With admission every buyer walks the sale's admission before its
	// purchase; without -sale the run opens a sale of its own with it.
	admission     bool
	admissionRate int64
	powBits       int
	stock         int64
	saleSet       bool // -sale was given
}

// parseFlags reads the command line; getenv supplies SECKILL_ADMIN_TOKEN and
// SECKILL_JWT_SECRET when their flags are not given, and now derives the
// default first user id. It returns flag.ErrHelp for -h.
func parseFlags(args []string, stderr io.Writer, getenv func(string) string, now time.Time) (options, error) {
	var o options
	fs := load.NewFlagSet("spike",
		"Fires a flash sale at a running seckill api: one purchase per user, all users\n"+
			"released at once, then waits for the queue to drain and checks the invariants.\n"+
			"Exit status 0: every invariant holds; 1: one failed; 2: usage error or api unreachable.",
		stderr)
	fs.StringVar(&o.target, "target", "http://127.0.0.1:8080", "public base `URL` of the api")
	fs.StringVar(&o.admin, "admin", "http://127.0.0.1:9090", "admin base `URL` of the api")
	fs.StringVar(&o.adminToken, "admin-token", "", "bearer `token` for the admin API (default $SECKILL_ADMIN_TOKEN)")
	fs.Int64Var(&o.sale, "sale", 1, "sale `id`")
	fs.IntVar(&o.users, "users", 20000, "distinct users, one purchase each")
	fs.Int64Var(&o.userBase, "user-base", 0, "first user `id`; 0 derives one from the clock so reruns use fresh users")
	fs.IntVar(&o.concurrency, "concurrency", 256, "connections and goroutines firing at once")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "upper bound of the firing phase; it ends earlier once every user has its answer")
	fs.StringVar(&o.secret, "secret", "", "mint tokens locally with this HS256 `secret` (default $SECKILL_JWT_SECRET); "+
		"without one, tokens come from POST /admin/v1/tokens")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 60*time.Second, "how long to wait for reserved_in_flight to reach 0")
	fs.StringVar(&o.jsonPath, "json", "", "also write the summary as JSON to this `path`")
	fs.BoolVar(&o.admission, "admission", false, "every buyer walks the sale's admission first: challenge and proof of work, "+
		"waiting room (polling as told), then the purchase with its ticket; without -sale, opens a sale of -stock units "+
		"with -admission-rate and -pow-bits")
	fs.Int64Var(&o.admissionRate, "admission-rate", 200, "with -admission and no -sale: buyers let in per second (0: no waiting room)")
	fs.IntVar(&o.powBits, "pow-bits", 12, "with -admission and no -sale: leading zero bits of the proof of work (0: none)")
	fs.Int64Var(&o.stock, "stock", 1000, "with -admission and no -sale: units of the sale opened")
	if err := load.ParseFlags(fs, args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.saleSet = set["sale"]
	if !set["admin-token"] {
		o.adminToken = getenv("SECKILL_ADMIN_TOKEN")
	}
	if !set["secret"] {
		o.secret = getenv("SECKILL_JWT_SECRET")
	}
	if o.userBase == 0 {
		// Microseconds since the epoch: a rerun a second later starts a
		// million ids further on.
		o.userBase = now.UnixMicro()
	}
	if err := o.check(fs.Args()); err != nil {
		return o, &load.UsageError{Err: err}
	}
	return o, nil
}

func (o *options) check(rest []string) error {
	var err error
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments %q", rest)
	case o.sale <= 0:
		return fmt.Errorf("-sale must be positive, not %d", o.sale)
	case o.users <= 0:
		return fmt.Errorf("-users must be positive, not %d", o.users)
	case o.userBase < 0:
		return fmt.Errorf("-user-base must be positive, not %d", o.userBase)
	case o.userBase > (1<<53)-int64(o.users):
		return fmt.Errorf("-user-base %d is too large", o.userBase)
	case o.concurrency <= 0:
		return fmt.Errorf("-concurrency must be positive, not %d", o.concurrency)
	case o.duration <= 0:
		return fmt.Errorf("-duration must be positive, not %s", o.duration)
	case o.drainTimeout <= 0:
		return fmt.Errorf("-drain-timeout must be positive, not %s", o.drainTimeout)
	case o.admissionRate < 0 || o.powBits < 0 || o.stock <= 0:
		return fmt.Errorf("-admission-rate and -pow-bits must not be negative and -stock must be positive, not %d, %d and %d",
			o.admissionRate, o.powBits, o.stock)
	case o.admission && !o.saleSet && o.admissionRate == 0 && o.powBits == 0:
		return fmt.Errorf("-admission with -admission-rate 0 and -pow-bits 0 opens a sale without admission")
	}
	if o.target, err = baseURL("-target", o.target); err != nil {
		return err
	}
	if o.admin, err = baseURL("-admin", o.admin); err != nil {
		return err
	}
	return nil
}

// baseURL checks an http(s) base URL and drops a trailing slash.
func baseURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s must be a base URL such as http://127.0.0.1:8080, not %q", name, raw)
	}
	return strings.TrimRight(raw, "/"), nil
}
