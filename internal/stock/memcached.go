package stock

// Memcached is the stock backend on memcached: every decision is one
// compare-and-swap on one item.
//
// # Choice: the whole sale in one CAS'd value
//
// memcached has no scripts and no multi-key transactions. A sale's whole
// state therefore lives in ONE item, <prefix>:{s<id>}:state, stored without
// expiry:
//
//	header   magic 'M', version 1, starts_at_ms, ends_at_ms, total,
//	         remaining (int64 big endian each), record count (uint32)
//	records  one per reservation, in the order they were made:
//	         kind byte   state R or C, "buyer" bit, "UUID" bit,
//	                     "settled" bit
//	         order_no    16 raw bytes when it is a canonical UUID (the
//	                     service's UUIDv7), else uvarint length + bytes
//	         user_id     uvarint
//
// The buyer set (user → order_no) is the buyer bit: it is set on the
// reserved record that holds its user, at most one per user, and only on a
// reserved record. Remaining is kept in the header and checked against the
// records on every decode: remaining = total − |R|, or the value is corrupt
// and every call on it fails closed with order.ErrUnavailable.
//
// The settled bit says that MySQL holds the record's order: the in-flight
// index of order.Stock is the reserved records without it. Reserve writes
// records unsettled, Settle sets the bit on reserved ones, Warm sets it on
// the persisted orders and keeps it on the records it carries over, and
// Release leaves it as it is (a cancelled record is never due). Values
// written before the bit existed decode as wholly unsettled, which makes
// their reservations due for a check, the safe side. The time a
// reservation is next due is not stored: it is the reservation time read
// from its order number (see Due), or a postponement this process keeps
// (see Postpone).
//
// Reserve, Release, Settle and Warm are each a bounded loop of gets → decide →
// cas: the decision is made on the bytes just read and written back only if
// nobody wrote in between (memcached's CAS id), so every decision is atomic
// and a rejection never writes. A lost race (EXISTS, NOT_FOUND, NOT_STORED)
// is retried after a jittered exponential backoff, up to casAttempts times,
// then the call fails with order.ErrUnavailable: never a sale on doubt.
// Under contention a loser always sees a changed value, so one that loses k
// times has watched k other writes succeed: a sale of N units makes at most
// N+1 attempts of any reservation before it reads sold out.
//
// # Combining
//
// Within one process the concurrent Reserve calls of a sale queue behind
// the CAS in flight, and the next one decides the whole queue in one CAS
// (group commit): the process's callers never race each other, a hot sale
// costs one read and one write of its value per batch instead of per
// caller, and conflicts remain only between processes. Decisions are made
// in arrival order, each at its caller's now, exactly as one by one.
//
// # Failure cases
//
//   - A crash of the caller between gets and cas: nothing was written.
//     There is no second write, so nothing can be half done: a unit and its
//     buyer and reservation appear together or not at all.
//   - A cas sent but not answered (timeout, broken connection): the write
//     may have happened. Reserve settles the doubt: it reads the item again;
//     when the reservation is there the call succeeds, otherwise it rewrites
//     the unchanged value under the CAS id it just read, so that a late
//     arrival of the lost write fails its CAS, and only then reports
//     order.ErrUnavailable. Release and Warm are idempotent and report the
//     doubt as order.ErrUnavailable for the caller to retry.
//   - The item is missing (never warmed, evicted, server restarted or
//     removed from the ring): Reserve and Remaining fail closed with
//     order.ErrStockNotLoaded, Snapshot reports Loaded=false, Release has
//     nothing to move (false, nil), and Warm rebuilds the sale from the
//     persisted orders alone, as order.Stock says. Reservations that were
//     in flight when the item was lost are gone with it; MySQL's guarded
//     sold counter stays the last guard against oversell. memcached must
//     run with -M (no eviction) for the items to stay.
//   - Two servers: a sale is one key, so it always lives on one server
//     (Ring). Changing the server list moves keys and makes the moved sales
//     missing until a warm-up.
//
// # Size limit
//
// memcached refuses items above its item size (-I, 1 MiB by default). The
// value is kept below MemcachedMaxValueBytes, which leaves room for the key
// and the item header. A reservation under a UUID order number takes at
// most 26 bytes (20 for user ids below 2^21), so a sale holds at least
// MemcachedMaxUnits reservations, cancelled ones included. Warm refuses a
// sale with more units than that (order.ErrInvalid); a reservation that
// would grow the value past the limit (a sale with many cancellations)
// fails closed with order.ErrUnavailable. Every call reads the whole value,
// so the cost of a decision grows with the number of reservations: a large
// hot sale is faster on Redis.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
)

var _ order.Stock = (*Memcached)(nil)

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

// The retry policy of the CAS loops, variables so tests can tighten them.
var (
	casAttempts    = 200
	casBackoffBase = 50 * time.Microsecond
	casBackoffMax  = 5 * time.Millisecond
	settleAttempts = 10
)

// Client settings of NewMemcached.
const (
	memcachedTimeout      = 2 * time.Second
	memcachedMaxIdleConns = 256
)

// Memcached is the stock backend on memcached. It is safe for concurrent
// use.
type Memcached struct {
	client     *memcache.Client
	ownsClient bool
	prefix     string
	metrics    *metrics.Metrics
	maxValue   int

	combined combiners
	// postponed holds the postponements of the in-flight index, which the
	// value has no room for.
	postponed postponements

	writes    atomic.Uint64
	conflicts atomic.Uint64
}

// NewMemcached returns a stock backend on the servers "host:port[*weight],…"
// (see ParseRing), with its own client. The prefix (WithPrefix) must be
// non-empty and free of spaces and control characters. Close releases the
// client's connections.
func NewMemcached(servers string, opts ...Option) (*Memcached, error) {
	ring, err := ParseRing(servers)
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	client := memcache.NewFromSelector(ring)
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
	m := &Memcached{client: client, prefix: c.prefix, metrics: c.metrics, maxValue: MemcachedMaxValueBytes,
		postponed: postponements{max: maxPostponed}}
	m.combined.decide = func(ctx context.Context, saleID int64, rs []order.Reservation, nows []time.Time) []error {
		ms := make([]int64, len(nows))
		for i, t := range nows {
			ms[i] = t.UnixMilli()
		}
		return m.reserve(ctx, saleID, rs, ms)
	}
	return m, nil
}

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

// errInDoubt marks a write that was sent without an answer: it may or may
// not have happened.
var errInDoubt = errors.New("memcached write outcome unknown")

// unavailable reports a failed or refused call: the caller fails closed.
func unavailable(op string, saleID int64, err error) error {
	return fmt.Errorf("stock: memcached %s sale %d: %w: %w", op, saleID, order.ErrUnavailable, err)
}

// update runs the CAS loop on key. decide gets the current value (nil when
// the item is missing) and returns the value to write, nil to write
// nothing, or an error that ends the loop without a write. update returns
// nil once the decided value is stored or nothing had to be written, a
// decide error as it is, errInDoubt (wrapped) when a write went unanswered,
// and order.ErrUnavailable otherwise.
func (m *Memcached) update(ctx context.Context, op string, saleID int64, decide func(cur []byte) ([]byte, error)) error {
	key := m.Key(saleID)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return unavailable(op, saleID, err)
		}
		it, err := m.client.Get(key)
		switch {
		case errors.Is(err, memcache.ErrCacheMiss):
			it = nil
		case err != nil:
			return unavailable(op, saleID, err)
		}
		var cur []byte
		if it != nil {
			cur = it.Value
		}
		next, err := decide(cur)
		if errors.Is(err, errCorrupt) {
			return unavailable(op, saleID, err)
		}
		if err != nil || next == nil || (it != nil && bytes.Equal(next, cur)) {
			return err
		}
		m.writes.Add(1)
		if it != nil {
			err = m.client.CompareAndSwap(&memcache.Item{Key: key, Value: next, CasID: it.CasID})
		} else {
			err = m.client.Add(&memcache.Item{Key: key, Value: next})
		}
		switch {
		case err == nil:
			return nil
		case lostRace(err):
			m.conflicts.Add(1)
		case neverSent(err):
			return unavailable(op, saleID, err)
		default:
			return fmt.Errorf("stock: memcached %s sale %d: %w: %w", op, saleID, errInDoubt, err)
		}
		if attempt+1 >= casAttempts {
			return unavailable(op, saleID, fmt.Errorf("gave up after %d conflicting writes", casAttempts))
		}
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return unavailable(op, saleID, err)
		}
	}
}

// lostRace tells a conditional write that found the item changed (EXISTS),
// gone (NOT_FOUND) or already added (NOT_STORED): nothing was written.
func lostRace(err error) bool {
	return errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) ||
		errors.Is(err, memcache.ErrNotStored)
}

// neverSent tells a write that surely did not reach a server, or that the
// server answered with an error.
func neverSent(err error) bool {
	var cte *memcache.ConnectTimeoutError
	var op *net.OpError
	switch {
	case errors.As(err, &cte), errors.Is(err, memcache.ErrNoServers), errors.Is(err, memcache.ErrMalformedKey),
		errors.Is(err, memcache.ErrServerError):
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return true
	}
	// gomemcache reports a server's error line (e.g. SERVER_ERROR object
	// too large for cache) as an unexpected response: nothing was stored.
	return strings.HasPrefix(err.Error(), "memcache: unexpected response line")
}

// backoff is a full-jitter exponential delay before retry attempt+1.
func backoff(attempt int) time.Duration {
	ceil := casBackoffMax
	if attempt < 30 {
		ceil = min(casBackoffMax, casBackoffBase<<attempt)
	}
	return rand.N(ceil) + 1
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
		h, err := readHeader(cur)
		if err != nil {
			return nil, err
		}
		rem, raised = h.remaining, false
		if total <= h.total {
			return nil, nil
		}
		if total > MemcachedMaxUnits {
			return nil, fmt.Errorf("%w: %d units exceed the memcached backend's maximum of %d per sale", order.ErrInvalid, total, MemcachedMaxUnits)
		}
		h.remaining += total - h.total
		h.total = total
		next := bytes.Clone(cur)
		h.put(next)
		rem, raised = h.remaining, true
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

// settleReserve resolves a reservation write that went unanswered: it
// returns nil when the write is in the item (the decided outcomes stand),
// and order.ErrUnavailable once the item is known not to hold it and never
// will: the unchanged value is rewritten under a fresh CAS id, which makes
// a late copy of the lost write fail.
func (m *Memcached) settleReserve(ctx context.Context, saleID int64, rs []order.Reservation, decided []error, cause error) error {
	var probe *order.Reservation
	for j, err := range decided {
		if err == nil {
			probe = &rs[j]
			break
		}
	}
	if probe == nil {
		return fmt.Errorf("%w: %w", order.ErrUnavailable, cause)
	}
	key := m.Key(saleID)
	for range settleAttempts {
		it, err := m.client.Get(key)
		switch {
		case errors.Is(err, memcache.ErrCacheMiss):
			// A missing item holds no reservation and a late CAS of the
			// lost write finds nothing to swap.
			return fmt.Errorf("%w: %w", order.ErrUnavailable, cause)
		case err != nil:
			return fmt.Errorf("%w: %w (and re-reading failed: %w)", order.ErrUnavailable, cause, err)
		}
		found, err := findReservation(it.Value, saleID, probe.OrderNo)
		if err == nil {
			if found.UserID == probe.UserID && found.State == order.Reserved {
				return nil
			}
			return fmt.Errorf("%w: %w (order %s is held as %+v)", order.ErrUnavailable, cause, probe.OrderNo, found)
		}
		if !errors.Is(err, order.ErrOrderNotFound) {
			return fmt.Errorf("%w: %w (and re-reading failed: %w)", order.ErrUnavailable, cause, err)
		}
		m.writes.Add(1)
		err = m.client.CompareAndSwap(&memcache.Item{Key: key, Value: it.Value, CasID: it.CasID})
		switch {
		case err == nil:
			return fmt.Errorf("%w: %w (settled: not reserved)", order.ErrUnavailable, cause)
		case !lostRace(err):
			return fmt.Errorf("%w: %w (and settling failed: %w)", order.ErrUnavailable, cause, err)
		}
		m.conflicts.Add(1)
		if err := sleepCtx(ctx, backoff(0)); err != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w (unsettled)", order.ErrUnavailable, cause)
}

// Release moves the reservation RESERVED → CANCELLED, returns the unit and
// frees the buyer, in one CAS. It reports whether this call made the move;
// an unknown or already cancelled order, or a sale the server does not hold,
// is (false, nil) and writes nothing.
func (m *Memcached) Release(ctx context.Context, saleID int64, orderNo string) (bool, error) {
	moved := false
	err := m.update(ctx, "release", saleID, func(cur []byte) ([]byte, error) {
		moved = false
		if cur == nil {
			return nil, nil
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
	if moved {
		m.postponed.drop(saleID, []orderKey{keyOf(orderNo)})
	}
	return moved, nil
}

// get reads the sale's value; nil when the item is missing.
func (m *Memcached) get(op string, saleID int64) ([]byte, error) {
	it, err := m.client.Get(m.Key(saleID))
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return nil, nil
	case err != nil:
		return nil, unavailable(op, saleID, err)
	}
	return it.Value, nil
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
	it, err := m.client.Get(m.Key(saleID))
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return map[string]string{}, nil
	case err != nil:
		return nil, unavailable("dump", saleID, err)
	}
	v := it.Value
	// The CAS id changes with every write, even one of identical bytes.
	out := map[string]string{"item/cas": strconv.FormatUint(it.CasID, 10)}
	postponed := m.postponed.sale(saleID)
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

// The encoding of a sale's state. See the comment at the top of this file.
const (
	stateMagic     = 'M'
	stateVersion   = 1
	stateHeaderLen = 2 + 4*8 + 4

	recReserved  = 0x01
	recCancelled = 0x02
	recStateMask = 0x03
	recBuyer     = 0x04
	recUUID      = 0x08
	recSettled   = 0x10 // MySQL holds the order: not in the in-flight index

	maxUUIDRecordLen = 1 + 16 + binary.MaxVarintLen64 - 1 // a positive int64 needs at most 9 uvarint bytes
)

var errCorrupt = errors.New("corrupt sale state")

type stateHeader struct {
	starts, ends     int64 // unix milliseconds
	total, remaining int64
	count            uint32
}

func readHeader(v []byte) (stateHeader, error) {
	if len(v) < stateHeaderLen || v[0] != stateMagic || v[1] != stateVersion {
		return stateHeader{}, fmt.Errorf("%w: bad header", errCorrupt)
	}
	be := binary.BigEndian
	return stateHeader{
		starts:    int64(be.Uint64(v[2:])),
		ends:      int64(be.Uint64(v[10:])),
		total:     int64(be.Uint64(v[18:])),
		remaining: int64(be.Uint64(v[26:])),
		count:     be.Uint32(v[34:]),
	}, nil
}

// put writes h at the start of dst, which holds at least stateHeaderLen
// bytes.
func (h stateHeader) put(dst []byte) {
	be := binary.BigEndian
	dst[0], dst[1] = stateMagic, stateVersion
	be.PutUint64(dst[2:], uint64(h.starts))
	be.PutUint64(dst[10:], uint64(h.ends))
	be.PutUint64(dst[18:], uint64(h.total))
	be.PutUint64(dst[26:], uint64(h.remaining))
	be.PutUint32(dst[34:], h.count)
}

// record is one reservation as stored; no aliases the value.
type record struct {
	off  int // offset of the kind byte
	kind byte
	no   []byte
	user int64
}

func (r record) orderNo() string {
	if r.kind&recUUID != 0 {
		return uuid.UUID(r.no).String()
	}
	return string(r.no)
}

// key is the record's order number in its stored form.
func (r record) key() orderKey {
	if r.kind&recUUID != 0 {
		return orderKey{uuid: true, id: [16]byte(r.no)}
	}
	return orderKey{str: string(r.no)}
}

// indexed tells a record of the in-flight index: reserved, not settled.
func (r record) indexed() bool {
	return r.kind&recStateMask == recReserved && r.kind&recSettled == 0
}

func (r record) state() order.ReservationState {
	if r.kind&recStateMask == recReserved {
		return order.Reserved
	}
	return order.Cancelled
}

// orderKey is an order number in its stored form.
type orderKey struct {
	uuid bool
	id   [16]byte
	str  string
}

func keyOf(orderNo string) orderKey {
	if len(orderNo) == 36 {
		if u, err := uuid.Parse(orderNo); err == nil && u.String() == orderNo {
			return orderKey{uuid: true, id: u}
		}
	}
	return orderKey{str: orderNo}
}

func (k orderKey) matches(r record) bool {
	if k.uuid {
		return r.kind&recUUID != 0 && [16]byte(r.no) == k.id
	}
	return r.kind&recUUID == 0 && string(r.no) == k.str
}

func appendRecord(dst []byte, kind byte, k orderKey, user int64) []byte {
	if k.uuid {
		dst = append(dst, kind|recUUID)
		dst = append(dst, k.id[:]...)
	} else {
		dst = append(dst, kind)
		dst = binary.AppendUvarint(dst, uint64(len(k.str)))
		dst = append(dst, k.str...)
	}
	return binary.AppendUvarint(dst, uint64(user))
}

// scanState checks the whole value, calling fn for each record in order,
// and returns its header. The value is corrupt unless its records parse,
// their number is the header's count and remaining = total − |R|.
func scanState(v []byte, fn func(record)) (stateHeader, error) {
	h, err := readHeader(v)
	if err != nil {
		return h, err
	}
	var n uint32
	var reserved int64
	for p := stateHeaderLen; p < len(v); {
		r := record{off: p, kind: v[p]}
		p++
		st := r.kind & recStateMask
		if r.kind&^(recStateMask|recBuyer|recUUID|recSettled) != 0 || (st != recReserved && st != recCancelled) ||
			(r.kind&recBuyer != 0 && st != recReserved) {
			return h, fmt.Errorf("%w: bad record kind %#x at %d", errCorrupt, r.kind, r.off)
		}
		if r.kind&recUUID != 0 {
			if len(v)-p < 16 {
				return h, fmt.Errorf("%w: short record at %d", errCorrupt, r.off)
			}
			r.no = v[p : p+16]
			p += 16
		} else {
			l, k := binary.Uvarint(v[p:])
			if k <= 0 || l == 0 || l > maxOrderNoLen || uint64(len(v)-p-k) < l {
				return h, fmt.Errorf("%w: bad order number at %d", errCorrupt, r.off)
			}
			p += k
			r.no = v[p : p+int(l)]
			p += int(l)
		}
		u, k := binary.Uvarint(v[p:])
		if k <= 0 || u == 0 || u > math.MaxInt64 {
			return h, fmt.Errorf("%w: bad user id at %d", errCorrupt, r.off)
		}
		p += k
		r.user = int64(u)
		if st == recReserved {
			reserved++
		}
		n++
		if fn != nil {
			fn(r)
		}
	}
	if n != h.count || h.remaining != h.total-reserved {
		return h, fmt.Errorf("%w: %d records (header %d), remaining %d, total %d, reserved %d",
			errCorrupt, n, h.count, h.remaining, h.total, reserved)
	}
	return h, nil
}

// decideReserve decides rs, in order, on the value v, rs[i] at nows[i]
// (unix milliseconds). It returns the value to write (nil when none was
// granted) and one outcome per reservation, or an error for all of them.
// The checks and their order are reserve.lua's: window, then buyer, order
// number, stock.
func decideReserve(v []byte, rs []order.Reservation, nows []int64, maxValue int) ([]byte, []error, error) {
	h, err := readHeader(v)
	if err != nil {
		return nil, nil, err
	}
	out := make([]error, len(rs))
	open := 0
	for i := range rs {
		switch {
		case nows[i] < h.starts:
			out[i] = order.ErrNotStarted
		case nows[i] >= h.ends:
			out[i] = order.ErrEnded
		default:
			open++
		}
	}
	if open == 0 {
		if _, err := scanState(v, nil); err != nil {
			return nil, nil, err
		}
		return nil, out, nil
	}

	// What the stored records say about the users and order numbers of rs.
	users := make(map[int64]string, len(rs)) // user of rs → order_no held ("" for none)
	uuids := map[[16]byte]bool{}             // order numbers of rs, by stored form
	strs := map[string]bool{}
	keys := make([]orderKey, len(rs))
	for i, res := range rs {
		users[res.UserID] = ""
		keys[i] = keyOf(res.OrderNo)
		if keys[i].uuid {
			uuids[keys[i].id] = false
		} else {
			strs[keys[i].str] = false
		}
	}
	if _, err := scanState(v, func(r record) {
		if r.kind&recBuyer != 0 {
			if _, ok := users[r.user]; ok {
				users[r.user] = r.orderNo()
			}
		}
		if r.kind&recUUID != 0 {
			if _, ok := uuids[[16]byte(r.no)]; ok {
				uuids[[16]byte(r.no)] = true
			}
		} else if _, ok := strs[string(r.no)]; ok {
			strs[string(r.no)] = true
		}
	}); err != nil {
		return nil, nil, err
	}

	var next []byte
	for i, res := range rs {
		if out[i] != nil {
			continue
		}
		k := keys[i]
		used := (k.uuid && uuids[k.id]) || (!k.uuid && strs[k.str])
		switch {
		case users[res.UserID] != "":
			out[i] = &order.AlreadyPurchasedError{OrderNo: users[res.UserID]}
		case used:
			out[i] = fmt.Errorf("%w: order number %s is already known to the sale", order.ErrInvalid, res.OrderNo)
		case h.remaining <= 0:
			out[i] = order.ErrSoldOut
		default:
			if next == nil {
				next = make([]byte, len(v), len(v)+open*maxUUIDRecordLen)
				copy(next, v)
			}
			next = appendRecord(next, recReserved|recBuyer, k, res.UserID)
			h.remaining--
			h.count++
			users[res.UserID] = res.OrderNo
			if k.uuid {
				uuids[k.id] = true
			} else {
				strs[k.str] = true
			}
		}
	}
	if next == nil {
		return nil, out, nil
	}
	if len(next) > maxValue {
		return nil, nil, fmt.Errorf("%w: the sale's state would grow to %d bytes, above the item limit of %d",
			order.ErrUnavailable, len(next), maxValue)
	}
	h.put(next)
	return next, out, nil
}

// decideRelease returns the value with orderNo moved RESERVED → CANCELLED
// and its buyer freed, and true; or nil and false when the order is unknown
// or already cancelled.
func decideRelease(v []byte, orderNo string) ([]byte, bool, error) {
	k := keyOf(orderNo)
	off := -1
	var kind byte
	h, err := scanState(v, func(r record) {
		if off < 0 && k.matches(r) {
			off, kind = r.off, r.kind
		}
	})
	if err != nil {
		return nil, false, err
	}
	if off < 0 || kind&recStateMask != recReserved {
		return nil, false, nil
	}
	next := bytes.Clone(v)
	next[off] = kind&^(recStateMask|recBuyer) | recCancelled
	h.remaining++
	h.put(next)
	return next, true, nil
}

// findReservation finds orderNo in the value of sale saleID;
// order.ErrOrderNotFound when it holds none.
func findReservation(v []byte, saleID int64, orderNo string) (order.Reservation, error) {
	k := keyOf(orderNo)
	var res order.Reservation
	found := false
	if _, err := scanState(v, func(r record) {
		if !found && k.matches(r) {
			found = true
			res = order.Reservation{OrderNo: orderNo, SaleID: saleID, UserID: r.user, State: r.state()}
		}
	}); err != nil {
		return order.Reservation{}, err
	}
	if !found {
		return order.Reservation{}, order.ErrOrderNotFound
	}
	return res, nil
}

// memRecord is a decoded record, for Warm.
type memRecord struct {
	key     orderKey
	user    int64
	state   byte // recReserved or recCancelled
	buyer   bool
	settled bool
}

// warmValue applies a warm-up to the current value (nil when missing) and
// returns the new value. The rules are warm.lua's; a persisted order held
// here by another user is a conflict and writes nothing. Every persisted
// order is marked settled; the other records keep their settled bit.
func warmValue(cur []byte, s order.StockSale, maxValue int) ([]byte, error) {
	var recs []memRecord
	index := map[orderKey]int{}
	buyer := map[int64]int{}
	if cur != nil {
		if _, err := scanState(cur, func(r record) {
			k := r.key()
			index[k] = len(recs)
			if r.kind&recBuyer != 0 {
				buyer[r.user] = len(recs)
			}
			recs = append(recs, memRecord{key: k, user: r.user, state: r.kind & recStateMask,
				buyer: r.kind&recBuyer != 0, settled: r.kind&recSettled != 0})
		}); err != nil {
			return nil, fmt.Errorf("%w: %w", order.ErrUnavailable, err)
		}
	}

	owner := make(map[string]int64, len(s.Persisted))
	for _, o := range s.Persisted {
		i, ok := index[keyOf(o.OrderNo)]
		if ok && recs[i].user != o.UserID {
			return nil, fmt.Errorf("%w: order %s belongs to another user in the stock backend", order.ErrInvalid, o.OrderNo)
		}
		if u, ok := owner[o.OrderNo]; ok && u != o.UserID {
			return nil, fmt.Errorf("%w: order %s belongs to another user in the stock backend", order.ErrInvalid, o.OrderNo)
		}
		owner[o.OrderNo] = o.UserID
	}

	for _, o := range s.Persisted {
		k := keyOf(o.OrderNo)
		i, ok := index[k]
		if o.Status == order.StatusCancelled {
			if !ok {
				index[k] = len(recs)
				recs = append(recs, memRecord{key: k, user: o.UserID, state: recCancelled, settled: true})
				continue
			}
			if recs[i].buyer {
				recs[i].buyer = false
				delete(buyer, o.UserID)
			}
			recs[i].state = recCancelled
			recs[i].settled = true
			continue
		}
		if !ok {
			i = len(recs)
			index[k] = i
			recs = append(recs, memRecord{key: k, user: o.UserID, state: recReserved})
		}
		recs[i].settled = true
		if recs[i].state == recReserved {
			if _, held := buyer[o.UserID]; !held {
				recs[i].buyer = true
				buyer[o.UserID] = i
			}
		}
	}

	h := stateHeader{starts: s.StartsAt.UnixMilli(), ends: s.EndsAt.UnixMilli(), total: s.TotalStock, count: uint32(len(recs))}
	reserved := int64(0)
	next := make([]byte, stateHeaderLen, stateHeaderLen+len(recs)*maxUUIDRecordLen)
	for _, r := range recs {
		kind := r.state
		if r.settled {
			kind |= recSettled
		}
		if r.state == recReserved {
			reserved++
			if r.buyer {
				kind |= recBuyer
			}
		}
		next = appendRecord(next, kind, r.key, r.user)
	}
	h.remaining = h.total - reserved
	if h.remaining < 0 {
		// Never write a negative stock: a lost sale stays closed.
		return nil, fmt.Errorf("%w: the sale holds %d more reservations than units; stock not written", order.ErrUnavailable, -h.remaining)
	}
	h.put(next)
	if len(next) > maxValue {
		return nil, fmt.Errorf("%w: the sale's state takes %d bytes, above the memcached item limit of %d", order.ErrInvalid, len(next), maxValue)
	}
	return next, nil
}

// Forget deletes the sale's item and the postponements of its
// reservations.
func (m *Memcached) Forget(_ context.Context, saleID int64) error {
	m.postponed.dropSale(saleID)
	if err := m.client.Delete(m.Key(saleID)); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return unavailable("forget", saleID, err)
	}
	return nil
}
