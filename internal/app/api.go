package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/cache"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
)

// Overrides let tests isolate one run from another on shared servers.
type Overrides struct {
	Topology    *mq.Topology // queue and exchange names
	StockPrefix string       // key prefix in Redis / memcached
}

// API is a running api process minus its sockets: the service, both
// handlers, and everything that must be closed, in order.
type API struct {
	Config   config.API
	Service  *order.Service
	Public   http.Handler
	Admin    http.Handler
	Tokens   *httpapi.Tokens
	Metrics  *metrics.Metrics
	Registry *prometheus.Registry
	Stock    order.Stock
	Repo     order.Repository
	// Events holds the lifecycle events of the embedded mode (nil on real
	// servers, where the worker relays them to RabbitMQ).
	Events *mq.EventLog

	log       *slog.Logger
	saleCache *cache.Sales
	bus       *stock.RedisBus
	closers   []namedCloser
	// background runs alongside the listeners (the embedded worker).
	background []func(ctx context.Context) error
}

type namedCloser struct {
	name  string
	close func(ctx context.Context) error
}

func (a *API) onClose(name string, f func(ctx context.Context) error) {
	a.closers = append(a.closers, namedCloser{name, f})
}

// Close releases every backend, last opened first.
func (a *API) Close(ctx context.Context) error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		c := a.closers[i]
		if err := c.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", c.name, err))
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

// NewAPI opens the backends of cfg (real servers, or embedded ones when none
// is configured) and builds the api. On error everything opened is closed.
func NewAPI(ctx context.Context, cfg config.API, log *slog.Logger, ov Overrides) (_ *API, err error) {
	reg := prometheus.NewRegistry()
	a := &API{Config: cfg, log: log, Registry: reg, Metrics: metrics.New(reg)}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()
	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("jwt secret: %w", err)
		}
	}
	a.Tokens = httpapi.NewTokens(secret)

	var pub order.Publisher
	var checks []httpapi.Check
	if cfg.Embedded() {
		pub, checks, err = a.openEmbedded(ctx, ov)
	} else {
		pub, checks, err = a.openReal(ctx, ov)
	}
	if err != nil {
		return nil, err
	}
	// Rebuilds of lost stock send their fences on the publisher itself,
	// not through the coalescer: a fence travels alone.
	fencer, _ := pub.(order.Fencer)
	if bp, ok := pub.(mq.BatchPublisher); ok && cfg.PublishBatch > 1 {
		// Orders accepted together travel in one message: one confirm per
		// batch instead of per order.
		pub = mq.NewCoalescer(bp, cfg.PublishInFlight, cfg.PublishBatch)
	}
	// The store keeps the worker's dead letters, in both modes.
	deadLetters, _ := a.Repo.(order.DeadLetters)
	svcOpts := []order.Option{
		order.WithUnconfirmedHook(func(order.Order, error) { a.Metrics.Unconfirmed.Inc() }),
		order.WithSoldOutBus(a.bus),
		order.WithDeadLetters(deadLetters),
		order.WithSettleAfter(cfg.SettleAfter), order.WithSettleInterval(cfg.SettleInterval),
	}
	rebuilds, _ := a.Repo.(order.Rebuilds)
	held, _ := a.Repo.(order.HeldOrders)
	if rebuilds != nil && fencer != nil {
		// A publish started before a loss has its confirm, or has failed,
		// within the confirm timeout: then the fence goes out behind it.
		svcOpts = append(svcOpts, order.WithRebuilds(rebuilds, fencer, held, cfg.ConfirmTimeout+time.Second))
	} else {
		log.Warn("lost stock is warmed without a fence: the store or the queue cannot record fences")
	}
	a.Service = order.NewService(countReleases(a.Stock, a.Metrics), pub, a.Repo, log, svcOpts...)
	a.Metrics.SettleBound.Set((cfg.SettleAfter + cfg.SettleInterval).Seconds())
	initAPISeries(a.Metrics, cfg.StockBackend)
	gauges := &saleGauges{service: a.Service, repo: a.Repo, m: a.Metrics, log: log}
	a.background = append(a.background, gauges.run)
	interval := cfg.ExpiryInterval
	if interval <= 0 {
		interval = defaultExpiryInterval
	}
	a.background = append(a.background, expirySweeper(a.Service, a.Metrics, log, interval).run)
	settleEvery := cfg.SettleInterval
	if settleEvery <= 0 {
		settleEvery = order.DefaultSettleInterval
	}
	a.background = append(a.background, settler(a.Service, a.Metrics, log, settleEvery).run)
	a.Public = httpapi.NewPublic(httpapi.PublicConfig{
		Orders: a.Service,
		Sales:  a.saleReader(),
		Tokens: a.Tokens,
		// The buckets of the most recent clients only: a client hammering
		// stays among them, and every bucket kept is heap the GC scans.
		UserLimit: httpapi.NewLimiter(cfg.UserRate, cfg.UserBurst, 1<<16),
		IPLimit:   httpapi.NewLimiter(cfg.IPRate, cfg.IPBurst, 1<<14),
		BodyLimit: cfg.BodyLimit,
		Checks:    checks,
		Log:       log,
		Metrics:   a.Metrics,

		TrustedProxies: cfg.TrustedProxies,
		Catalog:        a.Service,
		Storefront:     cfg.StorefrontServed(),
		DemoTokens:     cfg.Embedded(),
	})
	auditLog, _ := a.Repo.(order.AuditLog)
	a.Admin = httpapi.NewAdmin(httpapi.AdminConfig{
		Sales:     a.Service,
		Tokens:    a.Tokens,
		Token:     cfg.AdminToken,
		BodyLimit: cfg.BodyLimit,
		Gatherer:  reg,
		Log:       log,
		Metrics:   a.Metrics,
		OnChange:  a.invalidateSale,

		DeadLetters:    a.Service,
		TrustedProxies: cfg.TrustedProxies,
		NamedTokens:    cfg.AdminTokens,
		Audit:          auditLog, // every store keeps the audit trail, in both modes
	})
	return a, nil
}

// saleReader serves GET /api/v1/sales/{id}: through the memcached
// read-through cache when the api runs on real servers, straight from the
// service in the embedded mode.
func (a *API) saleReader() httpapi.SaleReader {
	if a.saleCache != nil {
		return a.saleCache
	}
	return a.Service
}

// invalidateSale drops the cached copy of a sale that just changed.
func (a *API) invalidateSale(ctx context.Context, id int64) {
	if a.saleCache == nil {
		return
	}
	if err := a.saleCache.Invalidate(ctx, id); err != nil {
		a.log.WarnContext(ctx, "sale cache invalidation failed; the entry expires on its own", "sale_id", id, "err", err)
	}
}

// openReal connects to Redis (or memcached), RabbitMQ and MySQL.
func (a *API) openReal(ctx context.Context, ov Overrides) (order.Publisher, []httpapi.Check, error) {
	cfg := a.Config
	if err := EnsureDatabase(ctx, cfg.MySQLDSN); err != nil {
		return nil, nil, err
	}
	st, err := store.OpenMySQL(ctx, cfg.MySQLDSN, a.log, store.WithMetrics(a.Metrics))
	if err != nil {
		return nil, nil, err
	}
	a.onClose("mysql", func(context.Context) error { return st.Close() })
	a.Repo = st

	rdb, err := OpenRedis(ctx, cfg.RedisURL)
	if err != nil {
		return nil, nil, err
	}
	a.onClose("redis", func(context.Context) error { return rdb.Close() })
	checks := []httpapi.Check{
		{Name: "mysql", Ping: st.Ping},
		{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	}
	if err := a.openStock(rdb, ov); err != nil {
		return nil, nil, err
	}
	if p, ok := a.Stock.(interface{ Ping(context.Context) error }); ok {
		// The memcached stock backend decides purchases: not ready without it.
		checks = append(checks, httpapi.Check{Name: "memcached", Ping: p.Ping})
	}
	mc, err := stock.ParseWeightedServers(cfg.MemcacheServers)
	if err != nil {
		return nil, nil, fmt.Errorf("SECKILL_MEMCACHE_SERVERS: %w", err)
	}
	mcc := memcache.NewFromSelector(mc)
	mcc.Timeout = 200 * time.Millisecond
	copts := []cache.Option{cache.WithMetrics(a.Metrics)}
	if ov.StockPrefix != "" {
		copts = append(copts, cache.WithPrefix(ov.StockPrefix+":cache"))
	}
	a.saleCache = cache.NewSales(mcc, st, a.Stock, a.log, copts...)
	a.onClose("memcached cache", func(context.Context) error { return mcc.Close() })

	opts := []mq.Option{
		mq.WithMetrics(a.Metrics), mq.WithWindow(cfg.ConfirmWindow),
		mq.WithConfirmTimeout(cfg.ConfirmTimeout), mq.WithConnectionName("seckill-api"),
	}
	if ov.Topology != nil {
		opts = append(opts, mq.WithTopology(*ov.Topology))
	}
	pub, err := mq.DialPublisher(ctx, cfg.AMQPURL, a.log, opts...)
	if err != nil {
		return nil, nil, err
	}
	// Closed first on shutdown (after the listeners drained): flush confirms.
	a.onClose("rabbitmq publisher", pub.Close)
	checks = append(checks, httpapi.Check{Name: "rabbitmq", Ping: func(context.Context) error {
		if !pub.Ready() {
			return errors.New("not connected")
		}
		return nil
	}})
	return pub, checks, nil
}

// openStock picks the stock backend.
func (a *API) openStock(rdb redis.UniversalClient, ov Overrides) error {
	sopts := []stock.Option{
		stock.WithMetrics(a.Metrics), stock.WithLogger(a.log),
		stock.WithReplicaWait(a.Config.RedisWaitReplicas, a.Config.RedisWaitTimeout),
	}
	if ov.StockPrefix != "" {
		sopts = append(sopts, stock.WithPrefix(ov.StockPrefix))
	}
	prefix := ov.StockPrefix
	if prefix == "" {
		prefix = stock.DefaultPrefix
	}
	a.bus = stock.NewRedisBus(rdb, prefix, a.log)
	a.background = append(a.background, func(ctx context.Context) error {
		return a.bus.Run(ctx, a.Service.Announced)
	})
	switch a.Config.StockBackend {
	case config.BackendMemcache:
		mc, err := stock.NewMemcached(a.Config.MemcacheServers, sopts...)
		if err != nil {
			return fmt.Errorf("memcached stock: %w", err)
		}
		a.onClose("memcached stock", func(context.Context) error { return mc.Close() })
		a.Stock = mc
	default:
		a.Stock = stock.NewRedis(rdb, sopts...)
	}
	return nil
}

// Run serves the public and admin listeners (and the embedded worker) until
// ctx ends, then shuts down in order: stop accepting, drain requests, flush
// publisher confirms, close clients.
func (a *API) Run(ctx context.Context, bound []*Bound) error {
	stopBackground := a.StartBackground(ctx)
	err := Serve(ctx, a.log, a.Config.ShutdownTimeout, bound...)
	err = errors.Join(err, stopBackground())
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), a.Config.ShutdownTimeout)
	defer ccancel()
	return errors.Join(err, a.Close(cctx))
}

// StartBackground starts what runs beside the listeners (the sold-out bus,
// the sale gauges, the expiry sweeper, the embedded worker) and returns a
// function that stops it and waits.
func (a *API) StartBackground(ctx context.Context) (stop func() error) {
	bctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, len(a.background))
	for _, f := range a.background {
		go func() { errc <- f(bctx) }()
	}
	return func() error {
		cancel()
		var err error
		for range a.background {
			err = errors.Join(err, <-errc)
		}
		a.background = nil
		return err
	}
}

// Listeners returns the api's two listeners as configured.
func (a *API) Listeners() []Listener {
	return []Listener{
		{Name: "public", Addr: a.Config.HTTPAddr, Handler: a.Public},
		{Name: "admin", Addr: a.Config.AdminAddr, Handler: a.Admin},
	}
}

// DemoSale creates the embedded mode's demo sale: active from now for a day.
func (a *API) DemoSale(ctx context.Context) (order.SaleView, error) {
	now := time.Now().UTC().Truncate(time.Second)
	return a.Service.CreateSale(ctx, order.NewSale{
		Name: "seckill demo", PriceCents: 999, TotalStock: a.Config.DemoStock,
		StartsAt: now.Add(-time.Second), EndsAt: now.Add(24 * time.Hour), PaymentWindow: 15 * time.Minute,
	})
}
