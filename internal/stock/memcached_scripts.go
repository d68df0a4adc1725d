package stock

// The decisions of the memcached backend: the rules of scripts/lua's
// reserve, release, restock and warm scripts, in Go, on the encoded value.

import (
	"bytes"
	"fmt"

	"github.com/seckill/seckill/internal/order"
)

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

// decideRestock returns the value with the sale's total raised to total,
// and its remaining stock by as much, and the remaining stock after; the
// value is nil when total is not above the sale's total (a repeat changes
// nothing). The rules are restock.lua's; a total above MemcachedMaxUnits
// is order.ErrInvalid, as in Warm.
func decideRestock(v []byte, total int64) ([]byte, int64, error) {
	h, err := readHeader(v)
	if err != nil {
		return nil, 0, err
	}
	if total <= h.total {
		return nil, h.remaining, nil
	}
	if total > MemcachedMaxUnits {
		return nil, 0, fmt.Errorf("%w: %d units exceed the memcached backend's maximum of %d per sale", order.ErrInvalid, total, MemcachedMaxUnits)
	}
	h.remaining += total - h.total
	h.total = total
	next := bytes.Clone(v)
	h.put(next)
	return next, h.remaining, nil
}

// memRecord is a decoded record, for Warm.
type memRecord struct {
	key       orderKey
	user      int64
	state     byte // recReserved or recCancelled
	buyer     bool
	persisted bool
}

// warmValue applies a warm-up to the current value (nil when missing) and
// returns the new value. The rules are warm.lua's; a persisted order held
// here by another user is a conflict and writes nothing. Every persisted
// order is marked persisted; the other records keep their persisted bit.
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
				buyer: r.kind&recBuyer != 0, persisted: r.kind&recPersisted != 0})
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
				recs = append(recs, memRecord{key: k, user: o.UserID, state: recCancelled, persisted: true})
				continue
			}
			if recs[i].buyer {
				recs[i].buyer = false
				delete(buyer, o.UserID)
			}
			recs[i].state = recCancelled
			recs[i].persisted = true
			continue
		}
		if !ok {
			i = len(recs)
			index[k] = i
			recs = append(recs, memRecord{key: k, user: o.UserID, state: recReserved})
		}
		recs[i].persisted = true
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
		if r.persisted {
			kind |= recPersisted
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
