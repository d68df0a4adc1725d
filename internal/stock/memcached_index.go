package stock

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// The in-flight index of the memcached backend is the reserved records of a
// sale's value without the settled bit (see the layout in the package
// doc): Reserve adds to it, Settle and Release take out of it, in
// the same CAS as the rest of the state. What the value does not hold is
// when a reservation is next due; see Due and Postpone.

// maxPostponed bounds the postponements one Memcached keeps.
const maxPostponed = 1 << 20

// Due lists up to limit reservations of the sale's in-flight index whose
// next check is due before before, oldest first, from one read of the
// sale's value; nothing for a sale the server does not hold.
//
// A reservation is next due at the time this process postponed it to
// (Postpone), else at its reservation time, read from its UUIDv7 order
// number (order.OrderTime), to the millisecond as in Redis. An order
// number that is not a UUIDv7 carries no time: its reservation counts as
// made at time zero, so it is always due, and its ReservedAt is zero.
func (m *Memcached) Due(ctx context.Context, saleID int64, before time.Time, limit int) ([]order.Reservation, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, unavailable("due", saleID, err)
	}
	v, err := m.get("due", saleID)
	switch {
	case err != nil:
		return nil, err
	case v == nil:
		m.postponed.dropSale(saleID)
		return nil, nil
	}
	due, stale, err := dueIn(v, saleID, before.UnixMilli(), limit, m.postponed.sale(saleID))
	if err != nil {
		return nil, unavailable("due", saleID, err)
	}
	m.postponed.dropIfUnchanged(saleID, stale)
	return due, nil
}

// Postpone moves the next check of these reservations to at, to the
// millisecond. Only reservations of the in-flight index are postponed, as
// found by one read of the sale's value; unknown, cancelled and settled
// ones are ignored.
//
// The value has no room for a time per record, so postponements are kept
// in this process, and only its own Due calls see them: with several api
// replicas each one may republish a stale order once per interval, which
// is harmless because the worker is idempotent. A postponement ends when
// its reservation leaves the index, when a Due call finds both it and the
// reservation time past its before (the reservation is due either way),
// or, past maxPostponed of them, oldest first (its reservation is then
// due early: one republish more).
func (m *Memcached) Postpone(ctx context.Context, saleID int64, orderNos []string, at time.Time) error {
	if len(orderNos) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return unavailable("postpone", saleID, err)
	}
	v, err := m.get("postpone", saleID)
	if err != nil || v == nil {
		return err
	}
	want := keySet(orderNos)
	var keys []orderKey
	if _, err := scanState(v, func(r record) {
		if !r.indexed() {
			return
		}
		if k := r.key(); want[k] {
			keys = append(keys, k)
			delete(want, k)
		}
	}); err != nil {
		return unavailable("postpone", saleID, err)
	}
	m.postponed.set(saleID, keys, at.UnixMilli())
	return nil
}

// Settle takes these reservations out of the in-flight index by setting
// the settled bit on their records, all in one CAS. They stay RESERVED
// and keep their units. Unknown, cancelled and already settled orders are
// ignored; a call that changes nothing writes nothing. Idempotent.
func (m *Memcached) Settle(ctx context.Context, saleID int64, orderNos []string) error {
	if len(orderNos) == 0 {
		return nil
	}
	want := keySet(orderNos)
	err := m.update(ctx, "settle", saleID, func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, nil
		}
		return decideSettle(cur, want)
	})
	if err != nil {
		if errors.Is(err, errInDoubt) {
			return fmt.Errorf("%w: %w", order.ErrUnavailable, err)
		}
		return fmt.Errorf("stock: settle sale %d: %w", saleID, err)
	}
	m.postponed.drop(saleID, slices.Collect(maps.Keys(want)))
	return nil
}

func keySet(orderNos []string) map[orderKey]bool {
	set := make(map[orderKey]bool, len(orderNos))
	for _, no := range orderNos {
		set[keyOf(no)] = true
	}
	return set
}

// decideSettle returns the value with the settled bit set on the records
// of the in-flight index whose order numbers are in want; nil when none
// is.
func decideSettle(v []byte, want map[orderKey]bool) ([]byte, error) {
	var offs []int
	if _, err := scanState(v, func(r record) {
		if r.indexed() && want[r.key()] {
			offs = append(offs, r.off)
		}
	}); err != nil {
		return nil, err
	}
	if len(offs) == 0 {
		return nil, nil
	}
	next := bytes.Clone(v)
	for _, off := range offs {
		next[off] |= recSettled
	}
	return next, nil
}

// reservedAtMs is the reservation time of r in unix milliseconds, read from
// its UUIDv7 order number as order.OrderTime does; 0 and false when the
// order number is not a UUIDv7.
func reservedAtMs(r record) (int64, bool) {
	if r.kind&recUUID == 0 {
		t := order.OrderTime(string(r.no))
		if t.IsZero() {
			return 0, false
		}
		return t.UnixMilli(), true
	}
	if r.no[6]>>4 != 7 {
		return 0, false
	}
	var ms int64
	for _, b := range r.no[:6] {
		ms = ms<<8 | int64(b)
	}
	return ms, true
}

// dueIn lists the reservations of v's in-flight index next due before
// beforeMs, oldest first (in record order among equals), at most limit.
// postponed holds the sale's postponements, by order number, in unix
// milliseconds. dueIn also returns the postponements that no longer
// matter: their reservation left the index, or both they and the
// reservation time are before beforeMs.
func dueIn(v []byte, saleID, beforeMs int64, limit int, postponed map[orderKey]int64) ([]order.Reservation, map[orderKey]int64, error) {
	type candidate struct {
		at  int64
		res order.Reservation
	}
	var found []candidate
	live := make(map[orderKey]bool, len(postponed))
	stale := map[orderKey]int64{}
	if _, err := scanState(v, func(r record) {
		if !r.indexed() {
			return
		}
		reserved, known := reservedAtMs(r)
		next := reserved
		if len(postponed) > 0 {
			k := r.key()
			if at, ok := postponed[k]; ok {
				live[k] = true
				next = at
				if at < beforeMs && reserved < beforeMs {
					stale[k] = at
				}
			}
		}
		if next >= beforeMs {
			return
		}
		res := order.Reservation{OrderNo: r.orderNo(), SaleID: saleID, UserID: r.user, State: order.Reserved}
		if known {
			res.ReservedAt = time.UnixMilli(reserved)
		}
		found = append(found, candidate{at: next, res: res})
	}); err != nil {
		return nil, nil, err
	}
	for k, at := range postponed {
		if !live[k] {
			stale[k] = at
		}
	}
	slices.SortStableFunc(found, func(a, b candidate) int { return cmp.Compare(a.at, b.at) })
	out := make([]order.Reservation, 0, min(limit, len(found)))
	for _, c := range found[:min(limit, len(found))] {
		out = append(out, c.res)
	}
	return out, stale, nil
}

// postponements are the postponed next checks of reservations, in unix
// milliseconds, by sale and order number, at most max of them. The zero
// value holds none and takes none; it is safe for concurrent use.
type postponements struct {
	mu     sync.Mutex
	max    int
	n      int
	bySale map[int64]map[orderKey]int64
}

// sale returns a copy of the sale's postponements; nil when it has none.
func (p *postponements) sale(saleID int64) map[orderKey]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.bySale[saleID])
}

// set postpones keys of the sale to at. A new postponement that finds
// the set full first drops the oldest ones.
func (p *postponements) set(saleID int64, keys []orderKey, at int64) {
	if len(keys) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		if _, ok := p.bySale[saleID][k]; !ok {
			if p.n >= p.max {
				p.evictOldestLocked()
			}
			if p.n >= p.max {
				return
			}
			p.n++
		}
		if p.bySale == nil {
			p.bySale = map[int64]map[orderKey]int64{}
		}
		if p.bySale[saleID] == nil {
			p.bySale[saleID] = map[orderKey]int64{}
		}
		p.bySale[saleID][k] = at
	}
}

// evictOldestLocked drops the oldest quarter of the postponements (at
// least one; more when several share the cutoff time), so that a full set
// is sorted once per max/4 new postponements, not on each.
func (p *postponements) evictOldestLocked() {
	ats := make([]int64, 0, p.n)
	for _, m := range p.bySale {
		for _, at := range m {
			ats = append(ats, at)
		}
	}
	if len(ats) == 0 {
		return
	}
	slices.Sort(ats)
	cutoff := ats[max(len(ats)/4, 1)-1]
	for saleID, m := range p.bySale {
		for k, at := range m {
			if at <= cutoff {
				delete(m, k)
				p.n--
			}
		}
		if len(m) == 0 {
			delete(p.bySale, saleID)
		}
	}
}

// drop ends the postponements of keys.
func (p *postponements) drop(saleID int64, keys []orderKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.bySale[saleID]
	for _, k := range keys {
		if _, ok := m[k]; ok {
			delete(m, k)
			p.n--
		}
	}
	if m != nil && len(m) == 0 {
		delete(p.bySale, saleID)
	}
}

// dropIfUnchanged ends the postponements in stale that still hold the time
// stale gives: a postponement renewed since stays.
func (p *postponements) dropIfUnchanged(saleID int64, stale map[orderKey]int64) {
	if len(stale) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.bySale[saleID]
	for k, at := range stale {
		if cur, ok := m[k]; ok && cur == at {
			delete(m, k)
			p.n--
		}
	}
	if m != nil && len(m) == 0 {
		delete(p.bySale, saleID)
	}
}

// dropSale ends every postponement of the sale.
func (p *postponements) dropSale(saleID int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n -= len(p.bySale[saleID])
	delete(p.bySale, saleID)
}

// size is the number of postponements held.
func (p *postponements) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
