package stock

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

func testSale(total int64) order.StockSale {
	starts := time.Date(2031, 3, 14, 10, 0, 0, 0, time.UTC)
	return order.StockSale{ID: 1, TotalStock: total, StartsAt: starts, EndsAt: starts.Add(time.Hour)}
}

// mustState builds a value with a warm-up of s over nothing.
func mustState(tb testing.TB, s order.StockSale) []byte {
	tb.Helper()
	v, err := warmValue(nil, s, MemcachedMaxValueBytes)
	if err != nil {
		tb.Fatalf("warmValue: %v", err)
	}
	return v
}

func TestKeyOf(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	tests := []struct {
		orderNo string
		uuid    bool
	}{
		{id.String(), true},
		{"URN:UUID:" + id.String(), false},
		{"{" + id.String() + "}", false},
		{"0190C8D2-7A7B-7C3E-8F4A-0123456789AB", false}, // not canonical: kept as written
		{"o-1", false},
		{"0123456789abcdef", false},
	}
	for _, tt := range tests {
		k := keyOf(tt.orderNo)
		if k.uuid != tt.uuid {
			t.Errorf("keyOf(%q).uuid = %v, want %v", tt.orderNo, k.uuid, tt.uuid)
		}
		v := appendRecord(make([]byte, stateHeaderLen), recReserved, k, 7)
		stateHeader{starts: 0, ends: 1, total: 1, remaining: 0, count: 1}.put(v)
		var got string
		if _, err := scanState(v, func(r record) { got = r.orderNo() }); err != nil || got != tt.orderNo {
			t.Errorf("round trip of %q = %q, %v", tt.orderNo, got, err)
		}
	}
}

func TestMaxUUIDRecordLen(t *testing.T) {
	v := appendRecord(nil, recReserved|recBuyer, keyOf(uuid.NewString()), math.MaxInt64)
	if len(v) != maxUUIDRecordLen {
		t.Fatalf("longest UUID record takes %d bytes, maxUUIDRecordLen is %d", len(v), maxUUIDRecordLen)
	}
	if MemcachedMaxUnits < 40000 {
		t.Fatalf("MemcachedMaxUnits = %d, want at least 40000", MemcachedMaxUnits)
	}
}

func TestScanStateRejectsCorruptValues(t *testing.T) {
	good := mustState(t, testSale(3))
	next, _, err := decideReserve(good, []order.Reservation{{OrderNo: "o-1", SaleID: 1, UserID: 7}}, []int64{testSale(3).StartsAt.UnixMilli()}, MemcachedMaxValueBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scanState(next, nil); err != nil {
		t.Fatalf("a decided value is corrupt: %v", err)
	}
	patch := func(f func(v []byte) []byte) []byte { return f(append([]byte(nil), next...)) }
	tests := []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"short header", next[:10]},
		{"bad magic", patch(func(v []byte) []byte { v[0] = 'X'; return v })},
		{"newer version", patch(func(v []byte) []byte { v[1] = 2; return v })},
		{"truncated record", next[:len(next)-1]},
		{"unknown kind bit", patch(func(v []byte) []byte { v[stateHeaderLen] |= 0x40; return v })},
		{"buyer on a cancelled record", patch(func(v []byte) []byte { v[stateHeaderLen] = recCancelled | recBuyer; return v })},
		{"no state", patch(func(v []byte) []byte { v[stateHeaderLen] = recBuyer; return v })},
		{"count too high", patch(func(v []byte) []byte { binary.BigEndian.PutUint32(v[34:], 2); return v })},
		{"remaining off", patch(func(v []byte) []byte { binary.BigEndian.PutUint64(v[26:], 3); return v })},
		{"zero user", patch(func(v []byte) []byte { v[len(v)-1] = 0; return v })},
		{"trailing byte", patch(func(v []byte) []byte { return append(v, recReserved) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := scanState(tt.v, nil); !errors.Is(err, errCorrupt) {
				t.Fatalf("scanState = %v, want errCorrupt", err)
			}
		})
	}
}

// TestDecideReserveFull: a reservation that would grow the value past the
// item limit fails closed and writes nothing.
func TestDecideReserveFull(t *testing.T) {
	s := testSale(10)
	v := mustState(t, s)
	now := s.StartsAt.UnixMilli()
	next, out, err := decideReserve(v, []order.Reservation{{OrderNo: "o-1", SaleID: 1, UserID: 1}}, []int64{now}, len(v)+6)
	if next == nil || err != nil || out[0] != nil {
		t.Fatalf("first reservation = %v, %v, %v", next, out, err)
	}
	next, _, err = decideReserve(next, []order.Reservation{{OrderNo: "o-2", SaleID: 1, UserID: 2}}, []int64{now}, len(v)+6)
	if next != nil || !errors.Is(err, order.ErrUnavailable) {
		t.Fatalf("reservation past the limit = %v, %v; want nothing and ErrUnavailable", next, err)
	}
}

// TestDecideReleaseInPlace: a release rewrites one kind byte and the
// header, so the value keeps its length.
func TestDecideReleaseInPlace(t *testing.T) {
	s := testSale(2)
	now := s.StartsAt.UnixMilli()
	no := uuid.NewString()
	v, _, err := decideReserve(mustState(t, s), []order.Reservation{{OrderNo: no, SaleID: 1, UserID: 9}}, []int64{now}, MemcachedMaxValueBytes)
	if err != nil {
		t.Fatal(err)
	}
	next, moved, err := decideRelease(v, no)
	if err != nil || !moved || len(next) != len(v) {
		t.Fatalf("decideRelease = %d bytes, %v, %v; want %d bytes, moved", len(next), moved, err, len(v))
	}
	h, err := scanState(next, func(r record) {
		if r.state() != order.Cancelled || r.kind&recBuyer != 0 {
			t.Errorf("record after release: kind %#x", r.kind)
		}
	})
	if err != nil || h.remaining != 2 {
		t.Fatalf("after release: remaining %d, %v", h.remaining, err)
	}
	if again, moved, err := decideRelease(next, no); again != nil || moved || err != nil {
		t.Fatalf("second decideRelease = %v, %v, %v; want nothing", again, moved, err)
	}
}

// TestDecideReserveOwnTimes: a combined batch decides each reservation at
// its own time, in order.
func TestDecideReserveOwnTimes(t *testing.T) {
	s := testSale(1)
	starts, ends := s.StartsAt.UnixMilli(), s.EndsAt.UnixMilli()
	rs := []order.Reservation{
		{OrderNo: "early", SaleID: 1, UserID: 1},
		{OrderNo: "ok", SaleID: 1, UserID: 2},
		{OrderNo: "late", SaleID: 1, UserID: 3},
		{OrderNo: "dup", SaleID: 1, UserID: 2},
		{OrderNo: "none-left", SaleID: 1, UserID: 4},
	}
	next, out, err := decideReserve(mustState(t, s), rs, []int64{starts - 1, starts, ends, starts + 1, starts + 2}, MemcachedMaxValueBytes)
	if err != nil || next == nil {
		t.Fatalf("decideReserve = %v, %v", next, err)
	}
	want := []error{order.ErrNotStarted, nil, order.ErrEnded, order.ErrAlreadyPurchased, order.ErrSoldOut}
	for i, w := range want {
		if (w == nil) != (out[i] == nil) || !errors.Is(out[i], w) {
			t.Errorf("%s: %v, want %v", rs[i].OrderNo, out[i], w)
		}
	}
}
