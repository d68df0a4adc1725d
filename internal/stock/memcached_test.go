package stock_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/internal/metrics"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/stock/stocktest"
	"github.com/seckill/seckill/internal/testenv"
)

const memcachedAddr = "127.0.0.1:11211"

var _ stocktest.Inspector = (*stock.Memcached)(nil)

// requireMemcached skips tb when the memcached server of this machine does
// not answer, or fails it when SECKILL_REQUIRE_SERVICES=1.
func requireMemcached(tb testing.TB) {
	tb.Helper()
	client := memcache.New(memcachedAddr)
	client.Timeout = 2 * time.Second
	defer client.Close()
	testenv.Need(tb, "memcached at "+memcachedAddr, client.Ping())
}

// trackedMemcached is a Memcached that remembers the sales it warmed, the
// only ones it can have written, so cleanup deletes exactly its keys.
type trackedMemcached struct {
	*stock.Memcached
	mu    sync.Mutex
	sales map[int64]bool
}

func (s *trackedMemcached) Warm(ctx context.Context, sale order.StockSale) error {
	s.track(sale.ID)
	return s.Memcached.Warm(ctx, sale)
}

func (s *trackedMemcached) track(saleID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sales[saleID] = true
}

// newMemcached returns a backend on the real server under a key prefix no
// other test uses; cleanup deletes every sale it warmed or the test
// tracked.
func newMemcached(tb testing.TB, opts ...stock.Option) *trackedMemcached {
	tb.Helper()
	requireMemcached(tb)
	prefix := "skmc-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	m, err := stock.NewMemcached(memcachedAddr, append([]stock.Option{stock.WithPrefix(prefix)}, opts...)...)
	if err != nil {
		tb.Fatalf("NewMemcached: %v", err)
	}
	s := &trackedMemcached{Memcached: m, sales: map[int64]bool{}}
	tb.Cleanup(func() {
		defer m.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for id := range s.sales {
			// Forget deletes the sale's postponements too.
			if err := m.Forget(context.Background(), id); err != nil {
				tb.Errorf("cleanup of %s: %v", m.Key(id), err)
			}
		}
	})
	return s
}

// rawClient is a plain client of the real server, for tests that look at
// or damage the stored item.
func rawClient(tb testing.TB) *memcache.Client {
	tb.Helper()
	c := memcache.New(memcachedAddr)
	c.Timeout = 2 * time.Second
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// mcPrefix is the key prefix s was made with.
func mcPrefix(s *stock.Memcached) string { return strings.TrimSuffix(s.Key(0), ":{s0}:state") }

func mcWarm(tb testing.TB, s order.Stock, sale order.StockSale) {
	tb.Helper()
	if err := s.Warm(context.Background(), sale); err != nil {
		tb.Fatalf("Warm(sale %d): %v", sale.ID, err)
	}
}

func mcReserve(tb testing.TB, s order.Stock, saleID, userID int64, orderNo string) {
	tb.Helper()
	if err := s.Reserve(context.Background(), reservation(saleID, userID, orderNo), during); err != nil {
		tb.Fatalf("Reserve(sale %d, user %d, %s): %v", saleID, userID, orderNo, err)
	}
}

func mcDump(tb testing.TB, s *stock.Memcached, saleID int64) map[string]string {
	tb.Helper()
	d, err := s.Dump(context.Background(), saleID)
	if err != nil {
		tb.Fatalf("Dump(sale %d): %v", saleID, err)
	}
	return d
}

func TestMemcacheContract(t *testing.T) {
	requireMemcached(t)
	stocktest.Run(t, func(tb testing.TB) order.Stock { return newMemcached(tb) })
}

// TestMemcacheStateLayout reads the stored item: one key per sale, no
// expiry, and a compact value whose decoded view matches Redis's naming.
func TestMemcacheStateLayout(t *testing.T) {
	s := newMemcached(t)
	mcWarm(t, s, sale(42, 3))
	no1, no2 := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	mcReserve(t, s, 42, 7, no1)
	mcReserve(t, s, 42, 8, no2)
	if ok, err := s.Release(t.Context(), 42, no2); !ok || err != nil {
		t.Fatalf("Release = %v, %v", ok, err)
	}

	it, err := rawClient(t).Get(s.Key(42))
	if err != nil {
		t.Fatalf("Get(%s): %v", s.Key(42), err)
	}
	if !strings.HasSuffix(s.Key(42), ":{s42}:state") {
		t.Errorf("key %q, want <prefix>:{s42}:state", s.Key(42))
	}
	// 38 bytes of header, then per reservation: kind, 16 bytes of UUID and
	// a one-byte user id.
	if want := 38 + 2*(1+16+1); len(it.Value) != want {
		t.Errorf("value of %d bytes, want %d", len(it.Value), want)
	}
	want := map[string]string{
		"stock":             "2",
		"meta/starts_at_ms": fmt.Sprint(startsAt.UnixMilli()),
		"meta/ends_at_ms":   fmt.Sprint(endsAt.UnixMilli()),
		"meta/total":        "3",
		"buyers/7":          no1,
		"resv/" + no1:       "R:7",
		"resv/" + no2:       "C:8",
		"pending/" + no1:    fmt.Sprint(order.OrderTime(no1).UnixMilli()),
	}
	got := mcDump(t, s.Memcached, 42)
	if got["item/cas"] != fmt.Sprint(it.CasID) {
		t.Errorf("item/cas = %q, want %d", got["item/cas"], it.CasID)
	}
	delete(got, "item/cas")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Dump = %v\nwant   %v", got, want)
	}

	// Settling sets a bit: the value keeps its length, the order leaves
	// the in-flight index and keeps its unit.
	if err := s.MarkPersisted(t.Context(), 42, []string{no1}); err != nil {
		t.Fatalf("MarkPersisted: %v", err)
	}
	it, err = rawClient(t).Get(s.Key(42))
	if err != nil {
		t.Fatalf("Get(%s): %v", s.Key(42), err)
	}
	if want := 38 + 2*(1+16+1); len(it.Value) != want {
		t.Errorf("persisted value of %d bytes, want %d", len(it.Value), want)
	}
	delete(want, "pending/"+no1)
	got = mcDump(t, s.Memcached, 42)
	delete(got, "item/cas")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Dump after MarkPersisted = %v\nwant   %v", got, want)
	}
}

// TestMemcacheFailsClosedOnLoss deletes the item of a loaded sale, as an
// eviction or a restart would: nothing sells, nothing is recreated, and a
// warm-up rebuilds the sale from the persisted orders alone.
func TestMemcacheFailsClosedOnLoss(t *testing.T) {
	s := newMemcached(t)
	ctx := t.Context()
	mcWarm(t, s, sale(1, 5))
	mcReserve(t, s, 1, 1, "o-1")
	mcReserve(t, s, 1, 2, "o-2")
	raw := rawClient(t)
	if err := raw.Delete(s.Key(1)); err != nil {
		t.Fatal(err)
	}

	if err := s.Reserve(ctx, reservation(1, 3, "o-3"), during); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("Reserve = %v, want ErrStockNotLoaded", err)
	}
	if _, err := s.Remaining(ctx, 1); !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("Remaining = %v, want ErrStockNotLoaded", err)
	}
	if ok, err := s.Release(ctx, 1, "o-1"); ok || !errors.Is(err, order.ErrStockNotLoaded) {
		t.Fatalf("Release = %v, %v; want ErrStockNotLoaded", ok, err)
	}
	snap, err := s.Snapshot(ctx, 1)
	if err != nil || snap.Loaded || len(snap.Reservations) != 0 {
		t.Fatalf("Snapshot = %+v, %v; want not loaded", snap, err)
	}
	if _, err := raw.Get(s.Key(1)); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("item after failed calls: %v, want a miss", err)
	}

	// o-1 reached MySQL, o-2 was in flight and is lost with the item.
	mcWarm(t, s, sale(1, 5, order.Order{OrderNo: "o-1", SaleID: 1, UserID: 1, Status: order.StatusCreated}))
	if rem, err := s.Remaining(ctx, 1); err != nil || rem != 4 {
		t.Fatalf("Remaining after warm-up = %d, %v; want 4", rem, err)
	}
	var ap *order.AlreadyPurchasedError
	if err := s.Reserve(ctx, reservation(1, 1, "o-again"), during); !errors.As(err, &ap) || ap.OrderNo != "o-1" {
		t.Fatalf("Reserve of the persisted buyer = %v, want already purchased with o-1", err)
	}
}

// TestMemcacheWarmLimits: a sale larger than one item can hold is refused
// before anything is written; the largest one accepted fits in the real
// server even with the longest user ids.
func TestMemcacheWarmLimits(t *testing.T) {
	s := newMemcached(t)
	err := s.Warm(t.Context(), sale(1, stock.MemcachedMaxUnits+1))
	if !errors.Is(err, order.ErrInvalid) || !strings.Contains(err.Error(), "maximum") {
		t.Fatalf("Warm above the limit = %v, want ErrInvalid naming the maximum", err)
	}
	if _, err := rawClient(t).Get(s.Key(1)); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("item after a refused warm-up: %v, want a miss", err)
	}

	orders := make([]order.Order, stock.MemcachedMaxUnits)
	for i := range orders {
		orders[i] = order.Order{OrderNo: uuid.Must(uuid.NewV7()).String(), SaleID: 2, UserID: 1<<62 + int64(i), Status: order.StatusCreated}
	}
	mcWarm(t, s, sale(2, stock.MemcachedMaxUnits, orders...))
	snap, err := s.Snapshot(t.Context(), 2)
	if err != nil || !snap.Loaded || snap.Remaining != 0 || len(snap.Reservations) != len(orders) {
		t.Fatalf("Snapshot = loaded %v, remaining %d, %d reservations, %v; want all %d held",
			snap.Loaded, snap.Remaining, len(snap.Reservations), err, len(orders))
	}
	if err := s.Reserve(t.Context(), reservation(2, 1, "o-late"), during); !errors.Is(err, order.ErrSoldOut) {
		t.Fatalf("Reserve on the full sale = %v, want ErrSoldOut", err)
	}
}

func TestMemcacheWarmConflict(t *testing.T) {
	s := newMemcached(t)
	mcWarm(t, s, sale(1, 5))
	mcReserve(t, s, 1, 1, "o-1")
	before := mcDump(t, s.Memcached, 1)

	err := s.Warm(t.Context(), sale(1, 5, order.Order{OrderNo: "o-1", SaleID: 1, UserID: 2, Status: order.StatusCreated}))
	if !errors.Is(err, order.ErrInvalid) {
		t.Fatalf("Warm with an order held by another user = %v, want ErrInvalid", err)
	}
	if after := mcDump(t, s.Memcached, 1); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("state changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestMemcacheReserveBatch(t *testing.T) {
	testReserveBatch(t, func(tb testing.TB) batchReserver { return newMemcached(tb) })
}

// TestMemcacheCorruptValue stores garbage under a sale's key: every call
// fails closed and nothing overwrites what an operator has to look at.
func TestMemcacheCorruptValue(t *testing.T) {
	s := newMemcached(t)
	s.track(1)
	raw := rawClient(t)
	garbage := []byte("not a sale")
	if err := raw.Set(&memcache.Item{Key: s.Key(1), Value: garbage}); err != nil {
		t.Fatal(err)
	}
	assertUnavailable(t, stockCalls(t.Context(), s))
	it, err := raw.Get(s.Key(1))
	if err != nil || string(it.Value) != string(garbage) {
		t.Fatalf("item after the calls = %v, %v; want it untouched", it, err)
	}
}

// TestMemcacheUnavailable points the backend at a port nobody listens on:
// every method fails closed with ErrUnavailable.
func TestMemcacheUnavailable(t *testing.T) {
	s, err := stock.NewMemcached("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	calls := stockCalls(ctx, s)
	_, dumpErr := s.Dump(ctx, 1)
	calls = append(calls, call{"Dump", dumpErr}, call{"Ping", s.Ping(ctx)})
	assertUnavailable(t, calls)
}

func TestNewMemcachedRejects(t *testing.T) {
	tests := []struct {
		name, servers, prefix string
	}{
		{"no server", "", "sk"},
		{"bad weight", "127.0.0.1:11211*0", "sk"},
		{"empty prefix", "127.0.0.1:11211", ""},
		{"space in prefix", "127.0.0.1:11211", "a b"},
		{"control in prefix", "127.0.0.1:11211", "a\nb"},
		{"long prefix", "127.0.0.1:11211", strings.Repeat("p", 201)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := stock.NewMemcached(tt.servers, stock.WithPrefix(tt.prefix)); err == nil {
				_ = s.Close()
				t.Fatalf("NewMemcached(%q, prefix %q) succeeded", tt.servers, tt.prefix)
			}
		})
	}
}

func TestMemcacheMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newMemcached(t, stock.WithMetrics(metrics.New(reg)))
	mcWarm(t, s, sale(1, 5))
	for u := int64(1); u <= 3; u++ {
		_ = s.Reserve(t.Context(), reservation(1, u, fmt.Sprint("o-", u)), during)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var observed uint64
	for _, f := range families {
		if f.GetName() != "seckill_stock_reserve_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != "memcache" {
				t.Errorf("reserve duration labels %v, want backend=memcache", m.GetLabel())
			}
			observed += m.GetHistogram().GetSampleCount()
		}
	}
	if observed != 3 {
		t.Errorf("%d reserve durations observed, want 3", observed)
	}
}

// TestMemcacheHotSaleContention runs many buyers on one sale with more
// units than buyers: every one of them gets a unit despite the CAS races.
func TestMemcacheHotSaleContention(t *testing.T) {
	const buyers, each = 64, 5
	s := newMemcached(t)
	mcWarm(t, s, sale(1, buyers*each+10))
	var wg sync.WaitGroup
	errs := make([]error, buyers*each)
	for g := range buyers {
		wg.Go(func() {
			for k := range each {
				u := int64(g*each + k + 1)
				errs[u-1] = s.Reserve(context.Background(), reservation(1, u, fmt.Sprint("o-", u)), during)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("buyer %d: %v", i+1, err)
		}
	}
	if rem, err := s.Remaining(t.Context(), 1); err != nil || rem != 10 {
		t.Fatalf("Remaining = %d, %v; want 10", rem, err)
	}
	st := s.CASStats()
	t.Logf("CAS writes %d, conflicts %d", st.Writes, st.Conflicts)
}

// Faults a lossyProxy injects into the next cas command.
const (
	passCAS      int32 = iota
	loseCASReply       // forward the cas, wait for the server's answer, drop it and the connection
	dropCAS            // drop the cas and the connection without forwarding it
)

// lossyProxy stands between a client and the real memcached and forwards
// one command at a time, so that it can lose exactly one cas request or
// its reply.
type lossyProxy struct {
	ln     net.Listener
	fault  atomic.Int32
	faults atomic.Int32 // faults injected
	wg     sync.WaitGroup
}

func newLossyProxy(tb testing.TB) *lossyProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &lossyProxy{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
	tb.Cleanup(func() {
		_ = ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *lossyProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", memcachedAddr)
	if err != nil {
		return
	}
	defer server.Close()
	cr, sr := bufio.NewReader(client), bufio.NewReader(server)
	for {
		line, err := cr.ReadString('\n')
		if err != nil {
			return
		}
		req := []byte(line)
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		storage := f[0] == "cas" || f[0] == "add" || f[0] == "set"
		if storage {
			n, err := strconv.Atoi(f[4])
			if err != nil {
				return
			}
			data := make([]byte, n+2)
			if _, err := io.ReadFull(cr, data); err != nil {
				return
			}
			req = append(req, data...)
		}
		fault := passCAS
		if f[0] == "cas" {
			fault = p.fault.Swap(passCAS)
		}
		if fault == dropCAS {
			p.faults.Add(1)
			return
		}
		if _, err := server.Write(req); err != nil {
			return
		}
		reply, err := readReply(sr, f[0])
		if err != nil {
			return
		}
		if fault == loseCASReply {
			p.faults.Add(1)
			return
		}
		if _, err := client.Write(reply); err != nil {
			return
		}
	}
}

// readReply reads one whole answer to a command of the text protocol.
func readReply(r *bufio.Reader, cmd string) ([]byte, error) {
	var out []byte
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		out = append(out, line...)
		if cmd != "get" && cmd != "gets" {
			return out, nil
		}
		if line == "END\r\n" {
			return out, nil
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "VALUE" {
			return out, nil // an error line
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			return nil, err
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, err
		}
		out = append(out, data...)
	}
}

// TestMemcacheReserveInDoubt loses a reservation's cas or its answer: the
// outcome the caller gets always matches what the item holds.
func TestMemcacheReserveInDoubt(t *testing.T) {
	tests := []struct {
		name     string
		fault    int32
		reserved bool
	}{
		{"answer lost after the write", loseCASReply, true},
		{"request lost before the write", dropCAS, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			direct := newMemcached(t)
			proxy := newLossyProxy(t)
			s, err := stock.NewMemcached(proxy.ln.Addr().String(), stock.WithPrefix(mcPrefix(direct.Memcached)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			mcWarm(t, direct, sale(1, 3))
			mcReserve(t, direct, 1, 1, "o-1")
			before := mcDump(t, direct.Memcached, 1)

			proxy.fault.Store(tt.fault)
			err = s.Reserve(t.Context(), reservation(1, 2, "o-2"), during)
			if proxy.faults.Load() != 1 {
				t.Fatalf("%d faults injected, want 1", proxy.faults.Load())
			}
			rem, remErr := direct.Remaining(t.Context(), 1)
			res, lookupErr := direct.Lookup(t.Context(), []int64{1}, "o-2")
			if tt.reserved {
				if err != nil || remErr != nil || rem != 1 || lookupErr != nil || res.State != order.Reserved || res.UserID != 2 {
					t.Fatalf("Reserve = %v; remaining %d, %v; lookup %+v, %v; want success, held", err, rem, remErr, res, lookupErr)
				}
				return
			}
			if !errors.Is(err, order.ErrUnavailable) || !strings.Contains(err.Error(), "settled: not reserved") {
				t.Fatalf("Reserve = %v, want ErrUnavailable once settled as not reserved", err)
			}
			// Settling rewrites the same bytes to fence off the lost
			// request: only the CAS id may change.
			after := mcDump(t, direct.Memcached, 1)
			delete(after, "item/cas")
			delete(before, "item/cas")
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("state changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestMemcachedPostponementsShared: a postponement one api replica makes
// holds for every replica's settler, so a republished order is not
// republished again by the others before its next check is due.
func TestMemcachedPostponementsShared(t *testing.T) {
	a := newMemcached(t)
	b, err := stock.NewMemcached(memcachedAddr, stock.WithPrefix(mcPrefix(a.Memcached)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	now := time.Now()
	mcWarm(t, a, order.StockSale{ID: 1, TotalStock: 5, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), Rebuild: true})
	var nos []string
	for u := int64(1); u <= 3; u++ {
		id, err := uuid.NewV7()
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Reserve(ctx, order.Reservation{OrderNo: id.String(), SaleID: 1, UserID: u}, now); err != nil {
			t.Fatal(err)
		}
		nos = append(nos, id.String())
	}
	later := now.Add(time.Minute)
	if err := a.Postpone(ctx, 1, nos[:2], later); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*stock.Memcached{"the replica that postponed": a.Memcached, "another replica": b} {
		due, err := s.Due(ctx, 1, now.Add(time.Second), 10)
		if err != nil || len(due) != 1 || due[0].OrderNo != nos[2] {
			t.Errorf("%s: due %+v, %v; want only %s", name, due, err, nos[2])
		}
		due, err = s.Due(ctx, 1, later.Add(time.Millisecond), 10)
		if err != nil || len(due) != 3 {
			t.Errorf("%s: due once the postponement passed %+v, %v; want all 3", name, due, err)
		}
	}
	// A persisted or released reservation leaves the index, postponed or not.
	if err := b.MarkPersisted(ctx, 1, nos[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Release(ctx, 1, nos[1]); err != nil {
		t.Fatal(err)
	}
	if due, err := a.Due(ctx, 1, later.Add(time.Millisecond), 10); err != nil || len(due) != 1 || due[0].OrderNo != nos[2] {
		t.Errorf("after MarkPersisted and Release: due %+v, %v; want only %s", due, err, nos[2])
	}
}
