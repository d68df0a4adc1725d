package stock

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/seckill/seckill/internal/order"
)

// The in-flight index of the memcached backend is the reserved records of a
// sale's value without the persisted bit (see the layout in the package
// doc): Reserve adds to it, MarkPersisted and Release take out of it, in
// the same CAS as the rest of the state. What the value does not hold is
// when a reservation is next due; see Due and Postpone.

// Due lists up to limit reservations of the sale's in-flight index whose
// next check is due before before, oldest first, from one read of the
// sale's value and its postponements; nothing for a sale the server does
// not hold.
//
// A reservation is next due at the time a settler postponed it to
// (Postpone, in the sale's postponements item, shared by every replica),
// else at its reservation time, read from its UUIDv7 order number
// (order.OrderTime), to the millisecond as in Redis. An order number that
// is not a UUIDv7 carries no time: its reservation counts as made at time
// zero, so it is always due, and its ReservedAt is zero. Postponements
// that cannot be read count as none: reservations are then due early,
// the safe side.
func (m *Memcached) Due(ctx context.Context, saleID int64, before time.Time, limit int) ([]order.Reservation, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, unavailable("due", saleID, err)
	}
	key, pkey := m.Key(saleID), m.postponedKey(saleID)
	items, err := m.client.GetMulti([]string{key, pkey})
	if err != nil {
		return nil, unavailable("due", saleID, err)
	}
	state, ok := items[key]
	if !ok {
		return nil, nil
	}
	var postponed map[orderKey]int64
	if it, ok := items[pkey]; ok {
		postponed, _ = decodePostponed(it.Value)
	}
	due, err := dueIn(state.Value, saleID, before.UnixMilli(), limit, postponed)
	if err != nil {
		return nil, unavailable("due", saleID, err)
	}
	return due, nil
}

// Postpone moves the next check of these reservations to at, to the
// millisecond, for every replica. Only reservations of the in-flight
// index are postponed, as found by one read of the sale's value; unknown,
// cancelled and persisted ones are ignored. The postponements are written
// in one CAS of the sale's postponements item, which drops at the same
// time those of reservations that left the index, so the item never holds
// more than the index.
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
	indexed := map[orderKey]bool{}
	if _, err := scanState(v, func(r record) {
		if r.indexed() {
			indexed[r.key()] = true
		}
	}); err != nil {
		return unavailable("postpone", saleID, err)
	}
	want := keySet(orderNos)
	err = m.updateKey(ctx, "postpone", saleID, m.postponedKey(saleID), func(cur []byte) ([]byte, error) {
		p, err := decodePostponed(cur)
		if err != nil {
			p = map[orderKey]int64{} // unreadable: written anew
		}
		for k := range p {
			if !indexed[k] {
				delete(p, k)
			}
		}
		for k := range want {
			if indexed[k] {
				p[k] = at.UnixMilli()
			}
		}
		return encodePostponed(p, m.maxValue), nil
	})
	if errors.Is(err, errInDoubt) {
		return fmt.Errorf("%w: %w", order.ErrUnavailable, err)
	}
	return err
}

// MarkPersisted takes these reservations out of the in-flight index by
// setting the persisted bit on their records, all in one CAS. They stay
// RESERVED and keep their units. Unknown, cancelled and already persisted
// orders are ignored; a call that changes nothing writes nothing. Idempotent.
func (m *Memcached) MarkPersisted(ctx context.Context, saleID int64, orderNos []string) error {
	if len(orderNos) == 0 {
		return nil
	}
	want := keySet(orderNos)
	err := m.update(ctx, "mark persisted", saleID, func(cur []byte) ([]byte, error) {
		if cur == nil {
			return nil, nil
		}
		return decidePersisted(cur, want)
	})
	if err != nil {
		if errors.Is(err, errInDoubt) {
			return fmt.Errorf("%w: %w", order.ErrUnavailable, err)
		}
		return fmt.Errorf("stock: mark persisted sale %d: %w", saleID, err)
	}
	return nil
}

func keySet(orderNos []string) map[orderKey]bool {
	set := make(map[orderKey]bool, len(orderNos))
	for _, no := range orderNos {
		set[keyOf(no)] = true
	}
	return set
}

// decidePersisted returns the value with the persisted bit set on the records
// of the in-flight index whose order numbers are in want; nil when none
// is.
func decidePersisted(v []byte, want map[orderKey]bool) ([]byte, error) {
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
		next[off] |= recPersisted
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
// milliseconds.
func dueIn(v []byte, saleID, beforeMs int64, limit int, postponed map[orderKey]int64) ([]order.Reservation, error) {
	type candidate struct {
		at  int64
		res order.Reservation
	}
	var found []candidate
	if _, err := scanState(v, func(r record) {
		if !r.indexed() {
			return
		}
		reserved, known := reservedAtMs(r)
		next := reserved
		if at, ok := postponed[r.key()]; ok {
			next = at
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
		return nil, err
	}
	slices.SortStableFunc(found, func(a, b candidate) int { return cmp.Compare(a.at, b.at) })
	out := make([]order.Reservation, 0, min(limit, len(found)))
	for _, c := range found[:min(limit, len(found))] {
		out = append(out, c.res)
	}
	return out, nil
}
