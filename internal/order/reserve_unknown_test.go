package order_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/mq"
	"github.com/seckill/seckill/internal/order"
	"github.com/seckill/seckill/internal/redistest"
	"github.com/seckill/seckill/internal/stock"
	"github.com/seckill/seckill/internal/store"
	"github.com/seckill/seckill/internal/testenv"
)

// cutProxy is a TCP proxy in front of a real server that loses one reply:
// the first command containing its trigger is forwarded, the server runs
// it, and its reply is thrown away with the connection, which is what a
// timeout or a reset after the write looks like to the client. With
// stayDown set it then refuses every connection (accepts and closes) until
// up is called: the server went away right after it applied the command.
type cutProxy struct {
	ln       net.Listener
	upstream string
	trigger  []byte

	mu       sync.Mutex
	armed    bool
	stayDown bool
	down     bool
	cuts     int
}

func newCutProxy(tb testing.TB, upstream, trigger string, stayDown bool) *cutProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, trigger: []byte(trigger), stayDown: stayDown}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	tb.Cleanup(func() { _ = ln.Close(); <-done })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

// arm makes the next command containing the trigger lose its reply.
func (p *cutProxy) arm() { p.mu.Lock(); p.armed = true; p.mu.Unlock() }

// up lets connections through again.
func (p *cutProxy) up() { p.mu.Lock(); p.down = false; p.mu.Unlock() }

func (p *cutProxy) cutCount() int { p.mu.Lock(); defer p.mu.Unlock(); return p.cuts }

func (p *cutProxy) serve(client net.Conn) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		_ = client.Close()
		return
	}
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = client.Close()
		return
	}
	var (
		mu  sync.Mutex
		cut bool
	)
	closeBoth := func() { _ = client.Close(); _ = server.Close() }
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				p.mu.Lock()
				if p.armed && bytes.Contains(bytes.ToLower(buf[:n]), p.trigger) {
					p.armed = false
					mu.Lock()
					cut = true
					mu.Unlock()
				}
				p.mu.Unlock()
				if _, werr := server.Write(buf[:n]); werr != nil {
					closeBoth()
					return
				}
			}
			if err != nil {
				closeBoth()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		mu.Lock()
		lose := cut
		mu.Unlock()
		if lose && n > 0 {
			// The server has run the command: its reply is lost.
			p.mu.Lock()
			p.cuts++
			if p.stayDown {
				p.down = true
			}
			p.mu.Unlock()
			closeBoth()
			return
		}
		if n > 0 {
			if _, werr := client.Write(buf[:n]); werr != nil {
				closeBoth()
				return
			}
		}
		if err != nil {
			closeBoth()
			return
		}
	}
}

// unknownRig is one api's use cases, whose stock backend is reached through
// a cutProxy, over an in-process queue and SQLite.
type unknownRig struct {
	proxy *cutProxy
	q     *mq.Memory
	repo  *store.Store
	uc    order.UseCases
	sale  order.SaleView
}

func newUnknownRig(t *testing.T, proxy *cutProxy, st order.Stock) *unknownRig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &unknownRig{proxy: proxy, q: mq.NewMemory()}
	t.Cleanup(func() { _ = r.q.Close() })
	repo, err := store.OpenSQLite(context.Background(), t.TempDir()+"/sk.db", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = repo.Close() })
	r.repo = repo
	r.uc = order.New(st, r.q, repo, log, order.WithSettleAfter(testSettleAfter), order.WithDeadLetters(repo))
	now := time.Now()
	r.sale, err = r.uc.Catalog.CreateSale(context.Background(), order.NewSale{
		Name: "unknown", TotalStock: 5, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	// One purchase through the proxy first: the scripts are loaded and the
	// connections warm, so the armed cut hits the reservation itself.
	if _, err := r.uc.Purchases.Place(context.Background(), r.sale.ID, 1); err != nil {
		t.Fatal(err)
	}
	return r
}

// queued drains the in-process queue into the repository, as the worker
// would, and returns the order numbers it carried.
func (r *unknownRig) queued(t *testing.T) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ds, err := r.q.Consume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for r.q.Stats().Ready > 0 || r.q.Stats().Unacked > 0 {
		select {
		case d := <-ds:
			if _, err := r.repo.PersistBatch(ctx, d.Orders); err != nil {
				t.Fatal(err)
			}
			for _, o := range d.Orders {
				got[o.OrderNo] = true
			}
			if err := d.Ack(); err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("queue not drained")
		}
	}
	return got
}

// check is the buyer's side of the history: whatever the purchase
// answered, the buyer holds an order in the end exactly when it was
// accepted. A refusal that named an order number is followed through the
// settler, which runs past SettleAfter.
func (r *unknownRig) check(t *testing.T, o order.Order, err error) {
	t.Helper()
	ctx := context.Background()
	r.proxy.up()
	var held []string
	for no := range r.queued(t) {
		if no != "" {
			held = append(held, no)
		}
	}
	if _, serr := r.uc.Settler.Settle(ctx, time.Now().Add(testSettleAfter+time.Second)); serr != nil {
		t.Fatalf("settle: %v", serr)
	}
	for no := range r.queued(t) {
		held = append(held, no)
	}
	orders, rerr := r.repo.SaleOrders(ctx, r.sale.ID)
	if rerr != nil {
		t.Fatal(rerr)
	}
	live := map[int64][]string{}
	for _, x := range orders {
		if x.Status != order.StatusCancelled {
			live[x.UserID] = append(live[x.UserID], x.OrderNo)
		}
	}
	accepted := err == nil
	switch {
	case accepted && (len(live[2]) != 1 || live[2][0] != o.OrderNo):
		t.Errorf("purchase accepted as %s, but user 2 holds %v", o.OrderNo, live[2])
	case !accepted && len(live[2]) > 0:
		t.Errorf("purchase answered %v, but user 2 holds orders %v (published %v)", err, live[2], held)
	}
	rec := r.reconcile(t)
	if !rec.Consistent || rec.Gap() != 0 {
		t.Errorf("reconcile after settling: %+v", rec)
	}
}

func (r *unknownRig) reconcile(t *testing.T) order.Reconciliation {
	t.Helper()
	rec, err := r.uc.Catalog.Reconcile(context.Background(), r.sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// placeCut runs one purchase of user 2 whose reservation loses its reply.
func (r *unknownRig) placeCut(t *testing.T) (order.Order, error) {
	t.Helper()
	r.proxy.arm()
	o, err := r.uc.Purchases.Place(context.Background(), r.sale.ID, 2)
	if r.proxy.cutCount() != 1 {
		t.Fatalf("the proxy cut %d replies, want 1 (answer %v)", r.proxy.cutCount(), err)
	}
	return o, err
}

// redisThroughProxy is a stock backend on the Redis of this machine
// reached through a cutProxy that loses the reply of the next script call.
func redisThroughProxy(t *testing.T, stayDown bool) (*cutProxy, *stock.Redis) {
	t.Helper()
	direct := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = direct.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := direct.Ping(ctx).Err(); err != nil {
		testenv.Need(t, "redis at 127.0.0.1:6379", err)
	}
	prefix := redistest.Prefix(t, direct)
	p := newCutProxy(t, "127.0.0.1:6379", "evalsha", stayDown)
	// The api's client options: go-redis retries a command whose reply
	// was lost.
	client := redis.NewClient(&redis.Options{Addr: p.addr()})
	t.Cleanup(func() { _ = client.Close() })
	return p, stock.NewRedis(client, stock.WithPrefix(prefix))
}

// memcachedThroughProxy is the same for the memcached of this machine:
// the next cas loses its reply.
func memcachedThroughProxy(t *testing.T, stayDown bool) (*cutProxy, *stock.Memcached) {
	t.Helper()
	probe := memcache.New("127.0.0.1:11211")
	probe.Timeout = 2 * time.Second
	testenv.Need(t, "memcached at 127.0.0.1:11211", probe.Ping())
	p := newCutProxy(t, "127.0.0.1:11211", "cas ", stayDown)
	prefix := "sktest-" + strconv.FormatInt(time.Now().UnixNano(), 36) + uuid.NewString()[:8]
	m, err := stock.NewMemcached(p.addr(), stock.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = probe.Close()
		direct, err := stock.NewMemcached("127.0.0.1:11211", stock.WithPrefix(prefix))
		if err != nil {
			return
		}
		for id := int64(1); id <= 3; id++ {
			_ = direct.Forget(context.Background(), id)
		}
		_ = direct.Close()
		_ = m.Close()
	})
	return p, m
}

// TestReserveReplyLost: the reservation is applied but its reply is lost
// (a timeout, a reset) and the backend answers again at once. The
// purchase must answer what the buyer ends up with: the reservation
// stands, so the order is queued and accepted.
func TestReserveReplyLost(t *testing.T) {
	for _, backend := range []string{"redis", "memcache"} {
		t.Run(backend, func(t *testing.T) {
			var p *cutProxy
			var st order.Stock
			if backend == "redis" {
				p, st = redisThroughProxy(t, false)
			} else {
				p, st = memcachedThroughProxy(t, false)
			}
			r := newUnknownRig(t, p, st)
			o, err := r.placeCut(t)
			if err != nil {
				t.Errorf("purchase whose reservation stands answered %v, want accepted", err)
			}
			r.check(t, o, err)
		})
	}
}

// TestReserveOutcomeUnknown: the reservation is applied, its reply is
// lost and the backend stays unreachable while the purchase is decided,
// so its outcome cannot be learned. The purchase fails with the order
// number for the buyer to poll, and the settler gives the unit back
// instead of publishing an order its buyer was told had failed.
func TestReserveOutcomeUnknown(t *testing.T) {
	for _, backend := range []string{"redis", "memcache"} {
		t.Run(backend, func(t *testing.T) {
			var p *cutProxy
			var st order.Stock
			if backend == "redis" {
				p, st = redisThroughProxy(t, true)
			} else {
				p, st = memcachedThroughProxy(t, true)
			}
			r := newUnknownRig(t, p, st)
			_, err := r.placeCut(t)
			if err == nil {
				t.Fatal("purchase accepted while the backend was unreachable")
			}
			var unknown *order.OutcomeUnknownError
			switch {
			case !errors.Is(err, order.ErrUnavailable):
				t.Errorf("answer %v, want ErrUnavailable", err)
			case !errors.As(err, &unknown) || unknown.OrderNo == "":
				t.Errorf("answer %v, want an *order.OutcomeUnknownError naming the order", err)
			}
			r.check(t, order.Order{}, err)
			if unknown != nil {
				got, gerr := r.uc.Purchases.Order(context.Background(), 2, unknown.OrderNo)
				if gerr != nil || got.Status != order.StatusCancelled {
					t.Errorf("the buyer polls %s: %+v, %v; want cancelled", unknown.OrderNo, got, gerr)
				}
			}
		})
	}
}
