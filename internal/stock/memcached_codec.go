package stock

// The binary value that holds a memcached sale's whole state.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

// The encoding of a sale's state; the layout is in the package doc.
const (
	stateMagic     = 'M'
	stateVersion   = 1
	stateHeaderLen = 2 + 4*8 + 4

	recReserved  = 0x01
	recCancelled = 0x02
	recStateMask = 0x03
	recBuyer     = 0x04
	recUUID      = 0x08
	recPersisted = 0x10 // MySQL holds the order: not in the in-flight index

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

// indexed tells a record of the in-flight index: reserved, not persisted.
func (r record) indexed() bool {
	return r.kind&recStateMask == recReserved && r.kind&recPersisted == 0
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
		if r.kind&^(recStateMask|recBuyer|recUUID|recPersisted) != 0 || (st != recReserved && st != recCancelled) ||
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
