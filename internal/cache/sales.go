// Package cache holds the read-through cache of sales' static fields, a
// decorator of the repository's Sale lookup that order.Catalog reads
// through (order.WithSaleCache) for GET /api/v1/sales/{id}.
//
// Sales serves a sale's static fields from memcached and loads them from
// the repository (MySQL) on a miss. It caches no live number: the catalog
// reads the remaining stock from the stock backend on every call, so a
// sale's status flips to sold out the moment its last unit goes, and Sold,
// which moves with every persisted order, is not kept. One load runs per
// key at a time (singleflight): a stampede on a cold sale costs one query.
//
// Entries live for a short TTL, checked against the entry's own timestamp
// with the Sales clock (memcached's expiry, one second coarser, only
// collects them), and Invalidate removes one at once. An unknown sale is
// cached as a negative entry for a shorter TTL. When memcached fails, reads
// go to the repository directly for a while, so an outage costs latency
// and database load but no errors; it is logged at most once per interval.
//
// It imports the domain (internal/order), metrics and throttle only.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"golang.org/x/sync/singleflight"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/throttle"
)

// SaleRepo reads a sale from the durable store. Sale returns an error
// matching order.ErrSaleNotFound for an unknown id.
type SaleRepo interface {
	Sale(ctx context.Context, id int64) (order.Sale, error)
}

// Cache lookup results, the values of metrics.CacheRequests' result label.
const (
	ResultHit   = "hit"
	ResultMiss  = "miss"
	ResultError = "error"
)

// Defaults of the options.
const (
	DefaultPrefix      = "skc"
	DefaultTTL         = 5 * time.Second
	DefaultNegativeTTL = time.Second
	DefaultBypass      = time.Second
	DefaultLogInterval = 10 * time.Second
	DefaultLoadTimeout = 5 * time.Second
)

// Sales is the read-through cache of sales' static fields: it serves the
// repository's Sale call (order.SaleCache). It is safe for concurrent use.
type Sales struct {
	mc      *memcache.Client
	repo    SaleRepo
	log     *slog.Logger
	metrics *metrics.Metrics

	prefix      string
	ttl         time.Duration
	negativeTTL time.Duration
	bypass      time.Duration
	logInterval time.Duration
	loadTimeout time.Duration
	now         func() time.Time

	flights singleflight.Group
	// invalidations counts Invalidate calls; a load that saw it move does
	// not store what it read, which may predate the invalidation.
	invalidations atomic.Uint64

	mu          sync.Mutex
	bypassUntil time.Time // memcached is skipped until then after a failure
	failureLog  throttle.Log
}

// Option configures Sales.
type Option func(*Sales)

// WithPrefix sets the first segment of every cache key (default "skc").
func WithPrefix(p string) Option { return func(s *Sales) { s.prefix = p } }

// WithTTL sets how long a sale's static fields are served from memcached
// (default 5s).
func WithTTL(d time.Duration) Option { return func(s *Sales) { s.ttl = d } }

// WithNegativeTTL sets how long "no such sale" is served from memcached
// (default 1s); zero or less does not cache it.
func WithNegativeTTL(d time.Duration) Option { return func(s *Sales) { s.negativeTTL = d } }

// WithBypass sets how long reads skip memcached after it failed (default
// 1s), so an outage does not add a timeout to every read.
func WithBypass(d time.Duration) Option { return func(s *Sales) { s.bypass = d } }

// WithLogInterval sets the least time between two logs of memcached
// failures (default 10s).
func WithLogInterval(d time.Duration) Option { return func(s *Sales) { s.logInterval = d } }

// WithMetrics counts lookups in m.CacheRequests. A nil m counts nothing.
func WithMetrics(m *metrics.Metrics) Option { return func(s *Sales) { s.metrics = m } }

// WithClock sets the clock of TTLs, for tests.
func WithClock(now func() time.Time) Option { return func(s *Sales) { s.now = now } }

// NewSales returns a read-through cache of repo's sales in mc. mc's
// Timeout bounds each memcached call.
func NewSales(mc *memcache.Client, repo SaleRepo, log *slog.Logger, opts ...Option) *Sales {
	s := &Sales{
		mc: mc, repo: repo, log: log,
		prefix: DefaultPrefix, ttl: DefaultTTL, negativeTTL: DefaultNegativeTTL,
		bypass: DefaultBypass, logInterval: DefaultLogInterval, loadTimeout: DefaultLoadTimeout,
		now: time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	s.failureLog.Interval = s.logInterval
	return s
}

// Key is the memcached key of a sale's entry.
func (s *Sales) Key(id int64) string { return s.prefix + ":sale:" + strconv.FormatInt(id, 10) }

var _ order.SaleCache = (*Sales)(nil)

// Sale returns the sale's static fields (Sold is left 0). Errors:
// order.ErrSaleNotFound; order.ErrUnavailable when the repository fails
// (a memcached failure is not an error).
func (s *Sales) Sale(ctx context.Context, id int64) (order.Sale, error) {
	if id <= 0 {
		return order.Sale{}, fmt.Errorf("sale %d: %w", id, order.ErrSaleNotFound)
	}
	return s.static(ctx, id)
}

// Invalidate removes the sale's entry, so the next read loads it from the
// repository. Loads already running for it do not store what they read.
func (s *Sales) Invalidate(ctx context.Context, id int64) error {
	key := s.Key(id)
	s.invalidations.Add(1)
	s.flights.Forget(key)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("invalidate sale %d: %w", id, err)
	}
	if err := s.mc.Delete(key); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		s.failed(ctx, "delete", err)
		return fmt.Errorf("invalidate sale %d: %w", id, err)
	}
	return nil
}

// loaded is the outcome of one load, shared by the callers of its flight.
type loaded struct {
	sale   order.Sale
	found  bool
	result string // hit, miss or error
}

// static returns the sale's static fields through one flight per key.
func (s *Sales) static(ctx context.Context, id int64) (order.Sale, error) {
	key := s.Key(id)
	ch := s.flights.DoChan(key, func() (any, error) {
		// The flight serves every caller that joins it: it runs on its own
		// deadline, not on the context of the caller that started it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.loadTimeout)
		defer cancel()
		return s.load(lctx, id, key)
	})
	var r singleflight.Result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return order.Sale{}, fmt.Errorf("sale %d: %w: %w", id, order.ErrUnavailable, ctx.Err())
	}
	if r.Err != nil {
		return order.Sale{}, r.Err
	}
	l := r.Val.(loaded)
	s.count(l.result)
	if !l.found {
		return order.Sale{}, fmt.Errorf("sale %d: %w", id, order.ErrSaleNotFound)
	}
	return l.sale, nil
}

// load reads the entry from memcached, or the sale from the repository and
// stores it.
func (s *Sales) load(ctx context.Context, id int64, key string) (loaded, error) {
	gen := s.invalidations.Load()
	result := ResultError
	if s.memcachedUp() {
		it, err := s.mc.Get(key)
		switch {
		case err == nil:
			if e, ok := s.decode(it.Value); ok {
				return loaded{sale: e.sale(), found: e.Found, result: ResultHit}, nil
			}
			result = ResultMiss
		case errors.Is(err, memcache.ErrCacheMiss):
			result = ResultMiss
		default:
			s.failed(ctx, "get", err)
		}
	}

	sale, err := s.repo.Sale(ctx, id)
	found := true
	switch {
	case errors.Is(err, order.ErrSaleNotFound):
		found = false
	case err != nil:
		return loaded{}, fmt.Errorf("sale %d: %w: %w", id, order.ErrUnavailable, err)
	}
	l := loaded{sale: sale, found: found, result: result}
	ttl := s.ttl
	if !found {
		ttl = s.negativeTTL
	}
	if result == ResultMiss && ttl > 0 && s.invalidations.Load() == gen {
		s.store(ctx, key, newEntry(sale, found, s.now().Add(ttl)), ttl)
	}
	return l, nil
}

func (s *Sales) store(ctx context.Context, key string, e entry, ttl time.Duration) {
	v, err := json.Marshal(e)
	if err != nil {
		s.log.ErrorContext(ctx, "encode sale cache entry", "key", key, "err", err)
		return
	}
	// memcached counts whole seconds; its expiry only collects entries a
	// second after their own expiry has passed.
	exp := int32(ttl/time.Second) + 2
	if err := s.mc.Set(&memcache.Item{Key: key, Value: v, Expiration: exp}); err != nil {
		s.failed(ctx, "set", err)
	}
}

// decode reads an entry that has not expired.
func (s *Sales) decode(v []byte) (entry, bool) {
	var e entry
	if err := json.Unmarshal(v, &e); err != nil || e.Version != entryVersion {
		return entry{}, false
	}
	if !s.now().Before(time.UnixMilli(e.ExpiresMs)) {
		return entry{}, false
	}
	return e, true
}

func (s *Sales) memcachedUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.now().Before(s.bypassUntil)
}

// failed records a memcached failure: reads skip memcached for a while,
// and the failure is logged unless another was logged within the interval.
func (s *Sales) failed(ctx context.Context, op string, err error) {
	now := s.now()
	s.mu.Lock()
	s.bypassUntil = now.Add(s.bypass)
	s.mu.Unlock()
	if ok, suppressed := s.failureLog.Allow(now); ok {
		s.log.WarnContext(ctx, "sale cache: memcached failed; reading the repository directly",
			"op", op, "err", err, "bypass", s.bypass, "suppressed_since_last_log", suppressed)
	}
}

func (s *Sales) count(result string) {
	if s.metrics != nil {
		s.metrics.CacheRequests.WithLabelValues(result).Inc()
	}
}

// entryVersion changes with the layout of entry; an entry of another
// version is a miss.
const entryVersion = 2

// entry is what memcached holds for a sale id: its static fields, or the
// fact that it does not exist. The sold counter is left out: it moves with
// every persisted order.
type entry struct {
	Version       int       `json:"v"`
	ExpiresMs     int64     `json:"exp_ms"`
	Found         bool      `json:"found"`
	ID            int64     `json:"id,omitempty"`
	Name          string    `json:"name,omitempty"`
	PriceCents    int64     `json:"price_cents,omitempty"`
	TotalStock    int64     `json:"total_stock,omitempty"`
	StartsAt      time.Time `json:"starts_at"`
	EndsAt        time.Time `json:"ends_at"`
	PaymentWindow int64     `json:"payment_window_ms,omitempty"`
	AdmissionRate int64     `json:"admission_rate,omitempty"`
	PowBits       int       `json:"pow_bits,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func newEntry(s order.Sale, found bool, expires time.Time) entry {
	e := entry{Version: entryVersion, ExpiresMs: expires.UnixMilli(), Found: found}
	if found {
		e.ID, e.Name, e.PriceCents, e.TotalStock = s.ID, s.Name, s.PriceCents, s.TotalStock
		e.StartsAt, e.EndsAt = s.StartsAt, s.EndsAt
		e.PaymentWindow = s.PaymentWindow.Milliseconds()
		e.AdmissionRate, e.PowBits = s.Admission.RatePerSecond, s.Admission.PowBits
		e.CreatedAt, e.UpdatedAt = s.CreatedAt, s.UpdatedAt
	}
	return e
}

func (e entry) sale() order.Sale {
	if !e.Found {
		return order.Sale{}
	}
	return order.Sale{
		ID: e.ID, Name: e.Name, PriceCents: e.PriceCents, TotalStock: e.TotalStock,
		StartsAt: e.StartsAt, EndsAt: e.EndsAt, PaymentWindow: time.Duration(e.PaymentWindow) * time.Millisecond,
		Admission: order.Admission{RatePerSecond: e.AdmissionRate, PowBits: e.PowBits},
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
}
