package stock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

var (
	_ order.Stock     = (*Memcached)(nil)
	_ order.UnitLimit = (*Memcached)(nil)
)

const (
	// MemcachedMaxValueBytes bounds the encoded state of one sale: 1 MiB
	// (memcached's default item size) less room for the key and the item
	// header.
	MemcachedMaxValueBytes = 1<<20 - 1024
	// MemcachedMaxUnits is the largest sale Warm accepts: the number of
	// reservations under UUID order numbers that always fit in
	// MemcachedMaxValueBytes, whatever the user ids.
	MemcachedMaxUnits = (MemcachedMaxValueBytes - stateHeaderLen) / maxUUIDRecordLen

	// maxOrderNoLen bounds an order number that is not a UUID.
	maxOrderNoLen = 128
)

// Client settings of NewMemcached.
const (
	memcachedTimeout      = 2 * time.Second
	memcachedMaxIdleConns = 256
)

// Memcached is the stock backend on memcached: every decision is one
// compare-and-swap on the one item that holds the sale's whole state (see
// the package doc). It is safe for concurrent use.
type Memcached struct {
	client     *memcache.Client
	ownsClient bool
	prefix     string
	metrics    *metrics.Metrics
	maxValue   int

	combined combiners

	writes    atomic.Uint64
	conflicts atomic.Uint64
}

// NewMemcached returns a stock backend on the servers
// "host:port[*weight],…" (see ParseWeightedServers), with its own client.
// The prefix (WithPrefix) must be non-empty and free of spaces and control
// characters. Close releases the client's connections.
func NewMemcached(servers string, opts ...Option) (*Memcached, error) {
	ws, err := ParseWeightedServers(servers)
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	client := memcache.NewFromSelector(ws)
	client.Timeout = memcachedTimeout
	client.MaxIdleConns = memcachedMaxIdleConns
	m, err := NewMemcachedClient(client, opts...)
	if err != nil {
		return nil, err
	}
	m.ownsClient = true
	return m, nil
}

// NewMemcachedClient returns a stock backend on a client the caller owns
// and closes. The client's Timeout bounds every call; its MaxIdleConns
// should exceed the number of concurrent reservations.
func NewMemcachedClient(client *memcache.Client, opts ...Option) (*Memcached, error) {
	c := newConfig(opts)
	if c.prefix == "" || len(c.prefix) > 200 || strings.IndexFunc(c.prefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("stock: invalid memcached key prefix %q: want 1 to 200 bytes without spaces or control characters", c.prefix)
	}
	m := &Memcached{client: client, prefix: c.prefix, metrics: c.metrics, maxValue: MemcachedMaxValueBytes}
	m.combined.opts = c.batchOpts
	m.combined.decide = func(ctx context.Context, saleID int64, rs []order.Reservation, nows []time.Time) []error {
		ms := make([]int64, len(nows))
		for i, t := range nows {
			ms[i] = t.UnixMilli()
		}
		return m.reserve(ctx, saleID, rs, ms)
	}
	return m, nil
}

// MaxUnits is MemcachedMaxUnits: the largest total a sale may have here.
func (m *Memcached) MaxUnits() int64 { return MemcachedMaxUnits }

// Close closes the connections of a client NewMemcached made.
func (m *Memcached) Close() error {
	if !m.ownsClient {
		return nil
	}
	if err := m.client.Close(); err != nil {
		return fmt.Errorf("stock: close memcached client: %w", err)
	}
	return nil
}

// Ping checks that every server answers.
func (m *Memcached) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.client.Ping(); err != nil {
		return fmt.Errorf("stock: ping memcached: %w: %w", order.ErrUnavailable, err)
	}
	return nil
}

// Key is the memcached key that holds the sale's state.
func (m *Memcached) Key(saleID int64) string {
	return m.prefix + ":{s" + strconv.FormatInt(saleID, 10) + "}:state"
}

// CASStats counts the conditional writes a Memcached sent and how many of
// them lost a race and were retried.
type CASStats struct {
	Writes    uint64
	Conflicts uint64
}

// CASStats returns the counts since the backend was made.
func (m *Memcached) CASStats() CASStats {
	return CASStats{Writes: m.writes.Load(), Conflicts: m.conflicts.Load()}
}

// Warm loads the sale's window and rebuilds its stock as total − |RESERVED|
// after adding s.Persisted, exactly as warm.lua does for Redis: not
// cancelled orders become reservations with their buyer (unless the user
// holds another live one), cancelled ones become cancelled and free their
// buyer, a cancellation here is never revived, and reservations in flight
// stay counted. Idempotent.
func (m *Memcached) Warm(ctx context.Context, s order.StockSale) error {
	if s.ID <= 0 || s.TotalStock < 0 || !s.EndsAt.After(s.StartsAt) {
		return fmt.Errorf("stock: warm sale %d: %w: want id > 0, total >= 0, ends after starts", s.ID, order.ErrInvalid)
	}
	if s.TotalStock > MemcachedMaxUnits {
		return fmt.Errorf("stock: warm sale %d: %w: %d units exceed the memcached backend's maximum of %d per sale (one item of at most %d bytes)",
			s.ID, order.ErrInvalid, s.TotalStock, MemcachedMaxUnits, MemcachedMaxValueBytes)
	}
	for _, o := range s.Persisted {
		if o.OrderNo == "" || len(o.OrderNo) > maxOrderNoLen || o.UserID <= 0 || (o.SaleID != 0 && o.SaleID != s.ID) {
			return fmt.Errorf("stock: warm sale %d: %w: persisted order %q of user %d, sale %d",
				s.ID, order.ErrInvalid, o.OrderNo, o.UserID, o.SaleID)
		}
	}
	err := m.update(ctx, "warm", s.ID, func(cur []byte) ([]byte, error) {
		if cur == nil && !s.Rebuild {
			// Lost (or never loaded): only a rebuild that accounts for
			// every order in flight may load it.
			return nil, order.ErrStockNotLoaded
		}
		return warmValue(cur, s, m.maxValue)
	})
	if err != nil {
		if errors.Is(err, errInDoubt) {
			return fmt.Errorf("%w: %w", order.ErrUnavailable, err)
		}
		return fmt.Errorf("stock: warm sale %d: %w", s.ID, err)
	}
	return nil
}

// Restock raises the sale's total, and its remaining stock by as much, to
// total when the header's total is below, in one CAS, as restock.lua does
// for Redis; a repeat changes nothing. A total above MemcachedMaxUnits is
// order.ErrInvalid, as in Warm.
func (m *Memcached) Restock(ctx context.Context, saleID, total int64) (int64, bool, error) {
	if saleID <= 0 || total < 0 {
		return 0, false, fmt.Errorf("stock: restock sale %d: %w: want id > 0, total >= 0", saleID, order.ErrInvalid)
	}
	var (
		rem    int64
		raised bool
	)
	err := m.update(ctx, "restock", saleID, func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, order.ErrStockNotLoaded
		}
		next, r, err := decideRestock(cur, total)
		if err != nil {
			return nil, err
		}
		rem, raised = r, next != nil
		return next, nil
	})
	if err != nil {
		if errors.Is(err, errInDoubt) {
			return 0, false, fmt.Errorf("%w: %w", order.ErrUnavailable, err)
		}
		return 0, false, fmt.Errorf("stock: restock sale %d: %w", saleID, err)
	}
	return rem, raised, nil
}

// Reserve takes one unit for res.UserID under res.OrderNo at now.
//
// Concurrent reservations of one sale in this process are combined: while
// one CAS of the sale is in flight the next callers queue, and the first of
// them decides the whole queue (up to combineLimit) in the next CAS, in
// arrival order, each at its own now. Callers of one process therefore
// never race each other's CAS, only other processes'. A caller that has
// queued waits for its decision even when ctx ends: once queued, its
// reservation may be decided at any moment.
func (m *Memcached) Reserve(ctx context.Context, res order.Reservation, now time.Time) error {
	if err := validReservation(res.SaleID, res); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return unavailable("reserve", res.SaleID, err)
	}
	return m.combined.reserve(ctx, res, now)
}

// ReserveBatch decides reservations of one sale together, in order, in one
// CAS: a later reservation of the same user sees the earlier one. It
// returns one error per reservation, nil for the reserved ones. A batch is
// not combined with concurrent Reserve calls.
func (m *Memcached) ReserveBatch(ctx context.Context, saleID int64, rs []order.Reservation, now time.Time) []error {
	nows := make([]int64, len(rs))
	for i := range nows {
		nows[i] = now.UnixMilli()
	}
	return m.reserve(ctx, saleID, rs, nows)
}

func validReservation(saleID int64, res order.Reservation) error {
	if res.SaleID != saleID || saleID <= 0 || res.UserID <= 0 || res.OrderNo == "" || len(res.OrderNo) > maxOrderNoLen {
		return fmt.Errorf("stock: reserve sale %d: %w: reservation of user %d, sale %d, order %q",
			saleID, order.ErrInvalid, res.UserID, res.SaleID, res.OrderNo)
	}
	return nil
}

// reserve decides rs, each at its own time in nows, in one CAS loop.
func (m *Memcached) reserve(ctx context.Context, saleID int64, rs []order.Reservation, nows []int64) []error {
	errs := make([]error, len(rs))
	valid := make([]order.Reservation, 0, len(rs))
	validNows := make([]int64, 0, len(rs))
	at := make([]int, 0, len(rs)) // index in rs of each valid reservation
	for i, res := range rs {
		if err := validReservation(saleID, res); err != nil {
			errs[i] = err
			continue
		}
		valid = append(valid, res)
		validNows = append(validNows, nows[i])
		at = append(at, i)
	}
	if len(valid) == 0 {
		return errs
	}
	start := time.Now()
	var decided []error
	err := m.update(ctx, "reserve", saleID, func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, order.ErrStockNotLoaded
		}
		next, d, err := decideReserve(cur, valid, validNows, m.maxValue)
		decided = d
		return next, err
	})
	if errors.Is(err, errInDoubt) {
		err = m.settleReserve(ctx, saleID, valid, decided, err)
	}
	for j, i := range at {
		if err != nil {
			errs[i] = err
		} else {
			errs[i] = decided[j]
		}
	}
	if m.metrics != nil {
		m.metrics.ReserveBatch.Observe(float64(len(valid)))
		m.metrics.ReserveDuration.WithLabelValues("memcache").Observe(time.Since(start).Seconds())
	}
	return errs
}

// Release moves the reservation RESERVED → CANCELLED, returns the unit and
// frees the buyer, in one CAS. It reports whether this call made the move;
// an unknown or already cancelled order is (false, nil) and writes
// nothing. A sale the server does not hold (never loaded, or lost with its
// reservations, which a rebuild may bring back) is ErrStockNotLoaded.
func (m *Memcached) Release(ctx context.Context, saleID int64, orderNo string) (bool, error) {
	moved := false
	err := m.update(ctx, "release", saleID, func(cur []byte) ([]byte, error) {
		moved = false
		if cur == nil {
			return nil, order.ErrStockNotLoaded
		}
		next, ok, err := decideRelease(cur, orderNo)
		moved = ok
		return next, err
	})
	if err != nil {
		if errors.Is(err, errInDoubt) {
			return false, fmt.Errorf("%w: %w", order.ErrUnavailable, err)
		}
		return false, fmt.Errorf("stock: release sale %d order %s: %w", saleID, orderNo, err)
	}
	return moved, nil
}

// Remaining is the live number of units left.
func (m *Memcached) Remaining(ctx context.Context, saleID int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable("remaining", saleID, err)
	}
	v, err := m.get("remaining", saleID)
	switch {
	case err != nil:
		return 0, err
	case v == nil:
		return 0, order.ErrStockNotLoaded
	}
	h, err := readHeader(v)
	if err != nil {
		return 0, unavailable("remaining", saleID, err)
	}
	return h.remaining, nil
}

// Lookup finds orderNo among the given sales' reservations with one
// multi-get. The first sale in saleIDs that holds it wins.
func (m *Memcached) Lookup(ctx context.Context, saleIDs []int64, orderNo string) (order.Reservation, error) {
	if len(saleIDs) == 0 || orderNo == "" {
		return order.Reservation{}, order.ErrOrderNotFound
	}
	if err := ctx.Err(); err != nil {
		return order.Reservation{}, unavailable("lookup", saleIDs[0], err)
	}
	keys := make([]string, len(saleIDs))
	for i, id := range saleIDs {
		keys[i] = m.Key(id)
	}
	items, err := m.client.GetMulti(keys)
	if err != nil {
		return order.Reservation{}, unavailable("lookup", saleIDs[0], err)
	}
	for i, id := range saleIDs {
		it, ok := items[keys[i]]
		if !ok {
			continue
		}
		res, err := findReservation(it.Value, id, orderNo)
		switch {
		case err == nil:
			return res, nil
		case !errors.Is(err, order.ErrOrderNotFound):
			return order.Reservation{}, unavailable("lookup", id, err)
		}
	}
	return order.Reservation{}, order.ErrOrderNotFound
}

// Snapshot returns the sale's remaining stock and every reservation, from
// one read of its item: always a consistent view.
func (m *Memcached) Snapshot(ctx context.Context, saleID int64) (order.StockSnapshot, error) {
	if err := ctx.Err(); err != nil {
		return order.StockSnapshot{}, unavailable("snapshot", saleID, err)
	}
	v, err := m.get("snapshot", saleID)
	switch {
	case err != nil:
		return order.StockSnapshot{}, err
	case v == nil:
		return order.StockSnapshot{Reservations: map[string]order.Reservation{}}, nil
	}
	resv := make(map[string]order.Reservation)
	h, err := scanState(v, func(r record) {
		resv[r.orderNo()] = order.Reservation{OrderNo: r.orderNo(), SaleID: saleID, UserID: r.user, State: r.state()}
	})
	if err != nil {
		return order.StockSnapshot{}, unavailable("snapshot", saleID, err)
	}
	return order.StockSnapshot{Loaded: true, Remaining: h.remaining, Reservations: resv}, nil
}

// Dump returns the sale's decoded state in the naming of Redis.Dump:
// "stock", "meta/<field>", "buyers/<user_id>", "resv/<order_no>"
// ("R:<user_id>" or "C:<user_id>") and "pending/<order_no>" (a reservation
// of the in-flight index: the unix milliseconds at which it is next due,
// this process's postponement included), plus "item/cas", the item's CAS
// id, which any write changes; an empty map for a missing item. It is
// meant for tests and debugging.
func (m *Memcached) Dump(ctx context.Context, saleID int64) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable("dump", saleID, err)
	}
	items, err := m.client.GetMulti([]string{m.Key(saleID), m.postponedKey(saleID)})
	if err != nil {
		return nil, unavailable("dump", saleID, err)
	}
	it, ok := items[m.Key(saleID)]
	if !ok {
		return map[string]string{}, nil
	}
	var postponed map[orderKey]int64
	if p, ok := items[m.postponedKey(saleID)]; ok {
		postponed, _ = decodePostponed(p.Value)
	}
	v := it.Value
	// The CAS id changes with every write, even one of identical bytes.
	out := map[string]string{"item/cas": strconv.FormatUint(it.CasID, 10)}
	h, err := scanState(v, func(r record) {
		no, user := r.orderNo(), strconv.FormatInt(r.user, 10)
		state := "C:"
		if r.state() == order.Reserved {
			state = "R:"
		}
		out["resv/"+no] = state + user
		if r.kind&recBuyer != 0 {
			out["buyers/"+user] = no
		}
		if r.indexed() {
			due, ok := postponed[r.key()]
			if !ok {
				due, _ = reservedAtMs(r)
			}
			out["pending/"+no] = strconv.FormatInt(due, 10)
		}
	})
	if err != nil {
		return nil, unavailable("dump", saleID, err)
	}
	out["stock"] = strconv.FormatInt(h.remaining, 10)
	out["meta/starts_at_ms"] = strconv.FormatInt(h.starts, 10)
	out["meta/ends_at_ms"] = strconv.FormatInt(h.ends, 10)
	out["meta/total"] = strconv.FormatInt(h.total, 10)
	return out, nil
}

// Forget deletes the sale's item and the postponements of its
// reservations.
func (m *Memcached) Forget(_ context.Context, saleID int64) error {
	for _, key := range []string{m.postponedKey(saleID), m.Key(saleID)} {
		if err := m.client.Delete(key); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
			return unavailable("forget", saleID, err)
		}
	}
	return nil
}
