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

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/cache"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/groupcommit"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redisurl"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
)

// Overrides let tests isolate one run from another on shared servers.
type Overrides struct {
	Topology    *mq.Topology // queue and exchange names
	StockPrefix string       // key prefix in Redis / memcached
}

// API is a running api process minus its sockets: the domain's use
// cases, both handlers, and everything that must be closed, in order.
type API struct {
	Config   config.API
	UseCases order.UseCases
	Public   http.Handler
	Admin    http.Handler
	Tokens   *httpapi.Tokens
	Metrics  *metrics.Metrics
	Registry *prometheus.Registry
	Stock    order.Stock
	Repo     *store.Store
	// Events holds the lifecycle events of the embedded mode (nil on real
	// servers, where the worker relays them to RabbitMQ).
	Events *mq.EventLog

	log     *slog.Logger
	closers closers
	// background runs alongside the listeners: the sold-out bus, the sale
	// gauges, the expiry sweeper, the settler, and in the embedded mode the
	// worker loop and the event relay.
	background []func(ctx context.Context) error
}

// backends are what the api runs on, as openReal or openEmbedded opened
// them; each is registered in the api's closers as it is opened.
type backends struct {
	repo  *store.Store
	stock order.Stock
	bus   *stock.RedisBus
	pub   order.Publisher
	// fencer sends a stock rebuild's fence; nil when the queue cannot.
	fencer order.Fencer
	// room holds the sales' waiting rooms, on Redis whatever the stock
	// backend.
	room *stock.Room
	// sales is the sale cache (nil in the embedded mode).
	sales  *cache.Sales
	events *mq.EventLog // the embedded mode's lifecycle events
	checks []httpapi.Check
	// background is work the backends bring (the embedded worker loop and
	// event relay).
	background []func(ctx context.Context) error
}

// Close releases every backend, last opened first.
func (a *API) Close(ctx context.Context) error { return a.closers.closeAll(ctx) }

// NewAPI opens the backends of cfg (real servers, or embedded ones when none
// is configured) and builds the api. On error everything opened is closed.
func NewAPI(ctx context.Context, cfg config.API, log *slog.Logger, ov Overrides) (_ *API, err error) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	a := &API{Config: cfg, log: log, Registry: reg, Metrics: m}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()

	key, err := jwtKey(cfg.JWTSecret)
	if err != nil {
		return nil, err
	}
	tokens := httpapi.NewTokens(key)
	open := openReal
	if cfg.Embedded() {
		open = openEmbedded
	}
	b, err := open(ctx, cfg, log, m, ov, &a.closers)
	if err != nil {
		return nil, err
	}
	uc := newUseCases(cfg, log, m, b)

	m.SettleBound.Set((cfg.SettleAfter + cfg.SettleInterval).Seconds())
	initAPISeries(m, cfg.StockBackend)
	background := []func(ctx context.Context) error{
		func(ctx context.Context) error { return b.bus.Run(ctx, uc.Purchases.Announced) },
		(&saleGauges{catalog: uc.Catalog, repo: b.repo, m: m, log: log}).run,
		expirySweeper(uc.Payments, m, log, orDefault(cfg.ExpiryInterval, defaultExpiryInterval)).run,
		settler(uc.Settler, m, log, orDefault(cfg.SettleInterval, order.DefaultSettleInterval)).run,
	}
	// Frequent admin changes (token minting) are counted in memory and
	// written a second at a time, and once more when the api stops (the
	// closer runs before the store's).
	audit := order.NewAuditTally(b.repo, log)
	a.closers.add("audit tally", audit.Flush)
	background = append(background, audit.Run)
	public := httpapi.NewPublic(httpapi.PublicConfig{
		Orders:   uc.Purchases,
		Payments: uc.Payments,
		Sales:    uc.Catalog,
		Tokens:   tokens,
		// The buckets of the most recent clients only: a client hammering
		// stays among them, and every bucket kept is heap the GC scans.
		UserLimit: httpapi.NewLimiter[int64](cfg.UserRate, cfg.UserBurst, 1<<16),
		IPLimit:   httpapi.NewLimiter[string](cfg.IPRate, cfg.IPBurst, 1<<14),
		BodyLimit: cfg.BodyLimit,
		Checks:    b.checks,
		Log:       log,
		Metrics:   m,

		TrustedProxies: cfg.TrustedProxies,
		Catalog:        uc.Catalog,
		Storefront:     cfg.StorefrontServed(),
		DemoTokens:     cfg.Embedded(),
		Admission:      admission.New(key, uc.Catalog, b.room),
	})
	admin := httpapi.NewAdmin(httpapi.AdminConfig{
		Sales:     uc.Catalog,
		Tokens:    tokens,
		Token:     cfg.AdminToken,
		BodyLimit: cfg.BodyLimit,
		Gatherer:  reg,
		Log:       log,
		Metrics:   m,

		DeadLetters:    uc.DeadLetterDesk,
		TrustedProxies: cfg.TrustedProxies,
		NamedTokens:    cfg.AdminTokens,
		Audit:          audit, // every store keeps the audit trail, in both modes
	})

	a.UseCases, a.Tokens, a.Public, a.Admin = uc, tokens, public, admin
	a.Repo, a.Stock, a.Events = b.repo, b.stock, b.events
	background = append(background, b.background...)
	a.background = background
	return a, nil
}

// jwtKey is the key user tokens (and, derived from it, admission tokens)
// are signed with: secret, or a random key per start when there is none
// (the embedded mode).
func jwtKey(secret string) ([]byte, error) {
	key := []byte(secret)
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("jwt secret: %w", err)
		}
	}
	return key, nil
}

// newUseCases builds the domain's use cases over the backends.
func newUseCases(cfg config.API, log *slog.Logger, m *metrics.Metrics, b backends) order.UseCases {
	pub := b.pub
	if bp, ok := pub.(mq.BatchPublisher); ok && cfg.PublishBatch > 1 {
		// Orders accepted together travel in one message: one confirm per
		// batch instead of per order. A message of at least a fill does
		// not wait for a slot: under load the window widens up to its
		// maximum. Fences go on the publisher itself.
		pub = mq.NewCoalescer(bp, cfg.PublishInFlight, cfg.PublishBatch,
			groupcommit.WithLinger(cfg.PublishLinger, cfg.PublishFill),
			groupcommit.WithBurst(cfg.PublishMaxInFlight, cfg.PublishFill))
	}
	opts := []order.Option{
		order.WithUnconfirmedHook(func(order.Order, error) { m.Unconfirmed.Inc() }),
		order.WithSoldOutBus(b.bus),
		order.WithDeadLetters(b.repo), // the store keeps the worker's dead letters, in both modes
		order.WithSettleAfter(cfg.SettleAfter), order.WithSettleInterval(cfg.SettleInterval),
		// A publish, waits for a coalescer batch and a confirm slot
		// included, ends within the confirm timeout of its reservation:
		// the rebuild's quiet time below counts on it.
		order.WithPublishDeadline(cfg.ConfirmTimeout),
	}
	if b.sales != nil {
		opts = append(opts, order.WithSaleCache(b.sales))
	}
	if backlog, ok := b.pub.(order.Backlog); ok {
		opts = append(opts, order.WithSettleBacklog(backlog, cfg.SettleMaxBacklog))
	}
	if l, ok := b.stock.(order.UnitLimit); ok {
		opts = append(opts, order.WithUnitLimit(l.MaxUnits()))
	}
	if b.fencer != nil {
		// A publish started before a loss has its confirm, or has failed,
		// within the confirm timeout: then the fence goes out behind it.
		opts = append(opts, order.WithRebuilds(b.repo, b.fencer, b.repo, cfg.ConfirmTimeout+time.Second))
	} else {
		log.Warn("lost stock is warmed without a fence: the queue cannot send fences")
	}
	return order.New(countReleases(b.stock, m), pub, b.repo, log, opts...)
}

// orDefault is d, or def when d is not set.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// openReal connects to MySQL, Redis (or memcached), the sale cache and
// RabbitMQ.
func openReal(ctx context.Context, cfg config.API, log *slog.Logger, m *metrics.Metrics, ov Overrides, c *closers) (backends, error) {
	var b backends
	if err := EnsureDatabase(ctx, cfg.MySQLDSN); err != nil {
		return b, err
	}
	st, err := store.OpenMySQL(ctx, cfg.MySQLDSN, log, store.WithMetrics(m))
	if err != nil {
		return b, err
	}
	c.add("mysql", func(context.Context) error { return st.Close() })
	b.repo = st

	rdb, err := redisurl.Open(ctx, cfg.RedisURL)
	if err != nil {
		return b, err
	}
	c.add("redis", func(context.Context) error { return rdb.Close() })
	b.checks = []httpapi.Check{
		{Name: "mysql", Ping: st.Ping},
		{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	}
	if b.stock, b.bus, err = openStock(rdb, cfg, log, m, ov, c); err != nil {
		return b, err
	}
	b.room = stock.NewRoom(rdb, stockPrefix(ov))
	if p, ok := b.stock.(interface{ Ping(context.Context) error }); ok {
		// The memcached stock backend decides purchases: not ready without it.
		b.checks = append(b.checks, httpapi.Check{Name: "memcached", Ping: p.Ping})
	}
	servers, err := stock.ParseWeightedServers(cfg.MemcacheServers)
	if err != nil {
		return b, fmt.Errorf("SECKILL_MEMCACHE_SERVERS: %w", err)
	}
	mcc := memcache.NewFromSelector(servers)
	mcc.Timeout = 200 * time.Millisecond
	c.add("memcached cache", func(context.Context) error { return mcc.Close() })
	copts := []cache.Option{cache.WithMetrics(m)}
	if ov.StockPrefix != "" {
		copts = append(copts, cache.WithPrefix(ov.StockPrefix+":cache"))
	}
	b.sales = cache.NewSales(mcc, st, log, copts...)

	opts := []mq.Option{
		mq.WithMetrics(m), mq.WithWindow(cfg.ConfirmWindow),
		mq.WithConfirmTimeout(cfg.ConfirmTimeout), mq.WithConnectionName("seckill-api"),
	}
	if ov.Topology != nil {
		opts = append(opts, mq.WithTopology(*ov.Topology))
	}
	pub, err := mq.DialPublisher(ctx, cfg.AMQPURL, log, opts...)
	if err != nil {
		return b, err
	}
	// Closed first on shutdown (after the listeners drained): flush confirms.
	c.add("rabbitmq publisher", pub.Close)
	b.pub, b.fencer = pub, pub
	b.checks = append(b.checks, httpapi.Check{Name: "rabbitmq", Ping: func(context.Context) error {
		if !pub.Ready() {
			return errors.New("not connected")
		}
		return nil
	}})
	return b, nil
}

// openStock opens the configured stock backend on rdb (or memcached), and
// the sold-out bus, which always runs on Redis.
func openStock(rdb redis.UniversalClient, cfg config.API, log *slog.Logger, m *metrics.Metrics, ov Overrides, c *closers) (order.Stock, *stock.RedisBus, error) {
	sopts := []stock.Option{
		stock.WithMetrics(m), stock.WithLogger(log),
		stock.WithReplicaWait(cfg.RedisWaitReplicas, cfg.RedisWaitTimeout),
		stock.WithReserveLinger(cfg.ReserveLinger, cfg.ReserveFill),
	}
	prefix := stockPrefix(ov)
	sopts = append(sopts, stock.WithPrefix(prefix))
	bus := stock.NewRedisBus(rdb, prefix, log)
	if cfg.StockBackend != config.BackendMemcache {
		return stock.NewRedis(rdb, sopts...), bus, nil
	}
	mc, err := stock.NewMemcached(cfg.MemcacheServers, sopts...)
	if err != nil {
		return nil, nil, fmt.Errorf("memcached stock: %w", err)
	}
	c.add("memcached stock", func(context.Context) error { return mc.Close() })
	return mc, bus, nil
}

// stockPrefix is the prefix of the stock backend's keys (and the rooms').
func stockPrefix(ov Overrides) string {
	if ov.StockPrefix != "" {
		return ov.StockPrefix
	}
	return stock.DefaultPrefix
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
	return a.demoSale(ctx, "seckill demo", order.Admission{})
}

// Demo admission of the embedded mode's second sale: a waiting room that
// lets in two buyers a second, and a proof of work a browser solves in
// about a second.
var demoAdmission = order.Admission{RatePerSecond: 2, PowBits: 16}

// DemoAdmissionSale creates the embedded mode's second demo sale, which
// admits buyers through a waiting room and a proof of work.
func (a *API) DemoAdmissionSale(ctx context.Context) (order.SaleView, error) {
	return a.demoSale(ctx, "seckill demo with a waiting room", demoAdmission)
}

func (a *API) demoSale(ctx context.Context, name string, adm order.Admission) (order.SaleView, error) {
	now := time.Now().UTC().Truncate(time.Second)
	return a.UseCases.Catalog.CreateSale(ctx, order.NewSale{
		Name: name, PriceCents: 999, TotalStock: a.Config.DemoStock,
		StartsAt: now.Add(-time.Second), EndsAt: now.Add(24 * time.Hour), PaymentWindow: 15 * time.Minute,
		Admission: adm,
	})
}
