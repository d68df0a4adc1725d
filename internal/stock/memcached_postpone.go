package stock

// The postponements of the memcached backend's in-flight index. The sale's
// value has no room for a time per record, so they live in an item of
// their own beside it, <prefix>:{s<id>}:postponed, where every api
// replica's settler reads and writes them: an order one replica has just
// republished is not republished by the others before its next check.
//
// Layout: magic 'P', version 1, then one entry per postponed reservation:
// a kind byte (1: the order number is a canonical UUID, stored as 16 raw
// bytes; 0: uvarint length and bytes), then the time of its next check in
// unix milliseconds (int64 big endian).

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"strconv"

	"github.com/google/uuid"
)

const (
	postponedMagic   = 'P'
	postponedVersion = 1
)

var errPostponedCorrupt = errors.New("malformed postponements")

// postponedKey is the item holding the sale's postponements.
func (m *Memcached) postponedKey(saleID int64) string {
	return m.prefix + ":{s" + strconv.FormatInt(saleID, 10) + "}:postponed"
}

// encodePostponed writes p, at most maxBytes of it: past that the
// postponements due soonest are left out (their reservations are due at
// their reservation time again: one republish more, which is harmless).
func encodePostponed(p map[orderKey]int64, maxBytes int) []byte {
	keys := slices.Collect(maps.Keys(p))
	// Latest first, so a cut drops the earliest.
	slices.SortFunc(keys, func(a, b orderKey) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	out := []byte{postponedMagic, postponedVersion}
	for _, k := range keys {
		var e []byte
		if k.uuid {
			e = append(e, 1)
			e = append(e, k.id[:]...)
		} else {
			e = append(e, 0)
			e = binary.AppendUvarint(e, uint64(len(k.str)))
			e = append(e, k.str...)
		}
		e = binary.BigEndian.AppendUint64(e, uint64(p[k]))
		if len(out)+len(e) > maxBytes {
			break
		}
		out = append(out, e...)
	}
	return out
}

// decodePostponed reads an item encodePostponed wrote; nil reads as none.
func decodePostponed(v []byte) (map[orderKey]int64, error) {
	if v == nil {
		return map[orderKey]int64{}, nil
	}
	if len(v) < 2 || v[0] != postponedMagic || v[1] != postponedVersion {
		return nil, errPostponedCorrupt
	}
	p := map[orderKey]int64{}
	for rest := v[2:]; len(rest) > 0; {
		var k orderKey
		switch rest[0] {
		case 1:
			if len(rest) < 1+16 {
				return nil, errPostponedCorrupt
			}
			k = orderKey{uuid: true, id: uuid.UUID(rest[1:17])}
			rest = rest[17:]
		case 0:
			n, w := binary.Uvarint(rest[1:])
			if w <= 0 || uint64(len(rest)-1-w) < n {
				return nil, errPostponedCorrupt
			}
			k = orderKey{str: string(rest[1+w : 1+w+int(n)])}
			rest = rest[1+w+int(n):]
		default:
			return nil, errPostponedCorrupt
		}
		if len(rest) < 8 {
			return nil, errPostponedCorrupt
		}
		p[k] = int64(binary.BigEndian.Uint64(rest[:8]))
		rest = rest[8:]
	}
	return p, nil
}
