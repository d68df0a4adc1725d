package stock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/internal/order"
)

func testSale(total int64) order.StockSale {
	starts := time.Date(2031, 3, 14, 10, 0, 0, 0, time.UTC)
	return order.StockSale{ID: 1, TotalStock: total, StartsAt: starts, EndsAt: starts.Add(time.Hour), Rebuild: true}
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
		{"persisted without a state", patch(func(v []byte) []byte { v[stateHeaderLen] = recPersisted; return v })},
		{"persisted, both states", patch(func(v []byte) []byte { v[stateHeaderLen] = recStateMask | recPersisted; return v })},
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

// uuidAt is a UUIDv7 order number that carries the unix millisecond ms.
func uuidAt(tb testing.TB, ms int64) string {
	tb.Helper()
	id := uuid.Must(uuid.NewV7())
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id.String()
}

// TestValueWithoutPersistedBit decodes a value laid out byte by byte as it
// was before the persisted bit existed: it is valid, and every reserved
// record in it is in the in-flight index.
func TestValueWithoutPersistedBit(t *testing.T) {
	s := testSale(3)
	no := uuid.MustParse(uuidAt(t, s.StartsAt.UnixMilli()+5))
	be := binary.BigEndian
	v := []byte{'M', 1}
	v = be.AppendUint64(v, uint64(s.StartsAt.UnixMilli()))
	v = be.AppendUint64(v, uint64(s.EndsAt.UnixMilli()))
	v = be.AppendUint64(v, 3) // total
	v = be.AppendUint64(v, 1) // remaining
	v = be.AppendUint32(v, 3) // records
	v = append(v, 0x0d)       // reserved, buyer, UUID
	v = append(v, no[:]...)
	v = append(v, 7)
	v = append(v, 0x01, 3, 'o', '-', '2', 8) // reserved, no buyer, string order number
	v = append(v, 0x02, 3, 'o', '-', '3', 9) // cancelled

	if _, err := scanState(v, nil); err != nil {
		t.Fatalf("scanState: %v", err)
	}
	due, err := dueIn(v, 1, s.EndsAt.UnixMilli(), 10, nil)
	if err != nil {
		t.Fatalf("dueIn = %v, %v", due, err)
	}
	want := []order.Reservation{
		{OrderNo: "o-2", SaleID: 1, UserID: 8, State: order.Reserved}, // no time: due first
		{OrderNo: no.String(), SaleID: 1, UserID: 7, State: order.Reserved, ReservedAt: time.UnixMilli(s.StartsAt.UnixMilli() + 5)},
	}
	if fmt.Sprint(due) != fmt.Sprint(want) {
		t.Fatalf("dueIn = %+v\nwant   %+v", due, want)
	}
	if !due[1].ReservedAt.Equal(order.OrderTime(no.String())) {
		t.Fatalf("ReservedAt %s, order.OrderTime says %s", due[1].ReservedAt, order.OrderTime(no.String()))
	}
}

// TestDecidePersisted: one value sets the bit on every reserved record named,
// ignores the others, changes nothing else and is idempotent.
func TestDecidePersisted(t *testing.T) {
	s := testSale(5)
	now := s.StartsAt.UnixMilli()
	a, b, c := uuidAt(t, now), uuidAt(t, now+1), "o-c"
	rs := []order.Reservation{{OrderNo: a, SaleID: 1, UserID: 1}, {OrderNo: b, SaleID: 1, UserID: 2}, {OrderNo: c, SaleID: 1, UserID: 3}}
	v, _, err := decideReserve(mustState(t, s), rs, []int64{now, now, now}, MemcachedMaxValueBytes)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err = decideRelease(v, b)
	if err != nil {
		t.Fatal(err)
	}

	next, err := decidePersisted(v, keySet([]string{a, b, c, "o-unknown", uuid.NewString()}))
	if err != nil || len(next) != len(v) {
		t.Fatalf("decidePersisted = %d bytes, %v; want %d bytes", len(next), err, len(v))
	}
	kinds := map[string]byte{}
	h, err := scanState(next, func(r record) { kinds[r.orderNo()] = r.kind })
	if err != nil || h.remaining != 3 || string(next[:stateHeaderLen]) != string(v[:stateHeaderLen]) {
		t.Fatalf("persisted value: header %+v, %v; want the header unchanged", h, err)
	}
	want := map[string]byte{
		a: recReserved | recBuyer | recUUID | recPersisted,
		b: recCancelled | recUUID, // cancelled: never due, left as it is
		c: recReserved | recBuyer | recPersisted,
	}
	for no, k := range want {
		if kinds[no] != k {
			t.Errorf("%s: kind %#x, want %#x", no, kinds[no], k)
		}
	}
	if again, err := decidePersisted(next, keySet([]string{a, c})); again != nil || err != nil {
		t.Fatalf("second decidePersisted = %v, %v; want nothing to write", again, err)
	}
	if due, err := dueIn(next, 1, s.EndsAt.UnixMilli(), 10, nil); err != nil || len(due) != 0 {
		t.Fatalf("dueIn after settling all = %v, %v; want none", due, err)
	}

	// A release keeps the bit; a reserve of the same user then works.
	released, moved, err := decideRelease(next, a)
	if err != nil || !moved {
		t.Fatalf("decideRelease of a persisted record = %v, %v", moved, err)
	}
	if _, err := scanState(released, func(r record) {
		if r.orderNo() == a && r.kind != recCancelled|recUUID|recPersisted {
			t.Errorf("released persisted record: kind %#x", r.kind)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWarmValuePersists: a warm-up marks the persisted orders persisted and
// carries the bit of the other records over.
func TestWarmValuePersists(t *testing.T) {
	s := testSale(10)
	now := s.StartsAt.UnixMilli()
	inFlight, marked, stored, cancelledHere := uuidAt(t, now), uuidAt(t, now+1), uuidAt(t, now+2), uuidAt(t, now+3)
	rs := []order.Reservation{
		{OrderNo: inFlight, SaleID: 1, UserID: 1}, {OrderNo: marked, SaleID: 1, UserID: 2},
		{OrderNo: stored, SaleID: 1, UserID: 3}, {OrderNo: cancelledHere, SaleID: 1, UserID: 4},
	}
	v, _, err := decideReserve(mustState(t, s), rs, []int64{now, now, now, now}, MemcachedMaxValueBytes)
	if err != nil {
		t.Fatal(err)
	}
	if v, err = decidePersisted(v, keySet([]string{marked})); err != nil {
		t.Fatal(err)
	}
	if v, _, err = decideRelease(v, cancelledHere); err != nil {
		t.Fatal(err)
	}
	s.Persisted = []order.Order{
		{OrderNo: stored, SaleID: 1, UserID: 3, Status: order.StatusCreated},
		{OrderNo: cancelledHere, SaleID: 1, UserID: 4, Status: order.StatusCreated}, // never revived
		{OrderNo: "p-new", SaleID: 1, UserID: 5, Status: order.StatusPaid},
		{OrderNo: "p-gone", SaleID: 1, UserID: 6, Status: order.StatusCancelled},
	}
	next, err := warmValue(v, s, MemcachedMaxValueBytes)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]byte{}
	if _, err := scanState(next, func(r record) { got[r.orderNo()] = r.kind &^ recUUID }); err != nil {
		t.Fatal(err)
	}
	want := map[string]byte{
		inFlight:      recReserved | recBuyer,
		marked:        recReserved | recBuyer | recPersisted,
		stored:        recReserved | recBuyer | recPersisted,
		cancelledHere: recCancelled | recPersisted,
		"p-new":       recReserved | recBuyer | recPersisted,
		"p-gone":      recCancelled | recPersisted,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kinds after warm = %v\nwant %v", got, want)
	}
}

// TestDueIn: the in-flight index is read oldest first by next check, and
// a postponement moves a record.
func TestDueIn(t *testing.T) {
	s := testSale(10)
	t0 := s.StartsAt.UnixMilli()
	a, b, c := uuidAt(t, t0+30), uuidAt(t, t0+10), uuidAt(t, t0+20)
	v4 := uuid.NewString() // a UUID, but not a v7: no time
	rs := []order.Reservation{
		{OrderNo: a, SaleID: 1, UserID: 1}, {OrderNo: b, SaleID: 1, UserID: 2},
		{OrderNo: c, SaleID: 1, UserID: 3}, {OrderNo: v4, SaleID: 1, UserID: 4},
	}
	v, _, err := decideReserve(mustState(t, s), rs, []int64{t0, t0, t0, t0}, MemcachedMaxValueBytes)
	if err != nil {
		t.Fatal(err)
	}
	gone := uuidAt(t, t0) // postponed, but not in the value
	tests := []struct {
		name      string
		before    int64
		limit     int
		postponed map[string]int64
		want      []string
	}{
		{name: "oldest first", before: t0 + 100, limit: 10, want: []string{v4, b, c, a}},
		{name: "limit", before: t0 + 100, limit: 2, want: []string{v4, b}},
		{name: "strictly before", before: t0 + 20, limit: 10, want: []string{v4, b}},
		{name: "postponed later", before: t0 + 100, limit: 10, postponed: map[string]int64{b: t0 + 200}, want: []string{v4, c, a}},
		{name: "postponement past", before: t0 + 300, limit: 10, postponed: map[string]int64{b: t0 + 200},
			want: []string{v4, c, a, b}},
		{name: "postponed earlier than before but reserved after", before: t0 + 15, limit: 10, postponed: map[string]int64{a: t0 + 5},
			want: []string{v4, a, b}},
		{name: "postponement of an order not held", before: t0 + 100, limit: 10, postponed: map[string]int64{gone: t0 + 200},
			want: []string{v4, b, c, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			postponed := map[orderKey]int64{}
			for no, at := range tt.postponed {
				postponed[keyOf(no)] = at
			}
			due, err := dueIn(v, 1, tt.before, tt.limit, postponed)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(due))
			for i, r := range due {
				got[i] = r.OrderNo
				if !r.ReservedAt.Equal(order.OrderTime(r.OrderNo)) || r.State != order.Reserved {
					t.Errorf("%s: %+v, want RESERVED at %s", r.OrderNo, r, order.OrderTime(r.OrderNo))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("due %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPostponedCodec: the postponements item reads back as written, and
// one cut to a size keeps the latest postponements.
func TestPostponedCodec(t *testing.T) {
	p := map[orderKey]int64{}
	for i := range 6 {
		p[keyOf(fmt.Sprintf("o-%d", i))] = int64(100 + i)
		p[keyOf(uuid.NewString())] = int64(200 + i)
	}
	got, err := decodePostponed(encodePostponed(p, MemcachedMaxValueBytes))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(p) {
		t.Fatalf("round trip: %v, %v; want %v", got, err, p)
	}
	// Room for the header and three UUID entries of 25 bytes.
	cut, err := decodePostponed(encodePostponed(p, 2+3*25))
	if err != nil || len(cut) != 3 {
		t.Fatalf("cut: %v, %v; want 3 postponements", cut, err)
	}
	for _, at := range cut {
		if at < 203 {
			t.Errorf("the cut kept a postponement at %d, not one of the latest", at)
		}
	}
	for _, bad := range [][]byte{{'P'}, {'P', 9}, {'P', 1, 1, 2}, {'P', 1, 0, 5, 'a'}, {'P', 1, 7}} {
		if _, err := decodePostponed(bad); err == nil {
			t.Errorf("decoded malformed %q", bad)
		}
	}
}
